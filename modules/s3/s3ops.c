/*
 * modules/s3/s3ops.c - S3 operations on the namespace, run on pool threads with
 * synchronous vfs calls: buckets, object GET/HEAD/DELETE/COPY, DeleteObjects, the
 * streaming PUT (temp file in <root>/.cfs-s3/tmp, verified, then renamed into place so no
 * half-written object is ever visible), metadata in user.cfs.* xattrs, conditionals,
 * ranges and error bodies.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/xattr.h>

#include <openssl/rand.h>

#include <cfs/meta.h>

#include "s3.h"
#include "xml.h"

#define EMPTY_MD5 "d41d8cd98f00b204e9800998ecf8427e"

/* ---- small helpers ---- */

void s3_add_hdr(struct s3_req *r, const char *name, const char *fmt, ...)
{
    char v[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(v, sizeof(v), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    /* never let a value break the header framing */
    for (char *p = v; *p; p++)
        if (*p == '\r' || *p == '\n')
            *p = ' ';
    s3_buf_addf(&r->rhdr, "%s: %s\r\n", name, v);
}

void s3_req_error(struct s3_req *r, enum s3_err e, const char *detail)
{
    if (e == S3E_SlowDown || e == S3E_ServiceUnavailable) {
        /* retry-later answers are rare and clients may not retry: say where it came from */
        int why = s3_err_take_retry();
        r->srv->api->log(CFS_LOG_WARN, S3_TAG, "%s %s %s -> %d %s: %s%s%s", r->reqid, r->method,
                         s3_op_name(r->op), s3_err_status(e), s3_err_code(e),
                         why == CFS_ERETRY ? "the namespace answered retry-later (backend "
                                             "breaker open, pool exhausted or a lease being broken)"
                         : why             ? strerror(-why)
                                           : "no errno (a pool job could not be queued, or a timeout)",
                         detail ? "; " : "", detail ? detail : "");
    }
    r->err = e;
    r->status = s3_err_status(e);
    if (detail)
        snprintf(r->err_detail, sizeof(r->err_detail), "%s", detail);
}

const char *s3_req_header(const struct s3_req *r, const char *name)
{
    const struct s3_hdr *h = s3_hdr_find(r->hdrs, r->nhdrs, name);
    return h ? h->val : NULL;
}

bool s3_query_get(const struct s3_req *r, const char *name, char *out, size_t cap)
{
    const char *q = r->query, *end = q + strlen(q);
    struct cfs_http_qparam p;
    char k[128];
    while (cfs_http_query_next(&q, end, &p)) {
        if (cfs_http_pct_decode(p.key, p.key_len, k, sizeof(k), CFS_HTTP_PCT_PLUS_SPACE) < 0 ||
            strcmp(k, name) != 0)
            continue;
        if (!p.value) {
            if (cap)
                out[0] = '\0';
            return true;
        }
        return cfs_http_pct_decode(p.value, p.value_len, out, cap, CFS_HTTP_PCT_PLUS_SPACE) >= 0;
    }
    return false;
}

bool s3_query_has(const struct s3_req *r, const char *name)
{
    char tmp[8];
    const char *q = r->query, *end = q + strlen(q);
    struct cfs_http_qparam p;
    char k[128];
    (void)tmp;
    while (cfs_http_query_next(&q, end, &p))
        if (cfs_http_pct_decode(p.key, p.key_len, k, sizeof(k), CFS_HTTP_PCT_PLUS_SPACE) >= 0 &&
            strcmp(k, name) == 0)
            return true;
    return false;
}

int s3_vcall(struct s3_server *s, struct cfs_vfs_op *op)
{
    return s->api->vfs->call(op);
}

int s3_lookup(struct s3_server *s, const struct cfs_fh *dir, const char *name,
              struct cfs_fh *out, struct cfs_attr *attr)
{
    struct cfs_vfs_op op;
    cfs_vfs_op_init(&op, CFS_VOP_LOOKUP, s3_cred(s), s->exp);
    op.fh = *dir;
    op.name = name;
    int r = s3_vcall(s, &op);
    if (r == 0) {
        if (out)
            *out = op.out_fh;
        if (attr)
            *attr = op.attr;
    }
    return r;
}

int s3_lookup_path(struct s3_server *s, const struct cfs_fh *dir, const char *path,
                   struct cfs_fh *out, struct cfs_attr *attr)
{
    struct cfs_vfs_op op;
    cfs_vfs_op_init(&op, CFS_VOP_LOOKUP_PATH, s3_cred(s), s->exp);
    op.fh = *dir;
    op.name = path;
    int r = s3_vcall(s, &op);
    if (r == 0) {
        if (out)
            *out = op.out_fh;
        if (attr) {
            if (op.has_attr) {
                *attr = op.attr;
            } else {
                struct cfs_vfs_op g;
                cfs_vfs_op_init(&g, CFS_VOP_GETATTR, s3_cred(s), s->exp);
                g.fh = op.out_fh;
                r = s3_vcall(s, &g);
                *attr = g.attr;
            }
        }
    }
    return r;
}

int s3_getattr(struct s3_server *s, const struct cfs_fh *fh, struct cfs_attr *a)
{
    struct cfs_vfs_op op;
    cfs_vfs_op_init(&op, CFS_VOP_GETATTR, s3_cred(s), s->exp);
    op.fh = *fh;
    int r = s3_vcall(s, &op);
    if (r == 0)
        *a = op.attr;
    return r;
}

int s3_mkdir(struct s3_server *s, const struct cfs_fh *dir, const char *name,
                    struct cfs_fh *out)
{
    struct cfs_vfs_op op;
    cfs_vfs_op_init(&op, CFS_VOP_MKDIR, s3_cred(s), s->exp);
    op.fh = *dir;
    op.name = name;
    op.sattr.mask = CFS_SET_MODE;
    op.sattr.mode = 0755;
    int r = s3_vcall(s, &op);
    if (r == 0 && out)
        *out = op.out_fh;
    if (r == -EEXIST) {
        struct cfs_attr a;
        r = s3_lookup(s, dir, name, out, &a);
        if (r == 0 && a.type != CFS_FT_DIR)
            r = -ENOTDIR;
    }
    return r;
}

int s3_remove(struct s3_server *s, const struct cfs_fh *dir, const char *name, bool isdir)
{
    struct cfs_vfs_op op;
    cfs_vfs_op_init(&op, isdir ? CFS_VOP_RMDIR : CFS_VOP_UNLINK, s3_cred(s), s->exp);
    op.fh = *dir;
    op.name = name;
    return s3_vcall(s, &op);
}

int s3_rename(struct s3_server *s, const struct cfs_fh *d1, const char *n1,
                     const struct cfs_fh *d2, const char *n2)
{
    struct cfs_vfs_op op;
    cfs_vfs_op_init(&op, CFS_VOP_RENAME, s3_cred(s), s->exp);
    op.fh = *d1;
    op.name = n1;
    op.fh2 = *d2;
    op.name2 = n2;
    return s3_vcall(s, &op);
}

int s3_meta_get_str(struct s3_server *s, const struct cfs_fh *fh, const char *name, char *buf,
                    size_t len)
{
    size_t got = 0;
    int r = cfs_meta_get(s->api->vfs, s3_cred(s), s->exp, fh, name, buf, len - 1, &got);
    if (r < 0)
        return r;
    if (got >= len)
        return -ERANGE;
    buf[got] = '\0';
    return (int)got;
}

int s3_meta_set_str(struct s3_server *s, const struct cfs_fh *fh, const char *name,
                    const char *val)
{
    return cfs_meta_set(s->api->vfs, s3_cred(s), s->exp, fh, name, val, strlen(val), 0);
}

/* Read [off, off+len) of fh through the VFS, feeding md5 (and copying to dst fd if >= 0). */
int s3_read_through(struct s3_server *s, const struct cfs_fh *fh, uint64_t off,
                        uint64_t len, struct s3_ck *md5, int dst, uint64_t dst_off)
{
    const size_t bs = 1u << 20;
    char *buf = malloc(bs);
    if (!buf)
        return -ENOMEM;
    int r = 0;
    while (len > 0) {
        struct cfs_vfs_op op;
        cfs_vfs_op_init(&op, CFS_VOP_READ, s3_cred(s), s->exp);
        op.fh = *fh;
        op.offset = off;
        op.length = len < bs ? len : bs;
        op.rbuf = buf;
        if ((r = s3_vcall(s, &op)) < 0)
            break;
        if (op.count == 0) {
            r = -EIO; /* shorter than its size: changed under us */
            break;
        }
        if (md5)
            s3_ck_update(md5, buf, op.count);
        if (dst >= 0) {
            for (size_t w = 0; w < op.count;) {
                ssize_t n = pwrite(dst, buf + w, op.count - w, (off_t)(dst_off + w));
                if (n < 0) {
                    if (errno == EINTR)
                        continue;
                    r = -errno;
                    goto out;
                }
                w += (size_t)n;
            }
            dst_off += op.count;
        }
        off += op.count;
        len -= op.count;
    }
out:
    free(buf);
    return r;
}

/* The stored ETag if it is still valid for attr; else (compute) the MD5 of the data. */
int s3_object_etag(struct s3_server *s, const struct cfs_fh *fh, const struct cfs_attr *a,
                   bool compute, char out[80])
{
    char v[160];
    if (a->type == CFS_FT_DIR) {
        snprintf(out, 80, "%s", EMPTY_MD5);
        return 0;
    }
    if (s3_meta_get_str(s, fh, CFS_META_ETAG, v, sizeof(v)) > 0) {
        char et[80];
        long long sec = 0, nsec = 0;
        unsigned long long size = 0;
        if (sscanf(v, "%79s %lld.%lld %llu", et, &sec, &nsec, &size) == 4 &&
            sec == (long long)a->mtime.tv_sec && nsec == (long long)a->mtime.tv_nsec &&
            size == (unsigned long long)a->size) {
            snprintf(out, 80, "%s", et);
            return 0;
        }
    }
    if (!compute) {
        /* a cheap stand-in for listings; GET/HEAD compute and store the real one */
        uint8_t d[16];
        char seed[96];
        int n = snprintf(seed, sizeof(seed), "%" PRIu64 ":%" PRIu64 ":%lld.%ld", a->fileid,
                         a->size, (long long)a->mtime.tv_sec, a->mtime.tv_nsec);
        s3_md5(seed, (size_t)n, d);
        s3_hex(d, 16, out);
        return 0;
    }
    struct s3_ck md5;
    if (s3_ck_init(&md5, S3_CK_MD5) < 0)
        return -ENOMEM;
    int r = s3_read_through(s, fh, 0, a->size, &md5, -1, 0);
    uint8_t d[16];
    s3_ck_final(&md5, d);
    if (r < 0)
        return r;
    s3_hex(d, 16, out);
    snprintf(v, sizeof(v), "%s %lld.%09ld %" PRIu64, out, (long long)a->mtime.tv_sec,
             a->mtime.tv_nsec, a->size);
    s3_meta_set_str(s, fh, CFS_META_ETAG, v); /* best effort (read-only export) */
    return 0;
}

void s3_store_etag(struct s3_server *s, const struct cfs_fh *fh, const char *etag)
{
    struct cfs_vfs_op op;
    cfs_vfs_op_init(&op, CFS_VOP_GETATTR, s3_cred(s), s->exp);
    op.fh = *fh;
    op.flags = CFS_ATTR_FRESH; /* the data went in through an OPENFD descriptor */
    if (s3_vcall(s, &op) < 0)
        return;
    const struct cfs_attr a = op.attr;
    char v[160];
    snprintf(v, sizeof(v), "%s %lld.%09ld %" PRIu64, etag, (long long)a.mtime.tv_sec,
             a.mtime.tv_nsec, a.size);
    s3_meta_set_str(s, fh, CFS_META_ETAG, v);
}

/* ---- credentials of the request being served on this pool thread ---- */

static __thread const struct cfs_cred *tl_cred;

const struct cfs_cred *s3_cred(struct s3_server *s)
{
    return tl_cred ? tl_cred : &s->cred;
}

void s3_cred_set(const struct cfs_cred *c)
{
    tl_cred = c;
}

/* ---- set-up ---- */

static void stage_mode(struct s3_server *s, const struct cfs_fh *fh)
{
    /* every S3 user stages here: world-writable and sticky, like /tmp */
    struct cfs_vfs_op op;
    cfs_vfs_op_init(&op, CFS_VOP_SETATTR, &s->cred, s->exp);
    op.fh = *fh;
    op.sattr.mask = CFS_SET_MODE;
    op.sattr.mode = 01777;
    s3_vcall(s, &op);
}

int s3_stage_init(struct s3_server *s)
{
    if (__atomic_load_n(&s->ready, __ATOMIC_ACQUIRE))
        return 0; /* every PUT asks: no mutex once it is set up */
    pthread_mutex_lock(&s->init_mu);
    const struct cfs_cred *saved = tl_cred;
    tl_cred = NULL;
    int r = 0;
    if (s->ready)
        goto out;
    const struct s3_conf *c = atomic_load(&s->conf);
    struct cfs_cred root = {0};
    struct cfs_vfs_op op;
    cfs_vfs_op_init(&op, CFS_VOP_GETATTR, &root, s->exp);
    op.fh = s->root;
    if ((r = s3_vcall(s, &op)) < 0)
        goto out;
    s->cred.uid = c && c->uid >= 0 ? (uint32_t)c->uid : op.attr.uid;
    s->cred.gid = c && c->gid >= 0 ? (uint32_t)c->gid : op.attr.gid;
    s->cred.ngroups = 0;
    if ((r = s3_mkdir(s, &s->root, S3_STAGE_DIR, &s->stage)) < 0 ||
        (r = s3_mkdir(s, &s->stage, "tmp", &s->tmp)) < 0 ||
        (r = s3_mkdir(s, &s->stage, "uploads", &s->uploads)) < 0 ||
        (r = s3_mkdir(s, &s->stage, S3_VERSIONS_DIR, &s->versions)) < 0) {
        const struct cfs_export_info *ei =
            s->api->vfs->export_info ? s->api->vfs->export_info(s->exp) : NULL;
        s->api->log(CFS_LOG_ERROR, S3_TAG, "cannot create %s/{tmp,uploads,versions} at the export root "
                    "as uid %u: %s%s", S3_STAGE_DIR, s->cred.uid, strerror(-r),
                    ei && ei->root_squash && s->cred.uid == 0
                        ? " (the export squashes root: set root_squash = false on it, or "
                          "s3.uid/s3.gid to the owner of its root)"
                        : "");
        goto out;
    }
    stage_mode(s, &s->tmp);
    for (int i = 0; i < S3_TMP_SHARDS; i++) {
        char sn[8];
        snprintf(sn, sizeof(sn), "s%d", i);
        if ((r = s3_mkdir(s, &s->tmp, sn, &s->tmpsh[i])) < 0) {
            s->api->log(CFS_LOG_ERROR, S3_TAG, "cannot create %s/tmp/%s at the export root "
                        "as uid %u: %s", S3_STAGE_DIR, sn, s->cred.uid, strerror(-r));
            goto out;
        }
        stage_mode(s, &s->tmpsh[i]);
    }
    stage_mode(s, &s->uploads);
    stage_mode(s, &s->versions);
    __atomic_store_n(&s->ready, true, __ATOMIC_RELEASE);
out:
    tl_cred = saved;
    pthread_mutex_unlock(&s->init_mu);
    return r;
}

/* ---- names ---- */

bool s3_bucket_name_ok(const char *b)
{
    size_t n = strlen(b);
    if (n < 3 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = b[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
              c == '_'))
            return false;
    }
    if (!((b[0] >= 'a' && b[0] <= 'z') || (b[0] >= '0' && b[0] <= '9')))
        return false;
    if (!((b[n - 1] >= 'a' && b[n - 1] <= 'z') || (b[n - 1] >= '0' && b[n - 1] <= '9')))
        return false;
    return strstr(b, "..") == NULL;
}

int s3_bucket_fh(struct s3_req *r, struct cfs_fh *out)
{
    struct cfs_attr a;
    if (!s3_bucket_name_ok(r->bucket)) {
        s3_req_error(r, S3E_NoSuchBucket, NULL);
        return -ENOENT;
    }
    int e = s3_lookup(r->srv, &r->srv->root, r->bucket, out, &a);
    if (e == 0 && a.type != CFS_FT_DIR)
        e = -ENOENT;
    if (e < 0)
        s3_req_error(r, s3_err_from_errno(e, true), NULL);
    return e;
}

/* Split key into its parent path and base name (key has no trailing '/'). */
void s3_split_key(const char *key, char *parent, size_t plen, const char **base)
{
    const char *sl = strrchr(key, '/');
    if (!sl) {
        parent[0] = '\0';
        *base = key;
        return;
    }
    size_t n = (size_t)(sl - key);
    if (n >= plen)
        n = plen - 1;
    memcpy(parent, key, n);
    parent[n] = '\0';
    *base = sl + 1;
}

int s3_mkdir_p(struct s3_server *s, const struct cfs_fh *base, const char *path,
                   struct cfs_fh *out)
{
    struct cfs_fh cur = *base;
    char comp[256];
    const char *p = path;
    while (*p) {
        const char *sl = strchr(p, '/');
        size_t n = sl ? (size_t)(sl - p) : strlen(p);
        if (n == 0 || n >= sizeof(comp))
            return -EINVAL;
        memcpy(comp, p, n);
        comp[n] = '\0';
        struct cfs_fh next;
        struct cfs_attr a;
        int r = s3_lookup(s, &cur, comp, &next, &a);
        if (r == -ENOENT)
            r = s3_mkdir(s, &cur, comp, &next);
        else if (r == 0 && a.type != CFS_FT_DIR)
            r = -ENOTDIR;
        if (r < 0)
            return r;
        cur = next;
        p += n;
        if (*p == '/')
            p++;
    }
    *out = cur;
    return 0;
}

/* ---- conditionals ---- */

static bool etag_list_match(const char *list, const char *etag)
{
    /* "a", "b" or * ; compare without quotes and W/ */
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        if (!*p)
            break;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *a = p, *b = e;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (b - a == 1 && *a == '*')
            return true;
        if (b - a > 2 && a[0] == 'W' && a[1] == '/')
            a += 2;
        if (b - a >= 2 && *a == '"' && b[-1] == '"') {
            a++;
            b--;
        }
        if ((size_t)(b - a) == strlen(etag) && memcmp(a, etag, (size_t)(b - a)) == 0)
            return true;
        p = e;
    }
    return false;
}

/* GET/HEAD conditionals (RFC 9110 order as S3 applies it). S3E_OK to go on. */
enum s3_err s3_check_conditions(const struct s3_req *r, const char *pfx, const char *etag,
                                int64_t mtime)
{
    char n[64];
    int64_t t;
    snprintf(n, sizeof(n), "%sif-match", pfx);
    const char *im = s3_req_header(r, n);
    snprintf(n, sizeof(n), "%sif-unmodified-since", pfx);
    const char *ius = s3_req_header(r, n);
    snprintf(n, sizeof(n), "%sif-none-match", pfx);
    const char *inm = s3_req_header(r, n);
    snprintf(n, sizeof(n), "%sif-modified-since", pfx);
    const char *ims = s3_req_header(r, n);
    bool copy = *pfx != '\0';
    if (im) {
        if (!etag_list_match(im, etag))
            return S3E_PreconditionFailed;
    } else if (ius && s3_parse_http_date(ius, strlen(ius), &t) == 0 && mtime > t) {
        return S3E_PreconditionFailed;
    }
    if (inm) {
        if (etag_list_match(inm, etag))
            return copy ? S3E_PreconditionFailed : S3E_NotModified;
    } else if (ims && s3_parse_http_date(ims, strlen(ims), &t) == 0 && mtime <= t) {
        return copy ? S3E_PreconditionFailed : S3E_NotModified;
    }
    return S3E_OK;
}

/* ---- object metadata ---- */

static const char *const stored_headers[] = {
    "content-encoding", "content-disposition", "cache-control", "expires", "content-language",
    "x-amz-website-redirect-location", "x-amz-storage-class", NULL,
};

/* Copy metadata from the request headers onto fh. */
enum s3_err s3_meta_from_request(struct s3_req *r, const struct cfs_fh *fh)
{
    struct s3_server *s = r->srv;
    char name[300];
    size_t total = 0;
    const char *ct = s3_req_header(r, "content-type");
    if (ct && *ct)
        s3_meta_set_str(s, fh, CFS_META_CONTENT_TYPE, ct);
    for (int i = 0; stored_headers[i]; i++) {
        const char *v = s3_req_header(r, stored_headers[i]);
        if (v && *v && cfs_meta_name(name, sizeof(name), S3_XATTR_HDR, stored_headers[i]) == 0)
            s3_meta_set_str(s, fh, name, v);
    }
    for (size_t i = 0; i < r->nhdrs; i++) {
        const struct s3_hdr *h = &r->hdrs[i];
        if (h->nlen <= 11 || strncasecmp(h->name, "x-amz-meta-", 11) != 0)
            continue;
        total += h->nlen - 11 + h->vlen;
        if (total > S3_MAX_META)
            return S3E_MetadataTooLarge;
        char low[256];
        size_t kn = h->nlen - 11;
        if (kn >= sizeof(low))
            return S3E_MetadataTooLarge;
        for (size_t k = 0; k < kn; k++) {
            char c = h->name[11 + k];
            low[k] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        low[kn] = '\0';
        if (cfs_meta_name(name, sizeof(name), CFS_META_USER, low) < 0)
            return S3E_MetadataTooLarge;
        int e = cfs_meta_set(s->api->vfs, s3_cred(s), s->exp, fh, name, h->val, h->vlen, 0);
        if (e < 0 && e != -ENOTSUP)
            return s3_err_from_errno(e, false);
    }
    return S3E_OK;
}

/* Copy every user.cfs.* attribute but the ETag and version from src to dst. */
void s3_meta_copy(struct s3_server *s, const struct cfs_fh *src, const struct cfs_fh *dst,
                      bool only_content)
{
    char *names = malloc(65536), *val = malloc(65536);
    size_t nl = 0;
    if (!names || !val)
        goto out;
    if (cfs_meta_list(s->api->vfs, s3_cred(s), s->exp, src, names, 65536, &nl) < 0)
        goto out;
    for (size_t i = 0; i < nl;) {
        const char *n = names + i;
        size_t l = strnlen(n, nl - i);
        i += l + 1;
        if (strcmp(n, CFS_META_ETAG) == 0 || strcmp(n, CFS_META_VERSION) == 0 ||
            strcmp(n, S3_XATTR_VSEQ) == 0 || strcmp(n, S3_XATTR_DMARKER) == 0 ||
            strncmp(n, S3_XATTR_MPU, strlen(S3_XATTR_MPU)) == 0)
            continue;
        if (only_content && strncmp(n, CFS_META_CHECKSUM, strlen(CFS_META_CHECKSUM)) == 0)
            continue;
        size_t vl = 0;
        if (cfs_meta_get(s->api->vfs, s3_cred(s), s->exp, src, n, val, 65536, &vl) == 0)
            cfs_meta_set(s->api->vfs, s3_cred(s), s->exp, dst, n, val, vl, 0);
    }
out:
    free(names);
    free(val);
}

/* Response headers from the object's metadata. */
static void meta_to_response(struct s3_req *r, const struct cfs_fh *fh, bool checksums)
{
    struct s3_server *s = r->srv;
    char *names = malloc(65536), *val = malloc(4096);
    size_t nl = 0;
    bool have_ct = false;
    if (!names || !val)
        goto out;
    if (cfs_meta_list(s->api->vfs, s3_cred(s), s->exp, fh, names, 65536, &nl) < 0)
        nl = 0;
    for (size_t i = 0; i < nl;) {
        const char *n = names + i;
        size_t l = strnlen(n, nl - i);
        i += l + 1;
        /* fetch only what becomes a header (not the ETag record, version stamps...) */
        bool wanted = strcmp(n, CFS_META_CONTENT_TYPE) == 0 ||
                      strncmp(n, CFS_META_USER, strlen(CFS_META_USER)) == 0 ||
                      strncmp(n, S3_XATTR_HDR, strlen(S3_XATTR_HDR)) == 0 ||
                      (checksums && strncmp(n, CFS_META_CHECKSUM, strlen(CFS_META_CHECKSUM)) == 0);
        if (!wanted || s3_meta_get_str(s, fh, n, val, 4096) < 0)
            continue;
        if (strcmp(n, CFS_META_CONTENT_TYPE) == 0) {
            s3_add_hdr(r, "Content-Type", "%s", val);
            have_ct = true;
        } else if (strncmp(n, CFS_META_USER, strlen(CFS_META_USER)) == 0) {
            char hn[300];
            snprintf(hn, sizeof(hn), "x-amz-meta-%s", n + strlen(CFS_META_USER));
            s3_add_hdr(r, hn, "%s", val);
        } else if (strncmp(n, S3_XATTR_HDR, strlen(S3_XATTR_HDR)) == 0) {
            s3_add_hdr(r, n + strlen(S3_XATTR_HDR), "%s", val);
        } else if (checksums && strncmp(n, CFS_META_CHECKSUM, strlen(CFS_META_CHECKSUM)) == 0) {
            char hn[64];
            snprintf(hn, sizeof(hn), "x-amz-checksum-%s", n + strlen(CFS_META_CHECKSUM));
            s3_add_hdr(r, hn, "%s", val);
        }
    }
out:
    if (!have_ct)
        s3_add_hdr(r, "Content-Type", "%s", "binary/octet-stream");
    free(names);
    free(val);
}

/* ---- key resolution ---- */

/* Look the object up; directories answer only to keys ending in '/'. */
static int object_lookup(struct s3_req *r, const struct cfs_fh *bfh, struct cfs_fh *fh,
                         struct cfs_attr *a)
{
    size_t kl = strlen(r->key);
    bool dirkey = kl > 0 && r->key[kl - 1] == '/';
    int e = s3_lookup_path(r->srv, bfh, r->key, fh, a);
    if (e == -ENOTDIR)
        e = -ENOENT;
    if (e == 0 && a->type == CFS_FT_DIR && !dirkey)
        e = -ENOENT;
    if (e == 0 && a->type != CFS_FT_DIR && dirkey)
        e = -ENOENT;
    if (e == 0 && a->type != CFS_FT_DIR && a->type != CFS_FT_REG)
        e = -ENOENT;
    return e;
}

/* ---- operations ---- */

static void op_create_bucket(struct s3_req *r)
{
    struct s3_server *s = r->srv;
    char region[64];
    enum s3_err e = s3_body_create_bucket(r->body.p ? r->body.p : "", r->body.len, region,
                                          sizeof(region));
    if (e) {
        s3_req_error(r, e, NULL);
        return;
    }
    if (region[0] && strcmp(region, r->conf->region) != 0 &&
        !(strcmp(region, "US") == 0 && strcmp(r->conf->region, "us-east-1") == 0)) {
        s3_req_error(r, S3E_InvalidArgument, "LocationConstraint differs from this gateway's region");
        return;
    }
    if (!s3_bucket_name_ok(r->bucket)) {
        s3_req_error(r, S3E_InvalidBucketName, NULL);
        return;
    }
    const char *acl = NULL, *acl_h = s3_req_header(r, "x-amz-acl");
    if (acl_h) {
        bool bad;
        acl = s3_canned_acl(acl_h, &bad);
        if (bad) {
            s3_req_error(r, S3E_NotImplemented, "only the private and public-read canned ACLs are supported");
            return;
        }
    }
    struct cfs_vfs_op op;
    cfs_vfs_op_init(&op, CFS_VOP_MKDIR, s3_cred(s), s->exp);
    op.fh = s->root;
    op.name = r->bucket;
    op.sattr.mask = CFS_SET_MODE;
    op.sattr.mode = 0755;
    int err = s3_vcall(s, &op);
    if (err == -EEXIST) {
        s3_req_error(r, S3E_BucketAlreadyOwnedByYou, NULL);
        return;
    }
    if (err < 0) {
        s3_req_error(r, s3_err_from_errno(err, true), NULL);
        return;
    }
    if (r->conf->enable_versioning)
        s3_meta_set_str(s, &op.out_fh, S3_XATTR_VERSIONING, "Enabled");
    if (acl && strcmp(acl, "private") != 0)
        s3_meta_set_str(s, &op.out_fh, S3_XATTR_ACL, acl);
    s3_add_hdr(r, "Location", "/%s", r->bucket);
    r->status = 200;
}

static void op_delete_bucket(struct s3_req *r)
{
    struct s3_server *s = r->srv;
    struct cfs_fh b;
    if (s3_bucket_fh(r, &b) < 0)
        return;
    /* any pending multipart upload of the bucket keeps it; so do its old versions */
    int e = s3_ver_bucket_empty(s, r->bucket);
    if (e == 0) {
        s3_req_error(r, S3E_BucketNotEmpty, "the bucket holds non-current versions or delete markers");
        return;
    }
    e = s3_remove(s, &s->root, r->bucket, true);
    if (e == -ENOTEMPTY || e == -EEXIST) {
        s3_req_error(r, S3E_BucketNotEmpty, NULL);
        return;
    }
    if (e < 0) {
        s3_req_error(r, s3_err_from_errno(e, true), NULL);
        return;
    }
    r->status = 204;
}

static void op_head_bucket(struct s3_req *r)
{
    struct cfs_fh b;
    if (s3_bucket_fh(r, &b) < 0)
        return;
    s3_add_hdr(r, "x-amz-bucket-region", "%s", r->conf->region);
    r->status = 200;
}

static void op_get_location(struct s3_req *r)
{
    struct cfs_fh b;
    if (s3_bucket_fh(r, &b) < 0)
        return;
    s3_xml_decl(&r->rbody);
    s3_buf_adds(&r->rbody, "<LocationConstraint xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    if (strcmp(r->conf->region, "us-east-1") != 0)
        s3_xml_escape(&r->rbody, r->conf->region, strlen(r->conf->region));
    s3_buf_adds(&r->rbody, "</LocationConstraint>");
    r->status = 200;
}

static void op_get_versioning(struct s3_req *r)
{
    struct cfs_fh b;
    char v[32];
    if (s3_bucket_fh(r, &b) < 0)
        return;
    s3_xml_decl(&r->rbody);
    s3_xml_open_ns(&r->rbody, "VersioningConfiguration");
    if (s3_meta_get_str(r->srv, &b, S3_XATTR_VERSIONING, v, sizeof(v)) > 0)
        s3_xml_elem(&r->rbody, "Status", v);
    s3_xml_close(&r->rbody, "VersioningConfiguration");
    r->status = 200;
}

static void op_put_versioning(struct s3_req *r)
{
    struct cfs_fh b;
    bool en = false;
    if (s3_bucket_fh(r, &b) < 0)
        return;
    enum s3_err e = s3_body_versioning(r->body.p ? r->body.p : "", r->body.len, &en);
    if (e) {
        s3_req_error(r, e, NULL);
        return;
    }
    int rc = s3_meta_set_str(r->srv, &b, S3_XATTR_VERSIONING, en ? "Enabled" : "Suspended");
    if (rc < 0) {
        s3_req_error(r, s3_err_from_errno(rc, true), NULL);
        return;
    }
    r->status = 200;
}

static void op_acl(struct s3_req *r, bool object)
{
    struct cfs_fh b, o;
    struct cfs_attr a;
    if (s3_bucket_fh(r, &b) < 0)
        return;
    if (object) {
        int e = object_lookup(r, &b, &o, &a);
        if (e < 0) {
            s3_req_error(r, s3_err_from_errno(e, false), NULL);
            return;
        }
    }
    s3_xml_decl(&r->rbody);
    s3_xml_open_ns(&r->rbody, "AccessControlPolicy");
    s3_buf_addf(&r->rbody, "<Owner><ID>%s</ID><DisplayName>%s</DisplayName></Owner>",
                r->srv->access_key, r->srv->access_key);
    s3_buf_addf(&r->rbody, "<AccessControlList><Grant><Grantee "
                           "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
                           "xsi:type=\"CanonicalUser\"><ID>%s</ID><DisplayName>%s</DisplayName>"
                           "</Grantee><Permission>FULL_CONTROL</Permission></Grant>",
                r->srv->access_key, r->srv->access_key);
    if (s3_bucket_public_read(r->srv, &b))
        s3_buf_adds(&r->rbody, "<Grant><Grantee "
                               "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
                               "xsi:type=\"Group\"><URI>http://acs.amazonaws.com/groups/global/"
                               "AllUsers</URI></Grantee><Permission>READ</Permission></Grant>");
    s3_buf_adds(&r->rbody, "</AccessControlList>");
    s3_xml_close(&r->rbody, "AccessControlPolicy");
    r->status = 200;
}

/* Range header: 0 = whole object, 1 = range set, -1 = unsatisfiable. */
int s3_parse_range(const char *h, uint64_t size, uint64_t *off, uint64_t *len)
{
    if (!h || strncmp(h, "bytes=", 6) != 0)
        return 0;
    const char *p = h + 6;
    if (strchr(p, ','))
        return 0; /* multiple ranges: S3 serves the whole object */
    const char *dash = strchr(p, '-');
    if (!dash)
        return 0;
    uint64_t a = 0, b = 0;
    bool ha = dash > p, hb = dash[1] != '\0';
    if (ha && s3_parse_u64(p, (size_t)(dash - p), &a) < 0)
        return 0;
    if (hb && s3_parse_u64(dash + 1, strlen(dash + 1), &b) < 0)
        return 0;
    if (!ha && !hb)
        return 0;
    if (!ha) { /* suffix */
        if (b == 0)
            return -1;
        if (b > size)
            b = size;
        *off = size - b;
        *len = b;
        return size ? 1 : -1;
    }
    if (hb && b < a)
        return 0; /* syntactically invalid: ignored */
    if (a >= size)
        return -1;
    if (!hb || b >= size)
        b = size - 1;
    *off = a;
    *len = b - a + 1;
    return 1;
}

static void op_get_head(struct s3_req *r, bool head)
{
    struct s3_server *s = r->srv;
    struct cfs_fh b, fh;
    struct cfs_attr a;
    char etag[80], vid[128], cur_vid[S3_VID_MAX] = "";
    if (s3_bucket_fh(r, &b) < 0)
        return;
    bool has_vid = s3_query_get(r, "versionId", vid, sizeof(vid));
    size_t kl = strlen(r->key);
    bool dirkey = kl > 0 && r->key[kl - 1] == '/';
    int e;
    if (has_vid && !s3_ver_id_ok(vid)) {
        s3_req_error(r, S3E_InvalidArgument, "Invalid version id specified");
        return;
    }
    if (!dirkey && (has_vid || s3_ver_state(s, &b) != S3V_OFF)) {
        struct s3_vref v;
        e = s3_ver_resolve(s, r->bucket, &b, r->key, has_vid ? vid : NULL, &v);
        if (e < 0) {
            s3_req_error(r, e == -ENOENT ? (has_vid ? S3E_NoSuchVersion : S3E_NoSuchKey)
                                         : s3_err_from_errno(e, false), NULL);
            return;
        }
        if (v.dmarker) {
            s3_add_hdr(r, "x-amz-delete-marker", "%s", "true");
            s3_add_hdr(r, "x-amz-version-id", "%s", v.vid);
            if (has_vid) {
                char lm[64];
                s3_fmt_http_date((int64_t)v.attr.mtime.tv_sec, lm);
                s3_add_hdr(r, "Last-Modified", "%s", lm);
                s3_add_hdr(r, "Allow", "%s", "DELETE");
                s3_req_error(r, S3E_MethodNotAllowed, "The specified method is not allowed against a delete marker.");
            } else {
                s3_req_error(r, S3E_NoSuchKey, NULL);
            }
            return;
        }
        fh = v.fh;
        a = v.attr;
        snprintf(cur_vid, sizeof(cur_vid), "%s", v.vid);
    } else {
        if (has_vid && strcmp(vid, "null") != 0) {
            s3_req_error(r, S3E_NoSuchVersion, NULL);
            return;
        }
        e = object_lookup(r, &b, &fh, &a);
        if (e < 0) {
            s3_req_error(r, s3_err_from_errno(e, false), NULL);
            return;
        }
    }
    if ((e = s3_object_etag(s, &fh, &a, true, etag)) < 0) {
        s3_req_error(r, s3_err_from_errno(e, false), NULL);
        return;
    }
    enum s3_err ce = s3_check_conditions(r, "", etag, (int64_t)a.mtime.tv_sec);
    char lm[64];
    s3_fmt_http_date((int64_t)a.mtime.tv_sec, lm);
    if (ce == S3E_NotModified) {
        r->status = 304;
        s3_add_hdr(r, "ETag", "\"%s\"", etag);
        s3_add_hdr(r, "Last-Modified", "%s", lm);
        return;
    }
    if (ce) {
        s3_req_error(r, ce, NULL);
        return;
    }
    uint64_t size = a.type == CFS_FT_DIR ? 0 : a.size, off = 0, len = size;
    int rg = a.type == CFS_FT_DIR ? 0 : s3_parse_range(s3_req_header(r, "range"), size, &off, &len);
    char pn[16];
    if (rg == 0 && s3_query_get(r, "partNumber", pn, sizeof(pn))) {
        uint64_t n;
        if (s3_parse_u64(pn, strlen(pn), &n) < 0 || n != 1) {
            s3_req_error(r, S3E_InvalidArgument, "partNumber must be 1 for this object");
            return;
        }
    }
    if (rg < 0) {
        s3_req_error(r, S3E_InvalidRange, NULL);
        s3_add_hdr(r, "Content-Range", "bytes */%" PRIu64, size);
        return;
    }
    const char *cm = s3_req_header(r, "x-amz-checksum-mode");
    meta_to_response(r, &fh, cm && strcasecmp(cm, "ENABLED") == 0 && rg == 0);
    s3_add_hdr(r, "ETag", "\"%s\"", etag);
    s3_add_hdr(r, "Last-Modified", "%s", lm);
    s3_add_hdr(r, "Accept-Ranges", "%s", "bytes");
    if (cur_vid[0])
        s3_add_hdr(r, "x-amz-version-id", "%s", cur_vid);
    if (rg > 0)
        s3_add_hdr(r, "Content-Range", "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, off,
                   off + len - 1, size);
    /* response-* query overrides (presigned downloads) */
    static const char *const ov[][2] = {
        {"response-content-type", "Content-Type"},
        {"response-content-disposition", "Content-Disposition"},
        {"response-cache-control", "Cache-Control"},
        {"response-content-encoding", "Content-Encoding"},
        {"response-content-language", "Content-Language"},
        {"response-expires", "Expires"},
    };
    for (size_t i = 0; i < sizeof(ov) / sizeof(ov[0]); i++) {
        char v[512];
        if (s3_query_get(r, ov[i][0], v, sizeof(v)))
            s3_add_hdr(r, ov[i][1], "%s", v);
    }
    r->status = rg > 0 ? 206 : 200;
    if (head) {
        r->head = true;
        r->head_len = len;
        return;
    }
    if (len == 0)
        return;
    struct cfs_vfs_op op;
    cfs_vfs_op_init(&op, CFS_VOP_OPENFD, s3_cred(s), s->exp);
    op.fh = fh;
    op.flags = O_RDONLY;
    if ((e = s3_vcall(s, &op)) < 0) {
        r->rhdr.len = 0;
        s3_req_error(r, s3_err_from_errno(e, false), NULL);
        return;
    }
    if (len <= S3_INLINE_BODY) {
        /* small: read it here so the loop sends headers and body in one write */
        char buf[S3_INLINE_BODY];
        size_t got = 0;
        while (got < len) {
            ssize_t n = pread(op.fd, buf + got, len - got, (off_t)(off + got));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        if (got == len && s3_buf_add(&r->rbody, buf, len) == 0) {
            close(op.fd);
            r->rbody_obj = true;
            return;
        }
        s3_buf_reset(&r->rbody); /* shorter than its size (changed under us): sendfile */
    }
    r->file_fd = op.fd;
    r->file_off = off;
    r->file_len = len;
}

static enum s3_err delete_key(struct s3_req *r, const struct cfs_fh *b, const char *key)
{
    struct s3_server *s = r->srv;
    size_t kl = strlen(key);
    bool dirkey = kl > 0 && key[kl - 1] == '/';
    char parent[S3_MAX_KEY + 1], k2[S3_MAX_KEY + 1];
    const char *base;
    snprintf(k2, sizeof(k2), "%s", key);
    if (dirkey)
        k2[kl - 1] = '\0';
    s3_split_key(k2, parent, sizeof(parent), &base);
    struct cfs_fh dir = *b;
    struct cfs_attr a;
    int e = 0;
    if (parent[0])
        e = s3_lookup_path(s, b, parent, &dir, NULL);
    if (e == 0)
        e = s3_lookup(s, &dir, base, NULL, &a);
    if (e == -ENOENT || e == -ENOTDIR)
        return S3E_OK; /* deleting a missing key succeeds */
    if (e < 0)
        return s3_err_from_errno(e, false);
    if ((a.type == CFS_FT_DIR) != dirkey)
        return S3E_OK; /* "a" when a/ is a directory: no such object */
    e = s3_remove(s, &dir, base, dirkey);
    if (e == -ENOTEMPTY || e == -EEXIST)
        return S3E_OK; /* a prefix with objects below is not an object */
    if (e < 0 && e != -ENOENT)
        return s3_err_from_errno(e, false);
    /* remove now-empty parent directories, as S3 has no directories */
    while (parent[0]) {
        char pp[S3_MAX_KEY + 1];
        const char *pb;
        s3_split_key(parent, pp, sizeof(pp), &pb);
        struct cfs_fh pd = *b;
        if (pp[0] && s3_lookup_path(s, b, pp, &pd, NULL) < 0)
            break;
        if (s3_remove(s, &pd, pb, true) < 0)
            break;
        memmove(parent, pp, strlen(pp) + 1);
    }
    return S3E_OK;
}

/* DELETE of a key, with or without a version id, in any bucket. */
static enum s3_err delete_any(struct s3_req *r, const struct cfs_fh *b, const char *key,
                              const char *vid, struct s3_vdel *vd)
{
    size_t kl = strlen(key);
    bool dirkey = kl > 0 && key[kl - 1] == '/';
    memset(vd, 0, sizeof(*vd));
    if (!dirkey && (vid || s3_ver_state(r->srv, b) != S3V_OFF))
        return s3_ver_delete(r, b, key, vid, vd);
    if (vid && strcmp(vid, "null") != 0)
        return s3_ver_id_ok(vid) ? S3E_OK : S3E_InvalidArgument;
    return delete_key(r, b, key);
}

static void op_delete_object(struct s3_req *r)
{
    struct cfs_fh b;
    char vid[128];
    struct s3_vdel vd;
    if (s3_bucket_fh(r, &b) < 0)
        return;
    bool has_vid = s3_query_get(r, "versionId", vid, sizeof(vid));
    enum s3_err e = delete_any(r, &b, r->key, has_vid ? vid : NULL, &vd);
    if (e) {
        s3_req_error(r, e, e == S3E_InvalidArgument ? "Invalid version id specified" : NULL);
        return;
    }
    if (vd.vid[0])
        s3_add_hdr(r, "x-amz-version-id", "%s", vd.vid);
    if (vd.dmarker)
        s3_add_hdr(r, "x-amz-delete-marker", "%s", "true");
    r->status = 204;
}

enum s3_err s3_key_check(const char *key)
{
    size_t n = strlen(key);
    if (n == 0)
        return S3E_InvalidObjectName;
    if (n > S3_MAX_KEY)
        return S3E_KeyTooLongError;
    const char *p = key;
    while (*p) {
        const char *sl = strchr(p, '/');
        size_t l = sl ? (size_t)(sl - p) : strlen(p);
        if (l == 0 || (l == 1 && p[0] == '.') || (l == 2 && p[0] == '.' && p[1] == '.'))
            return S3E_InvalidObjectName;
        if (l > 255)
            return S3E_KeyTooLongError;
        p += l;
        if (*p == '/')
            p++;
    }
    return S3E_OK;
}

static void op_delete_objects(struct s3_req *r)
{
    struct cfs_fh b;
    struct s3_delete_req dr;
    if (s3_bucket_fh(r, &b) < 0)
        return;
    enum s3_err e = s3_body_delete(r->body.p ? r->body.p : "", r->body.len, &dr);
    if (e) {
        s3_req_error(r, e, NULL);
        return;
    }
    s3_xml_decl(&r->rbody);
    s3_xml_open_ns(&r->rbody, "DeleteResult");
    for (size_t i = 0; i < dr.n; i++) {
        const char *k = dr.objs[i].key, *vid = dr.objs[i].version_id;
        struct s3_vdel vd = {0};
        enum s3_err ke = s3_key_check(k);
        if (ke == S3E_OK)
            ke = delete_any(r, &b, k, vid, &vd);
        if (ke == S3E_OK) {
            if (!dr.quiet) {
                s3_xml_open(&r->rbody, "Deleted");
                s3_xml_elem(&r->rbody, "Key", k);
                if (vid)
                    s3_xml_elem(&r->rbody, "VersionId", vid);
                if (vd.dmarker) {
                    s3_xml_elem(&r->rbody, "DeleteMarker", "true");
                    if (!vid)
                        s3_xml_elem(&r->rbody, "DeleteMarkerVersionId", vd.vid);
                }
                s3_xml_close(&r->rbody, "Deleted");
            }
        } else {
            s3_xml_open(&r->rbody, "Error");
            s3_xml_elem(&r->rbody, "Key", k);
            if (vid)
                s3_xml_elem(&r->rbody, "VersionId", vid);
            s3_xml_elem(&r->rbody, "Code", s3_err_code(ke));
            s3_xml_elem(&r->rbody, "Message", s3_err_message(ke));
            s3_xml_close(&r->rbody, "Error");
        }
    }
    s3_xml_close(&r->rbody, "DeleteResult");
    s3_delete_req_free(&dr);
    r->status = 200;
}

/* ---- temp files ---- */

static atomic_uint tmp_shard_next;
static __thread int tl_shard = -1;

const struct cfs_fh *s3_tmp_dir(struct s3_server *s, const char *name)
{
    /* "p<digit>-<hex>" in tmp/s<digit>; older "put-<hex>" names in tmp itself */
    if (name[0] == 'p' && name[1] >= '0' && name[1] < '0' + S3_TMP_SHARDS && name[2] == '-')
        return &s->tmpsh[name[1] - '0'];
    return &s->tmp;
}

int s3_tmp_create(struct s3_server *s, char name[64], struct cfs_fh *fh, int *fd)
{
    uint8_t rnd[12];
    char hx[25];
    if (tl_shard < 0)
        tl_shard = (int)(atomic_fetch_add(&tmp_shard_next, 1) % S3_TMP_SHARDS);
    RAND_bytes(rnd, sizeof(rnd));
    s3_hex(rnd, sizeof(rnd), hx);
    snprintf(name, 64, "p%d-%s", tl_shard, hx);
    struct cfs_vfs_op op;
    cfs_vfs_op_init(&op, CFS_VOP_CREATE, s3_cred(s), s->exp);
    op.fh = *s3_tmp_dir(s, name);
    op.name = name;
    op.how = CFS_CREATE_GUARDED;
    op.sattr.mask = CFS_SET_MODE;
    op.sattr.mode = 0644;
    int r = s3_vcall(s, &op);
    if (r < 0)
        return r;
    *fh = op.out_fh;
    struct cfs_vfs_op o;
    cfs_vfs_op_init(&o, CFS_VOP_OPENFD, s3_cred(s), s->exp);
    o.fh = op.out_fh;
    o.flags = O_WRONLY;
    if ((r = s3_vcall(s, &o)) < 0) {
        s3_remove(s, s3_tmp_dir(s, name), name, false);
        return r;
    }
    *fd = o.fd;
    return 0;
}

int s3_put_open(struct s3_req *r)
{
    struct s3_server *s = r->srv;
    struct s3_put *p = r->put;
    int e = s3_stage_init(s);
    if (e < 0) {
        s3_req_error(r, S3E_InternalError, "staging area unavailable");
        return e;
    }
    struct cfs_fh b;
    if (s3_bucket_fh(r, &b) < 0)
        return -ENOENT;
    if (p->one_job) {
        p->bfh = b;
        p->has_bfh = true;
    }
    if (r->op == S3OP_UploadPart) {
        struct cfs_fh up;
        if ((e = s3_mpu_part_target(r, &up)) < 0)
            return e;
    }
    if ((e = s3_tmp_create(s, p->tmpname, &p->tmpfh, &p->fd)) < 0) {
        s3_req_error(r, s3_err_from_errno(e, false), "cannot create a staging file");
        return e;
    }
    return 0;
}

/*
 * Hash a batch of body pieces and write them to the staging file. The digests (MD5 for
 * the ETag, SHA-256 for a signed payload, an x-amz-checksum-*) run block by block over
 * the same 32 KiB while it is in the L1 cache, then one pwritev per IOV_MAX pieces.
 */
#define S3_HASH_BLOCK (32u << 10)
void s3_put_write(struct s3_req *r, const struct iovec *iov, int n)
{
    if (r->put->werr)
        return;
    s3_put_hash(r, iov, n);
    s3_put_pwrite(r, iov, n);
}

/* Digests only (touches md5, sha256, ck: nothing s3_put_pwrite uses). */
void s3_put_hash(struct s3_req *r, const struct iovec *iov, int n)
{
    struct s3_put *p = r->put;
    for (int i = 0; i < n; i++) {
        const char *b = iov[i].iov_base;
        for (size_t off = 0, len = iov[i].iov_len; off < len;) {
            size_t k = len - off < S3_HASH_BLOCK ? len - off : S3_HASH_BLOCK;
            s3_ck_update(&p->md5, b + off, k);
            if (p->want_sha256)
                s3_ck_update(&p->sha256, b + off, k);
            if (p->ck_alg != S3_CK_NONE)
                s3_ck_update(&p->ck, b + off, k);
            off += k;
        }
    }
}

/* The staging file only (touches fd, written, werr). */
void s3_put_pwrite(struct s3_req *r, const struct iovec *iov, int n)
{
    struct s3_put *p = r->put;
    if (p->werr)
        return;
    struct iovec local[64];
    int at = 0;
    size_t skip = 0; /* bytes of iov[at] already written */
    while (at < n) {
        int cnt = 0;
        for (int i = at; i < n && cnt < (int)(sizeof(local) / sizeof(local[0])); i++) {
            size_t o = i == at ? skip : 0;
            if (iov[i].iov_len <= o)
                continue;
            local[cnt].iov_base = (char *)iov[i].iov_base + o;
            local[cnt].iov_len = iov[i].iov_len - o;
            cnt++;
        }
        if (cnt == 0)
            break;
        ssize_t w = pwritev(p->fd, local, cnt, (off_t)p->written);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            p->werr = -errno;
            return;
        }
        if (w == 0) {
            p->werr = -EIO;
            return;
        }
        p->written += (uint64_t)w;
        /* advance (at, skip) by w bytes */
        size_t left = (size_t)w;
        while (at < n && left > 0) {
            size_t rest = iov[at].iov_len - skip;
            if (left < rest) {
                skip += left;
                left = 0;
            } else {
                left -= rest;
                at++;
                skip = 0;
            }
        }
        while (at < n && iov[at].iov_len == skip) {
            at++;
            skip = 0;
        }
    }
}

void s3_put_abort(struct s3_server *s, struct s3_put *p)
{
    if (p->fd >= 0) {
        close(p->fd);
        p->fd = -1;
    }
    if (p->tmpname[0]) {
        s3_remove(s, s3_tmp_dir(s, p->tmpname), p->tmpname, false);
        p->tmpname[0] = '\0';
    }
}

static enum s3_err verify_upload(struct s3_req *r, const uint8_t md5[16], char *ck_b64)
{
    struct s3_put *p = r->put;
    const char *cm = s3_req_header(r, "content-md5");
    if (cm) {
        uint8_t want[20];
        if (s3_b64_dec(cm, strlen(cm), want, sizeof(want)) != 16)
            return S3E_InvalidDigest;
        if (memcmp(want, md5, 16) != 0)
            return S3E_BadDigest;
    }
    if (p->want_sha256) {
        uint8_t d[32];
        char hx[65];
        s3_ck_final(&p->sha256, d);
        s3_hex(d, 32, hx);
        if (strcmp(hx, r->sv.payload_hash) != 0)
            return S3E_XAmzContentSHA256Mismatch;
    }
    if (p->ck_alg != S3_CK_NONE) {
        s3_ck_final_b64(&p->ck, ck_b64);
        if (p->ck_expect[0] && strcmp(ck_b64, p->ck_expect) != 0)
            return S3E_BadDigest;
    }
    return S3E_OK;
}

void s3_put_commit(struct s3_req *r)
{
    struct s3_server *s = r->srv;
    struct s3_put *p = r->put;
    uint8_t md5[16];
    char etag[40], ck_b64[S3_CK_B64_MAX] = "";
    enum s3_err e;
    int rc;
    s3_ck_final(&p->md5, md5);
    s3_hex(md5, 16, etag);
    if (p->werr) {
        s3_req_error(r, s3_err_from_errno(p->werr, false), "write to the staging file failed");
        goto fail;
    }
    if ((e = verify_upload(r, md5, ck_b64)) != S3E_OK) {
        s3_req_error(r, e, NULL);
        goto fail;
    }
    if (close(p->fd) < 0) {
        p->fd = -1;
        s3_req_error(r, S3E_InternalError, "close of the staging file failed");
        goto fail;
    }
    p->fd = -1;
    if (r->op == S3OP_UploadPart) {
        struct cfs_fh up;
        char pn[16];
        if (s3_mpu_part_target(r, &up) < 0)
            goto fail;
        s3_store_etag(s, &p->tmpfh, etag);
        if (p->ck_alg != S3_CK_NONE) {
            char n[64];
            cfs_meta_name(n, sizeof(n), CFS_META_CHECKSUM, s3_ck_name(p->ck_alg));
            s3_meta_set_str(s, &p->tmpfh, n, ck_b64);
        }
        snprintf(pn, sizeof(pn), "%05u", p->part_number);
        if ((rc = s3_rename(s, s3_tmp_dir(s, p->tmpname), p->tmpname, &up, pn)) < 0) {
            s3_req_error(r, rc == -ENOENT ? S3E_NoSuchUpload : s3_err_from_errno(rc, false), NULL);
            goto fail;
        }
        p->tmpname[0] = '\0';
        s3_add_hdr(r, "ETag", "\"%s\"", etag);
        if (p->ck_alg != S3_CK_NONE)
            s3_add_hdr(r, s3_ck_header(p->ck_alg), "%s", ck_b64);
        r->status = 200;
        return;
    }
    struct cfs_fh b, dir;
    if (p->has_bfh)
        b = p->bfh;
    else if (s3_bucket_fh(r, &b) < 0)
        goto fail;
    size_t kl = strlen(r->key);
    if (r->key[kl - 1] == '/') {
        /* "folder/" objects are directories */
        if (p->written != 0) {
            s3_req_error(r, S3E_InvalidObjectName, "a key ending in '/' names a directory: it cannot hold data");
            goto fail;
        }
        char k2[S3_MAX_KEY + 1];
        snprintf(k2, sizeof(k2), "%.*s", (int)(kl - 1), r->key);
        if ((rc = s3_mkdir_p(s, &b, k2, &dir)) < 0) {
            s3_req_error(r, rc == -ENOTDIR ? S3E_InvalidObjectName : s3_err_from_errno(rc, false),
                         "a parent of the key is an object");
            goto fail;
        }
        s3_put_abort(s, p);
        s3_add_hdr(r, "ETag", "\"%s\"", EMPTY_MD5);
        r->status = 200;
        return;
    }
    /* conditional PUT */
    const char *inm = s3_req_header(r, "if-none-match");
    const char *im = s3_req_header(r, "if-match");
    if (im) {
        struct cfs_fh ofh;
        struct cfs_attr oa;
        char oet[80];
        rc = object_lookup(r, &b, &ofh, &oa);
        if (rc < 0) {
            s3_req_error(r, S3E_NoSuchKey, NULL);
            goto fail;
        }
        if (s3_object_etag(s, &ofh, &oa, true, oet) < 0 || !etag_list_match(im, oet)) {
            s3_req_error(r, S3E_PreconditionFailed, "If-Match");
            goto fail;
        }
    }
    char parent[S3_MAX_KEY + 1];
    const char *base;
    s3_split_key(r->key, parent, sizeof(parent), &base);
    dir = b;
    if (parent[0] && (rc = s3_mkdir_p(s, &b, parent, &dir)) < 0) {
        s3_req_error(r, rc == -ENOTDIR ? S3E_InvalidObjectName : s3_err_from_errno(rc, false),
                     "a parent of the key is an object, not a prefix");
        goto fail;
    }
    if ((e = s3_meta_from_request(r, &p->tmpfh)) != S3E_OK) {
        s3_req_error(r, e, NULL);
        goto fail;
    }
    if (p->ck_alg != S3_CK_NONE) {
        char n[64];
        cfs_meta_name(n, sizeof(n), CFS_META_CHECKSUM, s3_ck_name(p->ck_alg));
        s3_meta_set_str(s, &p->tmpfh, n, ck_b64);
    }
    s3_store_etag(s, &p->tmpfh, etag);
    char vid[S3_VID_MAX] = "";
    if (inm && strcmp(inm, "*") == 0) {
        s3_ver_stamp(r, &b, &p->tmpfh, vid);
        /* create-if-absent, atomically: link fails when the name exists */
        struct cfs_vfs_op op;
        cfs_vfs_op_init(&op, CFS_VOP_LINK, s3_cred(s), s->exp);
        op.fh = p->tmpfh;
        op.fh2 = dir;
        op.name2 = base;
        rc = s3_vcall(s, &op);
        if (rc == -EEXIST) {
            s3_req_error(r, S3E_PreconditionFailed, "If-None-Match: * and the key exists");
            goto fail;
        }
        if (rc < 0) {
            s3_req_error(r, s3_err_from_errno(rc, false), NULL);
            goto fail;
        }
        s3_put_abort(s, p);
    } else {
        rc = s3_ver_install(r, &b, &p->tmpfh, p->tmpname, &dir, base, vid);
        if (rc < 0) {
            s3_req_error(r, rc == -EISDIR || rc == -ENOTEMPTY || rc == -EEXIST
                                ? S3E_InvalidObjectName
                                : s3_err_from_errno(rc, false),
                         rc == -EISDIR || rc == -ENOTEMPTY || rc == -EEXIST
                             ? "the key names an existing directory (a prefix with objects)"
                             : NULL);
            goto fail;
        }
        p->tmpname[0] = '\0';
    }
    if (vid[0])
        s3_add_hdr(r, "x-amz-version-id", "%s", vid);
    s3_add_hdr(r, "ETag", "\"%s\"", etag);
    if (p->ck_alg != S3_CK_NONE)
        s3_add_hdr(r, s3_ck_header(p->ck_alg), "%s", ck_b64);
    r->status = 200;
    return;
fail:
    s3_put_abort(s, p);
}

int s3_rm_tree(struct s3_server *s, const struct cfs_fh *parent, const char *name)
{
    struct cfs_fh d;
    struct cfs_attr a;
    int r = s3_lookup(s, parent, name, &d, &a);
    if (r < 0)
        return r;
    if (a.type != CFS_FT_DIR)
        return s3_remove(s, parent, name, false);
    uint64_t cookie = 0;
    uint8_t verf[CFS_VERF_SIZE] = {0};
    for (int guard = 0; guard < 100000; guard++) {
        struct cfs_vfs_op op;
        cfs_vfs_op_init(&op, CFS_VOP_READDIR, s3_cred(s), s->exp);
        op.fh = d;
        op.cookie = cookie;
        memcpy(op.cookieverf, verf, sizeof(verf));
        op.length = 256;
        if ((r = s3_vcall(s, &op)) < 0)
            return r;
        for (size_t i = 0; i < op.nentries; i++) {
            const char *n = op.entries[i].name;
            if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
                continue;
            s3_rm_tree(s, &d, n);
        }
        bool eof = op.eof || op.nentries == 0;
        if (op.nentries)
            cookie = op.entries[op.nentries - 1].cookie;
        memcpy(verf, op.verf, sizeof(verf));
        s->api->vfs->op_release(&op);
        if (eof)
            break;
    }
    return s3_remove(s, parent, name, true);
}

/* ---- dispatch ---- */

void s3_run_op(struct s3_req *r)
{
    struct s3_server *s = r->srv;
    int se = s3_stage_init(s);
    if (se < 0) {
        s3_req_error(r, se == -EACCES || se == -EPERM || se == -EROFS ? S3E_AccessDenied
                                                                      : S3E_ServiceUnavailable,
                     "the S3 staging area cannot be created at the export root (see the log)");
        return;
    }
    if (r->key) {
        enum s3_err ke = s3_key_check(r->key);
        if (ke) {
            s3_req_error(r, ke, "object keys must not contain empty, '.' or '..' segments");
            return;
        }
    }
    if (r->anon) {
        enum s3_err ae = s3_anon_allowed(r);
        if (ae) {
            s3_req_error(r, ae, "anonymous access is allowed only where a bucket policy or ACL makes it public");
            return;
        }
    }
    switch (r->op) {
    case S3OP_ListBuckets: s3_op_list_buckets(r); break;
    case S3OP_CreateBucket: op_create_bucket(r); break;
    case S3OP_DeleteBucket: op_delete_bucket(r); break;
    case S3OP_HeadBucket: op_head_bucket(r); break;
    case S3OP_GetBucketLocation: op_get_location(r); break;
    case S3OP_GetBucketVersioning: op_get_versioning(r); break;
    case S3OP_PutBucketVersioning: op_put_versioning(r); break;
    case S3OP_ListObjects: s3_op_list_objects(r, 1); break;
    case S3OP_ListObjectsV2: s3_op_list_objects(r, 2); break;
    case S3OP_ListObjectVersions: s3_op_list_versions(r); break;
    case S3OP_DeleteObjects: op_delete_objects(r); break;
    case S3OP_CopyObject: s3_op_copy_object(r); break;
    case S3OP_GetObject: op_get_head(r, false); break;
    case S3OP_HeadObject: op_get_head(r, true); break;
    case S3OP_DeleteObject: op_delete_object(r); break;
    case S3OP_CreateMultipartUpload: s3_op_mpu_create(r); break;
    case S3OP_UploadPartCopy: s3_op_upload_part_copy(r); break;
    case S3OP_CompleteMultipartUpload: s3_op_mpu_complete(r); break;
    case S3OP_AbortMultipartUpload: s3_op_mpu_abort(r); break;
    case S3OP_ListParts: s3_op_mpu_list_parts(r); break;
    case S3OP_ListMultipartUploads: s3_op_mpu_list_uploads(r); break;
    case S3OP_GetBucketAcl: op_acl(r, false); break;
    case S3OP_GetObjectAcl: op_acl(r, true); break;
    case S3OP_PutBucketAcl: s3_op_put_bucket_acl(r); break;
    case S3OP_GetBucketPolicy: s3_op_get_policy(r); break;
    case S3OP_PutBucketPolicy: s3_op_put_policy(r); break;
    case S3OP_DeleteBucketPolicy: s3_op_delete_policy(r); break;
    default: s3_req_error(r, S3E_NotImplemented, NULL); break;
    }
    if (r->anon && (r->err == S3E_NoSuchKey || r->err == S3E_NoSuchVersion ||
                    r->err == S3E_MethodNotAllowed) && !s3_anon_can_list(r)) {
        /* without s3:ListBucket, whether a key exists is not told */
        r->rhdr.len = 0;
        s3_req_error(r, S3E_AccessDenied, NULL);
    }
}

/* ---- garbage collection of abandoned uploads and staging files ---- */

static void gc_dir(struct s3_server *s, const struct cfs_fh *dir, int64_t max_age, bool trees)
{
    uint64_t cookie = 0;
    uint8_t verf[CFS_VERF_SIZE] = {0};
    int64_t now = (int64_t)time(NULL);
    for (int guard = 0; guard < 100000; guard++) {
        struct cfs_vfs_op op;
        cfs_vfs_op_init(&op, CFS_VOP_READDIR, s3_cred(s), s->exp);
        op.fh = *dir;
        op.cookie = cookie;
        memcpy(op.cookieverf, verf, sizeof(verf));
        op.length = 256;
        op.plus = true;
        if (s3_vcall(s, &op) < 0)
            return;
        for (size_t i = 0; i < op.nentries; i++) {
            const struct cfs_dirent *de = &op.entries[i];
            if (strcmp(de->name, ".") == 0 || strcmp(de->name, "..") == 0 || !de->has_attr)
                continue;
            if (now - (int64_t)de->attr.mtime.tv_sec < max_age)
                continue;
            if (trees)
                s3_rm_tree(s, dir, de->name);
            else
                s3_remove(s, dir, de->name, false);
        }
        bool eof = op.eof || op.nentries == 0;
        if (op.nentries)
            cookie = op.entries[op.nentries - 1].cookie;
        memcpy(verf, op.verf, sizeof(verf));
        s->api->vfs->op_release(&op);
        if (eof)
            break;
    }
}

void s3_gc(struct s3_server *s, int64_t max_age)
{
    if (s3_stage_init(s) < 0)
        return;
    gc_dir(s, &s->uploads, max_age, true);
    /* a temp file older than a day belongs to no live PUT */
    gc_dir(s, &s->tmp, max_age > 86400 ? max_age : 86400, false);
    for (int i = 0; i < S3_TMP_SHARDS; i++)
        gc_dir(s, &s->tmpsh[i], max_age > 86400 ? max_age : 86400, false);
}
