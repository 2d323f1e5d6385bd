/*
 * core/loop.c - the worker loops (one libevent event_base per thread), cross-thread
 * posting, timers, and the blocking-work pool whose completions run back on the
 * submitting loop.
 */
#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core.h"

#define LOOP_MAGIC 0x4c4f4f50u

struct post_item {
    struct post_item *next;
    cfs_loop_fn fn;
    void *arg;
};

struct cfs_loop {
    unsigned magic;
    int index;
    struct event_base *base;
    pthread_t thread;
    pthread_mutex_t lock;
    struct post_item *head, *tail; /* posted functions, FIFO */
    struct event *post_ev;
    atomic_bool running;
};

struct cfs_timer {
    cfs_loop *loop;
    struct event *ev;
    cfs_loop_fn fn;
    void *arg;
    bool repeat;
};

struct work_item {
    struct work_item *next;
    cfs_loop *loop;
    cfs_work_fn fn;
    cfs_done_fn done;
    void *arg;
};

static struct {
    int nloops;
    cfs_loop *loops;
    atomic_uint next;
    int nworkers;
    pthread_t *workers;
    pthread_mutex_t wlock;
    pthread_cond_t wcond;
    struct work_item *whead, *wtail;
    bool wstop;
} L = { .wlock = PTHREAD_MUTEX_INITIALIZER, .wcond = PTHREAD_COND_INITIALIZER };

static _Thread_local cfs_loop *current_loop;

uint64_t cfs__now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t cfs__now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void run_posted(evutil_socket_t fd, short what, void *arg)
{
    cfs_loop *loop = arg;
    struct post_item *it;

    pthread_mutex_lock(&loop->lock);
    it = loop->head;
    loop->head = loop->tail = NULL;
    pthread_mutex_unlock(&loop->lock);
    while (it) {
        struct post_item *next = it->next;
        it->fn(it->arg);
        free(it);
        it = next;
    }
}

static void *loop_main(void *arg)
{
    cfs_loop *loop = arg;

    current_loop = loop;
    event_base_loop(loop->base, EVLOOP_NO_EXIT_ON_EMPTY);
    /* Run what was posted before the stop so no completion is lost. */
    run_posted(-1, 0, loop);
    current_loop = NULL;
    return NULL;
}

static void work_complete(void *arg)
{
    struct work_item *w = arg;

    w->done(w->arg, 0);
    free(w);
}

static void *worker_main(void *arg)
{
    (void)arg;
    for (;;) {
        struct work_item *w;

        pthread_mutex_lock(&L.wlock);
        while (!L.whead && !L.wstop)
            pthread_cond_wait(&L.wcond, &L.wlock);
        w = L.whead;
        if (w) {
            L.whead = w->next;
            if (!L.whead)
                L.wtail = NULL;
        }
        pthread_mutex_unlock(&L.wlock);
        if (!w)
            return NULL; /* stopping and the queue is empty */
        w->fn(w->arg);
        if (w->done) {
            /* Hand the item itself to the loop: it calls done and frees it. */
            if (cfs__loop_post(w->loop, work_complete, w) == 0)
                continue;
            /* The loop is gone (shutdown): complete here rather than lose it. */
            w->done(w->arg, 0);
        }
        free(w);
    }
}


int cfs__loops_start(int nloops, int nworkers)
{
    static bool threads_ready;

    if (!threads_ready) {
        if (evthread_use_pthreads() != 0)
            return -ENOSYS;
        threads_ready = true;
    }
    if (nloops <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        nloops = n > 0 ? (int)n : 1;
    }
    if (nloops > 256)
        nloops = 256;
    if (nworkers <= 0)
        nworkers = nloops * 4 < 8 ? 8 : nloops * 4;
    L.loops = calloc((size_t)nloops, sizeof(*L.loops));
    L.workers = calloc((size_t)nworkers, sizeof(*L.workers));
    if (!L.loops || !L.workers)
        goto fail;
    L.wstop = false;
    for (int i = 0; i < nloops; i++) {
        cfs_loop *loop = &L.loops[i];

        loop->magic = LOOP_MAGIC;
        loop->index = i;
        pthread_mutex_init(&loop->lock, NULL);
        loop->base = event_base_new();
        if (!loop->base)
            goto fail;
        loop->post_ev = event_new(loop->base, -1, EV_PERSIST, run_posted, loop);
        if (!loop->post_ev)
            goto fail;
        atomic_store(&loop->running, true);
        if (pthread_create(&loop->thread, NULL, loop_main, loop) != 0) {
            atomic_store(&loop->running, false);
            goto fail;
        }
        L.nloops = i + 1;
    }
    for (int i = 0; i < nworkers; i++) {
        if (pthread_create(&L.workers[i], NULL, worker_main, NULL) != 0)
            goto fail;
        L.nworkers = i + 1;
    }
    CFS_LOG_I("core", "%d worker loops, %d pool threads", L.nloops, L.nworkers);
    return 0;
fail:
    cfs__loops_stop();
    return -ENOMEM;
}

void cfs__loops_stop(void)
{
    /* Pool first: its completions still need the loops. */
    pthread_mutex_lock(&L.wlock);
    L.wstop = true;
    pthread_cond_broadcast(&L.wcond);
    pthread_mutex_unlock(&L.wlock);
    for (int i = 0; i < L.nworkers; i++)
        pthread_join(L.workers[i], NULL);
    L.nworkers = 0;
    for (int i = 0; L.loops && i < L.nloops; i++) {
        cfs_loop *loop = &L.loops[i];

        if (atomic_exchange(&loop->running, false)) {
            event_base_loopexit(loop->base, NULL);
            pthread_join(loop->thread, NULL);
        }
    }
    for (int i = 0; L.loops && i < L.nloops; i++) {
        cfs_loop *loop = &L.loops[i];

        if (loop->post_ev)
            event_free(loop->post_ev);
        if (loop->base)
            event_base_free(loop->base);
        pthread_mutex_destroy(&loop->lock);
    }
    free(L.loops);
    free(L.workers);
    L.loops = NULL;
    L.workers = NULL;
    L.nloops = 0;
}

int cfs__loop_count(void)
{
    return L.nloops;
}

cfs_loop *cfs__loop_get(int i)
{
    return i >= 0 && i < L.nloops ? &L.loops[i] : NULL;
}

cfs_loop *cfs__loop_current(void)
{
    return current_loop;
}

cfs_loop *cfs__loop_next(void)
{
    if (L.nloops == 0)
        return NULL;
    return &L.loops[atomic_fetch_add(&L.next, 1) % (unsigned)L.nloops];
}

struct event_base *cfs__loop_base(cfs_loop *loop)
{
    return loop ? loop->base : NULL;
}

int cfs__loop_index(cfs_loop *loop)
{
    return loop ? loop->index : -1;
}

int cfs__loop_post(cfs_loop *loop, cfs_loop_fn fn, void *arg)
{
    struct post_item *it;

    if (!loop || !fn)
        return -EINVAL;
    if (!atomic_load(&loop->running))
        return -ESHUTDOWN;
    it = malloc(sizeof(*it));
    if (!it)
        return -ENOMEM;
    it->next = NULL;
    it->fn = fn;
    it->arg = arg;
    pthread_mutex_lock(&loop->lock);
    bool was_empty = loop->head == NULL;
    if (loop->tail)
        loop->tail->next = it;
    else
        loop->head = it;
    loop->tail = it;
    pthread_mutex_unlock(&loop->lock);
    /* A non-empty queue has an activation pending that has not yet taken the list
     * (it swaps it out under the lock), so it will run this item too: one wake-up
     * (an eventfd write) per batch instead of per item. */
    if (was_empty)
        event_active(loop->post_ev, EV_READ, 0);
    return 0;
}

struct wait_all {
    pthread_mutex_t m;
    pthread_cond_t c;
    int left;
    cfs_loop_fn fn;
    void *arg;
};

static void wait_all_one(void *arg)
{
    struct wait_all *w = arg;

    w->fn(w->arg);
    pthread_mutex_lock(&w->m);
    if (--w->left == 0)
        pthread_cond_signal(&w->c);
    pthread_mutex_unlock(&w->m);
}

void cfs__loop_post_all_wait(cfs_loop_fn fn, void *arg)
{
    struct wait_all w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, fn, arg };

    pthread_mutex_lock(&w.m);
    for (int i = 0; i < L.nloops; i++)
        if (cfs__loop_post(&L.loops[i], wait_all_one, &w) == 0)
            w.left++;
    while (w.left > 0)
        pthread_cond_wait(&w.c, &w.m);
    pthread_mutex_unlock(&w.m);
}

int cfs__work_submit(cfs_loop *loop, cfs_work_fn fn, cfs_done_fn done, void *arg)
{
    struct work_item *w;

    if (!fn || (done && !loop))
        return -EINVAL;
    if (L.nworkers == 0)
        return -ESHUTDOWN;
    w = malloc(sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->next = NULL;
    w->loop = loop;
    w->fn = fn;
    w->done = done;
    w->arg = arg;
    pthread_mutex_lock(&L.wlock);
    if (L.wtail)
        L.wtail->next = w;
    else
        L.whead = w;
    L.wtail = w;
    pthread_cond_signal(&L.wcond);
    pthread_mutex_unlock(&L.wlock);
    return 0;
}

static void timer_fire(evutil_socket_t fd, short what, void *arg)
{
    cfs_timer *t = arg;
    bool repeat = t->repeat;

    t->fn(t->arg);
    (void)repeat; /* a one-shot timer stays allocated until timer_del */
}

cfs_timer *cfs__timer_add(cfs_loop *loop, uint64_t ms, bool repeat, cfs_loop_fn fn, void *arg)
{
    cfs_timer *t;
    struct timeval tv = { .tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000 };

    if (!loop || !fn)
        return NULL;
    t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->loop = loop;
    t->fn = fn;
    t->arg = arg;
    t->repeat = repeat;
    t->ev = event_new(loop->base, -1, repeat ? EV_PERSIST : 0, timer_fire, t);
    if (!t->ev || event_add(t->ev, &tv) != 0) {
        if (t->ev)
            event_free(t->ev);
        free(t);
        return NULL;
    }
    return t;
}

void cfs__timer_del(cfs_timer *t)
{
    if (!t)
        return;
    event_free(t->ev);
    free(t);
}
