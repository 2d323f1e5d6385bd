/*
 * modules/s3/s3ver.c - S3 versioning on the namespace (pool side).
 *
 * The current version of a key is the visible file at <bucket>/<key>, so NFS and SMB see
 * exactly what a plain GET returns; its version id is the user.cfs.version xattr ("null"
 * when absent). Every other version lives outside the visible tree, under
 * <root>/.cfs-s3/versions/<bucket>/<key>/<version-id>, with its metadata xattrs and an
 * order stamp (user.cfs.vseq); a delete marker is an empty file there carrying
 * user.cfs.dmarker. Replacing the current object hard-links it into the versions tree
 * and then renames the new one over it, so the visible name never disappears.
 * Deleting the current version promotes the newest remaining one back into the visible
 * tree. Changes to one key are serialised by a striped lock (one gateway process).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include <cfs/meta.h>

#include "s3.h"
#include "xml.h"

#define VER_LOCKS 64
#define VPATH_MAX (S3_MAX_KEY + 80)

static pthread_mutex_t ver_locks[VER_LOCKS] = {[0 ... VER_LOCKS - 1] = PTHREAD_MUTEX_INITIALIZER};

static pthread_mutex_t *key_mutex(const char *bucket, const char *key)
{
    uint32_t h = 2166136261u;
    for (const char *p = bucket; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    h = (h ^ '/') * 16777619u;
    for (const char *p = key; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return &ver_locks[h % VER_LOCKS];
}

/* ---- ids, stamps, state ---- */

enum s3_vstate s3_ver_state(struct s3_server *s, const struct cfs_fh *bucket)
{
    char v[32];
    if (s3_meta_get_str(s, bucket, S3_XATTR_VERSIONING, v, sizeof(v)) <= 0)
        return S3V_OFF;
    if (strcmp(v, "Enabled") == 0)
        return S3V_ENABLED;
    if (strcmp(v, "Suspended") == 0)
        return S3V_SUSPENDED;
    return S3V_OFF;
}

bool s3_ver_id_ok(const char *vid)
{
    size_t n = strlen(vid);
    if (strcmp(vid, "null") == 0)
        return true;
    if (n == 0 || n >= S3_VID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = vid[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

/* 32 URL-safe characters (base64url of 24 random bytes, no padding).  The
 * first is always alphanumeric: an id starting with '-' is taken for an
 * option by command-line tools (`aws s3api ... --version-id -K...` fails). */
static int new_vid(char out[S3_VID_MAX])
{
    uint8_t rnd[24];
    char b[40];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        return -EIO;
    size_t n = s3_b64_enc(rnd, sizeof(rnd), b);
    for (size_t i = 0; i < n; i++)
        b[i] = b[i] == '+' ? '-' : b[i] == '/' ? '_' : b[i];
    if (b[0] == '-' || b[0] == '_')
        b[0] = (char)('a' + rnd[23] % 26);
    memcpy(out, b, 32);
    out[32] = '\0';
    return 0;
}

/* Strictly increasing wall-clock nanoseconds: the order of versions made here. */
static uint64_t next_seq(void)
{
    static _Atomic uint64_t last;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    uint64_t prev = atomic_load(&last), want;
    do {
        want = now > prev ? now : prev + 1;
    } while (!atomic_compare_exchange_weak(&last, &prev, want));
    return want;
}

static int set_seq(struct s3_server *s, const struct cfs_fh *fh, uint64_t seq)
{
    char v[24];
    snprintf(v, sizeof(v), "%020" PRIu64, seq);
    return s3_meta_set_str(s, fh, S3_XATTR_VSEQ, v);
}

/* The stored stamp, else the modification time (objects from before versioning). */
static uint64_t get_seq(struct s3_server *s, const struct cfs_fh *fh, const struct cfs_attr *a)
{
    char v[32];
    uint64_t q;
    if (s3_meta_get_str(s, fh, S3_XATTR_VSEQ, v, sizeof(v)) > 0 &&
        s3_parse_u64(v, strlen(v), &q) == 0)
        return q;
    return (uint64_t)a->mtime.tv_sec * 1000000000u + (uint64_t)a->mtime.tv_nsec;
}

void s3_ver_of(struct s3_server *s, const struct cfs_fh *fh, char vid[S3_VID_MAX])
{
    if (s3_meta_get_str(s, fh, CFS_META_VERSION, vid, S3_VID_MAX) <= 0 || !s3_ver_id_ok(vid))
        snprintf(vid, S3_VID_MAX, "%s", "null");
}

static bool is_dmarker(struct s3_server *s, const struct cfs_fh *fh)
{
    char v[8];
    return s3_meta_get_str(s, fh, S3_XATTR_DMARKER, v, sizeof(v)) > 0 && v[0] == '1';
}

/* ---- paths ---- */

static int vpath(char *out, size_t cap, const char *bucket, const char *key)
{
    int n = snprintf(out, cap, "%s/%s", bucket, key);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* The key's directory in the versions tree. */
static int vdir_get(struct s3_server *s, const char *bucket, const char *key, bool create,
                    struct cfs_fh *out)
{
    char p[VPATH_MAX];
    int r = vpath(p, sizeof(p), bucket, key);
    if (r < 0)
        return r;
    if (create)
        return s3_mkdir_p(s, &s->versions, p, out);
    struct cfs_attr a;
    r = s3_lookup_path(s, &s->versions, p, out, &a);
    if (r == 0 && a.type != CFS_FT_DIR)
        r = -ENOENT;
    if (r == -ENOTDIR)
        r = -ENOENT;
    return r;
}

void s3_remove_empty_parents(struct s3_server *s, const struct cfs_fh *base, char *parent)
{
    while (parent[0]) {
        char pp[VPATH_MAX];
        const char *pb;
        s3_split_key(parent, pp, sizeof(pp), &pb);
        struct cfs_fh pd = *base;
        if (pp[0] && s3_lookup_path(s, base, pp, &pd, NULL) < 0)
            break;
        if (s3_remove(s, &pd, pb, true) < 0)
            break;
        memmove(parent, pp, strlen(pp) + 1);
    }
}

/* Drop the key's version directory and its parents once they are empty. */
static void vdir_prune(struct s3_server *s, const char *bucket, const char *key)
{
    struct cfs_fh vb;
    char k[VPATH_MAX];
    if (s3_lookup(s, &s->versions, bucket, &vb, NULL) < 0)
        return;
    snprintf(k, sizeof(k), "%s", key);
    s3_remove_empty_parents(s, &vb, k);
}

/* ---- the versions of one key ---- */

struct vent {
    char name[S3_VID_MAX];
    bool dm;
    uint64_t seq;
    struct cfs_fh fh;
    struct cfs_attr attr;
};

static int vent_cmp(const void *a, const void *b)
{
    const struct vent *x = a, *y = b;
    if (x->seq != y->seq)
        return x->seq > y->seq ? -1 : 1;
    return strcmp(y->name, x->name);
}

/* Non-current versions and delete markers in vdir, newest first. */
static int key_versions(struct s3_server *s, const struct cfs_fh *vdir, struct vent **out,
                        size_t *n)
{
    struct s3_lent *v = NULL;
    size_t cnt = 0, k = 0;
    *out = NULL;
    *n = 0;
    int r = s3_read_dir_sorted(s, vdir, &v, &cnt);
    if (r < 0)
        return r;
    struct vent *e = calloc(cnt ? cnt : 1, sizeof(*e));
    if (!e) {
        s3_lent_free(v, cnt);
        return -ENOMEM;
    }
    for (size_t i = 0; i < cnt; i++) {
        if (v[i].dir || !s3_ver_id_ok(v[i].sname))
            continue;
        snprintf(e[k].name, sizeof(e[k].name), "%s", v[i].sname);
        e[k].fh = v[i].fh;
        e[k].attr = v[i].attr;
        e[k].dm = is_dmarker(s, &v[i].fh);
        e[k].seq = get_seq(s, &v[i].fh, &v[i].attr);
        k++;
    }
    s3_lent_free(v, cnt);
    if (k > 1)
        qsort(e, k, sizeof(*e), vent_cmp);
    *out = e;
    *n = k;
    return 0;
}

/* The visible object of key (a regular file), with its version id. */
static int visible(struct s3_server *s, const struct cfs_fh *bfh, const char *key,
                   struct cfs_fh *fh, struct cfs_attr *a, char vid[S3_VID_MAX])
{
    int r = s3_lookup_path(s, bfh, key, fh, a);
    if (r == -ENOTDIR)
        r = -ENOENT;
    if (r == 0 && a->type != CFS_FT_REG)
        r = -ENOENT;
    if (r == 0)
        s3_ver_of(s, fh, vid);
    return r;
}

/*
 * Keep the current object dir/base as a non-current version named cvid. keep_visible:
 * hard-link it (the caller renames the new object over it next), else move it.
 */
static int archive(struct s3_server *s, const char *bucket, const char *key,
                   const struct cfs_fh *dir, const char *base, const struct cfs_fh *cur,
                   const struct cfs_attr *ca, const char *cvid, bool keep_visible,
                   bool *linked)
{
    struct cfs_fh vd;
    char v[32];
    int r;
    *linked = false;
    if (s3_meta_get_str(s, cur, S3_XATTR_VSEQ, v, sizeof(v)) <= 0)
        set_seq(s, cur, get_seq(s, cur, ca));
    if ((r = vdir_get(s, bucket, key, true, &vd)) < 0)
        return r;
    if (keep_visible) {
        for (int attempt = 0; attempt < 2; attempt++) {
            struct cfs_vfs_op op;
            cfs_vfs_op_init(&op, CFS_VOP_LINK, s3_cred(s), s->exp);
            op.fh = *cur;
            op.fh2 = vd;
            op.name2 = cvid;
            r = s3_vcall(s, &op);
            if (r == -EEXIST && attempt == 0) {
                s3_remove(s, &vd, cvid, false); /* a stale copy of the same version */
                continue;
            }
            break;
        }
        if (r == 0) {
            *linked = true;
            return 0;
        }
        if (r != -ENOTSUP && r != -EPERM && r != -EXDEV && r != -EMLINK && r != CFS_ENOTSUP)
            return r;
        /* no hard links on this backend: move it (the name is briefly absent) */
    }
    return s3_rename(s, dir, base, &vd, cvid);
}

static int make_dmarker(struct s3_server *s, const char *bucket, const char *key,
                        const char *vid)
{
    struct cfs_fh vd;
    int r = vdir_get(s, bucket, key, true, &vd);
    if (r < 0)
        return r;
    struct cfs_vfs_op op;
    for (int attempt = 0; attempt < 2; attempt++) {
        cfs_vfs_op_init(&op, CFS_VOP_CREATE, s3_cred(s), s->exp);
        op.fh = vd;
        op.name = vid;
        op.how = CFS_CREATE_GUARDED;
        op.sattr.mask = CFS_SET_MODE;
        op.sattr.mode = 0644;
        r = s3_vcall(s, &op);
        if (r == -EEXIST && attempt == 0) {
            s3_remove(s, &vd, vid, false);
            continue;
        }
        break;
    }
    if (r < 0)
        return r;
    s3_meta_set_str(s, &op.out_fh, S3_XATTR_DMARKER, "1");
    set_seq(s, &op.out_fh, next_seq());
    return 0;
}

/* Move the newest non-current version back to the visible name, unless it is a marker. */
static void promote(struct s3_server *s, const char *bucket, const struct cfs_fh *bfh,
                    const char *key)
{
    struct cfs_fh vd, dir;
    struct vent *e = NULL;
    size_t n = 0;
    if (vdir_get(s, bucket, key, false, &vd) < 0 || key_versions(s, &vd, &e, &n) < 0)
        return;
    if (n > 0 && !e[0].dm) {
        char parent[S3_MAX_KEY + 1];
        const char *base;
        s3_split_key(key, parent, sizeof(parent), &base);
        dir = *bfh;
        if (!parent[0] || s3_mkdir_p(s, bfh, parent, &dir) == 0) {
            int r = s3_rename(s, &vd, e[0].name, &dir, base);
            if (r < 0)
                s->api->log(CFS_LOG_WARN, S3_TAG, "cannot restore version %s of %s/%s: %s",
                            e[0].name, bucket, key, strerror(-r));
        }
    }
    free(e);
}

/* ---- install, resolve, delete ---- */

static enum s3_vstate stamp(struct s3_req *r, const struct cfs_fh *bfh,
                            const struct cfs_fh *tmpfh, char vid[S3_VID_MAX])
{
    struct s3_server *s = r->srv;
    vid[0] = '\0';
    enum s3_vstate st = s3_ver_state(s, bfh);
    if (st == S3V_OFF)
        return st;
    if (st == S3V_ENABLED && new_vid(vid) == 0) {
        s3_meta_set_str(s, tmpfh, CFS_META_VERSION, vid);
    } else {
        snprintf(vid, S3_VID_MAX, "%s", "null");
        cfs_meta_remove(s->api->vfs, s3_cred(s), s->exp, tmpfh, CFS_META_VERSION);
    }
    set_seq(s, tmpfh, next_seq());
    return st;
}

void s3_ver_stamp(struct s3_req *r, const struct cfs_fh *bfh, const struct cfs_fh *tmpfh,
                  char vid[S3_VID_MAX])
{
    stamp(r, bfh, tmpfh, vid);
}

int s3_ver_install(struct s3_req *r, const struct cfs_fh *bfh, const struct cfs_fh *tmpfh,
                   const char *tmpname, const struct cfs_fh *dir, const char *base,
                   char vid[S3_VID_MAX])
{
    struct s3_server *s = r->srv;
    struct cfs_fh cur, vd;
    struct cfs_attr ca;
    char cvid[S3_VID_MAX];
    int rc = 0;
    enum s3_vstate st = stamp(r, bfh, tmpfh, vid);
    if (st == S3V_OFF)
        return s3_rename(s, s3_tmp_dir(s, tmpname), tmpname, dir, base);
    pthread_mutex_t *mu = key_mutex(r->bucket, r->key);
    pthread_mutex_lock(mu);
    bool linked = false;
    int lr = s3_lookup(s, dir, base, &cur, &ca);
    if (lr == 0 && ca.type == CFS_FT_REG) {
        s3_ver_of(s, &cur, cvid);
        if (st == S3V_ENABLED || strcmp(cvid, "null") != 0) {
            if ((rc = archive(s, r->bucket, r->key, dir, base, &cur, &ca, cvid, true,
                              &linked)) < 0)
                goto out;
        }
    }
    if (st == S3V_SUSPENDED && vdir_get(s, r->bucket, r->key, false, &vd) == 0) {
        struct cfs_fh nf;
        struct cfs_attr na;
        if (s3_lookup(s, &vd, "null", &nf, &na) == 0 && na.type == CFS_FT_REG)
            s3_remove(s, &vd, "null", false);
    }
    rc = s3_rename(s, s3_tmp_dir(s, tmpname), tmpname, dir, base);
    if (rc < 0 && linked && vdir_get(s, r->bucket, r->key, false, &vd) == 0) {
        s3_remove(s, &vd, cvid, false); /* the current object stays as it was */
        vdir_prune(s, r->bucket, r->key);
    }
out:
    pthread_mutex_unlock(mu);
    return rc;
}

int s3_ver_resolve(struct s3_server *s, const char *bucket, const struct cfs_fh *bfh,
                   const char *key, const char *vid, struct s3_vref *out)
{
    struct cfs_fh vd;
    char cvid[S3_VID_MAX];
    memset(out, 0, sizeof(*out));
    int r = visible(s, bfh, key, &out->fh, &out->attr, cvid);
    if (r < 0 && r != -ENOENT)
        return r;
    if (r == 0 && (!vid || strcmp(vid, cvid) == 0)) {
        snprintf(out->vid, sizeof(out->vid), "%s", cvid);
        out->current = true;
        return 0;
    }
    if (vid && !s3_ver_id_ok(vid))
        return -ENOENT;
    if (vdir_get(s, bucket, key, false, &vd) < 0)
        return -ENOENT;
    if (vid) {
        r = s3_lookup(s, &vd, vid, &out->fh, &out->attr);
        if (r < 0 || out->attr.type != CFS_FT_REG)
            return -ENOENT;
        snprintf(out->vid, sizeof(out->vid), "%s", vid);
        out->dmarker = is_dmarker(s, &out->fh);
        return 0;
    }
    /* no visible object: the latest is a delete marker, or there is none */
    struct vent *e = NULL;
    size_t n = 0;
    if (key_versions(s, &vd, &e, &n) < 0)
        return -ENOENT;
    r = -ENOENT;
    if (n > 0 && e[0].dm) {
        out->fh = e[0].fh;
        out->attr = e[0].attr;
        snprintf(out->vid, sizeof(out->vid), "%s", e[0].name);
        out->dmarker = true;
        r = 0;
    }
    free(e);
    return r;
}

enum s3_err s3_ver_delete(struct s3_req *r, const struct cfs_fh *bfh, const char *key,
                          const char *vid, struct s3_vdel *out)
{
    struct s3_server *s = r->srv;
    struct cfs_fh cur, dir, vd;
    struct cfs_attr ca;
    char cvid[S3_VID_MAX], parent[S3_MAX_KEY + 1];
    const char *base;
    enum s3_err e = S3E_OK;
    int rc;
    memset(out, 0, sizeof(*out));
    if (vid && !s3_ver_id_ok(vid))
        return S3E_InvalidArgument;
    enum s3_vstate st = s3_ver_state(s, bfh);
    s3_split_key(key, parent, sizeof(parent), &base);
    pthread_mutex_t *mu = key_mutex(r->bucket, key);
    pthread_mutex_lock(mu);
    int vr = visible(s, bfh, key, &cur, &ca, cvid);
    dir = *bfh;
    if (vr == 0 && parent[0] && s3_lookup_path(s, bfh, parent, &dir, NULL) < 0)
        vr = -ENOENT;
    if (!vid) {
        bool linked;
        char mid[S3_VID_MAX];
        if (st == S3V_SUSPENDED)
            snprintf(mid, sizeof(mid), "%s", "null");
        else if (new_vid(mid) < 0) {
            e = S3E_InternalError;
            goto out;
        }
        if (vr == 0) {
            if (st == S3V_ENABLED || strcmp(cvid, "null") != 0)
                rc = archive(s, r->bucket, key, &dir, base, &cur, &ca, cvid, false, &linked);
            else
                rc = s3_remove(s, &dir, base, false);
            if (rc < 0) {
                e = s3_err_from_errno(rc, false);
                goto out;
            }
        }
        if ((rc = make_dmarker(s, r->bucket, key, mid)) < 0) {
            e = rc == -ENOTDIR ? S3E_InvalidObjectName : s3_err_from_errno(rc, false);
            goto out;
        }
        snprintf(out->vid, sizeof(out->vid), "%s", mid);
        out->dmarker = true;
        goto prune;
    }
    snprintf(out->vid, sizeof(out->vid), "%s", vid);
    if (vr == 0 && strcmp(cvid, vid) == 0) {
        if ((rc = s3_remove(s, &dir, base, false)) < 0 && rc != -ENOENT) {
            e = s3_err_from_errno(rc, false);
            goto out;
        }
        promote(s, r->bucket, bfh, key);
        goto prune;
    }
    if (vdir_get(s, r->bucket, key, false, &vd) < 0)
        goto out; /* no such version: nothing to do, as S3 answers */
    struct vent *ve = NULL;
    size_t n = 0;
    if (key_versions(s, &vd, &ve, &n) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(ve[i].name, vid) != 0)
            continue;
        out->dmarker = ve[i].dm;
        rc = s3_remove(s, &vd, vid, false);
        if (rc < 0 && rc != -ENOENT) {
            e = s3_err_from_errno(rc, false);
            break;
        }
        if (i == 0 && vr != 0)
            promote(s, r->bucket, bfh, key); /* the latest went: the next one shows */
        break;
    }
    free(ve);
prune:
    vdir_prune(s, r->bucket, key);
    snprintf(parent, sizeof(parent), "%s", key);
    {
        char pp[S3_MAX_KEY + 1];
        const char *pb;
        s3_split_key(parent, pp, sizeof(pp), &pb);
        s3_remove_empty_parents(s, bfh, pp);
    }
out:
    pthread_mutex_unlock(mu);
    return e;
}

static int has_files(struct s3_server *s, const struct cfs_fh *dir, int depth)
{
    struct s3_lent *v = NULL;
    size_t n = 0;
    if (depth > 300)
        return 1;
    int r = s3_read_dir_sorted(s, dir, &v, &n);
    if (r < 0)
        return r;
    int found = 0;
    for (size_t i = 0; i < n && !found; i++)
        found = v[i].dir ? has_files(s, &v[i].fh, depth + 1) : 1;
    s3_lent_free(v, n);
    return found;
}

int s3_ver_bucket_empty(struct s3_server *s, const char *bucket)
{
    struct cfs_fh vb;
    struct cfs_attr a;
    int r = s3_lookup(s, &s->versions, bucket, &vb, &a);
    if (r == -ENOENT)
        return 1;
    if (r < 0)
        return r;
    if (a.type != CFS_FT_DIR)
        return 1;
    r = has_files(s, &vb, 0);
    if (r < 0)
        return r;
    if (r > 0)
        return 0;
    s3_rm_tree(s, &s->versions, bucket);
    return 1;
}

/* ---- ListObjectVersions ---- */

struct vitem {
    char *s;
    bool cp;
};

struct vlist {
    struct s3_req *r;
    const char *prefix, *delim, *marker;
    size_t plen, dlen;
    bool incl;        /* the marker key itself still counts (version-id-marker given) */
    size_t cap;
    struct vitem *v;
    size_t n, alloc;
    bool capped;
    int err;
};

static bool sw(const char *s, const char *p, size_t pl)
{
    return strncmp(s, p, pl) == 0;
}

static void add_item(struct vlist *L, const char *s, size_t n, bool cp)
{
    if (L->n && L->v[L->n - 1].cp == cp && strlen(L->v[L->n - 1].s) == n &&
        memcmp(L->v[L->n - 1].s, s, n) == 0)
        return;
    if (L->n >= L->cap) {
        L->capped = true;
        return;
    }
    if (L->n == L->alloc) {
        size_t na = L->alloc ? L->alloc * 2 : 64;
        struct vitem *nv = realloc(L->v, na * sizeof(*nv));
        if (!nv) {
            L->err = -ENOMEM;
            return;
        }
        L->v = nv;
        L->alloc = na;
    }
    char *c = strndup(s, n);
    if (!c) {
        L->err = -ENOMEM;
        return;
    }
    L->v[L->n].s = c;
    L->v[L->n].cp = cp;
    L->n++;
}

/* A key: filtered by prefix and marker, rolled up by the delimiter. */
static void cand_key(struct vlist *L, const char *key)
{
    if (!sw(key, L->prefix, L->plen))
        return;
    int c = L->marker ? strcmp(key, L->marker) : 1;
    if (c < 0 || (c == 0 && !L->incl))
        return;
    if (L->dlen) {
        const char *d = strstr(key + L->plen, L->delim);
        if (d) {
            size_t cpl = (size_t)(d - key) + L->dlen;
            /* a prefix at or before the marker was listed already */
            if (!(L->marker && strncmp(key, L->marker, cpl) <= 0))
                add_item(L, key, cpl, true);
            return;
        }
    }
    add_item(L, key, strlen(key), false);
}

/* Whether to descend into the subtree of keys starting with full ("x/"). */
static bool descend_ok(struct vlist *L, const char *full, size_t fl)
{
    bool under = fl >= L->plen && sw(full, L->prefix, L->plen);
    if (!under && !(L->plen > fl && sw(L->prefix, full, fl)))
        return false;
    if (L->marker && !sw(L->marker, full, fl) && strcmp(full, L->marker) < 0)
        return false;
    if (under && L->dlen) {
        const char *d = strstr(full + L->plen, L->delim);
        if (d && (size_t)(d - full) + L->dlen <= fl) {
            size_t cpl = (size_t)(d - full) + L->dlen;
            if (!(L->marker && strncmp(full, L->marker, cpl) <= 0))
                add_item(L, full, cpl, true);
            return false;
        }
    }
    return true;
}

struct ventry {
    const char *sname;
    size_t idx;
    bool self; /* versions tree: the key named by the directory itself */
};

static int ventry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct ventry *)a)->sname, ((const struct ventry *)b)->sname);
}

/* Walk the visible tree (versions = false) or a bucket's versions tree, in key order. */
static void vwalk(struct vlist *L, const struct cfs_fh *dir, const char *path, int depth,
                  bool versions)
{
    struct s3_server *s = L->r->srv;
    struct s3_lent *v = NULL;
    size_t n = 0;
    if (depth > 128 || L->capped || L->err)
        return;
    int r = s3_read_dir_sorted(s, dir, &v, &n);
    if (r < 0) {
        if (depth == 0 && r != -ENOENT)
            L->err = r;
        return;
    }
    struct ventry *ord = calloc(2 * n + 1, sizeof(*ord));
    uint8_t *kind = calloc(n + 1, 1); /* versions tree: 1 has versions, 2 has keys below */
    size_t m = 0;
    if (!ord || !kind) {
        free(ord);
        free(kind);
        L->err = -ENOMEM;
        s3_lent_free(v, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (versions && !v[i].dir)
            continue; /* versions of the key named by this directory */
        if (versions) {
            struct s3_lent *kv = NULL;
            size_t kn = 0;
            if (s3_read_dir_sorted(s, &v[i].fh, &kv, &kn) == 0) {
                for (size_t k = 0; k < kn; k++)
                    kind[i] |= kv[k].dir ? 2 : s3_ver_id_ok(kv[k].sname) ? 1 : 0;
                s3_lent_free(kv, kn);
            }
        }
        if (!versions || (kind[i] & 2))
            ord[m++] = (struct ventry){v[i].sname, i, false};
        if (versions && (kind[i] & 1)) {
            /* "x" (its own versions) sorts apart from "x/" (the keys below it) */
            char *dup = strndup(v[i].sname, strlen(v[i].sname) - 1);
            if (!dup) {
                L->err = -ENOMEM;
                break;
            }
            ord[m++] = (struct ventry){dup, i, true};
        }
    }
    if (m > 1)
        qsort(ord, m, sizeof(*ord), ventry_cmp);
    size_t pl = strlen(path);
    char full[S3_MAX_KEY + 2];
    for (size_t j = 0; j < m && !L->capped && !L->err; j++) {
        const struct s3_lent *e = &v[ord[j].idx];
        size_t sl = strlen(ord[j].sname);
        if (pl + sl > S3_MAX_KEY)
            continue;
        memcpy(full, path, pl);
        memcpy(full + pl, ord[j].sname, sl + 1);
        if (ord[j].self) {
            cand_key(L, full);
        } else if (e->dir) {
            if (descend_ok(L, full, pl + sl))
                vwalk(L, &e->fh, full, depth + 1, versions);
        } else {
            cand_key(L, full);
        }
    }
    for (size_t j = 0; j < m; j++)
        if (ord[j].self)
            free((char *)ord[j].sname);
    free(ord);
    free(kind);
    s3_lent_free(v, n);
}

static int vitem_cmp(const void *a, const void *b)
{
    const struct vitem *x = a, *y = b;
    int c = strcmp(x->s, y->s);
    return c ? c : (int)x->cp - (int)y->cp;
}

static void put_text(struct s3_buf *b, const char *tag, const char *s, bool url)
{
    if (!url) {
        s3_xml_elem(b, tag, s);
        return;
    }
    struct s3_buf e;
    s3_buf_init(&e, 0);
    s3_uri_encode(&e, s, strlen(s), true);
    s3_xml_elem(b, tag, s3_buf_cstr(&e));
    s3_buf_free(&e);
}

struct vout {
    struct s3_buf *b;
    bool url;
    uint64_t count, max;
    bool truncated;
    char next_key[S3_MAX_KEY + 2];
    char next_vid[S3_VID_MAX];
};

/* One <Version> or <DeleteMarker>; false once max-keys is reached. */
static bool emit_version(struct s3_req *r, struct vout *o, const char *key, const char *vid,
                         bool dm, bool latest, const struct cfs_fh *fh, const struct cfs_attr *a)
{
    struct s3_server *s = r->srv;
    if (o->count >= o->max) {
        o->truncated = true;
        return false;
    }
    o->count++;
    snprintf(o->next_key, sizeof(o->next_key), "%s", key);
    snprintf(o->next_vid, sizeof(o->next_vid), "%s", vid);
    char lm[64], etag[80];
    s3_fmt_iso8601((int64_t)a->mtime.tv_sec, a->mtime.tv_nsec, lm);
    const char *tag = dm ? "DeleteMarker" : "Version";
    s3_xml_open(o->b, tag);
    put_text(o->b, "Key", key, o->url);
    s3_xml_elem(o->b, "VersionId", vid);
    s3_xml_elem_bool(o->b, "IsLatest", latest);
    s3_xml_elem(o->b, "LastModified", lm);
    if (!dm) {
        if (s3_object_etag(s, fh, a, false, etag) < 0)
            snprintf(etag, sizeof(etag), "%s", "00000000000000000000000000000000");
        s3_buf_addf(o->b, "<ETag>&quot;%s&quot;</ETag>", etag);
        s3_xml_elem_u64(o->b, "Size", a->size);
        s3_xml_elem(o->b, "StorageClass", "STANDARD");
    }
    s3_buf_addf(o->b, "<Owner><ID>%s</ID><DisplayName>%s</DisplayName></Owner>",
                s->access_key, s->access_key);
    s3_xml_close(o->b, tag);
    return true;
}

/* Every version of key, newest first; skip_to: resume after this version id. */
static bool emit_key_versions(struct s3_req *r, const struct cfs_fh *bfh, struct vout *o,
                              const char *key, const char *skip_to)
{
    struct s3_server *s = r->srv;
    struct cfs_fh cur, vd;
    struct cfs_attr ca;
    char cvid[S3_VID_MAX];
    struct vent *e = NULL;
    size_t n = 0;
    bool skipping = skip_to != NULL, ok = true;
    bool has_cur = visible(s, bfh, key, &cur, &ca, cvid) == 0;
    if (vdir_get(s, r->bucket, key, false, &vd) == 0)
        key_versions(s, &vd, &e, &n);
    if (has_cur) {
        if (skipping) {
            if (strcmp(cvid, skip_to) == 0)
                skipping = false;
        } else {
            ok = emit_version(r, o, key, cvid, false, true, &cur, &ca);
        }
    }
    for (size_t i = 0; i < n && ok; i++) {
        if (has_cur && strcmp(e[i].name, cvid) == 0)
            continue; /* a link left by an interrupted replace */
        if (skipping) {
            if (strcmp(e[i].name, skip_to) == 0)
                skipping = false;
            continue;
        }
        ok = emit_version(r, o, key, e[i].name, e[i].dm, !has_cur && i == 0 && e[i].dm,
                          &e[i].fh, &e[i].attr);
    }
    free(e);
    return ok;
}

void s3_op_list_versions(struct s3_req *r)
{
    struct s3_server *s = r->srv;
    struct cfs_fh b, vb;
    if (s3_bucket_fh(r, &b) < 0)
        return;
    char prefix[S3_MAX_KEY + 1] = "", delim[64] = "", km[S3_MAX_KEY + 2] = "",
         vm[S3_VID_MAX + 8] = "", mk[32] = "", enc[16] = "";
    s3_query_get(r, "prefix", prefix, sizeof(prefix));
    s3_query_get(r, "delimiter", delim, sizeof(delim));
    s3_query_get(r, "key-marker", km, sizeof(km));
    s3_query_get(r, "version-id-marker", vm, sizeof(vm));
    bool has_mk = s3_query_get(r, "max-keys", mk, sizeof(mk));
    s3_query_get(r, "encoding-type", enc, sizeof(enc));
    bool url = strcmp(enc, "url") == 0;
    uint64_t max = 1000;
    if (enc[0] && !url) {
        s3_req_error(r, S3E_InvalidArgument, "encoding-type must be url");
        return;
    }
    if (has_mk && s3_parse_u64(mk, strlen(mk), &max) < 0) {
        s3_req_error(r, S3E_InvalidArgument, "max-keys must be a non-negative integer");
        return;
    }
    if (max > 1000)
        max = 1000;
    if (vm[0] && (!km[0] || !s3_ver_id_ok(vm))) {
        s3_req_error(r, S3E_InvalidArgument, "A version-id marker needs a valid version id and a key-marker");
        return;
    }
    struct vlist L[2];
    for (int t = 0; t < 2; t++)
        L[t] = (struct vlist){.r = r, .prefix = prefix, .plen = strlen(prefix), .delim = delim,
                              .dlen = strlen(delim), .marker = km[0] ? km : NULL,
                              .incl = vm[0] != '\0', .cap = (size_t)max + 1};
    if (max > 0) {
        vwalk(&L[0], &b, "", 0, false);
        if (s3_lookup(s, &s->versions, r->bucket, &vb, NULL) == 0)
            vwalk(&L[1], &vb, "", 0, true);
    }
    int err = L[0].err ? L[0].err : L[1].err;
    struct vitem *all = NULL;
    size_t na = 0;
    if (!err && L[0].n + L[1].n) {
        all = malloc((L[0].n + L[1].n) * sizeof(*all));
        if (!all)
            err = -ENOMEM;
    }
    if (!err) {
        for (int t = 0; t < 2; t++)
            for (size_t i = 0; i < L[t].n; i++)
                all[na++] = L[t].v[i];
        if (na > 1)
            qsort(all, na, sizeof(*all), vitem_cmp);
    }
    struct s3_buf body;
    s3_buf_init(&body, 0);
    struct vout o = {.b = &body, .url = url, .max = max};
    bool more = L[0].capped || L[1].capped;
    size_t i = 0;
    for (; !err && i < na; i++) {
        if (i > 0 && all[i].cp == all[i - 1].cp && strcmp(all[i].s, all[i - 1].s) == 0)
            continue;
        if (all[i].cp) {
            if (o.count >= o.max) {
                o.truncated = true;
                break;
            }
            o.count++;
            snprintf(o.next_key, sizeof(o.next_key), "%s", all[i].s);
            o.next_vid[0] = '\0';
            s3_xml_open(&body, "CommonPrefixes");
            put_text(&body, "Prefix", all[i].s, url);
            s3_xml_close(&body, "CommonPrefixes");
            continue;
        }
        const char *skip = vm[0] && strcmp(all[i].s, km) == 0 ? vm : NULL;
        if (!emit_key_versions(r, &b, &o, all[i].s, skip))
            break;
    }
    if (!err && i >= na && more && o.count >= o.max)
        o.truncated = true;
    for (int t = 0; t < 2; t++) {
        for (size_t k = 0; k < L[t].n; k++)
            free(L[t].v[k].s);
        free(L[t].v);
    }
    free(all);
    if (err) {
        s3_buf_free(&body);
        s3_req_error(r, s3_err_from_errno(err, true), NULL);
        return;
    }
    struct s3_buf *x = &r->rbody;
    s3_xml_decl(x);
    s3_xml_open_ns(x, "ListVersionsResult");
    s3_xml_elem(x, "Name", r->bucket);
    put_text(x, "Prefix", prefix, url);
    put_text(x, "KeyMarker", km, url);
    s3_xml_elem(x, "VersionIdMarker", vm);
    if (o.truncated) {
        put_text(x, "NextKeyMarker", o.next_key, url);
        if (o.next_vid[0])
            s3_xml_elem(x, "NextVersionIdMarker", o.next_vid);
    }
    s3_xml_elem_u64(x, "MaxKeys", max);
    if (delim[0])
        put_text(x, "Delimiter", delim, url);
    if (url)
        s3_xml_elem(x, "EncodingType", "url");
    s3_xml_elem_bool(x, "IsTruncated", o.truncated);
    s3_buf_add(x, body.p ? body.p : "", body.len);
    s3_xml_close(x, "ListVersionsResult");
    s3_buf_free(&body);
    r->status = 200;
}
