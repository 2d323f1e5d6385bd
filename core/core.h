/*
 * core/core.h - internals shared across the host's files (cfs__ names): logging, the
 * worker loops, the blocking-work pool, timers and the monotonic clock.
 */
#ifndef CFS_CORE_H
#define CFS_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include <cfs/host.h>

/* ---- log.c ---- */
void cfs__log(int level, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cfs__vlog(int level, const char *tag, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
bool cfs__log_enabled(int level);
void cfs__log_set_level(int level);
int cfs__log_level(void);
int cfs__log_parse_level(const char *s); /* -1 if unknown */
int cfs__log_set_file(const char *path); /* NULL or "" or "stderr" = stderr */

#define CFS_LOG_E(tag, ...) cfs__log(CFS_LOG_ERROR, tag, __VA_ARGS__)
#define CFS_LOG_W(tag, ...) cfs__log(CFS_LOG_WARN, tag, __VA_ARGS__)
#define CFS_LOG_N(tag, ...) cfs__log(CFS_LOG_NOTICE, tag, __VA_ARGS__)
#define CFS_LOG_I(tag, ...) cfs__log(CFS_LOG_INFO, tag, __VA_ARGS__)
#define CFS_LOG_D(tag, ...)                                                             \
    do {                                                                                \
        if (cfs__log_enabled(CFS_LOG_DEBUG))                                            \
            cfs__log(CFS_LOG_DEBUG, tag, __VA_ARGS__);                                  \
    } while (0)

/* ---- loop.c: worker loops, work pool, timers ---- */
uint64_t cfs__now_ms(void);   /* CLOCK_MONOTONIC in ms */
uint64_t cfs__now_us(void);
/* Start `nloops` worker threads (0 = number of cores) and `nworkers` pool threads. */
int cfs__loops_start(int nloops, int nworkers);
/* Stop and join every loop and pool thread (pending work is finished first). */
void cfs__loops_stop(void);
int cfs__loop_count(void);
cfs_loop *cfs__loop_get(int i);
cfs_loop *cfs__loop_current(void);
cfs_loop *cfs__loop_next(void); /* round-robin, for spreading connections */
struct event_base *cfs__loop_base(cfs_loop *loop);
int cfs__loop_index(cfs_loop *loop);
int cfs__loop_post(cfs_loop *loop, cfs_loop_fn fn, void *arg);
/* Run fn on every loop and wait until all have run it (not from a loop thread). */
void cfs__loop_post_all_wait(cfs_loop_fn fn, void *arg);
int cfs__work_submit(cfs_loop *loop, cfs_work_fn fn, cfs_done_fn done, void *arg);
cfs_timer *cfs__timer_add(cfs_loop *loop, uint64_t ms, bool repeat, cfs_loop_fn fn, void *arg);
void cfs__timer_del(cfs_timer *t);

/* ---- host.c: the API table handed to modules ---- */
const struct cfs_host_api *cfs__host_api(void);
struct cfs_host_api *cfs__host_api_mut(void); /* for filling the vfs/locks slots */
void cfs__host_set_state_dir(const char *dir);

#endif
