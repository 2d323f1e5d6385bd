/*
 * tests/unit/test_metrics.c - the metrics registry and its Prometheus text encoder:
 * exact output of a small registry, escaping, histogram buckets, registration rules,
 * the overflow series, concurrent updates, and `promtool check metrics` over a full
 * scrape (skipped when promtool is absent).
 */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core.h"
#include "metrics.h"

static int reset(void **state)
{
    cfs__metrics_reset();
    return 0;
}

static char *render(void)
{
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(cfs__metrics_render_ex(&out, &len, CFS__METRICS_NO_PROCESS), 0);
    assert_non_null(out);
    assert_int_equal(strlen(out), len);
    return out;
}

static cfs_metric *reg(enum cfs_metric_type type, const char *name, const char *help,
                       const char *const *labels, const double *buckets, size_t nb)
{
    struct cfs_metric_desc d = {
        .size = sizeof(d), .type = type, .name = name, .help = help,
        .labels = labels, .buckets = buckets, .nbuckets = nb,
    };
    return cfs__metric_register(&d);
}

static void test_exact_text(void **state)
{
    static const char *const labels[] = {"op", "status", NULL};
    cfs_metric *ops = reg(CFS_METRIC_COUNTER, "cfs_test_ops_total", "Operations.", labels,
                          NULL, 0);
    cfs_metric *conns = reg(CFS_METRIC_GAUGE, "cfs_test_conns", "Open connections.", NULL,
                            NULL, 0);
    static const char *const one[] = {"x", NULL};
    cfs_metric *unused = reg(CFS_METRIC_GAUGE, "cfs_test_unused", "No series.", one, NULL, 0);
    cfs_metric *zero = reg(CFS_METRIC_COUNTER, "cfs_test_zero_total", "Zero.", NULL, NULL, 0);
    const char *v1[] = {"write", "err"}, *v2[] = {"read", "ok"};
    char *out;

    assert_non_null(ops);
    assert_non_null(conns);
    assert_non_null(unused);
    assert_non_null(zero);
    cfs__counter_add(cfs__metric_series(ops, v1), 1.5);
    cfs__counter_add(cfs__metric_series(ops, v2), 1);
    cfs__counter_add(cfs__metric_series(ops, v2), 2);
    cfs__counter_add(cfs__metric_series(ops, v2), -5);   /* ignored */
    cfs__counter_add(cfs__metric_series(ops, v2), NAN);  /* ignored */
    cfs__gauge_set(cfs__metric_series(conns, NULL), 10);
    cfs__gauge_add(cfs__metric_series(conns, NULL), -3);
    out = render();
    assert_string_equal(out,
                        "# HELP cfs_test_conns Open connections.\n"
                        "# TYPE cfs_test_conns gauge\n"
                        "cfs_test_conns 7\n"
                        "# HELP cfs_test_ops_total Operations.\n"
                        "# TYPE cfs_test_ops_total counter\n"
                        "cfs_test_ops_total{op=\"read\",status=\"ok\"} 3\n"
                        "cfs_test_ops_total{op=\"write\",status=\"err\"} 1.5\n"
                        "# HELP cfs_test_zero_total Zero.\n"
                        "# TYPE cfs_test_zero_total counter\n"
                        "cfs_test_zero_total 0\n");
    free(out);
}

static void test_values(void **state)
{
    cfs_metric *g = reg(CFS_METRIC_GAUGE, "g", "", NULL, NULL, 0);
    cfs_series *s = cfs__metric_series(g, NULL);
    char *out;

    cfs__gauge_set(s, 0.1);
    out = render();
    assert_string_equal(out, "# HELP g \n# TYPE g gauge\ng 0.1\n");
    free(out);
    cfs__gauge_set(s, 1e21);
    out = render();
    assert_non_null(strstr(out, "\ng 1e+21\n"));
    free(out);
    cfs__gauge_set(s, -INFINITY);
    out = render();
    assert_non_null(strstr(out, "\ng -Inf\n"));
    free(out);
    cfs__gauge_set(s, NAN);
    out = render();
    assert_non_null(strstr(out, "\ng NaN\n"));
    free(out);
    cfs__gauge_set(s, 1.0 / 3.0);
    out = render();
    assert_non_null(strstr(out, "\ng 0.33333333333333331\n"));
    free(out);
}

static void test_escaping(void **state)
{
    static const char *const labels[] = {"v", NULL};
    cfs_metric *m = reg(CFS_METRIC_COUNTER, "cfs_esc_total", "Back\\slash and\nnewline \"q\".",
                        labels, NULL, 0);
    const char *v1[] = {"a\"b\\c\nd"};
    const char *v2[] = {"bad\xff\x01utf8 caf\xc3\xa9"};
    char *out;

    const char *v3[] = {"bad\xfe\x02utf8 caf\xc3\xa9"}; /* renders like v2 */
    cfs__counter_add(cfs__metric_series(m, v1), 1);
    cfs__counter_add(cfs__metric_series(m, v2), 1);
    assert_ptr_equal(cfs__metric_series(m, v2), cfs__metric_series(m, v2));
    assert_ptr_equal(cfs__metric_series(m, v2), cfs__metric_series(m, v3));
    cfs__counter_add(cfs__metric_series(m, v3), 1);
    out = render();
    assert_string_equal(out,
                        "# HELP cfs_esc_total Back\\\\slash and\\nnewline \"q\".\n"
                        "# TYPE cfs_esc_total counter\n"
                        "cfs_esc_total{v=\"a\\\"b\\\\c\\nd\"} 1\n"
                        "cfs_esc_total{v=\"bad??utf8 caf\xc3\xa9\"} 2\n");
    free(out);
}

static void test_histogram(void **state)
{
    static const char *const labels[] = {"op", NULL};
    static const double b[] = {0.25, 1, INFINITY};
    cfs_metric *h = reg(CFS_METRIC_HISTOGRAM, "cfs_test_latency_seconds", "Latency.", labels,
                        b, 3);
    const char *v[] = {"get"};
    cfs_series *s = cfs__metric_series(h, v);
    char *out;

    assert_non_null(s);
    cfs__histogram_observe(s, 0.125);
    cfs__histogram_observe(s, 0.25); /* le is inclusive */
    cfs__histogram_observe(s, 0.5);
    cfs__histogram_observe(s, 2);
    cfs__histogram_observe(s, NAN);  /* ignored */
    out = render();
    assert_string_equal(out,
                        "# HELP cfs_test_latency_seconds Latency.\n"
                        "# TYPE cfs_test_latency_seconds histogram\n"
                        "cfs_test_latency_seconds_bucket{op=\"get\",le=\"0.25\"} 2\n"
                        "cfs_test_latency_seconds_bucket{op=\"get\",le=\"1\"} 3\n"
                        "cfs_test_latency_seconds_bucket{op=\"get\",le=\"+Inf\"} 4\n"
                        "cfs_test_latency_seconds_sum{op=\"get\"} 2.875\n"
                        "cfs_test_latency_seconds_count{op=\"get\"} 4\n");
    free(out);

    /* default buckets: 0.0001 .. 10 */
    cfs_metric *d = reg(CFS_METRIC_HISTOGRAM, "cfs_test_default_seconds", "D.", NULL, NULL, 0);
    cfs__histogram_observe(cfs__metric_series(d, NULL), 0.003);
    out = render();
    assert_non_null(strstr(out, "cfs_test_default_seconds_bucket{le=\"0.0001\"} 0\n"));
    assert_non_null(strstr(out, "cfs_test_default_seconds_bucket{le=\"0.0025\"} 0\n"));
    assert_non_null(strstr(out, "cfs_test_default_seconds_bucket{le=\"0.005\"} 1\n"));
    assert_non_null(strstr(out, "cfs_test_default_seconds_bucket{le=\"10\"} 1\n"));
    assert_non_null(strstr(out, "cfs_test_default_seconds_bucket{le=\"+Inf\"} 1\n"));
    assert_non_null(strstr(out, "cfs_test_default_seconds_count 1\n"));
    free(out);
    assert_int_equal(cfs__metrics_default_nbuckets, 16);
    assert_true(cfs__metrics_default_buckets[0] == 0.0001);
    assert_true(cfs__metrics_default_buckets[15] == 10);
}

static void test_register_rules(void **state)
{
    static const char *const l1[] = {"a", "b", NULL};
    static const char *const l2[] = {"a", NULL};
    static const char *const bad1[] = {"__x", NULL};
    static const char *const bad2[] = {"1a", NULL};
    static const char *const dup[] = {"a", "a", NULL};
    static const char *const five[] = {"a", "b", "c", "d", "e", NULL};
    static const char *const le[] = {"le", NULL};
    static const double desc_b[] = {1, 0.5};
    static const double b1[] = {1, 2};
    static const double b2[] = {1, 3};
    cfs_metric *m = reg(CFS_METRIC_COUNTER, "cfs_r_total", "x", l1, NULL, 0);

    assert_non_null(m);
    /* identical re-registration (module reloaded in place): the same family */
    assert_ptr_equal(reg(CFS_METRIC_COUNTER, "cfs_r_total", "other help", l1, NULL, 0), m);
    /* conflicts */
    assert_null(reg(CFS_METRIC_GAUGE, "cfs_r_total", "x", l1, NULL, 0));
    assert_null(reg(CFS_METRIC_COUNTER, "cfs_r_total", "x", l2, NULL, 0));
    assert_null(reg(CFS_METRIC_COUNTER, "cfs_r_total", "x", NULL, NULL, 0));
    /* names */
    assert_null(reg(CFS_METRIC_COUNTER, "", "x", NULL, NULL, 0));
    assert_null(reg(CFS_METRIC_COUNTER, NULL, "x", NULL, NULL, 0));
    assert_null(reg(CFS_METRIC_COUNTER, "9abc", "x", NULL, NULL, 0));
    assert_null(reg(CFS_METRIC_COUNTER, "a-b", "x", NULL, NULL, 0));
    assert_null(reg(CFS_METRIC_COUNTER, "process_foo", "x", NULL, NULL, 0));
    assert_non_null(reg(CFS_METRIC_COUNTER, "ns:sub_total", "x", NULL, NULL, 0));
    assert_null(reg(CFS_METRIC_COUNTER, "c1", "x", bad1, NULL, 0));
    assert_null(reg(CFS_METRIC_COUNTER, "c2", "x", bad2, NULL, 0));
    assert_null(reg(CFS_METRIC_COUNTER, "c3", "x", dup, NULL, 0));
    assert_null(reg(CFS_METRIC_COUNTER, "c4", "x", five, NULL, 0));
    assert_null(reg(CFS_METRIC_HISTOGRAM, "c5", "x", le, NULL, 0));
    assert_non_null(reg(CFS_METRIC_GAUGE, "c6", "x", le, NULL, 0));
    assert_null(reg((enum cfs_metric_type)42, "c7", "x", NULL, NULL, 0));
    /* buckets */
    assert_null(reg(CFS_METRIC_HISTOGRAM, "h0", "x", NULL, desc_b, 2));
    cfs_metric *h = reg(CFS_METRIC_HISTOGRAM, "h1", "x", NULL, b1, 2);
    assert_non_null(h);
    assert_ptr_equal(reg(CFS_METRIC_HISTOGRAM, "h1", "x", NULL, b1, 2), h);
    assert_null(reg(CFS_METRIC_HISTOGRAM, "h1", "x", NULL, b2, 2));
    assert_null(reg(CFS_METRIC_HISTOGRAM, "h1", "x", NULL, NULL, 0));
    /* histogram sample names are taken */
    assert_null(reg(CFS_METRIC_GAUGE, "h1_bucket", "x", NULL, NULL, 0));
    assert_null(reg(CFS_METRIC_GAUGE, "h1_count", "x", NULL, NULL, 0));
    assert_non_null(reg(CFS_METRIC_GAUGE, "g1_sum", "x", NULL, NULL, 0));
    assert_null(reg(CFS_METRIC_HISTOGRAM, "g1", "x", NULL, NULL, 0));
    /* a descriptor from the future is fine; one too short is not */
    struct cfs_metric_desc d = {.size = 8, .type = CFS_METRIC_GAUGE, .name = "short"};
    assert_null(cfs__metric_register(&d));
    assert_null(cfs__metric_register(NULL));
    /* NULL handles are harmless */
    assert_null(cfs__metric_series(NULL, NULL));
    cfs__counter_add(NULL, 1);
    cfs__gauge_set(NULL, 1);
    cfs__gauge_add(NULL, 1);
    cfs__histogram_observe(NULL, 1);
}

static void test_series_cache_and_overflow(void **state)
{
    static const char *const labels[] = {"k", NULL};
    cfs_metric *m = reg(CFS_METRIC_COUNTER, "cfs_many_total", "Many.", labels, NULL, 0);
    cfs_series *first = NULL, *ov, *ov2;
    char buf[32];
    const char *v[1] = {buf};
    char *out;

    for (int i = 0; i < CFS__METRICS_MAX_SERIES; i++) {
        snprintf(buf, sizeof(buf), "k%d", i);
        cfs_series *s = cfs__metric_series(m, v);
        assert_non_null(s);
        if (i == 0)
            first = s;
        cfs__counter_add(s, 1);
    }
    snprintf(buf, sizeof(buf), "k0");
    assert_ptr_equal(cfs__metric_series(m, v), first);
    snprintf(buf, sizeof(buf), "one-too-many");
    ov = cfs__metric_series(m, v);
    snprintf(buf, sizeof(buf), "another");
    ov2 = cfs__metric_series(m, v);
    assert_non_null(ov);
    assert_ptr_equal(ov, ov2);
    assert_ptr_not_equal(ov, first);
    cfs__counter_add(ov, 1);
    cfs__counter_add(ov2, 1);
    out = render();
    assert_non_null(strstr(out, "cfs_many_total{k=\"__overflow__\"} 2\n"));
    assert_non_null(strstr(out, "cfs_many_total{k=\"k999\"} 1\n"));
    assert_null(strstr(out, "one-too-many"));
    free(out);
    /* NULL label value == "" */
    static const char *const l2[] = {"a", NULL};
    cfs_metric *e = reg(CFS_METRIC_COUNTER, "cfs_empty_total", "E.", l2, NULL, 0);
    const char *empty[] = {""}, *nul[] = {NULL};
    assert_ptr_equal(cfs__metric_series(e, empty), cfs__metric_series(e, nul));
}

#define NTHREADS 2
#define NITER 200000
struct worker {
    cfs_series *c, *g, *h;
};

static void *worker(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < NITER; i++) {
        cfs__counter_add(w->c, 1);
        cfs__gauge_add(w->g, 0.5);
        cfs__histogram_observe(w->h, (i % 2) ? 0.001 : 5);
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    cfs_metric *c = reg(CFS_METRIC_COUNTER, "cfs_conc_total", "C.", NULL, NULL, 0);
    cfs_metric *g = reg(CFS_METRIC_GAUGE, "cfs_conc_gauge", "G.", NULL, NULL, 0);
    cfs_metric *h = reg(CFS_METRIC_HISTOGRAM, "cfs_conc_seconds", "H.", NULL, NULL, 0);
    struct worker w = {cfs__metric_series(c, NULL), cfs__metric_series(g, NULL),
                       cfs__metric_series(h, NULL)};
    pthread_t t[NTHREADS];
    char *out, expect[128];

    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker, &w), 0);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    out = render();
    snprintf(expect, sizeof(expect), "\ncfs_conc_total %d\n", NTHREADS * NITER);
    assert_non_null(strstr(out, expect));
    snprintf(expect, sizeof(expect), "\ncfs_conc_gauge %d\n", NTHREADS * NITER / 2);
    assert_non_null(strstr(out, expect));
    snprintf(expect, sizeof(expect), "\ncfs_conc_seconds_count %d\n", NTHREADS * NITER);
    assert_non_null(strstr(out, expect));
    snprintf(expect, sizeof(expect), "\ncfs_conc_seconds_bucket{le=\"0.001\"} %d\n",
             NTHREADS * NITER / 2);
    assert_non_null(strstr(out, expect));
    double sum = 0, want = NTHREADS * (NITER / 2) * 5.001;
    const char *at = strstr(out, "\ncfs_conc_seconds_sum ");
    assert_non_null(at);
    assert_int_equal(sscanf(at, "\ncfs_conc_seconds_sum %lf", &sum), 1);
    assert_true(fabs(sum - want) < want * 1e-9);
    free(out);
}

/* Concurrent series creation from two threads gives one pointer per label set. */
static void *creator(void *arg)
{
    cfs_metric *m = arg;
    char buf[16];
    const char *v[] = {buf};
    for (int i = 0; i < 500; i++) {
        snprintf(buf, sizeof(buf), "v%d", i % 50);
        cfs__counter_add(cfs__metric_series(m, v), 1);
    }
    return NULL;
}

static void test_concurrent_series(void **state)
{
    static const char *const labels[] = {"v", NULL};
    cfs_metric *m = reg(CFS_METRIC_COUNTER, "cfs_create_total", "C.", labels, NULL, 0);
    pthread_t t[2];
    char *out;

    pthread_create(&t[0], NULL, creator, m);
    pthread_create(&t[1], NULL, creator, m);
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);
    out = render();
    assert_non_null(strstr(out, "cfs_create_total{v=\"v0\"} 20\n"));
    assert_non_null(strstr(out, "cfs_create_total{v=\"v49\"} 20\n"));
    size_t lines = 0;
    for (const char *p = out; (p = strchr(p, '\n')) != NULL; p++)
        lines++;
    assert_int_equal(lines, 50 + 2);
    free(out);
}

static void test_process_metrics(void **state)
{
    char *out = NULL;
    size_t len;
    cfs_metric *a = reg(CFS_METRIC_GAUGE, "aaa", "first", NULL, NULL, 0);
    cfs_metric *z = reg(CFS_METRIC_GAUGE, "zzz", "last", NULL, NULL, 0);
    cfs__gauge_set(cfs__metric_series(a, NULL), 1);
    cfs__gauge_set(cfs__metric_series(z, NULL), 1);

    assert_int_equal(cfs__metrics_render(&out, &len), 0);
    const char *names[] = {"aaa", "process_cpu_seconds_total", "process_max_fds",
                           "process_open_fds", "process_resident_memory_bytes",
                           "process_start_time_seconds", "process_virtual_memory_bytes",
                           "zzz"};
    const char *prev = out;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char key[80];
        snprintf(key, sizeof(key), "# TYPE %s ", names[i]);
        const char *at = strstr(out, key);
        print_message("%s\n", key);
        assert_non_null(at);
        assert_true(at >= prev); /* sorted by name */
        prev = at;
    }
    double start = 0;
    const char *st = strstr(out, "\nprocess_start_time_seconds ");
    assert_non_null(st);
    assert_int_equal(sscanf(st, "\nprocess_start_time_seconds %lf", &start), 1);
    assert_true(start > 1.5e9 && start <= (double)time(NULL) + 1);
    double rss = 0;
    st = strstr(out, "\nprocess_resident_memory_bytes ");
    assert_int_equal(sscanf(st, "\nprocess_resident_memory_bytes %lf", &rss), 1);
    assert_true(rss > 0);
    free(out);
}

static void test_promtool(void **state)
{
    static const char *const labels[] = {"module", "op", NULL};
    char path[] = "/tmp/cfs-metrics-XXXXXX";
    char cmd[256];
    char *out;
    size_t len;
    int fd, rc;

    if (access("/usr/bin/promtool", X_OK) != 0) {
        print_message("SKIP: /usr/bin/promtool not found (Debian package prometheus); "
                      "promtool check not run\n");
        skip();
    }
    cfs_metric *c = reg(CFS_METRIC_COUNTER, "cfs_ops_total", "Operations by module and op.",
                        labels, NULL, 0);
    cfs_metric *g = reg(CFS_METRIC_GAUGE, "cfs_connections", "Open connections.", labels,
                        NULL, 0);
    cfs_metric *h = reg(CFS_METRIC_HISTOGRAM, "cfs_op_duration_seconds",
                        "Operation latency.", labels, NULL, 0);
    cfs_metric *b = reg(CFS_METRIC_COUNTER, "cfs_bytes_total", "Bytes with \"quotes\" \\ and\n"
                        "newline.", NULL, NULL, 0);
    const char *v1[] = {"nfs3", "READ"}, *v2[] = {"s3", "Put\"Object\\\n"};
    cfs__counter_add(cfs__metric_series(c, v1), 12);
    cfs__counter_add(cfs__metric_series(c, v2), 3);
    cfs__gauge_set(cfs__metric_series(g, v1), 4);
    cfs__gauge_set(cfs__metric_series(g, v2), -1);
    for (int i = 0; i < 100; i++)
        cfs__histogram_observe(cfs__metric_series(h, i % 2 ? v1 : v2), i * 0.01);
    cfs__counter_add(cfs__metric_series(b, NULL), 1e12);

    assert_int_equal(cfs__metrics_render(&out, &len), 0);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, out, len), (ssize_t)len);
    close(fd);
    free(out);
    snprintf(cmd, sizeof(cmd), "/usr/bin/promtool check metrics < %s 2>&1", path);
    rc = system(cmd);
    if (rc != 0) {
        snprintf(cmd, sizeof(cmd), "cat %s", path);
        (void)!system(cmd);
    }
    unlink(path);
    assert_true(WIFEXITED(rc));
    assert_int_equal(WEXITSTATUS(rc), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_exact_text, reset),
        cmocka_unit_test_setup(test_values, reset),
        cmocka_unit_test_setup(test_escaping, reset),
        cmocka_unit_test_setup(test_histogram, reset),
        cmocka_unit_test_setup(test_register_rules, reset),
        cmocka_unit_test_setup(test_series_cache_and_overflow, reset),
        cmocka_unit_test_setup(test_concurrent, reset),
        cmocka_unit_test_setup(test_concurrent_series, reset),
        cmocka_unit_test_setup(test_process_metrics, reset),
        cmocka_unit_test_setup(test_promtool, reset),
    };
    cfs__log_set_level(CFS_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
