/* sign.c -- Ed25519 signatures over a manifest version (SPEC.md §16).
 *
 * A SIGN chunk is appended with a new manifest version that lists it; the
 * signature covers the SHA-256 of the signed manifest's JSON text (which
 * holds the SHA-256 of every payload), its offset and its version.  See
 * the SPEC for the exact message. */
#include "reader_impl.h"
#include "jsonnum.h"
#include "jsonutil.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SIGN_MAX_PAYLOAD 65536u

static void hexify(const unsigned char *b, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[b[i] >> 4];
        out[2 * i + 1] = hx[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static int unhex(const char *s, unsigned char *out, size_t n)
{
    if (!s || strlen(s) != 2 * n) return -1;
    for (size_t i = 0; i < n; i++) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char c = s[2 * i + k];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0) return -1;
            v = v * 16 + d;
        }
        out[i] = (unsigned char)v;
    }
    return 0;
}

static void key_id(const unsigned char raw[32], char id[17])
{
    char full[65];
    if (rf_sha256_hex(raw, 32, full)) full[0] = '\0';
    memcpy(id, full, 16);
    id[16] = '\0';
}

/* The exact bytes signed. */
static int sign_message(char *buf, size_t cap, uint32_t version, uint64_t offset, const char *sha)
{
    return snprintf(buf, cap, "RAIIAF-SIGN-1\nmanifest_version %u\nmanifest_offset %llu\nmanifest_sha256 %s\n", version,
                    (unsigned long long)offset, sha);
}

int raiiaf_keygen(const char *key_path, char *err, size_t err_size)
{
    rf_err e = {0, ""};
    int rc = RAIIAF_OK;
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    char *pub = NULL;
    FILE *f = NULL;
    int fd = -1;
    if (!key_path) return RAIIAF_E_ARG;
    pub = malloc(strlen(key_path) + 5);
    if (!pub) {
        rc = rf_fail(&e, RAIIAF_E_NOMEM, "out of memory");
        goto out;
    }
    strcpy(pub, key_path);
    strcat(pub, ".pub");
    ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_keygen(ctx, &pkey) <= 0) {
        rc = rf_fail(&e, RAIIAF_E_NOMEM, "cannot generate an Ed25519 key (OpenSSL)");
        goto out;
    }
    fd = open(key_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = rf_fail(&e, RAIIAF_E_IO, "%s: cannot create the key file: %s%s", key_path, strerror(errno),
                     errno == EEXIST ? " (refusing to overwrite a key)" : "");
        goto out;
    }
    (void)fchmod(fd, 0600);
    f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        unlink(key_path);
        rc = rf_fail(&e, RAIIAF_E_IO, "%s: %s", key_path, strerror(errno));
        goto out;
    }
    int ok = PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) > 0;
    ok = fflush(f) == 0 && ok && fsync(fileno(f)) == 0;
    if (fclose(f) != 0) ok = 0;
    if (!ok) {
        unlink(key_path);
        rc = rf_fail(&e, RAIIAF_E_IO, "%s: cannot write the private key", key_path);
        goto out;
    }
    f = fopen(pub, "w");
    ok = f && PEM_write_PUBKEY(f, pkey) > 0;
    if (f && fclose(f) != 0) ok = 0;
    if (!ok) {
        unlink(key_path);
        unlink(pub);
        rc = rf_fail(&e, RAIIAF_E_IO, "%s: cannot write the public key", pub);
    }
out:
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(ctx);
    free(pub);
    if (err && err_size) snprintf(err, err_size, "%s", e.msg);
    return rc;
}

static int load_key(const char *path, int private_key, EVP_PKEY **out, unsigned char raw[32], rf_err *e)
{
    FILE *f = fopen(path, "r");
    if (!f) return rf_fail(e, RAIIAF_E_IO, "%s: cannot open the %s key: %s", path, private_key ? "private" : "public", strerror(errno));
    EVP_PKEY *k = private_key ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    if (!k) return rf_fail(e, RAIIAF_E_ARG, "%s: not a PEM %s key", path, private_key ? "private" : "public");
    size_t n = 32;
    if (EVP_PKEY_id(k) != EVP_PKEY_ED25519 || EVP_PKEY_get_raw_public_key(k, raw, &n) <= 0 || n != 32) {
        EVP_PKEY_free(k);
        return rf_fail(e, RAIIAF_E_ARG, "%s: not an Ed25519 key", path);
    }
    *out = k;
    return RAIIAF_OK;
}

int raiiaf_sign(const char *path, const char *key_path, char *key_id_out, char *err, size_t err_size)
{
    rf_err e = {0, ""};
    if (!path || !key_path) return RAIIAF_E_ARG;
    EVP_PKEY *k = NULL;
    unsigned char raw[32];
    int rc = load_key(key_path, 1, &k, raw, &e);
    raiiaf_edit *ed = NULL;
    EVP_MD_CTX *md = NULL;
    char *text = NULL;
    if (rc) goto out;
    rc = raiiaf_edit_open(path, &ed);
    if (rc) {
        rf_fail(&e, rc, "%s", ed ? raiiaf_edit_errmsg(ed) : "out of memory");
        goto out;
    }
    raiiaf_reader *r = ed->r;
    char sha[65], msg[256], id[17], sighex[129], pubhex[65];
    if (rf_sha256_hex(r->manifest_text, r->manifest_len, sha)) {
        rc = rf_fail(&e, RAIIAF_E_NOMEM, "out of memory");
        goto out;
    }
    int mlen = sign_message(msg, sizeof msg, r->manifest_version, r->manifest_off, sha);
    unsigned char sig[64];
    size_t siglen = sizeof sig;
    md = EVP_MD_CTX_new();
    if (!md || EVP_DigestSignInit(md, NULL, NULL, NULL, k) <= 0 ||
        EVP_DigestSign(md, sig, &siglen, (const unsigned char *)msg, (size_t)mlen) <= 0 || siglen != 64) {
        rc = rf_fail(&e, RAIIAF_E_NOMEM, "Ed25519 signing failed (OpenSSL)");
        goto out;
    }
    key_id(raw, id);
    hexify(sig, 64, sighex);
    hexify(raw, 32, pubhex);
    char now[32];
    rf_utc_now(now);
    json_t *o = json_pack("{s:i,s:s,s:s,s:s,s:I,s:I,s:s,s:s,s:s}", "raiiaf_signature", 1, "algorithm", "ed25519", "key_id", id,
                          "public_key", pubhex, "manifest_version", (json_int_t)r->manifest_version, "manifest_offset",
                          (json_int_t)r->manifest_off, "manifest_sha256", sha, "signed_at", now, "signature", sighex);
    text = o ? raiiaf_json_dumps(o, JSON_INDENT(1) | JSON_SORT_KEYS) : NULL;
    json_t *back = text ? rf_json_loadb(text, strlen(text), JSON_REJECT_DUPLICATES, RF_JSON_STRICT, NULL) : NULL; /* json_dumps can fail silently */
    int same = back && json_equal(back, o);
    json_decref(back);
    json_decref(o);
    if (!same) {
        rc = rf_fail(&e, RAIIAF_E_NOMEM, "out of memory");
        goto out;
    }
    if ((rc = raiiaf_edit_add_chunk(ed, "SIGN", text, strlen(text))) || (rc = raiiaf_edit_commit(ed))) {
        rf_fail(&e, rc, "%s", raiiaf_edit_errmsg(ed));
        goto out;
    }
    if (key_id_out) memcpy(key_id_out, id, 17);
out:
    free(text);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(k);
    raiiaf_edit_free(ed);
    if (err && err_size) snprintf(err, err_size, "%s", e.msg);
    return rc;
}

/* Whether the version `cur` only adds signatures to `prev`: at least one
 * SIGN chunk record appended, the bookkeeping an append writes in
 * file_info (manifest_version, previous_manifest, chunk_count, modified,
 * writer), and nothing else changed anywhere in the document (other
 * file_info members, the rest of raiiaf_metadata, members beside it). */
static int only_signed(const json_t *prev, const json_t *cur)
{
    static const char *const bookkeeping[] = {"manifest_version", "previous_manifest", "chunk_count", "modified", "writer"};
    json_t *a = rf_json_copy(prev), *b = rf_json_copy(cur);
    int same = 0;
    json_t *ma = json_object_get(a, "raiiaf_metadata"), *mb = json_object_get(b, "raiiaf_metadata");
    if (!json_is_object(ma) || !json_is_object(mb)) goto out;
    json_t *fa = json_object_get(ma, "file_info"), *fb = json_object_get(mb, "file_info");
    for (size_t i = 0; i < sizeof bookkeeping / sizeof bookkeeping[0]; i++) {
        json_object_del(fa, bookkeeping[i]);
        json_object_del(fb, bookkeeping[i]);
    }
    json_t *xa = json_object_get(ma, "chunks"), *xb = json_object_get(mb, "chunks");
    if (!json_is_array(xa) || !json_is_array(xb) || json_array_size(xb) <= json_array_size(xa)) goto out;
    size_t na = json_array_size(xa);
    for (size_t i = 0; i < na; i++)
        if (!json_equal(json_array_get(xa, i), json_array_get(xb, i))) goto out;
    for (size_t i = na; i < json_array_size(xb); i++) {
        json_t *t = json_object_get(json_array_get(xb, i), "type");
        if (!json_is_string(t) || strcmp(json_string_value(t), "SIGN")) goto out;
    }
    json_object_del(ma, "chunks");
    json_object_del(mb, "chunks");
    same = json_equal(a, b); /* the whole documents, members beside raiiaf_metadata too */
out:
    json_decref(a);
    json_decref(b);
    return same;
}

/* 1 when every version after `from` (whose manifest is `signed_m`) up to
 * the newest only added signatures; 0 when one changed anything; a status
 * (negative of it) when a version cannot be read. */
static int unchanged_since(raiiaf_reader *r, uint32_t from, json_t *signed_m, uint32_t *changed_in)
{
    json_t *prev = json_incref(signed_m);
    int result = 1;
    for (uint32_t k = from + 1; k <= r->manifest_version && result == 1; k++) {
        char *text = NULL;
        size_t len;
        int rc = raiiaf_reader_manifest_at(r, k, &text, &len, NULL);
        json_t *cur = rc ? NULL : rf_json_loadb(text, len, 0, RF_JSON_STRICT, NULL);
        free(text);
        if (!cur) {
            result = rc ? -rc : -RAIIAF_E_JSON;
            break;
        }
        if (!only_signed(prev, cur)) {
            result = 0;
            *changed_in = k;
        }
        json_decref(prev);
        prev = cur;
    }
    json_decref(prev);
    return result;
}

static int sig_invalid(raiiaf_signature_info *info, const char *fmt, const char *detail)
{
    info->state = RAIIAF_SIG_INVALID;
    snprintf(info->message, sizeof info->message, fmt, detail ? detail : "");
    return RAIIAF_OK;
}

int raiiaf_reader_signature(raiiaf_reader *r, const char *pubkey_path, raiiaf_signature_info *info)
{
    if (!r || !info) return RAIIAF_E_ARG;
    memset(info, 0, sizeof *info);
    if (!r->manifest) return rf_fail(&r->err, RAIIAF_E_STATE, "the file did not open");
    if (r->f1) return RAIIAF_OK; /* format 1 cannot hold signatures */
    if (r->manifest_version != r->latest_version)
        return rf_fail(&r->err, RAIIAF_E_STATE, "signatures are checked on the newest version");
    long ci = -1;
    for (size_t i = 0; i < r->nchunks; i++)
        if (!strcmp(r->chunks[i].type, "SIGN")) ci = (long)i;
    if (ci < 0) {
        snprintf(info->message, sizeof info->message, "unsigned");
        return RAIIAF_OK;
    }
    const rf_rchunk *c = &r->chunks[ci];
    const unsigned char *payload;
    if (c->codec != RF_CODEC_RAW || c->stored > SIGN_MAX_PAYLOAD) return sig_invalid(info, "SIGN chunk is not a small raw chunk%s", NULL);
    if (rf_check_raw(r, (size_t)ci, &payload, 1))
        return sig_invalid(info, "SIGN chunk damaged: %.180s", r->err.msg);
    json_error_t je;
    json_t *o = rf_json_loadb((const char *)payload, (size_t)c->stored, JSON_REJECT_DUPLICATES, RF_JSON_STRICT, &je);
    if (!o) return sig_invalid(info, "SIGN chunk: invalid JSON%s", NULL);
    int rc = RAIIAF_OK;
    EVP_PKEY *pk = NULL, *given = NULL;
    EVP_MD_CTX *md = NULL;
    char *text = NULL;
    json_t *signed_m = NULL;
    const char *alg = json_string_value(json_object_get(o, "algorithm"));
    const char *pubhex = json_string_value(json_object_get(o, "public_key"));
    const char *sighex = json_string_value(json_object_get(o, "signature"));
    const char *sha = json_string_value(json_object_get(o, "manifest_sha256"));
    json_t *jv = json_object_get(o, "manifest_version"), *jo = json_object_get(o, "manifest_offset");
    unsigned char raw[32], sig[64];
    if (!alg || strcmp(alg, "ed25519") || unhex(pubhex, raw, 32) || unhex(sighex, sig, 64) || !sha || strlen(sha) != 64 ||
        !json_is_integer(jv) || !json_is_integer(jo) || json_integer_value(jv) < 1 || json_integer_value(jv) > UINT32_MAX ||
        json_integer_value(jo) < 0) {
        sig_invalid(info, "SIGN chunk: missing or malformed fields%s", NULL);
        goto out;
    }
    key_id(raw, info->key_id);
    uint32_t v = (uint32_t)json_integer_value(jv);
    uint64_t off = (uint64_t)json_integer_value(jo);
    info->signed_version = v;
    if (pubkey_path) {
        unsigned char graw[32];
        rf_err e = {0, ""};
        rc = load_key(pubkey_path, 0, &given, graw, &e);
        if (rc) {
            rf_fail(&r->err, rc, "%s", e.msg);
            goto out;
        }
        if (memcmp(graw, raw, 32)) {
            char gid[17];
            key_id(graw, gid);
            info->state = RAIIAF_SIG_INVALID;
            snprintf(info->message, sizeof info->message, "signed by key %s, not by the given key %s", info->key_id, gid);
            goto out;
        }
    }
    if (v >= r->manifest_version) {
        sig_invalid(info, "the signature claims a manifest version that cannot precede it%s", NULL);
        goto out;
    }
    size_t len;
    uint64_t real_off;
    if (raiiaf_reader_manifest_at(r, v, &text, &len, &real_off)) {
        sig_invalid(info, "the signed manifest version is not in the file: %.180s", r->err.msg);
        goto out;
    }
    char real_sha[65];
    if (rf_sha256_hex(text, len, real_sha)) {
        rc = rf_fail(&r->err, RAIIAF_E_NOMEM, "out of memory");
        goto out;
    }
    if (real_off != off || strcmp(real_sha, sha)) {
        info->state = RAIIAF_SIG_INVALID;
        snprintf(info->message, sizeof info->message, "manifest version %u is not the one that was signed", v);
        goto out;
    }
    char msg[256];
    int mlen = sign_message(msg, sizeof msg, v, off, sha);
    pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, 32);
    md = EVP_MD_CTX_new();
    if (!pk || !md) {
        rc = rf_fail(&r->err, RAIIAF_E_NOMEM, "out of memory");
        goto out;
    }
    if (EVP_DigestVerifyInit(md, NULL, NULL, NULL, pk) <= 0 || EVP_DigestVerify(md, sig, 64, (const unsigned char *)msg, (size_t)mlen) != 1) {
        info->state = RAIIAF_SIG_INVALID;
        snprintf(info->message, sizeof info->message, "the Ed25519 signature by key %s does not verify", info->key_id);
        goto out;
    }
    signed_m = rf_json_loadb(text, len, 0, RF_JSON_STRICT, &je);
    uint32_t changed_in = 0;
    int same = signed_m ? unchanged_since(r, v, signed_m, &changed_in) : 0;
    if (same < 0) {
        rc = -same;
        goto out;
    }
    if (same) {
        info->state = RAIIAF_SIG_VALID;
        snprintf(info->message, sizeof info->message, "signed by %s (version %u)", info->key_id, v);
    } else {
        info->state = RAIIAF_SIG_EDITED;
        snprintf(info->message, sizeof info->message, "signed version %u by %s, edited since (version %u changed it; newest %u)", v,
                 info->key_id, changed_in ? changed_in : v + 1, r->manifest_version);
    }
out:
    json_decref(signed_m);
    json_decref(o);
    free(text);
    EVP_PKEY_free(pk);
    EVP_PKEY_free(given);
    EVP_MD_CTX_free(md);
    return rc;
}
