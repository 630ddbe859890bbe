/* test_import.c -- import/export helpers (cli/import_*.c), the EXIF parser
 * and builder, and the safetensors parser and builder (cli/safetensors.c). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "interop.h"

static const char *gs_str(import_result *r, const char *k)
{
    return json_string_value(json_object_get(json_object_get(r->model_info, "generation_settings"), k));
}
static json_t *gs_get(import_result *r, const char *k)
{
    return json_object_get(json_object_get(r->model_info, "generation_settings"), k);
}
static const char *mi_str(import_result *r, const char *k) { return json_string_value(json_object_get(r->model_info, k)); }

static void test_a1111_pairs(void **state)
{
    (void)state;
    json_t *o = a1111_parse_pairs("Steps: 20, Sampler: DPM++ 2M Karras, Lora hashes: \"a: 1, b: 2\", "
                                  "Hires upscaler: 4x-UltraSharp, Template: \"x\\\"y\", Size: 512x768");
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "Steps")), "20");
    assert_string_equal(json_string_value(json_object_get(o, "Sampler")), "DPM++ 2M Karras");
    assert_string_equal(json_string_value(json_object_get(o, "Lora hashes")), "a: 1, b: 2");
    assert_string_equal(json_string_value(json_object_get(o, "Hires upscaler")), "4x-UltraSharp");
    assert_string_equal(json_string_value(json_object_get(o, "Template")), "x\"y");
    assert_string_equal(json_string_value(json_object_get(o, "Size")), "512x768");
    json_decref(o);
    assert_null(a1111_parse_pairs("just a prompt, with commas"));
    /* an unterminated quote does not run away */
    o = a1111_parse_pairs("Steps: \"20, Seed: 1");
    assert_non_null(o);
    json_decref(o);
}

/* Issue 14 defects 3 and 4: JSON values run to their balanced close and
 * are written back whole; setting keys match in any case and spacing. */
static void test_a1111_json_values_and_key_spelling(void **state)
{
    (void)state;
    const char *civitai = "[{\"type\":\"checkpoint\",\"modelVersionId\":1},{\"type\":\"lora\",\"weight\":0.8}]";
    char line[512];
    snprintf(line, sizeof line, "Steps: 30, Civitai resources: %s, CFG Scale: 6.5, Seed: 7, Extra: {\"a\": [1, \"x,}\"]}", civitai);
    json_t *o = a1111_parse_pairs(line);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "Civitai resources")), civitai);
    assert_string_equal(json_string_value(json_object_get(o, "Extra")), "{\"a\": [1, \"x,}\"]}");
    assert_string_equal(json_string_value(json_object_get(o, "Seed")), "7");
    json_decref(o);
    /* an unbalanced value falls back to the comma rule */
    o = a1111_parse_pairs("Steps: 30, Broken: [1, 2, Seed: 3");
    assert_string_equal(json_string_value(json_object_get(o, "Broken")), "[1");
    json_decref(o);

    char text[1024];
    snprintf(text, sizeof text, "a cat\nNegative prompt: dog\n%s", line);
    import_result r;
    import_result_init(&r);
    assert_int_equal(import_a1111(text, &r), 1);
    json_t *gs = json_object_get(r.model_info, "generation_settings");
    assert_true(json_real_value(json_object_get(gs, "cfg_scale")) == 6.5); /* "CFG Scale" */
    json_t *doc = json_pack("{s:{s:O,s:{s:O}}}", "raiiaf_metadata", "model_info", r.model_info, "extensions",
                            "org.raiiaf.import", r.ext);
    char *back = export_parameters_text(doc);
    assert_non_null(back);
    char want[512];
    snprintf(want, sizeof want, "Civitai resources: %s", civitai);
    assert_non_null(strstr(back, want)); /* whole, bare, as A1111 wrote it */
    import_result r2;
    import_result_init(&r2);
    assert_int_equal(import_a1111(back, &r2), 1);
    assert_true(json_equal(r.model_info, r2.model_info));
    import_result_free(&r2);
    free(back);
    json_decref(doc);
    import_result_free(&r);
}

/* Issue 17 item 3: many zTXt chunks that each inflate to a lot of text.
 * The image's decoded text is bounded in all (META_MAX_TEXT_TOTAL): what
 * fits is read, the rest is skipped without being inflated, and a note
 * says so. */
static void test_text_budget(void **state)
{
    (void)state;
    const size_t one = (size_t)2 << 20, nchunks = 12;
    unsigned char *plain = malloc(one);
    assert_non_null(plain);
    memset(plain, 'a', one);
    uLongf zl = compressBound((uLong)one);
    unsigned char *z = malloc(zl);
    assert_int_equal(compress2(z, &zl, plain, (uLong)one, 9), Z_OK);
    free(plain);
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    size_t cap = 8 + nchunks * (12 + 8 + zl) + 12, n = 0;
    unsigned char *png = malloc(cap);
    memcpy(png, sig, 8);
    n = 8;
    for (size_t i = 0; i < nchunks; i++) {
        uint32_t len = (uint32_t)(7 + zl); /* keyword, NUL, method, stream */
        unsigned char *c = png + n;
        c[0] = (unsigned char)(len >> 24), c[1] = (unsigned char)(len >> 16), c[2] = (unsigned char)(len >> 8), c[3] = (unsigned char)len;
        memcpy(c + 4, "zTXt", 4);
        snprintf((char *)c + 8, 6, "bmb%02zu", i); /* 5-byte keyword + NUL */
        c[14] = 0;                                /* compression method */
        memcpy(c + 15, z, zl);
        uLong crc = crc32(0L, c + 4, (uInt)(4 + len));
        unsigned char *t = c + 8 + len;
        t[0] = (unsigned char)(crc >> 24), t[1] = (unsigned char)(crc >> 16), t[2] = (unsigned char)(crc >> 8), t[3] = (unsigned char)crc;
        n += 12 + len;
    }
    memcpy(png + n, "\0\0\0\0IEND\xae\x42\x60\x82", 12);
    n += 12;
    free(z);
    meta_list l;
    char err[256];
    assert_int_equal(meta_collect(png, n, &l, err, sizeof err), RAIIAF_OK);
    assert_int_equal(l.count, META_MAX_TEXT_TOTAL / one);
    assert_int_equal(l.over_budget, nchunks - META_MAX_TEXT_TOTAL / one);
    assert_true(l.inflated <= META_MAX_TEXT_TOTAL);
    char want[128];
    snprintf(want, sizeof want, "skipped: the image's text would decompress to more than %zu MiB", META_MAX_TEXT_TOTAL >> 20);
    assert_non_null(strstr(err, want));
    meta_list_free(&l);
    free(png);
}

static void test_a1111_grammar(void **state)
{
    (void)state;
    import_result r;
    import_result_init(&r);
    assert_int_equal(import_a1111("  a cat <lora:fluffy:0.6> <lora:bad>\n  on a sofa\nNegative prompt: dog,\n blurry\n"
                                  "Steps: 30, Sampler: Euler a, CFG scale: 6.5, Seed: 42, Size: 640x512, Model hash: "
                                  "ABCDEF0123, Model: sd_xl_base_1.0, Clip skip: 2, Denoising strength: 0.35, "
                                  "Hires steps: 10, VAE: sdxl_vae.safetensors, Lora hashes: \"fluffy: 1234abcd\", "
                                  "Custom thing: 7, Version: v1.9.0\n",
                                  &r),
                     1);
    /* verbatim: A1111 writes the prompts as typed, so only the separators go */
    assert_string_equal(mi_str(&r, "prompt"), "  a cat <lora:fluffy:0.6> <lora:bad>\n  on a sofa");
    assert_string_equal(mi_str(&r, "negative_prompt"), "dog,\n blurry");
    assert_string_equal(mi_str(&r, "model_name"), "sd_xl_base_1.0");
    assert_string_equal(mi_str(&r, "model_hash"), "autov2:abcdef0123");
    assert_int_equal(json_integer_value(gs_get(&r, "steps")), 30);
    assert_int_equal(json_integer_value(gs_get(&r, "seed")), 42);
    assert_int_equal(json_integer_value(gs_get(&r, "width")), 640);
    assert_int_equal(json_integer_value(gs_get(&r, "height")), 512);
    assert_int_equal(json_integer_value(gs_get(&r, "clip_skip")), 2);
    assert_true(json_real_value(gs_get(&r, "cfg_scale")) == 6.5);
    assert_true(json_real_value(gs_get(&r, "denoising_strength")) == 0.35);
    assert_string_equal(gs_str(&r, "sampler"), "Euler a");
    json_t *ad = json_object_get(r.model_info, "adapters");
    assert_int_equal(json_array_size(ad), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ad, 0), "name")), "fluffy");
    assert_true(json_real_value(json_object_get(json_array_get(ad, 0), "weight")) == 0.6);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ad, 0), "hash")), "1234abcd");
    assert_true(json_real_value(json_object_get(json_array_get(ad, 1), "weight")) == 1.0);
    assert_string_equal(json_string_value(json_object_get(r.ext, "vae")), "sdxl_vae.safetensors");
    assert_string_equal(json_string_value(json_object_get(json_object_get(r.ext, "hires"), "Hires steps")), "10");
    assert_string_equal(json_string_value(json_object_get(json_object_get(r.ext, "unmapped"), "Custom thing")), "7");
    assert_string_equal(json_string_value(json_object_get(r.ext, "tool_version")), "v1.9.0");
    assert_string_equal(r.tool, "AUTOMATIC1111");

    /* export gives the text back; importing that gives the same record */
    json_t *doc = json_pack("{s:{s:O,s:{s:O}}}", "raiiaf_metadata", "model_info", r.model_info, "extensions",
                            "org.raiiaf.import", r.ext);
    char *text = export_parameters_text(doc);
    assert_non_null(text);
    assert_non_null(strstr(text, "\nSteps: 30, Sampler: Euler a, CFG scale: 6.5, Seed: 42, Size: 640x512, "
                                 "Model hash: abcdef0123, Model: sd_xl_base_1.0"));
    import_result r2;
    import_result_init(&r2);
    assert_int_equal(import_a1111(text, &r2), 1);
    assert_true(json_equal(r.model_info, r2.model_info));
    assert_true(json_equal(r.ext, r2.ext));
    free(text);
    json_decref(doc);
    import_result_free(&r2);
    import_result_free(&r);

    /* not the grammar: nothing set */
    import_result_init(&r);
    assert_int_equal(import_a1111("a prompt\nwith: one pair", &r), 0);
    assert_int_equal(json_object_size(r.model_info), 0);
    import_result_free(&r);

    /* out-of-range values go to the extension with a note */
    import_result_init(&r);
    assert_int_equal(import_a1111("p\nSteps: 0, Seed: -1, CFG scale: -2, Denoising strength: 1.5", &r), 1);
    assert_null(gs_get(&r, "steps"));
    assert_null(gs_get(&r, "seed"));
    assert_null(gs_get(&r, "cfg_scale"));
    assert_null(gs_get(&r, "denoising_strength"));
    assert_int_equal(json_array_size(json_object_get(r.ext, "notes")), 4);
    import_result_free(&r);
}

static void test_comfy_graph(void **state)
{
    (void)state;
    /* KSampler <- LoraLoader <- LoraLoader <- CheckpointLoaderSimple, the
     * seed from a primitive node, the positive text through a combiner. */
    const char *g =
        "{\"1\": {\"class_type\": \"CheckpointLoaderSimple\", \"inputs\": {\"ckpt_name\": \"sub/model.safetensors\"}},"
        " \"2\": {\"class_type\": \"LoraLoader\", \"inputs\": {\"model\": [\"1\", 0], \"clip\": [\"1\", 1],"
        "        \"lora_name\": \"a.safetensors\", \"strength_model\": 0.8, \"strength_clip\": 1}},"
        " \"3\": {\"class_type\": \"LoraLoader\", \"inputs\": {\"model\": [\"2\", 0], \"clip\": [\"2\", 1],"
        "        \"lora_name\": \"b.safetensors\", \"strength_model\": 0.5, \"strength_clip\": 1}},"
        " \"4\": {\"class_type\": \"CLIPSetLastLayer\", \"inputs\": {\"clip\": [\"3\", 1], \"stop_at_clip_layer\": -3}},"
        " \"5\": {\"class_type\": \"CLIPTextEncode\", \"inputs\": {\"clip\": [\"4\", 0], \"text\": \"pos text\"}},"
        " \"6\": {\"class_type\": \"CLIPTextEncode\", \"inputs\": {\"clip\": [\"4\", 0], \"text\": [\"9\", 0]}},"
        " \"7\": {\"class_type\": \"ConditioningCombine\", \"inputs\": {\"conditioning_1\": [\"5\", 0], \"conditioning_2\": [\"5\", 0]}},"
        " \"8\": {\"class_type\": \"PrimitiveNode\", \"inputs\": {\"value\": 77}},"
        " \"9\": {\"class_type\": \"String Literal\", \"inputs\": {\"string\": \"neg text\"}},"
        " \"10\": {\"class_type\": \"EmptyLatentImage\", \"inputs\": {\"width\": 832, \"height\": 1216, \"batch_size\": 1}},"
        " \"11\": {\"class_type\": \"KSampler\", \"inputs\": {\"model\": [\"3\", 0], \"positive\": [\"7\", 0],"
        "        \"negative\": [\"6\", 0], \"latent_image\": [\"10\", 0], \"seed\": [\"8\", 0], \"steps\": 25, \"cfg\": 4.5,"
        "        \"sampler_name\": \"dpmpp_2m\", \"scheduler\": \"karras\", \"denoise\": 1.0}},"
        " \"12\": {\"class_type\": \"KSampler\", \"inputs\": {\"model\": [\"3\", 0], \"positive\": [\"7\", 0],"
        "        \"negative\": [\"6\", 0], \"latent_image\": [\"11\", 0], \"seed\": 5, \"steps\": 10, \"cfg\": 4.5,"
        "        \"sampler_name\": \"euler\", \"scheduler\": \"normal\", \"denoise\": 0.4}},"
        " \"13\": {\"class_type\": \"Loop\", \"inputs\": {\"model\": [\"13\", 0]}}}";
    json_t *j = json_loads(g, 0, NULL);
    assert_non_null(j);
    import_result r;
    import_result_init(&r);
    assert_int_equal(import_comfy(j, &r), 1);
    assert_string_equal(mi_str(&r, "prompt"), "pos text");
    assert_string_equal(mi_str(&r, "negative_prompt"), "neg text");
    assert_string_equal(mi_str(&r, "model_name"), "sub/model");
    assert_int_equal(json_integer_value(gs_get(&r, "seed")), 77);
    assert_int_equal(json_integer_value(gs_get(&r, "steps")), 25);
    assert_int_equal(json_integer_value(gs_get(&r, "clip_skip")), 3);
    assert_int_equal(json_integer_value(gs_get(&r, "width")), 832);
    assert_string_equal(gs_str(&r, "sampler"), "dpmpp_2m");
    assert_null(gs_get(&r, "denoising_strength")); /* 1.0: a full generation */
    json_t *ad = json_object_get(r.model_info, "adapters");
    assert_int_equal(json_array_size(ad), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ad, 0), "name")), "b");
    assert_true(json_real_value(json_object_get(json_array_get(ad, 0), "weight")) == 0.5);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ad, 1), "name")), "a");
    import_result_free(&r);
    /* a cycle in the model chain terminates */
    json_object_set_new(json_object_get(json_object_get(j, "11"), "inputs"), "model", json_pack("[s,i]", "13", 0));
    import_result_init(&r);
    assert_int_equal(import_comfy(j, &r), 1);
    import_result_free(&r);
    json_decref(j);
}

static void test_usercomment_decode(void **state)
{
    (void)state;
    size_t n;
    const char *enc;
    /* big-endian UTF-16 as the TIFF order says */
    static const unsigned char be[] = {'U', 'N', 'I', 'C', 'O', 'D', 'E', 0, 0, 'h', 0, 'i', 0x30, 0xc6};
    char *t = exif_usercomment_decode(be, sizeof be, 1, &n, &enc);
    assert_string_equal(t, "hi\xe3\x83\x86");
    assert_string_equal(enc, "utf-16be");
    free(t);
    /* the same bytes in an "II" file: the writer used the other order; detected */
    t = exif_usercomment_decode(be, sizeof be, 0, &n, &enc);
    assert_string_equal(t, "hi\xe3\x83\x86");
    assert_string_equal(enc, "utf-16be");
    free(t);
    static const unsigned char le[] = {'U', 'N', 'I', 'C', 'O', 'D', 'E', 0, 'o', 0, 'k', 0, 0x3d, 0xd8, 0x00, 0xde, 0, 0};
    t = exif_usercomment_decode(le, sizeof le, 1, &n, &enc);
    assert_string_equal(t, "ok\xf0\x9f\x98\x80");
    assert_string_equal(enc, "utf-16le");
    free(t);
    static const unsigned char as[] = {'A', 'S', 'C', 'I', 'I', 0, 0, 0, 'a', 'b', 0};
    t = exif_usercomment_decode(as, sizeof as, 0, &n, &enc);
    assert_string_equal(t, "ab");
    assert_string_equal(enc, "ascii");
    free(t);
    static const unsigned char odd[] = {'U', 'N', 'I', 'C', 'O', 'D', 'E', 0, 0x00, 0xd8, 'x'}; /* lone surrogate, odd byte */
    t = exif_usercomment_decode(odd, sizeof odd, 0, &n, &enc);
    assert_string_equal(t, "\xef\xbf\xbd");
    free(t);
}

static void test_exif_build_and_parse(void **state)
{
    (void)state;
    const char *text = "prompt \xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88\nSteps: 5, Sampler: x, Seed: 1";
    size_t n;
    unsigned char *tiff = exif_build_usercomment(text, "{\"raiiaf_metadata\": {}}", &n);
    assert_non_null(tiff);
    meta_list l = {0};
    char err[128];
    assert_int_equal(exif_collect(tiff, n, &l, err, sizeof err), 0);
    const meta_text *uc = meta_find(&l, "UserComment");
    assert_non_null(uc);
    assert_string_equal(uc->text, text);
    assert_string_equal(uc->encoding, "utf-16be");
    /* big-endian block, UTF-16BE text: what piexif (A1111) reads whatever
     * the byte order, and what exiftool reads in the block's order */
    assert_memory_equal(tiff, "MM\0*", 4);
    const meta_text *own = meta_find(&l, "raiiaf");
    assert_non_null(own);
    assert_string_equal(own->text, "{\"raiiaf_metadata\": {}}");
    meta_list_free(&l);
    /* every truncation is refused or parsed, never read past the end */
    for (size_t k = 0; k < n; k++) {
        unsigned char *c = malloc(k ? k : 1);
        memcpy(c, tiff, k);
        meta_list m = {0};
        exif_collect(c, k, &m, err, sizeof err);
        meta_list_free(&m);
        free(c);
    }
    free(tiff);
}

static void test_collect_fixtures(void **state)
{
    (void)state;
    static const struct {
        const char *file, *keyword, *type, *start;
    } cases[] = {
        {"sd-webui.png", "parameters", "iTXt", "general, masterpiece"},
        {"comfyui.png", "workflow", "tEXt", "{\"id\": "},
        {"novelai-full.png", "Software", "tEXt", "NovelAI"},
        {"sd-webui.jpg", "UserComment", "exif-usercomment", "general, masterpiece"},
        {"sd-webui.webp", "UserComment", "exif-usercomment", "general, masterpiece"},
        {"comfyui-saveimage-plus.webp", "UserComment", "exif-usercomment", "{\"prompt\": {"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t size;
        unsigned char *d = tu_read_data(cases[i].file, &size);
        meta_list l;
        char err[256];
        assert_int_equal(meta_collect(d, size, &l, err, sizeof err), 0);
        const meta_text *t = meta_find(&l, cases[i].keyword);
        assert_non_null(t);
        assert_string_equal(t->type, cases[i].type);
        assert_memory_equal(t->text, cases[i].start, strlen(cases[i].start));
        import_result r;
        import_result_init(&r);
        assert_int_equal(import_detect(&l, &r), 1);
        import_result_free(&r);
        meta_list_free(&l);
        free(d);
    }
}

static void test_safetensors_roundtrip(void **state)
{
    (void)state;
    float v[6] = {1, 2, 3, 4, 5, 6};
    uint64_t shape[2] = {2, 3};
    json_t *md = json_pack("{s:s}", "k", "v");
    unsigned char *b;
    size_t n;
    assert_int_equal(st_build("lat", RAIIAF_F32, 2, shape, v, sizeof v, md, &b, &n), 0);
    json_decref(md);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | b[i];
    assert_int_equal(hl % 8, 0);
    assert_int_equal(n, 8 + hl + sizeof v);
    raiiaf_array a;
    char err[256];
    assert_int_equal(raiiaf_safetensors_parse(b, n, NULL, &a, err, sizeof err), 0);
    assert_int_equal(a.dtype, RAIIAF_F32);
    assert_int_equal(a.rank, 2);
    assert_int_equal(a.shape[1], 3);
    assert_memory_equal(a.data, v, sizeof v);
    assert_int_equal(raiiaf_safetensors_parse(b, n, "lat", &a, err, sizeof err), 0);
    assert_int_equal(raiiaf_safetensors_parse(b, n, "other", &a, err, sizeof err), RAIIAF_E_NOT_FOUND);
    /* every truncation is refused cleanly */
    for (size_t k = 0; k < n; k++) assert_int_not_equal(raiiaf_safetensors_parse(b, k, NULL, &a, err, sizeof err), 0);
    free(b);
    assert_int_equal(st_build("__metadata__", RAIIAF_F32, 2, shape, v, sizeof v, NULL, &b, &n), RAIIAF_E_ARG);
    for (int d = RAIIAF_F16; d <= RAIIAF_BOOL; d++) assert_non_null(st_dtype_name((raiiaf_dtype)d));
}

static void test_safetensors_hostile(void **state)
{
    (void)state;
    static const char *const headers[] = {
        "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 9]}}",
        "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 2]}}",
        "{\"a\": {\"dtype\": \"F32\", \"shape\": [-2], \"data_offsets\": [0, 8]}}",
        "{\"a\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 4294967296], \"data_offsets\": [0, 8]}}",
        "{\"a\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1,1,1,1,1], \"data_offsets\": [0, 4]}}",
        "{\"a\": {\"dtype\": \"f32\", \"shape\": [2], \"data_offsets\": [0, 8]}}",
        "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, \"a\": {}}",
        "{\"__metadata__\": {\"k\": 1}, \"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}",
        "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, \"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
        "{}",
    };
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        size_t hl = strlen(headers[i]);
        unsigned char buf[512] = {0};
        for (int k = 0; k < 8; k++) buf[k] = (unsigned char)((uint64_t)hl >> (8 * k));
        memcpy(buf + 8, headers[i], hl);
        raiiaf_array a;
        char err[256];
        int rc = raiiaf_safetensors_parse(buf, 8 + hl + 8, NULL, &a, err, sizeof err);
        assert_int_not_equal(rc, 0);
        assert_non_null(memchr(err, '\0', sizeof err));
    }
}

static void test_chunks_json_binary(void **state)
{
    (void)state;
    meta_list l = {0};
    l.items = calloc(1, sizeof *l.items);
    l.count = 1;
    snprintf(l.items[0].keyword, sizeof l.items[0].keyword, "k");
    snprintf(l.items[0].type, sizeof l.items[0].type, "zTXt");
    l.items[0].text = malloc(3);
    memcpy(l.items[0].text, "a\0b", 3);
    l.items[0].len = 3;
    l.items[0].encoding = "utf-8";
    json_t *a = import_chunks_json(&l);
    assert_string_equal(json_string_value(json_object_get(json_array_get(a, 0), "text_base64")), "YQBi");
    assert_null(json_object_get(json_array_get(a, 0), "text"));
    json_decref(a);
    meta_list_free(&l);
}


/* A meta_list built by hand: (keyword, type, text) records. */
static void push_text(meta_list *l, const char *keyword, const char *type, const char *text)
{
    l->items = realloc(l->items, (l->count + 1) * sizeof *l->items);
    assert_non_null(l->items);
    meta_text *t = &l->items[l->count++];
    memset(t, 0, sizeof *t);
    snprintf(t->keyword, sizeof t->keyword, "%s", keyword);
    snprintf(t->type, sizeof t->type, "%s", type);
    t->text = strdup(text);
    t->len = strlen(text);
    t->encoding = "utf-8";
}

/* Issue 14 defect 5: a saver's placeholder text beside the graph that ran:
 * the graph wins, the placeholders fill nothing, the text is named. */
static void test_richer_record_wins(void **state)
{
    (void)state;
    meta_list l = {0};
    push_text(&l, "parameters", "tEXt",
              "unknown\nNegative prompt: unknown\nSteps: 20, Sampler: euler, CFG scale: 7.0, Seed: 0, Size: 512x512, "
              "Model hash: unknown, Model: unknown, Version: ComfyUI");
    push_text(&l, "prompt", "tEXt",
              "{\"4\": {\"class_type\": \"CheckpointLoaderSimple\", \"inputs\": {\"ckpt_name\": \"m.safetensors\"}},"
              " \"6\": {\"class_type\": \"CLIPTextEncode\", \"inputs\": {\"text\": \"a fox\", \"clip\": [\"4\", 1]}},"
              " \"5\": {\"class_type\": \"EmptyLatentImage\", \"inputs\": {\"width\": 512, \"height\": 768}},"
              " \"3\": {\"class_type\": \"KSampler\", \"inputs\": {\"seed\": 99, \"steps\": 28, \"cfg\": 6.5,"
              " \"sampler_name\": \"euler_ancestral\", \"scheduler\": \"karras\", \"model\": [\"4\", 0],"
              " \"positive\": [\"6\", 0], \"latent_image\": [\"5\", 0]}}}");
    import_result r;
    import_result_init(&r);
    assert_int_equal(import_detect(&l, &r), 1);
    assert_string_equal(r.tool, "ComfyUI");
    assert_string_equal(mi_str(&r, "prompt"), "a fox");
    assert_null(json_object_get(r.model_info, "negative_prompt")); /* not "unknown" */
    assert_null(json_object_get(r.model_info, "model_hash"));
    assert_string_equal(mi_str(&r, "model_name"), "m");
    assert_int_equal(json_integer_value(gs_get(&r, "seed")), 99);
    assert_int_equal(json_integer_value(gs_get(&r, "height")), 768);
    assert_string_equal(json_string_value(json_object_get(r.ext, "record")), "prompt");
    json_t *o = json_array_get(json_object_get(r.ext, "other_records"), 0);
    assert_string_equal(json_string_value(json_object_get(o, "record")), "parameters");
    assert_null(json_object_get(r.ext, "filled_from")); /* it disagrees (seed 0): nothing taken from it */
    import_result_free(&r);
    meta_list_free(&l);
}

/* Issue 14: the exact A1111-family tool, and its family. */
static void test_a1111_tool_names(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"Version: v1.10.1", "AUTOMATIC1111"},
        {"Version: f2.0.1v1.10.1-previous-669-gdfdcbab6", "Forge"},
        {"Version: f1.7.0-v1.10.1RC-latest-2173-g0b6ba9a7", "reForge"},
        {"Version: neo", "Forge Neo"},
        {"Version: classic", "Forge Classic"},
        {"App: SD.Next, Version: 6a51c04", "SD.Next"},
        {"Version: Fooocus v2.5.5", "Fooocus"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "p\nSteps: 20, Sampler: Euler, Seed: 1, %s", cases[i][0]);
        import_result r;
        import_result_init(&r);
        assert_int_equal(import_a1111(text, &r), 1);
        assert_string_equal(r.tool, cases[i][1]);
        import_result_free(&r);
    }
    assert_string_equal(import_family("reForge"), "AUTOMATIC1111");
    assert_string_equal(import_family("TensorArt"), "ComfyUI");
    assert_string_equal(import_family("RuinedFooocus"), "Fooocus");
    assert_string_equal(import_family("Something New"), "Something New");
    assert_null(import_family(NULL));
}

/* Issue 14 defect 6: what export writes reads back the same from the text
 * alone: whitespace at the prompts' ends, the full SHA-256, LoRA weights
 * from a loader, a seed above 2^53. */
static void test_export_text_reads_back(void **state)
{
    (void)state;
    json_t *m = json_loads("{\"raiiaf_metadata\": {\"model_info\": {\"prompt\": \" a cat \\n\","
                           " \"negative_prompt\": \"dog, \", \"model_name\": \"m\", \"model_hash\": \"sha256:"
                           "aeb7e9e6897a1e58b10494bd989d001e3d4bc9b634633cd7b559838f612c2867\","
                           " \"adapters\": [{\"name\": \"fox_style.v2\", \"type\": \"lora\", \"weight\": 0.8}],"
                           " \"generation_settings\": {\"seed\": 6952411511246973023, \"steps\": 30}}}}",
                           0, NULL);
    assert_non_null(m);
    char *text = export_parameters_text(m);
    assert_non_null(text);
    import_result r;
    import_result_init(&r);
    assert_int_equal(import_a1111(text, &r), 1);
    json_t *want = json_object_get(json_object_get(m, "raiiaf_metadata"), "model_info");
    assert_string_equal(mi_str(&r, "prompt"), " a cat \n");
    assert_string_equal(mi_str(&r, "negative_prompt"), "dog, ");
    assert_true(json_equal(json_object_get(r.model_info, "model_hash"), json_object_get(want, "model_hash")));
    assert_true(json_equal(json_object_get(r.model_info, "adapters"), json_object_get(want, "adapters")));
    assert_int_equal(json_integer_value(gs_get(&r, "seed")), 6952411511246973023LL);
    import_result_free(&r);
    free(text);
    json_decref(m);
}

/* Hostile graphs terminate: a 2000-node chain of size links, a workflow
 * whose subgraph instances itself. */
static void test_comfy_hostile(void **state)
{
    (void)state;
    json_t *g = json_object();
    for (int i = 0; i < 2000; i++) {
        char id[16], next[16];
        snprintf(id, sizeof id, "%d", i);
        snprintf(next, sizeof next, "%d", i + 1);
        json_object_set_new(g, id, json_pack("{s:s,s:{s:[si],s:[si],s:[si],s:f}}", "class_type", "Resize", "inputs",
                                             "width", next, 0, "height", next, 1, "samples", next, 0, "scale_by", 1.5));
    }
    json_object_set_new(g, "s", json_pack("{s:s,s:{s:i,s:i,s:[si],s:[si]}}", "class_type", "KSampler", "inputs", "seed",
                                          1, "steps", 2, "positive", "s", 0, "latent_image", "0", 0));
    import_result r;
    import_result_init(&r);
    assert_int_equal(import_comfy(g, &r), 1);
    import_result_free(&r);
    json_decref(g);

    /* every node links every conditioning input to the next: a walk trying
     * each in turn would take 6^24 steps */
    g = json_object();
    for (int i = 0; i < 200; i++) {
        char id[16], next[16];
        snprintf(id, sizeof id, "%d", i);
        snprintf(next, sizeof next, "%d", i + 1);
        json_object_set_new(g, id, json_pack("{s:s,s:{s:[si],s:[si],s:[si],s:[si],s:[si],s:[si]}}", "class_type", "Mix",
                                             "inputs", "conditioning", next, 0, "conditioning_to", next, 0,
                                             "conditioning_1", next, 0, "conditioning_from", next, 0, "positive", next,
                                             0, "negative", next, 0));
    }
    json_object_set_new(g, "s", json_pack("{s:s,s:{s:i,s:i,s:[si],s:[si]}}", "class_type", "KSampler", "inputs", "seed",
                                          1, "steps", 2, "positive", "0", 0, "negative", "0", 0));
    import_result_init(&r);
    assert_int_equal(import_comfy(g, &r), 1);
    import_result_free(&r);
    json_decref(g);

    json_t *wf = json_loads("{\"nodes\": [{\"id\": 1, \"type\": \"S\"}], \"links\": [],"
                            " \"definitions\": {\"subgraphs\": [{\"id\": \"S\", \"nodes\": [{\"id\": 1, \"type\": \"S\"},"
                            " {\"id\": 2, \"type\": \"S\"}, {\"id\": 3, \"type\": \"KSampler\", \"inputs\": [{\"name\":"
                            " \"positive\", \"link\": 9}], \"widgets_values\": [1, \"fixed\", 2]}],"
                            " \"links\": [{\"id\": 9, \"origin_id\": -10, \"origin_slot\": 0, \"target_id\": 3,"
                            " \"target_slot\": 0}]}]}}",
                            0, NULL);
    assert_non_null(wf);
    json_t *api = comfy_workflow_to_api(wf);
    assert_non_null(api); /* bounded: at most the node budget */
    assert_true(json_object_size(api) <= 4096);
    json_decref(api);
    json_decref(wf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a1111_pairs),
        cmocka_unit_test(test_a1111_grammar),
        cmocka_unit_test(test_richer_record_wins),
        cmocka_unit_test(test_a1111_tool_names),
        cmocka_unit_test(test_export_text_reads_back),
        cmocka_unit_test(test_comfy_hostile),
        cmocka_unit_test(test_text_budget),
        cmocka_unit_test(test_a1111_json_values_and_key_spelling),
        cmocka_unit_test(test_comfy_graph),
        cmocka_unit_test(test_usercomment_decode),
        cmocka_unit_test(test_exif_build_and_parse),
        cmocka_unit_test(test_collect_fixtures),
        cmocka_unit_test(test_safetensors_roundtrip),
        cmocka_unit_test(test_safetensors_hostile),
        cmocka_unit_test(test_chunks_json_binary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
