/* lazy_mhd.c -- libmicrohttpd, loaded the first time `raiiaf serve` calls
 * it (lazy.h).  Defines exactly the MHD functions src/serve/ calls; the
 * prototypes come from <microhttpd.h>, so the compiler checks that each
 * forwarder matches the real function. */
#include "lazy.h"

#include <pthread.h>
#include <stdarg.h>
#include <microhttpd.h>

/* Debian 12's libmicrohttpd 0.9.x has SONAME libmicrohttpd.so.12. */
#define MHD_SONAME "libmicrohttpd.so.12"

/* The resolved functions: written once under pthread_once, read-only after
 * (MHD calls back on its own threads). */
static struct {
    struct MHD_Daemon *(*start_va)(unsigned int, uint16_t, MHD_AcceptPolicyCallback, void *, MHD_AccessHandlerCallback,
                                   void *, va_list);
    void (*stop)(struct MHD_Daemon *);
    const union MHD_DaemonInfo *(*daemon_info)(struct MHD_Daemon *, enum MHD_DaemonInfoType, ...);
    const char *(*lookup)(struct MHD_Connection *, enum MHD_ValueKind, const char *);
    enum MHD_Result (*queue)(struct MHD_Connection *, unsigned int, struct MHD_Response *);
    struct MHD_Response *(*from_buffer)(size_t, void *, enum MHD_ResponseMemoryMode);
    void (*destroy)(struct MHD_Response *);
    enum MHD_Result (*add_header)(struct MHD_Response *, const char *, const char *);
} mhd;
static pthread_once_t mhd_once = PTHREAD_ONCE_INIT;

static void mhd_load(void)
{
    void *h = lazy_open(MHD_SONAME);
    *(void **)&mhd.start_va = lazy_sym(h, MHD_SONAME, "MHD_start_daemon_va");
    *(void **)&mhd.stop = lazy_sym(h, MHD_SONAME, "MHD_stop_daemon");
    *(void **)&mhd.daemon_info = lazy_sym(h, MHD_SONAME, "MHD_get_daemon_info");
    *(void **)&mhd.lookup = lazy_sym(h, MHD_SONAME, "MHD_lookup_connection_value");
    *(void **)&mhd.queue = lazy_sym(h, MHD_SONAME, "MHD_queue_response");
    *(void **)&mhd.from_buffer = lazy_sym(h, MHD_SONAME, "MHD_create_response_from_buffer");
    *(void **)&mhd.destroy = lazy_sym(h, MHD_SONAME, "MHD_destroy_response");
    *(void **)&mhd.add_header = lazy_sym(h, MHD_SONAME, "MHD_add_response_header");
}

static void load(void) { pthread_once(&mhd_once, mhd_load); }

struct MHD_Daemon *MHD_start_daemon(unsigned int flags, uint16_t port, MHD_AcceptPolicyCallback apc, void *apc_cls,
                                    MHD_AccessHandlerCallback dh, void *dh_cls, ...)
{
    load();
    va_list ap;
    va_start(ap, dh_cls);
    struct MHD_Daemon *d = mhd.start_va(flags, port, apc, apc_cls, dh, dh_cls, ap);
    va_end(ap);
    return d;
}

void MHD_stop_daemon(struct MHD_Daemon *daemon)
{
    load();
    mhd.stop(daemon);
}

/* Every info type src/serve/ asks for (MHD_DAEMON_INFO_BIND_PORT) takes no
 * further argument, so none is forwarded. */
const union MHD_DaemonInfo *MHD_get_daemon_info(struct MHD_Daemon *daemon, enum MHD_DaemonInfoType info_type, ...)
{
    load();
    return mhd.daemon_info(daemon, info_type);
}

const char *MHD_lookup_connection_value(struct MHD_Connection *connection, enum MHD_ValueKind kind, const char *key)
{
    load();
    return mhd.lookup(connection, kind, key);
}

enum MHD_Result MHD_queue_response(struct MHD_Connection *connection, unsigned int status_code, struct MHD_Response *response)
{
    load();
    return mhd.queue(connection, status_code, response);
}

struct MHD_Response *MHD_create_response_from_buffer(size_t size, void *buffer, enum MHD_ResponseMemoryMode mode)
{
    load();
    return mhd.from_buffer(size, buffer, mode);
}

void MHD_destroy_response(struct MHD_Response *response)
{
    load();
    mhd.destroy(response);
}

enum MHD_Result MHD_add_response_header(struct MHD_Response *response, const char *header, const char *content)
{
    load();
    return mhd.add_header(response, header, content);
}
