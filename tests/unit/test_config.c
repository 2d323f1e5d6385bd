/*
 * tests/unit/test_config.c - configuration loading: gateway.conf + conf.d files in
 * lexical order, core settings and exports, module groups, and the directive engine
 * (defaults, setters, unknown keys and wrong types refused with file:line).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "core.h"

static char dir[256];
static char logpath[300];

static void write_file(const char *name, const char *text)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *read_log(void)
{
    FILE *f = fopen(logpath, "r");
    static char buf[16384];
    size_t n;

    assert_non_null(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/cfs-test-config-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(logpath, sizeof(logpath), "%s/log", dir);
    unlink(logpath);
    assert_int_equal(cfs__log_set_file(logpath), 0);
    return 0;
}

static int teardown(void **state)
{
    char cmd[300];

    cfs__log_set_file(NULL);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static void test_defaults_and_order(void **state)
{
    struct cfs__config *c = NULL;

    write_file("gateway.conf", "gateway = { workers = 3; admin = \"127.0.0.1:0\"; };\n"
                               "exports = ( { name = \"a\"; path = \"/tmp/a\"; } );\n");
    write_file("20-b.conf", "bbb = { enabled = false; };\n");
    write_file("10-a.conf", "aaa = { enabled = true; x = 1; };\n");
    write_file("notes.txt", "this = is not read;\n");
    assert_int_equal(cfs__config_load(dir, NULL, &c), 0);
    assert_non_null(c);
    assert_int_equal(c->core.workers, 3);
    assert_string_equal(c->core.admin, "127.0.0.1:0");
    assert_string_equal(c->core.log_level, "notice");          /* default */
    assert_int_equal(c->core.pool_max_per_node, 16);            /* default */
    assert_int_equal(c->core.breaker_failure_threshold, 5);     /* default */
    assert_int_equal(c->nexports, 1);
    assert_true(c->exports[0].root_squash);                     /* seed default */
    assert_false(c->exports[0].read_only);
    assert_int_equal(c->exports[0].id, 1);
    assert_int_equal(c->nsections, 2);
    assert_string_equal(c->sections[0].name, "aaa");            /* 10-a before 20-b */
    assert_true(c->sections[0].enabled);
    assert_string_equal(c->sections[1].name, "bbb");
    assert_false(c->sections[1].enabled);
    assert_non_null(strstr(c->sections[0].file, "10-a.conf"));
    assert_int_equal(c->sections[0].line, 1);
    cfs__config_free(c);
}

static void test_backend_settings(void **state)
{
    struct cfs__config *c = NULL;

    write_file("gateway.conf",
               "backend = { metadata_servers = [\"n1\", \"n2\"];\n"
               "  connection_pool = { min_per_node = 2; max_per_node = 8; };\n"
               "  circuit_breaker = { failure_threshold = 3; open_duration_ms = 100; }; };\n");
    assert_int_equal(cfs__config_load(dir, NULL, &c), 0);
    assert_string_equal(c->core.metadata_servers[0], "n1");
    assert_string_equal(c->core.metadata_servers[1], "n2");
    assert_null(c->core.metadata_servers[2]);
    assert_int_equal(c->core.pool_min_per_node, 2);
    assert_int_equal(c->core.pool_max_per_node, 8);
    assert_int_equal(c->core.breaker_failure_threshold, 3);
    assert_int_equal(c->core.breaker_open_duration_ms, 100);
    cfs__config_free(c);
}

static void test_errors_with_file_line(void **state)
{
    struct cfs__config *c = NULL;
    const char *log;

    write_file("gateway.conf", "gateway = {\n  workers = 2;\n  bogus = 1;\n  admin = 5;\n};\n"
                               "backend = { connection_pool = { min_per_node = 9; max_per_node = 1; }; };\n");
    assert_true(cfs__config_load(dir, NULL, &c) >= 2);
    assert_null(c);
    log = read_log();
    assert_non_null(strstr(log, "gateway.conf:3: gateway: unknown directive 'bogus'"));
    assert_non_null(strstr(log, "gateway.conf:4: gateway.admin: expected a string, found an integer"));
}

static void test_pool_range_error(void **state)
{
    struct cfs__config *c = NULL;

    write_file("gateway.conf",
               "backend = { connection_pool = { min_per_node = 9; max_per_node = 1; }; };\n");
    assert_int_equal(cfs__config_load(dir, NULL, &c), 1);
    assert_non_null(strstr(read_log(), "min_per_node <= max_per_node"));
}

static void test_syntax_error(void **state)
{
    struct cfs__config *c = NULL;

    write_file("gateway.conf", "gateway = { workers = 2; };\n");
    write_file("50-x.conf", "x = { enabled = true\n");
    assert_int_equal(cfs__config_load(dir, NULL, &c), 1);
    assert_non_null(strstr(read_log(), "50-x.conf:2:"));
}

static void test_duplicate_module_group(void **state)
{
    struct cfs__config *c = NULL;

    write_file("gateway.conf", "");
    write_file("a.conf", "m = { enabled = true; };\n");
    write_file("b.conf", "\nm = { enabled = false; };\n");
    assert_int_equal(cfs__config_load(dir, NULL, &c), 1);
    assert_non_null(strstr(read_log(), "b.conf:2: module 'm' is already configured at"));
}

static void test_bad_enabled_and_exports(void **state)
{
    struct cfs__config *c = NULL;
    const char *log;

    write_file("gateway.conf", "exports = ( { name = \"a\"; path = \"/x\"; }, { name = \"a\"; path = \"/y\"; },\n"
                               "  { read_only = true; } );\nm = { enabled = 1; };\n");
    assert_int_equal(cfs__config_load(dir, NULL, &c), 3);
    log = read_log();
    assert_non_null(strstr(log, "name 'a' or id 2 already used"));
    assert_non_null(strstr(log, "exports[2]: 'path' is required"));
    assert_non_null(strstr(log, "m.enabled: expected a boolean, found an integer"));
}

static void test_inline_text(void **state)
{
    struct cfs__config *c = NULL;

    assert_int_equal(cfs__config_load_text("exports = ( { path = \"/srv\"; root_squash = false; } );\n"
                                           "nfs3 = { enabled = true; bind = \":1\"; };\n", &c), 0);
    assert_int_equal(c->nexports, 1);
    assert_string_equal(c->exports[0].name, "export0");
    assert_false(c->exports[0].root_squash);
    assert_int_equal(c->nsections, 1);
    assert_string_equal(c->sections[0].file, "<command line>");
    cfs__config_free(c);
}

/* ---- the directive engine as modules use it ---- */

struct modconf {
    int64_t port;
    bool flag;
    char *name;
    int64_t count;
};

static const char *set_count(void *conf, const struct cfs_directive *d,
                             const struct cfs_conf_node *n, const struct cfs_host_api *api)
{
    struct modconf *m = conf;
    m->count = cfs__conf_count(n);
    return m->count > 3 ? "at most 3 entries" : NULL;
}

static const struct cfs_directive dirs[] = {
    { "port", CFS_CONF_INT, "2049", offsetof(struct modconf, port), NULL, NULL, NULL },
    { "flag", CFS_CONF_BOOL, "true", offsetof(struct modconf, flag), NULL, NULL, NULL },
    { "name", CFS_CONF_STRING, "dflt", offsetof(struct modconf, name), NULL, NULL, NULL },
    { "items", CFS_CONF_LIST, NULL, 0, set_count, NULL, NULL },
    CFS_DIRECTIVES_END
};

static const config_setting_t *section_of(struct cfs__config *c, const char *name)
{
    struct cfs__module_section *s = cfs__config_section(c, name);
    assert_non_null(s);
    return s->group;
}

static void test_apply_defaults_values_setters(void **state)
{
    struct cfs__config *c = NULL;
    struct modconf m = { 0 };
    char err[256];
    static const char *const allow[] = { "enabled", NULL };

    assert_int_equal(cfs__config_load_text("mod = { enabled = true; port = 7; name = \"x\"; items = [1,2]; };\n"
                                           "empty = { enabled = true; };\n"
                                           "bad = { enabled = true; items = [1,2,3,4]; };\n"
                                           "typo = { enabled = true; prot = 1; flag = \"yes\"; };\n", &c), 0);
    assert_int_equal(cfs__conf_check(section_of(c, "mod"), dirs, allow, "mod"), 0);
    assert_int_equal(cfs__conf_apply((const struct cfs_conf_node *)section_of(c, "mod"), dirs, &m, err, sizeof(err)), 0);
    assert_int_equal(m.port, 7);
    assert_true(m.flag);
    assert_string_equal(m.name, "x");
    assert_int_equal(m.count, 2);
    cfs__conf_free(dirs, &m);
    assert_null(m.name);

    memset(&m, 0, sizeof(m));
    assert_int_equal(cfs__conf_apply((const struct cfs_conf_node *)section_of(c, "empty"), dirs, &m, err, sizeof(err)), 0);
    assert_int_equal(m.port, 2049);
    assert_string_equal(m.name, "dflt");
    cfs__conf_free(dirs, &m);

    memset(&m, 0, sizeof(m));
    assert_int_not_equal(cfs__conf_apply((const struct cfs_conf_node *)section_of(c, "bad"), dirs, &m, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "<command line>:3: items: at most 3 entries"));
    cfs__conf_free(dirs, &m);

    assert_int_equal(cfs__conf_check(section_of(c, "typo"), dirs, allow, "typo"), 2);
    assert_non_null(strstr(read_log(), "<command line>:4: typo: unknown directive 'prot'"));
    assert_non_null(strstr(read_log(), "typo.flag: expected a boolean, found a string"));
    cfs__config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults_and_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backend_settings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_with_file_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_range_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_syntax_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_module_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_enabled_and_exports, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inline_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apply_defaults_values_setters, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
