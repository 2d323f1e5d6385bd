/*
 * modules/s3/s3mpu.c - multipart uploads. An upload is a directory
 * <root>/.cfs-s3/uploads/<id> (outside every bucket, so never listed) whose xattrs hold
 * the bucket, key and object metadata; each part is a file named by its 5-digit number,
 * written through a temp file and renamed in. Complete checks order, ETags and sizes,
 * assembles the parts with server-side copies into a temp file, gives it the
 * md5-of-md5s-N ETag and renames it into the bucket in one step.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#include <openssl/rand.h>

#include <cfs/meta.h>

#include "s3.h"
#include "xml.h"

#define MPU_BUCKET S3_XATTR_MPU "bucket"
#define MPU_KEY S3_XATTR_MPU "key"

static bool upload_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n != 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return false;
    return true;
}

/* The upload directory of r's uploadId, checked against r's bucket and key. */
static int upload_dir(struct s3_req *r, char id[40], struct cfs_fh *out)
{
    struct s3_server *s = r->srv;
    char b[128], k[S3_MAX_KEY + 1];
    if (!s3_query_get(r, "uploadId", id, 40) || !upload_id_ok(id)) {
        s3_req_error(r, S3E_NoSuchUpload, NULL);
        return -ENOENT;
    }
    struct cfs_attr a;
    if (s3_lookup(s, &s->uploads, id, out, &a) < 0 || a.type != CFS_FT_DIR ||
        s3_meta_get_str(s, out, MPU_BUCKET, b, sizeof(b)) < 0 ||
        s3_meta_get_str(s, out, MPU_KEY, k, sizeof(k)) < 0 || strcmp(b, r->bucket) != 0 ||
        strcmp(k, r->key) != 0) {
        s3_req_error(r, S3E_NoSuchUpload, NULL);
        return -ENOENT;
    }
    return 0;
}

static int part_number(struct s3_req *r, uint32_t *pn)
{
    char v[16];
    uint64_t n;
    if (!s3_query_get(r, "partNumber", v, sizeof(v)) || s3_parse_u64(v, strlen(v), &n) < 0 ||
        n < 1 || n > S3_MAX_PARTS) {
        s3_req_error(r, S3E_InvalidArgument, "Part number must be an integer between 1 and 10000, inclusive");
        return -EINVAL;
    }
    *pn = (uint32_t)n;
    return 0;
}

int s3_mpu_part_target(struct s3_req *r, struct cfs_fh *updir)
{
    char id[40];
    uint32_t pn;
    if (part_number(r, &pn) < 0 || upload_dir(r, id, updir) < 0)
        return -ENOENT;
    if (r->put) {
        snprintf(r->put->upload_id, sizeof(r->put->upload_id), "%s", id);
        r->put->part_number = pn;
    }
    return 0;
}

void s3_op_mpu_create(struct s3_req *r)
{
    struct s3_server *s = r->srv;
    struct cfs_fh b, d;
    if (s3_bucket_fh(r, &b) < 0)
        return;
    if (r->key[strlen(r->key) - 1] == '/') {
        s3_req_error(r, S3E_InvalidObjectName, "a key ending in '/' names a directory");
        return;
    }
    uint8_t rnd[16];
    char id[40];
    RAND_bytes(rnd, sizeof(rnd));
    s3_hex(rnd, sizeof(rnd), id);
    int e = s3_mkdir(s, &s->uploads, id, &d);
    if (e < 0) {
        s3_req_error(r, s3_err_from_errno(e, false), NULL);
        return;
    }
    enum s3_err me = s3_meta_from_request(r, &d);
    if (me != S3E_OK || s3_meta_set_str(s, &d, MPU_BUCKET, r->bucket) < 0 ||
        s3_meta_set_str(s, &d, MPU_KEY, r->key) < 0) {
        s3_rm_tree(s, &s->uploads, id);
        s3_req_error(r, me ? me : S3E_InternalError, NULL);
        return;
    }
    const char *alg = s3_req_header(r, "x-amz-checksum-algorithm");
    if (alg)
        s3_add_hdr(r, "x-amz-checksum-algorithm", "%s", alg);
    s3_xml_decl(&r->rbody);
    s3_xml_open_ns(&r->rbody, "InitiateMultipartUploadResult");
    s3_xml_elem(&r->rbody, "Bucket", r->bucket);
    s3_xml_elem(&r->rbody, "Key", r->key);
    s3_xml_elem(&r->rbody, "UploadId", id);
    s3_xml_close(&r->rbody, "InitiateMultipartUploadResult");
    r->status = 200;
}

void s3_op_upload_part_copy(struct s3_req *r)
{
    struct cfs_fh b, up;
    char pn[16], etag[40], lm[64];
    if (s3_bucket_fh(r, &b) < 0 || s3_mpu_part_target(r, &up) < 0)
        return;
    uint32_t n;
    if (part_number(r, &n) < 0)
        return;
    snprintf(pn, sizeof(pn), "%05u", n);
    if (s3__copy_range(r, &up, pn, etag, lm) < 0)
        return;
    s3_xml_decl(&r->rbody);
    s3_xml_open_ns(&r->rbody, "CopyPartResult");
    s3_xml_elem(&r->rbody, "LastModified", lm);
    s3_buf_addf(&r->rbody, "<ETag>&quot;%s&quot;</ETag>", etag);
    s3_xml_close(&r->rbody, "CopyPartResult");
    r->status = 200;
}

void s3_op_mpu_abort(struct s3_req *r)
{
    struct s3_server *s = r->srv;
    struct cfs_fh b, up;
    char id[40];
    if (s3_bucket_fh(r, &b) < 0 || upload_dir(r, id, &up) < 0)
        return;
    int e = s3_rm_tree(s, &s->uploads, id);
    if (e < 0 && e != -ENOENT) {
        s3_req_error(r, s3_err_from_errno(e, false), NULL);
        return;
    }
    r->status = 204;
}

static int copy_all(struct s3_server *s, const struct cfs_fh *src, const struct cfs_fh *dst,
                    uint64_t dst_off, uint64_t len)
{
    uint64_t done = 0;
    while (done < len) {
        struct cfs_vfs_op op;
        cfs_vfs_op_init(&op, CFS_VOP_COPY, s3_cred(s), s->exp);
        op.fh = *src;
        op.offset = done;
        op.fh2 = *dst;
        op.offset2 = dst_off + done;
        op.length = len - done;
        int r = s->api->vfs->call(&op);
        if (r == -ENOTSUP || r == -EXDEV || r == -EINVAL) {
            /* no server-side copy here: read and write */
            struct cfs_vfs_op o;
            cfs_vfs_op_init(&o, CFS_VOP_OPENFD, s3_cred(s), s->exp);
            o.fh = *dst;
            o.flags = O_WRONLY;
            if ((r = s->api->vfs->call(&o)) < 0)
                return r;
            r = s3_read_through(s, src, done, len - done, NULL, o.fd, dst_off + done);
            close(o.fd);
            return r;
        }
        if (r < 0)
            return r;
        if (op.count == 0)
            return -EIO;
        done += op.count;
    }
    return 0;
}

void s3_op_mpu_complete(struct s3_req *r)
{
    struct s3_server *s = r->srv;
    struct cfs_fh b, up, tfh, dir;
    char id[40], tmpname[64] = "";
    struct s3_complete_req cr = {0};
    struct cfs_fh *pfh = NULL;
    uint64_t *psize = NULL;
    int fd = -1, e;
    if (s3_bucket_fh(r, &b) < 0 || upload_dir(r, id, &up) < 0)
        return;
    enum s3_err xe = s3_body_complete(r->body.p ? r->body.p : "", r->body.len, &cr);
    if (xe) {
        s3_req_error(r, xe, NULL);
        return;
    }
    pfh = calloc(cr.n, sizeof(*pfh));
    psize = calloc(cr.n, sizeof(*psize));
    struct s3_ck md5s;
    s3_ck_init(&md5s, S3_CK_MD5);
    if (!pfh || !psize) {
        s3_req_error(r, S3E_InternalError, NULL);
        goto out;
    }
    for (size_t i = 1; i < cr.n; i++) {
        if (cr.parts[i].number <= cr.parts[i - 1].number) {
            s3_req_error(r, S3E_InvalidPartOrder, NULL);
            goto out;
        }
    }
    for (size_t i = 0; i < cr.n; i++) {
        char pn[16], etag[80];
        struct cfs_attr a;
        snprintf(pn, sizeof(pn), "%05u", cr.parts[i].number);
        if (s3_lookup(s, &up, pn, &pfh[i], &a) < 0 ||
            s3_object_etag(s, &pfh[i], &a, true, etag) < 0 ||
            strcmp(etag, cr.parts[i].etag) != 0) {
            char d[128];
            snprintf(d, sizeof(d), "part %u was not uploaded or its ETag differs",
                     cr.parts[i].number);
            s3_req_error(r, S3E_InvalidPart, d);
            goto out;
        }
        if (i + 1 < cr.n && a.size < S3_MIN_PART) {
            s3_req_error(r, S3E_EntityTooSmall, NULL);
            goto out;
        }
        psize[i] = a.size;
        uint8_t raw[16];
        if (s3_unhex(etag, 32, raw) < 0) {
            s3_req_error(r, S3E_InvalidPart, NULL);
            goto out;
        }
        s3_ck_update(&md5s, raw, 16);
    }
    if ((e = s3_tmp_create(s, tmpname, &tfh, &fd)) < 0) {
        tmpname[0] = '\0';
        s3_req_error(r, s3_err_from_errno(e, false), NULL);
        goto out;
    }
    close(fd);
    fd = -1;
    uint64_t off = 0;
    for (size_t i = 0; i < cr.n; i++) {
        if ((e = copy_all(s, &pfh[i], &tfh, off, psize[i])) < 0) {
            s3_req_error(r, s3_err_from_errno(e, false), "assembling the parts failed");
            goto out;
        }
        off += psize[i];
    }
    uint8_t d[16];
    char etag[64], hx[33];
    s3_ck_final(&md5s, d);
    s3_hex(d, 16, hx);
    snprintf(etag, sizeof(etag), "%s-%zu", hx, cr.n);
    s3_meta_copy(s, &up, &tfh, true);
    s3_store_etag(s, &tfh, etag);
    char parent[S3_MAX_KEY + 1];
    const char *base;
    s3_split_key(r->key, parent, sizeof(parent), &base);
    dir = b;
    if (parent[0] && (e = s3_mkdir_p(s, &b, parent, &dir)) < 0) {
        s3_req_error(r, e == -ENOTDIR ? S3E_InvalidObjectName : s3_err_from_errno(e, false),
                     "a parent of the key is an object, not a prefix");
        goto out;
    }
    char vid[S3_VID_MAX];
    if ((e = s3_ver_install(r, &b, &tfh, tmpname, &dir, base, vid)) < 0) {
        s3_req_error(r, e == -EISDIR || e == -ENOTEMPTY ? S3E_InvalidObjectName
                                                        : s3_err_from_errno(e, false),
                     NULL);
        goto out;
    }
    tmpname[0] = '\0';
    if (vid[0])
        s3_add_hdr(r, "x-amz-version-id", "%s", vid);
    s3_rm_tree(s, &s->uploads, id);
    s3_xml_decl(&r->rbody);
    s3_xml_open_ns(&r->rbody, "CompleteMultipartUploadResult");
    s3_buf_adds(&r->rbody, "<Location>/");
    s3_xml_escape(&r->rbody, r->bucket, strlen(r->bucket));
    s3_buf_addc(&r->rbody, '/');
    s3_xml_escape(&r->rbody, r->key, strlen(r->key));
    s3_buf_adds(&r->rbody, "</Location>");
    s3_xml_elem(&r->rbody, "Bucket", r->bucket);
    s3_xml_elem(&r->rbody, "Key", r->key);
    s3_buf_addf(&r->rbody, "<ETag>&quot;%s&quot;</ETag>", etag);
    s3_xml_close(&r->rbody, "CompleteMultipartUploadResult");
    r->status = 200;
out:
    s3_ck_free(&md5s);
    if (fd >= 0)
        close(fd);
    if (tmpname[0])
        s3_remove(s, s3_tmp_dir(s, tmpname), tmpname, false);
    free(pfh);
    free(psize);
    s3_complete_req_free(&cr);
}

struct pent {
    uint32_t n;
    struct cfs_fh fh;
    struct cfs_attr a;
};

static int pent_cmp(const void *x, const void *y)
{
    const struct pent *a = x, *b = y;
    return a->n < b->n ? -1 : a->n > b->n;
}

/* Read a whole directory (plus) into a callback. */
static int each_entry(struct s3_server *s, const struct cfs_fh *dir,
                      void (*fn)(void *arg, const struct cfs_dirent *de), void *arg)
{
    uint64_t cookie = 0;
    uint8_t verf[CFS_VERF_SIZE] = {0};
    for (;;) {
        struct cfs_vfs_op op;
        cfs_vfs_op_init(&op, CFS_VOP_READDIR, s3_cred(s), s->exp);
        op.fh = *dir;
        op.cookie = cookie;
        memcpy(op.cookieverf, verf, sizeof(verf));
        op.length = 1024;
        op.plus = true;
        int r = s->api->vfs->call(&op);
        if (r < 0)
            return r;
        for (size_t i = 0; i < op.nentries; i++)
            if (op.entries[i].has_attr && strcmp(op.entries[i].name, ".") != 0 &&
                strcmp(op.entries[i].name, "..") != 0)
                fn(arg, &op.entries[i]);
        bool eof = op.eof || op.nentries == 0;
        if (op.nentries)
            cookie = op.entries[op.nentries - 1].cookie;
        memcpy(verf, op.verf, sizeof(verf));
        s->api->vfs->op_release(&op);
        if (eof)
            return 0;
    }
}

struct pcollect {
    struct pent *v;
    size_t n, cap;
    bool oom;
};

static void collect_part(void *arg, const struct cfs_dirent *de)
{
    struct pcollect *c = arg;
    uint64_t n;
    if (de->attr.type != CFS_FT_REG || s3_parse_u64(de->name, strlen(de->name), &n) < 0 ||
        n < 1 || n > S3_MAX_PARTS)
        return;
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 64;
        struct pent *nv = realloc(c->v, nc * sizeof(*nv));
        if (!nv) {
            c->oom = true;
            return;
        }
        c->v = nv;
        c->cap = nc;
    }
    c->v[c->n].n = (uint32_t)n;
    c->v[c->n].fh = de->fh;
    c->v[c->n].a = de->attr;
    c->n++;
}

void s3_op_mpu_list_parts(struct s3_req *r)
{
    struct s3_server *s = r->srv;
    struct cfs_fh b, up;
    char id[40], v[32];
    uint64_t marker = 0, max = 1000;
    if (s3_bucket_fh(r, &b) < 0 || upload_dir(r, id, &up) < 0)
        return;
    if (s3_query_get(r, "part-number-marker", v, sizeof(v)) && v[0] &&
        s3_parse_u64(v, strlen(v), &marker) < 0) {
        s3_req_error(r, S3E_InvalidArgument, "bad part-number-marker");
        return;
    }
    if (s3_query_get(r, "max-parts", v, sizeof(v)) && (s3_parse_u64(v, strlen(v), &max) < 0)) {
        s3_req_error(r, S3E_InvalidArgument, "bad max-parts");
        return;
    }
    if (max > 1000)
        max = 1000;
    struct pcollect c = {0};
    int e = each_entry(s, &up, collect_part, &c);
    if (e < 0 || c.oom) {
        free(c.v);
        s3_req_error(r, e < 0 ? s3_err_from_errno(e, false) : S3E_InternalError, NULL);
        return;
    }
    if (c.n > 1)
        qsort(c.v, c.n, sizeof(*c.v), pent_cmp);
    struct s3_buf *o = &r->rbody;
    struct s3_buf parts;
    s3_buf_init(&parts, 0);
    uint64_t cnt = 0, last = 0;
    bool trunc = false;
    for (size_t i = 0; i < c.n; i++) {
        if (c.v[i].n <= marker)
            continue;
        if (cnt == max) {
            trunc = true;
            break;
        }
        char etag[80], lm[64];
        if (s3_object_etag(s, &c.v[i].fh, &c.v[i].a, true, etag) < 0)
            continue;
        s3_fmt_iso8601((int64_t)c.v[i].a.mtime.tv_sec, c.v[i].a.mtime.tv_nsec, lm);
        s3_buf_addf(&parts, "<Part><PartNumber>%u</PartNumber><LastModified>%s</LastModified>"
                            "<ETag>&quot;%s&quot;</ETag><Size>%" PRIu64 "</Size></Part>",
                    c.v[i].n, lm, etag, c.v[i].a.size);
        cnt++;
        last = c.v[i].n;
    }
    free(c.v);
    s3_xml_decl(o);
    s3_xml_open_ns(o, "ListPartsResult");
    s3_xml_elem(o, "Bucket", r->bucket);
    s3_xml_elem(o, "Key", r->key);
    s3_xml_elem(o, "UploadId", id);
    s3_xml_elem_u64(o, "PartNumberMarker", marker);
    s3_xml_elem_u64(o, "NextPartNumberMarker", last);
    s3_xml_elem_u64(o, "MaxParts", max);
    s3_xml_elem_bool(o, "IsTruncated", trunc);
    s3_xml_elem(o, "StorageClass", "STANDARD");
    s3_buf_addf(o, "<Initiator><ID>%s</ID><DisplayName>%s</DisplayName></Initiator>"
                   "<Owner><ID>%s</ID><DisplayName>%s</DisplayName></Owner>",
                s->access_key, s->access_key, s->access_key, s->access_key);
    s3_buf_add(o, parts.p ? parts.p : "", parts.len);
    s3_xml_close(o, "ListPartsResult");
    s3_buf_free(&parts);
    r->status = 200;
}

struct uent {
    char *key;
    char id[40];
    int64_t t;
    long tn;
};

struct ucollect {
    struct s3_req *r;
    const char *prefix;
    struct uent *v;
    size_t n, cap;
};

static void collect_upload(void *arg, const struct cfs_dirent *de)
{
    struct ucollect *c = arg;
    struct s3_server *s = c->r->srv;
    char b[128], k[S3_MAX_KEY + 1];
    if (de->attr.type != CFS_FT_DIR || strlen(de->name) >= 40 ||
        s3_meta_get_str(s, &de->fh, MPU_BUCKET, b, sizeof(b)) < 0 ||
        strcmp(b, c->r->bucket) != 0 || s3_meta_get_str(s, &de->fh, MPU_KEY, k, sizeof(k)) < 0 ||
        strncmp(k, c->prefix, strlen(c->prefix)) != 0)
        return;
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 32;
        struct uent *nv = realloc(c->v, nc * sizeof(*nv));
        if (!nv)
            return;
        c->v = nv;
        c->cap = nc;
    }
    struct uent *u = &c->v[c->n];
    if (!(u->key = strdup(k)))
        return;
    snprintf(u->id, sizeof(u->id), "%s", de->name);
    const struct timespec *t = de->attr.btime.tv_sec ? &de->attr.btime : &de->attr.ctime;
    u->t = (int64_t)t->tv_sec;
    u->tn = t->tv_nsec;
    c->n++;
}

static int uent_cmp(const void *x, const void *y)
{
    const struct uent *a = x, *b = y;
    int c = strcmp(a->key, b->key);
    if (c)
        return c;
    return a->t < b->t ? -1 : a->t > b->t ? 1 : strcmp(a->id, b->id);
}

void s3_op_mpu_list_uploads(struct s3_req *r)
{
    struct s3_server *s = r->srv;
    struct cfs_fh b;
    char prefix[S3_MAX_KEY + 1] = "", km[S3_MAX_KEY + 1] = "", idm[40] = "", mx[16] = "";
    uint64_t max = 1000;
    if (s3_bucket_fh(r, &b) < 0)
        return;
    s3_query_get(r, "prefix", prefix, sizeof(prefix));
    s3_query_get(r, "key-marker", km, sizeof(km));
    s3_query_get(r, "upload-id-marker", idm, sizeof(idm));
    if (s3_query_get(r, "max-uploads", mx, sizeof(mx)) && s3_parse_u64(mx, strlen(mx), &max) < 0) {
        s3_req_error(r, S3E_InvalidArgument, "bad max-uploads");
        return;
    }
    if (max > 1000)
        max = 1000;
    struct ucollect c = {.r = r, .prefix = prefix};
    int e = each_entry(s, &s->uploads, collect_upload, &c);
    if (e < 0) {
        s3_req_error(r, s3_err_from_errno(e, false), NULL);
        goto out;
    }
    if (c.n > 1)
        qsort(c.v, c.n, sizeof(*c.v), uent_cmp);
    struct s3_buf *o = &r->rbody;
    struct s3_buf ups;
    s3_buf_init(&ups, 0);
    uint64_t cnt = 0;
    bool trunc = false;
    const char *nk = "", *nid = "";
    for (size_t i = 0; i < c.n; i++) {
        if (km[0]) {
            int k = strcmp(c.v[i].key, km);
            if (k < 0 || (k == 0 && (!idm[0] || strcmp(c.v[i].id, idm) <= 0)))
                continue;
        }
        if (cnt == max) {
            trunc = true;
            break;
        }
        char lm[64];
        s3_fmt_iso8601(c.v[i].t, c.v[i].tn, lm);
        s3_xml_open(&ups, "Upload");
        s3_xml_elem(&ups, "Key", c.v[i].key);
        s3_xml_elem(&ups, "UploadId", c.v[i].id);
        s3_buf_addf(&ups, "<Initiator><ID>%s</ID><DisplayName>%s</DisplayName></Initiator>"
                          "<Owner><ID>%s</ID><DisplayName>%s</DisplayName></Owner>",
                    s->access_key, s->access_key, s->access_key, s->access_key);
        s3_xml_elem(&ups, "StorageClass", "STANDARD");
        s3_xml_elem(&ups, "Initiated", lm);
        s3_xml_close(&ups, "Upload");
        nk = c.v[i].key;
        nid = c.v[i].id;
        cnt++;
    }
    s3_xml_decl(o);
    s3_xml_open_ns(o, "ListMultipartUploadsResult");
    s3_xml_elem(o, "Bucket", r->bucket);
    s3_xml_elem(o, "KeyMarker", km);
    s3_xml_elem(o, "UploadIdMarker", idm);
    s3_xml_elem(o, "NextKeyMarker", nk);
    s3_xml_elem(o, "NextUploadIdMarker", nid);
    s3_xml_elem(o, "Prefix", prefix);
    s3_xml_elem_u64(o, "MaxUploads", max);
    s3_xml_elem_bool(o, "IsTruncated", trunc);
    s3_buf_add(o, ups.p ? ups.p : "", ups.len);
    s3_xml_close(o, "ListMultipartUploadsResult");
    s3_buf_free(&ups);
    r->status = 200;
out:
    for (size_t i = 0; i < c.n; i++)
        free(c.v[i].key);
    free(c.v);
}
