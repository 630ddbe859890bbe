/* fuzz_exifsources.c -- libFuzzer harness for the EXIF/JSON variants of
 * the newer import sources: a TIFF/EXIF block (UserComment as Civitai's
 * or NovelAI's JSON, ImageDescription), the same bytes as a JSON record
 * for Civitai, NovelAI, InvokeAI sd-metadata / invokeai_graph, as an
 * InvokeAI Dream command line, as a C2PA JUMBF/CBOR store, and as a whole
 * image for the C2PA container walk (PNG caBX, JPEG APP11, WebP C2PA).
 *
 * Any input must be handled without a crash, a leak or an unterminated
 * string; a claim generator found lies inside the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "interop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256] = "";
    meta_list l;
    memset(&l, 0, sizeof l);
    exif_collect(data, size, &l, err, sizeof err);
    if (memchr(err, '\0', sizeof err) == NULL) __builtin_trap();
    import_result r;
    import_result_init(&r);
    import_detect_more(&l, &r);
    import_refine(&l, &r);
    import_result_free(&r);

    /* the bytes as one text record of each kind the mappers look for */
    char *text = malloc(size + 1);
    if (!text) {
        meta_list_free(&l);
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    json_t *j = json_loadb(text, size, 0, NULL);
    import_result_init(&r);
    if (json_is_object(j)) {
        import_civitai_json(j, &r) || import_novelai_exif(j, &l, &r) || import_invoke_sdmeta(j, &r) ||
            import_invoke_graph(j, &r);
        import_civitai_resources(&r);
    }
    json_decref(j);
    import_result_free(&r);
    import_result_init(&r);
    import_invoke_dream(text, &r);
    import_result_free(&r);
    import_result_init(&r);
    if (import_a1111(text, &r)) import_civitai_resources(&r);
    import_result_free(&r);
    free(text);
    meta_list_free(&l);

    int info;
    char *g = c2pa_claim_generator(data, size, &info);
    if (g && (strlen(g) > size || !memmem(data, size, g, strlen(g)))) __builtin_trap();
    free(g);
    import_result_init(&r);
    c2pa_probe(data, size, &r, size & 1);
    import_result_free(&r);
    return 0;
}
