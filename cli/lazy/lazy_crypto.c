/* lazy_crypto.c -- the EVP and PEM half of libcrypto, loaded the first time
 * the tool signs, checks a signature, makes a key or serves (lazy.h; RAND_bytes: serve's edit token).
 *
 * Linked statically, libcrypto's EVP layer brings its provider tables:
 * 350 KiB of pointers the loader relocates at every start, most of the
 * start-up cost of `raiiaf --version`.  SHA-256 (SHA256_Init/Update/Final,
 * src/sha256.c) and OpenSSL_version still come from the static archive:
 * they are small, need no provider, and are used by nearly every command.
 * OpenSSL_version is answered here too (below).
 * The other functions here forward to the shared libcrypto, loaded with dlopen()
 * on first use; objects it returns (EVP_PKEY, EVP_MD_CTX, EVP_MD) are only
 * ever passed back to it.  Each pointer's type is taken from the
 * <openssl/...> prototype, so a mismatch does not compile. */
#include "lazy.h"

#include <pthread.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

/* Debian 12's OpenSSL 3 has SONAME libcrypto.so.3. */
#define CRYPTO_SONAME "libcrypto.so.3"

#define CRYPTO_FUNCS(X)                                                                                                \
    X(EVP_Digest)                                                                                                      \
    X(EVP_DigestSign)                                                                                                  \
    X(EVP_DigestSignInit)                                                                                              \
    X(EVP_DigestVerify)                                                                                                \
    X(EVP_DigestVerifyInit)                                                                                            \
    X(EVP_MD_CTX_free)                                                                                                 \
    X(EVP_MD_CTX_new)                                                                                                  \
    X(EVP_PKEY_CTX_free)                                                                                               \
    X(EVP_PKEY_CTX_new_id)                                                                                             \
    X(EVP_PKEY_free)                                                                                                   \
    X(EVP_PKEY_get_id)                                                                                                 \
    X(EVP_PKEY_get_raw_public_key)                                                                                     \
    X(EVP_PKEY_keygen)                                                                                                 \
    X(EVP_PKEY_keygen_init)                                                                                            \
    X(EVP_PKEY_new_raw_public_key)                                                                                     \
    X(EVP_sha256)                                                                                                      \
    X(PEM_read_PUBKEY)                                                                                                 \
    X(PEM_read_PrivateKey)                                                                                             \
    X(PEM_write_PUBKEY)                                                                                                \
    X(PEM_write_PrivateKey)                                                                                            \
    X(RAND_bytes)                                                                                                      \
    X(OpenSSL_version)

/* The resolved functions: written once under pthread_once, read-only after. */
#define FIELD(f) __typeof__(&f) f;
static struct {
    CRYPTO_FUNCS(FIELD)
} real;
static pthread_once_t crypto_once = PTHREAD_ONCE_INIT;

static void crypto_load(void)
{
    void *h = lazy_open(CRYPTO_SONAME);
#define RESOLVE(f) *(void **)&real.f = lazy_sym(h, CRYPTO_SONAME, #f);
    CRYPTO_FUNCS(RESOLVE)
}

static void load(void) { pthread_once(&crypto_once, crypto_load); }

/* serve's per-session edit token */
int RAND_bytes(unsigned char *buf, int num)
{
    load();
    return real.RAND_bytes(buf, num);
}

int EVP_Digest(const void *data, size_t count, unsigned char *md, unsigned int *size, const EVP_MD *type, ENGINE *impl)
{
    load();
    return real.EVP_Digest(data, count, md, size, type, impl);
}

int EVP_DigestSign(EVP_MD_CTX *ctx, unsigned char *sigret, size_t *siglen, const unsigned char *tbs, size_t tbslen)
{
    load();
    return real.EVP_DigestSign(ctx, sigret, siglen, tbs, tbslen);
}

int EVP_DigestSignInit(EVP_MD_CTX *ctx, EVP_PKEY_CTX **pctx, const EVP_MD *type, ENGINE *e, EVP_PKEY *pkey)
{
    load();
    return real.EVP_DigestSignInit(ctx, pctx, type, e, pkey);
}

int EVP_DigestVerify(EVP_MD_CTX *ctx, const unsigned char *sigret, size_t siglen, const unsigned char *tbs, size_t tbslen)
{
    load();
    return real.EVP_DigestVerify(ctx, sigret, siglen, tbs, tbslen);
}

int EVP_DigestVerifyInit(EVP_MD_CTX *ctx, EVP_PKEY_CTX **pctx, const EVP_MD *type, ENGINE *e, EVP_PKEY *pkey)
{
    load();
    return real.EVP_DigestVerifyInit(ctx, pctx, type, e, pkey);
}

void EVP_MD_CTX_free(EVP_MD_CTX *ctx)
{
    if (!ctx) return; /* nothing was made, so nothing needs loading */
    load();
    real.EVP_MD_CTX_free(ctx);
}

EVP_MD_CTX *EVP_MD_CTX_new(void)
{
    load();
    return real.EVP_MD_CTX_new();
}

void EVP_PKEY_CTX_free(EVP_PKEY_CTX *ctx)
{
    if (!ctx) return;
    load();
    real.EVP_PKEY_CTX_free(ctx);
}

EVP_PKEY_CTX *EVP_PKEY_CTX_new_id(int id, ENGINE *e)
{
    load();
    return real.EVP_PKEY_CTX_new_id(id, e);
}

void EVP_PKEY_free(EVP_PKEY *pkey)
{
    if (!pkey) return;
    load();
    real.EVP_PKEY_free(pkey);
}

int EVP_PKEY_get_id(const EVP_PKEY *pkey)
{
    load();
    return real.EVP_PKEY_get_id(pkey);
}

int EVP_PKEY_get_raw_public_key(const EVP_PKEY *pkey, unsigned char *pub, size_t *len)
{
    load();
    return real.EVP_PKEY_get_raw_public_key(pkey, pub, len);
}

int EVP_PKEY_keygen(EVP_PKEY_CTX *ctx, EVP_PKEY **ppkey)
{
    load();
    return real.EVP_PKEY_keygen(ctx, ppkey);
}

int EVP_PKEY_keygen_init(EVP_PKEY_CTX *ctx)
{
    load();
    return real.EVP_PKEY_keygen_init(ctx);
}

EVP_PKEY *EVP_PKEY_new_raw_public_key(int type, ENGINE *e, const unsigned char *pub, size_t len)
{
    load();
    return real.EVP_PKEY_new_raw_public_key(type, e, pub, len);
}

const EVP_MD *EVP_sha256(void)
{
    load();
    return real.EVP_sha256();
}

EVP_PKEY *PEM_read_PUBKEY(FILE *out, EVP_PKEY **x, pem_password_cb *cb, void *u)
{
    load();
    return real.PEM_read_PUBKEY(out, x, cb, u);
}

EVP_PKEY *PEM_read_PrivateKey(FILE *out, EVP_PKEY **x, pem_password_cb *cb, void *u)
{
    load();
    return real.PEM_read_PrivateKey(out, x, cb, u);
}

int PEM_write_PUBKEY(FILE *out, const EVP_PKEY *x)
{
    load();
    return real.PEM_write_PUBKEY(out, x);
}

int PEM_write_PrivateKey(FILE *out, const EVP_PKEY *x, const EVP_CIPHER *enc, const unsigned char *kstr, int klen,
                         pem_password_cb *cb, void *u)
{
    load();
    return real.PEM_write_PrivateKey(out, x, enc, kstr, klen, cb, u);
}

/* The environment record asks every run for OpenSSL_version(OPENSSL_VERSION)
 * (src/env_capture.c).  The archive's OpenSSL_version would pull most of
 * libcrypto's core in with it, and the shared one means loading it.  The
 * SHA-256 this tool runs is the static archive's, built from the same
 * OpenSSL release as these headers (Debian ships libssl-dev and libcrypto
 * at the same version), so the header's text is the true answer for it;
 * every other question goes to the shared library. */
const char *OpenSSL_version(int type)
{
    if (type == OPENSSL_VERSION) return OPENSSL_VERSION_TEXT;
    load();
    return real.OpenSSL_version(type);
}
