/*
 * core/vfs/posix_ns.c - posix backend: operations on names. CREATE (unchecked,
 * guarded, exclusive with the verifier kept in atime/mtime as Linux nfsd does), MKDIR,
 * MKNOD, SYMLINK, READLINK, LINK, UNLINK, RMDIR and RENAME (atomic replace). Every
 * name is one component of a directory reached by handle, and every call runs as the
 * caller; each mutation forgets the cached attributes and fds it made stale.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "posix.h"

static int name_ok(const char *name)
{
    int r = px_check_name(name);
    if (r == 0 && (strcmp(name, ".") == 0 || strcmp(name, "..") == 0))
        r = -EEXIST;
    return r;
}

static int open_child(int dirfd, const char *name)
{
    struct open_how how = {
        .flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
    };
    long fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
    return fd < 0 ? -errno : (int)fd;
}

/* The child `name` of dirfd as a handle + attributes, its fd kept in the cache. */
static int child_handle(struct px *px, int dirfd, uint64_t dir_ino, const char *name,
                        struct cfs_vfs_op *op)
{
    int fd = open_child(dirfd, name), r;
    if (fd < 0)
        return fd;
    r = px_fh_of(px, fd, NULL, &op->out_fh);
    if (r == 0)
        r = px_statx(px, fd, NULL, &op->attr);
    if (r < 0) {
        close(fd);
        return r;
    }
    op->has_attr = true;
    px_index_note(px, dir_ino, name, op->attr.fileid);
    px_hc_note(px, &op->attr, &op->out_fh);
    cfs__fdc_put(px->paths,
                 cfs__fdc_add(px->paths, &op->out_fh, 1u + op->out_fh.len, fd, op->attr.fileid));
    return 0;
}

/* Apply the rest of a create's sattr (owner, size, times) through SETATTR. */
static int apply_sattr(struct px *px, struct cfs_vfs_op *op, uint32_t mask)
{
    if (!(op->sattr.mask & mask))
        return 0;
    struct cfs_vfs_op s;
    cfs_vfs_op_init(&s, CFS_VOP_SETATTR, op->cred, op->exp);
    s.fh = op->out_fh;
    s.sattr = op->sattr;
    s.sattr.mask &= mask;
    int r = px_setattr(px, &s);
    if (s.has_attr)
        op->attr = s.attr;
    return r;
}

static bool verf_matches(const struct cfs_attr *a, const uint8_t v[CFS_VERF_SIZE])
{
    uint32_t w0, w1;
    memcpy(&w0, v, 4);
    memcpy(&w1, v + 4, 4);
    return a->type == CFS_FT_REG && (uint32_t)a->atime.tv_sec == w0 &&
           (uint32_t)a->mtime.tv_sec == w1;
}

int px_create(struct px *px, struct cfs_vfs_op *op)
{
    struct cfs__fdc_ent *d = NULL;
    bool cred = false, existed = false;
    uint32_t mode = op->sattr.mask & CFS_SET_MODE ? op->sattr.mode & 07777 : 0;
    int r = name_ok(op->name);
    if (r < 0)
        return r;
    if ((r = px_resolve(px, &op->fh, &d)) < 0)
        return r;
    if ((r = px_statx(px, d->fd, NULL, &op->pre)) < 0)
        goto out;
    op->has_pre = true;
    if (op->pre.type != CFS_FT_DIR) {
        r = -ENOTDIR;
        goto out;
    }
    if ((r = px_cred_enter(px, op)) < 0)
        goto out;
    cred = true;
    switch (op->op) {
    case CFS_VOP_CREATE:
        if (op->how == CFS_CREATE_EXCLUSIVE)
            mode = 0600;
        else if (!(op->sattr.mask & CFS_SET_MODE))
            mode = 0644;
        r = mknodat(d->fd, op->name, S_IFREG | mode, 0) < 0 ? -errno : 0;
        if (r == -EEXIST && op->how != CFS_CREATE_GUARDED) {
            struct cfs_attr a;
            r = px_statx(px, d->fd, op->name, &a);
            if (r == 0 && op->how == CFS_CREATE_EXCLUSIVE && !verf_matches(&a, op->verf_in))
                r = -EEXIST;
            else if (r == 0 && a.type != CFS_FT_REG)
                r = a.type == CFS_FT_DIR ? -EISDIR : -EEXIST;
            existed = true;
        } else if (r == 0 && op->how == CFS_CREATE_EXCLUSIVE) {
            uint32_t w0, w1;
            memcpy(&w0, op->verf_in, 4);
            memcpy(&w1, op->verf_in + 4, 4);
            struct timespec ts[2] = { { (time_t)w0, 0 }, { (time_t)w1, 0 } };
            if (utimensat(d->fd, op->name, ts, AT_SYMLINK_NOFOLLOW) < 0)
                r = -errno;
        }
        break;
    case CFS_VOP_MKDIR:
        if (!(op->sattr.mask & CFS_SET_MODE))
            mode = 0755;
        r = mkdirat(d->fd, op->name, mode) < 0 ? -errno : 0;
        break;
    case CFS_VOP_MKNOD: {
        mode_t type;
        switch (op->ftype) {
        case CFS_FT_CHR: type = S_IFCHR; break;
        case CFS_FT_BLK: type = S_IFBLK; break;
        case CFS_FT_FIFO: type = S_IFIFO; break;
        case CFS_FT_SOCK: type = S_IFSOCK; break;
        default: r = -EINVAL; goto out;
        }
        if (!(op->sattr.mask & CFS_SET_MODE))
            mode = 0644;
        dev_t dev = type == S_IFCHR || type == S_IFBLK ? makedev(op->rdev_major, op->rdev_minor)
                                                        : 0;
        r = mknodat(d->fd, op->name, type | mode, dev) < 0 ? -errno : 0;
        break;
    }
    case CFS_VOP_SYMLINK:
        if (!op->target || !*op->target) {
            r = -EINVAL;
            goto out;
        }
        if (strnlen(op->target, 4096) >= 4096) {
            r = -ENAMETOOLONG;
            goto out;
        }
        r = symlinkat(op->target, d->fd, op->name) < 0 ? -errno : 0;
        break;
    default:
        r = -EINVAL;
        break;
    }
    if (r < 0)
        goto out;
    if ((r = child_handle(px, d->fd, d->ino, op->name, op)) < 0)
        goto out;
    /* the umask may have cut the mode asked for: set it exactly */
    if (!existed && op->op != CFS_VOP_SYMLINK && (op->sattr.mask & CFS_SET_MODE) &&
        op->attr.mode != mode) {
        char path[32];
        struct cfs__fdc_ent *c = cfs__fdc_get(px->paths, &op->out_fh, 1u + op->out_fh.len);
        if (c) {
            px_procpath(path, c->fd);
            if (chmod(path, mode) < 0)
                r = -errno;
            else
                px_statx(px, c->fd, NULL, &op->attr);
            cfs__fdc_put(px->paths, c);
        }
    }
    cfs__cred_leave();
    cred = false;
    if (r == 0 && op->how != CFS_CREATE_EXCLUSIVE)
        r = apply_sattr(px, op, (existed ? CFS_SET_MODE : 0) | CFS_SET_UID | CFS_SET_GID |
                                    CFS_SET_SIZE | CFS_SET_ATIME | CFS_SET_MTIME |
                                    CFS_SET_ATIME_NOW | CFS_SET_MTIME_NOW);
out:
    if (cred)
        cfs__cred_leave();
    if (d) {
        cfs__attr_forget(px->id, d->ino); /* before the stat: see cfs__attr_put */
        if (px_statx(px, d->fd, NULL, &op->dir_attr) == 0)
            op->has_dir_attr = true;
        cfs__fdc_put(px->paths, d);
    }
    return r;
}

int px_readlink(struct px *px, struct cfs_vfs_op *op)
{
    struct cfs__fdc_ent *e;
    if (!op->rbuf || op->length == 0)
        return -EINVAL;
    int r = px_resolve(px, &op->fh, &e);
    if (r < 0)
        return r;
    ssize_t n = readlinkat(e->fd, "", op->rbuf, op->length);
    if (n < 0)
        r = errno == ENOENT ? -EINVAL : -errno;
    else if ((uint64_t)n == op->length)
        r = -ENAMETOOLONG; /* maybe truncated */
    else
        op->count = (uint64_t)n;
    if (px_attr(px, e, &op->attr) == 0)
        op->has_attr = true;
    cfs__fdc_put(px->paths, e);
    return r;
}

int px_link(struct px *px, struct cfs_vfs_op *op)
{
    struct cfs__fdc_ent *f = NULL, *d = NULL;
    char path[32];
    int r = px_same_export(px, &op->fh, &op->fh2);
    if (r < 0)
        return r;
    if ((r = name_ok(op->name2)) < 0)
        return r;
    if ((r = px_resolve(px, &op->fh, &f)) < 0)
        return r;
    if ((r = px_resolve(px, &op->fh2, &d)) < 0)
        goto out;
    if ((r = px_statx(px, d->fd, NULL, &op->pre2)) < 0)
        goto out;
    op->has_pre2 = true;
    if (op->pre2.type != CFS_FT_DIR) {
        r = -ENOTDIR;
        goto out;
    }
    px_procpath(path, f->fd);
    if ((r = px_cred_enter(px, op)) < 0)
        goto out;
    if (linkat(AT_FDCWD, path, d->fd, op->name2, AT_SYMLINK_FOLLOW) < 0)
        r = -errno;
    cfs__cred_leave();
    cfs__attr_forget(px->id, f->ino);
    if (px_statx(px, f->fd, NULL, &op->attr) == 0)
        op->has_attr = true;
    cfs__attr_forget(px->id, d->ino);
    if (px_statx(px, d->fd, NULL, &op->dir2_attr) == 0)
        op->has_dir2_attr = true;
out:
    cfs__fdc_put(px->paths, f);
    cfs__fdc_put(px->paths, d);
    return r;
}

int px_remove(struct px *px, struct cfs_vfs_op *op)
{
    struct cfs__fdc_ent *d = NULL;
    struct stat st;
    int r = px_check_name(op->name);
    if (r < 0)
        return r;
    if (strcmp(op->name, ".") == 0 || strcmp(op->name, "..") == 0)
        return op->op == CFS_VOP_RMDIR && op->name[1] ? -ENOTEMPTY : -EINVAL;
    if ((r = px_resolve(px, &op->fh, &d)) < 0)
        return r;
    if ((r = px_statx(px, d->fd, NULL, &op->pre)) < 0)
        goto out;
    op->has_pre = true;
    if (op->pre.type != CFS_FT_DIR) {
        r = -ENOTDIR;
        goto out;
    }
    if ((r = px_cred_enter(px, op)) < 0)
        goto out;
    if (fstatat(d->fd, op->name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        r = -errno;
    else if (unlinkat(d->fd, op->name, op->op == CFS_VOP_RMDIR ? AT_REMOVEDIR : 0) < 0)
        r = -errno;
    cfs__cred_leave();
    if (r == 0) {
        px_forget(px, st.st_ino, false);
        px_index_forget(px, d->ino, op->name, st.st_ino);
    }
    cfs__attr_forget(px->id, d->ino);
    if (px_statx(px, d->fd, NULL, &op->dir_attr) == 0)
        op->has_dir_attr = true;
out:
    cfs__fdc_put(px->paths, d);
    return r;
}

int px_rename(struct px *px, struct cfs_vfs_op *op)
{
    struct cfs__fdc_ent *a = NULL, *b = NULL;
    struct stat src, dst;
    bool had_dst = false;
    int r = px_same_export(px, &op->fh, &op->fh2);
    if (r < 0)
        return r;
    if ((r = px_check_name(op->name)) < 0 || (r = px_check_name(op->name2)) < 0)
        return r;
    if (!strcmp(op->name, ".") || !strcmp(op->name, "..") || !strcmp(op->name2, ".") ||
        !strcmp(op->name2, ".."))
        return -EINVAL;
    if ((r = px_resolve(px, &op->fh, &a)) < 0)
        return r;
    if ((r = px_resolve(px, &op->fh2, &b)) < 0)
        goto out;
    if ((r = px_statx(px, a->fd, NULL, &op->pre)) < 0 ||
        (r = px_statx(px, b->fd, NULL, &op->pre2)) < 0)
        goto out;
    op->has_pre = op->has_pre2 = true;
    if (op->pre.type != CFS_FT_DIR || op->pre2.type != CFS_FT_DIR) {
        r = -ENOTDIR;
        goto out;
    }
    if ((r = px_cred_enter(px, op)) < 0)
        goto out;
    if (fstatat(a->fd, op->name, &src, AT_SYMLINK_NOFOLLOW) < 0) {
        r = -errno;
    } else {
        had_dst = fstatat(b->fd, op->name2, &dst, AT_SYMLINK_NOFOLLOW) == 0;
        if (renameat(a->fd, op->name, b->fd, op->name2) < 0)
            r = -errno;
    }
    cfs__cred_leave();
    if (r == 0) {
        cfs__attr_forget(px->id, src.st_ino);
        if (had_dst && dst.st_ino != src.st_ino) {
            px_forget(px, dst.st_ino, false);
            px_index_forget(px, b->ino, op->name2, dst.st_ino);
        }
        px_index_note(px, b->ino, op->name2, src.st_ino);
    }
    cfs__attr_forget(px->id, a->ino);
    cfs__attr_forget(px->id, b->ino);
    if (px_statx(px, a->fd, NULL, &op->dir_attr) == 0)
        op->has_dir_attr = true;
    if (px_statx(px, b->fd, NULL, &op->dir2_attr) == 0)
        op->has_dir2_attr = true;
out:
    cfs__fdc_put(px->paths, a);
    cfs__fdc_put(px->paths, b);
    return r;
}
