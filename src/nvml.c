/* nvml.c -- NVIDIA GPUs through NVML, loaded at run time.
 *
 * libnvidia-ml.so.1 comes with the NVIDIA driver, not with a toolkit, so
 * there is no build dependency: the few entry points used are declared here
 * and looked up with dlsym.  RAIIAF_NVML_LIBRARY names another library
 * (tests load a stub that reports two fake GPUs).  Any failure -- no
 * library, no driver, no device -- means "no GPU component", never an error.
 *
 * Components:
 *   gpu   name=gpu;model=M;driver=D     (format 1's form, for GPU 0)
 *   gpuN  name=gpu;index=N;model=M;memory_bytes=B;driver=D;cuda=MAJOR.MINOR
 * (no UUID, serial or bus id: they identify a machine). */
#include "env.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef int nvml_ret;                /* nvmlReturn_t: 0 is NVML_SUCCESS */
typedef struct nvml_dev *nvml_device; /* nvmlDevice_t */
typedef struct {
    unsigned long long total, free, used;
} nvml_memory; /* nvmlMemory_t */

typedef nvml_ret (*fn_void)(void);
typedef nvml_ret (*fn_count)(unsigned *);
typedef nvml_ret (*fn_handle)(unsigned, nvml_device *);
typedef nvml_ret (*fn_name)(nvml_device, char *, unsigned);
typedef nvml_ret (*fn_mem)(nvml_device, nvml_memory *);
typedef nvml_ret (*fn_sysstr)(char *, unsigned);
typedef nvml_ret (*fn_cuda)(int *);

#define NVML_NAME_SIZE 96
#define NVML_VERSION_SIZE 80

static void *sym(void *lib, const char *name)
{
    void *p = dlsym(lib, name);
    return p;
}

int rf_env_capture_nvml(raiiaf_env *env)
{
    const char *path = getenv("RAIIAF_NVML_LIBRARY");
    /* NVML talks to the NVIDIA kernel driver through /dev/nvidiactl and
     * fails to initialise without it, so when neither that device nor the
     * driver's /proc entry exists the answer is "no GPU" without the
     * library search (dlopen stats some 40 paths for a library that is not
     * installed: a third of what `raiiaf info`'s drift check cost). */
    if (!(path && *path) && access("/dev/nvidiactl", F_OK) != 0 && access("/proc/driver/nvidia/version", F_OK) != 0)
        return RAIIAF_OK;
    void *lib = dlopen(path && *path ? path : "libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return RAIIAF_OK;
    fn_void init, shutdown;
    fn_count count;
    fn_handle handle;
    fn_name name;
    fn_mem mem;
    fn_sysstr driver;
    fn_cuda cuda;
    /* Function pointers from dlsym: POSIX guarantees the conversion. */
    *(void **)&init = sym(lib, "nvmlInit_v2");
    *(void **)&shutdown = sym(lib, "nvmlShutdown");
    *(void **)&count = sym(lib, "nvmlDeviceGetCount_v2");
    *(void **)&handle = sym(lib, "nvmlDeviceGetHandleByIndex_v2");
    *(void **)&name = sym(lib, "nvmlDeviceGetName");
    *(void **)&mem = sym(lib, "nvmlDeviceGetMemoryInfo");
    *(void **)&driver = sym(lib, "nvmlSystemGetDriverVersion");
    *(void **)&cuda = sym(lib, "nvmlSystemGetCudaDriverVersion_v2");
    if (!cuda) *(void **)&cuda = sym(lib, "nvmlSystemGetCudaDriverVersion");
    int rc = RAIIAF_OK;
    if (!init || !shutdown || !count || !handle || !name || init() != 0) {
        dlclose(lib);
        return RAIIAF_OK;
    }
    char drv[NVML_VERSION_SIZE] = "", cu[32] = "";
    if (!driver || driver(drv, sizeof drv) != 0) drv[0] = '\0';
    drv[sizeof drv - 1] = '\0';
    rf_env_clean_value(drv);
    int cv = 0;
    if (cuda && cuda(&cv) == 0 && cv > 0) snprintf(cu, sizeof cu, "%d.%d", cv / 1000, (cv % 1000) / 10);
    unsigned n = 0;
    if (count(&n) != 0) n = 0;
    if (n > RF_ENV_MAX_GPUS) n = RF_ENV_MAX_GPUS;
    for (unsigned i = 0; i < n && !rc; i++) {
        nvml_device d;
        char model[NVML_NAME_SIZE] = "";
        if (handle(i, &d) != 0) continue;
        if (name(d, model, sizeof model) != 0) snprintf(model, sizeof model, "unknown");
        model[sizeof model - 1] = '\0';
        rf_env_clean_value(model);
        if (!*model) snprintf(model, sizeof model, "unknown");
        nvml_memory m = {0, 0, 0};
        if (!mem || mem(d, &m) != 0) m.total = 0;
        char id[16], s[512];
        int len = snprintf(s, sizeof s, "name=gpu;index=%u;model=%s", i, model);
        if (m.total) len += snprintf(s + len, sizeof s - (size_t)len, ";memory_bytes=%llu", m.total);
        if (*drv) len += snprintf(s + len, sizeof s - (size_t)len, ";driver=%s", drv);
        if (*cu) snprintf(s + len, sizeof s - (size_t)len, ";cuda=%s", cu);
        snprintf(id, sizeof id, "gpu%u", i);
        rc = rf_env_put(env, id, s);
        if (!rc && i == 0) {
            snprintf(s, sizeof s, "name=gpu;model=%s;driver=%s", model, *drv ? drv : "unknown");
            rc = rf_env_put(env, "gpu", s);
        }
    }
    shutdown();
    dlclose(lib);
    return rc;
}
