/*
 * tests/unit/s3pol_stubs.h - mod_s3's policy code (s3util.c, xml.c, s3pol.c) built into a
 * test, with the pool-side helpers it calls from s3ops.c / s3http.c stubbed: no namespace,
 * no request. Included by unit/test_s3_policy.c and fuzz/fuzz_s3_policy.c.
 */
#ifndef CFS_TEST_S3POL_STUBS_H
#define CFS_TEST_S3POL_STUBS_H

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

#endif
