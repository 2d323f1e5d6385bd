/*
 * core/vfs/guard.c - what runs around every backend call of the namespace: a connection
 * of the export's backend pool (breaker, bounded waiters, per-op deadline: see
 * core/backend_glue.h), lease/delegation breaks before a conflicting write, truncate,
 * unlink, rmdir or rename (core/locks.h), and quota charges (core/quota.h): checked
 * before an op that grows usage, reconciled with what the op really did after it, given
 * back by unlink, rmdir, rename over a file and truncation.
 *
 * The object an op touches is learnt by small sub-calls on the same connection (getattr
 * of the handle, lookup of the name) made only when the export has quotas or somebody
 * holds a lease, so the plain path costs nothing more than the pool.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <cfs/lock.h>

#include "backend.h"
#include "backend_glue.h"
#include "core.h"
#include "locks.h"
#include "quota.h"

static const struct cfs_lock_api *_Atomic g_locks;

void cfs__vfs_set_locks(const struct cfs_lock_api *api)
{
    atomic_store(&g_locks, api);
}

/* What the op touches, learnt before it runs, and what quota_before charged. */
struct pre {
    bool has_obj, has_tgt;
    struct cfs_attr obj; /* fh's object, or the child `name` of fh (unlink, rmdir, rename) */
    struct cfs_attr tgt; /* fh2's object (copy, clone), or the child name2 (rename target),
                            or the existing `name` of a create */
    uint32_t uid, gid;   /* who was charged */
    int64_t bytes, files;
};

static void sub_release(cfs_export *exp, struct cfs_vfs_op *s)
{
    if (s->priv[0]) {
        cfs__export_backend(exp)->release(cfs__export_ctx(exp), s);
        free(s->priv[0]);
        s->priv[0] = NULL;
    }
}

static int sub_getattr(cfs_export *exp, const struct cfs_vfs_op *op, const struct cfs_fh *fh,
                       struct cfs_attr *out)
{
    struct cfs_vfs_op s;
    int r;

    cfs_vfs_op_init(&s, CFS_VOP_GETATTR, op->cred, exp);
    s.fh = *fh;
    r = cfs__export_backend(exp)->exec(cfs__export_ctx(exp), &s);
    if (r == 0 && s.has_attr)
        *out = s.attr;
    else if (r == 0)
        r = -EIO;
    sub_release(exp, &s);
    return r;
}

static int sub_lookup(cfs_export *exp, const struct cfs_vfs_op *op, const struct cfs_fh *dir,
                      const char *name, struct cfs_attr *out)
{
    struct cfs_vfs_op s;
    int r;

    if (!name)
        return -EINVAL;
    cfs_vfs_op_init(&s, CFS_VOP_LOOKUP, op->cred, exp);
    s.fh = *dir;
    s.name = name;
    r = cfs__export_backend(exp)->exec(cfs__export_ctx(exp), &s);
    if (r == 0 && s.has_attr)
        *out = s.attr;
    else if (r == 0)
        r = -EIO;
    sub_release(exp, &s);
    return r;
}

/* ---- which ops need what ---- */

static bool usage_op(const struct cfs_vfs_op *op)
{
    switch (op->op) {
    case CFS_VOP_WRITE: case CFS_VOP_CREATE: case CFS_VOP_MKDIR: case CFS_VOP_MKNOD:
    case CFS_VOP_SYMLINK: case CFS_VOP_UNLINK: case CFS_VOP_RMDIR: case CFS_VOP_RENAME:
    case CFS_VOP_COPY: case CFS_VOP_CLONE:
        return true;
    case CFS_VOP_SETATTR:
        return (op->sattr.mask & (CFS_SET_SIZE | CFS_SET_UID | CFS_SET_GID)) != 0;
    case CFS_VOP_FALLOCATE:
        return !(op->falloc_mode & FALLOC_FL_KEEP_SIZE);
    default:
        return false;
    }
}

static bool lease_op(const struct cfs_vfs_op *op)
{
    switch (op->op) {
    case CFS_VOP_WRITE: case CFS_VOP_UNLINK: case CFS_VOP_RMDIR: case CFS_VOP_RENAME:
        return true;
    case CFS_VOP_SETATTR:
        return (op->sattr.mask & CFS_SET_SIZE) != 0;
    default:
        return false;
    }
}

/* Learn the objects the op touches (errors leave has_* false: the op reports its own). */
static void learn(cfs_export *exp, const struct cfs_vfs_op *op, struct pre *p)
{
    switch (op->op) {
    case CFS_VOP_WRITE: case CFS_VOP_SETATTR: case CFS_VOP_FALLOCATE:
        p->has_obj = sub_getattr(exp, op, &op->fh, &p->obj) == 0;
        break;
    case CFS_VOP_COPY: case CFS_VOP_CLONE:
        p->has_tgt = sub_getattr(exp, op, &op->fh2, &p->tgt) == 0;
        break;
    case CFS_VOP_UNLINK: case CFS_VOP_RMDIR:
        p->has_obj = sub_lookup(exp, op, &op->fh, op->name, &p->obj) == 0;
        break;
    case CFS_VOP_RENAME:
        p->has_obj = sub_lookup(exp, op, &op->fh, op->name, &p->obj) == 0;
        p->has_tgt = sub_lookup(exp, op, &op->fh2, op->name2, &p->tgt) == 0;
        break;
    case CFS_VOP_CREATE:
        p->has_tgt = sub_lookup(exp, op, &op->fh, op->name, &p->tgt) == 0;
        break;
    default:
        break;
    }
}

/* ---- leases ---- */

static int break_one(const struct cfs_lock_api *lk, const struct cfs_vfs_op *op,
                     const struct cfs_attr *a, uint32_t what)
{
    struct cfs_lock_key key;
    const struct cfs_lock_owner *who = CFS_VFS_OP_HAS(op, lock_owner) ? op->lock_owner : NULL;

    cfs_lock_key_from_attr(&key, a);
    return lk->break_leases(&key, who, what, NULL, NULL);
}

/* 0, or CFS_ERETRY while a conflicting lease is being broken. */
static int break_leases(const struct cfs_lock_api *lk, const struct cfs_vfs_op *op,
                        const struct pre *p)
{
    int r = 0;

    switch (op->op) {
    case CFS_VOP_WRITE: case CFS_VOP_SETATTR:
        if (p->has_obj)
            r = break_one(lk, op, &p->obj, CFS_BREAK_WRITE);
        break;
    case CFS_VOP_UNLINK: case CFS_VOP_RMDIR:
        if (p->has_obj)
            r = break_one(lk, op, &p->obj, CFS_BREAK_HANDLE);
        break;
    case CFS_VOP_RENAME:
        if (p->has_obj)
            r = break_one(lk, op, &p->obj, CFS_BREAK_HANDLE);
        if (r == 0 && p->has_tgt && !(p->has_obj && p->obj.fileid == p->tgt.fileid))
            r = break_one(lk, op, &p->tgt, CFS_BREAK_HANDLE);
        break;
    default:
        break;
    }
    return r;
}

/* ---- quotas ---- */

static int64_t reg_bytes(const struct cfs_attr *a)
{
    return a->type == CFS_FT_REG ? (int64_t)a->size : 0;
}

static int64_t growth(const struct cfs_attr *a, uint64_t offset, uint64_t length)
{
    uint64_t end = offset + length;

    if (a->type != CFS_FT_REG || end < offset || end <= a->size)
        return 0;
    return end - a->size > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)(end - a->size);
}

static int charge(uint32_t id, struct pre *p, uint32_t uid, uint32_t gid, int64_t bytes,
                  int64_t files)
{
    int r = cfs__quota_charge(id, uid, gid, bytes, files);

    if (r == 0) {
        p->uid = uid;
        p->gid = gid;
        p->bytes = bytes;
        p->files = files;
    }
    return r;
}

/* Check and charge what the op will add; 0 or -EDQUOT. */
static int quota_before(cfs_export *exp, const struct cfs_vfs_op *op, struct pre *p)
{
    uint32_t id = cfs__vfs_export_id(exp);
    struct cfs_cred m;
    uint32_t uid, gid;

    cfs__export_map_cred(exp, op->cred, &m);
    uid = m.uid;
    gid = m.gid;
    switch (op->op) {
    case CFS_VOP_CREATE: case CFS_VOP_MKDIR: case CFS_VOP_MKNOD: case CFS_VOP_SYMLINK:
        if (op->op == CFS_VOP_CREATE && p->has_tgt)
            return 0; /* opens an existing file */
        if (op->sattr.mask & CFS_SET_UID)
            uid = op->sattr.uid;
        if (op->sattr.mask & CFS_SET_GID)
            gid = op->sattr.gid;
        return charge(id, p, uid, gid, 0, 1);
    case CFS_VOP_WRITE:
        return p->has_obj ? charge(id, p, p->obj.uid, p->obj.gid,
                                   growth(&p->obj, op->offset, op->length), 0) : 0;
    case CFS_VOP_FALLOCATE:
        return p->has_obj ? charge(id, p, p->obj.uid, p->obj.gid,
                                   growth(&p->obj, op->offset, op->length), 0) : 0;
    case CFS_VOP_COPY: case CFS_VOP_CLONE:
        return p->has_tgt ? charge(id, p, p->tgt.uid, p->tgt.gid,
                                   growth(&p->tgt, op->offset2, op->length), 0) : 0;
    case CFS_VOP_SETATTR: {
        if (!p->has_obj)
            return 0;
        uint32_t nu = op->sattr.mask & CFS_SET_UID ? op->sattr.uid : p->obj.uid;
        uint32_t ng = op->sattr.mask & CFS_SET_GID ? op->sattr.gid : p->obj.gid;
        int64_t nb = reg_bytes(&p->obj);

        if ((op->sattr.mask & CFS_SET_SIZE) && p->obj.type == CFS_FT_REG)
            nb = op->sattr.size > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)op->sattr.size;
        if (nu != p->obj.uid || ng != p->obj.gid)
            return charge(id, p, nu, ng, nb, 1); /* the old owner is released after */
        return nb > reg_bytes(&p->obj) ? charge(id, p, nu, ng, nb - reg_bytes(&p->obj), 0) : 0;
    }
    default:
        return 0;
    }
}

/* Reconcile a grown object's charge with its size after the op (file: fh or fh2). */
static void reconcile_size(cfs_export *exp, const struct cfs_vfs_op *op, struct pre *p,
                           const struct cfs_attr *before, const struct cfs_fh *fh)
{
    uint32_t id = cfs__vfs_export_id(exp);
    struct cfs_attr after;
    int64_t grown, delta;

    if (before->type != CFS_FT_REG)
        return;
    if (op->op == CFS_VOP_WRITE && op->has_attr)
        after = op->attr;
    else if (sub_getattr(exp, op, fh, &after) < 0)
        return;
    grown = after.size > before->size ? (int64_t)(after.size - before->size) : 0;
    delta = grown - p->bytes;
    if (delta > 0)
        (void)cfs__quota_charge(id, before->uid, before->gid, delta, 0);
    else if (delta < 0)
        cfs__quota_release(id, before->uid, before->gid, -delta, 0);
}

static bool last_link(const struct cfs_attr *a)
{
    return a->type == CFS_FT_DIR || a->nlink <= 1;
}

static void quota_after(cfs_export *exp, const struct cfs_vfs_op *op, struct pre *p, int r)
{
    uint32_t id = cfs__vfs_export_id(exp);

    if (r < 0) {
        if (p->bytes || p->files)
            cfs__quota_release(id, p->uid, p->gid, p->bytes, p->files);
        return;
    }
    switch (op->op) {
    case CFS_VOP_CREATE: case CFS_VOP_MKDIR: case CFS_VOP_MKNOD: case CFS_VOP_SYMLINK:
        /* the owner may differ from the caller (setgid directory, squash): move it */
        if (p->files && op->has_attr && (op->attr.uid != p->uid || op->attr.gid != p->gid)) {
            cfs__quota_release(id, p->uid, p->gid, 0, 1);
            if (cfs__quota_charge(id, op->attr.uid, op->attr.gid, 0, 1) < 0)
                (void)cfs__quota_charge(id, p->uid, p->gid, 0, 1);
        }
        break;
    case CFS_VOP_WRITE: case CFS_VOP_FALLOCATE:
        if (p->has_obj)
            reconcile_size(exp, op, p, &p->obj, &op->fh);
        break;
    case CFS_VOP_COPY: case CFS_VOP_CLONE:
        if (p->has_tgt)
            reconcile_size(exp, op, p, &p->tgt, &op->fh2);
        break;
    case CFS_VOP_SETATTR:
        if (!p->has_obj)
            break;
        if (p->files) /* owner changed: the old owner gives everything back */
            cfs__quota_release(id, p->obj.uid, p->obj.gid, reg_bytes(&p->obj), 1);
        else if ((op->sattr.mask & CFS_SET_SIZE) && p->obj.type == CFS_FT_REG &&
                 op->sattr.size < p->obj.size)
            cfs__quota_release(id, p->obj.uid, p->obj.gid,
                               (int64_t)(p->obj.size - op->sattr.size), 0);
        break;
    case CFS_VOP_UNLINK: case CFS_VOP_RMDIR:
        if (p->has_obj && last_link(&p->obj))
            cfs__quota_release(id, p->obj.uid, p->obj.gid, reg_bytes(&p->obj), 1);
        break;
    case CFS_VOP_RENAME:
        if (p->has_tgt && !(p->has_obj && p->obj.fileid == p->tgt.fileid) &&
            last_link(&p->tgt))
            cfs__quota_release(id, p->tgt.uid, p->tgt.gid, reg_bytes(&p->tgt), 1);
        break;
    default:
        break;
    }
}

static bool leases_held(void)
{
    struct cfs__locks_stats st;

    cfs__locks_stats(&st);
    return st.leases > 0;
}

/* The op on its connection: breaks, quotas, the backend. */
static int guarded(cfs_export *exp, struct cfs_vfs_op *op)
{
    const struct cfs__vfs_backend *be = cfs__export_backend(exp);
    const struct cfs_lock_api *lk = atomic_load(&g_locks);
    bool q = cfs__vfs_export_quota(exp) && usage_op(op);
    bool l = lk != NULL && lease_op(op) && leases_held();
    struct pre p;
    int r;

    if (!q && !l)
        return be->exec(cfs__export_ctx(exp), op);
    memset(&p, 0, sizeof(p));
    learn(exp, op, &p);
    if (l && (r = break_leases(lk, op, &p)) < 0)
        return r;
    if (q && (r = quota_before(exp, op, &p)) < 0)
        return r;
    r = be->exec(cfs__export_ctx(exp), op);
    if (q)
        quota_after(exp, op, &p, r);
    return r;
}

int cfs__vfs_exec_entered(cfs_export *exp, struct cfs_vfs_op *op)
{
    return guarded(exp, op);
}

int cfs__vfs_exec(cfs_export *exp, struct cfs_vfs_op *op)
{
    struct cfs__backend_ticket t;
    int r = cfs__backend_enter(exp, &t);

    if (r < 0)
        return r;
    r = guarded(exp, op);
    cfs__backend_leave(&t, r);
    return r;
}
