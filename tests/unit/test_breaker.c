/*
 * tests/unit/test_breaker.c - the circuit breaker state machine driven by the fake
 * clock: closed -> open at the threshold, fail fast while open, half-open probes bounded,
 * probe success closes and failure re-opens, failure classification, cancel, the metrics
 * series it updates.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <cfs/errors.h>

#include "breaker.h"
#include "clock.h"
#include "core.h"
#include "metrics.h"

static int setup(void **state)
{
    (void)state;
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

static struct cfs__breaker *mk(uint32_t threshold, uint64_t open_ms, uint32_t probes)
{
    struct cfs__breaker_conf c = {threshold, open_ms, probes};
    struct cfs__breaker *b = cfs__breaker_new("n1", &c);

    assert_non_null(b);
    return b;
}

static void call(struct cfs__breaker *b, int result)
{
    assert_int_equal(cfs__breaker_allow(b), 0);
    cfs__breaker_report(b, result);
}

static void test_opens_at_threshold(void **state)
{
    struct cfs__breaker *b = mk(3, 1000, 1);
    struct cfs__breaker_stats st;

    call(b, -EIO);
    call(b, -ETIMEDOUT);
    assert_int_equal(cfs__breaker_state(b), CFS__BREAKER_CLOSED);
    call(b, 0); /* a success resets the count */
    call(b, -EIO);
    call(b, -EIO);
    assert_int_equal(cfs__breaker_state(b), CFS__BREAKER_CLOSED);
    call(b, CFS_ESERVERFAULT);
    assert_int_equal(cfs__breaker_state(b), CFS__BREAKER_OPEN);
    /* fail fast, never blocks */
    for (int i = 0; i < 100; i++)
        assert_int_equal(cfs__breaker_allow(b), CFS_ERETRY);
    cfs__breaker_stats(b, &st);
    assert_int_equal(st.rejected, 100);
    assert_int_equal(st.transitions, 1);
    cfs__breaker_free(b);
}

static void test_ordinary_errors_are_successes(void **state)
{
    struct cfs__breaker *b = mk(2, 1000, 1);
    const int ok[] = {0, -ENOENT, -EACCES, -EEXIST, -ENOTEMPTY, -ESTALE, -EDQUOT, -EPERM,
                      CFS_ERETRY};

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_false(cfs__breaker_is_failure(ok[i]));
        call(b, -EIO);
        call(b, ok[i]);
    }
    assert_int_equal(cfs__breaker_state(b), CFS__BREAKER_CLOSED);
    assert_true(cfs__breaker_is_failure(-ECONNREFUSED));
    assert_true(cfs__breaker_is_failure(-ENOTCONN));
    cfs__breaker_free(b);
}

static void test_half_open_then_close(void **state)
{
    struct cfs__breaker *b = mk(1, 5000, 2);

    call(b, -EIO);
    assert_int_equal(cfs__breaker_state(b), CFS__BREAKER_OPEN);
    cfs__clock_fake_advance(4999);
    assert_int_equal(cfs__breaker_allow(b), CFS_ERETRY);
    cfs__clock_fake_advance(1);
    /* two probes admitted, the third fails fast */
    assert_int_equal(cfs__breaker_allow(b), 0);
    assert_int_equal(cfs__breaker_state(b), CFS__BREAKER_HALF_OPEN);
    assert_int_equal(cfs__breaker_allow(b), 0);
    assert_int_equal(cfs__breaker_allow(b), CFS_ERETRY);
    /* a probe that was never made gives its slot back */
    cfs__breaker_cancel(b);
    assert_int_equal(cfs__breaker_allow(b), 0);
    cfs__breaker_report(b, 0);
    assert_int_equal(cfs__breaker_state(b), CFS__BREAKER_CLOSED);
    /* the other probe's late result changes nothing while closed (a success) */
    cfs__breaker_report(b, 0);
    assert_int_equal(cfs__breaker_state(b), CFS__BREAKER_CLOSED);
    for (int i = 0; i < 10; i++)
        call(b, 0);
    cfs__breaker_free(b);
}

static void test_half_open_failure_reopens(void **state)
{
    struct cfs__breaker *b = mk(2, 1000, 1);
    struct cfs__breaker_stats st;

    call(b, -EIO);
    call(b, -EIO);
    cfs__clock_fake_advance(1000);
    assert_int_equal(cfs__breaker_allow(b), 0);
    cfs__breaker_report(b, -ETIMEDOUT);
    assert_int_equal(cfs__breaker_state(b), CFS__BREAKER_OPEN);
    /* a fresh open duration from now */
    cfs__clock_fake_advance(999);
    assert_int_equal(cfs__breaker_allow(b), CFS_ERETRY);
    cfs__clock_fake_advance(1);
    assert_int_equal(cfs__breaker_allow(b), 0);
    cfs__breaker_stats(b, &st);
    assert_int_equal(st.state, CFS__BREAKER_HALF_OPEN);
    assert_int_equal(st.probes_in_flight, 1);
    /* closed -> open -> half -> open -> half */
    assert_int_equal(st.transitions, 4);
    cfs__breaker_report(b, 0);
    assert_int_equal(cfs__breaker_state(b), CFS__BREAKER_CLOSED);
    cfs__breaker_free(b);
}

static void test_report_while_open_ignored(void **state)
{
    struct cfs__breaker *b = mk(1, 1000, 1);

    /* two calls admitted while closed; the first failure opens it */
    assert_int_equal(cfs__breaker_allow(b), 0);
    assert_int_equal(cfs__breaker_allow(b), 0);
    cfs__breaker_report(b, -EIO);
    assert_int_equal(cfs__breaker_state(b), CFS__BREAKER_OPEN);
    cfs__breaker_report(b, 0); /* late success does not close it */
    assert_int_equal(cfs__breaker_state(b), CFS__BREAKER_OPEN);
    cfs__breaker_free(b);
}

static void test_defaults_and_reconf(void **state)
{
    struct cfs__breaker *b = cfs__breaker_new("n-default", NULL);
    struct cfs__breaker_conf c = {1, 10, 1};

    assert_non_null(b);
    for (int i = 0; i < 4; i++)
        call(b, -EIO);
    assert_int_equal(cfs__breaker_state(b), CFS__BREAKER_CLOSED); /* default 5 */
    call(b, -EIO);
    assert_int_equal(cfs__breaker_state(b), CFS__BREAKER_OPEN);
    cfs__breaker_set_conf(b, &c);
    cfs__clock_fake_advance(10);
    assert_int_equal(cfs__breaker_allow(b), 0);
    cfs__breaker_report(b, 0);
    assert_int_equal(cfs__breaker_state(b), CFS__BREAKER_CLOSED);
    assert_string_equal(cfs__breaker_node(b), "n-default");
    assert_string_equal(cfs__breaker_state_name(CFS__BREAKER_HALF_OPEN), "half-open");
    cfs__breaker_free(b);
}

static void test_log_lines(void **state)
{
    char path[] = "/tmp/cfs-test-breaker-XXXXXX";
    int fd = mkstemp(path);
    struct cfs__breaker *b = mk(1, 100, 1);
    char buf[4096];
    FILE *f;
    size_t n;

    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(cfs__log_set_file(path), 0);
    cfs__log_set_level(CFS_LOG_INFO);
    call(b, -EIO);
    cfs__clock_fake_advance(100);
    call(b, 0);
    cfs__log_set_file(NULL);
    cfs__log_set_level(CFS_LOG_ERROR);
    f = fopen(path, "r");
    assert_non_null(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    unlink(path);
    assert_non_null(strstr(buf, "node n1: closed -> open"));
    assert_non_null(strstr(buf, "node n1: open -> half-open"));
    assert_non_null(strstr(buf, "node n1: half-open -> closed"));
    cfs__breaker_free(b);
}

static void test_metrics(void **state)
{
    struct cfs__breaker *b = mk(1, 100, 1);
    char *out = NULL;
    size_t len;

    call(b, -EIO);
    assert_int_equal(cfs__breaker_allow(b), CFS_ERETRY);
    assert_int_equal(cfs__metrics_render_ex(&out, &len, CFS__METRICS_NO_PROCESS), 0);
    assert_non_null(strstr(out, "cfs_backend_breaker_state{node=\"n1\"} 1"));
    assert_non_null(strstr(out, "cfs_backend_breaker_transitions_total{node=\"n1\",to=\"open\"}"));
    assert_non_null(strstr(out, "cfs_backend_breaker_rejected_total{node=\"n1\"}"));
    free(out);
    cfs__clock_fake_advance(100);
    call(b, 0);
    assert_int_equal(cfs__metrics_render_ex(&out, &len, CFS__METRICS_NO_PROCESS), 0);
    assert_non_null(strstr(out, "cfs_backend_breaker_state{node=\"n1\"} 0"));
    free(out);
    cfs__breaker_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_opens_at_threshold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ordinary_errors_are_successes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_half_open_then_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_half_open_failure_reopens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report_while_open_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defaults_and_reconf, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
