/*
 * cfs/host.h - the host API table: everything a module may ask of the gateway core.
 *
 * The table is append-only (SQLite sqlite3ext.h). A module built against an older minor
 * sees a shorter table; one built against a newer minor is refused at load. Before
 * calling an entry appended after ABI 1.0, test CFS_HOST_HAS(api, entry).
 *
 * Threads: the core runs N worker loops (libevent event_base, one thread each). Every
 * callback documented "on loop" runs on that loop's thread. Nothing blocking may run on
 * a loop thread: send it to the work pool (work_submit).
 */
#ifndef CFS_HOST_H
#define CFS_HOST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "abi.h"
#include "errors.h"
#include "module.h"

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;             /* libevent */
typedef struct cfs_loop cfs_loop;         /* one worker loop */
typedef struct cfs_listener cfs_listener; /* a listening socket owned by the core */
typedef struct cfs_timer cfs_timer;
typedef struct cfs_metric cfs_metric;     /* a metric family */
typedef struct cfs_series cfs_series;     /* one labelled series of a family */
struct cfs_vfs_api;                       /* cfs/vfs.h */
struct cfs_lock_api;                      /* cfs/lock.h (namespace issue) */
struct cfs_identity_info;                 /* cfs/identity.h */

/* ---- logging ---------------------------------------------------------------- */
enum cfs_log_level {
    CFS_LOG_ERROR = 0,
    CFS_LOG_WARN = 1,
    CFS_LOG_NOTICE = 2,
    CFS_LOG_INFO = 3,
    CFS_LOG_DEBUG = 4,
};

/* ---- metrics ---------------------------------------------------------------- */
enum cfs_metric_type { CFS_METRIC_COUNTER = 1, CFS_METRIC_GAUGE, CFS_METRIC_HISTOGRAM };

#define CFS_METRIC_MAX_LABELS 4
struct cfs_metric_desc {
    uint32_t size;               /* sizeof(struct cfs_metric_desc) */
    enum cfs_metric_type type;
    const char *name;            /* e.g. "cfs_nfs3_ops_total"; [a-zA-Z_:][a-zA-Z0-9_:]* */
    const char *help;
    const char *const *labels;   /* NULL-terminated label names, at most 4; may be NULL */
    const double *buckets;       /* histogram upper bounds, ascending; NULL = defaults */
    size_t nbuckets;
};

/* ---- listeners -------------------------------------------------------------- */
/*
 * Called on the loop the core chose for the new connection, which now owns `fd`
 * (non-blocking, TCP_NODELAY set for TCP). `peer` is the client's address.
 */
typedef void (*cfs_accept_fn)(cfs_loop *loop, int fd, const struct sockaddr *peer,
                              socklen_t peerlen, void *arg);

enum cfs_listen_kind { CFS_LISTEN_TCP = 1, CFS_LISTEN_UDP = 2 };

/* ---- work pool -------------------------------------------------------------- */
typedef void (*cfs_work_fn)(void *arg);               /* on a pool thread */
typedef void (*cfs_done_fn)(void *arg, int status);   /* on the submitting loop */
typedef void (*cfs_loop_fn)(void *arg);               /* on a loop */
typedef int (*cfs_health_fn)(void *arg, char *detail, size_t len); /* cfs_health_state */

struct cfs_host_api {
    uint32_t size;      /* sizeof(struct cfs_host_api) of the host */
    uint16_t abi_major;
    uint16_t abi_minor;
    const char *version; /* gateway version string */

    /* -- logging: one line per call, prefixed with time, level and `tag` -- */
    void (*log)(int level, const char *tag, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
    void (*vlog)(int level, const char *tag, const char *fmt, va_list ap);
    bool (*log_enabled)(int level);

    /* -- configuration nodes (the module's group and below) -- */
    /* Apply defaults and every directive found in `section` to `conf` (may be NULL). */
    int (*conf_apply)(const struct cfs_conf_node *section, const struct cfs_directive *dirs,
                      void *conf, char *err, size_t errlen);
    /* Free strings the builtin setters stored in `conf`. */
    void (*conf_free)(const struct cfs_directive *dirs, void *conf);
    const struct cfs_conf_node *(*conf_member)(const struct cfs_conf_node *group,
                                               const char *name);
    int (*conf_count)(const struct cfs_conf_node *n);   /* list/array/group length */
    const struct cfs_conf_node *(*conf_elem)(const struct cfs_conf_node *n, int i);
    int (*conf_type)(const struct cfs_conf_node *n);    /* enum cfs_conf_type */
    const char *(*conf_name)(const struct cfs_conf_node *n);
    int (*conf_get_int)(const struct cfs_conf_node *n, int64_t *out);
    int (*conf_get_bool)(const struct cfs_conf_node *n, bool *out);
    const char *(*conf_get_string)(const struct cfs_conf_node *n);
    const char *(*conf_file)(const struct cfs_conf_node *n);
    int (*conf_line)(const struct cfs_conf_node *n);
    /* The core's state directory (for keys, handles' secrets, multipart staging). */
    const char *(*state_dir)(void);

    /* -- metrics (Prometheus); names are checked; families live until exit -- */
    cfs_metric *(*metric_register)(const struct cfs_metric_desc *desc);
    /* The series for these label values (as many as the family has labels). Cached. */
    cfs_series *(*metric_series)(cfs_metric *m, const char *const *label_values);
    void (*counter_add)(cfs_series *s, double v);
    void (*gauge_set)(cfs_series *s, double v);
    void (*gauge_add)(cfs_series *s, double v);
    void (*histogram_observe)(cfs_series *s, double v);

    /* -- health: named checks feeding /health and /ready -- */
    int (*health_register)(const char *name, cfs_health_fn fn, void *arg);
    void (*health_unregister)(const char *name);

    /* -- loops, listeners, timers -- */
    int (*loop_count)(void);
    cfs_loop *(*loop_get)(int i);
    cfs_loop *(*loop_current)(void);  /* NULL when not on a loop thread */
    struct event_base *(*loop_base)(cfs_loop *loop);
    int (*loop_index)(cfs_loop *loop);
    /* Run fn(arg) on `loop` (thread-safe; from any thread). */
    int (*loop_post)(cfs_loop *loop, cfs_loop_fn fn, void *arg);
    /*
     * Listen on "host:port" (":port" = all addresses, "[v6]:port"). The core owns the
     * socket: across a reload, a listener with an unchanged address keeps its fd.
     * TCP: accepted connections are spread over the loops. UDP: on_accept is called
     * once, on loop 0, with the bound socket; the module reads it itself.
     */
    cfs_listener *(*listen)(const char *module, const char *addr, enum cfs_listen_kind kind,
                            cfs_accept_fn on_accept, void *arg, char *err, size_t errlen);
    void (*listener_close)(cfs_listener *l);
    int (*listener_port)(cfs_listener *l);  /* the bound port (after ":0") */
    cfs_timer *(*timer_add)(cfs_loop *loop, uint64_t ms, bool repeat, cfs_loop_fn fn,
                            void *arg);
    void (*timer_del)(cfs_timer *t);        /* on the timer's loop */
    uint64_t (*now_ms)(void);               /* monotonic */

    /* -- blocking-work pool: fn on a pool thread, then done on `loop` -- */
    int (*work_submit)(cfs_loop *loop, cfs_work_fn fn, cfs_done_fn done, void *arg);

    /* -- service registry: modules find each other by name -- */
    int (*service_register)(const char *name, uint32_t version, const void *iface);
    const void *(*service_lookup)(const char *name, uint32_t min_version);
    void (*service_unregister)(const char *name);

    /* -- namespace: filled by the core when a backend is configured (cfs/vfs.h) -- */
    const struct cfs_vfs_api *vfs;
    /* -- lock/lease manager (cfs/lock.h) -- */
    const struct cfs_lock_api *locks;

    /* -- connections accounting for metrics and drain -- */
    void (*conn_opened)(const char *module);
    void (*conn_closed)(const char *module);

    /* -- identity: the users table of the core configuration (cfs/identity.h) --
     * Appended in ABI 1.0; test CFS_HOST_HAS(api, identity_by_name). Set out->size
     * before the call; the host fills what fits. 0, -ENOENT (no such user), -EINVAL. */
    int (*identity_by_access_key)(const char *access_key, struct cfs_identity_info *out);
    int (*identity_by_name)(const char *name, struct cfs_identity_info *out);
};

#ifdef __cplusplus
}
#endif
#endif
