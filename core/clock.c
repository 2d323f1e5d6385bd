/*
 * core/clock.c - the injectable monotonic clock (see clock.h): real CLOCK_MONOTONIC time,
 * or a fake time set by unit tests, plus a deadline wait that works with both.
 */
#include "clock.h"

#include <errno.h>
#include <stdatomic.h>
#include <time.h>

#define FAKE_SLICE_MS 2 /* real sleep per wait while a fake clock is installed */

static atomic_bool g_fake_on;
static _Atomic uint64_t g_fake_ms;

static uint64_t real_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t cfs__clock_ms(void)
{
    if (atomic_load_explicit(&g_fake_on, memory_order_acquire))
        return atomic_load_explicit(&g_fake_ms, memory_order_acquire);
    return real_ms();
}

void cfs__clock_fake_set(uint64_t ms)
{
    atomic_store(&g_fake_ms, ms);
    atomic_store(&g_fake_on, true);
}

void cfs__clock_fake_advance(uint64_t ms)
{
    atomic_fetch_add(&g_fake_ms, ms);
}

void cfs__clock_fake_off(void)
{
    atomic_store(&g_fake_on, false);
}

bool cfs__clock_is_fake(void)
{
    return atomic_load(&g_fake_on);
}

int cfs__clock_cond_init(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    int rc;

    rc = pthread_condattr_init(&attr);
    if (rc != 0)
        return -rc;
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
    return -rc;
}

static void add_ms(struct timespec *ts, uint64_t ms)
{
    ts->tv_sec += (time_t)(ms / 1000u);
    ts->tv_nsec += (long)(ms % 1000u) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

bool cfs__clock_cond_wait(pthread_cond_t *cond, pthread_mutex_t *mutex, uint64_t deadline_ms)
{
    struct timespec ts;
    uint64_t now = cfs__clock_ms();
    uint64_t wait_ms;

    if (now >= deadline_ms)
        return true;
    wait_ms = deadline_ms - now;
    if (cfs__clock_is_fake())
        wait_ms = FAKE_SLICE_MS;
    else if (wait_ms > 3600u * 1000u)
        wait_ms = 3600u * 1000u; /* keep the timespec sane; the caller loops */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    add_ms(&ts, wait_ms);
    (void)pthread_cond_timedwait(cond, mutex, &ts);
    return cfs__clock_ms() >= deadline_ms;
}
