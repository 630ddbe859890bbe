/* test_import_sources.c -- the sources of issue 14 part A: Civitai, NovelAI
 * (EXIF, legacy PNG, stealth), InvokeAI legacy (Dream, sd-metadata,
 * invokeai_graph), stealth PNG info and C2PA.  Parsers directly, with
 * hostile inputs (lying lengths, truncation, gzip bombs), and the public
 * import over the fixtures in tests/data/import (expected values from
 * their X.expected.json, written by make_fixtures_exif_stealth.py, not by raiiaf). */
#include "testutil.h"

#include <spng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "interop.h"

static json_t *gsv(import_result *r, const char *k)
{
    return json_object_get(json_object_get(r->model_info, "generation_settings"), k);
}
static const char *mi_str(import_result *r, const char *k) { return json_string_value(json_object_get(r->model_info, k)); }
static const char *ext_str(import_result *r, const char *k) { return json_string_value(json_object_get(r->ext, k)); }
static int has_note(json_t *notes, const char *part)
{
    size_t i;
    json_t *n;
    json_array_foreach(notes, i, n) if (strstr(json_string_value(n), part)) return 1;
    return 0;
}

/* ---------------------------------------------------------------- Dream */

static void test_dream(void **state)
{
    (void)state;
    import_result r;
    import_result_init(&r);
    assert_int_equal(import_invoke_dream("\"a \\\"quoted\\\" cat [dog]\" -s 50 -S 18446744073 -W 512 -H 768 -C 7.5 "
                                         "-A k_euler --seamless -G 0.8 -f 0.25", &r), 1);
    assert_string_equal(mi_str(&r, "prompt"), "a \"quoted\" cat [dog]");
    assert_int_equal(json_integer_value(gsv(&r, "steps")), 50);
    assert_int_equal(json_integer_value(gsv(&r, "seed")), 18446744073LL);
    assert_int_equal(json_integer_value(gsv(&r, "width")), 512);
    assert_int_equal(json_integer_value(gsv(&r, "height")), 768);
    assert_true(json_real_value(gsv(&r, "cfg_scale")) == 7.5);
    assert_string_equal(json_string_value(gsv(&r, "sampler")), "k_euler");
    assert_true(json_real_value(gsv(&r, "denoising_strength")) == 0.25);
    json_t *flags = json_object_get(json_object_get(r.ext, "unmapped"), "dream_flags");
    assert_true(json_is_true(json_object_get(flags, "--seamless"))); /* a flag without a value */
    assert_string_equal(json_string_value(json_object_get(flags, "-G")), "0.8");
    assert_string_equal(r.tool, "InvokeAI");
    assert_string_equal(ext_str(&r, "family"), "InvokeAI");
    import_result_free(&r);
    /* not a Dream line: no quote, an unterminated quote, no known flag */
    static const char *const bad[] = {"a cat -s 50", "\"a cat -s 50 -S 1", "\"a cat\" --foo bar", "", "\"\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        import_result_init(&r);
        assert_int_equal(import_invoke_dream(bad[i], &r), 0);
        assert_null(r.tool);
        import_result_free(&r);
    }
    /* a value that does not parse is kept, not mapped */
    import_result_init(&r);
    assert_int_equal(import_invoke_dream("\"x\" -s 20 -S notanumber", &r), 1);
    assert_null(gsv(&r, "seed"));
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(r.ext, "unmapped"), "dream_flags"), "-S")),
                        "notanumber");
    import_result_free(&r);
}

static void test_sdmeta_and_graph(void **state)
{
    (void)state;
    import_result r;
    import_result_init(&r);
    json_t *j = json_loads("{\"model_weights\": \"sd-1.5.ckpt\", \"image\": {\"prompt\": \"plain\", "
                           "\"seed\": 18446744073709551615, \"steps\": 0}}", 0, NULL);
    /* jansson refuses integers over 2^63-1: the caller gets nothing */
    assert_null(j);
    j = json_loads("{\"model_weights\": \"sd-1.5.ckpt\", \"image\": {\"prompt\": [{\"prompt\": \"a\", \"weight\": 0.5}, "
                   "{\"prompt\": \"b\", \"weight\": 0.5}], \"seed\": 9007199254740993, \"steps\": 0, \"variations\": []}}",
                   0, NULL);
    assert_int_equal(import_invoke_sdmeta(j, &r), 1);
    assert_null(mi_str(&r, "prompt")); /* a blend is not one prompt */
    assert_true(has_note(json_object_get(r.ext, "notes"), "blend of 2 weighted prompts"));
    assert_int_equal(json_integer_value(gsv(&r, "seed")), 9007199254740993LL); /* 2^53+1 exactly */
    assert_null(gsv(&r, "steps"));                                           /* 0 is out of range */
    assert_string_equal(mi_str(&r, "model_name"), "sd-1.5");
    json_decref(j);
    import_result_free(&r);
    /* sd-metadata without an image object is not InvokeAI's */
    import_result_init(&r);
    j = json_loads("{\"image\": 5}", 0, NULL);
    assert_int_equal(import_invoke_sdmeta(j, &r), 0);
    json_decref(j);
    /* graph: nodes as an array, metadata_accumulator (3.0) */
    j = json_loads("{\"nodes\": [{\"type\": \"noise\"}, {\"type\": \"metadata_accumulator\", \"positive_prompt\": \"p\", "
                   "\"seed\": 7, \"model\": {\"model_name\": \"m\"}}]}", 0, NULL);
    assert_int_equal(import_invoke_graph(j, &r), 1);
    assert_string_equal(mi_str(&r, "prompt"), "p");
    assert_int_equal(json_integer_value(gsv(&r, "seed")), 7);
    json_decref(j);
    import_result_free(&r);
    import_result_init(&r);
    j = json_loads("{\"nodes\": {\"a\": {\"type\": \"denoise_latents\", \"steps\": 3}}}", 0, NULL);
    assert_int_equal(import_invoke_graph(j, &r), 0);
    json_decref(j);
    import_result_free(&r);
}

/* ---------------------------------------------------------------- Civitai, NovelAI */

static void test_civitai(void **state)
{
    (void)state;
    import_result r;
    import_result_init(&r);
    /* extraMetadata alone (an upscale workflow whose graph has no sampler) */
    json_t *j = json_loads("{\"1\": {\"class_type\": \"LoadImage\", \"inputs\": {}}, \"extra\": {\"airs\": [\"urn:x\"]}, "
                           "\"extraMetadata\": \"{\\\"prompt\\\": \\\"fox\\\", \\\"negativePrompt\\\": \\\"bad\\\", "
                           "\\\"steps\\\": 30, \\\"seed\\\": 9223372036854775807, \\\"cfgScale\\\": 4, "
                           "\\\"sampler\\\": \\\"Euler a\\\", \\\"width\\\": 832, \\\"height\\\": 1216}\"}",
                           0, NULL);
    assert_int_equal(import_civitai_json(j, &r), 1);
    assert_string_equal(r.tool, "Civitai");
    assert_string_equal(ext_str(&r, "family"), "ComfyUI");
    assert_string_equal(mi_str(&r, "prompt"), "fox");
    assert_string_equal(mi_str(&r, "negative_prompt"), "bad");
    assert_int_equal(json_integer_value(gsv(&r, "seed")), 9223372036854775807LL);
    assert_string_equal(json_string_value(gsv(&r, "sampler")), "Euler a");
    assert_int_equal(json_array_size(json_object_get(r.ext, "civitai_airs")), 1);
    json_decref(j);
    import_result_free(&r);
    /* extraMetadata that is not JSON, and no graph: nothing */
    import_result_init(&r);
    j = json_loads("{\"extraMetadata\": \"{not json\"}", 0, NULL);
    assert_int_equal(import_civitai_json(j, &r), 0);
    json_decref(j);
    import_result_free(&r);
    /* Civitai resources: model and LoRAs when the text has none; a list
     * that is not JSON is noted */
    import_result_init(&r);
    assert_int_equal(import_a1111("cat\nSteps: 5, Seed: 1, Civitai resources: [{\"type\":\"checkpoint\",\"modelName\":"
                                  "\"Pony\"},{\"type\":\"lora\",\"weight\":0.5,\"modelName\":\"Tweak\"},{\"type\":\"embed\","
                                  "\"modelName\":\"neg\"}]", &r), 1);
    import_civitai_resources(&r);
    assert_string_equal(r.tool, "Civitai");
    assert_string_equal(mi_str(&r, "model_name"), "Pony");
    json_t *ads = json_object_get(r.model_info, "adapters");
    assert_int_equal(json_array_size(ads), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ads, 0), "name")), "Tweak");
    import_result_free(&r);
    /* a plain graph whose checkpoint is an AIR URN: Civitai's generator */
    import_result_init(&r);
    j = json_loads("{\"1\": {\"class_type\": \"CheckpointLoaderSimple\", \"inputs\": {\"ckpt_name\": \"urn:air:sdxl:"
                   "checkpoint:civitai:1@2\"}}, \"2\": {\"class_type\": \"KSampler\", \"inputs\": {\"seed\": 4, \"steps\": 9, "
                   "\"positive\": [\"3\", 0], \"model\": [\"1\", 0]}}, \"3\": {\"class_type\": \"CLIPTextEncode\", "
                   "\"inputs\": {\"text\": \"t\"}}}", 0, NULL);
    meta_list none = {0};
    assert_int_equal(import_comfy(j, &r), 1);
    import_refine(&none, &r);
    assert_string_equal(r.tool, "Civitai");
    assert_string_equal(ext_str(&r, "family"), "ComfyUI");
    json_decref(j);
    import_result_free(&r);
    import_result_init(&r);
    assert_int_equal(import_a1111("cat\nSteps: 5, Seed: 1, Civitai resources: [oops", &r), 1);
    import_civitai_resources(&r);
    assert_true(has_note(json_object_get(r.ext, "notes"), "Civitai resources is not a JSON array"));
    import_result_free(&r);
}

static void test_novelai_exif(void **state)
{
    (void)state;
    meta_list none = {0};
    import_result r;
    import_result_init(&r);
    /* Comment as an object too; prompt from Description when the settings lack it */
    json_t *j = json_loads("{\"Software\": \"NovelAI\", \"Source\": \"NAI v3\", \"Description\": \"a girl\", "
                           "\"Comment\": {\"steps\": 28, \"seed\": 5, \"uc\": \"bad\"}}", 0, NULL);
    assert_int_equal(import_novelai_exif(j, &none, &r), 1);
    assert_string_equal(mi_str(&r, "prompt"), "a girl");
    assert_string_equal(mi_str(&r, "model_name"), "NAI v3");
    assert_string_equal(ext_str(&r, "family"), "NovelAI");
    json_decref(j);
    import_result_free(&r);
    /* not NovelAI's, or a Comment that is not JSON */
    static const char *const bad[] = {"{\"Software\": \"Other\", \"Comment\": \"{}\"}",
                                      "{\"Software\": \"NovelAI\", \"Comment\": \"{\\\"steps\"}",
                                      "{\"Software\": \"NovelAI\", \"Comment\": 5}"};
    for (size_t i = 0; i < 3; i++) {
        import_result_init(&r);
        j = json_loads(bad[i], 0, NULL);
        assert_non_null(j);
        assert_int_equal(import_novelai_exif(j, &none, &r), 0);
        json_decref(j);
        import_result_free(&r);
    }
}

/* ---------------------------------------------------------------- C2PA */

static void test_c2pa_cbor(void **state)
{
    (void)state;
    int info;
    static const unsigned char v1[] = "\xa1\x6f" "claim_generator" "\x67" "ChatGPT";
    char *g = c2pa_claim_generator(v1, sizeof v1 - 1, &info);
    assert_string_equal(g, "ChatGPT");
    assert_int_equal(info, 0);
    free(g);
    /* a 16-bit length that runs past the end, a truncated one, a non-text value */
    static const unsigned char lie[] = "\x6f" "claim_generator" "\x79\xff\xff" "abc";
    assert_null(c2pa_claim_generator(lie, sizeof lie - 1, &info));
    static const unsigned char cut[] = "\x6f" "claim_generator" "\x78";
    assert_null(c2pa_claim_generator(cut, sizeof cut - 1, &info));
    static const unsigned char num[] = "\x6f" "claim_generator" "\x18\x20";
    assert_null(c2pa_claim_generator(num, sizeof num - 1, &info));
    /* claim_generator_info: the first name after it; the last claim wins */
    static const unsigned char v2[] = "\x74" "claim_generator_info" "\x81\xa1\x64" "name" "\x63" "old"
                                      "\x74" "claim_generator_info" "\x81\xa2\x67" "version" "\x61" "1" "\x64" "name"
                                      "\x66" "Gemini";
    g = c2pa_claim_generator(v2, sizeof v2 - 1, &info);
    assert_string_equal(g, "Gemini");
    assert_int_equal(info, 1);
    free(g);
    static const unsigned char v2cut[] = "\x74" "claim_generator_info" "\x81\xa1\x64" "nam";
    assert_null(c2pa_claim_generator(v2cut, sizeof v2cut - 1, &info));
}

/* A PNG: signature, IHDR 1x1 RGB, one extra chunk, IEND (CRCs real). */
static size_t png_with_chunk(unsigned char *o, const char *type, const unsigned char *body, uint32_t n, uint32_t lie)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    size_t k = 0;
    memcpy(o, sig, 8);
    k = 8;
    unsigned char ihdr[13] = {0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0};
    const struct {
        const char *t;
        const unsigned char *b;
        uint32_t n, decl;
    } ch[] = {{"IHDR", ihdr, 13, 13}, {type, body, n, lie}, {"IEND", NULL, 0, 0}};
    for (int i = 0; i < 3; i++) {
        uint32_t d = ch[i].decl;
        o[k] = (unsigned char)(d >> 24), o[k + 1] = (unsigned char)(d >> 16), o[k + 2] = (unsigned char)(d >> 8),
        o[k + 3] = (unsigned char)d;
        memcpy(o + k + 4, ch[i].t, 4);
        if (ch[i].n) memcpy(o + k + 8, ch[i].b, ch[i].n);
        uLong c = crc32(crc32(0, NULL, 0), o + k + 4, 4 + ch[i].n);
        o[k + 8 + ch[i].n] = (unsigned char)(c >> 24), o[k + 9 + ch[i].n] = (unsigned char)(c >> 16),
                        o[k + 10 + ch[i].n] = (unsigned char)(c >> 8), o[k + 11 + ch[i].n] = (unsigned char)c;
        k += 12 + ch[i].n;
    }
    return k;
}

static void test_c2pa_hostile(void **state)
{
    (void)state;
    unsigned char png[256];
    import_result r;
    /* caBX that is not a JUMBF c2pa store; one whose length lies */
    static const unsigned char notjumbf[] = "\0\0\0\x10" "xxxx" "c2pa c2pa";
    size_t n = png_with_chunk(png, "caBX", notjumbf, sizeof notjumbf - 1, sizeof notjumbf - 1);
    import_result_init(&r);
    assert_int_equal(c2pa_probe(png, n, &r, 1), 0);
    assert_null(r.tool);
    import_result_free(&r);
    static const unsigned char store[] = "\0\0\0\x20" "jumb" "\0\0\0\x18" "jumd" "c2pa\0\x11\0\x10" "c2pa";
    n = png_with_chunk(png, "caBX", store, sizeof store - 1, 0x7fffff00u);
    import_result_init(&r);
    assert_int_equal(c2pa_probe(png, n, &r, 1), 0);
    import_result_free(&r);
    /* a store without a claim generator: present, tool "C2PA" */
    n = png_with_chunk(png, "caBX", store, sizeof store - 1, sizeof store - 1);
    import_result_init(&r);
    assert_int_equal(c2pa_probe(png, n, &r, 1), 1);
    assert_string_equal(r.tool, "C2PA");
    assert_string_equal(json_string_value(json_object_get(json_object_get(r.ext, "c2pa"), "container")), "png caBX");
    import_result_free(&r);
    /* JPEG: an APP11 continuation too short for its repeated box header; a segment past the end */
    static const unsigned char jpg[] = "\xff\xd8"
                                       "\xff\xeb\0\x2c" "JP\0\x01\0\0\0\x01" "\0\0\0\x20" "jumb" "\0\0\0\x18" "jumd"
                                       "c2pa\0\x11\0\x10" "c2pa"
                                       "\xff\xeb\0\x0e" "JP\0\x01\0\0\0\x02" "\0\0"
                                       "\xff\xeb\x7f\xff" "JP"
                                       "\xff\xd9";
    import_result_init(&r);
    assert_int_equal(c2pa_probe(jpg, sizeof jpg - 1, &r, 0), 1); /* the first segment's store */
    assert_null(r.tool);                                          /* set_tool 0: only recorded */
    assert_non_null(json_object_get(r.ext, "c2pa"));
    import_result_free(&r);
}

/* ---------------------------------------------------------------- stealth */

typedef struct bits {
    unsigned char *plane; /* alpha values, one per pixel, column-major index */
    size_t n, at;
} bits;

static void put_bits(bits *b, const unsigned char *d, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (int k = 7; k >= 0 && b->at < b->n; k--) /* what does not fit is cut */
            b->plane[b->at++] = (unsigned char)(254 | ((d[i] >> k) & 1));
}

/* An RGBA PNG whose alpha LSBs (x outer, y inner) carry SIG + LEN + DATA. */
static unsigned char *stealth_png(uint32_t w, uint32_t h, const char *sig, uint32_t len_bits, const unsigned char *data,
                                  size_t n, size_t *out_n)
{
    bits b = {calloc((size_t)w * h, 1), (size_t)w * h, 0};
    memset(b.plane, 255, b.n);
    unsigned char lb[4] = {(unsigned char)(len_bits >> 24), (unsigned char)(len_bits >> 16), (unsigned char)(len_bits >> 8),
                           (unsigned char)len_bits};
    put_bits(&b, (const unsigned char *)sig, strlen(sig));
    put_bits(&b, lb, 4);
    put_bits(&b, data, n);
    unsigned char *img = malloc((size_t)w * h * 4);
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++) {
            unsigned char *p = img + ((size_t)y * w + x) * 4;
            p[0] = (unsigned char)x, p[1] = (unsigned char)y, p[2] = 7;
            p[3] = b.plane[(size_t)x * h + y];
        }
    free(b.plane);
    spng_ctx *ctx = spng_ctx_new(SPNG_CTX_ENCODER);
    spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1);
    struct spng_ihdr ih = {w, h, 8, SPNG_COLOR_TYPE_TRUECOLOR_ALPHA, 0, 0, 0};
    spng_set_ihdr(ctx, &ih);
    assert_int_equal(spng_encode_image(ctx, img, (size_t)w * h * 4, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE), 0);
    int err = 0;
    unsigned char *png = spng_get_png_buffer(ctx, out_n, &err);
    assert_int_equal(err, 0);
    spng_ctx_free(ctx);
    free(img);
    return png;
}

static int stealth_of(const unsigned char *png, size_t n, meta_list *l, char *note, size_t ns)
{
    memset(l, 0, sizeof *l);
    return stealth_collect(png, n, l, note, ns);
}

static void test_stealth_plain_and_limits(void **state)
{
    (void)state;
    const char *text = "a cat\nSteps: 20, Sampler: Euler, Seed: 3";
    size_t n;
    char note[256];
    meta_list l;
    unsigned char *png = stealth_png(32, 40, "stealth_pnginfo", (uint32_t)strlen(text) * 8, (const unsigned char *)text,
                                     strlen(text), &n);
    assert_int_equal(stealth_of(png, n, &l, note, sizeof note), 1);
    assert_int_equal(l.count, 1);
    assert_string_equal(l.items[0].keyword, "stealth_pnginfo");
    assert_string_equal(l.items[0].type, "stealth-alpha");
    assert_memory_equal(l.items[0].text, text, strlen(text));
    meta_list_free(&l);
    free(png);
    /* the length field: huge, not whole bytes */
    png = stealth_png(32, 40, "stealth_pnginfo", 0xFFFFFFF8u, (const unsigned char *)text, strlen(text), &n);
    assert_int_equal(stealth_of(png, n, &l, note, sizeof note), -1);
    assert_non_null(strstr(note, "length field says 4294967288 bits but the image holds 1128 after the header"));
    assert_int_equal(l.count, 0);
    free(png);
    png = stealth_png(32, 40, "stealth_pnginfo", 13, (const unsigned char *)text, strlen(text), &n);
    assert_int_equal(stealth_of(png, n, &l, note, sizeof note), -1);
    assert_non_null(strstr(note, "13 bits is not a whole number of bytes"));
    free(png);
    /* text that is not UTF-8 */
    png = stealth_png(32, 40, "stealth_pnginfo", 16, (const unsigned char *)"\xff\xfe", 2, &n);
    assert_int_equal(stealth_of(png, n, &l, note, sizeof note), -1);
    assert_non_null(strstr(note, "not UTF-8"));
    free(png);
    /* no signature (tall image: only the first 120 rows are decoded); a near miss */
    png = stealth_png(4, 200, "stealth_pnginfx", 8, (const unsigned char *)"x", 1, &n);
    assert_int_equal(stealth_of(png, n, &l, note, sizeof note), 0);
    assert_string_equal(note, "");
    free(png);
    /* an image too small for the header */
    png = stealth_png(1, 130, "stealth_pnginfo", 0, NULL, 0, &n);
    assert_int_equal(stealth_of(png, n, &l, note, sizeof note), -1);
    assert_non_null(strstr(note, "ends inside the header"));
    free(png);
    /* not a PNG, a truncated one */
    assert_int_equal(stealth_of((const unsigned char *)"GIF89a", 6, &l, note, sizeof note), 0);
    png = stealth_png(32, 40, "stealth_pnginfo", (uint32_t)strlen(text) * 8, (const unsigned char *)text, strlen(text), &n);
    assert_int_equal(stealth_of(png, n / 2, &l, note, sizeof note), 0);
    free(png);
}

static void test_stealth_gzip(void **state)
{
    (void)state;
    /* A gzip bomb: 17 MiB of spaces in ~17 KB; the output stops at the
     * 16 MiB text budget. */
    size_t big = (size_t)17 << 20;
    unsigned char *plain = malloc(big);
    memset(plain, ' ', big);
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + 15, 9, Z_DEFAULT_STRATEGY), Z_OK);
    uLong cap = deflateBound(&z, (uLong)big);
    unsigned char *gz = malloc(cap);
    z.next_in = plain;
    z.avail_in = (uInt)big;
    z.next_out = gz;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t gn = z.total_out;
    deflateEnd(&z);
    free(plain);
    uint32_t side = 1;
    while ((uint64_t)side * side < 152 + gn * 8) side++;
    size_t n;
    char note[256];
    meta_list l;
    unsigned char *png = stealth_png(side, side, "stealth_pngcomp", (uint32_t)(gn * 8), gz, gn, &n);
    assert_int_equal(stealth_of(png, n, &l, note, sizeof note), -1);
    assert_non_null(strstr(note, "decompresses to more than the 16 MiB text budget"));
    assert_int_equal(l.count, 0);
    free(png);
    /* damaged gzip: the same stream cut short */
    png = stealth_png(side, side, "stealth_pngcomp", 800, gz, 100, &n);
    assert_int_equal(stealth_of(png, n, &l, note, sizeof note), -1);
    assert_non_null(strstr(note, "gzip payload of 100 bytes is damaged"));
    free(png);
    free(gz);
    /* a small gzip payload whose text is JSON (NovelAI's layout) */
    const char *js = "{\"Software\": \"NovelAI\", \"Comment\": \"{\\\"prompt\\\": \\\"p\\\", \\\"steps\\\": 2}\"}";
    unsigned char small[512];
    memset(&z, 0, sizeof z);
    deflateInit2(&z, 9, Z_DEFLATED, 16 + 15, 9, Z_DEFAULT_STRATEGY);
    z.next_in = (unsigned char *)js;
    z.avail_in = (uInt)strlen(js);
    z.next_out = small;
    z.avail_out = sizeof small;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    gn = z.total_out;
    deflateEnd(&z);
    png = stealth_png(48, 48, "stealth_pngcomp", (uint32_t)gn * 8, small, gn, &n);
    raiiaf_import *imp = NULL;
    assert_int_equal(raiiaf_import_image(png, n, &imp), RAIIAF_OK);
    assert_string_equal(raiiaf_import_tool(imp), "NovelAI");
    raiiaf_import_free(imp);
    free(png);
}

/* ---------------------------------------------------------------- fixtures, end to end */

static void test_fixture_tools(void **state)
{
    (void)state;
    static const char *const files[] = {
        "import/civitai/civitai-comfy.jpeg", "import/civitai/civitai-a1111.jpeg", "import/civitai/civitai-a1111.png",
        "import/novelai/novelai.webp",       "import/novelai/novelai.jpeg",       "import/novelai/novelai-legacy.png",
        "import/novelai/novelai-stealth.png", "import/invokeai/invokeai-2.png",   "import/invokeai/invokeai-dream.png",
        "import/invokeai/invokeai-graph.png", "import/invokeai/invokeai-5.png",   "import/stealth/stealth-alpha.png",
        "import/stealth/stealth-comp.png",   "import/stealth/stealth-rgb.png",    "import/stealth/stealth-rgbcomp.png",
        "import/c2pa/c2pa-chatgpt.png",      "import/c2pa/c2pa-firefly.jpeg",     "import/c2pa/c2pa-gemini.webp",
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char exp_name[256];
        snprintf(exp_name, sizeof exp_name, "%s.expected.json", files[i]);
        size_t en, n;
        unsigned char *et = tu_read_data(exp_name, &en);
        json_t *exp = json_loadb((const char *)et, en, 0, NULL);
        free(et);
        assert_non_null(exp);
        unsigned char *img = tu_read_data(files[i], &n);
        raiiaf_import *imp = NULL;
        assert_int_equal(raiiaf_import_image(img, n, &imp), RAIIAF_OK);
        assert_string_equal(raiiaf_import_tool(imp), json_string_value(json_object_get(exp, "tool")));
        size_t ml;
        json_t *doc = json_loads(raiiaf_import_metadata(imp, &ml), 0, NULL);
        json_t *ext = json_object_get(json_object_get(json_object_get(doc, "raiiaf_metadata"), "extensions"),
                                      "org.raiiaf.import");
        assert_string_equal(json_string_value(json_object_get(ext, "family")),
                            json_string_value(json_object_get(exp, "family")));
        json_t *mi = json_object_get(json_object_get(doc, "raiiaf_metadata"), "model_info");
        json_t *gs = json_object_get(mi, "generation_settings");
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(exp, "generation_settings"), k, v)
        {
            json_t *got = json_object_get(gs, k);
            if (json_is_number(v)) assert_true(json_is_number(got) && json_number_value(got) == json_number_value(v));
            else assert_true(json_equal(got, v));
        }
        json_object_foreach(json_object_get(exp, "model_info"), k, v)
        {
            if (json_is_string(v)) assert_string_equal(json_string_value(json_object_get(mi, k)), json_string_value(v));
        }
        json_decref(doc);
        json_decref(exp);
        raiiaf_import_free(imp);
        /* Truncated: the same bytes cut inside the record never crash, and
         * a failure says why. */
        for (size_t cut = n / 7; cut < n; cut += n / 7) {
            imp = NULL;
            int rc = raiiaf_import_image(img, cut, &imp);
            if (rc) assert_true(*raiiaf_import_errmsg(imp));
            raiiaf_import_free(imp);
        }
        free(img);
    }
}

/* A NovelAI JPEG whose EXIF block is cut inside UserComment: the image
 * still imports, the damage is noted, nothing is invented. */
static void test_truncated_exif(void **state)
{
    (void)state;
    size_t n;
    unsigned char *img = tu_read_data("import/novelai/novelai.jpeg", &n);
    size_t app1 = 2;
    while (!(img[app1] == 0xFF && img[app1 + 1] == 0xE1)) app1 += 2 + ((size_t)img[app1 + 2] << 8 | img[app1 + 3]);
    size_t len = (size_t)img[app1 + 2] << 8 | img[app1 + 3];
    /* claim a shorter segment: the UserComment offset now lies past its end */
    size_t shorter = 200;
    unsigned char *bad = malloc(n);
    memcpy(bad, img, app1 + 4 + shorter - 2);
    bad[app1 + 2] = (unsigned char)(shorter >> 8), bad[app1 + 3] = (unsigned char)shorter;
    memcpy(bad + app1 + 2 + shorter, img + app1 + 2 + len, n - app1 - 2 - len);
    size_t bn = n - (len - shorter);
    raiiaf_import *imp = NULL;
    assert_int_equal(raiiaf_import_image(bad, bn, &imp), RAIIAF_OK);
    assert_null(raiiaf_import_tool(imp));
    int noted = 0;
    for (size_t i = 0; i < raiiaf_import_note_count(imp); i++)
        noted |= strstr(raiiaf_import_note(imp, i), "damaged EXIF block was skipped") != NULL;
    assert_true(noted);
    raiiaf_import_free(imp);
    free(bad);
    free(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dream),
        cmocka_unit_test(test_sdmeta_and_graph),
        cmocka_unit_test(test_civitai),
        cmocka_unit_test(test_novelai_exif),
        cmocka_unit_test(test_c2pa_cbor),
        cmocka_unit_test(test_c2pa_hostile),
        cmocka_unit_test(test_stealth_plain_and_limits),
        cmocka_unit_test(test_stealth_gzip),
        cmocka_unit_test(test_fixture_tools),
        cmocka_unit_test(test_truncated_exif),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
