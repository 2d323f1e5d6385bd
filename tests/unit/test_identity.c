/*
 * tests/unit/test_identity.c - the users table: loading from libconfig, lookups by name,
 * S3 access key and uid, credentials, every validation error with its file:line, a
 * failed reload keeping the old table, and the export squash rules.
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
#include <libconfig.h>

#include "core.h"
#include "identity.h"

static const char *GOOD =
    "users = (\n"
    "  { name = \"alice\"; uid = 1000; gid = 1000; groups = [ 1000, 27 ];\n"
    "    s3_access_key = \"AKIAALICE0000001\"; s3_secret_key = \"wJalrXUtnFEMI/K7MDENG+bPxRfi\";\n"
    "    smb_nt_hash = \"8846F7EAEE8FB117AD06BDD830B7586C\"; },\n"
    "  { name = \"bob\"; uid = 1001; gid = 100; },\n"
    "  { name = \"bob2\"; uid = 1001; gid = 100; groups = ( 5 ); }\n"
    ");\n";

static int setup(void **state)
{
    (void)state;
    cfs__log_set_level(CFS_LOG_ERROR);
    cfs__identity_clear();
    return 0;
}

/* Parse `text` (written to a temporary file so that errors carry a file name) and run
 * load (or check); returns the result, err holds the message. */
static int load_text(const char *text, bool check_only, char *err, size_t errlen)
{
    char path[] = "/tmp/cfs-test-identity-XXXXXX";
    int fd = mkstemp(path);
    config_t cfg;
    int rc;

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    config_init(&cfg);
    if (config_read_file(&cfg, path) != CONFIG_TRUE)
        fail_msg("libconfig: %s at %d", config_error_text(&cfg), config_error_line(&cfg));
    err[0] = '\0';
    rc = check_only ? cfs__identity_check(config_lookup(&cfg, "users"), err, errlen)
                    : cfs__identity_load(config_lookup(&cfg, "users"), err, errlen);
    config_destroy(&cfg);
    unlink(path);
    if (rc < 0)
        assert_non_null(strstr(err, "/tmp/cfs-test-identity-"));
    return rc;
}

static void test_load_and_lookup(void **state)
{
    struct cfs__user u;
    struct cfs_cred cred;
    char err[512];
    static const uint8_t hash[16] = {0x88, 0x46, 0xF7, 0xEA, 0xEE, 0x8F, 0xB1, 0x17,
                                     0xAD, 0x06, 0xBD, 0xD8, 0x30, 0xB7, 0x58, 0x6C};

    assert_int_equal(load_text(GOOD, false, err, sizeof(err)), 0);
    assert_int_equal(cfs__identity_count(), 3);
    assert_int_equal(cfs__identity_by_name("alice", &u), 0);
    assert_int_equal(u.uid, 1000);
    assert_int_equal(u.ngroups, 2);
    assert_int_equal(u.groups[1], 27);
    assert_true(u.has_nt_hash);
    assert_memory_equal(u.nt_hash, hash, 16);
    assert_string_equal(u.secret_key, "wJalrXUtnFEMI/K7MDENG+bPxRfi");
    assert_int_equal(cfs__identity_by_access_key("AKIAALICE0000001", &u), 0);
    assert_string_equal(u.name, "alice");
    assert_int_equal(cfs__identity_by_access_key("AKIAALICE0000002", &u), -ENOENT);
    assert_int_equal(cfs__identity_by_access_key("", &u), -ENOENT);
    assert_int_equal(cfs__identity_by_uid(1001, &u), 0);
    assert_string_equal(u.name, "bob"); /* the first with that uid */
    assert_false(u.has_nt_hash);
    assert_string_equal(u.access_key, "");
    assert_int_equal(cfs__identity_by_uid(4, &u), -ENOENT);
    assert_int_equal(cfs__identity_by_name("carol", &u), -ENOENT);
    assert_int_equal(cfs__identity_by_name(NULL, &u), -ENOENT);
    assert_int_equal(cfs__identity_by_name("bob2", &u), 0);
    assert_int_equal(u.ngroups, 1);
    cfs__identity_to_cred(&u, &cred);
    assert_int_equal(cred.uid, 1001);
    assert_int_equal(cred.gid, 100);
    assert_int_equal(cred.ngroups, 1);
    assert_int_equal(cred.groups[0], 5);
}

static void test_errors(void **state)
{
    static const struct {
        const char *text;
        const char *expect;
    } cases[] = {
        {"users = ( { name = \"a\"; gid = 1; } );", ":1: user \"a\": expected a uid"},
        {"users = ( { name = \"a\"; uid = 1; } );", "expected a gid"},
        {"users = ( { uid = 1; gid = 1; } );", "users[0]: expected a name"},
        {"users = (\n { name = \"a\";\n uid = -1; gid = 1; } );", ":3: user \"a\": uid: expected 0..4294967294, found -1"},
        {"users = ( { name = \"a\"; uid = 4294967295L; gid = 1; } );", "found 4294967295"},
        {"users = ( { name = \"a\"; uid = \"1\"; gid = 1; } );", "uid: expected an integer"},
        {"users = ( { name = \"a\"; uid = 1; gid = 1; pasword = \"x\"; } );", "unknown key \"pasword\""},
        {"users = (\n { name = \"a\"; uid = 1; gid = 1; },\n { name = \"a\"; uid = 2; gid = 2; } );", ":3: user \"a\": name already used at line 2"},
        {"users = ( { name = \"a\"; uid = 1; gid = 1; s3_access_key = \"KEY1\"; s3_secret_key = \"s\"; },\n"
         " { name = \"b\"; uid = 1; gid = 1; s3_access_key = \"KEY1\"; s3_secret_key = \"t\"; } );",
         "s3_access_key already used by user \"a\""},
        {"users = ( { name = \"a\"; uid = 1; gid = 1; s3_access_key = \"KEY1\"; } );", "go together"},
        {"users = ( { name = \"a\"; uid = 1; gid = 1; s3_secret_key = \"x\"; } );", "go together"},
        {"users = ( { name = \"a\"; uid = 1; gid = 1; s3_access_key = \"K/Y\"; s3_secret_key = \"x\"; } );", "s3_access_key: expected 3..128"},
        {"users = ( { name = \"a\"; uid = 1; gid = 1; s3_access_key = \"KEY\"; s3_secret_key = \"a b\"; } );", "s3_secret_key: expected"},
        {"users = ( { name = \"a\"; uid = 1; gid = 1; smb_nt_hash = \"XYZ\"; } );", "smb_nt_hash: expected 32 hex digits"},
        {"users = ( { name = \"a\"; uid = 1; gid = 1; smb_nt_hash = \"8846F7EAEE8FB117AD06BDD830B7586G\"; } );", "smb_nt_hash"},
        {"users = ( { name = \"a\"; uid = 1; gid = 1; groups = [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33]; } );", "at most 32"},
        {"users = ( { name = \"a\"; uid = 1; gid = 1; groups = 5; } );", "groups: expected an array"},
        {"users = ( { name = \"a\"; uid = 1; gid = 1; groups = [ -3 ]; } );", "groups: expected 0..4294967294"},
        {"users = { name = \"a\"; };", "users: expected a list"},
        {"users = ( \"alice\" );", "users[0]: expected a group"},
        {"users = ( { name = \"-a\"; uid = 1; gid = 1; } );", "name: expected 1..64"},
        {"users = ( { name = \"a b\"; uid = 1; gid = 1; } );", "name: expected"},
        {"users = ( { name = 5; uid = 1; gid = 1; } );", "name: expected a string"},
    };
    char err[512];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = load_text(cases[i].text, i % 2 == 0, err, sizeof(err));

        if (rc != -EINVAL || strstr(err, cases[i].expect) == NULL)
            fail_msg("case %zu: rc %d, err \"%s\", expected \"%s\"", i, rc, err,
                     cases[i].expect);
    }
    assert_int_equal(cfs__identity_count(), 0);
}

static void test_reload_keeps_old_on_error(void **state)
{
    struct cfs__user u;
    char err[512];

    assert_int_equal(load_text(GOOD, false, err, sizeof(err)), 0);
    assert_int_equal(load_text("users = ( { name = \"z\"; uid = 1; } );", false, err,
                               sizeof(err)), -EINVAL);
    assert_int_equal(cfs__identity_count(), 3);
    assert_int_equal(cfs__identity_by_name("alice", &u), 0);
    /* check never installs */
    assert_int_equal(load_text("users = ( { name = \"z\"; uid = 1; gid = 2; } );", true, err,
                               sizeof(err)), 0);
    assert_int_equal(cfs__identity_by_name("z", &u), -ENOENT);
    /* a good reload replaces the table */
    assert_int_equal(load_text("users = ( { name = \"z\"; uid = 1; gid = 2; } );", false, err,
                               sizeof(err)), 0);
    assert_int_equal(cfs__identity_by_name("alice", &u), -ENOENT);
    assert_int_equal(cfs__identity_by_name("z", &u), 0);
    /* no users setting: an empty table */
    assert_int_equal(cfs__identity_load(NULL, err, sizeof(err)), 0);
    assert_int_equal(cfs__identity_count(), 0);
    assert_int_equal(load_text("users = ( );", false, err, sizeof(err)), 0);
}

static void test_squash(void **state)
{
    struct cfs__squash root = {.root_squash = true, .anon_uid = 65534, .anon_gid = 65533};
    struct cfs__squash all = {.all_squash = true, .anon_uid = 99, .anon_gid = 98};
    struct cfs__squash none = {.anon_uid = 65534, .anon_gid = 65534};
    struct cfs_cred c;

    c = (struct cfs_cred){.uid = 0, .gid = 0, .ngroups = 3, .groups = {0, 10, 0}};
    cfs__identity_squash(&root, &c);
    assert_int_equal(c.uid, 65534);
    assert_int_equal(c.gid, 65533);
    assert_int_equal(c.ngroups, 3);
    assert_int_equal(c.groups[0], 65533);
    assert_int_equal(c.groups[1], 10);
    assert_int_equal(c.groups[2], 65533);

    c = (struct cfs_cred){.uid = 1000, .gid = 1000, .ngroups = 1, .groups = {27}};
    cfs__identity_squash(&root, &c);
    assert_int_equal(c.uid, 1000);
    assert_int_equal(c.gid, 1000);
    assert_int_equal(c.groups[0], 27);

    c = (struct cfs_cred){.uid = 1000, .gid = 0, .ngroups = 0};
    cfs__identity_squash(&root, &c); /* gid 0 is squashed even for a non-root uid */
    assert_int_equal(c.uid, 1000);
    assert_int_equal(c.gid, 65533);

    c = (struct cfs_cred){.uid = 1000, .gid = 1000, .ngroups = 2, .groups = {1, 2}};
    cfs__identity_squash(&all, &c);
    assert_int_equal(c.uid, 99);
    assert_int_equal(c.gid, 98);
    assert_int_equal(c.ngroups, 0);

    c = (struct cfs_cred){.uid = 0, .gid = 0};
    cfs__identity_squash(&none, &c);
    assert_int_equal(c.uid, 0);
    cfs__identity_squash(NULL, &c);
    assert_int_equal(c.uid, 0);

    /* a bogus group count is clamped, never overrun */
    c = (struct cfs_cred){.uid = 0, .gid = 0, .ngroups = 1000};
    cfs__identity_squash(&root, &c);
    assert_int_equal(c.ngroups, CFS_MAX_GROUPS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_load_and_lookup, setup, setup),
        cmocka_unit_test_setup_teardown(test_errors, setup, setup),
        cmocka_unit_test_setup_teardown(test_reload_keeps_old_on_error, setup, setup),
        cmocka_unit_test_setup_teardown(test_squash, setup, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
