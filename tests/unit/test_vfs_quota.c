/*
 * tests/unit/test_vfs_quota.c - quotas enforced by the VFS (core/vfs/guard.c) from the
 * `quotas` configuration (core/backend_glue.c), with the fake clock: usage recomputed
 * when the export is added, a user over the hard limit gets -EDQUOT on write and create,
 * the soft limit with its grace period, and deleting, truncating and renaming over a
 * file give usage back; bad `quotas` entries are configuration errors.
 */
#include "backend_glue.h"
#include "clock.h"
#include "config.h"
#include "core.h"
#include "quota.h"
#include "test_vfs_util.h"

static char big[8192];

static struct cfs__config *conf_quotas(const char *quotas)
{
    char text[2048];
    struct cfs__config *c = NULL;

    snprintf(text, sizeof(text),
             "gateway = { state_dir = \"%s\"; };\n"
             "backend = { health = { interval_ms = 3600000; }; };\n"
             "exports = ( { name = \"e1\"; path = \"%s\"; id = 1; },\n"
             "            { name = \"e2\"; path = \"%s\"; id = 2; } );\n"
             "users = ( { name = \"alice\"; uid = 1000; gid = 1000; } );\n"
             "quotas = ( %s );\n",
             T_state, T_exp1, T_exp2, quotas);
    if (cfs__config_load_text(text, &c) != 0)
        return NULL;
    return c;
}

static int apply(const char *quotas)
{
    struct cfs__config *c = conf_quotas(quotas);
    int rc;

    if (!c)
        return -EINVAL;
    rc = cfs__backend_setup(c);
    cfs__config_free(c);
    return rc;
}

static int setup(void **state)
{
    char p[400];
    int fd;

    if (t_setup(state) != 0)
        return -1;
    cfs__clock_fake_set(5000000);
    /* usage that exists before the gateway starts: 500 bytes, 1 file of alice */
    t_path(p, sizeof(p), T_exp1, "old");
    fd = open(p, O_CREAT | O_WRONLY, 0644);
    if (fd < 0 || write(fd, big, 500) != 500 || fchown(fd, 1000, 1000) != 0)
        return -1;
    close(fd);
    return apply("{ export = \"e1\"; user = \"alice\"; bytes_soft = 1000; bytes_hard = \"4K\";"
                 "  files_hard = 5; grace_ms = 60000; }");
}

static int teardown(void **state)
{
    cfs__backend_teardown();
    cfs__clock_fake_off();
    return t_teardown(state);
}

static struct cfs__quota_usage usage(uint32_t uid)
{
    struct cfs__quota_usage u;

    memset(&u, 0, sizeof(u));
    assert_int_equal(cfs__quota_get(1, CFS__QUOTA_USER, uid, &u), 0);
    return u;
}

static int t_truncate(const struct cfs_cred *c, const struct cfs_fh *fh, uint64_t size)
{
    struct cfs_vfs_op op;

    t_op(&op, CFS_VOP_SETATTR, c, fh);
    op.sattr.mask = CFS_SET_SIZE;
    op.sattr.size = size;
    return V->call(&op);
}

static void test_hard_limits(void **state)
{
    struct cfs_fh a, x;

    (void)state;
    /* recomputed at export add */
    assert_int_equal(usage(1000).bytes, 500);
    assert_int_equal(usage(1000).files, 1);
    assert_true(usage(1000).has_limits);
    assert_int_equal(usage(1000).limits.bytes_hard, 4096);

    assert_int_equal(t_create(&USER, &R1, "a", &a), 0);
    assert_int_equal(usage(1000).files, 2);
    assert_int_equal(t_write(&USER, &a, 0, big, 3000, CFS_UNSTABLE), 3000);
    assert_int_equal(usage(1000).bytes, 3500);
    /* 500 + 3000 + 1000 > 4096: refused, nothing written, nothing charged */
    assert_int_equal(t_write(&USER, &a, 3000, big, 1000, CFS_UNSTABLE), -EDQUOT);
    assert_int_equal(usage(1000).bytes, 3500);
    struct cfs_attr at;
    assert_int_equal(t_getattr(&USER, &a, &at), 0);
    assert_int_equal(at.size, 3000);
    /* rewriting inside the file grows nothing: allowed (still within the grace period) */
    assert_int_equal(t_write(&USER, &a, 0, big, 3000, CFS_FILE_SYNC), 3000);
    /* up to the limit exactly */
    assert_int_equal(t_write(&USER, &a, 3000, big, 596, CFS_UNSTABLE), 596);
    assert_int_equal(usage(1000).bytes, 4096);
    assert_int_equal(t_write(&USER, &a, 3596, big, 1, CFS_UNSTABLE), -EDQUOT);
    /* extending by truncate is growth too */
    assert_int_equal(t_truncate(&USER, &a, 5000), -EDQUOT);
    /* each protocol's answer */
    assert_int_equal(cfs_err_nfs3(-EDQUOT), CFS_NFS3ERR_DQUOT);

    /* files: old, a + 3 more = 5 */
    assert_int_equal(t_mk(CFS_VOP_MKDIR, &USER, &R1, "d", 0755, NULL), 0);
    assert_int_equal(t_create(&USER, &R1, "b", NULL), 0);
    struct cfs_vfs_op op;
    t_op(&op, CFS_VOP_SYMLINK, &USER, &R1);
    op.name = "s";
    op.target = "a";
    assert_int_equal(V->call(&op), 0);
    assert_int_equal(usage(1000).files, 5);
    assert_int_equal(t_create(&USER, &R1, "c", NULL), -EDQUOT);
    assert_int_equal(t_mk(CFS_VOP_MKDIR, &USER, &R1, "d2", 0755, NULL), -EDQUOT);
    assert_int_equal(t_lookup(&USER, &R1, "c", NULL, NULL), -ENOENT);
    /* an unchecked create of an existing file creates nothing: allowed */
    t_op(&op, CFS_VOP_CREATE, &USER, &R1);
    op.name = "b";
    op.how = CFS_CREATE_UNCHECKED;
    assert_int_equal(V->call(&op), 0);
    assert_int_equal(usage(1000).files, 5);
    /* a failed create gives its charge back */
    assert_int_equal(t_remove(CFS_VOP_UNLINK, &USER, &R1, "b"), 0);
    assert_int_equal(usage(1000).files, 4);
    assert_int_equal(t_create(&USER, &a, "z", NULL), -ENOTDIR);
    assert_int_equal(usage(1000).files, 4);
    assert_int_equal(t_create(&USER, &R1, "old", NULL), -EEXIST);
    assert_int_equal(usage(1000).files, 4);
    /* root has no limits; another user neither */
    assert_int_equal(t_create(&ROOT, &R1, "r1", NULL), 0);
    /* e2 has no quotas: untracked */
    struct cfs__quota_usage u;
    assert_int_equal(cfs__quota_get(2, CFS__QUOTA_USER, 1000, &u), -ENOENT);
    assert_int_equal(t_create(&USER, &R2, "free", &x), 0);
    assert_int_equal(t_write(&USER, &x, 0, big, 8000, CFS_UNSTABLE), 8000);
}

static void test_soft_limit_grace(void **state)
{
    struct cfs_fh a;

    (void)state;
    assert_int_equal(t_create(&USER, &R1, "g", &a), 0);
    /* 500 + 600 > soft 1000: allowed, the grace period (60 s) starts */
    assert_int_equal(t_write(&USER, &a, 0, big, 600, CFS_UNSTABLE), 600);
    assert_int_not_equal(usage(1000).bytes_over_since, 0);
    cfs__clock_fake_advance(59999);
    assert_int_equal(t_write(&USER, &a, 600, big, 100, CFS_UNSTABLE), 100);
    cfs__clock_fake_advance(1);
    /* grace over: no more growth, but rewriting and shrinking pass */
    assert_int_equal(t_write(&USER, &a, 700, big, 1, CFS_UNSTABLE), -EDQUOT);
    assert_int_equal(t_write(&USER, &a, 0, big, 700, CFS_UNSTABLE), 700);
    /* back under the soft limit: the grace period resets */
    assert_int_equal(t_truncate(&USER, &a, 200), 0);
    assert_int_equal(usage(1000).bytes, 700);
    assert_int_equal(usage(1000).bytes_over_since, 0);
    assert_int_equal(t_write(&USER, &a, 200, big, 800, CFS_UNSTABLE), 800);
    assert_int_equal(usage(1000).bytes, 1500);
}

static void test_delete_frees(void **state)
{
    struct cfs_fh a, b, h;

    (void)state;
    assert_int_equal(t_create(&USER, &R1, "a", &a), 0);
    assert_int_equal(t_write(&USER, &a, 0, big, 3500, CFS_UNSTABLE), 3500);
    assert_int_equal(t_create(&USER, &R1, "b", &b), 0);
    assert_int_equal(t_write(&USER, &b, 0, big, 100, CFS_UNSTABLE), -EDQUOT);
    assert_int_equal(usage(1000).bytes, 4000);
    assert_int_equal(usage(1000).files, 3);
    /* a hard link frees nothing when one name goes */
    struct cfs_vfs_op op;
    t_op(&op, CFS_VOP_LINK, &USER, &a);
    op.fh2 = R1;
    op.name2 = "a2";
    assert_int_equal(V->call(&op), 0);
    assert_int_equal(usage(1000).files, 3);
    assert_int_equal(t_remove(CFS_VOP_UNLINK, &USER, &R1, "a2"), 0);
    assert_int_equal(usage(1000).bytes, 4000);
    /* the last name: its bytes and the file are given back */
    assert_int_equal(t_remove(CFS_VOP_UNLINK, &USER, &R1, "a"), 0);
    assert_int_equal(usage(1000).bytes, 500);
    assert_int_equal(usage(1000).files, 2);
    assert_int_equal(t_write(&USER, &b, 0, big, 3000, CFS_UNSTABLE), 3000);
    /* rename over a file frees the file replaced */
    assert_int_equal(t_create(&USER, &R1, "h", &h), 0);
    assert_int_equal(usage(1000).files, 3);
    t_op(&op, CFS_VOP_RENAME, &USER, &R1);
    op.name = "h";
    op.fh2 = R1;
    op.name2 = "b";
    assert_int_equal(V->call(&op), 0);
    assert_int_equal(usage(1000).files, 2);
    assert_int_equal(usage(1000).bytes, 500);
    /* rmdir */
    assert_int_equal(t_mk(CFS_VOP_MKDIR, &USER, &R1, "d", 0755, NULL), 0);
    assert_int_equal(usage(1000).files, 3);
    assert_int_equal(t_remove(CFS_VOP_RMDIR, &USER, &R1, "d"), 0);
    assert_int_equal(usage(1000).files, 2);
    /* chown moves the usage to the new owner */
    assert_int_equal(t_write(&USER, &h, 0, big, 300, CFS_UNSTABLE), 300);
    t_op(&op, CFS_VOP_SETATTR, &ROOT, &h);
    op.sattr.mask = CFS_SET_UID | CFS_SET_GID;
    op.sattr.uid = 2000;
    op.sattr.gid = 2000;
    assert_int_equal(V->call(&op), 0);
    assert_int_equal(usage(1000).bytes, 500);
    assert_int_equal(usage(1000).files, 1);
    assert_int_equal(usage(2000).bytes, 300);
    assert_int_equal(usage(2000).files, 1);
}

static void test_reload_and_errors(void **state)
{
    struct cfs_fh a;

    (void)state;
    /* new limits in place; the per-user default applies to uid 1001 */
    assert_int_equal(apply("{ export = \"e1\"; user = \"*\"; files_hard = 1; },"
                           "{ export = \"e1\"; bytes_hard = \"1M\"; }"), 0);
    const struct cfs_cred u2 = { 1001, 1001, 0, { 0 } };
    assert_int_equal(t_create(&u2, &R1, "one", &a), 0);
    assert_int_equal(t_create(&u2, &R1, "two", NULL), -EDQUOT);
    /* alice's own limits are gone: the default (1 file) applies to her, she has 1 */
    assert_int_equal(t_create(&USER, &R1, "x", NULL), -EDQUOT);
    /* the export's total */
    assert_int_equal(t_write(&u2, &a, 0, big, 8192, CFS_UNSTABLE), 8192);
    struct cfs__quota_usage e;
    assert_int_equal(cfs__quota_get(1, CFS__QUOTA_EXPORT, 0, &e), 0);
    assert_int_equal(e.bytes, 500 + 8192);
    assert_int_equal(t_truncate(&u2, &a, 2 << 20), -EDQUOT);
    /* quotas removed */
    struct cfs__config *c = NULL;
    char text[1024];
    snprintf(text, sizeof(text), "gateway = { state_dir = \"%s\"; };\n"
             "exports = ( { name = \"e1\"; path = \"%s\"; id = 1; } );\n", T_state, T_exp1);
    assert_int_equal(cfs__config_load_text(text, &c), 0);
    assert_int_equal(cfs__backend_setup(c), 0);
    cfs__config_free(c);
    assert_int_equal(t_create(&u2, &R1, "two", NULL), 0);

    /* configuration errors (validate-config, reload refused) */
    static const char *const bad[] = {
        "{ export = \"nope\"; bytes_hard = 1; }",
        "{ export = \"e1\"; bytes_hard = 1; colour = 3; }",
        "{ export = \"e1\"; bytes_soft = 10; bytes_hard = 5; }",
        "{ export = \"e1\"; user = \"bob\"; bytes_hard = 5; }",
        "{ export = \"e1\"; user = 1; group = 2; }",
        "{ export = \"e1\"; group = \"staff\"; }",
        "{ export = \"e1\"; bytes_hard = \"12Q\"; }",
        "{ export = \"e1\"; bytes_hard = -1; }",
        "{ user = 1000; bytes_hard = 1; }",
        "{ export = \"e1\"; bytes_hard = 1; }, { export = \"e1\"; bytes_hard = 2; }",
        "3",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        c = conf_quotas(bad[i]);
        if (c)
            fprintf(stderr, "accepted: %s\n", bad[i]);
        assert_null(c);
    }
    c = conf_quotas("{ export = \"e1\"; user = 1000; group = \"*\"; }");
    assert_null(c);
    c = conf_quotas("{ export = \"e2\"; group = \"*\"; files_soft = 2; files_hard = \"3\"; }");
    assert_non_null(c);
    cfs__config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hard_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_soft_limit_grace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_frees, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_and_errors, setup, teardown),
    };
    if (geteuid() != 0) { /* the VFS fixtures need root (see test_vfs.c) */
        printf("%s: not root: skipped\n", __FILE__);
        return 0;
    }
    memset(big, 'q', sizeof(big));
    T_handles = CFS__HANDLES_AUTO;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
