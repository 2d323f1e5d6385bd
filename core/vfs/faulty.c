/*
 * core/vfs/faulty.c - the `faulty` backend: wraps another backend ("faulty:posix") and,
 * on command (cfs__vfs_fault_set), fails selected ops with a given error, delays them
 * or blocks them until the fault is cleared. For tests of the breaker, the pool,
 * health checks and the protocols' retry answers. Probe (health) is op bit 0.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"

struct fx {
    const struct cfs__vfs_backend *inner;
    void *ictx;
    pthread_mutex_t lock;
    pthread_cond_t cv;
    bool active;
    struct cfs__fault f;
    uint64_t gen, selected, calls;
};

static int fx_open(cfs_export *exp, const char *path, const char *spec, void **ctx)
{
    const char *in = spec && *spec ? spec : "posix";
    const char *colon = strchr(in, ':');
    size_t len = colon ? (size_t)(colon - in) : strlen(in);
    const struct cfs__vfs_backend *be = cfs__vfs_backend_find(in, len);
    if (!be || be == &cfs__faulty_backend)
        return -ENOENT;
    struct fx *fx = calloc(1, sizeof(*fx));
    if (!fx)
        return -ENOMEM;
    fx->inner = be;
    int r = be->export_open(exp, path, colon ? colon + 1 : NULL, &fx->ictx);
    if (r < 0) {
        free(fx);
        return r;
    }
    pthread_mutex_init(&fx->lock, NULL);
    pthread_cond_init(&fx->cv, NULL);
    *ctx = fx;
    return 0;
}

static void fx_close(void *ctx)
{
    struct fx *fx = ctx;
    pthread_mutex_lock(&fx->lock);
    fx->active = false;
    fx->gen++;
    pthread_cond_broadcast(&fx->cv);
    pthread_mutex_unlock(&fx->lock);
    fx->inner->export_close(fx->ictx);
    pthread_cond_destroy(&fx->cv);
    pthread_mutex_destroy(&fx->lock);
    free(fx);
}

/* Decide for one call: 0 = run it, else the error to return. */
static int fx_inject(struct fx *fx, int bit)
{
    struct cfs__fault f;
    bool inject = false;
    pthread_mutex_lock(&fx->lock);
    fx->calls++;
    if (fx->active && (fx->f.op_mask == 0 || (fx->f.op_mask & (1ull << bit)))) {
        fx->selected++;
        inject = fx->f.every <= 1 || fx->selected % fx->f.every == 0;
    }
    f = fx->f;
    if (inject && f.hang) {
        uint64_t gen = fx->gen;
        while (fx->gen == gen)
            pthread_cond_wait(&fx->cv, &fx->lock);
    }
    pthread_mutex_unlock(&fx->lock);
    if (!inject)
        return 0;
    if (f.delay_ms) {
        struct timespec ts = { f.delay_ms / 1000, (long)(f.delay_ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
    }
    return f.error;
}

static int fx_exec(void *ctx, struct cfs_vfs_op *op)
{
    struct fx *fx = ctx;
    int r = fx_inject(fx, op->op);
    return r ? r : fx->inner->exec(fx->ictx, op);
}

static int fx_root_fh(void *ctx, struct cfs_fh *out)
{
    struct fx *fx = ctx;
    return fx->inner->root_fh(fx->ictx, out);
}

static void fx_release(void *ctx, struct cfs_vfs_op *op)
{
    struct fx *fx = ctx;
    fx->inner->release(fx->ictx, op);
}

static int fx_probe(void *ctx)
{
    struct fx *fx = ctx;
    int r = fx_inject(fx, 0);
    return r ? r : fx->inner->probe ? fx->inner->probe(fx->ictx) : 0;
}

static void fx_flush(void *ctx)
{
    struct fx *fx = ctx;
    if (fx->inner->flush)
        fx->inner->flush(fx->ictx);
}

const struct cfs__vfs_backend cfs__faulty_backend = {
    .name = "faulty",
    .export_open = fx_open,
    .export_close = fx_close,
    .root_fh = fx_root_fh,
    .exec = fx_exec,
    .release = fx_release,
    .probe = fx_probe,
    .flush = fx_flush,
};

int cfs__vfs_fault_set(cfs_export *exp, const struct cfs__fault *fault)
{
    if (!exp)
        return -EINVAL;
    if (cfs__export_backend(exp) != &cfs__faulty_backend)
        return -EINVAL;
    struct fx *fx = cfs__export_ctx(exp);
    pthread_mutex_lock(&fx->lock);
    fx->active = fault != NULL;
    if (fault)
        fx->f = *fault;
    else
        memset(&fx->f, 0, sizeof(fx->f));
    fx->selected = 0;
    fx->gen++;
    pthread_cond_broadcast(&fx->cv);
    pthread_mutex_unlock(&fx->lock);
    return 0;
}

uint64_t cfs__vfs_fault_calls(cfs_export *exp)
{
    if (!exp || cfs__export_backend(exp) != &cfs__faulty_backend)
        return 0;
    struct fx *fx = cfs__export_ctx(exp);
    pthread_mutex_lock(&fx->lock);
    uint64_t n = fx->calls;
    pthread_mutex_unlock(&fx->lock);
    return n;
}
