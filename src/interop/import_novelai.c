/*
 * import_novelai.c -- NovelAI's record outside its PNG text chunks.
 *
 * NovelAI's JPEG and WebP downloads keep the prompt in EXIF
 * ImageDescription and every PNG text chunk in one JSON object in EXIF
 * UserComment: {"Title": "NovelAI generated image", "Description": PROMPT,
 * "Software": "NovelAI", "Source": MODEL, "Generation time": ...,
 * "Comment": "<the settings JSON as a string>"}.  The same object is what
 * its stealth PNG info (alpha LSBs, gzip) holds.  The settings JSON is the
 * one import_novelai maps; Source names the model; a Comment without a
 * prompt (the legacy layout) takes it from Description.
 */
#include "interop.h"

#include <string.h>

static const char *jstr(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

static int says_novelai(json_t *j)
{
    const char *keys[] = {"Software", "Title", "Source"};
    for (size_t i = 0; i < 3; i++) {
        const char *s = jstr(j, keys[i]);
        if (s && strstr(s, "NovelAI")) return 1;
    }
    return 0;
}

int import_novelai_exif(json_t *j, const meta_list *l, import_result *r)
{
    if (!json_is_object(j) || !says_novelai(j)) return 0;
    json_t *c = json_object_get(j, "Comment");
    json_t *parsed = NULL;
    if (json_is_string(c)) c = parsed = json_loads(json_string_value(c), 0, NULL);
    if (!json_is_object(c)) {
        json_decref(parsed);
        return 0;
    }
    /* import_novelai reads Source from the PNG chunks; here it is a key. */
    meta_list none = {0};
    int ok = import_novelai(c, &none, r);
    if (ok) {
        imp_set_str(r, "model_name", jstr(j, "Source"));
        if (!json_object_get(r->model_info, "prompt")) {
            const char *d = jstr(j, "Description");
            const meta_text *t = meta_find(l, "ImageDescription");
            imp_set_str(r, "prompt", d ? d : t ? t->text : NULL);
        }
        /* seeds exactly, whatever the double path above made of them */
        imp_gs_int(r, c, "seed", "seed", 0);
        if (jstr(j, "Software")) json_object_set_new(r->ext, "software", json_string(jstr(j, "Software")));
        r->tool = "NovelAI";
        imp_set_family(r, "NovelAI");
    }
    json_decref(parsed);
    return ok;
}
