/*
 * interop.h -- what the interop layer's files share (src/interop/).  The
 * public face is the "Interop" sections of raiiaf.h; this header is the
 * internal vocabulary behind them:
 *
 *   text_records.c  text records of PNG (tEXt/zTXt/iTXt), JPEG and WebP
 *                   (EXIF UserComment, ImageDescription, MakerNote)
 *   import_result.c the record an importer builds, with the schema's ranges
 *   import_a1111.c  A1111 `parameters` text, both ways (import and export)
 *   import_comfy.c  ComfyUI prompt graphs
 *   import_tools.c  InvokeAI, NovelAI, SwarmUI; tool detection and which
 *                   record wins when a file carries several
 *   import_fooocus.c Fooocus / RuinedFooocus (both Fooocus schemes)
 *   import_more.c   Stability Matrix, TensorArt, Easy Diffusion, HF Spaces,
 *                   Draw Things
 *   import.c        raiiaf_import_*: image -> metadata -> writer
 *   export.c        raiiaf_export*: stored image + record -> PNG/JPEG/WebP
 *   convert.c       raiiaf_convert: format 1 <-> 2 rules
 *   npy.c, safetensors.c  tensors in and out
 *
 * The layer calls the public API of the format layer (writer, reader) and
 * the core (fileio, errors); nothing below calls up into it.  Everything
 * here treats its input as hostile: every length is checked against what
 * remains before it is used, decompression is bounded, nothing prints.
 */
#ifndef RAIIAF_INTEROP_H
#define RAIIAF_INTEROP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "raiiaf.h"

/* ---------------------------------------------------------------------- */
/* Embedded text: PNG tEXt/zTXt/iTXt chunks and EXIF strings               */
/* ---------------------------------------------------------------------- */

/* Caps on hostile input. */
#define META_MAX_TEXTS 256               /* text records kept per image */
#define META_MAX_TEXT ((size_t)16 << 20) /* bytes of one decoded text (zlib output cap) */
/* Bytes of decompressed text per image, all records together: a small
 * PNG can hold many zTXt chunks that each inflate to the per-text cap. */
#define META_MAX_TEXT_TOTAL ((size_t)16 << 20)

typedef struct meta_text {
    char keyword[80];     /* PNG keyword (1..79 bytes), or the EXIF tag's name */
    char type[24];        /* "tEXt", "zTXt", "iTXt", "exif-usercomment", "exif-imagedescription", ... */
    char *text;           /* decoded text, UTF-8, NUL-terminated (may hold NULs: see len) */
    size_t len;           /* bytes of text */
    const char *encoding; /* how the stored bytes became `text`: "utf-8", "latin-1",
                             "utf-16be", "utf-16le", "ascii" */
    unsigned char *raw;   /* EXIF only: the tag's value bytes exactly as stored */
    size_t raw_len;
    char *language, *translated; /* iTXt only (may be NULL) */
} meta_text;

typedef struct meta_list {
    meta_text *items;
    size_t count;
    const char *format; /* "png", "jpeg", "webp" or NULL when unrecognised */
    size_t inflated;    /* decompressed text bytes so far (bounded by META_MAX_TEXT_TOTAL) */
    unsigned over_budget; /* compressed records skipped because that budget ran out */
} meta_list;

/* Collects every text record from a PNG (tEXt, zTXt, iTXt), JPEG (APP1 Exif)
 * or WebP (EXIF chunk).  Structural damage in the container yields
 * RAIIAF_E_IMAGE / RAIIAF_E_CORRUPT with a message; a damaged EXIF block or
 * undecodable text chunk is skipped (the image stays importable) and noted
 * in `err` with status 0 only when nothing else went wrong.  Text decoding:
 * tEXt/zTXt are Latin-1 by the PNG spec, but many generators write UTF-8
 * there, so bytes that are valid UTF-8 are taken as UTF-8, anything else as
 * Latin-1 (encoding says which; both map back to the original bytes). */
int meta_collect(const unsigned char *data, size_t size, meta_list *out, char *err, size_t errsize);
void meta_list_free(meta_list *l);
/* The first record with this keyword, or NULL. */
const meta_text *meta_find(const meta_list *l, const char *keyword);

/* Parses a TIFF/EXIF block ("MM\0*" or "II*\0" first) and appends its
 * UserComment (IFD0 or the Exif IFD) and its ImageDescription / Make / Model
 * strings to `out`.  Returns 0, or RAIIAF_E_CORRUPT with a message. */
int exif_collect(const unsigned char *tiff, size_t size, meta_list *out, char *err, size_t errsize);

/* Decodes an EXIF UserComment value (8-byte charset prefix, then text) into
 * UTF-8.  "UNICODE\0" is UTF-16 in the TIFF byte order (`big_endian`), but
 * some writers use the other order: a text whose bytes read as NUL-high
 * ASCII in the other order is decoded that way.  A value without a known
 * prefix is taken as text.  Returns a malloc'd NUL-terminated string (*len
 * its length) or NULL when memory ran out; *encoding names the decoding. */
char *exif_usercomment_decode(const unsigned char *v, size_t n, int big_endian, size_t *len,
                              const char **encoding);

/* Builds a minimal TIFF block holding `text` as UserComment ("UNICODE\0" +
 * UTF-16BE, in a big-endian "MM" block, as piexif and A1111 read it) in an Exif IFD,
 * and, when `manifest` is not NULL, a MakerNote "raiiaf\0" + the manifest
 * JSON (read back as the record with keyword "raiiaf", type
 * "exif-makernote").  Returns a malloc'd buffer or NULL. */
unsigned char *exif_build_usercomment(const char *text, const char *manifest, size_t *size);

/* ---------------------------------------------------------------------- */
/* Mapping generator metadata to the schema                                */
/* ---------------------------------------------------------------------- */

/* What an importer makes of one image.  model_info holds schema fields
 * only (generation_settings checked for ranges); ext holds the rest:
 * tool, tool_version, unmapped fields, notes. */
typedef struct import_result {
    json_t *model_info; /* object */
    json_t *ext;        /* object: "org.raiiaf.import" content (without "chunks") */
    const char *tool;   /* recognised tool, or NULL */
} import_result;

void import_result_init(import_result *r);
void import_result_free(import_result *r);

/* Helpers used by the tool mappers: set model_info/generation_settings
 * fields with the schema's ranges enforced; a value out of range is kept
 * in ext/unmapped with a note instead.  */
void imp_set_str(import_result *r, const char *key, const char *value);          /* model_info/KEY */
void imp_set_gs_str(import_result *r, const char *key, const char *value);       /* generation_settings/KEY */
void imp_set_gs_int(import_result *r, const char *key, long long v, long long min, const char *src);
void imp_set_gs_num(import_result *r, const char *key, double v, double min, double max, const char *src);
/* An integer given as decimal text (A1111's "Seed: N", Fooocus's string
 * seeds) or as a JSON value (an integer, a wide integer of jsonnum.h, or a
 * string of decimal digits), exactly up to 2^64-1 (SPEC 5.1): never through
 * a double.  Returns -1, setting nothing, when it is not an integer; 0 when
 * set or (outside min..2^64-1) kept in unmapped with a note. */
int imp_set_gs_int_text(import_result *r, const char *key, const char *text, long long min, const char *src);
int imp_set_gs_int_json(import_result *r, const char *key, json_t *v, long long min, const char *src);
void imp_add_adapter(import_result *r, const char *name, const char *type, int has_weight, double weight,
                     const char *hash);
void imp_note(import_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void imp_unmapped(import_result *r, const char *key, json_t *value); /* steals value */
/* Model names: the file name without folders' extension (.safetensors,
 * .ckpt, .pt, .pth, .bin, .gguf, .sft). */
void imp_set_model(import_result *r, const char *name);
/* Hashes: "sha256:<64 hex>" for a full SHA-256 (from "0x..." or upper case
 * too), "autov2:<10 hex>" for A1111's short hash, "autov1:<8 hex>" for its
 * old one; anything else as given. */
void imp_set_model_hash(import_result *r, const char *hash);

/* Values of JSON-speaking generators: a string member (NULL when absent or
 * not a string); a number from a JSON number or numeric string; an
 * integer exactly (JSON integer or a string of digits, never through a
 * double).  imp_gs_int / imp_gs_num set generation_settings/FIELD from
 * member K of O when it reads as such.  imp_set_size: "1024x768",
 * "832 x 1216", "(1024, 1024)" -> width and height. */
const char *imp_jstr(json_t *o, const char *k);
int imp_jnum(json_t *x, double *v);
/* A text record whose text is a JSON object (strict JSON, exact integers), or NULL. */
json_t *imp_json_object(const meta_text *t);
int imp_jint(json_t *x, long long *v);
void imp_gs_int(import_result *r, json_t *o, const char *k, const char *field, long long min);
void imp_gs_num(import_result *r, json_t *o, const char *k, const char *field, double min, double max);
void imp_set_size(import_result *r, const char *s, const char *src);

/* The family a tool belongs to ("Forge" -> "AUTOMATIC1111", "TensorArt" ->
 * "ComfyUI", "RuinedFooocus" -> "Fooocus", ...); a tool not listed is its
 * own family.  NULL for NULL. */
const char *import_family(const char *tool);

/* A1111 / Forge / SD.Next `parameters` text.  Returns 1 when the text
 * follows the grammar (a last line of at least 3 `Key: value` pairs or a
 * Steps: field), 0 when it does not (then nothing is set). */
int import_a1111(const char *text, import_result *r);
/* Splits one `Key: value, Key: value` line into an object of strings
 * (JSON-quoted values unquoted); NULL when it has no pair. */
json_t *a1111_parse_pairs(const char *line);
/* ComfyUI API graph (node id -> {class_type, inputs}).  1 when a sampler
 * node was found. */
int import_comfy(json_t *graph, import_result *r);
/* A ComfyUI editor `workflow` (subgraphs flattened to "INSTANCE:NODE"
 * ids, widget values named) as an API graph for import_comfy(); NULL when
 * it is not one.  import_comfy_workflow.c. */
json_t *comfy_workflow_to_api(json_t *workflow);
/* InvokeAI invokeai_metadata, NovelAI Comment, SwarmUI sui_image_params,
 * Fooocus / RuinedFooocus parameters JSON. */
int import_invokeai(json_t *meta, import_result *r);
int import_novelai(json_t *comment, const meta_list *l, import_result *r);
int import_swarmui(json_t *params, import_result *r);
int import_fooocus(json_t *params, import_result *r);
/* import_more.c: Stability Matrix `parameters-json` (+ `smproj`), TensorArt
 * `generation_data`, Easy Diffusion (one chunk per field, or JSON), a
 * Hugging Face Space's `parameters` JSON, Draw Things (XMP UserComment
 * JSON).  Each returns 1 when it recognised its record. */
int import_stability_matrix(const meta_list *l, import_result *r);
int import_tensorart(const meta_list *l, import_result *r);
int import_easydiffusion_chunks(const meta_list *l, import_result *r);
int import_easydiffusion_json(json_t *j, import_result *r);
int import_hfspace(json_t *j, import_result *r);
int import_drawthings(const meta_list *l, import_result *r);

/* Recognises the tool from the text records and maps what it can.  Returns
 * 1 when some generator was recognised.  A record with keyword "raiiaf"
 * (our own export) is not handled here: cmd_import restores it whole. */
int import_detect(const meta_list *l, import_result *r);

/* The `org.raiiaf.import` "chunks" array: every record verbatim. */
json_t *import_chunks_json(const meta_list *l);

/* A1111-style `parameters` text from a manifest's model_info (and its
 * org.raiiaf.import extension for tool version and unmapped fields).
 * Returns a malloc'd string, or NULL when memory ran out. */
char *export_parameters_text(json_t *manifest);

/* ---------------------------------------------------------------------- */
/* safetensors                                                             */
/* ---------------------------------------------------------------------- */

#define ST_MAX_HEADER ((uint64_t)100 << 20)

/* raiiaf_safetensors_build() with the metadata as a jansson object. */
int st_build(const char *name, raiiaf_dtype dtype, unsigned rank, const uint64_t *shape, const void *data,
             size_t size, json_t *metadata, unsigned char **out, size_t *out_size);

/* The safetensors dtype name ("F32") of a dtype, or NULL. */
const char *st_dtype_name(raiiaf_dtype d);

/* The generation record as safetensors __metadata__ (string -> string):
 * "raiiaf.manifest" holds the whole manifest JSON; prompt, negative
 * prompt, model, seed, steps, sampler, cfg scale, scheduler, size as
 * flat "raiiaf.*" keys for tools that only look there. */
json_t *st_metadata_from_manifest(const char *manifest, size_t len);

/* ---------------------------------------------------------------------- */
/* More sources (Civitai, NovelAI EXIF/legacy, InvokeAI legacy and graph,  */
/* stealth PNG info, C2PA); see import_detect_more.c and the files it names.      */
/* ---------------------------------------------------------------------- */

/* Sets the extension's "family" (the tool's lineage: "AUTOMATIC1111",
 * "ComfyUI", "InvokeAI", "NovelAI", "C2PA", ...). */
void imp_set_family(import_result *r, const char *family);

/* Sources import_detect does not know, tried when it found nothing:
 * Civitai's JSON in EXIF UserComment, NovelAI's record in EXIF, InvokeAI's
 * `sd-metadata` / `Dream` / `invokeai_graph` chunks, stealth PNG info
 * records (added by stealth_collect).  1 when one was recognised. */
int import_detect_more(const meta_list *l, import_result *r);
/* After import_detect recognised a record: names the exact tool where the
 * record says more (A1111 text with `Civitai resources` -> Civitai, with
 * the models and LoRAs of that list), fills what a layout keeps elsewhere
 * (NovelAI's legacy prompt in `Description`) and sets the family. */
void import_refine(const meta_list *l, import_result *r);

/* Civitai: its generation JSON (ComfyUI graph + `extraMetadata`) and the
 * `Civitai resources` list of A1111 text (import_civitai.c). */
int import_civitai_json(json_t *j, import_result *r);
void import_civitai_resources(import_result *r);
/* NovelAI's EXIF UserComment: a JSON object of its PNG text chunks
 * (Title, Description, Software, Source, Comment) (import_novelai.c). */
int import_novelai_exif(json_t *j, const meta_list *l, import_result *r);
/* InvokeAI 2.x `sd-metadata` JSON and `Dream` command line, and the
 * `invokeai_graph` of 3.x-5.x (import_invoke.c). */
int import_invoke_sdmeta(json_t *j, import_result *r);
int import_invoke_dream(const char *text, import_result *r);
int import_invoke_graph(json_t *g, import_result *r);

/* Stealth PNG info (sd-webui-stealth-pnginfo, NovelAI): the record hidden
 * in the least significant bits of the alpha channel ("stealth_pnginfo",
 * "stealth_pngcomp" = gzip) or of R, G, B ("stealth_rgbinfo",
 * "stealth_rgbcomp"), bits taken column by column (x outer, y inner), most
 * significant bit first, after the 15-byte signature a 32-bit big-endian
 * count of payload BITS.  Appends one record (keyword = the signature,
 * type "stealth-alpha" / "stealth-rgb") to `out`.  Returns 1 when one was
 * found, 0 when the image has none, -1 when one was found but is damaged
 * or over a limit (then `note` says what and where). */
#define STEALTH_MAX_PIXELS ((uint64_t)64 << 20) /* images above this are not searched */
int stealth_collect(const unsigned char *png, size_t size, meta_list *out, char *note, size_t notesize);

/* C2PA manifest store (PNG caBX chunk, JPEG APP11 JUMBF segments, WebP
 * C2PA chunk): read-only.  Sets ext "c2pa" {"container", "bytes",
 * "claim_generator"}; when `set_tool` also the tool (the claim generator's
 * product name) and family "C2PA".  1 when a manifest store was found. */
#define C2PA_MAX_STORE ((size_t)16 << 20)
int c2pa_probe(const unsigned char *data, size_t size, import_result *r, int set_tool);
/* The claim generator in a JUMBF/CBOR manifest store: the text after the
 * CBOR key "claim_generator", or the "name" in "claim_generator_info".
 * A malloc'd string or NULL; *from_info says which of the two it was. */
char *c2pa_claim_generator(const unsigned char *store, size_t n, int *from_info);

#endif
