/*
 * core/locks.h - the core side of the lock and lease manager (the API itself, for
 * modules and core files alike, is struct cfs_lock_api in cfs/lock.h).
 *
 * Start-up: cfs__locks_init(&conf) once, then put cfs__locks_api() in the host API
 * table's `locks` slot. Lease breaks that are not acknowledged within break_timeout_ms
 * are forced by cfs__locks_tick(), which the core calls from a repeating timer (every
 * 250 ms to 1 s; it is cheap when no break is pending). break_leases also forces
 * overdue breaks it meets. Everything uses cfs__clock_ms() (fake clock in tests).
 *
 * Metrics: cfs_locks_held{kind=range|share|lease} (gauges),
 * cfs_lock_conflicts_total{kind=range|share|lease}, cfs_lease_breaks_total{result=
 * sent|acked|returned|revoked}.
 */
#ifndef CFS_LOCKS_H
#define CFS_LOCKS_H

#include <stddef.h>
#include <stdint.h>

#include <cfs/lock.h>

struct cfs__locks_conf {
    uint64_t break_timeout_ms; /* 0 = default 35000 (SMB's 35 s) */
    size_t max_entries;        /* locks + shares + leases; 0 = default 1000000 */
};

struct cfs__locks_stats {
    size_t objects, ranges, shares, leases, breaking;
};

/* 0 or -ENOMEM. Calling it again applies a new configuration (reload). */
int cfs__locks_init(const struct cfs__locks_conf *conf);
/* Drop every object and entry (no callbacks are called); tests and exit. */
void cfs__locks_shutdown(void);
/* Force lease breaks past their deadline; calls the callbacks. */
void cfs__locks_tick(void);
/* The same as a cfs_loop_fn for cfs__timer_add(loop, 500, true, cfs__locks_timer_fn, NULL). */
void cfs__locks_timer_fn(void *arg);
const struct cfs_lock_api *cfs__locks_api(void);
void cfs__locks_stats(struct cfs__locks_stats *out);

#endif
