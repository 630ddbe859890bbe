/* test_interop_api.c -- the public interop API (raiiaf.h "Interop"
 * sections) used as a program would: import from memory and from a path,
 * into a writer, export back and import again; tensors through .npy and
 * .safetensors; conversion between formats with its notes; every failure
 * path gives its status and a message that names what is wrong. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "raiiaf.h"

#include <jansson.h>

static json_t *metadata_of(raiiaf_import *imp)
{
    size_t n;
    const char *t = raiiaf_import_metadata(imp, &n);
    assert_non_null(t);
    assert_int_equal(strlen(t), n);
    json_t *j = json_loads(t, 0, NULL);
    assert_non_null(j);
    return j;
}

static json_t *gen_settings(json_t *doc)
{
    return json_object_get(json_object_get(json_object_get(doc, "raiiaf_metadata"), "model_info"), "generation_settings");
}

/* Imports sd-webui.png into a new file at `path` with a tag. */
static void import_to(const char *path)
{
    size_t n;
    unsigned char *png = tu_read_data("sd-webui.png", &n);
    raiiaf_import *imp = NULL;
    assert_int_equal(raiiaf_import_image(png, n, &imp), RAIIAF_OK);
    free(png); /* the import keeps its own copy */
    assert_int_equal(raiiaf_import_add_tag(imp, "imported"), RAIIAF_OK);
    raiiaf_writer *w = NULL;
    assert_int_equal(raiiaf_writer_new(path, &w), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_set_env(w, RAIIAF_ENV_NONE), RAIIAF_OK);
    assert_int_equal(raiiaf_import_to_writer(imp, w), RAIIAF_OK);
    const float lat[4] = {1.0f, -2.5f, 0.25f, 8.0f};
    const uint64_t shape[2] = {2, 2};
    assert_int_equal(raiiaf_writer_add_tensor(w, "latent", RAIIAF_F32, 2, shape, lat, sizeof lat, RAIIAF_CODEC_AUTO, 0), 0);
    if (raiiaf_writer_finish(w)) fail_msg("finish: %s", raiiaf_writer_errmsg(w));
    raiiaf_writer_free(w);
    raiiaf_import_free(imp);
}

static void test_import_a1111(void **state)
{
    (void)state;
    raiiaf_import *imp = NULL;
    assert_int_equal(raiiaf_import_image_file(RAIIAF_TEST_DATA "/sd-webui.png", &imp), RAIIAF_OK);
    assert_string_equal(raiiaf_import_tool(imp), "AUTOMATIC1111");
    assert_string_equal(raiiaf_import_format(imp), "png");
    assert_true(raiiaf_import_record_count(imp) >= 1);
    assert_true(raiiaf_import_field_count(imp) >= 8);
    json_t *doc = metadata_of(imp);
    json_t *gs = gen_settings(doc);
    assert_int_equal(json_integer_value(json_object_get(gs, "seed")), 3782896554LL);
    assert_string_equal(json_string_value(json_object_get(gs, "sampler")), "DPM++ 2M");
    /* every text record is kept verbatim */
    json_t *ext = json_object_get(json_object_get(json_object_get(doc, "raiiaf_metadata"), "extensions"), "org.raiiaf.import");
    assert_true(json_array_size(json_object_get(ext, "chunks")) >= 1);
    json_decref(doc);
    assert_null(raiiaf_import_note(imp, raiiaf_import_note_count(imp)));
    raiiaf_import_free(imp);
}

static void test_import_failures(void **state)
{
    (void)state;
    raiiaf_import *imp = NULL;
    assert_int_equal(raiiaf_import_image("GIF89a....", 10, &imp), RAIIAF_E_IMAGE);
    assert_non_null(imp);
    assert_non_null(strstr(raiiaf_import_errmsg(imp), "not a PNG, JPEG or WebP"));
    /* a failed import cannot be written or tagged */
    assert_int_equal(raiiaf_import_add_tag(imp, "x"), RAIIAF_E_STATE);
    raiiaf_import_free(imp);

    imp = NULL;
    assert_int_equal(raiiaf_import_image_file("/nonexistent/x.png", &imp), RAIIAF_E_IO);
    assert_non_null(strstr(raiiaf_import_errmsg(imp), "/nonexistent/x.png"));
    raiiaf_import_free(imp);

    /* a truncated PNG: the container is damaged, named as such */
    size_t n;
    unsigned char *png = tu_read_data("sd-webui.png", &n);
    imp = NULL;
    int rc = raiiaf_import_image(png, 40, &imp);
    assert_true(rc == RAIIAF_E_IMAGE || rc == RAIIAF_E_CORRUPT || rc == RAIIAF_E_TRUNCATED);
    assert_true(strlen(raiiaf_import_errmsg(imp)) > 0);
    raiiaf_import_free(imp);
    free(png);

    /* an image without any record imports, with a note saying so */
    imp = NULL;
    assert_int_equal(raiiaf_import_image_file(RAIIAF_TEST_DATA "/empty.png", &imp), RAIIAF_OK);
    assert_null(raiiaf_import_tool(imp));
    assert_true(raiiaf_import_note_count(imp) >= 1);
    assert_non_null(strstr(raiiaf_import_note(imp, 0), "no generator metadata recognised"));
    raiiaf_import_free(imp);
    assert_int_equal(raiiaf_import_image(NULL, 0, NULL), RAIIAF_E_ARG);
    raiiaf_import_free(NULL);
}

/* import -> file -> export PNG -> import: the whole record comes back. */
static void test_export_roundtrip(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char *path = tu_path(dir, "a.raiiaf");
    import_to(path);
    raiiaf_reader *r = NULL;
    assert_int_equal(raiiaf_reader_open_file(path, 0, &r), RAIIAF_OK);

    char *params = NULL;
    char err[512];
    assert_int_equal(raiiaf_export_parameters(r, &params, err, sizeof err), RAIIAF_OK);
    assert_non_null(strstr(params, "Seed: 3782896554"));
    assert_non_null(strstr(params, "Sampler: DPM++ 2M"));
    raiiaf_free(params);

    unsigned char *png = NULL;
    size_t n = 0;
    unsigned flags = 99;
    assert_int_equal(raiiaf_export(r, NULL, &png, &n, &flags, err, sizeof err), RAIIAF_OK);
    assert_int_equal(flags, 0);
    assert_memory_equal(png, "\x89PNG", 4);
    raiiaf_import *imp = NULL;
    assert_int_equal(raiiaf_import_image(png, n, &imp), RAIIAF_OK);
    assert_string_equal(raiiaf_import_tool(imp), "raiiaf");
    json_t *doc = metadata_of(imp);
    json_t *orig = json_loads(raiiaf_reader_manifest(r, NULL), 0, NULL);
    json_t *mi_orig = json_object_get(json_object_get(orig, "raiiaf_metadata"), "model_info");
    json_t *mi_back = json_object_get(json_object_get(doc, "raiiaf_metadata"), "model_info");
    assert_true(json_equal(mi_orig, mi_back));
    json_decref(orig);
    json_decref(doc);
    raiiaf_import_free(imp);
    raiiaf_free(png);

    /* the stored image is a PNG: export never re-encodes */
    assert_int_equal(raiiaf_export(r, "jpeg", &png, &n, NULL, err, sizeof err), RAIIAF_E_ARG);
    assert_non_null(strstr(err, "the stored image is png"));
    char *bad = tu_path(dir, "out.gif");
    assert_int_equal(raiiaf_export_file(r, bad, NULL, NULL, err, sizeof err), RAIIAF_E_ARG);
    assert_non_null(strstr(err, "extension"));
    char *good = tu_path(dir, "out.png");
    assert_int_equal(raiiaf_export_file(r, good, NULL, NULL, err, sizeof err), RAIIAF_OK);
    size_t gn;
    unsigned char *g = tu_read_file(good, &gn);
    assert_memory_equal(g, "\x89PNG", 4);
    free(g);
    raiiaf_reader_free(r);
    free(bad);
    free(good);
    free(path);
    free(dir);
}

static void test_tensor_files(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char *path = tu_path(dir, "a.raiiaf");
    import_to(path);
    raiiaf_reader *r = NULL;
    assert_int_equal(raiiaf_reader_open_file(path, 0, &r), RAIIAF_OK);
    const uint16_t v[6] = {0x3f80, 0x4000, 0xbf80, 0, 1, 0x7f80};
    const uint64_t shape[2] = {2, 3};
    char err[512];
    char *st = tu_path(dir, "t.safetensors"), *npy = tu_path(dir, "t.npy");
    assert_int_equal(raiiaf_tensor_file_write(r, st, "lat", RAIIAF_BF16, 2, shape, v, sizeof v, err, sizeof err), 0);
    assert_int_equal(raiiaf_tensor_file_write(NULL, npy, "lat", RAIIAF_BF16, 2, shape, v, sizeof v, err, sizeof err), 0);
    raiiaf_array a = {0};
    assert_int_equal(raiiaf_tensor_file_read(st, &a, err, sizeof err), RAIIAF_OK);
    assert_int_equal(a.dtype, RAIIAF_BF16);
    assert_int_equal(a.rank, 2);
    assert_int_equal(a.shape[1], 3);
    assert_memory_equal(a.data, v, sizeof v);
    raiiaf_array_free(&a);
    assert_int_equal(raiiaf_tensor_file_read(npy, &a, err, sizeof err), RAIIAF_OK);
    assert_memory_equal(a.data, v, sizeof v);
    raiiaf_array_free(&a);

    /* the generation record travels in __metadata__ */
    size_t n;
    unsigned char *b = tu_read_file(st, &n);
    char *names = NULL;
    assert_int_equal(raiiaf_safetensors_names(b, n, &names, err, sizeof err), RAIIAF_OK);
    assert_string_equal(names, "[\"lat\"]");
    raiiaf_free(names);
    assert_non_null(memmem(b, n, "raiiaf.manifest", 15));
    assert_non_null(memmem(b, n, "3782896554", 10));
    free(b);

    /* a named tensor that is not there: the message lists what is */
    char *named = tu_path(dir, "t.safetensors:other");
    assert_int_equal(raiiaf_tensor_file_read(named, &a, err, sizeof err), RAIIAF_E_NOT_FOUND);
    assert_non_null(strstr(err, "no tensor named \"other\" (the file holds: lat)"));
    assert_int_equal(raiiaf_tensor_file_read("/nonexistent.npy", &a, err, sizeof err), RAIIAF_E_IO);
    assert_non_null(strstr(err, "/nonexistent.npy"));
    free(named);
    free(st);
    free(npy);
    raiiaf_reader_free(r);
    free(path);
    free(dir);
}

static void test_safetensors_build(void **state)
{
    (void)state;
    const float v[3] = {1, 2, 3};
    const uint64_t shape[1] = {3};
    unsigned char *b = NULL;
    size_t n = 0;
    char err[256];
    assert_int_equal(raiiaf_safetensors_build("x", RAIIAF_F32, 1, shape, v, sizeof v, "{\"k\": \"v\"}", &b, &n, err, sizeof err), 0);
    raiiaf_array a;
    assert_int_equal(raiiaf_safetensors_parse(b, n, "x", &a, err, sizeof err), RAIIAF_OK);
    assert_int_equal(a.size, sizeof v);
    assert_memory_equal(a.data, v, sizeof v);
    raiiaf_free(b);
    /* metadata must map strings to strings, sizes must match the shape */
    assert_int_equal(raiiaf_safetensors_build("x", RAIIAF_F32, 1, shape, v, sizeof v, "{\"k\": 1}", &b, &n, err, sizeof err),
                     RAIIAF_E_ARG);
    assert_non_null(strstr(err, "object of strings"));
    assert_int_equal(raiiaf_safetensors_build("x", RAIIAF_F32, 1, shape, v, sizeof v, "{", &b, &n, err, sizeof err),
                     RAIIAF_E_JSON);
    assert_int_equal(raiiaf_safetensors_build("x", RAIIAF_F32, 1, shape, v, 8, NULL, &b, &n, err, sizeof err), RAIIAF_E_ARG);
    assert_non_null(strstr(err, "8 bytes do not hold a float32 tensor"));
    assert_int_equal(raiiaf_safetensors_build("__metadata__", RAIIAF_F32, 1, shape, v, sizeof v, NULL, &b, &n, err, sizeof err),
                     RAIIAF_E_ARG);
    assert_non_null(strstr(err, "reserved"));
    char *names = NULL;
    assert_int_equal(raiiaf_safetensors_names("\x05\0\0\0\0\0\0\0[1,2]", 13, &names, err, sizeof err), RAIIAF_E_CORRUPT);
    assert_null(names);
    assert_non_null(strstr(err, "not a JSON object"));
}

struct notes {
    int count;
    char last[512];
};

static void collect(void *ctx, const char *note)
{
    struct notes *n = ctx;
    n->count++;
    snprintf(n->last, sizeof n->last, "%s", note);
}

static void test_convert(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char *path = tu_path(dir, "a.raiiaf");
    import_to(path);
    char *f1 = tu_path(dir, "f1.raiiaf"), *back = tu_path(dir, "back.raiiaf");
    char err[512];
    size_t tensors = 0;
    int image = 0;
    struct notes notes = {0};
    /* a 2-D tensor has no place in format 1 (4-D only): refused, named */
    int rc = raiiaf_convert(path, f1, 1, -1, collect, &notes, &tensors, &image, err, sizeof err);
    assert_int_not_equal(rc, RAIIAF_OK);
    assert_non_null(strstr(err, "latent"));
    struct stat st;
    assert_int_not_equal(stat(f1, &st), 0); /* nothing written */

    /* format 2 -> 2 with another codec keeps every value */
    assert_int_equal(raiiaf_convert(path, back, 2, RAIIAF_CODEC_RAW, collect, &notes, &tensors, &image, err, sizeof err),
                     RAIIAF_OK);
    assert_int_equal(tensors, 1);
    assert_int_equal(image, 1);
    raiiaf_reader *r = NULL;
    assert_int_equal(raiiaf_reader_open_file(back, 0, &r), RAIIAF_OK);
    assert_int_equal(raiiaf_reader_verify(r, NULL, NULL), RAIIAF_OK);
    raiiaf_tensor_info ti;
    assert_int_equal(raiiaf_reader_tensor_info(r, 0, &ti), RAIIAF_OK);
    assert_int_equal(ti.codec, RAIIAF_CODEC_RAW);
    float got[4];
    assert_int_equal(raiiaf_reader_read_tensor(r, 0, got, sizeof got), RAIIAF_OK);
    assert_true(got[1] == -2.5f && got[3] == 8.0f);
    json_t *m = json_loads(raiiaf_reader_manifest(r, NULL), 0, NULL);
    json_t *gs = gen_settings(m);
    assert_int_equal(json_integer_value(json_object_get(gs, "seed")), 3782896554LL);
    json_decref(m);
    raiiaf_reader_free(r);

    /* misuse and a missing input: status and a message naming the file */
    assert_int_equal(raiiaf_convert(path, back, 3, -1, NULL, NULL, NULL, NULL, err, sizeof err), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_convert(path, back, 2, 77, NULL, NULL, NULL, NULL, err, sizeof err), RAIIAF_E_ARG);
    char *missing = tu_path(dir, "missing.raiiaf");
    assert_int_equal(raiiaf_convert(missing, back, 2, -1, NULL, NULL, NULL, NULL, err, sizeof err), RAIIAF_E_IO);
    assert_int_equal(strncmp(err, missing, strlen(missing)), 0);
    free(missing);
    free(f1);
    free(back);
    free(path);
    free(dir);
}

/* A format 1 file from the original package converts to format 2 and back
 * with the notes the rules give. */
static void test_convert_format1(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char *two = tu_path(dir, "two.raiiaf"), *one = tu_path(dir, "one.raiiaf");
    char err[512];
    struct notes notes = {0};
    size_t tensors = 0;
    int image = 0;
    assert_int_equal(raiiaf_convert(RAIIAF_TEST_DATA "/format1/two_latents.raiiaf", two, 2, -1, collect, &notes, &tensors,
                                    &image, err, sizeof err),
                     RAIIAF_OK);
    assert_true(tensors >= 1);
    assert_int_equal(raiiaf_convert(two, one, 1, -1, collect, &notes, NULL, NULL, err, sizeof err), RAIIAF_OK);
    raiiaf_reader *r = NULL;
    assert_int_equal(raiiaf_reader_open_file(one, 0, &r), RAIIAF_OK);
    unsigned ma, mi;
    raiiaf_reader_format(r, &ma, &mi);
    assert_int_equal(ma, 1);
    assert_int_equal(raiiaf_reader_tensor_count(r), tensors);
    raiiaf_reader_free(r);
    free(two);
    free(one);
    free(dir);
}

/* Chunks of other types are read back through raiiaf_reader_chunk_data
 * and carried by a conversion; a damaged one stops it. */
static void test_unknown_chunks(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char *path = tu_path(dir, "x.raiiaf"), *out = tu_path(dir, "y.raiiaf");
    raiiaf_writer *w = NULL;
    assert_int_equal(raiiaf_writer_new(path, &w), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_set_env(w, RAIIAF_ENV_NONE), RAIIAF_OK);
    const char payload[] = "a chunk this library does not interpret";
    assert_int_equal(raiiaf_writer_add_chunk(w, "XTRA", payload, sizeof payload), RAIIAF_OK);
    const float v[64] = {0};
    const uint64_t shape[1] = {64};
    assert_int_equal(raiiaf_writer_add_tensor(w, "z", RAIIAF_F32, 1, shape, v, sizeof v, RAIIAF_CODEC_ZSTD, 0), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_finish(w), RAIIAF_OK);
    raiiaf_writer_free(w);

    char err[512];
    struct notes notes = {0};
    assert_int_equal(raiiaf_convert(path, out, 2, -1, collect, &notes, NULL, NULL, err, sizeof err), RAIIAF_OK);
    raiiaf_reader *r = NULL;
    assert_int_equal(raiiaf_reader_open_file(out, 0, &r), RAIIAF_OK);
    size_t found = 0;
    for (size_t i = 0; i < raiiaf_reader_chunk_count(r); i++) {
        raiiaf_chunk_info ci;
        assert_int_equal(raiiaf_reader_chunk_info(r, i, &ci), RAIIAF_OK);
        const void *d;
        size_t n;
        if (!strcmp(ci.type, "XTRA")) {
            assert_int_equal(raiiaf_reader_chunk_data(r, i, &d, &n), RAIIAF_OK);
            assert_int_equal(n, sizeof payload);
            assert_memory_equal(d, payload, n);
            found++;
        } else if (!strcmp(ci.type, "TENS")) {
            assert_int_equal(raiiaf_reader_chunk_data(r, i, &d, &n), RAIIAF_E_CODEC);
            assert_non_null(strstr(raiiaf_reader_errmsg(r), "read it as a tensor"));
        }
    }
    assert_int_equal(found, 1);
    const void *d;
    assert_int_equal(raiiaf_reader_chunk_data(r, 99, &d, NULL), RAIIAF_E_NOT_FOUND);
    raiiaf_reader_free(r);

    /* one flipped payload byte: read back refused, conversion stopped */
    size_t n;
    unsigned char *bytes = tu_read_file(path, &n);
    unsigned char *at = memmem(bytes, n, payload, sizeof payload - 1);
    assert_non_null(at);
    at[3] ^= 0x20;
    assert_int_equal(raiiaf_reader_open_memory(bytes, n, 0, &r), RAIIAF_OK);
    for (size_t i = 0; i < raiiaf_reader_chunk_count(r); i++) {
        raiiaf_chunk_info ci;
        raiiaf_reader_chunk_info(r, i, &ci);
        if (!strcmp(ci.type, "XTRA")) assert_int_equal(raiiaf_reader_chunk_data(r, i, &d, NULL), RAIIAF_E_CHECKSUM);
    }
    raiiaf_reader_free(r);
    tu_write_file(path, bytes, n);
    free(bytes);
    assert_int_equal(raiiaf_convert(path, out, 2, -1, NULL, NULL, NULL, NULL, err, sizeof err), RAIIAF_E_CHECKSUM);
    assert_non_null(strstr(err, "XTRA"));
    free(path);
    free(out);
    free(dir);
}

/* A writer into memory gives the bytes a writer to a path writes. */
static void test_memory_writer(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char *path = tu_path(dir, "m.raiiaf");
    const float v[16] = {1, 2, 3, 4};
    const uint64_t shape[2] = {4, 4};
    raiiaf_writer *ws[2] = {NULL, NULL};
    assert_int_equal(raiiaf_writer_new(path, &ws[0]), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_new_memory(&ws[1]), RAIIAF_OK);
    const void *data;
    size_t n;
    assert_int_equal(raiiaf_writer_memory(ws[1], &data, &n), RAIIAF_E_STATE); /* not finished */
    assert_int_equal(raiiaf_writer_memory(ws[0], &data, &n), RAIIAF_E_ARG);   /* writes to a path */
    for (int k = 0; k < 2; k++) {
        raiiaf_writer *w = ws[k];
        assert_int_equal(raiiaf_writer_set_env(w, RAIIAF_ENV_NONE), RAIIAF_OK);
        assert_int_equal(raiiaf_writer_set_string(w, "/raiiaf_metadata/model_info/date", "2020-01-01T00:00:00Z"), RAIIAF_OK);
        assert_int_equal(raiiaf_writer_add_tensor(w, "t", RAIIAF_F32, 2, shape, v, sizeof v, RAIIAF_CODEC_ZSTD, 0), RAIIAF_OK);
        if (raiiaf_writer_finish(w)) fail_msg("finish: %s", raiiaf_writer_errmsg(w));
    }
    assert_int_equal(raiiaf_writer_memory(ws[1], &data, &n), RAIIAF_OK);
    size_t fn;
    unsigned char *file = tu_read_file(path, &fn);
    assert_int_equal(n, fn);
    raiiaf_reader *r = NULL;
    assert_int_equal(raiiaf_reader_open_memory(data, n, 0, &r), RAIIAF_OK);
    assert_int_equal(raiiaf_reader_verify(r, NULL, NULL), RAIIAF_OK);
    raiiaf_chunk_info ci;
    assert_int_equal(raiiaf_reader_chunk_info(r, 0, &ci), RAIIAF_OK);
    /* header and payload identical; the manifests differ only in the time of writing */
    assert_memory_equal(data, file, (size_t)(ci.offset + 64 + ci.stored_size));
    raiiaf_reader_free(r);

    /* in steps: a limit set before the open covers the manifest's decode */
    r = NULL;
    assert_int_equal(raiiaf_reader_new(0, &r), RAIIAF_OK);
    assert_int_equal(raiiaf_reader_set_decode_limit(r, 16), RAIIAF_OK);
    assert_int_equal(raiiaf_reader_open_buffer(r, data, n), RAIIAF_E_LIMIT);
    assert_non_null(strstr(raiiaf_reader_errmsg(r), "budget of 16 decoded bytes"));
    raiiaf_reader_free(r);
    r = NULL;
    assert_int_equal(raiiaf_reader_new(0, &r), RAIIAF_OK);
    assert_int_equal(raiiaf_reader_open(r, path), RAIIAF_OK);
    assert_int_equal(raiiaf_reader_open_buffer(r, data, n), RAIIAF_E_STATE); /* opened once */
    assert_int_equal(raiiaf_reader_verify(r, NULL, NULL), RAIIAF_OK);
    raiiaf_reader_free(r);
    free(file);
    raiiaf_writer_free(ws[0]);
    raiiaf_writer_free(ws[1]);
    free(path);
    free(dir);
}

/* raiiaf_write_file: atomic, keeps the replaced file's mode, names the
 * path when it fails. */
static void test_write_file(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char *path = tu_path(dir, "f.bin");
    char err[256];
    tu_write_file(path, "old", 3);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(raiiaf_write_file(path, "new bytes", 9, err, sizeof err), RAIIAF_OK);
    size_t n;
    unsigned char *b = tu_read_file(path, &n);
    assert_int_equal(n, 9);
    assert_memory_equal(b, "new bytes", 9);
    free(b);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char *bad = tu_path(dir, "missing/f.bin");
    assert_int_equal(raiiaf_write_file(bad, "x", 1, err, sizeof err), RAIIAF_E_IO);
    assert_non_null(strstr(err, bad));
    assert_int_equal(raiiaf_write_file(NULL, "x", 1, err, sizeof err), RAIIAF_E_ARG);
    free(bad);
    free(path);
    free(dir);
}

static void test_version(void **state)
{
    (void)state;
    assert_int_equal(raiiaf_version_number(), RAIIAF_VERSION_NUMBER);
    char buf[32];
    snprintf(buf, sizeof buf, "%u.%u.%u", RAIIAF_VERSION_NUMBER / 10000, RAIIAF_VERSION_NUMBER / 100 % 100,
             RAIIAF_VERSION_NUMBER % 100);
    assert_string_equal(raiiaf_version_string(), buf);
    raiiaf_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_import_a1111),     cmocka_unit_test(test_import_failures),
        cmocka_unit_test(test_export_roundtrip), cmocka_unit_test(test_tensor_files),
        cmocka_unit_test(test_safetensors_build), cmocka_unit_test(test_convert),
        cmocka_unit_test(test_convert_format1),  cmocka_unit_test(test_unknown_chunks),
        cmocka_unit_test(test_memory_writer),   cmocka_unit_test(test_write_file),
        cmocka_unit_test(test_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
