/* cmd_convert.c -- `raiiaf convert`: rewrite a file in format 2 or format 1.
 *
 * Format 1 -> 2 carries every latent (bit for bit, dtype kept), the image
 * (byte for byte), the generation record and the environment record, and
 * keeps the original manifest and ENVC JSON verbatim in
 * /raiiaf_metadata/extensions/org.raiiaf.format1/{manifest,env}, so the
 * conversion loses no information and can be undone: converting that
 * format 2 file back with --format 1 takes model_info, the date, each
 * latent's compression and the ENVC text from the verbatim copies. */
#include "cli.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define F1_EXT "org.raiiaf.format1"

static const char usage[] =
    "usage: raiiaf convert IN.raiiaf -o OUT.raiiaf [--format 2|1] [--codec C] [-q]\n"
    "\n"
    "Rewrites a RAIIAF file (format 1 or 2) in format 2 (default) or format 1, atomically.\n"
    "Every latent (bit for bit, dtype kept), the image (byte for byte), the generation\n"
    "record and the environment record are carried over.  From format 1, the original\n"
    "manifest and environment JSON are also kept verbatim under\n"
    "/raiiaf_metadata/extensions/" F1_EXT "/{manifest,env}; values that format 2's schema\n"
    "refuses are kept only there (a note says which).  Converting such a file back with\n"
    "--format 1 restores the original's model_info, date, compression and environment.\n"
    "  -o, --output OUT   the file to write\n"
    "  --format 2|1       the format to write (default 2)\n"
    "  --codec C          codec for the latents: auto (default), raw, zstd, zfp; in format 1\n"
    "                     raw means uncompressed and zfp/auto compressed (float32 only)\n"
    "  -q, --quiet        print nothing on success (notes still go to stderr)\n";

/* A minimal format 2 manifest that satisfies the schema, to test one
 * model_info value at a time with raiiaf_validate_manifest(). */
static int probe(json_t *model_info, char *msg, size_t msg_size)
{
    json_t *m = json_pack("{s:{s:{s:s,s:i,s:i,s:s,s:s,s:i},s:O,s:[],s:[]}}", "raiiaf_metadata", "file_info", "magic", "raiiaf",
                          "version_major", 2, "version_minor", 0, "created", "2000-01-01T00:00:00Z", "writer", "raiiaf convert",
                          "chunk_count", 0, "model_info", model_info, "tensors", "chunks");
    if (!m) return RAIIAF_E_NOMEM;
    char *t = json_dumps(m, JSON_COMPACT);
    json_decref(m);
    if (!t) return RAIIAF_E_NOMEM;
    int rc = raiiaf_validate_manifest(t, strlen(t), msg, msg_size);
    free(t);
    return rc;
}

static void note_dropped(const char *path, json_t *v, const char *why)
{
    char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    fprintf(stderr, "raiiaf: note: model_info%s = %.200s is not valid in format 2 (%s); kept only in /raiiaf_metadata/extensions/" F1_EXT "/manifest\n",
            path, t ? t : "?", why);
    free(t);
}

/* Maps a format 1 model_info to format 2: every value the format 2 schema
 * accepts, sub-key by sub-key inside generation_settings and
 * hardware_info.  Returns a new object. */
static json_t *map_model_info(json_t *src)
{
    json_t *out = json_object(), *empty = json_object();
    char msg[512];
    if (!out || !empty) return out;
    int skeleton_ok = probe(empty, msg, sizeof msg) == RAIIAF_OK;
    json_decref(empty);
    const char *k;
    json_t *v;
    json_object_foreach(src, k, v) {
        json_t *one = json_pack("{s:O}", k, v);
        int ok = !skeleton_ok || probe(one, msg, sizeof msg) == RAIIAF_OK;
        json_decref(one);
        if (ok) {
            json_object_set(out, k, v);
            continue;
        }
        char path[300];
        snprintf(path, sizeof path, "/%s", k);
        if (!json_is_object(v) || (strcmp(k, "generation_settings") && strcmp(k, "hardware_info"))) {
            note_dropped(path, v, msg);
            continue;
        }
        /* Keep what is valid of the object, key by key. */
        json_t *obj = json_object();
        json_t *os = json_object_get(v, "os");
        int is_hw = !strcmp(k, "hardware_info");
        const char *k2;
        json_t *v2;
        json_object_foreach(v, k2, v2) {
            json_t *trial = json_object();
            if (is_hw && strcmp(k2, "os")) json_object_set_new(trial, "os", json_string(json_is_string(os) ? json_string_value(os) : "unknown"));
            json_object_set(trial, k2, v2);
            json_t *wrap = json_pack("{s:o}", k, trial);
            if (probe(wrap, msg, sizeof msg) == RAIIAF_OK) {
                json_object_set(obj, k2, v2);
            } else {
                snprintf(path, sizeof path, "/%s/%s", k, k2);
                note_dropped(path, v2, msg);
            }
            json_decref(wrap);
        }
        json_t *wrap = json_pack("{s:O}", k, obj);
        if (probe(wrap, msg, sizeof msg) == RAIIAF_OK) {
            json_object_set(out, k, obj);
        } else {
            snprintf(path, sizeof path, "/%s", k);
            note_dropped(path, obj, msg);
        }
        json_decref(wrap);
        json_decref(obj);
    }
    return out;
}

static int set_model_info(raiiaf_writer *w, json_t *mi)
{
    json_t *m = json_pack("{s:{s:O}}", "raiiaf_metadata", "model_info", mi);
    char *t = m ? json_dumps(m, JSON_COMPACT) : NULL;
    json_decref(m);
    if (!t) return RAIIAF_E_NOMEM;
    int rc = raiiaf_writer_merge_json(w, t);
    free(t);
    return rc;
}

/* The codec for latent `name` in format 1 output: what the original file
 * used when the verbatim format 1 manifest is known, else AUTO. */
static raiiaf_codec f1_codec_for(json_t *f1_manifest, const char *name)
{
    json_t *chunks = json_object_get(json_object_get(f1_manifest, "raiiaf_metadata"), "chunks");
    size_t i;
    json_t *c;
    json_array_foreach(chunks, i, c) {
        json_t *key = json_object_get(json_object_get(c, "extra"), "key");
        if (json_is_string(key) && !strcmp(json_string_value(key), name))
            return json_is_true(json_object_get(c, "compressed")) ? RAIIAF_CODEC_ZFP : RAIIAF_CODEC_RAW;
    }
    return RAIIAF_CODEC_AUTO;
}

int cmd_convert(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    int quiet = 0, format = 2, have_codec = 0, status = EXIT_USAGE;
    raiiaf_codec codec = RAIIAF_CODEC_AUTO;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL, *a = argv[i];
        int r;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return EXIT_OK;
        }
        if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
            continue;
        }
        if ((r = cli_opt(argc, argv, &i, "-o", &v)) || (r = cli_opt(argc, argv, &i, "--output", &v))) {
            if (r < 0) return EXIT_USAGE;
            out = v;
            continue;
        }
        if ((r = cli_opt(argc, argv, &i, "--format", &v))) {
            if (r < 0) return EXIT_USAGE;
            if (strcmp(v, "1") && strcmp(v, "2")) {
                cli_err("--format: expected 1 or 2, got '%s'", v);
                return EXIT_USAGE;
            }
            format = v[0] - '0';
            continue;
        }
        if ((r = cli_opt(argc, argv, &i, "--codec", &v))) {
            if (r < 0) return EXIT_USAGE;
            if (raiiaf_codec_from_name(v, &codec)) {
                cli_err("--codec: unknown codec '%s' (auto, raw, zstd, zfp)", v);
                return EXIT_USAGE;
            }
            have_codec = 1;
            continue;
        }
        if (a[0] == '-' && a[1]) {
            cli_err("convert: unknown option '%s' (see raiiaf convert --help)", a);
            return EXIT_USAGE;
        }
        if (in) {
            cli_err("convert: one input file only (got '%s' and '%s')", in, a);
            return EXIT_USAGE;
        }
        in = a;
    }
    if (!in || !out) {
        cli_err("convert: give an input file and -o OUT.raiiaf");
        return EXIT_USAGE;
    }

    raiiaf_reader *r = NULL;
    raiiaf_writer *w = NULL;
    json_t *src = NULL, *f1m = NULL, *mi = NULL;
    const char *f1_text = NULL, *env_text = NULL;
    size_t f1_len = 0, env_len = 0;
    void *buf = NULL;
    int has_image = 0;
    int rc = raiiaf_reader_open_file(in, 0, &r);
    if (rc) {
        cli_err("%s: %s", in, r ? raiiaf_reader_errmsg(r) : "out of memory");
        status = cli_exit_for_input(rc);
        goto done;
    }
    unsigned major, minor;
    raiiaf_reader_format(r, &major, &minor);
    size_t mlen;
    const char *mtext = raiiaf_reader_manifest(r, &mlen);
    src = json_loadb(mtext, mlen, 0, NULL);
    json_t *ext = json_object_get(json_object_get(json_object_get(src, "raiiaf_metadata"), "extensions"), F1_EXT);
    if (major == 1) {
        f1_text = mtext;
        f1_len = mlen;
        rc = raiiaf_reader_env_json(r, &env_text, &env_len);
        if (rc && rc != RAIIAF_E_NOT_FOUND) {
            cli_err("%s: %s", in, raiiaf_reader_errmsg(r));
            status = cli_exit_for_input(rc);
            goto done;
        }
        if (rc) env_text = NULL;
    } else {
        json_t *m = json_object_get(ext, "manifest"), *e = json_object_get(ext, "env");
        if (json_is_string(m)) f1_text = json_string_value(m), f1_len = json_string_length(m);
        if (json_is_string(e)) env_text = json_string_value(e), env_len = json_string_length(e);
    }
    if (f1_text) {
        f1m = json_loadb(f1_text, f1_len, 0, NULL);
        if (!f1m) {
            cli_err("%s: the format 1 manifest kept in the file is not valid JSON", in);
            status = EXIT_INPUT;
            goto done;
        }
    }

    rc = raiiaf_writer_new(out, &w);
    if (!rc && format == 1) rc = raiiaf_writer_set_format(w, 1);
    if (rc) {
        cli_err("%s", w ? raiiaf_writer_errmsg(w) : "out of memory");
        status = cli_exit_for_output(rc);
        goto done;
    }
    status = EXIT_INPUT;

    /* The generation record. */
    json_t *src_mi = json_object_get(json_object_get(f1m ? f1m : src, "raiiaf_metadata"), "model_info");
    if (json_is_object(src_mi)) {
        if (format == 2 && major == 1) mi = map_model_info(src_mi);
        else mi = json_incref(src_mi);
        if (!mi || (rc = set_model_info(w, mi))) {
            cli_err("%s: model_info: %s", in, mi ? raiiaf_writer_errmsg(w) : "out of memory");
            goto done;
        }
    }
    if (format == 2) {
        /* Everything else of a format 2 source's metadata that the writer
         * does not own (extensions, ...), then the verbatim format 1 copies. */
        json_t *meta = json_object_get(src, "raiiaf_metadata");
        if (major == 2 && json_is_object(meta)) {
            json_t *rest = json_deep_copy(meta);
            static const char *const owned[] = {"file_info", "chunks", "tensors", "image", "environment", "model_info"};
            for (size_t k = 0; rest && k < sizeof owned / sizeof owned[0]; k++) json_object_del(rest, owned[k]);
            json_t *wrap = rest ? json_pack("{s:o}", "raiiaf_metadata", rest) : NULL;
            char *t = wrap ? json_dumps(wrap, JSON_COMPACT) : NULL;
            json_decref(wrap);
            rc = t ? raiiaf_writer_merge_json(w, t) : RAIIAF_E_NOMEM;
            free(t);
            if (rc) {
                cli_err("%s: %s", in, raiiaf_writer_errmsg(w));
                goto done;
            }
        }
        if (major == 1) {
            json_t *keep = json_pack("{s:s%}", "manifest", f1_text, f1_len);
            if (keep && env_text) json_object_set_new(keep, "env", json_stringn(env_text, env_len));
            char *t = keep ? json_dumps(keep, JSON_COMPACT) : NULL;
            json_decref(keep);
            rc = t ? raiiaf_writer_set_json(w, "/raiiaf_metadata/extensions/" F1_EXT, t) : RAIIAF_E_NOMEM;
            free(t);
            if (rc) {
                cli_err("%s: %s", in, raiiaf_writer_errmsg(w));
                goto done;
            }
        }
    } else if (env_text && (rc = raiiaf_writer_set_format1_env(w, env_text, env_len))) {
        cli_err("%s: environment record: %s", in, raiiaf_writer_errmsg(w));
        goto done;
    }

    /* The image, byte for byte. */
    const void *img;
    size_t isize;
    rc = raiiaf_reader_image(r, &img, &isize, NULL, NULL, NULL);
    if (rc && rc != RAIIAF_E_NOT_FOUND) {
        cli_err("%s: %s", in, raiiaf_reader_errmsg(r));
        goto done;
    }
    if (!rc) {
        rc = raiiaf_writer_add_image(w, img, isize);
        if (rc == RAIIAF_E_IMAGE && format == 2) {
            /* Format 1 stored any bytes; format 2's image chunk takes PNG,
             * JPEG or WebP only.  Keep the bytes anyway. */
            fprintf(stderr, "raiiaf: note: %s: the image is not a PNG, JPEG or WebP (%s); kept as a chunk of type F1DA\n", in,
                    raiiaf_writer_errmsg(w));
            rc = raiiaf_writer_add_chunk(w, "F1DA", img, isize);
        }
        if (rc) {
            cli_err("%s: image: %s", in, raiiaf_writer_errmsg(w));
            status = cli_exit_for_output(rc);
            goto done;
        }
        has_image = 1;
    }

    /* Every tensor, decoded with all checks and re-coded. */
    size_t n = raiiaf_reader_tensor_count(r);
    for (size_t i = 0; i < n; i++) {
        raiiaf_tensor_info t;
        if ((rc = raiiaf_reader_tensor_info(r, i, &t))) {
            cli_err("%s: %s", in, raiiaf_reader_errmsg(r));
            goto done;
        }
        if (t.raw_size > SIZE_MAX || !(buf = malloc(t.raw_size ? (size_t)t.raw_size : 1))) {
            cli_err("%s: tensor \"%s\": out of memory for %llu bytes", in, t.name, (unsigned long long)t.raw_size);
            status = EXIT_SYSTEM;
            goto done;
        }
        if ((rc = raiiaf_reader_read_tensor(r, i, buf, (size_t)t.raw_size))) {
            cli_err("%s: %s", in, raiiaf_reader_errmsg(r));
            status = cli_exit_for_input(rc);
            goto done;
        }
        raiiaf_codec c = codec;
        if (!have_codec && format == 1) c = f1m ? f1_codec_for(f1m, t.name) : RAIIAF_CODEC_AUTO;
        rc = raiiaf_writer_add_tensor(w, t.name, t.dtype, t.rank, t.shape, buf, (size_t)t.raw_size, c, 0);
        free(buf);
        buf = NULL;
        if (rc) {
            cli_err("%s: tensor \"%s\": %s", out, t.name, raiiaf_writer_errmsg(w));
            status = cli_exit_for_output(rc);
            goto done;
        }
    }
    /* Chunks the reader keeps but does not interpret cannot be read
     * through the API: say so rather than drop them silently. */
    size_t nc = raiiaf_reader_chunk_count(r);
    for (size_t i = 0; major == 2 && i < nc; i++) {
        raiiaf_chunk_info ci;
        if (raiiaf_reader_chunk_info(r, i, &ci) == RAIIAF_OK && strcmp(ci.type, "TENS") && strcmp(ci.type, "IMAG") && strcmp(ci.type, "ENVR"))
            fprintf(stderr, "raiiaf: note: %s: chunk %u of type %s is not carried over\n", in, ci.index, ci.type);
    }
    if ((rc = raiiaf_writer_finish(w))) {
        cli_err("%s: %s", out, raiiaf_writer_errmsg(w));
        status = cli_exit_for_output(rc);
        goto done;
    }
    if (!quiet) printf("%s: written (format %d, %zu tensor%s%s)\n", out, format, n, n == 1 ? "" : "s", has_image ? ", image" : "");
    status = EXIT_OK;
done:
    free(buf);
    json_decref(mi);
    json_decref(f1m);
    json_decref(src);
    raiiaf_writer_free(w);
    raiiaf_reader_free(r);
    return status;
}
