/*
 * core/healthcheck.c - periodic probes of the backend pool's nodes on their own threads,
 * with a timeout; results feed /ready, /health and metrics (see healthcheck.h).
 */
#include "healthcheck.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cfs/errors.h>
#include <cfs/module.h>

#include "clock.h"
#include "core.h"
#include "health.h"
#include "metrics.h"
#include "pool.h"

struct hc_node {
    size_t index;
    pthread_t thread;
    bool thread_ok;
    bool go;                  /* a probe is asked for */
    uint64_t probe_started;   /* while st.probing */
    uint64_t counted_until;   /* failures counted for a hanging probe up to this time */
    bool late;                /* the running probe already counted as a timeout */
    struct cfs__backend_health st;
    cfs_series *m_up, *m_lat, *m_fail;
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cond;      /* monitor and probers wait here (monotonic) */
    pthread_cond_t done;      /* a probe finished (probe_now) */
    bool started, stopping;
    struct cfs__backend_health_conf conf;
    struct cfs__pool *pool;
    size_t nnodes;
    struct hc_node *nodes;
    pthread_t monitor;
    bool monitor_ok;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void fix_conf(struct cfs__backend_health_conf *c)
{
    if (c->interval_ms == 0)
        c->interval_ms = 5000;
    if (c->timeout_ms == 0)
        c->timeout_ms = 2000;
    if (c->down_after == 0)
        c->down_after = 2;
}

static const char *err_text(int e, char *buf, size_t len)
{
    if (e == CFS_ERETRY)
        return "retry later";
    if (e == CFS_ESERVERFAULT)
        return "server fault";
    if (e < 0 && e > -4096)
        return strerror_r(-e, buf, len);
    snprintf(buf, len, "error %d", e);
    return buf;
}

/* With g.mu held. */
static void set_up(struct hc_node *n, bool up)
{
    char eb[64];
    const char *name = cfs__pool_node_name(g.pool, n->index);

    if (n->st.up == up && n->st.probed)
        return;
    n->st.up = up;
    cfs__gauge_set(n->m_up, up ? 1 : 0);
    if (up)
        cfs__log(CFS_LOG_NOTICE, "health", "backend node %s is up (probe %.3f ms)", name,
                 (double)n->st.latency_us / 1000.0);
    else
        cfs__log(CFS_LOG_WARN, "health", "backend node %s is down: %u consecutive failures, "
                 "last: %s", name, n->st.consecutive_failures,
                 err_text(n->st.last_error, eb, sizeof(eb)));
}

/* With g.mu held. */
static void record_failure(struct hc_node *n, int err)
{
    bool was_probed = n->st.probed;

    n->st.consecutive_failures++;
    n->st.last_error = err;
    n->st.last_probe_ms = cfs__clock_ms();
    cfs__counter_add(n->m_fail, 1);
    if (!was_probed || n->st.consecutive_failures >= g.conf.down_after) {
        if (!was_probed)
            n->st.up = true; /* so that set_up logs the first "down" */
        n->st.probed = true;
        set_up(n, false);
    }
    n->st.probed = true;
}

static void *probe_main(void *arg)
{
    struct hc_node *n = arg;

    pthread_mutex_lock(&g.mu);
    for (;;) {
        while (!n->go && !g.stopping)
            pthread_cond_wait(&g.cond, &g.mu);
        if (g.stopping)
            break;
        n->go = false;
        n->st.probing = true;
        n->late = false;
        n->probe_started = cfs__clock_ms();
        n->counted_until = n->probe_started;
        pthread_mutex_unlock(&g.mu);

        bool busy = false;
        uint64_t t0 = cfs__clock_ms();
        uint64_t us0;
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        us0 = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
        int rc = cfs__pool_ping(g.pool, n->index, &busy);
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u - us0;
        uint64_t elapsed = cfs__clock_ms() - t0;

        pthread_mutex_lock(&g.mu);
        n->st.probing = false;
        if (!n->late) {
            n->st.latency_us = us;
            cfs__histogram_observe(n->m_lat, (double)us / 1e6);
            if (rc == 0 && elapsed < g.conf.timeout_ms) {
                n->st.consecutive_failures = 0;
                n->st.last_error = 0;
                n->st.last_ok_ms = n->st.last_probe_ms = cfs__clock_ms();
                set_up(n, true);
                n->st.probed = true;
            } else {
                record_failure(n, rc < 0 ? rc : CFS_ETIMEDOUT);
            }
        }
        pthread_cond_broadcast(&g.done);
        if (!g.stopping) {
            pthread_mutex_unlock(&g.mu);
            cfs__pool_maintain_node(g.pool, n->index);
            pthread_mutex_lock(&g.mu);
        }
    }
    pthread_mutex_unlock(&g.mu);
    return NULL;
}

/* With g.mu held: count hanging probes as timeouts, once per timeout period. */
static void check_timeouts(uint64_t now)
{
    for (size_t i = 0; i < g.nnodes; i++) {
        struct hc_node *n = &g.nodes[i];

        if (!n->st.probing)
            continue;
        if (!n->late && now - n->probe_started >= g.conf.timeout_ms) {
            n->late = true;
            n->counted_until = now;
            record_failure(n, CFS_ETIMEDOUT);
            pthread_cond_broadcast(&g.done);
        } else if (n->late && now - n->counted_until >= g.conf.interval_ms) {
            n->counted_until = now;
            record_failure(n, CFS_ETIMEDOUT);
        }
    }
}

static void kick_all(void)
{
    for (size_t i = 0; i < g.nnodes; i++)
        if (!g.nodes[i].st.probing)
            g.nodes[i].go = true;
    pthread_cond_broadcast(&g.cond);
}

static void *monitor_main(void *arg)
{
    uint64_t next = cfs__clock_ms();

    (void)arg;
    pthread_mutex_lock(&g.mu);
    while (!g.stopping) {
        uint64_t now = cfs__clock_ms();
        uint64_t wake;

        check_timeouts(now);
        if (now >= next) {
            kick_all();
            next = now + g.conf.interval_ms;
        }
        /* wake for the next interval or the earliest probe timeout */
        wake = next;
        for (size_t i = 0; i < g.nnodes; i++)
            if (g.nodes[i].st.probing && !g.nodes[i].late &&
                g.nodes[i].probe_started + g.conf.timeout_ms < wake)
                wake = g.nodes[i].probe_started + g.conf.timeout_ms;
        (void)cfs__clock_cond_wait(&g.cond, &g.mu, wake);
    }
    pthread_mutex_unlock(&g.mu);
    return NULL;
}

int cfs__backend_health_start(struct cfs__pool *pool, const struct cfs__backend_health_conf *conf)
{
    static const char *const l_node[] = {"node", NULL};
    static const struct cfs_metric_desc d_up = {
        .size = sizeof(d_up), .type = CFS_METRIC_GAUGE, .name = "cfs_backend_up",
        .help = "Whether the backend node answered its health probe (1) or not (0)",
        .labels = l_node};
    static const struct cfs_metric_desc d_lat = {
        .size = sizeof(d_lat), .type = CFS_METRIC_HISTOGRAM,
        .name = "cfs_backend_probe_seconds", .help = "Latency of backend health probes",
        .labels = l_node};
    static const struct cfs_metric_desc d_fail = {
        .size = sizeof(d_fail), .type = CFS_METRIC_COUNTER,
        .name = "cfs_backend_probe_failures_total",
        .help = "Backend health probes that failed or timed out", .labels = l_node};
    cfs_metric *m_up, *m_lat, *m_fail;
    int rc = 0;

    pthread_mutex_lock(&g.mu);
    if (g.started) {
        pthread_mutex_unlock(&g.mu);
        return -EALREADY;
    }
    memset(&g.conf, 0, sizeof(g.conf));
    if (conf != NULL)
        g.conf = *conf;
    fix_conf(&g.conf);
    g.pool = pool;
    g.stopping = false;
    g.nnodes = cfs__pool_node_count(pool);
    g.nodes = calloc(g.nnodes, sizeof(*g.nodes));
    if (g.nodes == NULL || cfs__clock_cond_init(&g.cond) != 0) {
        free(g.nodes);
        g.nodes = NULL;
        pthread_mutex_unlock(&g.mu);
        return -ENOMEM;
    }
    pthread_cond_init(&g.done, NULL);
    m_up = cfs__metric_register(&d_up);
    m_lat = cfs__metric_register(&d_lat);
    m_fail = cfs__metric_register(&d_fail);
    g.started = true;
    for (size_t i = 0; i < g.nnodes; i++) {
        struct hc_node *n = &g.nodes[i];
        const char *v[] = {cfs__pool_node_name(pool, i)};

        n->index = i;
        n->m_up = cfs__metric_series(m_up, v);
        n->m_lat = cfs__metric_series(m_lat, v);
        n->m_fail = cfs__metric_series(m_fail, v);
        cfs__gauge_set(n->m_up, 0);
        n->go = true;
        rc = -pthread_create(&n->thread, NULL, probe_main, n);
        if (rc < 0)
            break;
        n->thread_ok = true;
    }
    if (rc == 0) {
        rc = -pthread_create(&g.monitor, NULL, monitor_main, NULL);
        g.monitor_ok = rc == 0;
    }
    pthread_mutex_unlock(&g.mu);
    if (rc < 0) {
        cfs__backend_health_stop();
        return rc;
    }
    (void)cfs__health_register("backends", cfs__backend_health_check, NULL);
    return 0;
}

void cfs__backend_health_stop(void)
{
    pthread_mutex_lock(&g.mu);
    if (!g.started) {
        pthread_mutex_unlock(&g.mu);
        return;
    }
    g.stopping = true;
    pthread_cond_broadcast(&g.cond);
    pthread_cond_broadcast(&g.done);
    pthread_mutex_unlock(&g.mu);
    cfs__health_unregister("backends");
    if (g.monitor_ok)
        pthread_join(g.monitor, NULL);
    for (size_t i = 0; i < g.nnodes; i++)
        if (g.nodes[i].thread_ok)
            pthread_join(g.nodes[i].thread, NULL);
    pthread_mutex_lock(&g.mu);
    free(g.nodes);
    g.nodes = NULL;
    g.nnodes = 0;
    g.pool = NULL;
    g.monitor_ok = false;
    g.started = false;
    pthread_cond_destroy(&g.cond);
    pthread_cond_destroy(&g.done);
    pthread_mutex_unlock(&g.mu);
}

void cfs__backend_health_set_conf(const struct cfs__backend_health_conf *conf)
{
    pthread_mutex_lock(&g.mu);
    g.conf = *conf;
    fix_conf(&g.conf);
    if (g.started)
        pthread_cond_broadcast(&g.cond);
    pthread_mutex_unlock(&g.mu);
}

void cfs__backend_health_probe_now(void)
{
    pthread_mutex_lock(&g.mu);
    if (!g.started) {
        pthread_mutex_unlock(&g.mu);
        return;
    }
    kick_all();
    for (;;) {
        bool pending = false;

        for (size_t i = 0; i < g.nnodes; i++)
            if (g.nodes[i].go || (g.nodes[i].st.probing && !g.nodes[i].late))
                pending = true;
        if (!pending || g.stopping)
            break;
        /* the monitor marks timeouts; a real-time slice keeps this loop live */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 5 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        (void)pthread_cond_timedwait(&g.done, &g.mu, &ts);
    }
    pthread_mutex_unlock(&g.mu);
}

int cfs__backend_health_node(size_t i, struct cfs__backend_health *out)
{
    int rc = -ENOENT;

    pthread_mutex_lock(&g.mu);
    if (g.started && i < g.nnodes) {
        *out = g.nodes[i].st;
        rc = 0;
    }
    pthread_mutex_unlock(&g.mu);
    return rc;
}

/* Returns the number of nodes up; writes the detail line. With g.mu held. */
static size_t describe(char *detail, size_t len)
{
    size_t up = 0, off = 0;
    char eb[64];

    if (detail != NULL && len > 0)
        detail[0] = '\0';
    for (size_t i = 0; i < g.nnodes; i++) {
        const struct cfs__backend_health *st = &g.nodes[i].st;
        const char *name = cfs__pool_node_name(g.pool, i);
        int n = 0;

        if (st->up)
            up++;
        if (detail == NULL || off >= len)
            continue;
        if (st->up)
            n = snprintf(detail + off, len - off, "%s%s: up (%.1f ms)", i ? "; " : "", name,
                         (double)st->latency_us / 1000.0);
        else if (!st->probed)
            n = snprintf(detail + off, len - off, "%s%s: not probed yet", i ? "; " : "", name);
        else
            n = snprintf(detail + off, len - off, "%s%s: down, %u failures, last: %s",
                         i ? "; " : "", name, st->consecutive_failures,
                         err_text(st->last_error, eb, sizeof(eb)));
        if (n > 0)
            off += (size_t)n;
    }
    return up;
}

bool cfs__backends_ready(char *detail, size_t len)
{
    bool ready;

    pthread_mutex_lock(&g.mu);
    if (!g.started || g.nnodes == 0) {
        if (detail != NULL && len > 0)
            snprintf(detail, len, "no backend health checks running");
        ready = true;
    } else {
        ready = describe(detail, len) > 0;
    }
    pthread_mutex_unlock(&g.mu);
    return ready;
}

int cfs__backend_health_check(void *arg, char *detail, size_t len)
{
    size_t up;
    int state;

    (void)arg;
    pthread_mutex_lock(&g.mu);
    if (!g.started || g.nnodes == 0) {
        pthread_mutex_unlock(&g.mu);
        snprintf(detail, len, "no backend health checks running");
        return CFS_HEALTH_OK;
    }
    up = describe(detail, len);
    state = up == g.nnodes ? CFS_HEALTH_OK : up > 0 ? CFS_HEALTH_DEGRADED : CFS_HEALTH_FAILED;
    pthread_mutex_unlock(&g.mu);
    return state;
}
