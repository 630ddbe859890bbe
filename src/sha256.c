/* sha256.c -- SHA-256 through OpenSSL's libcrypto, which uses the SHA
 * extensions / AVX2 code paths of the CPU it runs on.
 *
 * The SHA256_* functions are used rather than EVP: in OpenSSL 3 the first
 * EVP digest of a process initialises the provider machinery and reads
 * openssl.cnf, about 5 million instructions (1-2 ms), which is most of the
 * time `raiiaf info` takes on a small file (docs/PERFORMANCE.md, bench_info).
 * They are the same assembly underneath, and deprecated only in favour of
 * EVP, not removed; OPENSSL_API_COMPAT keeps their declarations plain. */
#define OPENSSL_API_COMPAT 0x10101000L
#include "internal.h"

#include <openssl/sha.h>
#include <stdlib.h>

static void to_hex(const unsigned char md[32], char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = '\0';
}

/* rf_sha256 is a SHA256_CTX under another name, keeping OpenSSL's types
 * out of internal.h. */
rf_sha256 *rf_sha256_new(void)
{
    SHA256_CTX *ctx = malloc(sizeof *ctx);
    if (!ctx) return NULL;
    SHA256_Init(ctx);
    return (rf_sha256 *)ctx;
}

void rf_sha256_update(rf_sha256 *s, const void *data, size_t size)
{
    if (size) SHA256_Update((SHA256_CTX *)s, data, size);
}

void rf_sha256_final_hex(rf_sha256 *s, char hex[65])
{
    unsigned char md[32];
    SHA256_Final(md, (SHA256_CTX *)s);
    to_hex(md, hex);
    SHA256_Init((SHA256_CTX *)s);
}

void rf_sha256_free(rf_sha256 *s) { free(s); }

int rf_sha256_hex(const void *data, size_t size, char hex[65])
{
    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    if (size) SHA256_Update(&ctx, data, size);
    unsigned char md[32];
    SHA256_Final(md, &ctx);
    to_hex(md, hex);
    return 0;
}
