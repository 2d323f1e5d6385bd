/*
 * tests/unit/test_s3_policy.c - mod_s3's bucket policy and ACL logic (modules/s3/s3pol.c):
 * wildcard matching, policy validation, the anonymous verdict of a policy (Allow, Deny,
 * Condition, principal forms), canned ACLs and AccessControlPolicy bodies. The pool-side
 * helpers s3pol.c calls are stubbed: these tests never touch a namespace.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "s3pol_stubs.h"

static void t_glob(void **st)
{
    (void)st;
    assert_true(glob_match("arn:aws:s3:::b/*", "arn:aws:s3:::b/x/y", false));
    assert_false(glob_match("arn:aws:s3:::b/*", "arn:aws:s3:::b", false));
    assert_true(glob_match("arn:aws:s3:::b/pub/*", "arn:aws:s3:::b/pub/a", false));
    assert_false(glob_match("arn:aws:s3:::b/pub/*", "arn:aws:s3:::b/priv/a", false));
    assert_true(glob_match("s3:Get*", "s3:GetObject", true));
    assert_true(glob_match("S3:GETOBJECT", "s3:GetObject", true));
    assert_false(glob_match("s3:getobject", "s3:GetObject", false));
    assert_true(glob_match("a?c", "abc", false));
    assert_false(glob_match("a?c", "ac", false));
    assert_true(glob_match("*", "", false));
    assert_true(glob_match("**a**", "xxa", false));
    assert_false(glob_match("", "x", false));
}

static json_t *J(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    assert_non_null(j);
    return j;
}

static enum s3_err V(const char *s)
{
    const char *d = NULL;
    json_t *j = J(s);
    enum s3_err e = policy_validate("pub", j, &d);
    json_decref(j);
    return e;
}

static void t_validate(void **st)
{
    (void)st;
    assert_int_equal(V("{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":"
                       "\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::pub/*\"}]}"), S3E_OK);
    assert_int_equal(V("{\"Statement\":{\"Effect\":\"Deny\",\"Principal\":{\"AWS\":\"*\"},"
                       "\"Action\":[\"s3:ListBucket\"],\"Resource\":[\"arn:aws:s3:::pub\"]}}"), S3E_OK);
    assert_int_equal(V("{}"), S3E_MalformedPolicy);
    assert_int_equal(V("{\"Statement\":[]}"), S3E_MalformedPolicy);
    assert_int_equal(V("[1,2]"), S3E_MalformedPolicy);
    assert_int_equal(V("{\"Statement\":[{\"Effect\":\"Perhaps\",\"Principal\":\"*\",\"Action\":"
                       "\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::pub/*\"}]}"), S3E_MalformedPolicy);
    assert_int_equal(V("{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":"
                       "\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::other/*\"}]}"), S3E_MalformedPolicy);
    assert_int_equal(V("{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":"
                       "\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::public/*\"}]}"), S3E_MalformedPolicy);
    assert_int_equal(V("{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":"
                       "[1],\"Resource\":\"arn:aws:s3:::pub/*\"}]}"), S3E_MalformedPolicy);
    assert_int_equal(V("{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\","
                       "\"Resource\":\"arn:aws:s3:::pub/*\"}]}"), S3E_MalformedPolicy);
    assert_int_equal(V("{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"NotAction\":"
                       "\"s3:PutObject\",\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::pub/*\"}]}"),
                     S3E_MalformedPolicy);
}

static int E(const char *pol, const char *action, const char *res)
{
    return policy_eval(pol, strlen(pol), action, res);
}

static void t_eval(void **st)
{
    (void)st;
    const char *p1 = "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":"
                     "\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::pub/*\"}]}";
    assert_int_equal(E(p1, "s3:GetObject", "arn:aws:s3:::pub/a/b"), 1);
    assert_int_equal(E(p1, "s3:ListBucket", "arn:aws:s3:::pub"), 0);
    assert_int_equal(E(p1, "s3:GetObject", "arn:aws:s3:::pubx/a"), 0);
    const char *p2 = "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[\"arn:x\",\"*\"]},"
                     "\"Action\":[\"s3:*\"],\"Resource\":[\"arn:aws:s3:::pub\",\"arn:aws:s3:::pub/*\"]},"
                     "{\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"s3:GetObject\","
                     "\"Resource\":\"arn:aws:s3:::pub/secret/*\"}]}";
    assert_int_equal(E(p2, "s3:ListBucket", "arn:aws:s3:::pub"), 1);
    assert_int_equal(E(p2, "s3:GetObject", "arn:aws:s3:::pub/ok"), 1);
    assert_int_equal(E(p2, "s3:GetObject", "arn:aws:s3:::pub/secret/x"), -1);
    /* a named principal is not anonymous */
    const char *p3 = "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::1:root\"},"
                     "\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::pub/*\"}]}";
    assert_int_equal(E(p3, "s3:GetObject", "arn:aws:s3:::pub/a"), 0);
    /* an Allow with a Condition never grants; a Deny with one still denies */
    const char *p4 = "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:GetObject\","
                     "\"Resource\":\"arn:aws:s3:::pub/*\",\"Condition\":{\"IpAddress\":{\"aws:SourceIp\":\"1.2.3.4/32\"}}}]}";
    assert_int_equal(E(p4, "s3:GetObject", "arn:aws:s3:::pub/a"), 0);
    const char *p5 = "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:GetObject\","
                     "\"Resource\":\"arn:aws:s3:::pub/*\"},{\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"*\","
                     "\"Resource\":\"*\",\"Condition\":{\"Bool\":{\"aws:SecureTransport\":\"false\"}}}]}";
    assert_int_equal(E(p5, "s3:GetObject", "arn:aws:s3:::pub/a"), -1);
    assert_int_equal(E("not json", "s3:GetObject", "arn:aws:s3:::pub/a"), 0);
    assert_int_equal(E("{\"Statement\":7}", "s3:GetObject", "arn:aws:s3:::pub/a"), 0);
}

static void t_acl(void **st)
{
    (void)st;
    bool bad;
    assert_string_equal(s3_canned_acl("public-read", &bad), "public-read");
    assert_false(bad);
    assert_string_equal(s3_canned_acl("private", &bad), "private");
    assert_null(s3_canned_acl("public-read-write", &bad));
    assert_true(bad);
    assert_null(s3_canned_acl("bogus", &bad));
    const char *out;
    const char *pub = "<AccessControlPolicy><Owner><ID>o</ID></Owner><AccessControlList>"
                      "<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
                      "xsi:type=\"Group\"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI>"
                      "</Grantee><Permission>READ</Permission></Grant></AccessControlList>"
                      "</AccessControlPolicy>";
    assert_int_equal(acl_from_body(pub, strlen(pub), &out), S3E_OK);
    assert_string_equal(out, "public-read");
    const char *priv = "<AccessControlPolicy><AccessControlList><Grant><Grantee><ID>o</ID>"
                       "</Grantee><Permission>FULL_CONTROL</Permission></Grant></AccessControlList>"
                       "</AccessControlPolicy>";
    assert_int_equal(acl_from_body(priv, strlen(priv), &out), S3E_OK);
    assert_string_equal(out, "private");
    const char *w = "<AccessControlPolicy><AccessControlList><Grant><Grantee>"
                    "<URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee>"
                    "<Permission>WRITE</Permission></Grant></AccessControlList></AccessControlPolicy>";
    assert_int_equal(acl_from_body(w, strlen(w), &out), S3E_NotImplemented);
    assert_int_equal(acl_from_body("<Nope/>", 7, &out), S3E_MalformedXML);
    assert_int_equal(acl_from_body("<AccessControlPolicy>", 21, &out), S3E_MalformedXML);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_glob),
        cmocka_unit_test(t_validate),
        cmocka_unit_test(t_eval),
        cmocka_unit_test(t_acl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
