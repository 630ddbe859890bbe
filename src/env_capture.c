/* env_capture.c -- the components this process can see for itself.
 *
 * Canonical strings (keys in this order; docs/SPEC.md lists them):
 *   os        name=os;version=SYSNAME RELEASE        (format 1's form: "Linux 6.1.0")
 *   arch      name=arch;machine=MACHINE              (uname: x86_64, aarch64)
 *   cpu       name=cpu;model=MODEL;cores=N           (/proc/cpuinfo; logical cores online)
 *   ram       name=ram;bytes=N                       (MemTotal of /proc/meminfo, else sysconf)
 *   libc      name=glibc;version=V                   (gnu_get_libc_version)
 *   libraiiaf name=libraiiaf;version=V;format=2.0
 *   zstd, zfp, openssl, spng, jansson: name=ID;version=V (the linked library's own report)
 *   hostname  name=hostname;value=HOST               (only with RAIIAF_ENV_INCLUDE_HOSTNAME)
 * plus gpu, gpu0, gpu1, ... from NVML (nvml.c).
 *
 * Nothing that names the user, their files or the machine is read unless
 * asked for: no host name, no user name, no path, no environment variable
 * other than RAIIAF_NVML_LIBRARY. */
#include "env.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <spng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <zfp.h>
#include <zstd.h>
#ifdef __GLIBC__
#include <gnu/libc-version.h>
#endif

/* Adds name=ID;KEY=VALUE (the value cleaned). */
static int put1(raiiaf_env *env, const char *id, const char *key, const char *value)
{
    char v[512], s[700];
    snprintf(v, sizeof v, "%s", value && *value ? value : "unknown");
    rf_env_clean_value(v);
    if (!*v) snprintf(v, sizeof v, "unknown");
    snprintf(s, sizeof s, "name=%s;%s=%s", id, key, v);
    return rf_env_put(env, id, s);
}

/* The first token of `s` that starts with a digit ("OpenSSL 3.0.11 19 Sep
 * 2023" -> "3.0.11", "zfp version 1.0.0 (August 1, 2022)" -> "1.0.0"). */
static void version_token(const char *s, char *out, size_t cap)
{
    out[0] = '\0';
    if (!s) return;
    for (const char *p = s; *p; p++)
        if (*p >= '0' && *p <= '9' && (p == s || p[-1] == ' ' || p[-1] == 'v')) {
            size_t n = strcspn(p, " ,()");
            snprintf(out, cap, "%.*s", (int)n, p);
            return;
        }
    snprintf(out, cap, "%s", s);
}

static void cpu_model(char *out, size_t cap)
{
    out[0] = '\0';
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[1024];
    /* x86: "model name"; arm64: no model name, but "CPU implementer/part";
     * some kernels give "Hardware" or "Processor". */
    while (fgets(line, sizeof line, f)) {
        const char *keys[] = {"model name", "Processor", "Hardware", "cpu model"};
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            size_t n = strlen(keys[k]);
            if (!strncmp(line, keys[k], n) && (line[n] == ' ' || line[n] == '\t' || line[n] == ':')) {
                char *colon = strchr(line, ':');
                if (!colon) continue;
                snprintf(out, cap, "%s", colon + 1);
                out[strcspn(out, "\n")] = '\0';
                fclose(f);
                return;
            }
        }
    }
    fclose(f);
}

static unsigned long long ram_bytes(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    unsigned long long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemTotal: %llu kB", &kb) == 1) break;
    if (f) fclose(f);
    if (kb) return kb * 1024ull;
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (unsigned long long)pages * (unsigned long long)size : 0;
}

int rf_env_capture_into(raiiaf_env *env, unsigned flags)
{
    char v[512], s[1100];
    int rc = RAIIAF_OK;
    struct utsname u;
    int have_uname = uname(&u) == 0;

    /* os: format 1 wrote platform.system() + " " + platform.release(). */
    if (have_uname) {
        snprintf(v, sizeof v, "%s %s", u.sysname, u.release);
        rc = put1(env, "os", "version", v);
        if (!rc) rc = put1(env, "arch", "machine", u.machine);
    }
    if (rc) return rc;

    char model[400];
    cpu_model(model, sizeof model);
    rf_env_clean_value(model);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    snprintf(s, sizeof s, "name=cpu;model=%s;cores=%ld", *model ? model : "unknown", cores > 0 ? cores : 0);
    if ((rc = rf_env_put(env, "cpu", s))) return rc;

    unsigned long long ram = ram_bytes();
    if (ram) {
        snprintf(s, sizeof s, "name=ram;bytes=%llu", ram);
        if ((rc = rf_env_put(env, "ram", s))) return rc;
    }

#ifdef __GLIBC__
    snprintf(v, sizeof v, "%s", gnu_get_libc_version());
    rf_env_clean_value(v);
    snprintf(s, sizeof s, "name=glibc;version=%s", *v ? v : "unknown");
    rc = rf_env_put(env, "libc", s);
#else
    rc = rf_env_put(env, "libc", "name=libc;version=unknown");
#endif
    if (rc) return rc;

    snprintf(s, sizeof s, "name=libraiiaf;version=%s;format=%d.%d", raiiaf_version_string(), RAIIAF_FORMAT_MAJOR, RAIIAF_FORMAT_MINOR);
    if ((rc = rf_env_put(env, "libraiiaf", s))) return rc;

    if ((rc = put1(env, "zstd", "version", ZSTD_versionString()))) return rc;
    version_token(zfp_version_string, v, sizeof v);
    if ((rc = put1(env, "zfp", "version", v))) return rc;
    version_token(OpenSSL_version(OPENSSL_VERSION), v, sizeof v);
    if ((rc = put1(env, "openssl", "version", v))) return rc;
    if ((rc = put1(env, "spng", "version", spng_version_string()))) return rc;
    if ((rc = put1(env, "jansson", "version", jansson_version_str()))) return rc;

    if (flags & RAIIAF_ENV_INCLUDE_HOSTNAME) {
        char host[256] = "";
        if (gethostname(host, sizeof host - 1) == 0 && *host && (rc = put1(env, "hostname", "value", host))) return rc;
    }
    return rf_env_capture_nvml(env);
}

int raiiaf_env_capture(unsigned flags, raiiaf_env **out)
{
    int rc = raiiaf_env_new(out);
    if (rc) return rc;
    return rf_env_capture_into(*out, flags);
}
