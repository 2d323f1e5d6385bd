/*
 * core/pool.c - backend pool: per-node connections between min and max, a bounded FIFO
 * of waiters with a timeout, the node's circuit breaker in front (see pool.h).
 */
#include "pool.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cfs/errors.h>

#include "clock.h"
#include "core.h"
#include "metrics.h"

#define POOL_MAGIC 0x504f4f4cu /* "POOL" */
#define CONN_MAGIC 0x434f4e4eu /* "CONN" */

enum reject_reason { RJ_BREAKER, RJ_QUEUE_FULL, RJ_TIMEOUT, RJ_OPEN_FAILED, RJ_CLOSING, RJ__N };
static const char *const reject_names[RJ__N] = {"breaker", "queue_full", "timeout",
                                                "open_failed", "closing"};

struct pool_node;

struct cfs__pool_conn {
    uint32_t magic;
    struct pool_node *node;
    void *handle;
    struct cfs__pool_conn *next; /* idle list */
    uint64_t idle_since;
    atomic_bool expired;         /* cfs__pool_conn_expire: timeout already reported */
};

struct waiter {
    struct waiter *next;
    pthread_cond_t cond;
    struct cfs__pool_conn *conn; /* handed over by release */
    bool may_open;               /* a slot was freed for this waiter */
};

struct pool_node {
    struct cfs__pool *pool;
    size_t index;
    char *name;
    struct cfs__breaker *br;
    pthread_mutex_t mu;
    pthread_cond_t drained;      /* for free(): waiters gone */
    struct cfs__pool_conn *idle; /* LIFO: the warmest first */
    uint32_t total, in_use, nidle, nwaiters;
    struct waiter *whead, *wtail;
    uint64_t acquired, rejected;
    cfs_series *m_in_use, *m_idle, *m_waiters, *m_wait;
    cfs_series *m_rejected[RJ__N];
    uint64_t warn_ms, unwarned;  /* refusals: one warning a second at most (under mu) */
};

struct cfs__pool {
    uint32_t magic;
    struct cfs__pool_conf conf;
    const struct cfs__pool_conn_ops *ops;
    void *ctx;
    atomic_uint rr;
    atomic_bool closing;
    size_t nnodes;
    struct pool_node nodes[];
};

static void fix_conf(struct cfs__pool_conf *c)
{
    if (c->max_per_node == 0)
        c->max_per_node = 16;
    if (c->min_per_node > c->max_per_node)
        c->min_per_node = c->max_per_node;
    if (c->max_waiters == 0)
        c->max_waiters = 64;
    if (c->acquire_timeout_ms == 0)
        c->acquire_timeout_ms = 5000;
    if (c->idle_timeout_ms == 0)
        c->idle_timeout_ms = 60000;
}

static void node_metrics_init(struct pool_node *n)
{
    static const char *const l_node[] = {"node", NULL};
    static const char *const l_reason[] = {"node", "reason", NULL};
    static const double wait_buckets[] = {0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05,
                                          0.1,    0.5,    1,     5,     10};
    static const struct cfs_metric_desc d_in_use = {
        .size = sizeof(d_in_use), .type = CFS_METRIC_GAUGE, .name = "cfs_backend_pool_in_use",
        .help = "Backend connections in use per node", .labels = l_node};
    static const struct cfs_metric_desc d_idle = {
        .size = sizeof(d_idle), .type = CFS_METRIC_GAUGE, .name = "cfs_backend_pool_idle",
        .help = "Idle backend connections per node", .labels = l_node};
    static const struct cfs_metric_desc d_waiters = {
        .size = sizeof(d_waiters), .type = CFS_METRIC_GAUGE,
        .name = "cfs_backend_pool_waiters",
        .help = "Callers waiting for a backend connection per node", .labels = l_node};
    static const struct cfs_metric_desc d_wait = {
        .size = sizeof(d_wait), .type = CFS_METRIC_HISTOGRAM,
        .name = "cfs_backend_pool_wait_seconds",
        .help = "Time spent waiting for a backend connection", .labels = l_node,
        .buckets = wait_buckets, .nbuckets = sizeof(wait_buckets) / sizeof(wait_buckets[0])};
    static const struct cfs_metric_desc d_rej = {
        .size = sizeof(d_rej), .type = CFS_METRIC_COUNTER,
        .name = "cfs_backend_pool_rejected_total",
        .help = "Backend connection requests that failed, by reason", .labels = l_reason};
    const char *v[2] = {n->name, NULL};
    cfs_metric *m;

    n->m_in_use = cfs__metric_series(cfs__metric_register(&d_in_use), v);
    n->m_idle = cfs__metric_series(cfs__metric_register(&d_idle), v);
    n->m_waiters = cfs__metric_series(cfs__metric_register(&d_waiters), v);
    n->m_wait = cfs__metric_series(cfs__metric_register(&d_wait), v);
    m = cfs__metric_register(&d_rej);
    for (int i = 0; i < RJ__N; i++) {
        v[1] = reject_names[i];
        n->m_rejected[i] = cfs__metric_series(m, v);
    }
}

/* With n->mu held. */
static void node_gauges(struct pool_node *n)
{
    cfs__gauge_set(n->m_in_use, n->in_use);
    cfs__gauge_set(n->m_idle, n->nidle);
    cfs__gauge_set(n->m_waiters, n->nwaiters);
}

/* A call refused (the caller answers "retry later": NFS3ERR_JUKEBOX, 503 SlowDown...).
 * Counted always; said at warn at most once a second per node, with the count since. */
static void reject(struct pool_node *n, enum reject_reason r)
{
    uint64_t now = cfs__clock_ms();

    n->rejected++;
    cfs__counter_add(n->m_rejected[r], 1);
    n->unwarned++;
    if (r == RJ_CLOSING || (n->warn_ms != 0 && now - n->warn_ms < 1000))
        return;
    CFS_LOG_W("pool", "node %s: call refused (%s), the client is told to retry; %" PRIu64
                      " refused since the last such message",
              n->name, reject_names[r], n->unwarned);
    n->warn_ms = now;
    n->unwarned = 0;
}

static struct waiter *waiter_pop(struct pool_node *n)
{
    struct waiter *w = n->whead;

    if (w != NULL) {
        n->whead = w->next;
        if (n->whead == NULL)
            n->wtail = NULL;
        w->next = NULL;
        n->nwaiters--;
    }
    return w;
}

static void waiter_remove(struct pool_node *n, struct waiter *w)
{
    struct waiter **pp, *prev = NULL;

    for (pp = &n->whead; *pp != NULL; prev = *pp, pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            if (n->wtail == w)
                n->wtail = prev;
            n->nwaiters--;
            if (n->nwaiters == 0)
                pthread_cond_broadcast(&n->drained);
            return;
        }
    }
}

/* Open one connection for n; the slot (n->total) is already reserved. n->mu not held. */
static int conn_open(struct pool_node *n, struct cfs__pool_conn **out)
{
    struct cfs__pool *pool = n->pool;
    struct cfs__pool_conn *c = calloc(1, sizeof(*c));
    void *h = NULL;
    int rc;

    if (c == NULL)
        return -ENOMEM;
    rc = pool->ops->open(pool->ctx, n->name, &h);
    if (rc < 0) {
        free(c);
        cfs__log(CFS_LOG_WARN, "pool", "node %s: opening a connection failed: %s", n->name,
                 rc == CFS_ERETRY ? "retry later" : strerror(-rc));
        return rc;
    }
    c->magic = CONN_MAGIC;
    c->node = n;
    c->handle = h;
    *out = c;
    return 0;
}

static void conn_close(struct pool_node *n, struct cfs__pool_conn *c)
{
    n->pool->ops->close(n->pool->ctx, c->handle);
    c->magic = 0;
    free(c);
}

/* A slot was freed (a connection closed or an open failed): let the oldest waiter open. */
static void slot_freed(struct pool_node *n)
{
    struct waiter *w = waiter_pop(n);

    if (w != NULL) {
        w->may_open = true;
        pthread_cond_signal(&w->cond);
    }
}

int cfs__pool_new(const char *const *nodes, size_t nnodes, const struct cfs__pool_conf *conf,
                  const struct cfs__pool_conn_ops *ops, void *ctx, struct cfs__pool **out,
                  char *err, size_t errlen)
{
    struct cfs__pool *pool = NULL;
    size_t i, j;
    int rc = 0;

    if (nnodes == 0 || ops == NULL || ops->open == NULL || ops->close == NULL) {
        snprintf(err, errlen, "backend pool: expected at least one node and open/close ops");
        return -EINVAL;
    }
    for (i = 0; i < nnodes; i++) {
        if (nodes[i] == NULL || nodes[i][0] == '\0') {
            snprintf(err, errlen, "backend pool: node %zu: expected a name, found none", i);
            return -EINVAL;
        }
        for (j = 0; j < i; j++) {
            if (strcmp(nodes[i], nodes[j]) == 0) {
                snprintf(err, errlen, "backend pool: node \"%s\" is listed twice", nodes[i]);
                return -EINVAL;
            }
        }
    }
    pool = calloc(1, sizeof(*pool) + nnodes * sizeof(pool->nodes[0]));
    if (pool == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    pool->magic = POOL_MAGIC;
    if (conf != NULL)
        pool->conf = *conf;
    fix_conf(&pool->conf);
    pool->ops = ops;
    pool->ctx = ctx;
    for (i = 0; i < nnodes; i++) {
        struct pool_node *n = &pool->nodes[i];

        n->pool = pool;
        n->index = i;
        n->name = strdup(nodes[i]);
        n->br = n->name != NULL ? cfs__breaker_new(n->name, &pool->conf.breaker) : NULL;
        if (n->br == NULL || pthread_mutex_init(&n->mu, NULL) != 0 ||
            pthread_cond_init(&n->drained, NULL) != 0) {
            free(n->name);
            cfs__breaker_free(n->br);
            rc = -ENOMEM;
            goto out;
        }
        node_metrics_init(n);
        pool->nnodes++;
    }
    cfs__pool_maintain(pool);
    *out = pool;
    pool = NULL;
out:
    if (rc < 0)
        snprintf(err, errlen, "backend pool: %s", strerror(-rc));
    if (pool != NULL)
        cfs__pool_free(pool);
    return rc;
}

void cfs__pool_free(struct cfs__pool *pool)
{
    if (pool == NULL)
        return;
    assert(pool->magic == POOL_MAGIC);
    atomic_store(&pool->closing, true);
    for (size_t i = 0; i < pool->nnodes; i++) {
        struct pool_node *n = &pool->nodes[i];
        struct cfs__pool_conn *c;

        pthread_mutex_lock(&n->mu);
        for (struct waiter *w = n->whead; w != NULL; w = w->next)
            pthread_cond_signal(&w->cond);
        while (n->nwaiters > 0)
            pthread_cond_wait(&n->drained, &n->mu);
        assert(n->in_use == 0);
        while ((c = n->idle) != NULL) {
            n->idle = c->next;
            conn_close(n, c);
        }
        pthread_mutex_unlock(&n->mu);
        pthread_cond_destroy(&n->drained);
        pthread_mutex_destroy(&n->mu);
        cfs__breaker_free(n->br);
        free(n->name);
    }
    pool->magic = 0;
    free(pool);
}

size_t cfs__pool_node_count(const struct cfs__pool *pool)
{
    return pool->nnodes;
}

const char *cfs__pool_node_name(const struct cfs__pool *pool, size_t node)
{
    return node < pool->nnodes ? pool->nodes[node].name : NULL;
}

int cfs__pool_node_index(const struct cfs__pool *pool, const char *name)
{
    for (size_t i = 0; i < pool->nnodes; i++)
        if (strcmp(pool->nodes[i].name, name) == 0)
            return (int)i;
    return -ENOENT;
}

struct cfs__breaker *cfs__pool_node_breaker(struct cfs__pool *pool, size_t node)
{
    return node < pool->nnodes ? pool->nodes[node].br : NULL;
}

/*
 * Any node: round-robin over the nodes, best tier first: closed breaker with an idle
 * connection, closed with room to open one, closed (will wait), half-open, open (its
 * open duration may be over: allow() decides). Returns the node whose breaker admitted
 * the call (allow() done), or NULL when every breaker refused.
 */
static int node_tier(struct cfs__pool *pool, struct pool_node *n)
{
    enum cfs__breaker_state bs = cfs__breaker_state(n->br);
    int t;

    if (bs == CFS__BREAKER_OPEN)
        return 4;
    if (bs == CFS__BREAKER_HALF_OPEN)
        return 3;
    pthread_mutex_lock(&n->mu);
    t = n->nidle > 0 && n->nwaiters == 0 ? 0
        : n->total < pool->conf.max_per_node && n->nwaiters == 0 ? 1 : 2;
    pthread_mutex_unlock(&n->mu);
    return t;
}

static struct pool_node *pick_node(struct cfs__pool *pool)
{
    unsigned start = atomic_fetch_add(&pool->rr, 1u);

    for (int t = 0; t <= 4; t++) {
        for (size_t k = 0; k < pool->nnodes; k++) {
            struct pool_node *n = &pool->nodes[(start + k) % pool->nnodes];

            if (node_tier(pool, n) == t && cfs__breaker_allow(n->br) == 0)
                return n;
        }
    }
    return NULL;
}

int cfs__pool_acquire(struct cfs__pool *pool, int node, uint64_t timeout_ms,
                      struct cfs__pool_conn **out)
{
    struct pool_node *n;
    struct cfs__pool_conn *c = NULL;
    struct waiter w;
    uint64_t t0, deadline;
    bool waited = false, may_open = false;
    int rc;

    assert(pool->magic == POOL_MAGIC);
    if (node >= (int)pool->nnodes)
        return -EINVAL;
    if (timeout_ms == 0)
        timeout_ms = pool->conf.acquire_timeout_ms;
    if (node < 0) {
        n = pick_node(pool);
        if (n == NULL) {
            /* every breaker is open: count it on the first node */
            n = &pool->nodes[0];
            rc = CFS_ERETRY;
        } else {
            rc = 0;
        }
    } else {
        n = &pool->nodes[node];
        rc = cfs__breaker_allow(n->br);
    }
    pthread_mutex_lock(&n->mu);
    if (rc < 0) {
        reject(n, RJ_BREAKER);
        goto out;
    }
    t0 = cfs__clock_ms();
    deadline = t0 + timeout_ms;
    for (;;) {
        if (atomic_load(&pool->closing)) {
            reject(n, RJ_CLOSING);
            rc = CFS_ERETRY;
            break;
        }
        /* no barging past queued waiters, unless a released slot was handed to us */
        if (n->idle != NULL && (n->nwaiters == 0 || may_open)) {
            c = n->idle;
            n->idle = c->next;
            n->nidle--;
            n->in_use++;
            break;
        }
        if (n->total < pool->conf.max_per_node && (n->nwaiters == 0 || may_open)) {
            n->total++;
            pthread_mutex_unlock(&n->mu);
            rc = conn_open(n, &c);
            pthread_mutex_lock(&n->mu);
            if (rc < 0) {
                n->total--;
                slot_freed(n); /* passes our slot on */
                may_open = false;
                reject(n, RJ_OPEN_FAILED);
                cfs__breaker_report(n->br, cfs__breaker_is_failure(rc) ? rc : -EIO);
                rc = CFS_ERETRY;
                goto out_reported;
            }
            n->in_use++;
            break;
        }
        may_open = false;
        if (timeout_ms == CFS__POOL_NOWAIT) {
            rc = -EWOULDBLOCK;
            break;
        }
        if (n->nwaiters >= pool->conf.max_waiters) {
            reject(n, RJ_QUEUE_FULL);
            rc = CFS_ERETRY;
            break;
        }
        /* wait in FIFO order for a handed-over connection or a freed slot */
        memset(&w, 0, sizeof(w));
        if (cfs__clock_cond_init(&w.cond) != 0) {
            rc = -ENOMEM;
            break;
        }
        if (n->wtail != NULL)
            n->wtail->next = &w;
        else
            n->whead = &w;
        n->wtail = &w;
        n->nwaiters++;
        waited = true;
        node_gauges(n);
        bool timed_out = false;
        while (w.conn == NULL && !w.may_open && !timed_out && !atomic_load(&pool->closing))
            timed_out = cfs__clock_cond_wait(&w.cond, &n->mu, deadline);
        if (w.conn == NULL && !w.may_open)
            waiter_remove(n, &w); /* still queued: timed out or closing */
        else if (n->nwaiters == 0)
            pthread_cond_broadcast(&n->drained);
        pthread_cond_destroy(&w.cond);
        if (w.conn != NULL) {
            c = w.conn; /* counted in in_use by release */
            break;
        }
        if (w.may_open) {
            may_open = true;
            continue;
        }
        if (atomic_load(&pool->closing))
            continue; /* rejected at the top */
        reject(n, RJ_TIMEOUT);
        rc = CFS_ERETRY;
        break;
    }
    if (c != NULL) {
        n->acquired++;
        rc = 0;
        *out = c;
        cfs__histogram_observe(n->m_wait,
                               waited ? (double)(cfs__clock_ms() - t0) / 1000.0 : 0.0);
    } else {
        cfs__breaker_cancel(n->br);
    }
out_reported:
    if (c == NULL && may_open)
        slot_freed(n); /* pass the slot we were given on */
out:
    node_gauges(n);
    pthread_mutex_unlock(&n->mu);
    return rc;
}

static bool conn_error(int result)
{
    switch (result) {
    case -ENOTCONN: case -ECONNRESET: case -ECONNABORTED: case -EPIPE: case -ESHUTDOWN:
    case -ETIMEDOUT:
        return true;
    default:
        return false;
    }
}

/* Put c back (n->mu held): to the oldest waiter, or to the idle list. */
static void give_back(struct pool_node *n, struct cfs__pool_conn *c)
{
    struct waiter *w = waiter_pop(n);

    if (w != NULL) {
        n->in_use++;
        w->conn = c;
        pthread_cond_signal(&w->cond);
        return;
    }
    c->idle_since = cfs__clock_ms();
    c->next = n->idle;
    n->idle = c;
    n->nidle++;
}

void cfs__pool_release(struct cfs__pool_conn *c, int result)
{
    struct pool_node *n;
    bool drop;

    assert(c != NULL && c->magic == CONN_MAGIC);
    n = c->node;
    if (atomic_load(&c->expired))
        drop = true; /* its timeout was reported; a late result says nothing more */
    else {
        cfs__breaker_report(n->br, result);
        drop = conn_error(result) || atomic_load(&n->pool->closing);
    }
    pthread_mutex_lock(&n->mu);
    assert(n->in_use > 0);
    n->in_use--;
    if (!drop && n->total > n->pool->conf.max_per_node)
        drop = true; /* max_per_node was lowered by a reload */
    if (drop) {
        n->total--;
        slot_freed(n);
    } else {
        give_back(n, c);
    }
    node_gauges(n);
    pthread_mutex_unlock(&n->mu);
    if (drop)
        conn_close(n, c);
}

void cfs__pool_conn_expire(struct cfs__pool_conn *c)
{
    assert(c != NULL && c->magic == CONN_MAGIC);
    if (!atomic_exchange(&c->expired, true))
        cfs__breaker_report(c->node->br, CFS_ETIMEDOUT);
}

int cfs__pool_set_conf(struct cfs__pool *pool, const struct cfs__pool_conf *conf)
{
    struct cfs__pool_conf c = *conf;

    assert(pool->magic == POOL_MAGIC);
    fix_conf(&c);
    for (size_t i = 0; i < pool->nnodes; i++)
        pthread_mutex_lock(&pool->nodes[i].mu);
    pool->conf = c;
    for (size_t i = 0; i < pool->nnodes; i++) {
        struct pool_node *n = &pool->nodes[i];

        /* a raised max_per_node makes room for queued waiters: one slot each */
        for (uint32_t room = n->total < c.max_per_node ? c.max_per_node - n->total : 0;
             room > 0 && n->whead != NULL; room--)
            slot_freed(n);
        pthread_mutex_unlock(&n->mu);
        cfs__breaker_set_conf(n->br, &c.breaker);
    }
    return 0;
}

void *cfs__pool_conn_handle(const struct cfs__pool_conn *conn)
{
    return conn->handle;
}

size_t cfs__pool_conn_node(const struct cfs__pool_conn *conn)
{
    return conn->node->index;
}

int cfs__pool_ping(struct cfs__pool *pool, size_t node, bool *busy)
{
    struct pool_node *n;
    struct cfs__pool_conn *c = NULL;
    int rc = 0;

    *busy = false;
    if (node >= pool->nnodes)
        return -EINVAL;
    n = &pool->nodes[node];
    pthread_mutex_lock(&n->mu);
    if (n->idle != NULL) {
        c = n->idle;
        n->idle = c->next;
        n->nidle--;
    } else if (n->total < pool->conf.max_per_node) {
        n->total++;
        pthread_mutex_unlock(&n->mu);
        rc = conn_open(n, &c);
        pthread_mutex_lock(&n->mu);
        if (rc < 0) {
            n->total--;
            slot_freed(n);
            goto out;
        }
    } else {
        *busy = true;
        goto out;
    }
    n->in_use++; /* while probing, like a caller's connection */
    node_gauges(n);
    pthread_mutex_unlock(&n->mu);
    rc = pool->ops->ping != NULL ? pool->ops->ping(pool->ctx, c->handle) : 0;
    pthread_mutex_lock(&n->mu);
    n->in_use--;
    if (rc < 0 && (conn_error(rc) || cfs__breaker_is_failure(rc))) {
        n->total--;
        slot_freed(n);
        node_gauges(n);
        pthread_mutex_unlock(&n->mu);
        conn_close(n, c);
        return rc;
    }
    give_back(n, c);
out:
    node_gauges(n);
    pthread_mutex_unlock(&n->mu);
    return rc;
}

static void maintain_node(struct cfs__pool *pool, struct pool_node *n)
{
    uint64_t now = cfs__clock_ms();
    struct cfs__pool_conn **pp, *c, *doomed = NULL;

    pthread_mutex_lock(&n->mu);
    /* trim: the idle list is LIFO, so the coldest are at its end */
    for (pp = &n->idle; *pp != NULL && n->total > pool->conf.min_per_node;) {
        c = *pp;
        if (now - c->idle_since >= pool->conf.idle_timeout_ms) {
            *pp = c->next;
            c->next = doomed;
            doomed = c;
            n->nidle--;
            n->total--;
        } else {
            pp = &c->next;
        }
    }
    /* top up to min, one at a time, unless the node is known down */
    while (n->total < pool->conf.min_per_node && !atomic_load(&pool->closing) &&
           cfs__breaker_state(n->br) != CFS__BREAKER_OPEN) {
        int rc;

        n->total++;
        pthread_mutex_unlock(&n->mu);
        rc = conn_open(n, &c);
        pthread_mutex_lock(&n->mu);
        if (rc < 0) {
            n->total--;
            slot_freed(n);
            break;
        }
        give_back(n, c);
    }
    node_gauges(n);
    pthread_mutex_unlock(&n->mu);
    while ((c = doomed) != NULL) {
        doomed = c->next;
        conn_close(n, c);
    }
}

void cfs__pool_maintain_node(struct cfs__pool *pool, size_t node)
{
    if (node < pool->nnodes)
        maintain_node(pool, &pool->nodes[node]);
}

void cfs__pool_maintain(struct cfs__pool *pool)
{
    for (size_t i = 0; i < pool->nnodes; i++)
        maintain_node(pool, &pool->nodes[i]);
}

int cfs__pool_node_stats(struct cfs__pool *pool, size_t node, struct cfs__pool_stats *out)
{
    struct pool_node *n;

    if (node >= pool->nnodes)
        return -EINVAL;
    n = &pool->nodes[node];
    pthread_mutex_lock(&n->mu);
    out->total = n->total;
    out->in_use = n->in_use;
    out->idle = n->nidle;
    out->waiters = n->nwaiters;
    out->acquired = n->acquired;
    out->rejected = n->rejected;
    pthread_mutex_unlock(&n->mu);
    out->breaker = cfs__breaker_state(n->br);
    return 0;
}
