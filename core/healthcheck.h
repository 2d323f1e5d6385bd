/*
 * core/healthcheck.h - backend health checks: the core probes every node of the backend
 * pool on an interval (the pool's ping op on an idle or fresh connection, e.g. a stat of
 * the export root) with a timeout, and keeps per node: up/down, last success time,
 * consecutive failures, last latency, last error.
 *
 * Threads: one monitor thread plus one probe thread per node, so that a node whose probe
 * hangs blocks neither the loops nor the other nodes' probes. A probe still running at
 * its timeout counts as a failure (-ETIMEDOUT), and as one more at every interval it keeps
 * hanging. After each probe the probe thread also runs cfs__pool_maintain_node() (idle
 * trimming, re-opening up to min_per_node).
 *
 * A node is up after one successful probe, down after `down_after` consecutive failures
 * (and before its first probe has answered). Up/down transitions log one line (tag
 * "health") and set the gauge cfs_backend_up{node}; every probe observes
 * cfs_backend_probe_seconds{node} (histogram) and failures count in
 * cfs_backend_probe_failures_total{node}.
 *
 * cfs__backend_health_start() also registers the check "backends" in the health registry
 * (health.h) with cfs__backend_health_check(): OK when every node is up, DEGRADED when some
 * are, FAILED when none is. cfs__backends_ready() is the readiness answer for /ready.
 * All functions are thread-safe and quick (they read the last results; they never probe).
 */
#ifndef CFS_HEALTHCHECK_H
#define CFS_HEALTHCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cfs__pool;

struct cfs__backend_health_conf {
    uint64_t interval_ms; /* 0 = default 5000 */
    uint64_t timeout_ms;  /* 0 = default 2000 */
    uint32_t down_after;  /* consecutive failures that mark a node down; 0 = default 2 */
};

struct cfs__backend_health {
    bool up;
    bool probed;                   /* at least one probe finished or timed out */
    bool probing;                  /* a probe is running now */
    uint64_t last_ok_ms;           /* cfs__clock_ms() of the last success (0 = never) */
    uint64_t last_probe_ms;        /* when the last probe finished or timed out */
    uint32_t consecutive_failures;
    uint64_t latency_us;           /* of the last probe that finished */
    int last_error;                /* 0 or the last probe's negative error */
};

/* Start probing every node of `pool` (which must outlive cfs__backend_health_stop()).
 * The first probes start at once. 0, -EALREADY, -ENOMEM or -errno of pthread_create. */
int cfs__backend_health_start(struct cfs__pool *pool, const struct cfs__backend_health_conf *conf);
/* Stop and join the threads. A probe thread stuck in the backend is waited for. */
void cfs__backend_health_stop(void);
/* Change interval/timeout/down_after (reload). */
void cfs__backend_health_set_conf(const struct cfs__backend_health_conf *conf);

/* Probe every node now and wait until each has answered or timed out (tests, start-up). */
void cfs__backend_health_probe_now(void);

/* The last results for node `i`: 0 or -ENOENT (no such node / not started). */
int cfs__backend_health_node(size_t i, struct cfs__backend_health *out);

/*
 * Readiness for /ready: true when health checks are not running (no backend pool) or at
 * least one node is up. `detail` (may be NULL) gets one short line per state, e.g.
 * "local: up (0.2 ms)" or "n2: down, 3 failures, last: Connection refused".
 */
bool cfs__backends_ready(char *detail, size_t len);
/* The "backends" health check (a cfs_health_fn; arg unused). */
int cfs__backend_health_check(void *arg, char *detail, size_t len);

#endif
