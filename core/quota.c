/*
 * core/quota.c - per-export and per-user/group quotas: usage tracking, soft/hard limits
 * with a grace period, rescan by a directory walk, metrics (see quota.h).
 */
#include "quota.h"

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clock.h"
#include "core.h"
#include "metrics.h"

#define DEFAULT_GRACE_MS (7ull * 24 * 3600 * 1000)

struct qent {
    uint32_t id;
    bool used;       /* slot taken (maps) */
    bool has_lim;
    int64_t bytes, files;
    struct cfs__quota_limits lim;
    uint64_t bover, fover; /* over soft since (>= 1), 0 = not over */
};

struct idmap {
    struct qent *v;
    size_t cap, n;
};

struct qexp {
    struct qexp *next;
    uint32_t id;
    char *name;
    struct qent total;
    struct idmap users, groups;
    bool has_dflt[3];
    struct cfs__quota_limits dflt[3]; /* [USER], [GROUP] */
    cfs_series *m_bytes, *m_files, *m_lb[2], *m_lf[2], *m_exceeded[3];
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static struct qexp *g_exports;

/* ---- id maps (open addressing) ---------------------------------------------------- */

static struct qent *map_find(struct idmap *m, uint32_t id)
{
    if (m->cap == 0)
        return NULL;
    for (size_t i = (id * 2654435761u) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->v[i].used)
            return NULL;
        if (m->v[i].id == id)
            return &m->v[i];
    }
}

static int map_grow(struct idmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 16;
    struct qent *nv = calloc(ncap, sizeof(*nv));

    if (nv == NULL)
        return -ENOMEM;
    for (size_t k = 0; k < m->cap; k++) {
        if (!m->v[k].used)
            continue;
        size_t i = (m->v[k].id * 2654435761u) & (ncap - 1);

        while (nv[i].used)
            i = (i + 1) & (ncap - 1);
        nv[i] = m->v[k];
    }
    free(m->v);
    m->v = nv;
    m->cap = ncap;
    return 0;
}

static struct qent *map_get(struct idmap *m, uint32_t id)
{
    struct qent *e = map_find(m, id);
    size_t i;

    if (e != NULL)
        return e;
    if ((m->n + 1) * 2 > m->cap && map_grow(m) < 0)
        return NULL;
    for (i = (id * 2654435761u) & (m->cap - 1); m->v[i].used; i = (i + 1) & (m->cap - 1))
        ;
    memset(&m->v[i], 0, sizeof(m->v[i]));
    m->v[i].used = true;
    m->v[i].id = id;
    m->n++;
    return &m->v[i];
}

/* ---- exports ----------------------------------------------------------------------- */

static struct qexp *exp_find(uint32_t id)
{
    for (struct qexp *x = g_exports; x != NULL; x = x->next)
        if (x->id == id)
            return x;
    return NULL;
}

static void exp_metrics(struct qexp *x)
{
    static const char *const l_exp[] = {"export", NULL};
    static const char *const l_type[] = {"export", "type", NULL};
    static const char *const l_kind[] = {"export", "kind", NULL};
    static const struct cfs_metric_desc d_b = {
        .size = sizeof(d_b), .type = CFS_METRIC_GAUGE, .name = "cfs_quota_used_bytes",
        .help = "Bytes used per export (quota accounting)", .labels = l_exp};
    static const struct cfs_metric_desc d_f = {
        .size = sizeof(d_f), .type = CFS_METRIC_GAUGE, .name = "cfs_quota_used_files",
        .help = "Files used per export (quota accounting)", .labels = l_exp};
    static const struct cfs_metric_desc d_lb = {
        .size = sizeof(d_lb), .type = CFS_METRIC_GAUGE, .name = "cfs_quota_limit_bytes",
        .help = "Export byte quota (0 = none)", .labels = l_type};
    static const struct cfs_metric_desc d_lf = {
        .size = sizeof(d_lf), .type = CFS_METRIC_GAUGE, .name = "cfs_quota_limit_files",
        .help = "Export file quota (0 = none)", .labels = l_type};
    static const struct cfs_metric_desc d_ex = {
        .size = sizeof(d_ex), .type = CFS_METRIC_COUNTER, .name = "cfs_quota_exceeded_total",
        .help = "Charges refused with EDQUOT, by the quota that refused",
        .labels = l_kind};
    const char *v[2] = {x->name, NULL};
    cfs_metric *m;

    x->m_bytes = cfs__metric_series(cfs__metric_register(&d_b), v);
    x->m_files = cfs__metric_series(cfs__metric_register(&d_f), v);
    m = cfs__metric_register(&d_lb);
    v[1] = "soft";
    x->m_lb[0] = cfs__metric_series(m, v);
    v[1] = "hard";
    x->m_lb[1] = cfs__metric_series(m, v);
    m = cfs__metric_register(&d_lf);
    v[1] = "soft";
    x->m_lf[0] = cfs__metric_series(m, v);
    v[1] = "hard";
    x->m_lf[1] = cfs__metric_series(m, v);
    m = cfs__metric_register(&d_ex);
    v[1] = "export";
    x->m_exceeded[CFS__QUOTA_EXPORT] = cfs__metric_series(m, v);
    v[1] = "user";
    x->m_exceeded[CFS__QUOTA_USER] = cfs__metric_series(m, v);
    v[1] = "group";
    x->m_exceeded[CFS__QUOTA_GROUP] = cfs__metric_series(m, v);
}

static void exp_gauges(struct qexp *x)
{
    const struct cfs__quota_limits *l = &x->total.lim;
    bool has = x->total.has_lim;

    cfs__gauge_set(x->m_bytes, (double)x->total.bytes);
    cfs__gauge_set(x->m_files, (double)x->total.files);
    cfs__gauge_set(x->m_lb[0], has ? (double)l->bytes_soft : 0);
    cfs__gauge_set(x->m_lb[1], has ? (double)l->bytes_hard : 0);
    cfs__gauge_set(x->m_lf[0], has ? (double)l->files_soft : 0);
    cfs__gauge_set(x->m_lf[1], has ? (double)l->files_hard : 0);
}

int cfs__quota_export_add(uint32_t export_id, const char *name)
{
    struct qexp *x;
    char idbuf[16];
    int rc = 0;

    pthread_mutex_lock(&g_mu);
    if (exp_find(export_id) != NULL)
        goto out;
    if (name == NULL || name[0] == '\0') {
        snprintf(idbuf, sizeof(idbuf), "%u", export_id);
        name = idbuf;
    }
    x = calloc(1, sizeof(*x));
    if (x == NULL || (x->name = strdup(name)) == NULL) {
        free(x);
        rc = -ENOMEM;
        goto out;
    }
    x->id = export_id;
    x->total.used = true;
    exp_metrics(x);
    exp_gauges(x);
    x->next = g_exports;
    g_exports = x;
out:
    pthread_mutex_unlock(&g_mu);
    return rc;
}

/* The limits that apply to e (its own, else the default for its kind), or NULL. */
static const struct cfs__quota_limits *eff_limits(const struct qexp *x, const struct qent *e,
                                                  enum cfs__quota_kind kind)
{
    if (e != NULL && e->has_lim)
        return &e->lim;
    if (kind != CFS__QUOTA_EXPORT && x->has_dflt[kind])
        return &x->dflt[kind];
    return NULL;
}

static uint64_t grace_of(const struct cfs__quota_limits *l)
{
    return l->grace_ms ? l->grace_ms : DEFAULT_GRACE_MS;
}

/* Refresh e's over-soft timestamps after its usage or limits changed. */
static void update_over(struct qent *e, const struct cfs__quota_limits *l, uint64_t now)
{
    uint64_t stamp = now ? now : 1;
    bool bo = l != NULL && l->bytes_soft && e->bytes > (int64_t)l->bytes_soft;
    bool fo = l != NULL && l->files_soft && e->files > (int64_t)l->files_soft;

    if (!bo)
        e->bover = 0;
    else if (e->bover == 0)
        e->bover = stamp;
    if (!fo)
        e->fover = 0;
    else if (e->fover == 0)
        e->fover = stamp;
}

static int64_t add_clamped(int64_t v, int64_t d)
{
    if (d > 0 && v > INT64_MAX - d)
        return INT64_MAX;
    v += d;
    return v < 0 ? 0 : v;
}

/* Would adding db/df (the positive parts) to e break l? */
static bool over_quota(const struct qent *e, const struct cfs__quota_limits *l, int64_t db,
                       int64_t df, uint64_t now)
{
    if (l == NULL)
        return false;
    if (db > 0) {
        int64_t nb = add_clamped(e->bytes, db);

        if (l->bytes_hard && nb > (int64_t)l->bytes_hard)
            return true;
        if (l->bytes_soft && nb > (int64_t)l->bytes_soft && e->bover != 0 &&
            now - e->bover >= grace_of(l))
            return true;
    }
    if (df > 0) {
        int64_t nf = add_clamped(e->files, df);

        if (l->files_hard && nf > (int64_t)l->files_hard)
            return true;
        if (l->files_soft && nf > (int64_t)l->files_soft && e->fover != 0 &&
            now - e->fover >= grace_of(l))
            return true;
    }
    return false;
}

int cfs__quota_charge(uint32_t export_id, uint32_t uid, uint32_t gid, int64_t dbytes,
                      int64_t dfiles)
{
    struct qent *ents[3];
    const struct cfs__quota_limits *lims[3];
    struct qexp *x;
    uint64_t now;
    int rc = 0;

    pthread_mutex_lock(&g_mu);
    x = exp_find(export_id);
    if (x == NULL || (dbytes == 0 && dfiles == 0))
        goto out;
    now = cfs__clock_ms();
    ents[CFS__QUOTA_EXPORT] = &x->total;
    ents[CFS__QUOTA_USER] = map_get(&x->users, uid);
    ents[CFS__QUOTA_GROUP] = map_get(&x->groups, gid);
    if (ents[CFS__QUOTA_USER] == NULL || ents[CFS__QUOTA_GROUP] == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    for (int k = 0; k < 3; k++) {
        lims[k] = eff_limits(x, ents[k], (enum cfs__quota_kind)k);
        if (over_quota(ents[k], lims[k], dbytes, dfiles, now)) {
            cfs__counter_add(x->m_exceeded[k], 1);
            CFS_LOG_D("quota", "export %s: %s %u over quota (+%lld bytes, +%lld files)",
                      x->name, k == 0 ? "export" : k == 1 ? "uid" : "gid",
                      k == 0 ? export_id : k == 1 ? uid : gid, (long long)dbytes,
                      (long long)dfiles);
            rc = -EDQUOT;
            goto out;
        }
    }
    for (int k = 0; k < 3; k++) {
        ents[k]->bytes = add_clamped(ents[k]->bytes, dbytes);
        ents[k]->files = add_clamped(ents[k]->files, dfiles);
        update_over(ents[k], lims[k], now);
    }
    exp_gauges(x);
out:
    pthread_mutex_unlock(&g_mu);
    return rc;
}

void cfs__quota_release(uint32_t export_id, uint32_t uid, uint32_t gid, int64_t bytes,
                        int64_t files)
{
    (void)cfs__quota_charge(export_id, uid, gid, bytes > 0 ? -bytes : 0,
                            files > 0 ? -files : 0);
}

int cfs__quota_set(uint32_t export_id, enum cfs__quota_kind kind, uint32_t id,
                   const struct cfs__quota_limits *lim)
{
    struct qexp *x;
    struct qent *e = NULL;
    struct idmap *m;
    uint64_t now = cfs__clock_ms();
    int rc = 0;

    if (kind != CFS__QUOTA_EXPORT && kind != CFS__QUOTA_USER && kind != CFS__QUOTA_GROUP)
        return -EINVAL;
    if (lim != NULL && ((lim->bytes_hard && lim->bytes_soft > lim->bytes_hard) ||
                        (lim->files_hard && lim->files_soft > lim->files_hard) ||
                        lim->bytes_soft > INT64_MAX || lim->bytes_hard > INT64_MAX ||
                        lim->files_soft > INT64_MAX || lim->files_hard > INT64_MAX))
        return -EINVAL;
    pthread_mutex_lock(&g_mu);
    x = exp_find(export_id);
    if (x == NULL) {
        rc = -ENOENT;
        goto out;
    }
    if (kind == CFS__QUOTA_EXPORT) {
        e = &x->total;
    } else if (id == CFS__QUOTA_DEFAULT_ID) {
        x->has_dflt[kind] = lim != NULL;
        if (lim != NULL)
            x->dflt[kind] = *lim;
        m = kind == CFS__QUOTA_USER ? &x->users : &x->groups;
        for (size_t i = 0; i < m->cap; i++)
            if (m->v[i].used)
                update_over(&m->v[i], eff_limits(x, &m->v[i], kind), now);
        goto out;
    } else {
        e = map_get(kind == CFS__QUOTA_USER ? &x->users : &x->groups, id);
        if (e == NULL) {
            rc = -ENOMEM;
            goto out;
        }
    }
    e->has_lim = lim != NULL;
    if (lim != NULL)
        e->lim = *lim;
    update_over(e, eff_limits(x, e, kind), now);
    exp_gauges(x);
out:
    pthread_mutex_unlock(&g_mu);
    return rc;
}

int cfs__quota_get(uint32_t export_id, enum cfs__quota_kind kind, uint32_t id,
                   struct cfs__quota_usage *out)
{
    const struct cfs__quota_limits *l;
    struct qexp *x;
    struct qent *e = NULL;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&g_mu);
    x = exp_find(export_id);
    if (x == NULL) {
        rc = -ENOENT;
        goto out;
    }
    if (kind == CFS__QUOTA_EXPORT)
        e = &x->total;
    else if (kind == CFS__QUOTA_USER)
        e = map_find(&x->users, id);
    else if (kind == CFS__QUOTA_GROUP)
        e = map_find(&x->groups, id);
    else {
        rc = -EINVAL;
        goto out;
    }
    if (e != NULL) {
        out->bytes = e->bytes;
        out->files = e->files;
        out->bytes_over_since = e->bover;
        out->files_over_since = e->fover;
    }
    l = eff_limits(x, e, kind);
    if (l != NULL) {
        out->limits = *l;
        out->has_limits = true;
    }
out:
    pthread_mutex_unlock(&g_mu);
    return rc;
}

/* ---- rescan ---------------------------------------------------------------------- */

struct inode_set {
    struct { uint64_t dev, ino; } *v;
    size_t cap, n;
};

struct scan {
    struct qent total;
    struct idmap users, groups;
    struct inode_set seen;
    int err;
};

static __thread struct scan *t_scan;

/* true if (dev, ino) was already counted; false (and remembered) otherwise. */
static bool seen_before(struct inode_set *s, uint64_t dev, uint64_t ino, int *err)
{
    uint64_t h = (dev * 0x9E3779B97F4A7C15ull) ^ (ino * 0xC2B2AE3D27D4EB4Full);
    size_t i;

    if ((s->n + 1) * 2 > s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 64;
        struct inode_set ns = {calloc(ncap, sizeof(*s->v)), ncap, s->n};

        if (ns.v == NULL) {
            *err = -ENOMEM;
            return true;
        }
        for (size_t k = 0; k < s->cap; k++) {
            if (s->v[k].ino == 0 && s->v[k].dev == 0)
                continue;
            uint64_t hk = (s->v[k].dev * 0x9E3779B97F4A7C15ull) ^
                          (s->v[k].ino * 0xC2B2AE3D27D4EB4Full);
            size_t j = (size_t)hk & (ncap - 1);

            while (ns.v[j].ino != 0 || ns.v[j].dev != 0)
                j = (j + 1) & (ncap - 1);
            ns.v[j] = s->v[k];
        }
        free(s->v);
        *s = ns;
    }
    for (i = (size_t)h & (s->cap - 1); s->v[i].ino != 0 || s->v[i].dev != 0;
         i = (i + 1) & (s->cap - 1))
        if (s->v[i].dev == dev && s->v[i].ino == ino)
            return true;
    s->v[i].dev = dev;
    s->v[i].ino = ino ? ino : 1;
    s->n++;
    return false;
}

static int scan_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    struct scan *sc = t_scan;
    struct qent *u, *g;
    int64_t bytes;

    (void)path;
    if (ftw->level == 0 || flag == FTW_NS)
        return 0;
    if (st->st_nlink > 1 && !S_ISDIR(st->st_mode) &&
        seen_before(&sc->seen, (uint64_t)st->st_dev, (uint64_t)st->st_ino, &sc->err))
        return sc->err < 0 ? 1 : 0;
    bytes = S_ISREG(st->st_mode) ? (int64_t)st->st_size : 0;
    u = map_get(&sc->users, st->st_uid);
    g = map_get(&sc->groups, st->st_gid);
    if (u == NULL || g == NULL) {
        sc->err = -ENOMEM;
        return 1;
    }
    sc->total.bytes += bytes;
    sc->total.files++;
    u->bytes += bytes;
    u->files++;
    g->bytes += bytes;
    g->files++;
    return 0;
}

/* Replace x's usage in `dst` map with `src`'s (g_mu held). */
static int merge_usage(struct qexp *x, struct idmap *dst, struct idmap *src,
                       enum cfs__quota_kind kind, uint64_t now)
{
    for (size_t i = 0; i < dst->cap; i++) {
        if (dst->v[i].used) {
            dst->v[i].bytes = 0;
            dst->v[i].files = 0;
        }
    }
    for (size_t i = 0; i < src->cap; i++) {
        struct qent *e;

        if (!src->v[i].used)
            continue;
        e = map_get(dst, src->v[i].id);
        if (e == NULL)
            return -ENOMEM;
        e->bytes = src->v[i].bytes;
        e->files = src->v[i].files;
    }
    for (size_t i = 0; i < dst->cap; i++)
        if (dst->v[i].used)
            update_over(&dst->v[i], eff_limits(x, &dst->v[i], kind), now);
    return 0;
}

int cfs__quota_rescan(uint32_t export_id, const char *path)
{
    struct scan sc;
    struct qexp *x;
    uint64_t now;
    int rc = 0;

    memset(&sc, 0, sizeof(sc));
    pthread_mutex_lock(&g_mu);
    x = exp_find(export_id);
    pthread_mutex_unlock(&g_mu);
    if (x == NULL)
        return -ENOENT;
    t_scan = &sc;
    if (nftw(path, scan_one, 64, FTW_PHYS | FTW_MOUNT) != 0)
        rc = sc.err < 0 ? sc.err : -errno;
    t_scan = NULL;
    if (rc < 0) {
        cfs__log(CFS_LOG_ERROR, "quota", "rescan of %s failed: %s", path, strerror(-rc));
        goto out;
    }
    pthread_mutex_lock(&g_mu);
    now = cfs__clock_ms();
    x->total.bytes = sc.total.bytes;
    x->total.files = sc.total.files;
    update_over(&x->total, eff_limits(x, &x->total, CFS__QUOTA_EXPORT), now);
    rc = merge_usage(x, &x->users, &sc.users, CFS__QUOTA_USER, now);
    if (rc == 0)
        rc = merge_usage(x, &x->groups, &sc.groups, CFS__QUOTA_GROUP, now);
    exp_gauges(x);
    pthread_mutex_unlock(&g_mu);
    cfs__log(CFS_LOG_INFO, "quota", "export %s: %lld bytes in %lld files (rescan of %s)",
             x->name, (long long)sc.total.bytes, (long long)sc.total.files, path);
out:
    free(sc.users.v);
    free(sc.groups.v);
    free(sc.seen.v);
    return rc;
}

void cfs__quota_reset(void)
{
    struct qexp *x;

    pthread_mutex_lock(&g_mu);
    while ((x = g_exports) != NULL) {
        g_exports = x->next;
        free(x->users.v);
        free(x->groups.v);
        free(x->name);
        free(x);
    }
    pthread_mutex_unlock(&g_mu);
}
