/*
 * core/admin.h - the admin HTTP port: /health (liveness), /ready (readiness) and
 * /metrics (Prometheus text 0.0.4), served on one event_base (the main thread's) with
 * the streaming parser of cfs/http.h. GET and HEAD only; keep-alive and pipelining;
 * bounded connections, per-connection buffers and idle time.
 */
#ifndef CFS_ADMIN_H
#define CFS_ADMIN_H

#include <stddef.h>

struct event_base;

struct cfs__admin_hooks {
    /* Body of GET /health (always 200): a malloc'd JSON string the server frees. NULL
     * return = 500. NULL hook = cfs__health_json() (core/health.h). */
    char *(*health_json)(void *arg);
    /* Readiness: return > 0 when ready (200), 0 when not (503), < 0 on error (503).
     * *json (preset to NULL) may receive a malloc'd JSON body the server frees; when
     * left NULL the body is {"ready":true|false}. NULL hook = always ready. */
    int (*ready)(void *arg, char **json);
    void *arg;
    unsigned max_conns;       /* concurrent connections [64]; beyond: 503 and close */
    unsigned idle_timeout_ms; /* close a connection idle (or stalled) that long [30000] */
};

/*
 * Listen on `addr` ("127.0.0.1:8080", ":8080" = every IPv4 address, "[::1]:8080",
 * port 0 = any free port) and serve on `base`. `hooks` is copied (its `arg` must live
 * until cfs__admin_stop). Registers the metric cfs_admin_requests_total{path,code}.
 * 0, or a negative errno with a message in err; -EALREADY when already running.
 * Call from the thread that runs `base` (or before the loop runs).
 */
int cfs__admin_start(struct event_base *base, const char *addr,
                     const struct cfs__admin_hooks *hooks, char *err, size_t errlen);
/* Close the listener and every connection. On the base's thread, or with the loop
 * stopped. A no-op when not running. */
void cfs__admin_stop(void);
/* The bound port (useful after ":0"), or -1 when not running. */
int cfs__admin_port(void);

#endif
