/* dtype.c -- element types and codec names. */
#include "internal.h"

#include <string.h>

static const struct {
    const char *name, *short_name;
    size_t size;
} dtypes[] = {
    [RAIIAF_F16] = {"float16", "f16", 2},   [RAIIAF_BF16] = {"bfloat16", "bf16", 2},
    [RAIIAF_F32] = {"float32", "f32", 4},   [RAIIAF_F64] = {"float64", "f64", 8},
    [RAIIAF_I8] = {"int8", "i8", 1},        [RAIIAF_U8] = {"uint8", "u8", 1},
    [RAIIAF_I16] = {"int16", "i16", 2},     [RAIIAF_U16] = {"uint16", "u16", 2},
    [RAIIAF_I32] = {"int32", "i32", 4},     [RAIIAF_U32] = {"uint32", "u32", 4},
    [RAIIAF_I64] = {"int64", "i64", 8},     [RAIIAF_U64] = {"uint64", "u64", 8},
    [RAIIAF_BOOL] = {"bool", "bool", 1},
};
#define NDTYPES (sizeof dtypes / sizeof dtypes[0])

const char *raiiaf_dtype_name(raiiaf_dtype d)
{
    return (d > 0 && (size_t)d < NDTYPES) ? dtypes[d].name : NULL;
}

size_t raiiaf_dtype_size(raiiaf_dtype d)
{
    return (d > 0 && (size_t)d < NDTYPES) ? dtypes[d].size : 0;
}

raiiaf_dtype raiiaf_dtype_from_name(const char *name)
{
    if (!name) return RAIIAF_DTYPE_INVALID;
    for (size_t i = 1; i < NDTYPES; i++)
        if (!strcmp(name, dtypes[i].name) || !strcmp(name, dtypes[i].short_name)) return (raiiaf_dtype)i;
    return RAIIAF_DTYPE_INVALID;
}

const char *raiiaf_codec_name(raiiaf_codec c)
{
    switch (c) {
    case RAIIAF_CODEC_RAW: return "raw";
    case RAIIAF_CODEC_ZSTD: return "zstd";
    case RAIIAF_CODEC_ZFP: return "zfp";
    case RAIIAF_CODEC_RECIPE: return "recipe";
    case RAIIAF_CODEC_AUTO: return "auto";
    default: return NULL;
    }
}

int raiiaf_codec_from_name(const char *name, raiiaf_codec *codec)
{
    static const raiiaf_codec all[] = {RAIIAF_CODEC_RAW, RAIIAF_CODEC_ZSTD, RAIIAF_CODEC_ZFP, RAIIAF_CODEC_RECIPE,
                                      RAIIAF_CODEC_AUTO};
    for (size_t i = 0; name && i < sizeof all / sizeof all[0]; i++)
        if (!strcmp(name, raiiaf_codec_name(all[i]))) {
            *codec = all[i];
            return RAIIAF_OK;
        }
    return RAIIAF_E_ARG;
}
