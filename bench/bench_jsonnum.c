/* bench_jsonnum.c -- what exact integers cost when parsing (src/jsonnum.c):
 * jansson's json_loadb against raiiaf_json_loadb on the same manifest-like
 * text, without wide numbers (the common case: one extra scan) and with a
 * seed of 2^64-1 in every record (the copy and the put-back walk).
 * Median of --runs runs, interleaved so that drift hits both alike.
 *
 *   build/bench_jsonnum [--runs N] [--records N]
 */
#include "bench_util.h"
#include "raiiaf_json.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *make_text(size_t records, const char *seed, size_t *len)
{
    size_t cap = records * 256 + 64, n = 0;
    char *t = xmalloc(cap);
    n += (size_t)sprintf(t + n, "{\"raiiaf_metadata\": {\"chunks\": [");
    for (size_t i = 0; i < records; i++)
        n += (size_t)sprintf(t + n, "%s\n  {\"index\": %zu, \"type\": \"TENS\", \"offset\": %zu, \"stored_size\": 4096, "
                             "\"crc32c\": 3735928559, \"seed\": %s, \"cfg\": 7.5, \"name\": \"latent_%zu\"}",
                             i ? "," : "", i, i * 4160, seed, i);
    n += (size_t)sprintf(t + n, "]}}");
    *len = n;
    return t;
}

static double time_parse(const char *t, size_t n, int ours)
{
    double t0 = now_s();
    json_t *v = ours ? raiiaf_json_loadb(t, n, JSON_REJECT_DUPLICATES, NULL) : json_loadb(t, n, JSON_REJECT_DUPLICATES, NULL);
    double dt = now_s() - t0;
    if (!v) {
        fprintf(stderr, "parse failed\n");
        exit(1);
    }
    json_decref(v);
    return dt;
}

int main(int argc, char **argv)
{
    int runs = 21;
    size_t records = 20000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--runs")) runs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--records")) records = (size_t)atol(argv[i + 1]);
    }
    size_t n1, n2;
    char *plain = make_text(records, "6952411511246973023", &n1); /* fits long long: no wide numbers */
    char *wide = make_text(records, "18446744073709551615", &n2);
    double *a = xmalloc(sizeof(double) * (size_t)runs), *b = xmalloc(sizeof(double) * (size_t)runs),
           *c = xmalloc(sizeof(double) * (size_t)runs);
    for (int r = 0; r < runs; r++) {
        a[r] = time_parse(plain, n1, 0);
        b[r] = time_parse(plain, n1, 1);
        c[r] = time_parse(wide, n2, 1);
    }
    double ma = median(a, runs), mb = median(b, runs), mc = median(c, runs);
    printf("text: %zu records, %zu bytes (plain) / %zu bytes (wide seeds); median of %d runs\n", records, n1, n2, runs);
    printf("%-44s %8.2f ms  1.00\n", "json_loadb, seeds < 2^63", ma * 1e3);
    printf("%-44s %8.2f ms  %.2f\n", "raiiaf_json_loadb, seeds < 2^63", mb * 1e3, mb / ma);
    printf("%-44s %8.2f ms  %.2f\n", "raiiaf_json_loadb, every seed 2^64-1 (wide)", mc * 1e3, mc / ma);
    free(a);
    free(b);
    free(c);
    free(plain);
    free(wide);
    return 0;
}
