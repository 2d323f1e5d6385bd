/*
 * modules/s3/s3pol.c - public buckets: Put/Get/DeleteBucketPolicy (the JSON kept as put in
 * an xattr of the bucket directory), PutBucketAcl with the canned private / public-read
 * ACLs or an AccessControlPolicy body, and the decision for anonymous requests.
 *
 * Only anonymous requests are judged by a policy here (signed requests of known users
 * keep their full access). A statement counts when its Principal is "*" (or {"AWS":"*"});
 * Action and Resource take '*' and '?' wildcards; an Allow with a Condition is ignored
 * (never grants more than intended), a Deny with a Condition still denies; Deny wins.
 * Anonymous requests may only read: GetObject/HeadObject (s3:GetObject, or
 * s3:GetObjectVersion with a versionId), ListObjects(V2)/HeadBucket (s3:ListBucket) and
 * ListObjectVersions (s3:ListBucketVersions). A public-read ACL grants the first two.
 * As in S3, a missing key answers 404 only to those who may list the bucket, else 403.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include <cfs/meta.h>

#include "s3.h"
#include "xml.h"

#define ALL_USERS "http://acs.amazonaws.com/groups/global/AllUsers"

/* '*' any run, '?' one character; case-sensitive (ARNs and keys are). */
static bool glob_match(const char *pat, const char *s, bool nocase)
{
    const char *star = NULL, *ss = NULL;
    while (*s) {
        char pc = *pat, sc = *s;
        if (nocase) {
            pc = (char)(pc >= 'A' && pc <= 'Z' ? pc + 32 : pc);
            sc = (char)(sc >= 'A' && sc <= 'Z' ? sc + 32 : sc);
        }
        if (*pat == '*') {
            star = pat++;
            ss = s;
        } else if (*pat == '?' || (*pat && pc == sc)) {
            pat++;
            s++;
        } else if (star) {
            pat = star + 1;
            s = ++ss;
        } else {
            return false;
        }
    }
    while (*pat == '*')
        pat++;
    return *pat == '\0';
}

/* A string or an array of strings; true when any matches. */
static bool any_match(const json_t *v, const char *s, bool nocase)
{
    if (json_is_string(v))
        return glob_match(json_string_value(v), s, nocase);
    if (json_is_array(v)) {
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e)
            if (json_is_string(e) && glob_match(json_string_value(e), s, nocase))
                return true;
    }
    return false;
}

static bool principal_anyone(const json_t *p)
{
    if (json_is_string(p))
        return strcmp(json_string_value(p), "*") == 0;
    if (json_is_object(p)) {
        const json_t *aws = json_object_get(p, "AWS");
        if (json_is_string(aws))
            return strcmp(json_string_value(aws), "*") == 0;
        if (json_is_array(aws)) {
            size_t i;
            const json_t *e;
            json_array_foreach(aws, i, e)
                if (json_is_string(e) && strcmp(json_string_value(e), "*") == 0)
                    return true;
        }
    }
    return false;
}

static bool strings_only(const json_t *v)
{
    if (json_is_string(v))
        return true;
    if (!json_is_array(v) || json_array_size(v) == 0)
        return false;
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e)
        if (!json_is_string(e))
            return false;
    return true;
}

/* Checks the shape S3 requires; detail names what is wrong. */
static enum s3_err policy_validate(const char *bucket, const json_t *doc, const char **detail)
{
    char arn[128];
    snprintf(arn, sizeof(arn), "arn:aws:s3:::%s", bucket);
    size_t al = strlen(arn);
    const json_t *st = json_is_object(doc) ? json_object_get(doc, "Statement") : NULL;
    if (!st || (!json_is_array(st) && !json_is_object(st)) ||
        (json_is_array(st) && json_array_size(st) == 0)) {
        *detail = "Missing required field Statement";
        return S3E_MalformedPolicy;
    }
    size_t n = json_is_array(st) ? json_array_size(st) : 1;
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_is_array(st) ? json_array_get(st, i) : st;
        const char *eff = json_string_value(json_object_get(s, "Effect"));
        if (!json_is_object(s) || !eff || (strcmp(eff, "Allow") != 0 && strcmp(eff, "Deny") != 0)) {
            *detail = "Each statement needs Effect Allow or Deny";
            return S3E_MalformedPolicy;
        }
        if (json_object_get(s, "NotAction") || json_object_get(s, "NotResource") ||
            json_object_get(s, "NotPrincipal")) {
            *detail = "NotAction, NotResource and NotPrincipal are not supported";
            return S3E_MalformedPolicy;
        }
        const json_t *p = json_object_get(s, "Principal");
        if (!p || (!json_is_string(p) && !json_is_object(p))) {
            *detail = "Each statement needs a Principal";
            return S3E_MalformedPolicy;
        }
        const json_t *a = json_object_get(s, "Action"), *r = json_object_get(s, "Resource");
        if (!a || !strings_only(a)) {
            *detail = "Each statement needs an Action (a string or a list of strings)";
            return S3E_MalformedPolicy;
        }
        if (!r || !strings_only(r)) {
            *detail = "Each statement needs a Resource (a string or a list of strings)";
            return S3E_MalformedPolicy;
        }
        size_t rn = json_is_array(r) ? json_array_size(r) : 1;
        for (size_t k = 0; k < rn; k++) {
            const char *rs = json_string_value(json_is_array(r) ? json_array_get(r, k) : r);
            if (strncmp(rs, arn, al) != 0 || (rs[al] != '\0' && rs[al] != '/')) {
                *detail = "Policy has invalid resource";
                return S3E_MalformedPolicy;
            }
        }
    }
    return S3E_OK;
}

/* 1 allow, -1 deny, 0 no statement applies. */
static int policy_eval(const char *json, size_t len, const char *action, const char *resource)
{
    json_error_t je;
    json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!doc)
        return 0;
    int res = 0;
    const json_t *st = json_object_get(doc, "Statement");
    size_t n = json_is_array(st) ? json_array_size(st) : json_is_object(st) ? 1 : 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_is_array(st) ? json_array_get(st, i) : st;
        const char *eff = json_string_value(json_object_get(s, "Effect"));
        if (!eff || !principal_anyone(json_object_get(s, "Principal")))
            continue;
        if (!any_match(json_object_get(s, "Action"), action, true) ||
            !any_match(json_object_get(s, "Resource"), resource, false))
            continue;
        if (strcmp(eff, "Deny") == 0) {
            res = -1;
            break;
        }
        if (strcmp(eff, "Allow") == 0 && !json_object_get(s, "Condition"))
            res = 1;
    }
    json_decref(doc);
    return res;
}

static int read_policy(struct s3_server *s, const struct cfs_fh *bfh, char **out, size_t *len)
{
    char *buf = malloc(S3_MAX_POLICY + 1);
    if (!buf)
        return -ENOMEM;
    size_t got = 0;
    int r = cfs_meta_get(s->api->vfs, s3_cred(s), s->exp, bfh, S3_XATTR_POLICY, buf,
                         S3_MAX_POLICY, &got);
    if (r < 0 || got == 0 || got > S3_MAX_POLICY) {
        free(buf);
        return r < 0 ? r : -ENODATA;
    }
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return 0;
}

bool s3_bucket_public_read(struct s3_server *s, const struct cfs_fh *bfh)
{
    char v[32];
    return s3_meta_get_str(s, bfh, S3_XATTR_ACL, v, sizeof(v)) > 0 && strcmp(v, "public-read") == 0;
}

/* The anonymous verdict for action on resource in bucket b: 1 allow, else 0. */
static bool anon_verdict(struct s3_server *s, const struct cfs_fh *b, const char *action,
                         const char *res, bool acl_ok)
{
    char *pol = NULL;
    size_t pl = 0;
    int verdict = 0;
    if (read_policy(s, b, &pol, &pl) == 0) {
        verdict = policy_eval(pol, pl, action, res);
        free(pol);
    }
    if (verdict < 0)
        return false;
    return verdict > 0 || (acl_ok && s3_bucket_public_read(s, b));
}

bool s3_anon_can_list(struct s3_req *r)
{
    struct s3_server *s = r->srv;
    struct cfs_fh b;
    char res[128];
    if (!r->bucket || s3_lookup(s, &s->root, r->bucket, &b, NULL) < 0)
        return false;
    snprintf(res, sizeof(res), "arn:aws:s3:::%s", r->bucket);
    return anon_verdict(s, &b, "s3:ListBucket", res, true);
}

enum s3_err s3_anon_allowed(struct s3_req *r)
{
    struct s3_server *s = r->srv;
    const char *action;
    bool acl_ok;
    switch (r->op) {
    case S3OP_GetObject:
    case S3OP_HeadObject:
        acl_ok = !s3_query_has(r, "versionId");
        action = acl_ok ? "s3:GetObject" : "s3:GetObjectVersion";
        break;
    case S3OP_ListObjects:
    case S3OP_ListObjectsV2:
    case S3OP_HeadBucket:
        acl_ok = true;
        action = "s3:ListBucket";
        break;
    case S3OP_ListObjectVersions:
        acl_ok = false;
        action = "s3:ListBucketVersions";
        break;
    default:
        return S3E_AccessDenied;
    }
    struct cfs_fh b;
    struct cfs_attr a;
    if (!r->bucket || !s3_bucket_name_ok(r->bucket) ||
        s3_lookup(s, &s->root, r->bucket, &b, &a) < 0 || a.type != CFS_FT_DIR)
        return S3E_AccessDenied; /* no hint whether the bucket exists */
    char res[S3_MAX_KEY + 96];
    if (r->key)
        snprintf(res, sizeof(res), "arn:aws:s3:::%s/%s", r->bucket, r->key);
    else
        snprintf(res, sizeof(res), "arn:aws:s3:::%s", r->bucket);
    return anon_verdict(s, &b, action, res, acl_ok) ? S3E_OK : S3E_AccessDenied;
}

void s3_op_put_policy(struct s3_req *r)
{
    struct cfs_fh b;
    if (s3_bucket_fh(r, &b) < 0)
        return;
    if (r->body.len == 0 || r->body.len > S3_MAX_POLICY) {
        s3_req_error(r, S3E_MalformedPolicy, r->body.len ? "Policy is larger than 16 KiB"
                                                         : "Policy is empty");
        return;
    }
    json_error_t je;
    json_t *doc = json_loadb(r->body.p, r->body.len, JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        s3_req_error(r, S3E_MalformedPolicy, "Policies must be valid JSON");
        return;
    }
    const char *detail = NULL;
    enum s3_err e = policy_validate(r->bucket, doc, &detail);
    json_decref(doc);
    if (e) {
        s3_req_error(r, e, detail);
        return;
    }
    int rc = cfs_meta_set(r->srv->api->vfs, s3_cred(r->srv), r->srv->exp, &b, S3_XATTR_POLICY,
                          r->body.p, r->body.len, 0);
    if (rc < 0) {
        s3_req_error(r, rc == -E2BIG || rc == -ENOSPC || rc == -ERANGE ? S3E_MalformedPolicy
                                                                       : s3_err_from_errno(rc, true),
                     rc == -E2BIG || rc == -ENOSPC || rc == -ERANGE
                         ? "the policy does not fit the backend's extended attributes"
                         : NULL);
        return;
    }
    r->status = 204;
}

void s3_op_get_policy(struct s3_req *r)
{
    struct cfs_fh b;
    char *pol = NULL;
    size_t pl = 0;
    if (s3_bucket_fh(r, &b) < 0)
        return;
    if (read_policy(r->srv, &b, &pol, &pl) < 0) {
        s3_req_error(r, S3E_NoSuchBucketPolicy, NULL);
        return;
    }
    s3_buf_add(&r->rbody, pol, pl);
    free(pol);
    r->rtype = "application/json";
    r->status = 200;
}

void s3_op_delete_policy(struct s3_req *r)
{
    struct cfs_fh b;
    if (s3_bucket_fh(r, &b) < 0)
        return;
    int rc = cfs_meta_remove(r->srv->api->vfs, s3_cred(r->srv), r->srv->exp, &b, S3_XATTR_POLICY);
    if (rc < 0 && rc != -ENODATA && rc != -ENOENT) {
        s3_req_error(r, s3_err_from_errno(rc, true), NULL);
        return;
    }
    r->status = 204;
}

const char *s3_canned_acl(const char *v, bool *bad)
{
    *bad = false;
    if (strcmp(v, "private") == 0 || strcmp(v, "authenticated-read") == 0 ||
        strcmp(v, "bucket-owner-full-control") == 0 || strcmp(v, "bucket-owner-read") == 0)
        return "private";
    if (strcmp(v, "public-read") == 0)
        return "public-read";
    *bad = true; /* public-read-write and the rest: anonymous writes are not offered */
    return NULL;
}

/* AccessControlPolicy body: public-read when AllUsers get READ; writes are refused. */
static enum s3_err acl_from_body(const char *in, size_t n, const char **out)
{
    struct s3_xdoc d = {0};
    const char *err = NULL;
    enum s3_err e = S3E_OK;
    *out = "private";
    if (s3_xml_parse(in, n, &d, &err) < 0 || !d.root ||
        strcmp(d.root->name, "AccessControlPolicy") != 0) {
        e = S3E_MalformedXML;
        goto out;
    }
    const struct s3_xnode *list = s3_xml_child(d.root, "AccessControlList");
    for (const struct s3_xnode *g = list ? list->child : NULL; g; g = g->next) {
        if (strcmp(g->name, "Grant") != 0)
            continue;
        const struct s3_xnode *ge = s3_xml_child(g, "Grantee");
        const char *uri = ge ? s3_xml_child_text(ge, "URI") : NULL;
        const char *perm = s3_xml_child_text(g, "Permission");
        if (!uri || !perm || strcmp(uri, ALL_USERS) != 0)
            continue;
        if (strcmp(perm, "READ") == 0)
            *out = "public-read";
        else {
            e = S3E_NotImplemented;
            goto out;
        }
    }
out:
    s3_xml_free(&d);
    return e;
}

void s3_op_put_bucket_acl(struct s3_req *r)
{
    struct cfs_fh b;
    const char *acl = NULL;
    if (s3_bucket_fh(r, &b) < 0)
        return;
    const char *h = s3_req_header(r, "x-amz-acl");
    if (h) {
        bool bad;
        acl = s3_canned_acl(h, &bad);
        if (bad) {
            s3_req_error(r, S3E_NotImplemented, "only the private and public-read canned ACLs are supported");
            return;
        }
    } else if (r->body.len) {
        enum s3_err e = acl_from_body(r->body.p, r->body.len, &acl);
        if (e) {
            s3_req_error(r, e, e == S3E_NotImplemented ? "only READ may be granted to AllUsers" : NULL);
            return;
        }
    } else {
        s3_req_error(r, S3E_MissingSecurityHeader, "x-amz-acl or an AccessControlPolicy body is required");
        return;
    }
    int rc;
    if (strcmp(acl, "private") == 0) {
        rc = cfs_meta_remove(r->srv->api->vfs, s3_cred(r->srv), r->srv->exp, &b, S3_XATTR_ACL);
        if (rc == -ENODATA || rc == -ENOENT)
            rc = 0;
    } else {
        rc = s3_meta_set_str(r->srv, &b, S3_XATTR_ACL, acl);
    }
    if (rc < 0) {
        s3_req_error(r, s3_err_from_errno(rc, true), NULL);
        return;
    }
    r->status = 200;
}
