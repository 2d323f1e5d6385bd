/*
 * tests/unit/test_reload.c - generation state transitions, in process, with the rltest
 * modules (tests/reload/rltest.c) recording every lifecycle call: start; in-place
 * reload; a reload refused at parse, directive-check or configure time leaves the old
 * generation untouched; restart on CFS_ENOTSUP; a failed module reload keeps its old
 * configuration; enabling and disabling a second module; shutdown order.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "core.h"
#include "gateway.h"
#include "listen.h"
#include "loader.h"

static char dir[256], tracefile[300], logfile[300];
static long trace_pos;

/* The trace lines written since the last call, joined with ';'. */
static const char *trace_new(void)
{
    static char out[4096];
    char line[256];
    FILE *f = fopen(tracefile, "r");
    size_t n = 0;

    out[0] = '\0';
    if (!f)
        return out;
    fseek(f, trace_pos, SEEK_SET);
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%s", n ? ";" : "", line);
    }
    trace_pos = ftell(f);
    fclose(f);
    return out;
}

static struct cfs__config *conf_text(const char *modules)
{
    char text[4096];
    struct cfs__config *c = NULL;

    snprintf(text, sizeof(text),
             "gateway = { state_dir = \"%s/state\"; drain_ms = 200; };\n"
             "exports = ( { name = \"d\"; path = \"%s/data\"; } );\n%s",
             dir, dir, modules);
    if (cfs__config_load_text(text, &c) != 0)
        return NULL;
    return c;
}

static struct cfs__config *rl(long value, const char *extra, const char *more)
{
    char text[2048];

    snprintf(text, sizeof(text), "rltest = { enabled = true; value = %ld; trace = \"%s\"; %s };\n%s",
             value, tracefile, extra ? extra : "", more ? more : "");
    return conf_text(text);
}

static int setup(void **state)
{
    const char *mods = CFS_RELOAD_MODULE_DIR;

    trace_pos = 0;
    snprintf(dir, sizeof(dir), "/tmp/cfs-test-reload-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(tracefile, sizeof(tracefile), "%s/trace", dir);
    snprintf(logfile, sizeof(logfile), "%s/log", dir);
    cfs__log_set_file(logfile);
    assert_int_equal(cfs__loader_init(), 0);
    assert_int_equal(cfs__loader_set_path(&mods, 1), 0);
    assert_int_equal(cfs__loops_start(1, 2), 0);
    return 0;
}

static int teardown(void **state)
{
    char cmd[300];

    cfs__loops_stop();
    cfs__gateway_fini();
    cfs__loader_fini();
    cfs__log_set_file(NULL);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static void test_transitions(void **state)
{
    struct cfs__config *c;
    char *json = NULL;

    /* start */
    c = rl(1, NULL, NULL);
    assert_non_null(c);
    assert_int_equal(cfs__gateway_start(c, NULL), 0);
    assert_int_equal(cfs__gateway_generation(), 1);
    assert_string_equal(trace_new(), "rltest configure 1;rltest start 1");
    assert_true(cfs__gateway_ready(&json));
    assert_non_null(strstr(json, "\"name\":\"rltest\""));
    assert_non_null(strstr(json, "\"state\":\"started\""));
    free(json);

    /* in place: the old conf is freed after reload */
    assert_int_equal(cfs__gateway_reload(rl(2, NULL, NULL)), 0);
    assert_int_equal(cfs__gateway_generation(), 2);
    assert_string_equal(trace_new(), "rltest configure 2;rltest reload 2;rltest conf_free 1");

    /* parse error: nothing called, generation unchanged */
    assert_int_not_equal(cfs__gateway_reload(NULL), 0);
    assert_int_equal(cfs__gateway_generation(), 2);
    assert_string_equal(trace_new(), "");

    /* unknown directive: refused before configure */
    assert_int_not_equal(cfs__gateway_reload(rl(3, "valeu = 3;", NULL)), 0);
    assert_int_equal(cfs__gateway_generation(), 2);
    assert_string_equal(trace_new(), "");

    /* configure refuses: the prepared nothing is applied */
    assert_int_not_equal(cfs__gateway_reload(rl(3, "fail_configure = true;", NULL)), 0);
    assert_int_equal(cfs__gateway_generation(), 2);
    assert_string_equal(trace_new(), "rltest configure 3");

    /* a second module fails configure: the first is not reloaded either */
    assert_int_not_equal(cfs__gateway_reload(rl(3, NULL,
        "rltest2 = { enabled = true; trace = \"/dev/null\"; fail_configure = true; };\n")), 0);
    assert_int_equal(cfs__gateway_generation(), 2);
    assert_string_equal(trace_new(), "rltest configure 3;rltest conf_free 3");

    /* restart on ENOTSUP: drain, stop, start with the new conf */
    assert_int_equal(cfs__gateway_reload(rl(4, "reload_mode = \"restart\";", NULL)), 0);
    assert_int_equal(cfs__gateway_generation(), 3);
    assert_string_equal(trace_new(), "rltest configure 4;rltest reload 4 -> restart;rltest drain;"
                                     "rltest stop;rltest conf_free 2;rltest start 4");

    /* module reload fails: it keeps its old conf; the generation moves, marked failed */
    assert_int_not_equal(cfs__gateway_reload(rl(5, "reload_mode = \"fail\";", NULL)), 0);
    assert_int_equal(cfs__gateway_generation(), 4);
    assert_string_equal(trace_new(), "rltest configure 5;rltest reload 5 -> fail;rltest conf_free 5");

    /* enable a second module */
    char more[512];
    snprintf(more, sizeof(more), "rltest2 = { enabled = true; value = 9; trace = \"%s\"; };\n", tracefile);
    assert_int_equal(cfs__gateway_reload(rl(6, NULL, more)), 0);
    assert_string_equal(trace_new(), "rltest configure 6;rltest2 configure 9;rltest reload 6;"
                                     "rltest conf_free 4;rltest2 start 9");
    /* and disable it again: drained, stopped, its conf freed, fini */
    snprintf(more, sizeof(more), "rltest2 = { enabled = false; trace = \"%s\"; };\n", tracefile);
    assert_int_equal(cfs__gateway_reload(rl(7, NULL, more)), 0);
    assert_string_equal(trace_new(), "rltest configure 7;rltest2 drain;rltest2 stop;"
                                     "rltest2 conf_free 9;rltest2 fini;rltest reload 7;rltest conf_free 6");
    assert_null(cfs__module_find("rltest2"));

    /* shutdown */
    cfs__gateway_stop();
    assert_string_equal(trace_new(), "rltest drain;rltest stop;rltest conf_free 7;rltest fini");
    assert_null(cfs__module_find("rltest"));
}

static void test_start_failure_undoes(void **state)
{
    /* rltest2 cannot bind a bad address: rltest (started first) is stopped again */
    char more[512];
    struct event_base *base = event_base_new();

    cfs__listen_init(base);
    snprintf(more, sizeof(more), "rltest2 = { enabled = true; trace = \"%s\"; bind = \"nonsense\"; };\n", tracefile);
    assert_int_not_equal(cfs__gateway_start(rl(1, NULL, more), NULL), 0);
    assert_string_equal(trace_new(), "rltest configure 1;rltest2 configure 0;rltest start 1;"
                                     "rltest2 start 0;rltest2 conf_free 0;rltest2 fini;"
                                     "rltest drain;rltest stop;rltest conf_free 1;rltest fini");
    assert_int_equal(cfs__module_count(), 0);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_transitions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_failure_undoes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
