/*
 * core/vfs/posix_xattr.c - posix backend: GETXATTR, SETXATTR, LISTXATTR and
 * REMOVEXATTR, limited to the `user.` namespace. The gateway's own metadata lives in
 * `user.cfs.*` (cfs/meta.h): only ops flagged CFS_XATTR_META may read or change it, and
 * LISTXATTR hides it from the others. Calls run as the caller, on the object reached by
 * its O_PATH fd (through /proc/self/fd, so no path is walked).
 */
#include <errno.h>
#include <linux/limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include <cfs/meta.h>

#include "posix.h"

#define XF_FLAGS (XATTR_CREATE | XATTR_REPLACE)

static int xname_ok(const char *name, int xflags)
{
    if (!name || !*name)
        return -EINVAL;
    if (strnlen(name, XATTR_NAME_MAX + 1) > XATTR_NAME_MAX)
        return -ENAMETOOLONG;
    if (strncmp(name, "user.", 5) != 0 || !name[5])
        return -EOPNOTSUPP;
    if (strncmp(name, CFS_META_PREFIX, strlen(CFS_META_PREFIX)) == 0 &&
        !(xflags & CFS_XATTR_META))
        return -EPERM;
    return 0;
}

/* Keep the names the caller may see; returns the filtered length. */
static size_t filter_names(char *list, size_t n, bool meta)
{
    size_t out = 0;
    for (size_t i = 0; i < n;) {
        size_t len = strnlen(list + i, n - i);
        const char *nm = list + i;
        bool is_meta = strncmp(nm, CFS_META_PREFIX, strlen(CFS_META_PREFIX)) == 0;
        bool keep = strncmp(nm, "user.", 5) == 0 && (meta ? is_meta : !is_meta);
        if (keep && len < n - i) {
            memmove(list + out, nm, len + 1);
            out += len + 1;
        }
        i += len + 1;
    }
    return out;
}

static int do_list(const char *path, struct cfs_vfs_op *op)
{
    char *tmp = NULL;
    int r = 0;
    for (int tries = 0; tries < 4; tries++) {
        ssize_t need = listxattr(path, NULL, 0);
        if (need < 0)
            return -errno;
        free(tmp);
        tmp = malloc((size_t)need + 1);
        if (!tmp)
            return -ENOMEM;
        ssize_t got = need ? listxattr(path, tmp, (size_t)need) : 0;
        if (got < 0 && errno == ERANGE)
            continue; /* grew meanwhile */
        if (got < 0) {
            r = -errno;
            goto out;
        }
        size_t n = filter_names(tmp, (size_t)got, op->xflags & CFS_XATTR_META);
        op->count = n;
        if (op->length == 0)
            goto out;
        if (n > op->length || !op->rbuf) {
            r = -ERANGE;
            goto out;
        }
        memcpy(op->rbuf, tmp, n);
        goto out;
    }
    r = -EAGAIN;
out:
    free(tmp);
    return r;
}

int px_xattr(struct px *px, struct cfs_vfs_op *op)
{
    struct cfs__fdc_ent *e;
    char path[32];
    bool cred = false;
    ssize_t n;
    int r = 0;
    if (op->op != CFS_VOP_LISTXATTR && (r = xname_ok(op->name, op->xflags)) < 0)
        return r;
    if (op->length > XATTR_SIZE_MAX && op->op == CFS_VOP_SETXATTR)
        return -E2BIG;
    if ((r = px_resolve(px, &op->fh, &e)) < 0)
        return r;
    px_procpath(path, e->fd);
    if ((r = px_cred_enter(px, op)) < 0)
        goto out;
    cred = true;
    switch (op->op) {
    case CFS_VOP_GETXATTR:
        if (op->length && !op->rbuf) {
            r = -EINVAL;
            break;
        }
        n = getxattr(path, op->name, op->length ? op->rbuf : NULL, op->length);
        if (n < 0)
            r = -errno;
        else
            op->count = (uint64_t)n;
        break;
    case CFS_VOP_SETXATTR:
        if (op->length && !op->wbuf) {
            r = -EINVAL;
            break;
        }
        if (setxattr(path, op->name, op->wbuf, op->length, op->xflags & XF_FLAGS) < 0)
            r = -errno;
        break;
    case CFS_VOP_REMOVEXATTR:
        if (removexattr(path, op->name) < 0)
            r = -errno;
        break;
    case CFS_VOP_LISTXATTR:
        r = do_list(path, op);
        break;
    default:
        r = -EINVAL;
        break;
    }
    cfs__cred_leave();
    cred = false;
    if (op->op == CFS_VOP_SETXATTR || op->op == CFS_VOP_REMOVEXATTR)
        cfs__attr_forget(px->id, e->ino); /* ctime moved */
    if (px_attr(px, e, &op->attr) == 0)
        op->has_attr = true;
out:
    if (cred)
        cfs__cred_leave();
    cfs__fdc_put(px->paths, e);
    return r;
}
