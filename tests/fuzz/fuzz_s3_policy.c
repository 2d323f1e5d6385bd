/*
 * tests/fuzz/fuzz_s3_policy.c - libFuzzer target for mod_s3's bucket policy handling
 * (JSON validation and the anonymous verdict, modules/s3/s3pol.c) and the
 * AccessControlPolicy body decoder. The pool-side helpers s3pol.c calls are stubbed.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../modules/s3/s3util.c"
#include "../../modules/s3/xml.c"
#include "../../modules/s3/s3pol.c"

/* ---- stubs of s3ops.c / s3http.c ---- */
int s3_meta_get_str(struct s3_server *s, const struct cfs_fh *fh, const char *name, char *buf,
                    size_t len)
{
    (void)s, (void)fh, (void)name, (void)buf, (void)len;
    return -ENODATA;
}
int s3_meta_set_str(struct s3_server *s, const struct cfs_fh *fh, const char *name,
                    const char *val)
{
    (void)s, (void)fh, (void)name, (void)val;
    return -ENOTSUP;
}
int s3_lookup(struct s3_server *s, const struct cfs_fh *dir, const char *name,
              struct cfs_fh *out, struct cfs_attr *attr)
{
    (void)s, (void)dir, (void)name, (void)out, (void)attr;
    return -ENOENT;
}
bool s3_bucket_name_ok(const char *b)
{
    return b && *b;
}
bool s3_query_has(const struct s3_req *r, const char *name)
{
    (void)r, (void)name;
    return false;
}
const struct cfs_cred *s3_cred(struct s3_server *s)
{
    (void)s;
    return NULL;
}
int s3_bucket_fh(struct s3_req *r, struct cfs_fh *out)
{
    (void)r, (void)out;
    return -ENOENT;
}
void s3_req_error(struct s3_req *r, enum s3_err e, const char *detail)
{
    (void)detail;
    r->err = e;
}
const char *s3_req_header(const struct s3_req *r, const char *name)
{
    (void)r, (void)name;
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    json_error_t je;
    json_t *doc = json_loadb(in, size, JSON_REJECT_DUPLICATES, &je);
    if (doc) {
        const char *detail = NULL;
        policy_validate("pub", doc, &detail);
        json_decref(doc);
    }
    static const char *const act[] = {"s3:GetObject", "s3:ListBucket", "s3:GetObjectVersion"};
    static const char *const res[] = {"arn:aws:s3:::pub/a/b", "arn:aws:s3:::pub", ""};
    for (int i = 0; i < 3; i++)
        (void)policy_eval(in, size, act[i], res[i]);
    const char *acl;
    (void)acl_from_body(in, size, &acl);
    char pat[64], str[64];
    size_t h = size / 2;
    if (h < sizeof(pat) && size - h < sizeof(str)) {
        memcpy(pat, in, h);
        pat[h] = '\0';
        memcpy(str, in + h, size - h);
        str[size - h] = '\0';
        (void)glob_match(pat, str, size & 1);
    }
    return 0;
}
