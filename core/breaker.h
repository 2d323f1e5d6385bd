/*
 * core/breaker.h - the circuit breaker in front of one backend node.
 *
 * States (Nygard, "Release It!"; resilience4j; Envoy outlier detection):
 *
 *   CLOSED    calls pass. `failure_threshold` consecutive failures (or timeouts) -> OPEN.
 *   OPEN      every call fails fast with CFS_ERETRY, never blocking. After
 *             `open_duration_ms` the next cfs__breaker_allow() moves it to HALF_OPEN.
 *   HALF_OPEN at most `half_open_max` probe calls are in flight at a time; the others
 *             fail fast. A probe that succeeds -> CLOSED; one that fails -> OPEN again
 *             (for a fresh open_duration_ms).
 *
 * Usage, around every backend call made for node N:
 *
 *     int rc = cfs__breaker_allow(b);      // 0 or CFS_ERETRY (fail fast)
 *     if (rc < 0) return rc;               // protocol maps it to JUKEBOX/DELAY/503/...
 *     rc = do_the_call();
 *     cfs__breaker_report(b, rc);          // 0 / -errno / CFS_E*: classified below
 *
 * Every allow() that returned 0 must be followed by exactly one report() or cancel()
 * (cancel = the call was never made: gives a half-open probe slot back).
 *
 * Only results that say the node is unwell count as failures (cfs__breaker_is_failure):
 * -ETIMEDOUT, -EIO, -ENOTCONN, -ECONNREFUSED, -ECONNRESET, -ECONNABORTED, -EPIPE,
 * -ESHUTDOWN, -EHOSTDOWN, -EHOSTUNREACH, -ENETDOWN, -ENETUNREACH, -ENODEV, -ENXIO,
 * -EREMOTEIO and CFS_ESERVERFAULT. Ordinary answers (0, -ENOENT, -EACCES, -EEXIST,
 * -ESTALE, ...) count as successes: the node answered.
 *
 * Each transition logs one line (tag "breaker") and updates the metrics
 *   cfs_backend_breaker_state{node}            gauge: 0 closed, 1 open, 2 half-open
 *   cfs_backend_breaker_transitions_total{node,to}  counter
 *   cfs_backend_breaker_rejected_total{node}   calls failed fast
 * Thread-safe: one mutex per breaker; the clock is cfs__clock_ms() (fake in tests).
 */
#ifndef CFS_BREAKER_H
#define CFS_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

enum cfs__breaker_state {
    CFS__BREAKER_CLOSED = 0,
    CFS__BREAKER_OPEN = 1,
    CFS__BREAKER_HALF_OPEN = 2,
};

struct cfs__breaker_conf {
    uint32_t failure_threshold; /* consecutive failures that open it; 0 = default 5 */
    uint64_t open_duration_ms;  /* 0 = default 5000 */
    uint32_t half_open_max;     /* probes in flight while half-open; 0 = default 1 */
};

struct cfs__breaker_stats {
    enum cfs__breaker_state state;
    uint32_t consecutive_failures;
    uint32_t probes_in_flight;
    uint64_t opened_at_ms;      /* when it last opened (cfs__clock_ms) */
    uint64_t transitions;
    uint64_t rejected;
};

struct cfs__breaker;

/* A breaker for `node` (a name used in logs and metric labels; copied). NULL on ENOMEM. */
struct cfs__breaker *cfs__breaker_new(const char *node, const struct cfs__breaker_conf *conf);
void cfs__breaker_free(struct cfs__breaker *b);
/* Apply a new configuration (reload); the current state is kept. */
void cfs__breaker_set_conf(struct cfs__breaker *b, const struct cfs__breaker_conf *conf);

/* 0 = make the call (then report or cancel), CFS_ERETRY = open: fail fast. */
int cfs__breaker_allow(struct cfs__breaker *b);
/* The result of a call that allow() admitted. */
void cfs__breaker_report(struct cfs__breaker *b, int result);
/* An admitted call that was not made after all. */
void cfs__breaker_cancel(struct cfs__breaker *b);

/* Does `result` count as a node failure? */
bool cfs__breaker_is_failure(int result);

enum cfs__breaker_state cfs__breaker_state(struct cfs__breaker *b);
void cfs__breaker_stats(struct cfs__breaker *b, struct cfs__breaker_stats *out);
const char *cfs__breaker_node(const struct cfs__breaker *b);
const char *cfs__breaker_state_name(enum cfs__breaker_state s);

#endif
