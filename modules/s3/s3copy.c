/*
 * modules/s3/s3copy.c - server-side copies: CopyObject (metadata COPY or REPLACE,
 * x-amz-copy-source-if-* conditions) and the ranged copy behind UploadPartCopy. The
 * source is read through the namespace into a staging file (its MD5 computed on the way
 * for the new ETag), which is then renamed into place.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cfs/meta.h>

#include "s3.h"
#include "xml.h"

/* x-amz-copy-source: [/]bucket/key[?versionId=...], percent-encoded */
static int copy_source(struct s3_req *r, struct cfs_fh *fh, struct cfs_attr *a, char etag[80],
                       char svid[S3_VID_MAX])
{
    struct s3_server *s = r->srv;
    const char *src = s3_req_header(r, "x-amz-copy-source");
    char dec[S3_MAX_KEY + 128];
    size_t sl = strcspn(src, "?");
    if (cfs_http_pct_decode(src, sl, dec, sizeof(dec), 0) < 0) {
        s3_req_error(r, S3E_InvalidArgument, "bad x-amz-copy-source");
        return -EINVAL;
    }
    const char *q = src[sl] ? src + sl + 1 : "";
    char vid[S3_VID_MAX + 8] = "";
    bool has_vid = false;
    if (*q && strncmp(q, "versionId=", 10) == 0) {
        if (cfs_http_pct_decode(q + 10, strcspn(q + 10, "&"), vid, sizeof(vid), 0) < 0 ||
            !s3_ver_id_ok(vid)) {
            s3_req_error(r, S3E_InvalidArgument, "Invalid version id specified");
            return -EINVAL;
        }
        has_vid = true;
    }
    char *p = dec[0] == '/' ? dec + 1 : dec;
    char *sl2 = strchr(p, '/');
    if (!sl2 || !sl2[1]) {
        s3_req_error(r, S3E_InvalidArgument, "x-amz-copy-source must be bucket/key");
        return -EINVAL;
    }
    *sl2 = '\0';
    const char *sb = p, *sk = sl2 + 1;
    enum s3_err ke = s3_key_check(sk);
    if (ke || !s3_bucket_name_ok(sb)) {
        s3_req_error(r, ke ? ke : S3E_NoSuchBucket, NULL);
        return -EINVAL;
    }
    struct cfs_fh bfh;
    struct cfs_attr ba;
    int e = s3_lookup(s, &s->root, sb, &bfh, &ba);
    if (e < 0 || ba.type != CFS_FT_DIR) {
        s3_req_error(r, S3E_NoSuchBucket, NULL);
        return -ENOENT;
    }
    struct s3_vref v;
    e = s3_ver_resolve(s, sb, &bfh, sk, has_vid ? vid : NULL, &v);
    if (e == 0 && v.dmarker) {
        s3_req_error(r, has_vid ? S3E_InvalidRequest : S3E_NoSuchKey,
                     has_vid ? "The source of a copy request may not be a delete marker" : NULL);
        return -ENOENT;
    }
    if (e < 0) {
        s3_req_error(r, has_vid ? S3E_NoSuchVersion : S3E_NoSuchKey, NULL);
        return -ENOENT;
    }
    *fh = v.fh;
    *a = v.attr;
    snprintf(svid, S3_VID_MAX, "%s", v.vid);
    if ((e = s3_object_etag(s, fh, a, true, etag)) < 0) {
        s3_req_error(r, s3_err_from_errno(e, false), NULL);
        return e;
    }
    enum s3_err ce = s3_check_conditions(r, "x-amz-copy-source-", etag, (int64_t)a->mtime.tv_sec);
    if (ce) {
        s3_req_error(r, ce, NULL);
        return -EINVAL;
    }
    return 0;
}

void s3_op_copy_object(struct s3_req *r)
{
    struct s3_server *s = r->srv;
    struct cfs_fh sfh, b, dir, tfh;
    struct cfs_attr sa;
    char setag[80], tmpname[64], etag[40], svid[S3_VID_MAX], vid[S3_VID_MAX] = "";
    int fd = -1, rc;
    bool have_tmp = false;
    if (s3_stage_init(s) < 0) {
        s3_req_error(r, S3E_InternalError, "staging area unavailable");
        return;
    }
    if (s3_bucket_fh(r, &b) < 0 || copy_source(r, &sfh, &sa, setag, svid) < 0)
        return;
    const char *md = s3_req_header(r, "x-amz-metadata-directive");
    bool replace = md && strcasecmp(md, "REPLACE") == 0;
    if (md && !replace && strcasecmp(md, "COPY") != 0) {
        s3_req_error(r, S3E_InvalidArgument, "x-amz-metadata-directive must be COPY or REPLACE");
        return;
    }
    if ((rc = s3_tmp_create(s, tmpname, &tfh, &fd)) < 0) {
        s3_req_error(r, s3_err_from_errno(rc, false), NULL);
        return;
    }
    have_tmp = true;
    struct s3_ck md5;
    s3_ck_init(&md5, S3_CK_MD5);
    rc = s3_read_through(s, &sfh, 0, sa.size, &md5, fd, 0);
    uint8_t d[16];
    s3_ck_final(&md5, d);
    s3_hex(d, 16, etag);
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    fd = -1;
    if (rc < 0) {
        s3_req_error(r, s3_err_from_errno(rc, false), NULL);
        goto out;
    }
    if (replace) {
        enum s3_err e = s3_meta_from_request(r, &tfh);
        if (e) {
            s3_req_error(r, e, NULL);
            goto out;
        }
    } else {
        s3_meta_copy(s, &sfh, &tfh, false);
    }
    s3_store_etag(s, &tfh, etag);
    char parent[S3_MAX_KEY + 1];
    const char *base;
    s3_split_key(r->key, parent, sizeof(parent), &base);
    dir = b;
    if (parent[0] && (rc = s3_mkdir_p(s, &b, parent, &dir)) < 0) {
        s3_req_error(r, rc == -ENOTDIR ? S3E_InvalidObjectName : s3_err_from_errno(rc, false), NULL);
        goto out;
    }
    if ((rc = s3_ver_install(r, &b, &tfh, tmpname, &dir, base, vid)) < 0) {
        s3_req_error(r, rc == -EISDIR || rc == -ENOTEMPTY ? S3E_InvalidObjectName
                                                          : s3_err_from_errno(rc, false), NULL);
        goto out;
    }
    have_tmp = false;
    if (vid[0])
        s3_add_hdr(r, "x-amz-version-id", "%s", vid);
    if (strcmp(svid, "null") != 0)
        s3_add_hdr(r, "x-amz-copy-source-version-id", "%s", svid);
    struct cfs_attr na;
    char lm[64];
    if (s3_getattr(s, &tfh, &na) < 0)
        na.mtime.tv_sec = time(NULL), na.mtime.tv_nsec = 0;
    s3_fmt_iso8601((int64_t)na.mtime.tv_sec, na.mtime.tv_nsec, lm);
    s3_xml_decl(&r->rbody);
    s3_xml_open_ns(&r->rbody, "CopyObjectResult");
    s3_xml_elem(&r->rbody, "LastModified", lm);
    s3_buf_addf(&r->rbody, "<ETag>&quot;%s&quot;</ETag>", etag);
    s3_xml_close(&r->rbody, "CopyObjectResult");
    r->status = 200;
out:
    if (fd >= 0)
        close(fd);
    if (have_tmp)
        s3_remove(s, s3_tmp_dir(s, tmpname), tmpname, false);
}

/* UploadPartCopy: copy the (ranged) source into dst_dir/dst_name, MD5 on the way. */
int s3__copy_range(struct s3_req *r, const struct cfs_fh *dst_dir, const char *dst_name,
                   char etag_out[40], char lm_out[64])
{
    struct s3_server *s = r->srv;
    struct cfs_fh sfh, tfh;
    struct cfs_attr sa;
    char setag[80], tmpname[64], svid[S3_VID_MAX];
    int fd = -1, rc;
    if (copy_source(r, &sfh, &sa, setag, svid) < 0)
        return -EINVAL;
    uint64_t off = 0, len = sa.size;
    const char *rg = s3_req_header(r, "x-amz-copy-source-range");
    if (rg) {
        int k = s3_parse_range(rg, sa.size, &off, &len);
        if (k <= 0) {
            s3_req_error(r, S3E_InvalidRange, "x-amz-copy-source-range must be bytes=first-last within the source");
            return -EINVAL;
        }
    }
    if ((rc = s3_tmp_create(s, tmpname, &tfh, &fd)) < 0) {
        s3_req_error(r, s3_err_from_errno(rc, false), NULL);
        return rc;
    }
    struct s3_ck md5;
    s3_ck_init(&md5, S3_CK_MD5);
    rc = s3_read_through(s, &sfh, off, len, &md5, fd, 0);
    uint8_t d[16];
    s3_ck_final(&md5, d);
    s3_hex(d, 16, etag_out);
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0) {
        s3_store_etag(s, &tfh, etag_out);
        rc = s3_rename(s, s3_tmp_dir(s, tmpname), tmpname, dst_dir, dst_name);
    }
    if (rc < 0) {
        s3_remove(s, s3_tmp_dir(s, tmpname), tmpname, false);
        s3_req_error(r, rc == -ENOENT ? S3E_NoSuchUpload : s3_err_from_errno(rc, false), NULL);
        return rc;
    }
    struct cfs_attr na;
    if (s3_getattr(s, &tfh, &na) < 0)
        na.mtime.tv_sec = time(NULL), na.mtime.tv_nsec = 0;
    s3_fmt_iso8601((int64_t)na.mtime.tv_sec, na.mtime.tv_nsec, lm_out);
    return 0;
}
