/*
 * tests/unit/test_pool.c - the backend pool with a fake backend, the fake clock and
 * threads: max_per_node respected, min kept open and idle trimming, bounded waiters
 * served in FIFO order, acquire timeout, breaker interplay (fail fast, half-open probe,
 * open failures), connection errors closing connections, any-node selection, ping, and
 * a concurrent stress run that never exceeds max.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <cfs/errors.h>

#include "clock.h"
#include "core.h"
#include "healthcheck.h"
#include "metrics.h"
#include "pool.h"
#include "vfs/namespace.h"

struct fake {
    atomic_int opens, closes, pings, live;
    atomic_int fail_open; /* 0 or the error open returns */
    atomic_int ping_rc;
    atomic_bool ping_hang; /* ping blocks while set */
    atomic_int b_ping_rc;  /* what pings of node "b" return */
};

static struct fake F;

static int f_open(void *ctx, const char *node, void **h)
{
    struct fake *f = ctx;
    int e = atomic_load(&f->fail_open);

    if (e != 0)
        return e;
    atomic_fetch_add(&f->opens, 1);
    atomic_fetch_add(&f->live, 1);
    *h = strdup(node);
    return *h ? 0 : -ENOMEM;
}

static void f_close(void *ctx, void *h)
{
    struct fake *f = ctx;

    atomic_fetch_add(&f->closes, 1);
    atomic_fetch_sub(&f->live, 1);
    free(h);
}

static int f_ping(void *ctx, void *h)
{
    struct fake *f = ctx;

    atomic_fetch_add(&f->pings, 1);
    while (atomic_load(&f->ping_hang))
        usleep(1000);
    if (strcmp((const char *)h, "b") == 0 && atomic_load(&f->b_ping_rc) != 0)
        return atomic_load(&f->b_ping_rc);
    return atomic_load(&f->ping_rc);
}

static const struct cfs__pool_conn_ops ops = {f_open, f_close, f_ping};

static int setup(void **state)
{
    (void)state;
    memset(&F, 0, sizeof(F));
    cfs__clock_fake_set(1000000);
    cfs__log_set_level(CFS_LOG_ERROR);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cfs__clock_fake_off();
    return 0;
}

static struct cfs__pool *mk(const char *const *nodes, size_t n, uint32_t min, uint32_t max,
                            uint32_t waiters)
{
    struct cfs__pool_conf c = {.min_per_node = min, .max_per_node = max,
                               .max_waiters = waiters, .acquire_timeout_ms = 1000,
                               .idle_timeout_ms = 10000,
                               .breaker = {.failure_threshold = 3, .open_duration_ms = 500}};
    struct cfs__pool *p = NULL;
    char err[256];

    assert_int_equal(cfs__pool_new(nodes, n, &c, &ops, &F, &p, err, sizeof(err)), 0);
    return p;
}

static const char *const one[] = {"local"};

static struct cfs__pool_stats stats(struct cfs__pool *p, size_t node)
{
    struct cfs__pool_stats st;

    assert_int_equal(cfs__pool_node_stats(p, node, &st), 0);
    return st;
}

static void wait_waiters(struct cfs__pool *p, uint32_t n)
{
    for (int i = 0; i < 5000 && stats(p, 0).waiters != n; i++)
        usleep(1000);
    assert_int_equal(stats(p, 0).waiters, n);
}

static void test_new_errors(void **state)
{
    const char *const dup[] = {"a", "a"};
    const char *const empty[] = {""};
    struct cfs__pool *p = NULL;
    char err[256];

    assert_int_equal(cfs__pool_new(dup, 2, NULL, &ops, &F, &p, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "twice"));
    assert_int_equal(cfs__pool_new(empty, 1, NULL, &ops, &F, &p, err, sizeof(err)), -EINVAL);
    assert_int_equal(cfs__pool_new(one, 0, NULL, &ops, &F, &p, err, sizeof(err)), -EINVAL);
    assert_null(p);
}

static void test_min_and_max(void **state)
{
    struct cfs__pool *p = mk(one, 1, 2, 3, 4);
    struct cfs__pool_conn *c[4];

    assert_int_equal(atomic_load(&F.opens), 2); /* min opened at start */
    assert_int_equal(stats(p, 0).idle, 2);
    for (int i = 0; i < 3; i++)
        assert_int_equal(cfs__pool_acquire(p, 0, 0, &c[i]), 0);
    assert_string_equal((char *)cfs__pool_conn_handle(c[0]), "local");
    assert_int_equal(cfs__pool_conn_node(c[0]), 0);
    assert_int_equal(atomic_load(&F.opens), 3);
    assert_int_equal(stats(p, 0).in_use, 3);
    assert_int_equal(stats(p, 0).total, 3);
    for (int i = 0; i < 3; i++)
        cfs__pool_release(c[i], 0);
    assert_int_equal(stats(p, 0).idle, 3);
    /* idle beyond min are trimmed after idle_timeout_ms */
    cfs__pool_maintain(p);
    assert_int_equal(stats(p, 0).total, 3);
    cfs__clock_fake_advance(10000);
    cfs__pool_maintain(p);
    assert_int_equal(stats(p, 0).total, 2);
    assert_int_equal(atomic_load(&F.closes), 1);
    /* a connection lost on error is replaced up to min by maintain */
    assert_int_equal(cfs__pool_acquire(p, 0, 0, &c[0]), 0);
    cfs__pool_release(c[0], -ECONNRESET);
    assert_int_equal(stats(p, 0).total, 1);
    cfs__pool_maintain(p);
    assert_int_equal(stats(p, 0).total, 2);
    cfs__pool_free(p);
    assert_int_equal(atomic_load(&F.live), 0);
}

struct acq {
    struct cfs__pool *p;
    int node;
    uint64_t timeout;
    int rc;
    struct cfs__pool_conn *conn;
    int order;
    bool release_at_once;
};

static atomic_int g_order;

static void *acq_main(void *arg)
{
    struct acq *a = arg;

    a->rc = cfs__pool_acquire(a->p, a->node, a->timeout, &a->conn);
    a->order = atomic_fetch_add(&g_order, 1);
    if (a->rc == 0 && a->release_at_once)
        cfs__pool_release(a->conn, 0);
    return NULL;
}

static void test_metrics(void **state)
{
    const char *const m[] = {"metrics-node"};
    struct cfs__pool *p = mk(m, 1, 1, 2, 0);
    struct cfs__pool_conn *c;
    char *out = NULL;
    size_t len;

    assert_int_equal(cfs__pool_acquire(p, 0, 0, &c), 0);
    assert_int_equal(cfs__metrics_render_ex(&out, &len, CFS__METRICS_NO_PROCESS), 0);
    assert_non_null(strstr(out, "cfs_backend_pool_in_use{node=\"metrics-node\"} 1"));
    assert_non_null(strstr(out, "cfs_backend_pool_idle{node=\"metrics-node\"} 0"));
    assert_non_null(strstr(out, "cfs_backend_pool_waiters{node=\"metrics-node\"} 0"));
    assert_non_null(strstr(out, "cfs_backend_pool_wait_seconds_count{node=\"metrics-node\"} 1"));
    assert_non_null(strstr(out, "cfs_backend_breaker_state{node=\"metrics-node\"} 0"));
    free(out);
    cfs__pool_release(c, 0);
    assert_int_equal(cfs__metrics_render_ex(&out, &len, CFS__METRICS_NO_PROCESS), 0);
    assert_non_null(strstr(out, "cfs_backend_pool_idle{node=\"metrics-node\"} 1"));
    free(out);
    cfs__pool_free(p);
}

static void test_timeout(void **state)
{
    struct cfs__pool *p = mk(one, 1, 0, 1, 4);
    struct cfs__pool_conn *held;
    struct acq a = {.p = p, .timeout = 1000};
    pthread_t t;

    assert_int_equal(cfs__pool_acquire(p, 0, 0, &held), 0);
    pthread_create(&t, NULL, acq_main, &a);
    wait_waiters(p, 1);
    cfs__clock_fake_advance(999);
    usleep(20000);
    assert_int_equal(stats(p, 0).waiters, 1); /* not yet */
    cfs__clock_fake_advance(1);
    pthread_join(t, NULL);
    assert_int_equal(a.rc, CFS_ERETRY);
    assert_int_equal(stats(p, 0).waiters, 0);
    assert_int_equal(stats(p, 0).rejected, 1);
    /* the timed-out waiter did not count as a breaker failure */
    assert_int_equal(stats(p, 0).breaker, CFS__BREAKER_CLOSED);
    cfs__pool_release(held, 0);
    cfs__pool_free(p);
}

static void test_waiters_bounded_fifo(void **state)
{
    struct cfs__pool *p = mk(one, 1, 0, 1, 2);
    struct cfs__pool_conn *held, *c;
    struct acq a[2] = {{.p = p, .timeout = 60000}, {.p = p, .timeout = 60000}};
    pthread_t t[2];

    atomic_store(&g_order, 0);
    assert_int_equal(cfs__pool_acquire(p, 0, 0, &held), 0);
    pthread_create(&t[0], NULL, acq_main, &a[0]);
    wait_waiters(p, 1);
    pthread_create(&t[1], NULL, acq_main, &a[1]);
    wait_waiters(p, 2);
    /* the queue is full: fail fast, whatever the timeout */
    assert_int_equal(cfs__pool_acquire(p, 0, 60000, &c), CFS_ERETRY);
    /* release hands the connection to the oldest waiter */
    cfs__pool_release(held, 0);
    pthread_join(t[0], NULL);
    assert_int_equal(a[0].rc, 0);
    assert_ptr_equal(a[0].conn, held);
    assert_int_equal(stats(p, 0).waiters, 1);
    cfs__pool_release(a[0].conn, 0);
    pthread_join(t[1], NULL);
    assert_int_equal(a[1].rc, 0);
    assert_true(a[0].order < a[1].order);
    cfs__pool_release(a[1].conn, 0);
    assert_int_equal(atomic_load(&F.opens), 1);
    assert_int_equal(stats(p, 0).acquired, 3);
    cfs__pool_free(p);
}

static void test_waiter_gets_freed_slot(void **state)
{
    struct cfs__pool *p = mk(one, 1, 0, 1, 2);
    struct cfs__pool_conn *held;
    struct acq a = {.p = p, .timeout = 60000};
    pthread_t t;

    assert_int_equal(cfs__pool_acquire(p, 0, 0, &held), 0);
    pthread_create(&t, NULL, acq_main, &a);
    wait_waiters(p, 1);
    cfs__pool_release(held, -EPIPE); /* closed: the waiter opens a new one */
    pthread_join(t, NULL);
    assert_int_equal(a.rc, 0);
    assert_int_equal(atomic_load(&F.opens), 2);
    assert_int_equal(atomic_load(&F.closes), 1);
    cfs__pool_release(a.conn, 0);
    cfs__pool_free(p);
}

static void test_breaker_interplay(void **state)
{
    struct cfs__pool *p = mk(one, 1, 1, 4, 4);
    struct cfs__pool_conn *c;

    for (int i = 0; i < 3; i++) {
        assert_int_equal(cfs__pool_acquire(p, 0, 0, &c), 0);
        cfs__pool_release(c, -EIO); /* EIO: a node failure, the connection is kept */
    }
    assert_int_equal(stats(p, 0).breaker, CFS__BREAKER_OPEN);
    assert_int_equal(stats(p, 0).idle, 1);
    /* open: fail fast although a connection is idle */
    assert_int_equal(cfs__pool_acquire(p, 0, 60000, &c), CFS_ERETRY);
    assert_int_equal(stats(p, 0).waiters, 0);
    cfs__clock_fake_advance(500);
    /* half-open: one probe */
    assert_int_equal(cfs__pool_acquire(p, 0, 0, &c), 0);
    assert_int_equal(stats(p, 0).breaker, CFS__BREAKER_HALF_OPEN);
    struct cfs__pool_conn *c2;
    assert_int_equal(cfs__pool_acquire(p, 0, 0, &c2), CFS_ERETRY);
    cfs__pool_release(c, 0);
    assert_int_equal(stats(p, 0).breaker, CFS__BREAKER_CLOSED);
    assert_int_equal(cfs__pool_acquire(p, 0, 0, &c), 0);
    cfs__pool_release(c, -ENOENT); /* an ordinary answer */
    assert_int_equal(stats(p, 0).breaker, CFS__BREAKER_CLOSED);
    cfs__pool_free(p);
}

static void test_open_failures(void **state)
{
    struct cfs__pool *p = mk(one, 1, 0, 4, 4);
    struct cfs__pool_conn *c;

    atomic_store(&F.fail_open, -ECONNREFUSED);
    for (int i = 0; i < 3; i++)
        assert_int_equal(cfs__pool_acquire(p, 0, 0, &c), CFS_ERETRY);
    assert_int_equal(stats(p, 0).breaker, CFS__BREAKER_OPEN);
    assert_int_equal(stats(p, 0).total, 0);
    /* maintain does not hammer an open node */
    cfs__pool_maintain(p);
    atomic_store(&F.fail_open, 0);
    cfs__clock_fake_advance(500);
    assert_int_equal(cfs__pool_acquire(p, 0, 0, &c), 0);
    cfs__pool_release(c, 0);
    assert_int_equal(stats(p, 0).breaker, CFS__BREAKER_CLOSED);
    cfs__pool_free(p);
}

static void test_any_node(void **state)
{
    const char *const two[] = {"a", "b"};
    struct cfs__pool *p = mk(two, 2, 0, 2, 2);
    struct cfs__pool_conn *c;

    assert_int_equal(cfs__pool_node_index(p, "b"), 1);
    assert_int_equal(cfs__pool_node_index(p, "zz"), -ENOENT);
    assert_string_equal(cfs__pool_node_name(p, 0), "a");
    for (int i = 0; i < 3; i++) {
        assert_int_equal(cfs__pool_acquire(p, 0, 0, &c), 0);
        cfs__pool_release(c, -ETIMEDOUT);
    }
    assert_int_equal(stats(p, 0).breaker, CFS__BREAKER_OPEN);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(cfs__pool_acquire(p, -1, 0, &c), 0);
        assert_int_equal(cfs__pool_conn_node(c), 1);
        cfs__pool_release(c, 0);
    }
    assert_int_equal(cfs__pool_acquire(p, 5, 0, &c), -EINVAL);
    cfs__pool_free(p);
}

static void test_any_node_all_open(void **state)
{
    const char *const two[] = {"a", "b"};
    struct cfs__pool *p = mk(two, 2, 1, 2, 2);
    struct cfs__pool_conn *c;

    for (size_t n = 0; n < 2; n++) {
        for (int i = 0; i < 3; i++) {
            assert_int_equal(cfs__pool_acquire(p, (int)n, 0, &c), 0);
            cfs__pool_release(c, -EIO);
        }
        assert_int_equal(stats(p, n).breaker, CFS__BREAKER_OPEN);
    }
    assert_int_equal(cfs__pool_acquire(p, -1, 0, &c), CFS_ERETRY);
    /* after the open duration: one probe per node, then nothing */
    cfs__clock_fake_advance(500);
    struct cfs__pool_conn *c1, *c2;
    assert_int_equal(cfs__pool_acquire(p, -1, 0, &c1), 0);
    assert_int_equal(cfs__pool_acquire(p, -1, 0, &c2), 0);
    assert_int_not_equal(cfs__pool_conn_node(c1), cfs__pool_conn_node(c2));
    assert_int_equal(cfs__pool_acquire(p, -1, 0, &c), CFS_ERETRY);
    size_t good = cfs__pool_conn_node(c1);
    cfs__pool_release(c1, 0);
    cfs__pool_release(c2, -EIO);
    assert_int_equal(cfs__pool_acquire(p, -1, 0, &c), 0);
    assert_int_equal(cfs__pool_conn_node(c), good);
    cfs__pool_release(c, 0);
    cfs__pool_free(p);
}

static void test_ping(void **state)
{
    struct cfs__pool *p = mk(one, 1, 0, 1, 1);
    struct cfs__pool_conn *c;
    bool busy;

    assert_int_equal(cfs__pool_ping(p, 0, &busy), 0); /* opens one */
    assert_false(busy);
    assert_int_equal(atomic_load(&F.pings), 1);
    assert_int_equal(stats(p, 0).idle, 1);
    assert_int_equal(cfs__pool_acquire(p, 0, 0, &c), 0);
    assert_int_equal(cfs__pool_ping(p, 0, &busy), 0);
    assert_true(busy);
    assert_int_equal(atomic_load(&F.pings), 1);
    cfs__pool_release(c, 0);
    atomic_store(&F.ping_rc, -ENOTCONN);
    assert_int_equal(cfs__pool_ping(p, 0, &busy), -ENOTCONN);
    assert_int_equal(stats(p, 0).total, 0); /* the broken connection was closed */
    assert_int_equal(cfs__pool_ping(p, 3, &busy), -EINVAL);
    cfs__pool_free(p);
}

static atomic_int g_in_use, g_max_in_use;

static void *stress_main(void *arg)
{
    struct cfs__pool *p = arg;

    for (int i = 0; i < 2000; i++) {
        struct cfs__pool_conn *c;
        int rc = cfs__pool_acquire(p, 0, 5000, &c);

        if (rc != 0)
            continue;
        int now = atomic_fetch_add(&g_in_use, 1) + 1;
        int m = atomic_load(&g_max_in_use);

        while (now > m && !atomic_compare_exchange_weak(&g_max_in_use, &m, now))
            ;
        if (i % 7 == 0)
            sched_yield();
        atomic_fetch_sub(&g_in_use, 1);
        cfs__pool_release(c, i % 101 == 0 ? -ECONNRESET : 0);
    }
    return NULL;
}

static void test_stress(void **state)
{
    struct cfs__pool *p;
    pthread_t t[8];

    cfs__clock_fake_off(); /* real time: the waits are real here */
    p = mk(one, 1, 1, 3, 16);
    atomic_store(&g_in_use, 0);
    atomic_store(&g_max_in_use, 0);
    for (int i = 0; i < 8; i++)
        pthread_create(&t[i], NULL, stress_main, p);
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    assert_true(atomic_load(&g_max_in_use) <= 3);
    assert_true(atomic_load(&F.live) <= 3);
    assert_int_equal(stats(p, 0).in_use, 0);
    assert_int_equal(stats(p, 0).waiters, 0);
    cfs__pool_free(p);
    assert_int_equal(atomic_load(&F.live), 0);
}

/* Wait (up to 10 s of real time) for node's state, moving the fake clock on by
 * `step_ms` between looks so that intervals and timeouts keep coming. */
static bool health_is(size_t node, bool up, uint32_t min_failures, uint64_t step_ms)
{
    struct cfs__backend_health h;

    for (int i = 0; i < 2000; i++) {
        assert_int_equal(cfs__backend_health_node(node, &h), 0);
        if (h.probed && h.up == up && h.consecutive_failures >= min_failures)
            return true;
        cfs__clock_fake_advance(step_ms);
        usleep(5000);
    }
    return false;
}

static void test_health(void **state)
{
    const char *const two[] = {"a", "b"};
    struct cfs__pool *p = mk(two, 2, 0, 2, 2);
    struct cfs__backend_health_conf hc = {.interval_ms = 1000, .timeout_ms = 200,
                                          .down_after = 2};
    struct cfs__backend_health h;
    char detail[256];

    assert_true(cfs__backends_ready(detail, sizeof(detail))); /* not running: ready */
    assert_int_equal(cfs__backend_health_start(p, &hc), 0);
    assert_int_equal(cfs__backend_health_start(p, &hc), -EALREADY);
    cfs__backend_health_probe_now();
    assert_true(health_is(0, true, 0, 0));
    assert_true(health_is(1, true, 0, 0));
    assert_true(cfs__backends_ready(detail, sizeof(detail)));
    assert_non_null(strstr(detail, "a: up"));
    assert_int_equal(cfs__backend_health_check(NULL, detail, sizeof(detail)), 0);
    assert_int_equal(cfs__backend_health_node(0, &h), 0);
    assert_true(h.last_ok_ms > 0);

    /* node pings hang: timeouts count as failures, down after two */
    atomic_store(&F.ping_hang, true);
    assert_true(health_is(0, false, 2, 100));
    assert_true(health_is(1, false, 2, 100));
    assert_int_equal(cfs__backend_health_node(0, &h), 0);
    assert_int_equal(h.last_error, -ETIMEDOUT);
    assert_false(cfs__backends_ready(detail, sizeof(detail)));
    assert_non_null(strstr(detail, "down"));
    assert_int_equal(cfs__backend_health_check(NULL, detail, sizeof(detail)), 2);

    /* recovery */
    atomic_store(&F.ping_hang, false);
    assert_true(health_is(0, true, 0, 100));
    assert_true(cfs__backends_ready(NULL, 0));

    /* a ping error on one node only: degraded, still ready */
    atomic_store(&F.b_ping_rc, -ECONNREFUSED);
    assert_true(health_is(1, false, 2, 100));
    assert_true(health_is(0, true, 0, 0));
    assert_true(cfs__backends_ready(detail, sizeof(detail)));
    assert_non_null(strstr(detail, "b: down"));
    assert_non_null(strstr(detail, "Connection refused"));
    assert_int_equal(cfs__backend_health_check(NULL, detail, sizeof(detail)), 1);
    cfs__backend_health_stop();
    assert_int_equal(cfs__backend_health_node(0, &h), -ENOENT);
    cfs__pool_free(p);
}

/* ---- with the VFS's faulty backend: a "connection" is the export itself ---- */

static int vx_open(void *ctx, const char *node, void **h)
{
    (void)node;
    *h = ctx;
    return 0;
}

static void vx_close(void *ctx, void *h)
{
    (void)ctx;
    (void)h;
}

static int vx_ping(void *ctx, void *h)
{
    (void)ctx;
    return cfs__vfs_export_probe(h);
}

static const struct cfs__pool_conn_ops vx_ops = {vx_open, vx_close, vx_ping};

static void test_faulty_backend(void **state)
{
    char dir[] = "/tmp/cfs-test-pool-XXXXXX";
    struct cfs__export_opts eo = {.backend = "faulty:posix"};
    struct cfs__pool_conf pc = {.min_per_node = 1, .max_per_node = 2,
                                .breaker = {.failure_threshold = 3, .open_duration_ms = 500}};
    struct cfs__backend_health_conf hc = {.interval_ms = 1000, .timeout_ms = 200,
                                          .down_after = 2};
    struct cfs__backend_health h;
    struct cfs__pool *p = NULL;
    struct cfs__pool_conn *c;
    cfs_export *exp;
    char err[256];

    assert_non_null(mkdtemp(dir));
    assert_int_equal(cfs__vfs_init(NULL), 0);
    assert_int_equal(cfs__vfs_export_add("t", dir, 77, &eo), 0);
    exp = cfs__vfs_export_find("t");
    assert_non_null(exp);
    assert_int_equal(cfs__pool_new(one, 1, &pc, &vx_ops, exp, &p, err, sizeof(err)), 0);
    assert_int_equal(cfs__backend_health_start(p, &hc), 0);
    cfs__backend_health_probe_now();
    assert_true(health_is(0, true, 0, 0));

    /* the probe (op bit 0) fails: down after two failures */
    struct cfs__fault f = {.op_mask = 1, .error = -EIO};
    assert_int_equal(cfs__vfs_fault_set(exp, &f), 0);
    assert_true(health_is(0, false, 2, 100));
    assert_int_equal(cfs__backend_health_node(0, &h), 0);
    assert_int_equal(h.last_error, -EIO);
    assert_false(cfs__backends_ready(NULL, 0));
    /* the probe hangs: timeouts; clearing the fault releases it and the node comes back */
    struct cfs__fault hang = {.op_mask = 1, .hang = true};
    assert_int_equal(cfs__vfs_fault_set(exp, &hang), 0);
    assert_true(health_is(0, false, 4, 100));
    assert_int_equal(cfs__vfs_fault_set(exp, NULL), 0);
    assert_true(health_is(0, true, 0, 100));
    assert_true(cfs__backends_ready(NULL, 0));
    cfs__backend_health_stop();

    /* real VFS calls through the pool: EIO from the backend opens the breaker */
    const struct cfs_vfs_api *vfs = cfs__vfs_api();
    struct cfs_cred root = {0};
    struct cfs__fault eio = {.op_mask = 1ull << CFS_VOP_GETATTR, .error = -EIO};
    assert_int_equal(cfs__vfs_fault_set(exp, &eio), 0);
    for (int i = 0; i < 3; i++) {
        struct cfs_vfs_op op;

        assert_int_equal(cfs__pool_acquire(p, 0, 0, &c), 0);
        cfs_vfs_op_init(&op, CFS_VOP_GETATTR, &root, cfs__pool_conn_handle(c));
        assert_int_equal(vfs->export_root(op.exp, &op.fh), 0);
        cfs__pool_release(c, vfs->call(&op));
    }
    assert_int_equal(stats(p, 0).breaker, CFS__BREAKER_OPEN);
    assert_int_equal(cfs__pool_acquire(p, 0, 0, &c), CFS_ERETRY);
    assert_int_equal(cfs__vfs_fault_set(exp, NULL), 0);
    cfs__clock_fake_advance(500);
    {
        struct cfs_vfs_op op;

        assert_int_equal(cfs__pool_acquire(p, 0, 0, &c), 0);
        cfs_vfs_op_init(&op, CFS_VOP_GETATTR, &root, cfs__pool_conn_handle(c));
        assert_int_equal(vfs->export_root(op.exp, &op.fh), 0);
        assert_int_equal(vfs->call(&op), 0);
        cfs__pool_release(c, op.status);
    }
    assert_int_equal(stats(p, 0).breaker, CFS__BREAKER_CLOSED);
    cfs__pool_free(p);
    cfs__vfs_shutdown();
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_new_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_min_and_max, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_waiters_bounded_fifo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_waiter_gets_freed_slot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_breaker_interplay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_any_node, setup, teardown),
        cmocka_unit_test_setup_teardown(test_any_node_all_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stress, setup, teardown),
        cmocka_unit_test_setup_teardown(test_health, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faulty_backend, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
