/*
 * tests/unit/test_quota.c - quotas: hard limits, soft limits with the grace period on the
 * fake clock, files and bytes, per user / per group / default limits, all-or-nothing
 * charges, releases, the rescan directory walk (hard links once, subdirectories), and
 * the metrics.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "core.h"
#include "metrics.h"
#include "quota.h"

#define EXP 7u

static int setup(void **state)
{
    (void)state;
    cfs__log_set_level(CFS_LOG_ERROR);
    cfs__clock_fake_set(100000);
    cfs__quota_reset();
    assert_int_equal(cfs__quota_export_add(EXP, "home"), 0);
    assert_int_equal(cfs__quota_export_add(EXP, "home"), 0); /* idempotent */
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cfs__quota_reset();
    cfs__clock_fake_off();
    return 0;
}

static struct cfs__quota_usage get(enum cfs__quota_kind k, uint32_t id)
{
    struct cfs__quota_usage u;

    assert_int_equal(cfs__quota_get(EXP, k, id, &u), 0);
    return u;
}

static void test_untracked_and_errors(void **state)
{
    struct cfs__quota_limits l = {.bytes_soft = 10, .bytes_hard = 5};
    struct cfs__quota_usage u;

    assert_int_equal(cfs__quota_charge(99, 1, 1, 1 << 30, 1000), 0);
    assert_int_equal(cfs__quota_get(99, CFS__QUOTA_EXPORT, 0, &u), -ENOENT);
    assert_int_equal(cfs__quota_set(99, CFS__QUOTA_EXPORT, 0, NULL), -ENOENT);
    assert_int_equal(cfs__quota_set(EXP, CFS__QUOTA_EXPORT, 0, &l), -EINVAL);
    assert_int_equal(cfs__quota_set(EXP, (enum cfs__quota_kind)9, 0, NULL), -EINVAL);
    assert_int_equal(cfs__quota_rescan(99, "/tmp"), -ENOENT);
    /* no limits: tracked but never refused */
    assert_int_equal(cfs__quota_charge(EXP, 1, 1, 1 << 30, 1000), 0);
    u = get(CFS__QUOTA_EXPORT, 0);
    assert_int_equal(u.bytes, 1 << 30);
    assert_int_equal(u.files, 1000);
    assert_false(u.has_limits);
}

static void test_hard_limit(void **state)
{
    struct cfs__quota_limits l = {.bytes_hard = 1000, .files_hard = 3};

    assert_int_equal(cfs__quota_set(EXP, CFS__QUOTA_EXPORT, 0, &l), 0);
    assert_int_equal(cfs__quota_charge(EXP, 1, 1, 1000, 0), 0);
    assert_int_equal(cfs__quota_charge(EXP, 1, 1, 1, 0), -EDQUOT);
    cfs__quota_release(EXP, 1, 1, 500, 0);
    assert_int_equal(cfs__quota_charge(EXP, 1, 1, 400, 0), 0);
    assert_int_equal(get(CFS__QUOTA_EXPORT, 0).bytes, 900);
    assert_int_equal(get(CFS__QUOTA_USER, 1).bytes, 900);
    assert_int_equal(cfs__quota_charge(EXP, 1, 1, 0, 3), 0);
    assert_int_equal(cfs__quota_charge(EXP, 2, 2, 0, 1), -EDQUOT);
    /* shrinking always passes, even together with a refused kind of growth */
    assert_int_equal(cfs__quota_charge(EXP, 1, 1, -100, 0), 0);
    assert_int_equal(cfs__quota_charge(EXP, 1, 1, -100, 1), -EDQUOT);
    assert_int_equal(get(CFS__QUOTA_EXPORT, 0).bytes, 800);
    /* huge deltas saturate instead of overflowing */
    assert_int_equal(cfs__quota_charge(EXP, 1, 1, INT64_MAX, 0), -EDQUOT);
    assert_int_equal(cfs__quota_charge(EXP, 9, 9, 0, INT64_MAX), -EDQUOT);
    /* usage never goes negative */
    assert_int_equal(cfs__quota_charge(EXP, 1, 1, -100000, -100), 0);
    assert_int_equal(get(CFS__QUOTA_EXPORT, 0).bytes, 0);
    assert_int_equal(get(CFS__QUOTA_EXPORT, 0).files, 0);
}

static void test_soft_grace(void **state)
{
    struct cfs__quota_limits l = {.bytes_soft = 100, .bytes_hard = 1000, .grace_ms = 1000};
    struct cfs__quota_usage u;

    assert_int_equal(cfs__quota_set(EXP, CFS__QUOTA_USER, 5, &l), 0);
    assert_int_equal(cfs__quota_charge(EXP, 5, 5, 150, 0), 0); /* over soft: grace starts */
    u = get(CFS__QUOTA_USER, 5);
    assert_int_equal(u.bytes_over_since, 100000);
    cfs__clock_fake_advance(999);
    assert_int_equal(cfs__quota_charge(EXP, 5, 5, 10, 0), 0);
    cfs__clock_fake_advance(1);
    assert_int_equal(cfs__quota_charge(EXP, 5, 5, 1, 0), -EDQUOT);
    /* others are not affected */
    assert_int_equal(cfs__quota_charge(EXP, 6, 5, 10000, 0), 0);
    /* going back under soft resets the grace period */
    assert_int_equal(cfs__quota_charge(EXP, 5, 5, -70, 0), 0);
    assert_int_equal(get(CFS__QUOTA_USER, 5).bytes, 90);
    assert_int_equal(get(CFS__QUOTA_USER, 5).bytes_over_since, 0);
    assert_int_equal(cfs__quota_charge(EXP, 5, 5, 20, 0), 0);
    cfs__clock_fake_advance(500);
    assert_int_equal(cfs__quota_charge(EXP, 5, 5, 20, 0), 0);
    /* hard stays hard within the grace */
    assert_int_equal(cfs__quota_charge(EXP, 5, 5, 900, 0), -EDQUOT);
    /* the default grace is a week */
    struct cfs__quota_limits f = {.files_soft = 1};
    assert_int_equal(cfs__quota_set(EXP, CFS__QUOTA_USER, 8, &f), 0);
    assert_int_equal(cfs__quota_charge(EXP, 8, 8, 0, 5), 0);
    cfs__clock_fake_advance(7ull * 24 * 3600 * 1000 - 1);
    assert_int_equal(cfs__quota_charge(EXP, 8, 8, 0, 1), 0);
    cfs__clock_fake_advance(1);
    assert_int_equal(cfs__quota_charge(EXP, 8, 8, 0, 1), -EDQUOT);
    assert_int_equal(cfs__quota_charge(EXP, 8, 8, 1 << 20, 0), 0); /* bytes unlimited */
}

static void test_defaults_groups(void **state)
{
    struct cfs__quota_limits dflt = {.files_hard = 2};
    struct cfs__quota_limits own = {.files_hard = 10};
    struct cfs__quota_limits grp = {.bytes_hard = 50};

    assert_int_equal(cfs__quota_set(EXP, CFS__QUOTA_USER, CFS__QUOTA_DEFAULT_ID, &dflt), 0);
    assert_int_equal(cfs__quota_set(EXP, CFS__QUOTA_USER, 7, &own), 0);
    assert_int_equal(cfs__quota_charge(EXP, 5, 100, 0, 2), 0);
    assert_int_equal(cfs__quota_charge(EXP, 5, 100, 0, 1), -EDQUOT);
    assert_int_equal(cfs__quota_charge(EXP, 6, 100, 0, 2), 0);
    assert_int_equal(cfs__quota_charge(EXP, 7, 100, 0, 5), 0);
    assert_true(get(CFS__QUOTA_USER, 1234).has_limits); /* never seen: the default */
    assert_int_equal(get(CFS__QUOTA_USER, 1234).limits.files_hard, 2);
    /* group limits are shared by the group's users */
    assert_int_equal(cfs__quota_set(EXP, CFS__QUOTA_GROUP, 100, &grp), 0);
    assert_int_equal(cfs__quota_charge(EXP, 5, 100, 30, 0), 0);
    assert_int_equal(cfs__quota_charge(EXP, 6, 100, 30, 0), -EDQUOT);
    assert_int_equal(get(CFS__QUOTA_USER, 6).bytes, 0); /* all or nothing */
    assert_int_equal(get(CFS__QUOTA_EXPORT, 0).bytes, 30);
    assert_int_equal(cfs__quota_charge(EXP, 6, 200, 30, 0), 0);
    /* removing limits */
    assert_int_equal(cfs__quota_set(EXP, CFS__QUOTA_USER, CFS__QUOTA_DEFAULT_ID, NULL), 0);
    assert_int_equal(cfs__quota_charge(EXP, 5, 200, 0, 100), 0);
    assert_int_equal(cfs__quota_set(EXP, CFS__QUOTA_GROUP, 100, NULL), 0);
    assert_int_equal(cfs__quota_charge(EXP, 5, 100, 1000, 0), 0);
}

static void test_limits_change_starts_grace(void **state)
{
    struct cfs__quota_limits l = {.bytes_soft = 10, .grace_ms = 100};

    assert_int_equal(cfs__quota_charge(EXP, 1, 1, 50, 0), 0);
    assert_int_equal(cfs__quota_set(EXP, CFS__QUOTA_EXPORT, 0, &l), 0);
    assert_int_equal(get(CFS__QUOTA_EXPORT, 0).bytes_over_since, 100000);
    cfs__clock_fake_advance(100);
    assert_int_equal(cfs__quota_charge(EXP, 1, 1, 1, 0), -EDQUOT);
}

static void write_file(const char *path, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    char buf[1000];

    assert_true(fd >= 0);
    memset(buf, 'x', sizeof(buf));
    while (n > 0) {
        size_t k = n < sizeof(buf) ? n : sizeof(buf);

        assert_int_equal(write(fd, buf, k), (ssize_t)k);
        n -= k;
    }
    close(fd);
}

static void test_rescan(void **state)
{
    char dir[] = "/tmp/cfs-test-quota-XXXXXX";
    char p[512];
    struct cfs__quota_usage u;
    uint32_t uid = (uint32_t)getuid(), gid = (uint32_t)getgid();

    assert_non_null(mkdtemp(dir));
    snprintf(p, sizeof(p), "%s/a", dir);
    write_file(p, 1500);
    snprintf(p, sizeof(p), "%s/sub", dir);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/sub/b", dir);
    write_file(p, 2500);
    char lnk[512];
    snprintf(lnk, sizeof(lnk), "%s/sub/b-link", dir);
    assert_int_equal(link(p, lnk), 0);           /* counted once */
    snprintf(p, sizeof(p), "%s/sym", dir);
    assert_int_equal(symlink("a", p), 0);          /* a file, no bytes */

    /* stale usage is replaced */
    assert_int_equal(cfs__quota_charge(EXP, uid, gid, 99999, 99), 0);
    assert_int_equal(cfs__quota_charge(EXP, 4242, 4242, 5, 1), 0);
    assert_int_equal(cfs__quota_rescan(EXP, dir), 0);
    u = get(CFS__QUOTA_EXPORT, 0);
    assert_int_equal(u.bytes, 4000);
    assert_int_equal(u.files, 4); /* a, sub, sub/b, sym */
    u = get(CFS__QUOTA_USER, uid);
    assert_int_equal(u.bytes, 4000);
    assert_int_equal(u.files, 4);
    assert_int_equal(get(CFS__QUOTA_GROUP, gid).files, 4);
    assert_int_equal(get(CFS__QUOTA_USER, 4242).files, 0);
    assert_int_equal(cfs__quota_rescan(EXP, "/nonexistent/cfs-quota"), -ENOENT);

    snprintf(p, sizeof(p), "rm -rf '%s'", dir);
    assert_int_equal(system(p), 0);
}

static void test_metrics(void **state)
{
    struct cfs__quota_limits l = {.bytes_soft = 10, .bytes_hard = 20};
    char *out = NULL;
    size_t len;

    assert_int_equal(cfs__quota_set(EXP, CFS__QUOTA_EXPORT, 0, &l), 0);
    assert_int_equal(cfs__quota_charge(EXP, 1, 1, 15, 2), 0);
    assert_int_equal(cfs__quota_charge(EXP, 1, 1, 15, 0), -EDQUOT);
    assert_int_equal(cfs__metrics_render_ex(&out, &len, CFS__METRICS_NO_PROCESS), 0);
    assert_non_null(strstr(out, "cfs_quota_used_bytes{export=\"home\"} 15"));
    assert_non_null(strstr(out, "cfs_quota_used_files{export=\"home\"} 2"));
    assert_non_null(strstr(out, "cfs_quota_limit_bytes{export=\"home\",type=\"hard\"} 20"));
    assert_non_null(strstr(out, "cfs_quota_exceeded_total{export=\"home\",kind=\"export\"} "));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_untracked_and_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hard_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_soft_grace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defaults_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits_change_starts_grace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rescan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
