/*
 * core/clock.h - the injectable monotonic clock of the namespace subsystems (breaker,
 * pool, health checks, locks/leases, quotas).
 *
 * cfs__clock_ms() is CLOCK_MONOTONIC in milliseconds, unless a test has installed a fake
 * clock with cfs__clock_fake_set(); then it returns the fake value, which only moves when
 * the test calls cfs__clock_fake_set()/cfs__clock_fake_advance(). Everything here is
 * thread-safe.
 *
 * Code that waits for a deadline on a condition variable uses cfs__clock_cond_wait(): in
 * real mode it is pthread_cond_timedwait on the monotonic clock (the cond must come from
 * cfs__clock_cond_init()); in fake mode it sleeps at most a short real slice so that the
 * caller re-reads the fake clock and notices a deadline the test moved past.
 */
#ifndef CFS_CLOCK_H
#define CFS_CLOCK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* Monotonic milliseconds (or the fake clock when one is installed). */
uint64_t cfs__clock_ms(void);

/* Test hooks: install the fake clock at `ms`, move it forward, go back to the real one. */
void cfs__clock_fake_set(uint64_t ms);
void cfs__clock_fake_advance(uint64_t ms);
void cfs__clock_fake_off(void);
bool cfs__clock_is_fake(void);

/* Initialise `cond` so that cfs__clock_cond_wait() can wait on the monotonic clock. */
int cfs__clock_cond_init(pthread_cond_t *cond);

/*
 * Wait on cond/mutex (held) until signalled or cfs__clock_ms() >= deadline_ms (spurious
 * wake-ups possible: the caller loops and re-checks its predicate and the deadline).
 * Returns true once the deadline has passed.
 */
bool cfs__clock_cond_wait(pthread_cond_t *cond, pthread_mutex_t *mutex, uint64_t deadline_ms);

#endif
