/*
 * tests/unit/test_backend_glue.c - core/backend_glue.c without the VFS: the users table
 * loaded from the configuration and served by the host API (identity_by_name,
 * identity_by_access_key, cfs/identity.h), a bad users table refused by the
 * configuration loader, a reload replacing the table, and the host API's locks slot.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <cfs/host.h>
#include <cfs/identity.h>
#include <cfs/lock.h>

#include "backend_glue.h"
#include "config.h"
#include "core.h"
#include "locks.h"

static struct cfs__config *conf_users(const char *users)
{
    char text[2048];
    struct cfs__config *c = NULL;

    snprintf(text, sizeof(text),
             "gateway = { state_dir = \"/tmp\"; };\n"
             "backend = { health = { interval_ms = 3600000; }; };\n"
             "users = ( %s );\n", users);
    if (cfs__config_load_text(text, &c) != 0)
        return NULL;
    return c;
}

static const char *ALICE =
    "{ name = \"alice\"; uid = 1000; gid = 1000; groups = [ 1000, 27 ];"
    "  s3_access_key = \"AKIAALICE0000001\"; s3_secret_key = \"alice-secret\";"
    "  smb_nt_hash = \"8846F7EAEE8FB117AD06BDD830B7586C\"; }";

static void test_identity_host_api(void **state)
{
    const struct cfs_host_api *api = cfs__host_api();
    struct cfs__config *c = conf_users(ALICE);
    struct cfs_identity_info u = { .size = sizeof(u) };
    struct cfs_cred cred;

    (void)state;
    assert_non_null(c);
    assert_int_equal(cfs__backend_setup(c), 0);
    cfs__config_free(c);
    assert_true(CFS_HOST_HAS(api, identity_by_name));
    assert_true(CFS_HOST_HAS(api, identity_by_access_key));
    assert_int_equal(api->identity_by_access_key("AKIAALICE0000001", &u), 0);
    assert_string_equal(u.name, "alice");
    assert_string_equal(u.secret_key, "alice-secret");
    assert_int_equal(u.uid, 1000);
    assert_int_equal(u.ngroups, 2);
    assert_int_equal(u.groups[1], 27);
    assert_true(u.has_nt_hash);
    assert_int_equal(u.nt_hash[0], 0x88);
    assert_int_equal(u.size, sizeof(u));
    cfs_identity_cred(&u, &cred);
    assert_int_equal(cred.gid, 1000);
    assert_int_equal(cred.ngroups, 2);
    memset(&u, 0, sizeof(u));
    u.size = sizeof(u);
    assert_int_equal(api->identity_by_name("alice", &u), 0);
    assert_string_equal(u.access_key, "AKIAALICE0000001");
    assert_int_equal(api->identity_by_name("bob", &u), -ENOENT);
    assert_int_equal(api->identity_by_access_key("AKIANOBODY", &u), -ENOENT);
    assert_int_equal(api->identity_by_name(NULL, &u), -EINVAL);
    /* a module built against a shorter struct: only its bytes are written */
    struct cfs_identity_info shorter;
    struct cfs_identity_info *s = &shorter;
    memset(s, 0xAB, sizeof(*s));
    s->size = 16;
    assert_int_equal(api->identity_by_name("alice", s), 0);
    assert_int_equal(s->size, 16);
    assert_int_equal(s->uid, 1000);
    assert_int_equal(((unsigned char *)s)[16], 0xAB);
    s->size = 2;
    assert_int_equal(api->identity_by_name("alice", s), -EINVAL);

    /* the lock manager is in the host API table */
    assert_ptr_equal(api->locks, cfs__locks_api());

    /* reload: a new table replaces the old one */
    c = conf_users("{ name = \"bob\"; uid = 1001; gid = 1001; }");
    assert_non_null(c);
    assert_int_equal(cfs__backend_setup(c), 0);
    cfs__config_free(c);
    memset(&u, 0, sizeof(u));
    u.size = sizeof(u);
    assert_int_equal(api->identity_by_name("alice", &u), -ENOENT);
    assert_int_equal(api->identity_by_name("bob", &u), 0);
    assert_int_equal(u.uid, 1001);
    assert_string_equal(u.access_key, "");

    /* errors in the users table fail the configuration (validate-config, reload) */
    assert_null(conf_users("{ name = \"x\"; gid = 1; }"));
    assert_null(conf_users("{ name = \"x\"; uid = 1; gid = 1; colour = 3; }"));
    assert_null(conf_users("{ name = \"x\"; uid = 1; gid = 1; }, { name = \"x\"; uid = 2; gid = 2; }"));
    cfs__backend_teardown();
    assert_null(cfs__host_api()->locks);
    assert_int_equal(api->identity_by_name("bob", &u), -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_host_api),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
