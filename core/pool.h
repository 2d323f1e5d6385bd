/*
 * core/pool.h - the backend pool: per configured backend node (the seed's
 * `metadata_servers`, e.g. "local" for the posix backend), between min_per_node and
 * max_per_node connections/sessions, handed out by acquire/release, behind the node's
 * circuit breaker (breaker.h).
 *
 * What a "connection" is belongs to the backend, through struct cfs__pool_conn_ops: the
 * posix backend's is trivial (a token, maybe an O_PATH fd of the root), a Ceph backend's
 * would be a mounted ceph_mount_info. open/close/ping may block: call acquire only from
 * pool (work) threads, never from a loop thread.
 *
 * Contract:
 *   - cfs__pool_acquire() never hangs: it fails fast with CFS_ERETRY when the node's
 *     breaker is open, when the node's waiters queue is full (max_waiters), when no
 *     connection frees up within the timeout, or when a new connection cannot be opened.
 *     Waiters are served in FIFO order; a released connection goes straight to the
 *     oldest waiter.
 *   - Every connection acquired is given back exactly once with cfs__pool_release(conn,
 *     result), `result` being the backend call's result (0, -errno, CFS_E*): it is fed to
 *     the breaker (cfs__breaker_report) and a connection-level error (-ENOTCONN,
 *     -ECONNRESET, -ECONNABORTED, -EPIPE, -ESHUTDOWN, -ETIMEDOUT) closes the connection
 *     instead of returning it to the idle list.
 *   - cfs__pool_maintain() (called by the health checker on its interval, or by the
 *     owner) closes connections idle longer than idle_timeout_ms beyond min_per_node and
 *     re-opens up to min_per_node when the breaker is not open.
 *
 * Metrics, per node: cfs_backend_pool_in_use, cfs_backend_pool_idle,
 * cfs_backend_pool_waiters (gauges), cfs_backend_pool_wait_seconds (histogram of the time
 * acquire waited), cfs_backend_pool_rejected_total{reason=breaker|queue_full|timeout|
 * open_failed|closing}.
 */
#ifndef CFS_POOL_H
#define CFS_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "breaker.h"

struct cfs__pool_conn_ops {
    /* Open a connection to `node`; store the backend's handle in *handle. 0 or -errno. */
    int (*open)(void *ctx, const char *node, void **handle);
    /* Close a handle open returned (never fails). */
    void (*close)(void *ctx, void *handle);
    /* Cheap liveness probe on an open handle (e.g. stat of the root). 0 or -errno. May be
     * NULL: then the probe is "a connection can be opened". */
    int (*ping)(void *ctx, void *handle);
};

struct cfs__pool_conf {
    uint32_t min_per_node;       /* kept open (when the node is reachable); default 0 */
    uint32_t max_per_node;       /* 0 = default 16 */
    uint32_t max_waiters;        /* per node; 0 = default 64 */
    uint64_t acquire_timeout_ms; /* default for acquire(timeout 0); 0 = default 5000 */
    uint64_t idle_timeout_ms;    /* 0 = default 60000 */
    struct cfs__breaker_conf breaker;
};

struct cfs__pool_stats {
    uint32_t total;    /* open + being opened */
    uint32_t in_use;
    uint32_t idle;
    uint32_t waiters;
    uint64_t acquired; /* successful acquires since start */
    uint64_t rejected; /* acquires that failed */
    enum cfs__breaker_state breaker;
};

struct cfs__pool;
struct cfs__pool_conn;

/*
 * A pool over `nnodes` node names (copied; each must be non-empty and unique). It opens
 * min_per_node connections per node right away (failures are logged and retried by
 * maintain; they are not an error). `ops` and `ctx` must outlive the pool.
 * Returns 0 and *out, or a negative code with a message in err.
 */
int cfs__pool_new(const char *const *nodes, size_t nnodes, const struct cfs__pool_conf *conf,
                  const struct cfs__pool_conn_ops *ops, void *ctx, struct cfs__pool **out,
                  char *err, size_t errlen);
/* Close every idle connection and free the pool. Every connection must have been
 * released (checked by an assertion); waiters still queued get CFS_ERETRY. */
void cfs__pool_free(struct cfs__pool *pool);

size_t cfs__pool_node_count(const struct cfs__pool *pool);
const char *cfs__pool_node_name(const struct cfs__pool *pool, size_t node);
int cfs__pool_node_index(const struct cfs__pool *pool, const char *name); /* -ENOENT */
struct cfs__breaker *cfs__pool_node_breaker(struct cfs__pool *pool, size_t node);

/*
 * Get a connection to `node` (its index), or to any node when node < 0 (round-robin over
 * the nodes whose breaker is not open, preferring one with an idle connection). Waits at
 * most timeout_ms (0 = the configured acquire_timeout_ms). 0 and *out, or CFS_ERETRY.
 * With CFS__POOL_NOWAIT it never waits: -EWOULDBLOCK when it would have to (not counted
 * as a rejection; the caller takes another path).
 */
#define CFS__POOL_NOWAIT UINT64_MAX
int cfs__pool_acquire(struct cfs__pool *pool, int node, uint64_t timeout_ms,
                      struct cfs__pool_conn **out);
/* Give the connection back with the result of the call made on it. */
void cfs__pool_release(struct cfs__pool_conn *conn, int result);
/*
 * The call made on `conn` has run past its deadline: report a timeout (-ETIMEDOUT) to the
 * node's breaker now, once, from any thread (a watchdog), while the call may still be
 * stuck. The later cfs__pool_release() of the connection then reports nothing more and
 * closes it (a connection that hung is not trusted again).
 */
void cfs__pool_conn_expire(struct cfs__pool_conn *conn);
/*
 * Apply a new configuration in place (reload): limits, timeouts and the breakers'
 * settings (their state is kept). Connections beyond a lowered max_per_node are closed
 * as they are released. 0.
 */
int cfs__pool_set_conf(struct cfs__pool *pool, const struct cfs__pool_conf *conf);
/* The backend's handle of an acquired connection, and its node index. */
void *cfs__pool_conn_handle(const struct cfs__pool_conn *conn);
size_t cfs__pool_conn_node(const struct cfs__pool_conn *conn);

/*
 * Health probe of one node: ping an idle connection (or a newly opened one), bypassing
 * the breaker and the waiters queue. When every connection is busy and the node is at
 * max_per_node, returns 0 without probing (*busy = true): traffic is flowing. May block
 * as long as the backend's ping does: the health checker runs it on its own thread.
 */
int cfs__pool_ping(struct cfs__pool *pool, size_t node, bool *busy);

/* Trim idle connections beyond min_per_node, re-open up to min_per_node (may block). */
void cfs__pool_maintain(struct cfs__pool *pool);
void cfs__pool_maintain_node(struct cfs__pool *pool, size_t node);

int cfs__pool_node_stats(struct cfs__pool *pool, size_t node, struct cfs__pool_stats *out);

#endif
