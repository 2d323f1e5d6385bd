/*
 * tests/unit/test_vfs_pool.c - every VFS call through the backend pool and its breaker
 * (core/backend_glue.c + core/vfs/guard.c), with the faulty backend and the fake clock:
 * failures open the breaker and later calls fail fast with CFS_ERETRY (call and submit),
 * a half-open probe closes it again, a hung backend call is counted as a timeout by the
 * watchdog so that later callers get CFS_ERETRY instead of hanging, an exhausted pool
 * answers CFS_ERETRY, health checks feed readiness and cfs_backend_up, and a reload
 * changes the pool without dropping the calls in flight.
 */
#include <pthread.h>
#include <time.h>

#include "backend_glue.h"
#include "breaker.h"
#include "clock.h"
#include "config.h"
#include "core.h"
#include "healthcheck.h"
#include <unistd.h>
#include "metrics.h"
#include "pool.h"
#include "test_vfs_util.h"

static cfs_export *FX;
static struct cfs_fh RX;

/* backend settings: 3 failures open the breaker for 1 s; a call may run 500 ms */
static struct cfs__config *conf_of(const char *nodes, int threshold, int max)
{
    char text[1024];
    struct cfs__config *c = NULL;

    snprintf(text, sizeof(text),
             "gateway = { state_dir = \"%s\"; };\n"
             "backend = { %s connection_pool = { min_per_node = 1; max_per_node = %d; };\n"
             "  circuit_breaker = { failure_threshold = %d; open_duration_ms = 1000;\n"
             "                      op_timeout_ms = 500; };\n"
             "  health = { interval_ms = 3600000; timeout_ms = 1000; }; };\n",
             T_state, nodes ? nodes : "", max, threshold);
    assert_int_equal(cfs__config_load_text(text, &c), 0);
    return c;
}

static int setup(void **state)
{
    struct cfs__export_opts o = { .backend = "faulty:posix" };
    struct cfs__config *c;

    if (t_setup(state) != 0)
        return -1;
    cfs__clock_fake_set(1000000);
    if (cfs__vfs_export_add("fx", T_exp2, 9, &o) != 0)
        return -1;
    FX = V->export_find("fx");
    V->export_root(FX, &RX);
    c = conf_of(NULL, 3, 8);
    if (cfs__backend_setup(c) != 0)
        return -1;
    cfs__config_free(c);
    /* The first health probe starts at once and reports to the breaker: let it finish
     * so it cannot reset a failure count a test is about to look at. */
    for (int i = 0; i < 2000; i++) {
        struct cfs__backend_health h;
        if (cfs__backend_health_node(0, &h) == 0 && h.probed && !h.probing)
            break;
        usleep(1000);
    }
    return 0;
}

/*
 * The tests of calls run without health probes: a probe goes through the same (faulty)
 * backend and the same breaker, so its hangs and successes would race the counts the
 * tests look at. test_health_and_ready keeps them.
 */
static int setup_noprobe(void **state)
{
    if (setup(state) != 0)
        return -1;
    cfs__backend_health_stop();
    return 0;
}

static int teardown(void **state)
{
    cfs__vfs_fault_set(FX, NULL);
    cfs__backend_teardown();
    cfs__clock_fake_off();
    return t_teardown(state);
}

static int getattr_fx(void)
{
    struct cfs_vfs_op op;

    cfs_vfs_op_init(&op, CFS_VOP_GETATTR, &ROOT, FX);
    op.fh = RX;
    return V->call(&op);
}

static uint64_t real_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static enum cfs__breaker_state breaker_state(void)
{
    return cfs__breaker_state(cfs__pool_node_breaker(cfs__backend_pool(), 0));
}

static void test_breaker_opens_and_closes(void **state)
{
    struct cfs__fault f = { .op_mask = 1ull << CFS_VOP_GETATTR, .error = -EIO };
    struct cfs__pool_stats ps;
    uint64_t calls, t0, dt;

    (void)state;
    assert_int_equal(getattr_fx(), 0);
    assert_int_equal(breaker_state(), CFS__BREAKER_CLOSED);
    /* ordinary errors are answers, not failures */
    assert_int_equal(t_lookup(&ROOT, &RX, "missing", NULL, NULL), -ENOENT);
    assert_int_equal(cfs__vfs_fault_set(FX, &f), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(getattr_fx(), -EIO);
    assert_int_equal(breaker_state(), CFS__BREAKER_OPEN);
    /* open: fail fast, the backend is not called */
    calls = cfs__vfs_fault_calls(FX);
    t0 = real_us();
    for (int i = 0; i < 100; i++)
        assert_int_equal(getattr_fx(), CFS_ERETRY);
    dt = real_us() - t0;
    assert_true(dt < 100 * 200); /* microseconds each, even under sanitizers */
    /* none of the 100 reached the backend (a health probe thread may have: at most 1) */
    assert_true(cfs__vfs_fault_calls(FX) - calls <= 1);
    assert_true(cfs__backend_rejecting(FX));
    /* every export behind the node: e1 too */
    assert_int_equal(t_getattr(&ROOT, &R1, NULL), CFS_ERETRY);
    /* the retry answer of each protocol */
    assert_int_equal(cfs_err_nfs3(CFS_ERETRY), CFS_NFS3ERR_JUKEBOX);
    assert_int_equal(cfs__pool_node_stats(cfs__backend_pool(), 0, &ps), 0);
    assert_true(ps.rejected >= 100);
    assert_int_equal(ps.in_use, 0);

    /* after open_duration_ms a half-open probe that fails opens it again */
    cfs__clock_fake_advance(1000);
    assert_false(cfs__backend_rejecting(FX));
    assert_int_equal(getattr_fx(), -EIO);
    assert_int_equal(breaker_state(), CFS__BREAKER_OPEN);
    assert_int_equal(getattr_fx(), CFS_ERETRY);
    /* the backend recovers: the next probe closes it */
    assert_int_equal(cfs__vfs_fault_set(FX, NULL), 0);
    cfs__clock_fake_advance(999);
    assert_int_equal(getattr_fx(), CFS_ERETRY);
    cfs__clock_fake_advance(1);
    assert_int_equal(getattr_fx(), 0);
    assert_int_equal(breaker_state(), CFS__BREAKER_CLOSED);
    assert_int_equal(t_getattr(&ROOT, &R1, NULL), 0);
    assert_int_equal(getattr_fx(), 0);
}

/* ---- hung backend calls ---- */
struct caller {
    pthread_t t;
    int status;
};

static void *hung_call(void *p)
{
    struct caller *c = p;

    __atomic_store_n(&c->status, getattr_fx(), __ATOMIC_SEQ_CST);
    return NULL;
}

static void wait_calls(uint64_t n)
{
    for (int i = 0; i < 5000 && cfs__vfs_fault_calls(FX) < n; i++)
        usleep(1000);
    assert_true(cfs__vfs_fault_calls(FX) >= n);
}

struct async_ctx {
    pthread_mutex_t m;
    pthread_cond_t c;
    int status;
    bool done, on_loop;
    cfs_loop *loop;
};

static void async_done(struct cfs_vfs_op *op, void *arg)
{
    struct async_ctx *a = arg;

    pthread_mutex_lock(&a->m);
    a->status = op->status;
    a->on_loop = cfs__loop_current() == a->loop;
    a->done = true;
    pthread_cond_signal(&a->c);
    pthread_mutex_unlock(&a->m);
}

static void test_hang_fails_later_calls_fast(void **state)
{
    struct cfs__fault f = { .op_mask = 1ull << CFS_VOP_GETATTR, .hang = true };
    struct caller c[3];
    struct cfs__pool_stats ps;
    uint64_t base;

    (void)state;
    assert_int_equal(cfs__loops_start(1, 2), 0);
    base = cfs__vfs_fault_calls(FX);
    assert_int_equal(cfs__vfs_fault_set(FX, &f), 0);
    for (int i = 0; i < 3; i++) {
        c[i].status = 99;
        assert_int_equal(pthread_create(&c[i].t, NULL, hung_call, &c[i]), 0);
    }
    wait_calls(base + 3);
    /* a health probe may have been among those calls: wait for our three themselves */
    for (int i = 0; i < 2000; i++) {
        assert_int_equal(cfs__pool_node_stats(cfs__backend_pool(), 0, &ps), 0);
        if (ps.in_use >= 3)
            break;
        usleep(1000);
    }
    assert_true(ps.in_use >= 3); /* each hung call holds a pool thread and a connection */
    /* not yet late: nothing counted */
    cfs__backend_watchdog_run();
    assert_int_equal(breaker_state(), CFS__BREAKER_CLOSED);
    /* past op_timeout_ms: three timeouts open the breaker */
    cfs__clock_fake_advance(500);
    cfs__backend_watchdog_run();
    assert_int_equal(breaker_state(), CFS__BREAKER_OPEN);
    for (int i = 0; i < 3; i++)
        assert_int_equal(__atomic_load_n(&c[i].status, __ATOMIC_SEQ_CST), 99);
    /* later callers: CFS_ERETRY at once, synchronously ... */
    uint64_t t0 = real_us();
    assert_int_equal(getattr_fx(), CFS_ERETRY);
    assert_true(real_us() - t0 < 100000);
    /* ... and asynchronously: done(CFS_ERETRY) on the submitting loop */
    struct async_ctx a = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 99, false,
                           false, cfs__loop_get(0) };
    struct cfs_vfs_op op;
    cfs_vfs_op_init(&op, CFS_VOP_GETATTR, &ROOT, FX);
    op.fh = RX;
    assert_int_equal(V->submit(a.loop, &op, async_done, &a), 0);
    pthread_mutex_lock(&a.m);
    while (!a.done)
        pthread_cond_wait(&a.c, &a.m);
    pthread_mutex_unlock(&a.m);
    assert_int_equal(a.status, CFS_ERETRY);
    assert_true(a.on_loop);

    /* the hang ends: the calls finish with their result; the breaker heard them already */
    assert_int_equal(cfs__vfs_fault_set(FX, NULL), 0);
    for (int i = 0; i < 3; i++) {
        pthread_join(c[i].t, NULL);
        assert_int_equal(c[i].status, 0);
    }
    assert_int_equal(breaker_state(), CFS__BREAKER_OPEN);
    assert_int_equal(cfs__pool_node_stats(cfs__backend_pool(), 0, &ps), 0);
    assert_int_equal(ps.in_use, 0);
    cfs__clock_fake_advance(1000);
    assert_int_equal(getattr_fx(), 0);
    assert_int_equal(breaker_state(), CFS__BREAKER_CLOSED);
    cfs__loops_stop();
}

/* a call that returns, but later than op_timeout_ms, is a failure for the breaker */
static void test_slow_call_counts_as_timeout(void **state)
{
    struct cfs__breaker_stats st;

    (void)state;
    /* run a slow getattr by moving the fake clock while it runs (delay in real time) */
    struct cfs__fault f = { .op_mask = 1ull << CFS_VOP_GETATTR, .hang = true };
    struct caller c = { .status = 99 };
    uint64_t base = cfs__vfs_fault_calls(FX);

    assert_int_equal(cfs__vfs_fault_set(FX, &f), 0);
    assert_int_equal(pthread_create(&c.t, NULL, hung_call, &c), 0);
    wait_calls(base + 1);
    cfs__clock_fake_advance(600);
    assert_int_equal(cfs__vfs_fault_set(FX, NULL), 0); /* returns before the watchdog saw it */
    pthread_join(c.t, NULL);
    assert_int_equal(c.status, 0);
    cfs__breaker_stats(cfs__pool_node_breaker(cfs__backend_pool(), 0), &st);
    assert_int_equal(st.consecutive_failures, 1);
    assert_int_equal(getattr_fx(), 0);
    cfs__breaker_stats(cfs__pool_node_breaker(cfs__backend_pool(), 0), &st);
    assert_int_equal(st.consecutive_failures, 0);
}

/* every connection busy: a caller waits at most the acquire timeout, then CFS_ERETRY */
static void test_pool_exhausted(void **state)
{
    struct cfs__config *c2 = conf_of(NULL, 100, 2);
    struct cfs__fault f = { .op_mask = 1ull << CFS_VOP_GETATTR, .hang = true };
    struct caller c[3];
    struct cfs__pool_stats ps;
    uint64_t base = cfs__vfs_fault_calls(FX);

    (void)state;
    assert_int_equal(cfs__backend_setup(c2), 0); /* in place: max 2, threshold 100 */
    cfs__config_free(c2);
    assert_int_equal(cfs__vfs_fault_set(FX, &f), 0);
    for (int i = 0; i < 2; i++) {
        c[i].status = 99;
        assert_int_equal(pthread_create(&c[i].t, NULL, hung_call, &c[i]), 0);
    }
    wait_calls(base + 2);
    c[2].status = 99;
    assert_int_equal(pthread_create(&c[2].t, NULL, hung_call, &c[2]), 0);
    for (int i = 0; i < 2000; i++) {
        assert_int_equal(cfs__pool_node_stats(cfs__backend_pool(), 0, &ps), 0);
        if (ps.waiters == 1)
            break;
        usleep(1000);
    }
    assert_int_equal(ps.waiters, 1);
    assert_int_equal(ps.in_use, 2);
    cfs__clock_fake_advance(5000); /* the default acquire timeout */
    pthread_join(c[2].t, NULL);
    assert_int_equal(c[2].status, CFS_ERETRY);
    assert_int_equal(cfs__vfs_fault_set(FX, NULL), 0);
    for (int i = 0; i < 2; i++) {
        pthread_join(c[i].t, NULL);
        assert_int_equal(c[i].status, 0);
    }
    assert_int_equal(getattr_fx(), 0);
}

/* a reload that changes the nodes builds a new pool; calls in flight finish on the old */
static void test_reload_keeps_calls(void **state)
{
    struct cfs__fault f = { .op_mask = 1ull << CFS_VOP_GETATTR, .hang = true };
    struct caller c = { .status = 99 };
    struct cfs__pool *before = cfs__backend_pool();
    struct cfs__config *c2;
    uint64_t base = cfs__vfs_fault_calls(FX);

    (void)state;
    /* breaker settings alone: in place, state kept */
    c2 = conf_of(NULL, 7, 8);
    assert_int_equal(cfs__backend_setup(c2), 0);
    cfs__config_free(c2);
    assert_ptr_equal(cfs__backend_pool(), before);

    assert_int_equal(cfs__vfs_fault_set(FX, &f), 0);
    assert_int_equal(pthread_create(&c.t, NULL, hung_call, &c), 0);
    wait_calls(base + 1);
    c2 = conf_of("metadata_servers = [ \"n1\", \"n2\" ];", 3, 8);
    assert_int_equal(cfs__backend_setup(c2), 0);
    cfs__config_free(c2);
    assert_ptr_not_equal(cfs__backend_pool(), before);
    assert_int_equal(cfs__pool_node_count(cfs__backend_pool()), 2);
    assert_int_equal(t_getattr(&ROOT, &R1, NULL), 0); /* new calls use the new pool */
    assert_true(cfs__backends_ready(NULL, 0));
    /* the old call is still running; it finishes and releases into the old pool */
    assert_int_equal(__atomic_load_n(&c.status, __ATOMIC_SEQ_CST), 99);
    assert_int_equal(cfs__vfs_fault_set(FX, NULL), 0);
    pthread_join(c.t, NULL);
    assert_int_equal(c.status, 0);
    assert_int_equal(getattr_fx(), 0);
}

static bool metric_has(const char *needle)
{
    char *text = NULL;
    size_t len = 0;
    bool found;

    assert_int_equal(cfs__metrics_render(&text, &len), 0);
    found = strstr(text, needle) != NULL;
    free(text);
    return found;
}

static void test_health_and_ready(void **state)
{
    struct cfs__fault f = { .op_mask = 1, .error = -EIO }; /* bit 0 = probe */
    struct cfs__backend_health h;
    char detail[256];

    (void)state;
    assert_true(cfs__backends_ready(detail, sizeof(detail)));
    assert_non_null(strstr(detail, "local: up"));
    assert_int_equal(cfs__backend_health_node(0, &h), 0);
    assert_true(h.up);
    assert_true(metric_has("cfs_backend_up{node=\"local\"} 1"));
    assert_true(metric_has("cfs_backend_pool_in_use{node=\"local\"}"));
    assert_true(metric_has("cfs_backend_breaker_state{node=\"local\"}"));
    /* the probe fails (down after 2): not ready */
    assert_int_equal(cfs__vfs_fault_set(FX, &f), 0);
    cfs__backend_health_probe_now();
    cfs__backend_health_probe_now();
    assert_false(cfs__backends_ready(detail, sizeof(detail)));
    assert_true(metric_has("cfs_backend_up{node=\"local\"} 0"));
    /* the export root renamed away: down too */
    assert_int_equal(cfs__vfs_fault_set(FX, NULL), 0);
    cfs__backend_health_probe_now();
    assert_true(cfs__backends_ready(NULL, 0));
    char moved[400];
    snprintf(moved, sizeof(moved), "%s.moved", T_exp1);
    assert_int_equal(rename(T_exp1, moved), 0);
    cfs__backend_health_probe_now();
    cfs__backend_health_probe_now();
    assert_false(cfs__backends_ready(detail, sizeof(detail)));
    assert_int_equal(rename(moved, T_exp1), 0);
    cfs__backend_health_probe_now();
    assert_true(cfs__backends_ready(NULL, 0));
    assert_true(metric_has("cfs_backend_up{node=\"local\"} 1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_breaker_opens_and_closes, setup_noprobe, teardown),
        cmocka_unit_test_setup_teardown(test_hang_fails_later_calls_fast, setup_noprobe, teardown),
        cmocka_unit_test_setup_teardown(test_slow_call_counts_as_timeout, setup_noprobe, teardown),
        cmocka_unit_test_setup_teardown(test_pool_exhausted, setup_noprobe, teardown),
        cmocka_unit_test_setup_teardown(test_reload_keeps_calls, setup_noprobe, teardown),
        cmocka_unit_test_setup_teardown(test_health_and_ready, setup, teardown),
    };
    if (geteuid() != 0) { /* the VFS fixtures need root (see test_vfs.c) */
        printf("%s: not root: skipped\n", __FILE__);
        return 0;
    }
    T_handles = CFS__HANDLES_AUTO;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
