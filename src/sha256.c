/* sha256.c -- SHA-256 through OpenSSL's libcrypto (EVP), which uses the
 * SHA extensions / AVX2 code paths of the CPU it runs on. */
#include "internal.h"

#include <openssl/evp.h>

/* rf_sha256 is an EVP_MD_CTX under another name, keeping OpenSSL's types
 * out of internal.h. */
rf_sha256 *rf_sha256_new(void)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx) return NULL;
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        return NULL;
    }
    return (rf_sha256 *)ctx;
}

void rf_sha256_update(rf_sha256 *s, const void *data, size_t size)
{
    if (size) EVP_DigestUpdate((EVP_MD_CTX *)s, data, size);
}

void rf_sha256_final_hex(rf_sha256 *s, char hex[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    static const char digits[] = "0123456789abcdef";
    EVP_DigestFinal_ex((EVP_MD_CTX *)s, md, &n);
    for (unsigned i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = '\0';
    EVP_DigestInit_ex((EVP_MD_CTX *)s, EVP_sha256(), NULL);
}

void rf_sha256_free(rf_sha256 *s) { EVP_MD_CTX_free((EVP_MD_CTX *)s); }

int rf_sha256_hex(const void *data, size_t size, char hex[65])
{
    rf_sha256 *s = rf_sha256_new();
    if (!s) return -1;
    rf_sha256_update(s, data, size);
    rf_sha256_final_hex(s, hex);
    rf_sha256_free(s);
    return 0;
}
