/* fuzz_jsonnum.c -- libFuzzer harness for exact JSON numbers and format 1's
 * Python dialect (src/jsonnum.c): every text is parsed strictly and in
 * Python's dialect; what parses must write back (raiiaf_json_dumps) to a
 * text that parses to an equal tree, and a strict parse must agree with the
 * Python one.  Any crash, leak, sanitizer report or abort is a bug. */
#include "raiiaf_json.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static json_t *roundtrip(json_t *v, size_t flags)
{
    char *t = raiiaf_json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!t) return NULL; /* a lone surrogate (WTF-8) has no JSON text: allowed */
    json_t *back = raiiaf_json_loadb(t, strlen(t), JSON_DECODE_ANY | flags, NULL);
    free(t);
    if (!back) abort(); /* what was written must read back */
    return back;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    json_t *strict = raiiaf_json_loadb(text, size, JSON_DECODE_ANY, NULL);
    json_t *py = raiiaf_json_loadb(text, size, JSON_DECODE_ANY | RAIIAF_JSON_PYTHON, NULL);
    if (strict && !py) abort(); /* the dialect is a superset */
    if (strict && !json_equal(strict, py)) abort();
    json_t *b = strict ? roundtrip(strict, 0) : NULL;
    if (b && !json_equal(b, strict)) abort();
    json_decref(b);
    b = py ? roundtrip(py, RAIIAF_JSON_PYTHON) : NULL;
    if (b && !json_equal(b, py)) abort();
    json_decref(b);
    json_decref(strict);
    json_decref(py);
    return 0;
}
