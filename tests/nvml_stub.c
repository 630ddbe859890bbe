/* nvml_stub.c -- a stand-in for libnvidia-ml.so.1 with the entry points
 * libraiiaf uses, reporting two fake GPUs, so that the NVML path is tested
 * on machines without an NVIDIA driver.  Loaded through
 * RAIIAF_NVML_LIBRARY.  NVML_STUB_FAIL=1 makes nvmlInit_v2 fail (as with a
 * driver that is not loaded); NVML_STUB_COUNT=N reports N GPUs (0..2). */
#include <stdlib.h>
#include <string.h>

#define STUB_API __attribute__((visibility("default")))

typedef struct {
    unsigned long long total, free, used;
} stub_memory;

static const struct {
    const char *name;
    unsigned long long memory;
} gpus[2] = {
    {"NVIDIA Stub A100-SXM4-40GB", 42949672960ull},
    {"NVIDIA Stub H100 80GB HBM3", 85520809984ull},
};

static int initialised;

static unsigned count(void)
{
    const char *c = getenv("NVML_STUB_COUNT");
    unsigned n = c ? (unsigned)atoi(c) : 2;
    return n > 2 ? 2 : n;
}

static int copy(char *dst, unsigned cap, const char *src)
{
    size_t n = strlen(src);
    if (n + 1 > cap) return 7; /* NVML_ERROR_INSUFFICIENT_SIZE */
    memcpy(dst, src, n + 1);
    return 0;
}

STUB_API int nvmlInit_v2(void)
{
    const char *f = getenv("NVML_STUB_FAIL");
    if (f && *f == '1') return 9; /* NVML_ERROR_DRIVER_NOT_LOADED */
    initialised++;
    return 0;
}

STUB_API int nvmlShutdown(void)
{
    if (!initialised) return 1; /* NVML_ERROR_UNINITIALIZED */
    initialised--;
    return 0;
}

STUB_API int nvmlDeviceGetCount_v2(unsigned *n)
{
    if (!initialised) return 1;
    *n = count();
    return 0;
}

STUB_API int nvmlDeviceGetHandleByIndex_v2(unsigned i, void **dev)
{
    if (!initialised) return 1;
    if (i >= count()) return 2; /* NVML_ERROR_INVALID_ARGUMENT */
    *dev = (void *)&gpus[i];
    return 0;
}

STUB_API int nvmlDeviceGetName(void *dev, char *name, unsigned cap)
{
    if (!initialised) return 1;
    for (int i = 0; i < 2; i++)
        if (dev == (void *)&gpus[i]) return copy(name, cap, gpus[i].name);
    return 2;
}

STUB_API int nvmlDeviceGetMemoryInfo(void *dev, stub_memory *m)
{
    if (!initialised) return 1;
    for (int i = 0; i < 2; i++)
        if (dev == (void *)&gpus[i]) {
            m->total = gpus[i].memory;
            m->used = 1ull << 20;
            m->free = m->total - m->used;
            return 0;
        }
    return 2;
}

STUB_API int nvmlSystemGetDriverVersion(char *v, unsigned cap)
{
    if (!initialised) return 1;
    return copy(v, cap, "535.104.05");
}

STUB_API int nvmlSystemGetCudaDriverVersion_v2(int *v)
{
    if (!initialised) return 1;
    *v = 12020;
    return 0;
}
