/* latent_preview.c -- a latent tensor -> RGB bytes, by the linear
 * latent-to-RGB approximation generator UIs use for live previews
 * (no VAE: one 3-vector per latent channel plus a bias).
 *
 * The factors are the published values from ComfyUI's
 * comfy/latent_formats.py (classes SD15, SDXL, SD3, Flux; commit
 * 040a3243468ecefd1f2802592d90458f1ce4d65f of comfyanonymous/ComfyUI).
 * Like ComfyUI's preview, the linear result is mapped from [-1, 1] to
 * [0, 255] and clamped. */
#include "raiiaf.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

typedef struct family {
    const char *name;
    unsigned channels;
    const float (*rgb)[3];
    float bias[3];
} family;

static const float sd15_rgb[4][3] = {
    {0.3512f, 0.2297f, 0.3227f},
    {0.3250f, 0.4974f, 0.2350f},
    {-0.2829f, 0.1762f, 0.2721f},
    {-0.2120f, -0.2616f, -0.7177f},
};

static const float sdxl_rgb[4][3] = {
    {0.3651f, 0.4232f, 0.4341f},
    {-0.2533f, -0.0042f, 0.1068f},
    {0.1076f, 0.1111f, -0.0362f},
    {-0.3165f, -0.2492f, -0.2188f},
};

static const float sd3_rgb[16][3] = {
    {-0.0922f, -0.0175f, 0.0749f}, {0.0311f, 0.0633f, 0.0954f},  {0.1994f, 0.0927f, 0.0458f},
    {0.0856f, 0.0339f, 0.0902f},   {0.0587f, 0.0272f, -0.0496f}, {-0.0006f, 0.1104f, 0.0309f},
    {0.0978f, 0.0306f, 0.0427f},   {-0.0042f, 0.1038f, 0.1358f}, {-0.0194f, 0.0020f, 0.0669f},
    {-0.0488f, 0.0130f, -0.0268f}, {0.0922f, 0.0988f, 0.0951f},  {-0.0278f, 0.0524f, -0.0542f},
    {0.0332f, 0.0456f, 0.0895f},   {-0.0069f, -0.0030f, -0.0810f}, {-0.0596f, -0.0465f, -0.0293f},
    {-0.1448f, -0.1463f, -0.1189f},
};

static const float flux_rgb[16][3] = {
    {-0.0346f, 0.0244f, 0.0681f},  {0.0034f, 0.0210f, 0.0687f},   {0.0275f, -0.0668f, -0.0433f},
    {-0.0174f, 0.0160f, 0.0617f},  {0.0859f, 0.0721f, 0.0329f},   {0.0004f, 0.0383f, 0.0115f},
    {0.0405f, 0.0861f, 0.0915f},   {-0.0236f, -0.0185f, -0.0259f}, {-0.0245f, 0.0250f, 0.1180f},
    {0.1008f, 0.0755f, -0.0421f},  {-0.0515f, 0.0201f, 0.0011f},  {0.0428f, -0.0012f, -0.0036f},
    {0.0817f, 0.0765f, 0.0749f},   {-0.1264f, -0.0522f, -0.1103f}, {-0.0280f, -0.0881f, -0.0499f},
    {-0.1262f, -0.0982f, -0.0778f},
};

static const family families[] = {
    {"sd1", 4, sd15_rgb, {0.0f, 0.0f, 0.0f}},
    {"sdxl", 4, sdxl_rgb, {0.1084f, -0.0175f, -0.0011f}},
    {"sd3", 16, sd3_rgb, {0.2394f, 0.2135f, 0.1925f}},
    {"flux", 16, flux_rgb, {-0.0329f, -0.0718f, -0.0851f}},
};

static const family *find_family(const char *name)
{
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
        if (!strcasecmp(name, families[i].name)) return &families[i];
    return NULL;
}

static int contains(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = hay; *p; p++)
        if (!strncasecmp(p, needle, n)) return 1;
    return 0;
}

const char *raiiaf_latent_family_guess(const char *model, unsigned channels)
{
    /* The model name decides when it says; else the channel count (4 is
     * the SD 1.x/SDXL VAE's, 16 the SD3/Flux one's) picks the older one. */
    if (model) {
        if (contains(model, "flux")) return "flux";
        if (contains(model, "sd3") || contains(model, "sd_3") || contains(model, "stable-diffusion-3")) return "sd3";
        if (contains(model, "xl")) return "sdxl";
        if (contains(model, "sd15") || contains(model, "sd1") || contains(model, "v1-5")) return "sd1";
    }
    if (channels == 4) return "sd1";
    if (channels == 16) return "sd3";
    return NULL;
}

static uint8_t to_byte(float v)
{
    float x = (v + 1.0f) * 0.5f;
    if (!(x > 0.0f)) return 0; /* also NaN */
    if (x >= 1.0f) return 255;
    return (uint8_t)lrintf(x * 255.0f);
}

int raiiaf_latent_preview(const float *latent, unsigned channels, uint32_t height, uint32_t width,
                          const char *family_name, uint8_t *rgb, size_t rgb_size)
{
    if (!latent || !rgb || !family_name || !height || !width) return RAIIAF_E_ARG;
    const family *f = find_family(family_name);
    if (!f) return RAIIAF_E_NOT_FOUND;
    if (channels != f->channels) return RAIIAF_E_ARG;
    size_t plane = (size_t)height * width;
    if (plane / height != width || plane > SIZE_MAX / 3 || rgb_size != plane * 3) return RAIIAF_E_BUFFER;
    for (size_t p = 0; p < plane; p++) {
        float acc[3] = {f->bias[0], f->bias[1], f->bias[2]};
        for (unsigned c = 0; c < channels; c++) {
            float v = latent[c * plane + p];
            acc[0] += v * f->rgb[c][0];
            acc[1] += v * f->rgb[c][1];
            acc[2] += v * f->rgb[c][2];
        }
        rgb[p * 3] = to_byte(acc[0]);
        rgb[p * 3 + 1] = to_byte(acc[1]);
        rgb[p * 3 + 2] = to_byte(acc[2]);
    }
    return RAIIAF_OK;
}

int raiiaf_latent_channel_gray(const float *latent, unsigned channels, uint32_t height, uint32_t width,
                               unsigned channel, uint8_t *gray, size_t gray_size)
{
    if (!latent || !gray || !height || !width || channel >= channels) return RAIIAF_E_ARG;
    size_t plane = (size_t)height * width;
    if (plane / height != width || gray_size != plane) return RAIIAF_E_BUFFER;
    const float *src = latent + (size_t)channel * plane;
    /* Min-max over the finite values: channels differ in range by orders of
     * magnitude, so a fixed scale would show most of them flat. */
    float lo = INFINITY, hi = -INFINITY;
    for (size_t p = 0; p < plane; p++)
        if (isfinite(src[p])) {
            if (src[p] < lo) lo = src[p];
            if (src[p] > hi) hi = src[p];
        }
    float span = hi > lo ? hi - lo : 0.0f;
    for (size_t p = 0; p < plane; p++) {
        if (!isfinite(src[p]) || span == 0.0f) {
            gray[p] = isfinite(src[p]) ? 128 : 0;
            continue;
        }
        gray[p] = (uint8_t)lrintf((src[p] - lo) / span * 255.0f);
    }
    return RAIIAF_OK;
}
