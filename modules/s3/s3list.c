/*
 * modules/s3/s3list.c - ListBuckets and ListObjects (v1, v2) over a directory
 * tree. Keys come out in S3's byte order by walking each directory sorted on
 * "name" for files and "name/" for directories, so a depth-first walk yields keys in
 * order; prefix, marker and delimiter prune whole subtrees, and a directory that rolls
 * up into a CommonPrefix is never descended into.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3.h"
#include "xml.h"

#define LIST_MAX_DEPTH 128

struct lister {
    struct s3_req *r;
    const char *prefix;
    size_t plen;
    const char *delim;
    size_t dlen;
    const char *marker;  /* start after this key (marker, start-after or token) */
    uint64_t max;
    uint64_t count, nkeys;
    bool truncated, stop, url;
    char last[S3_MAX_KEY + 2];
    char last_cp[S3_MAX_KEY + 2];
    struct s3_buf out;    /* Contents / CommonPrefixes elements */
    int err;
};

static int lent_cmp(const void *a, const void *b)
{
    const struct s3_lent *x = a, *y = b;
    return strcmp(x->sname, y->sname);
}

static bool starts_with(const char *s, const char *p, size_t pl)
{
    return strncmp(s, p, pl) == 0;
}

static void put_text(struct lister *L, const char *tag, const char *s)
{
    if (!L->url) {
        s3_xml_elem(&L->out, tag, s);
        return;
    }
    struct s3_buf e;
    s3_buf_init(&e, 0);
    s3_uri_encode(&e, s, strlen(s), true);
    s3_xml_elem(&L->out, tag, s3_buf_cstr(&e));
    s3_buf_free(&e);
}

static bool take_slot(struct lister *L)
{
    if (L->count >= L->max) {
        L->truncated = true;
        L->stop = true;
        return false;
    }
    L->count++;
    return true;
}

static void emit_cp(struct lister *L, const char *cp, size_t n)
{
    char tmp[S3_MAX_KEY + 2];
    if (n >= sizeof(tmp))
        return;
    memcpy(tmp, cp, n);
    tmp[n] = '\0';
    if (strcmp(tmp, L->last_cp) == 0)
        return;
    if (L->marker && strcmp(tmp, L->marker) <= 0)
        return;
    if (!take_slot(L))
        return;
    memcpy(L->last_cp, tmp, n + 1);
    memcpy(L->last, tmp, n + 1);
    s3_xml_open(&L->out, "CommonPrefixes");
    put_text(L, "Prefix", tmp);
    s3_xml_close(&L->out, "CommonPrefixes");
}

static void emit_key(struct lister *L, const char *key, const struct s3_lent *e)
{
    if (!take_slot(L))
        return;
    struct s3_server *s = L->r->srv;
    char etag[80], lm[64];
    snprintf(L->last, sizeof(L->last), "%s", key);
    L->nkeys++;
    if (s3_object_etag(s, &e->fh, &e->attr, false, etag) < 0)
        snprintf(etag, sizeof(etag), "%s", "00000000000000000000000000000000");
    s3_fmt_iso8601((int64_t)e->attr.mtime.tv_sec, e->attr.mtime.tv_nsec, lm);
    s3_xml_open(&L->out, "Contents");
    put_text(L, "Key", key);
    s3_xml_elem(&L->out, "LastModified", lm);
    s3_buf_addf(&L->out, "<ETag>&quot;%s&quot;</ETag>", etag);
    s3_xml_elem_u64(&L->out, "Size", e->dir ? 0 : e->attr.size);
    s3_xml_elem(&L->out, "StorageClass", "STANDARD");
    s3_buf_addf(&L->out, "<Owner><ID>%s</ID><DisplayName>%s</DisplayName></Owner>",
                s->access_key, s->access_key);
    s3_xml_close(&L->out, "Contents");
}

void s3_lent_free(struct s3_lent *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].sname);
    free(v);
}

int s3_read_dir_sorted(struct s3_server *s, const struct cfs_fh *dir, struct s3_lent **out,
                       size_t *n)
{
    size_t cap = 0, cnt = 0;
    struct s3_lent *v = NULL;
    uint64_t cookie = 0;
    uint8_t verf[CFS_VERF_SIZE] = {0};
    int r = 0;
    for (;;) {
        struct cfs_vfs_op op;
        cfs_vfs_op_init(&op, CFS_VOP_READDIR, s3_cred(s), s->exp);
        op.fh = *dir;
        op.cookie = cookie;
        memcpy(op.cookieverf, verf, sizeof(verf));
        op.length = 1024;
        op.plus = true;
        if ((r = s->api->vfs->call(&op)) < 0)
            break;
        for (size_t i = 0; i < op.nentries; i++) {
            const struct cfs_dirent *de = &op.entries[i];
            if (strcmp(de->name, ".") == 0 || strcmp(de->name, "..") == 0 || !de->has_attr)
                continue;
            if (de->attr.type != CFS_FT_REG && de->attr.type != CFS_FT_DIR)
                continue;
            if (cnt == cap) {
                size_t nc = cap ? cap * 2 : 64;
                struct s3_lent *nv = realloc(v, nc * sizeof(*v));
                if (!nv) {
                    r = -ENOMEM;
                    break;
                }
                v = nv;
                cap = nc;
            }
            bool d = de->attr.type == CFS_FT_DIR;
            size_t nl = strlen(de->name);
            char *sn = malloc(nl + 2);
            if (!sn) {
                r = -ENOMEM;
                break;
            }
            memcpy(sn, de->name, nl);
            sn[nl] = d ? '/' : '\0';
            sn[nl + 1] = '\0';
            v[cnt].sname = sn;
            v[cnt].dir = d;
            v[cnt].fh = de->fh;
            v[cnt].attr = de->attr;
            cnt++;
        }
        bool eof = op.eof || op.nentries == 0;
        if (op.nentries)
            cookie = op.entries[op.nentries - 1].cookie;
        memcpy(verf, op.verf, sizeof(verf));
        s->api->vfs->op_release(&op);
        if (r < 0 || eof)
            break;
    }
    if (r < 0) {
        for (size_t i = 0; i < cnt; i++)
            free(v[i].sname);
        free(v);
        return r;
    }
    if (cnt > 1)
        qsort(v, cnt, sizeof(*v), lent_cmp);
    *out = v;
    *n = cnt;
    return 0;
}

static void walk(struct lister *L, const struct cfs_fh *dir, const char *path, int depth)
{
    struct s3_lent *v = NULL;
    size_t n = 0;
    if (depth > LIST_MAX_DEPTH)
        return;
    int r = s3_read_dir_sorted(L->r->srv, dir, &v, &n);
    if (r < 0) {
        if (depth == 0)
            L->err = r;
        return;
    }
    size_t pl = strlen(path);
    char full[S3_MAX_KEY + 2];
    for (size_t i = 0; i < n && !L->stop; i++) {
        size_t sl = strlen(v[i].sname);
        if (pl + sl >= sizeof(full) || pl + sl > S3_MAX_KEY)
            continue;
        memcpy(full, path, pl);
        memcpy(full + pl, v[i].sname, sl + 1);
        size_t fl = pl + sl;
        bool under = fl >= L->plen && starts_with(full, L->prefix, L->plen);
        if (v[i].dir) {
            if (!under && !(L->plen > fl && starts_with(L->prefix, full, fl)))
                continue;
            /* every key below starts with full: skip if all are <= marker */
            if (L->marker && !starts_with(L->marker, full, fl) && strcmp(full, L->marker) < 0)
                continue;
            if (under && L->dlen) {
                const char *d = strstr(full + L->plen, L->delim);
                if (d) {
                    size_t cpl = (size_t)(d - full) + L->dlen;
                    if (cpl <= fl) {
                        emit_cp(L, full, cpl);
                        continue;
                    }
                }
            }
            walk(L, &v[i].fh, full, depth + 1);
        } else {
            if (!under)
                continue;
            if (L->marker && strcmp(full, L->marker) <= 0)
                continue;
            if (L->dlen) {
                const char *d = strstr(full + L->plen, L->delim);
                if (d) {
                    emit_cp(L, full, (size_t)(d - full) + L->dlen);
                    continue;
                }
            }
            emit_key(L, full, &v[i]);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(v[i].sname);
    free(v);
}

static void hdr_text(struct s3_buf *b, const char *tag, const char *v, bool url)
{
    if (!url) {
        s3_xml_elem(b, tag, v);
        return;
    }
    struct s3_buf e;
    s3_buf_init(&e, 0);
    s3_uri_encode(&e, v, strlen(v), true);
    s3_xml_elem(b, tag, s3_buf_cstr(&e));
    s3_buf_free(&e);
}

void s3_op_list_objects(struct s3_req *r, int version)
{
    struct cfs_fh b;
    if (s3_bucket_fh(r, &b) < 0)
        return;
    char prefix[S3_MAX_KEY + 1] = "", delim[64] = "", marker[S3_MAX_KEY + 2] = "",
         token[2 * S3_MAX_KEY] = "", start_after[S3_MAX_KEY + 1] = "", mk[32] = "",
         enc[16] = "";
    s3_query_get(r, "prefix", prefix, sizeof(prefix));
    s3_query_get(r, "delimiter", delim, sizeof(delim));
    bool has_mk = s3_query_get(r, "max-keys", mk, sizeof(mk));
    s3_query_get(r, "encoding-type", enc, sizeof(enc));
    bool url = strcmp(enc, "url") == 0;
    if (enc[0] && !url) {
        s3_req_error(r, S3E_InvalidArgument, "encoding-type must be url");
        return;
    }
    uint64_t max = 1000;
    if (has_mk && (s3_parse_u64(mk, strlen(mk), &max) < 0)) {
        s3_req_error(r, S3E_InvalidArgument, "max-keys must be a non-negative integer");
        return;
    }
    if (max > 1000)
        max = 1000;
    const char *from = NULL;
    bool has_token = false;
    if (version == 2) {
        has_token = s3_query_get(r, "continuation-token", token, sizeof(token));
        s3_query_get(r, "start-after", start_after, sizeof(start_after));
        if (has_token) {
            uint8_t dec[S3_MAX_KEY + 2];
            ssize_t n = s3_b64_dec(token, strlen(token), dec, sizeof(dec) - 1);
            if (n < 0) {
                s3_req_error(r, S3E_InvalidArgument, "The continuation token provided is incorrect");
                return;
            }
            memcpy(marker, dec, (size_t)n);
            marker[n] = '\0';
            from = marker;
        } else if (start_after[0]) {
            from = start_after;
        }
    } else {
        s3_query_get(r, "marker", marker, sizeof(marker));
        if (marker[0])
            from = marker;
    }
    struct lister L = {
        .r = r, .prefix = prefix, .plen = strlen(prefix), .delim = delim,
        .dlen = strlen(delim), .marker = from, .max = max, .url = url,
    };
    s3_buf_init(&L.out, 0);
    if (max > 0)
        walk(&L, &b, "", 0);
    else
        L.truncated = false;
    if (L.err < 0) {
        s3_req_error(r, s3_err_from_errno(L.err, true), NULL);
        s3_buf_free(&L.out);
        return;
    }
    struct s3_buf *o = &r->rbody;
    const char *root = "ListBucketResult";
    s3_xml_decl(o);
    s3_xml_open_ns(o, root);
    s3_xml_elem(o, "Name", r->bucket);
    hdr_text(o, "Prefix", prefix, url);
    if (version == 1)
        hdr_text(o, "Marker", marker, url);
    if (version == 2) {
        if (has_token)
            s3_xml_elem(o, "ContinuationToken", token);
        if (start_after[0])
            hdr_text(o, "StartAfter", start_after, url);
        s3_xml_elem_u64(o, "KeyCount", L.count);
    }
    s3_xml_elem_u64(o, "MaxKeys", max);
    if (delim[0])
        hdr_text(o, "Delimiter", delim, url);
    if (url)
        s3_xml_elem(o, "EncodingType", "url");
    s3_xml_elem_bool(o, "IsTruncated", L.truncated);
    if (L.truncated) {
        if (version == 2) {
            char t[2 * S3_MAX_KEY];
            s3_b64_enc((const uint8_t *)L.last, strlen(L.last), t);
            s3_xml_elem(o, "NextContinuationToken", t);
        } else {
            hdr_text(o, "NextMarker", L.last, url);
        }
    }
    s3_buf_add(o, L.out.p ? L.out.p : "", L.out.len);
    s3_xml_close(o, root);
    s3_buf_free(&L.out);
    r->status = 200;
}

void s3_op_list_buckets(struct s3_req *r)
{
    struct s3_server *s = r->srv;
    struct s3_buf *o = &r->rbody;
    struct s3_lent *v = NULL;
    size_t n = 0;
    int e = s3_read_dir_sorted(s, &s->root, &v, &n);
    if (e < 0) {
        s3_req_error(r, s3_err_from_errno(e, true), NULL);
        return;
    }
    s3_xml_decl(o);
    s3_xml_open_ns(o, "ListAllMyBucketsResult");
    s3_buf_addf(o, "<Owner><ID>%s</ID><DisplayName>%s</DisplayName></Owner><Buckets>",
                s->access_key, s->access_key);
    for (size_t i = 0; i < n; i++) {
        if (v[i].dir && v[i].sname[0] != '.') {
            char lm[64];
            v[i].sname[strlen(v[i].sname) - 1] = '\0';
            const struct timespec *t = v[i].attr.btime.tv_sec ? &v[i].attr.btime : &v[i].attr.mtime;
            s3_fmt_iso8601((int64_t)t->tv_sec, t->tv_nsec, lm);
            s3_xml_open(o, "Bucket");
            s3_xml_elem(o, "Name", v[i].sname);
            s3_xml_elem(o, "CreationDate", lm);
            s3_xml_close(o, "Bucket");
        }
        free(v[i].sname);
    }
    free(v);
    s3_buf_adds(o, "</Buckets>");
    s3_xml_close(o, "ListAllMyBucketsResult");
    r->status = 200;
}
