/*
 * core/breaker.c - circuit breaker per backend node (closed / open / half-open), see
 * breaker.h for the state machine, the failure classification and the metrics.
 */
#include "breaker.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <cfs/errors.h>

#include "clock.h"
#include "core.h"
#include "metrics.h"

#define BREAKER_MAGIC 0x42524b52u /* "BRKR" */
#define DEFAULT_THRESHOLD 5u
#define DEFAULT_OPEN_MS 5000u
#define DEFAULT_HALF_OPEN 1u

struct cfs__breaker {
    uint32_t magic;
    pthread_mutex_t mu;
    struct cfs__breaker_conf conf;
    enum cfs__breaker_state state;
    uint32_t failures;   /* consecutive, while closed */
    uint32_t probes;     /* in flight, while half-open */
    uint64_t opened_at;
    uint64_t transitions;
    uint64_t rejected;
    cfs_series *m_state;
    cfs_series *m_to[3];
    cfs_series *m_rejected;
    char node[];
};

static void fix_conf(struct cfs__breaker_conf *c)
{
    if (c->failure_threshold == 0)
        c->failure_threshold = DEFAULT_THRESHOLD;
    if (c->open_duration_ms == 0)
        c->open_duration_ms = DEFAULT_OPEN_MS;
    if (c->half_open_max == 0)
        c->half_open_max = DEFAULT_HALF_OPEN;
}

const char *cfs__breaker_state_name(enum cfs__breaker_state s)
{
    switch (s) {
    case CFS__BREAKER_CLOSED: return "closed";
    case CFS__BREAKER_OPEN: return "open";
    case CFS__BREAKER_HALF_OPEN: return "half-open";
    }
    return "?";
}

static void metrics_init(struct cfs__breaker *b)
{
    static const char *const l_node[] = {"node", NULL};
    static const char *const l_node_to[] = {"node", "to", NULL};
    static const struct cfs_metric_desc d_state = {
        .size = sizeof(d_state), .type = CFS_METRIC_GAUGE,
        .name = "cfs_backend_breaker_state",
        .help = "Circuit breaker state per backend node (0 closed, 1 open, 2 half-open)",
        .labels = l_node};
    static const struct cfs_metric_desc d_trans = {
        .size = sizeof(d_trans), .type = CFS_METRIC_COUNTER,
        .name = "cfs_backend_breaker_transitions_total",
        .help = "Circuit breaker state transitions per backend node, by new state",
        .labels = l_node_to};
    static const struct cfs_metric_desc d_rej = {
        .size = sizeof(d_rej), .type = CFS_METRIC_COUNTER,
        .name = "cfs_backend_breaker_rejected_total",
        .help = "Calls failed fast because the node's circuit breaker was open",
        .labels = l_node};
    const char *v[2] = {b->node, NULL};
    cfs_metric *m;

    m = cfs__metric_register(&d_state);
    b->m_state = cfs__metric_series(m, v);
    m = cfs__metric_register(&d_trans);
    for (int i = 0; i < 3; i++) {
        v[1] = i == 0 ? "closed" : i == 1 ? "open" : "half_open";
        b->m_to[i] = cfs__metric_series(m, v);
    }
    m = cfs__metric_register(&d_rej);
    b->m_rejected = cfs__metric_series(m, v);
    cfs__gauge_set(b->m_state, 0);
}

struct cfs__breaker *cfs__breaker_new(const char *node, const struct cfs__breaker_conf *conf)
{
    size_t n = strlen(node);
    struct cfs__breaker *b = calloc(1, sizeof(*b) + n + 1);

    if (b == NULL)
        return NULL;
    b->magic = BREAKER_MAGIC;
    if (pthread_mutex_init(&b->mu, NULL) != 0) {
        free(b);
        return NULL;
    }
    if (conf != NULL)
        b->conf = *conf;
    fix_conf(&b->conf);
    b->state = CFS__BREAKER_CLOSED;
    memcpy(b->node, node, n + 1);
    metrics_init(b);
    return b;
}

void cfs__breaker_free(struct cfs__breaker *b)
{
    if (b == NULL)
        return;
    assert(b->magic == BREAKER_MAGIC);
    b->magic = 0;
    pthread_mutex_destroy(&b->mu);
    free(b);
}

void cfs__breaker_set_conf(struct cfs__breaker *b, const struct cfs__breaker_conf *conf)
{
    pthread_mutex_lock(&b->mu);
    b->conf = *conf;
    fix_conf(&b->conf);
    pthread_mutex_unlock(&b->mu);
}

/* Called with b->mu held. */
static void transition(struct cfs__breaker *b, enum cfs__breaker_state to, const char *why)
{
    enum cfs__breaker_state from = b->state;

    if (from == to)
        return;
    b->state = to;
    b->transitions++;
    if (to == CFS__BREAKER_OPEN)
        b->opened_at = cfs__clock_ms();
    if (to != CFS__BREAKER_HALF_OPEN)
        b->probes = 0;
    if (to == CFS__BREAKER_CLOSED)
        b->failures = 0;
    cfs__gauge_set(b->m_state, (double)to);
    cfs__counter_add(b->m_to[to], 1);
    cfs__log(to == CFS__BREAKER_OPEN ? CFS_LOG_WARN : CFS_LOG_NOTICE, "breaker",
             "node %s: %s -> %s (%s)", b->node, cfs__breaker_state_name(from),
             cfs__breaker_state_name(to), why);
}

int cfs__breaker_allow(struct cfs__breaker *b)
{
    int rc = 0;

    assert(b->magic == BREAKER_MAGIC);
    pthread_mutex_lock(&b->mu);
    if (b->state == CFS__BREAKER_OPEN &&
        cfs__clock_ms() - b->opened_at >= b->conf.open_duration_ms)
        transition(b, CFS__BREAKER_HALF_OPEN, "open duration elapsed");
    switch (b->state) {
    case CFS__BREAKER_CLOSED:
        break;
    case CFS__BREAKER_OPEN:
        rc = CFS_ERETRY;
        break;
    case CFS__BREAKER_HALF_OPEN:
        if (b->probes < b->conf.half_open_max)
            b->probes++;
        else
            rc = CFS_ERETRY;
        break;
    }
    if (rc != 0)
        b->rejected++;
    pthread_mutex_unlock(&b->mu);
    if (rc != 0)
        cfs__counter_add(b->m_rejected, 1);
    return rc;
}

bool cfs__breaker_is_failure(int result)
{
    switch (result) {
    case -ETIMEDOUT: case -EIO: case -ENOTCONN: case -ECONNREFUSED: case -ECONNRESET:
    case -ECONNABORTED: case -EPIPE: case -ESHUTDOWN: case -EHOSTDOWN: case -EHOSTUNREACH:
    case -ENETDOWN: case -ENETUNREACH: case -ENODEV: case -ENXIO: case -EREMOTEIO:
    case CFS_ESERVERFAULT:
        return true;
    default:
        return false;
    }
}

void cfs__breaker_report(struct cfs__breaker *b, int result)
{
    bool fail = cfs__breaker_is_failure(result);

    assert(b->magic == BREAKER_MAGIC);
    pthread_mutex_lock(&b->mu);
    switch (b->state) {
    case CFS__BREAKER_CLOSED:
        if (!fail) {
            b->failures = 0;
        } else if (++b->failures >= b->conf.failure_threshold) {
            transition(b, CFS__BREAKER_OPEN, "consecutive failures reached the threshold");
        }
        break;
    case CFS__BREAKER_HALF_OPEN:
        if (b->probes > 0)
            b->probes--;
        if (fail)
            transition(b, CFS__BREAKER_OPEN, "half-open probe failed");
        else
            transition(b, CFS__BREAKER_CLOSED, "half-open probe succeeded");
        break;
    case CFS__BREAKER_OPEN:
        /* a call admitted before the breaker opened: it changes nothing */
        break;
    }
    pthread_mutex_unlock(&b->mu);
}

void cfs__breaker_cancel(struct cfs__breaker *b)
{
    pthread_mutex_lock(&b->mu);
    if (b->state == CFS__BREAKER_HALF_OPEN && b->probes > 0)
        b->probes--;
    pthread_mutex_unlock(&b->mu);
}

enum cfs__breaker_state cfs__breaker_state(struct cfs__breaker *b)
{
    enum cfs__breaker_state s;

    pthread_mutex_lock(&b->mu);
    s = b->state;
    pthread_mutex_unlock(&b->mu);
    return s;
}

void cfs__breaker_stats(struct cfs__breaker *b, struct cfs__breaker_stats *out)
{
    pthread_mutex_lock(&b->mu);
    out->state = b->state;
    out->consecutive_failures = b->failures;
    out->probes_in_flight = b->probes;
    out->opened_at_ms = b->opened_at;
    out->transitions = b->transitions;
    out->rejected = b->rejected;
    pthread_mutex_unlock(&b->mu);
}

const char *cfs__breaker_node(const struct cfs__breaker *b)
{
    return b->node;
}
