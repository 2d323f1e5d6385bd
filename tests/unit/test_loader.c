/*
 * tests/unit/test_loader.c - the module loader's checks against the deliberately broken
 * modules of tests/modules/ (built into CFS_TEST_MODULE_DIR): each refusal, its order,
 * its one-line message (file, expected, found), the duplicate-name rule, defaults for
 * optional ops, and that a refused module leaves nothing loaded.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core.h"
#include "loader.h"

static char logpath[64];

static void modpath(const char *variant, char *buf, size_t len)
{
    snprintf(buf, len, "%s/mod_%s.so", CFS_TEST_MODULE_DIR, variant);
}

/* Is the file still mapped into this process? */
static bool is_loaded(const char *variant)
{
    char path[512];
    void *h;

    modpath(variant, path, sizeof(path));
    h = dlopen(path, RTLD_LAZY | RTLD_NOLOAD);
    if (h != NULL)
        dlclose(h);
    return h != NULL;
}

static bool no_dlclose(void)
{
    const char *v = getenv("CFS_NO_DLCLOSE");

    return v != NULL && strcmp(v, "1") == 0;
}

static char *read_log(void)
{
    static char buf[16384];
    int fd = open(logpath, O_RDONLY);
    ssize_t n;

    assert_true(fd >= 0);
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    assert_true(n >= 0);
    buf[n] = '\0';
    return buf;
}

static int setup(void **state)
{
    const char *dirs[] = { CFS_TEST_MODULE_DIR };
    int fd;

    snprintf(logpath, sizeof(logpath), "/tmp/cfs-test-loader-%d.log", (int)getpid());
    fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    close(fd);
    if (cfs__log_set_file(logpath) != 0)
        return -1;
    cfs__log_set_level(CFS_LOG_INFO);
    if (cfs__loader_init() != 0)
        return -1;
    return cfs__loader_set_path(dirs, 1);
}

static int teardown(void **state)
{
    cfs__loader_fini();
    cfs__log_set_file(NULL);
    if (getenv("CFS_TEST_KEEP_LOG") == NULL)
        unlink(logpath);
    else
        fprintf(stderr, "log kept in %s\n", logpath);
    return 0;
}

/* Open `variant`, expect `rc` and every one of the NULL-terminated substrings in err. */
static void expect_refused(const char *variant, int rc, ...)
{
    struct cfs__mod *m = (struct cfs__mod *)0x1;
    char err[1024], path[512];
    const char *s;
    va_list ap;

    modpath(variant, path, sizeof(path));
    assert_int_equal(cfs__module_open(variant, &m, err, sizeof(err)), rc);
    assert_null(m);
    /* one line, naming the file */
    assert_null(strchr(err, '\n'));
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "expected"));
    assert_non_null(strstr(err, "found"));
    va_start(ap, rc);
    while ((s = va_arg(ap, const char *)) != NULL) {
        if (strstr(err, s) == NULL)
            fail_msg("refusal of %s: \"%s\" not in \"%s\"", variant, s, err);
    }
    va_end(ap);
    /* logged too, as the same line */
    assert_non_null(strstr(read_log(), err));
    /* nothing stays loaded */
    assert_int_equal(cfs__module_count(), 0);
    assert_false(is_loaded(variant));
}

static void test_good_loads(void **state)
{
    struct cfs__mod *m = NULL;
    char err[512], path[512];

    modpath("good", path, sizeof(path));
    assert_int_equal(cfs__module_open("good", &m, err, sizeof(err)), 0);
    assert_non_null(m);
    assert_int_equal(m->magic, CFS__MOD_MAGIC);
    assert_string_equal(m->desc.name, "good");
    assert_string_equal(m->desc.version, "0.0.1");
    assert_string_equal(m->path, path);
    assert_int_equal(m->refcount, 1);
    assert_ptr_equal(m->desc.ops, &m->ops);
    assert_int_equal(m->desc.struct_size, sizeof(struct cfs_module));
    assert_int_equal(m->ops.size, sizeof(struct cfs_module_ops));
    assert_non_null(m->desc.directives);
    assert_string_equal(m->desc.directives[0].name, "value");
    /* required ops from the module, optional ones pre-filled with defaults */
    assert_non_null(m->ops.init);
    assert_non_null(m->ops.configure);
    assert_non_null(m->ops.conf_free);
    assert_non_null(m->ops.start);
    assert_non_null(m->ops.stop);
    assert_non_null(m->ops.fini);
    assert_int_equal(m->ops.reload(NULL, NULL), CFS_ENOTSUP);
    assert_int_equal(m->ops.drain(NULL, 0), CFS_ENOTSUP);
    assert_int_equal(m->ops.health(NULL, err, sizeof(err)), CFS_ENOTSUP);
    assert_int_equal(m->ops.dump(NULL, err, sizeof(err)), CFS_ENOTSUP);
    m->ops.fini(NULL);
    assert_true(is_loaded("good"));
    assert_int_equal(cfs__module_count(), 1);
    assert_ptr_equal(cfs__module_find("good"), m);
    assert_null(cfs__module_find("nosuch"));

    cfs__module_ref(m);
    cfs__module_close(m);
    assert_int_equal(cfs__module_count(), 1);
    cfs__module_close(m);
    assert_int_equal(cfs__module_count(), 0);
    assert_null(cfs__module_find("good"));
    if (!no_dlclose())
        assert_false(is_loaded("good"));
}

static void test_open_by_path(void **state)
{
    struct cfs__mod *m = NULL;
    char err[512], path[512];

    modpath("good", path, sizeof(path));
    assert_int_equal(cfs__module_open(path, &m, err, sizeof(err)), 0);
    assert_string_equal(m->desc.name, "good");
    cfs__module_close(m);
    /* without the extension: lt_dlopenext finds the .so */
    snprintf(path, sizeof(path), "%s/mod_good", CFS_TEST_MODULE_DIR);
    assert_int_equal(cfs__module_open(path, &m, err, sizeof(err)), 0);
    assert_string_equal(m->desc.name, "good");
    cfs__module_close(m);
    assert_int_equal(cfs__module_count(), 0);
}

static void test_bad_magic(void **state)
{
    char want[64];

    snprintf(want, sizeof(want), "expected 0x%08x", CFS_MODULE_MAGIC);
    expect_refused("bad_magic", -ENOEXEC, "bad magic", want, "found 0xdeadbeef", NULL);
}

static void test_newer_major(void **state)
{
    char want[64], found[64];

    snprintf(want, sizeof(want), "expected %d", CFS_ABI_MAJOR);
    snprintf(found, sizeof(found), "found %d", CFS_ABI_MAJOR + 1);
    expect_refused("newer_major", -EPROTO, "ABI major", want, found, NULL);
}

static void test_newer_minor(void **state)
{
    char want[64], found[64];

    snprintf(want, sizeof(want), "expected <= %d.%d", CFS_ABI_MAJOR, CFS_ABI_MINOR);
    snprintf(found, sizeof(found), "found %d.%d", CFS_ABI_MAJOR, CFS_ABI_MINOR + 1);
    expect_refused("newer_minor", -EPROTO, "ABI minor", want, found, NULL);
}

static void test_bad_build_sig(void **state)
{
    expect_refused("bad_build_sig", -EPROTO, "build signature",
                   "expected \"" CFS_BUILD_SIG "\"", "found \"cfs1:ptr4:long4:noasan\"", NULL);
}

static void test_missing_symbol(void **state)
{
    expect_refused("missing_symbol", -ENOENT, "expected symbol cfs_module", "found none",
                   NULL);
}

static void test_bad_struct_size(void **state)
{
    char want[64];

    snprintf(want, sizeof(want), "expected struct_size >= %zu", CFS__MODULE_SIZE_1_0);
    expect_refused("bad_struct_size", -ENOEXEC, want, "found 16", NULL);
}

static void test_bad_ops_size(void **state)
{
    char want[64];

    snprintf(want, sizeof(want), "expected ops->size >= %zu", CFS__MODULE_OPS_SIZE_1_0);
    expect_refused("bad_ops_size", -ENOEXEC, want, "found 8", NULL);
}

static void test_missing_op(void **state)
{
    expect_refused("missing_op", -ENOEXEC, "expected ops->start set", "found NULL", NULL);
}

static void test_dup_name(void **state)
{
    struct cfs__mod *good = NULL, *dup = NULL;
    char err[1024], gpath[512], dpath[512];

    modpath("good", gpath, sizeof(gpath));
    modpath("dup_name", dpath, sizeof(dpath));
    assert_int_equal(cfs__module_open("good", &good, err, sizeof(err)), 0);

    /* refused while good is open, naming both files */
    assert_int_equal(cfs__module_open("dup_name", &dup, err, sizeof(err)), -EEXIST);
    assert_null(dup);
    assert_null(strchr(err, '\n'));
    assert_non_null(strstr(err, dpath));
    assert_non_null(strstr(err, gpath));
    assert_non_null(strstr(err, "\"good\""));
    assert_non_null(strstr(read_log(), err));
    assert_int_equal(cfs__module_count(), 1);
    assert_false(is_loaded("dup_name"));

    /* the same file twice is a duplicate as well */
    assert_int_equal(cfs__module_open("good", &dup, err, sizeof(err)), -EEXIST);
    assert_true(is_loaded("good"));
    assert_int_equal(cfs__module_count(), 1);

    /* accepted once good is closed */
    cfs__module_close(good);
    assert_int_equal(cfs__module_open("dup_name", &dup, err, sizeof(err)), 0);
    assert_string_equal(dup->desc.name, "good");
    assert_string_equal(dup->path, dpath);
    cfs__module_close(dup);
    assert_int_equal(cfs__module_count(), 0);
}

static void test_not_found(void **state)
{
    struct cfs__mod *m = NULL;
    char err[1024];

    assert_int_equal(cfs__module_open("nosuch", &m, err, sizeof(err)), -ENOENT);
    assert_null(m);
    assert_non_null(strstr(err, "mod_nosuch.so"));
    assert_non_null(strstr(err, CFS_TEST_MODULE_DIR));
    assert_int_equal(cfs__module_open("bad name!", &m, err, sizeof(err)), -EINVAL);
    assert_int_equal(cfs__module_open("", &m, err, sizeof(err)), -EINVAL);
    assert_int_equal(cfs__module_open("/nonexistent/mod_x.so", &m, err, sizeof(err)),
                     -ENOEXEC);
    assert_non_null(strstr(err, "/nonexistent/mod_x.so"));
    assert_int_equal(cfs__module_count(), 0);
}

static void test_path(void **state)
{
    const char *dirs[] = { "/a/", "/b", "/a", CFS_TEST_MODULE_DIR };
    char buf[4096], want[4096];

    assert_int_equal(cfs__loader_set_path(dirs, 4), 0);
    cfs__loader_path_str(buf, sizeof(buf));
    snprintf(want, sizeof(want), "/a:/b:%s:%s:%s", CFS_TEST_MODULE_DIR, CFS_MODULE_BUILD_DIR,
             CFS_MODULE_INSTALL_DIR);
    assert_string_equal(buf, want);
    assert_int_equal(cfs__loader_set_path(NULL, -1), -EINVAL);
    dirs[0] = CFS_TEST_MODULE_DIR;
    assert_int_equal(cfs__loader_set_path(dirs, 1), 0);
}

struct scan_res {
    int n, ok, refused, shadowed;
    bool saw_good_or_dup;
};

static void scan_cb(const char *path, const struct cfs_module *desc, const char *err,
                    void *arg)
{
    struct scan_res *r = arg;

    if (strncmp(path, CFS_TEST_MODULE_DIR "/", strlen(CFS_TEST_MODULE_DIR) + 1) != 0)
        return; /* modules of the build dir */
    r->n++;
    if (desc != NULL) {
        assert_null(err);
        assert_int_equal(desc->magic, CFS_MODULE_MAGIC);
        assert_non_null(desc->ops->reload);
        r->ok++;
        assert_string_equal(desc->name, "good");
    } else {
        assert_non_null(err);
        assert_non_null(strstr(err, path));
        r->refused++;
        if (strstr(err, "shadowed") != NULL)
            r->shadowed++;
    }
}

static void test_scan(void **state)
{
    struct scan_res r = { 0 };
    int n;

    n = cfs__module_scan(scan_cb, &r);
    assert_true(n >= 10);
    assert_int_equal(r.n, 10);
    /* dup_name sorts before good: one of the two is loadable, the other shadowed */
    assert_int_equal(r.ok, 1);
    assert_int_equal(r.shadowed, 1);
    assert_int_equal(r.refused, 9);
    assert_int_equal(cfs__module_count(), 0);
    assert_false(is_loaded("bad_magic"));
    if (!no_dlclose())
        assert_false(is_loaded("good"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_loads),
        cmocka_unit_test(test_open_by_path),
        cmocka_unit_test(test_bad_magic),
        cmocka_unit_test(test_newer_major),
        cmocka_unit_test(test_newer_minor),
        cmocka_unit_test(test_bad_build_sig),
        cmocka_unit_test(test_missing_symbol),
        cmocka_unit_test(test_bad_struct_size),
        cmocka_unit_test(test_bad_ops_size),
        cmocka_unit_test(test_missing_op),
        cmocka_unit_test(test_dup_name),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_path),
        cmocka_unit_test(test_scan),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
