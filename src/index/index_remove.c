/* index_remove.c -- raiiaf_index_remove_path(): drops one file's rows.
 * What raiiaf_index_run() does for a file gone from its folders, for
 * writers that list files themselves (raiiaf.dask.index on a cluster). */
#include "index_impl.h"


int raiiaf_index_remove_path(raiiaf_index *idx, const char *path, int *removed)
{
    if (removed) *removed = 0;
    if (!idx || !idx->db) return RAIIAF_E_ARG;
    if (!path) return rf_index_fail(idx, RAIIAF_E_ARG, "raiiaf_index_remove_path: path is NULL");
    if (idx->flags & RAIIAF_INDEX_READONLY) return rf_index_fail(idx, RAIIAF_E_STATE, "%s: opened read-only", idx->path);
    int rc = rf_index_prepare(idx);
    if (!rc && !idx->in_txn) rc = rf_index_tx_begin(idx);
    if (rc) return rc;
    sqlite3_stmt *find = idx->S.find;
    long long id = -1;
    sqlite3_bind_text(find, 1, path, -1, SQLITE_STATIC);
    int step = sqlite3_step(find);
    if (step == SQLITE_ROW) id = sqlite3_column_int64(find, 0);
    sqlite3_reset(find);
    sqlite3_clear_bindings(find);
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        rc = rf_index_fail(idx, RAIIAF_E_IO, "%s: %s", idx->path, sqlite3_errmsg(idx->db));
    else if (id >= 0 && !(rc = rf_index_row_delete(idx, id)) && removed)
        *removed = 1;
    if (!idx->in_txn) {
        if (rc) sqlite3_exec(idx->db, "ROLLBACK", NULL, NULL, NULL);
        else rc = rf_index_tx_commit(idx);
    }
    return rc;
}
