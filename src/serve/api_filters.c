/* api_filters.c -- the grid's filters beyond words, model, seed, tag and
 * "has latents": a date range (the file's modification time, UTC days),
 * the sampler, "signed" and "fails verification".  "signed" is the
 * index's `signature` column (any state but "none", as the file was when
 * indexed); the index has no column for "fails verification", so it is
 * decided here, lazily, per file, and cached by id, size and mtime
 * (api_state.c): the first such search reads every payload of the
 * candidates, later ones cost a lookup. */
#include "api_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* "YYYY-MM-DD" -> nanoseconds since the epoch of that day's start, UTC. */
static int parse_day(const char *s, long long *ns)
{
    int y, m, d, used = 0;
    if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &used) != 3 || used != 10 || s[4] != '-' ||
        s[7] != '-' || y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 || d > 31)
        return -1;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d};
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || tm.tm_mday != d) return -1; /* 2026-02-30 is refused, not rolled over */
    /* mtimes are signed 64-bit nanoseconds: the last whole day they hold
     * starts 2262-04-10 (the caller adds up to a day for `to`) */
    if ((long long)t > INT64_MAX / 1000000000LL - 86400) return -1;
    *ns = (long long)t * 1000000000LL;
    return 0;
}

int api_filters_parse(const char *query, api_filters *f, resp *r, int *done)
{
    char from[32], to[32], sg[8], fv[8];
    memset(f, 0, sizeof *f);
    f->from_ns = f->to_ns = -1;
    *done = 1;
    int hf = api_query_get(query, "from", from, sizeof from), ht = api_query_get(query, "to", to, sizeof to);
    int hs = api_query_get(query, "sampler", f->sampler, sizeof f->sampler);
    int hg = api_query_get(query, "signed", sg, sizeof sg), hv = api_query_get(query, "fails_verification", fv, sizeof fv);
    if (hf < 0 || ht < 0 || hs < 0 || hg < 0 || hv < 0)
        return api_error(r, 400, "malformed query string (bad %%-escape, NUL byte or value too long)");
    if (hf > 0 && from[0] && parse_day(from, &f->from_ns)) return api_error(r, 400, "from: expected a date YYYY-MM-DD from 1970-01-01 to 2262-04-10");
    if (ht > 0 && to[0]) {
        if (parse_day(to, &f->to_ns)) return api_error(r, 400, "to: expected a date YYYY-MM-DD from 1970-01-01 to 2262-04-10");
        f->to_ns += 86400LL * 1000000000LL - 1; /* the whole day */
    }
    if (f->from_ns >= 0 && f->to_ns >= 0 && f->from_ns > f->to_ns) return api_error(r, 400, "from: after to");
    if (hs <= 0) f->sampler[0] = '\0';
    f->want_signed = hg > 0 && !strcmp(sg, "1");
    f->want_failing = hv > 0 && !strcmp(fv, "1");
    *done = 0;
    return RAIIAF_OK;
}

int api_filters_lazy(const api_filters *f) { return f->want_failing; }

/* Whether file id passes the lazy filter (a file that cannot be read
 * fails verification). */
int api_filters_keep(raiiaf_api *api, const api_filters *f, long long id, const char *path)
{
    if (f->want_failing) {
        int failed = 1, cached;
        if (!api_verify(api, id, path, &failed, NULL, &cached) && !failed) return 0;
    }
    return 1;
}
