/* fuzz_pngtext.c -- libFuzzer harness for the importer's readers: PNG
 * tEXt/zTXt/iTXt chunks, JPEG APP1 and WebP EXIF containers, the TIFF/EXIF
 * parser, UserComment decoding, the tool recognisers (A1111 text, ComfyUI
 * graphs and editor workflows with subgraphs, InvokeAI, NovelAI, SwarmUI,
 * Fooocus, Stability Matrix, TensorArt, Easy Diffusion, HF Space JSON,
 * Draw Things XMP), the choice among several records, and the A1111 text
 * written back from what they found.
 *
 * Then the public import (raiiaf_import_image: our own export's record,
 * notes, the metadata document and tags) over the same bytes.
 *
 * Any input must be handled without a crash, a leak or an unterminated
 * message; whatever is recognised must give A1111 text that parses again,
 * and an import that succeeds must give a JSON object with raiiaf_metadata. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "interop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    meta_list l;
    if (meta_collect(data, size, &l, err, sizeof err) == 0) {
        import_result r;
        import_result_init(&r);
        if (import_detect(&l, &r)) {
            json_t *doc = json_pack("{s:{s:O,s:{s:O}}}", "raiiaf_metadata", "model_info", r.model_info, "extensions",
                                    "org.raiiaf.import", r.ext);
            char *text = doc ? export_parameters_text(doc) : NULL;
            if (text) {
                import_result r2;
                import_result_init(&r2);
                import_a1111(text, &r2);
                import_result_free(&r2);
            }
            free(text);
            json_decref(doc);
        }
        json_t *c = import_chunks_json(&l);
        char *dump = json_dumps(c, JSON_COMPACT);
        free(dump);
        json_decref(c);
        import_result_free(&r);
    }
    if (memchr(err, '\0', sizeof err) == NULL) __builtin_trap();
    meta_list_free(&l);
    /* The same bytes as a bare TIFF block and as a UserComment value. */
    meta_list t = {0};
    exif_collect(data, size, &t, err, sizeof err);
    meta_list_free(&t);
    size_t n;
    const char *enc;
    char *s = exif_usercomment_decode(data, size, size & 1, &n, &enc);
    if (s && strlen(s) > n) __builtin_trap();
    free(s);

    raiiaf_import *imp = NULL;
    if (raiiaf_import_image(data, size, &imp) == RAIIAF_OK) {
        if (raiiaf_import_add_tag(imp, "fuzz") != RAIIAF_OK) __builtin_trap();
        size_t mlen;
        const char *m = raiiaf_import_metadata(imp, &mlen);
        json_t *doc = m ? json_loadb(m, mlen, 0, NULL) : NULL;
        if (m && !json_is_object(json_object_get(doc, "raiiaf_metadata"))) __builtin_trap();
        json_decref(doc);
        for (size_t i = 0; i < raiiaf_import_note_count(imp); i++)
            if (!raiiaf_import_note(imp, i)) __builtin_trap();
    } else if (imp && !*raiiaf_import_errmsg(imp)) {
        __builtin_trap(); /* a failure always says why */
    }
    raiiaf_import_free(imp);
    return 0;
}
