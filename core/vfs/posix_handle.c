/*
 * core/vfs/posix_handle.c - posix backend: export roots, file handles (kernel handles
 * from name_to_handle_at, resolved with open_by_handle_at into cached O_PATH fds),
 * confinement checks, LOOKUP and LOOKUP_PATH, and the dispatch table.
 *
 * Confinement: a name is one component, resolved with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV) from its directory's fd, so "..", absolute or
 * escaping symlinks and magic links cannot leave it; ".." is answered by the VFS itself
 * (the root's parent is the root). A handle is sealed with the export id, and a
 * directory reached through a handle must still have the export root as an ancestor.
 */
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "posix.h"

#define KH_MAX (CFS__FH_PAYLOAD_MAX - 1) /* payload: [handle_type][handle bytes] */

int px_check_name(const char *name)
{
    if (!name || !*name)
        return -EINVAL;
    size_t n = strnlen(name, 256);
    if (n > 255)
        return -ENAMETOOLONG;
    if (memchr(name, '/', n))
        return -EINVAL;
    return 0;
}

void px_procpath(char buf[32], int fd)
{
    snprintf(buf, 32, "/proc/self/fd/%d", fd);
}

static int openat2_one(int dirfd, const char *name, int flags)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
    };
    long fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
    if (fd < 0)
        return errno == EXDEV ? -EACCES : -errno;
    return (int)fd;
}

int px_fh_of(struct px *px, int dirfd, const char *name, struct cfs_fh *out)
{
    if (px->idx) {
        if (!name)
            return px_index_fh(px, dirfd, out);
        int fd = strcmp(name, "..") == 0
                     ? openat(dirfd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC)
                     : openat2_one(dirfd, name, O_PATH), r;
        if (fd < 0 && errno && strcmp(name, "..") == 0)
            fd = -errno;
        if (fd < 0)
            return fd;
        r = px_index_fh(px, fd, out);
        close(fd);
        return r;
    }
    struct {
        struct file_handle fh;
        unsigned char bytes[KH_MAX];
    } h;
    int mnt = 0;
    h.fh.handle_bytes = KH_MAX;
    int flags = name ? 0 : AT_EMPTY_PATH; /* never follows a final symlink */
    if (name_to_handle_at(dirfd, name ? name : "", &h.fh, &mnt, flags) < 0)
        return errno == EOVERFLOW ? -EOVERFLOW : -errno;
    if (h.fh.handle_type < 0 || h.fh.handle_type > 255 || h.fh.handle_bytes > KH_MAX)
        return -EOVERFLOW;
    uint8_t payload[CFS__FH_PAYLOAD_MAX];
    payload[0] = (uint8_t)h.fh.handle_type;
    memcpy(payload + 1, h.fh.f_handle, h.fh.handle_bytes);
    return cfs__fh_seal(px->id, payload, 1 + h.fh.handle_bytes, out);
}

void px_attr_from_statx(struct px *px, const struct statx *st, struct cfs_attr *a)
{
    memset(a, 0, sizeof(*a));
    switch (st->stx_mode & S_IFMT) {
    case S_IFDIR: a->type = CFS_FT_DIR; break;
    case S_IFLNK: a->type = CFS_FT_LNK; break;
    case S_IFBLK: a->type = CFS_FT_BLK; break;
    case S_IFCHR: a->type = CFS_FT_CHR; break;
    case S_IFSOCK: a->type = CFS_FT_SOCK; break;
    case S_IFIFO: a->type = CFS_FT_FIFO; break;
    default: a->type = CFS_FT_REG; break;
    }
    a->mode = st->stx_mode & 07777;
    a->nlink = st->stx_nlink;
    a->uid = st->stx_uid;
    a->gid = st->stx_gid;
    a->size = st->stx_size;
    a->used = st->stx_blocks * 512u;
    a->rdev_major = st->stx_rdev_major;
    a->rdev_minor = st->stx_rdev_minor;
    a->fsid = px->id;
    a->fileid = st->stx_ino;
    a->atime = (struct timespec){ st->stx_atime.tv_sec, st->stx_atime.tv_nsec };
    a->mtime = (struct timespec){ st->stx_mtime.tv_sec, st->stx_mtime.tv_nsec };
    a->ctime = (struct timespec){ st->stx_ctime.tv_sec, st->stx_ctime.tv_nsec };
    if (st->stx_mask & STATX_BTIME)
        a->btime = (struct timespec){ st->stx_btime.tv_sec, st->stx_btime.tv_nsec };
    else
        a->btime = a->ctime;
    a->change = (uint64_t)st->stx_ctime.tv_sec * 1000000000u + st->stx_ctime.tv_nsec;
}

/* statx of an fd: a NULL path (Linux >= 6.11) skips copying "" from user space. */
int px_statx_fd(int fd, struct statx *st)
{
    static _Atomic int null_ok = 1;
    const unsigned mask = STATX_BASIC_STATS | STATX_BTIME;
    const int flags = AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW;
    if (atomic_load_explicit(&null_ok, memory_order_relaxed)) {
        if (syscall(SYS_statx, fd, NULL, flags, mask, st) == 0)
            return 0;
        if (errno != EFAULT && errno != EINVAL)
            return -errno;
        atomic_store(&null_ok, 0);
    }
    return statx(fd, "", flags, mask, st) < 0 ? -errno : 0;
}

int px_statx(struct px *px, int dirfd, const char *name, struct cfs_attr *out)
{
    struct statx st;
    uint64_t gen = cfs__attr_gen();
    if (!name) {
        int r = px_statx_fd(dirfd, &st);
        if (r < 0)
            return r;
    } else if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, &st) < 0) {
        return -errno;
    }
    if (st.stx_nlink == 0 && !name)
        return -ESTALE; /* open but deleted */
    px_attr_from_statx(px, &st, out);
    cfs__attr_put(px->id, out, gen);
    return 0;
}

int px_attr(struct px *px, struct cfs__fdc_ent *e, struct cfs_attr *out)
{
    if (cfs__attr_get(px->id, e->ino, out))
        return 0;
    int r = px_statx(px, e->fd, NULL, out);
    if (r == -ESTALE)
        px_forget(px, e->ino, false);
    return r;
}

void px_forget(struct px *px, uint64_t ino, bool files_only)
{
    cfs__attr_forget(px->id, ino);
    cfs__fdc_forget_ino(px->files, ino);
    if (!files_only)
        cfs__fdc_forget_ino(px->paths, ino);
}

int px_cred_enter(struct px *px, const struct cfs_vfs_op *op)
{
    struct cfs_cred c;
    cfs__export_map_cred(px->exp, op->cred, &c);
    return cfs__cred_enter(&c);
}

int px_same_export(struct px *px, const struct cfs_fh *a, const struct cfs_fh *b)
{
    cfs_export *ea = cfs__vfs_api()->export_from_fh(a);
    cfs_export *eb = cfs__vfs_api()->export_from_fh(b);
    if (!eb)
        return b->len >= CFS__FH_HDR + CFS__FH_MAC && b->data[0] == CFS__FH_VERSION
                   ? -ESTALE : CFS_EBADHANDLE;
    if (ea != eb || cfs__vfs_export_id(eb) != px->id)
        return -EXDEV;
    return 0;
}

/* Is the directory `fd` (not the root) still below the export root? */
static int px_below_root(struct px *px, int fd)
{
    int cur = fcntl(fd, F_DUPFD_CLOEXEC, 0), r = -ESTALE;
    struct stat st;
    if (cur < 0)
        return -errno;
    for (int depth = 0; depth < 4096; depth++) {
        int up = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (up < 0) {
            r = -errno;
            break;
        }
        close(cur);
        cur = up;
        if (fstat(cur, &st) < 0) {
            r = -errno;
            break;
        }
        if (st.st_dev == px->dev && st.st_ino == px->root_ino) {
            r = 0;
            break;
        }
        if (st.st_ino == 2 || st.st_dev != px->dev) { /* reached a filesystem root */
            struct stat p;
            if (fstatat(cur, "..", &p, 0) == 0 && p.st_ino == st.st_ino &&
                p.st_dev == st.st_dev)
                break;
        }
    }
    close(cur);
    return r;
}

int px_resolve(struct px *px, const struct cfs_fh *fh, struct cfs__fdc_ent **out)
{
    if (fh->len > CFS_FH_MAX)
        return CFS_EBADHANDLE;
    struct cfs__fdc_ent *e = cfs__fdc_get(px->paths, fh, 1u + fh->len);
    struct {
        struct file_handle fh;
        unsigned char bytes[KH_MAX];
    } h;
    struct cfs_attr a;
    uint32_t id;
    const uint8_t *p;
    size_t plen;
    int fd = -1, r;
    if (e) {
        *out = e;
        return 0;
    }
    r = cfs__fh_open(fh, &id, &p, &plen);
    if (r < 0)
        return r;
    if (id != px->id)
        return -ESTALE;
    if (px->idx) {
        if ((r = px_index_resolve(px, p, plen, &fd)) < 0)
            goto out;
    } else {
        if (plen < 2 || plen - 1 > KH_MAX)
            return CFS_EBADHANDLE;
        h.fh.handle_type = p[0];
        h.fh.handle_bytes = (unsigned)(plen - 1);
        memcpy(h.fh.f_handle, p + 1, plen - 1);
        fd = open_by_handle_at(px->mount_fd, &h.fh, O_PATH | O_CLOEXEC);
        /* The kernel's ENOMEM here is transient (an allocation while decoding the
         * handle under memory pressure): try again before answering. */
        for (int tries = 0; fd < 0 && errno == ENOMEM && tries < 3; tries++) {
            sched_yield();
            fd = open_by_handle_at(px->mount_fd, &h.fh, O_PATH | O_CLOEXEC);
        }
        if (fd < 0) {
            r = errno == ENOMEM || errno == EMFILE || errno == ENFILE ? -errno : -ESTALE;
            goto out;
        }
    }
    struct statx st;
    uint64_t gen = cfs__attr_gen();
    if ((r = px_statx_fd(fd, &st)) < 0)
        goto out;
    if (st.stx_nlink == 0 || makedev(st.stx_dev_major, st.stx_dev_minor) != px->dev) {
        r = -ESTALE;
        goto out;
    }
    if (!px->idx && S_ISDIR(st.stx_mode) && st.stx_ino != px->root_ino &&
        (r = px_below_root(px, fd)) < 0)
        goto out;
    px_attr_from_statx(px, &st, &a);
    cfs__attr_put(px->id, &a, gen);
    e = cfs__fdc_add(px->paths, fh, 1u + fh->len, fd, st.stx_ino);
    fd = -1;
    if (!e) {
        r = -ENOMEM;
        goto out;
    }
    *out = e;
    r = 0;
out:
    if (fd >= 0)
        close(fd);
    return r;
}

/* A new O_PATH fd joins the cache under its handle (ownership of fd moves). */
static int px_adopt(struct px *px, int fd, struct cfs_fh *fh, struct cfs_attr *attr)
{
    int r = px_fh_of(px, fd, NULL, fh);
    if (r == 0)
        r = px_statx(px, fd, NULL, attr);
    if (r < 0) {
        close(fd);
        return r;
    }
    px_hc_note(px, attr, fh); /* a listing later finds its handle without a call */
    cfs__fdc_put(px->paths, cfs__fdc_add(px->paths, fh, 1u + fh->len, fd, attr->fileid));
    return 0;
}

/* One step from dirfd (a directory below the root, inode dir_ino); new O_PATH fd. */
static int px_step(struct px *px, int dirfd, uint64_t dir_ino, const char *name)
{
    int fd;
    if (strcmp(name, ".") == 0 || (strcmp(name, "..") == 0 && dir_ino == px->root_ino)) {
        if (strcmp(name, ".") == 0) {
            /* still needs search permission, as the kernel would check */
            fd = openat2_one(dirfd, ".", O_PATH | O_DIRECTORY);
            return fd;
        }
        fd = openat2_one(dirfd, ".", O_PATH | O_DIRECTORY);
        if (fd >= 0) {
            close(fd);
            fd = fcntl(px->root_fd, F_DUPFD_CLOEXEC, 0);
            if (fd < 0)
                fd = -errno;
        }
        return fd;
    }
    if (strcmp(name, "..") == 0) {
        fd = openat(dirfd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
    }
    return openat2_one(dirfd, name, O_PATH);
}

int px_lookup(struct px *px, struct cfs_vfs_op *op)
{
    struct cfs__fdc_ent *d = NULL;
    int r = px_check_name(op->name), fd = -1;
    bool cred = false;
    if (r < 0)
        return r;
    if ((r = px_resolve(px, &op->fh, &d)) < 0)
        return r;
    if ((r = px_attr(px, d, &op->dir_attr)) < 0)
        goto out;
    op->has_dir_attr = true;
    if (op->dir_attr.type != CFS_FT_DIR) {
        r = -ENOTDIR;
        goto out;
    }
    if ((r = px_cred_enter(px, op)) < 0)
        goto out;
    cred = true;
    fd = px_step(px, d->fd, d->ino, op->name);
    cfs__cred_leave();
    cred = false;
    if (fd < 0) {
        r = fd;
        goto out;
    }
    r = px_adopt(px, fd, &op->out_fh, &op->attr);
    fd = -1;
    if (r == 0) {
        op->has_attr = true;
        px_index_note(px, d->ino, op->name, op->attr.fileid);
    }
out:
    if (cred)
        cfs__cred_leave();
    cfs__fdc_put(px->paths, d);
    return r;
}

int px_lookup_path(struct px *px, struct cfs_vfs_op *op)
{
    struct cfs__fdc_ent *d = NULL;
    char comp[256];
    int r, cur = -1;
    bool cred = false;
    if (!op->name || strnlen(op->name, 4097) > 4096)
        return op->name ? -ENAMETOOLONG : -EINVAL;
    if ((r = px_resolve(px, &op->fh, &d)) < 0)
        return r;
    cur = fcntl(d->fd, F_DUPFD_CLOEXEC, 0);
    uint64_t cur_ino = d->ino;
    if (cur < 0) {
        r = -errno;
        goto out;
    }
    if ((r = px_cred_enter(px, op)) < 0)
        goto out;
    cred = true;
    const char *s = op->name;
    while (*s) {
        const char *slash = strchr(s, '/');
        size_t n = slash ? (size_t)(slash - s) : strlen(s);
        const char *next = slash ? slash + 1 : s + n;
        if (n == 0) {
            s = next;
            continue;
        }
        if (n > 255) {
            r = -ENAMETOOLONG;
            goto out;
        }
        memcpy(comp, s, n);
        comp[n] = 0;
        struct stat st;
        if (fstat(cur, &st) < 0) {
            r = -errno;
            goto out;
        }
        if (!S_ISDIR(st.st_mode)) {
            r = -ENOTDIR;
            goto out;
        }
        int fd = px_step(px, cur, cur_ino, comp);
        if (fd < 0) {
            r = fd;
            goto out;
        }
        close(cur);
        cur = fd;
        if (fstat(cur, &st) < 0) {
            r = -errno;
            goto out;
        }
        px_index_note(px, cur_ino, comp, st.st_ino);
        cur_ino = st.st_ino;
        s = next;
    }
    cfs__cred_leave();
    cred = false;
    r = px_adopt(px, cur, &op->out_fh, &op->attr);
    cur = -1;
    if (r == 0)
        op->has_attr = true;
out:
    if (cred)
        cfs__cred_leave();
    if (cur >= 0)
        close(cur);
    cfs__fdc_put(px->paths, d);
    return r;
}

/* ---- the backend table ---- */
static int px_export_open(cfs_export *exp, const char *path, const char *spec, void **ctx)
{
    struct px *px = calloc(1, sizeof(*px));
    struct stat st;
    int r = 0, fd = -1;
    if (!px)
        return -ENOMEM;
    px->exp = exp;
    px->id = cfs__vfs_export_id(exp);
    px->mount_fd = -1;
    px->root_fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (px->root_fd < 0) {
        r = -errno;
        goto out;
    }
    /* open_by_handle_at wants a real (not O_PATH) fd on the mount */
    px->mount_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (px->mount_fd < 0) {
        r = -errno;
        goto out;
    }
    if (fstat(px->root_fd, &st) < 0) {
        r = -errno;
        goto out;
    }
    px->dev = st.st_dev;
    px->root_ino = st.st_ino;
    px->paths = cfs__fdc_new();
    px->files = cfs__fdc_new();
    if (!px->paths || !px->files) {
        r = -ENOMEM;
        goto out;
    }
    /* Kernel handles when open_by_handle_at works (it needs CAP_DAC_READ_SEARCH and is
     * EPERM in some containers), else the inode index (posix_index.c). */
    int mode = cfs__export_opts(exp)->handles;
    struct cfs__fdc_ent *e = NULL;
    if (mode != CFS__HANDLES_INDEX) {
        r = px_fh_of(px, px->root_fd, NULL, &px->root_fh);
        if (r == 0)
            r = px_resolve(px, &px->root_fh, &e);
        cfs__fdc_put(px->paths, e);
        e = NULL;
        cfs__fdc_flush(px->paths);
        if (r < 0 && mode == CFS__HANDLES_KERNEL) {
            cfs__vfs_log(CFS_LOG_ERROR, "%s: expected open_by_handle_at to work (root with "
                         "CAP_DAC_READ_SEARCH), found %s", path, strerror(-r));
            goto out;
        }
        if (r < 0)
            cfs__vfs_log(CFS_LOG_NOTICE, "%s: kernel file handles unusable (%s): using the "
                         "inode index", path, strerror(-r));
    }
    if (mode == CFS__HANDLES_INDEX || r < 0) {
        if ((r = px_index_open(px, cfs__vfs_state_dir())) < 0 ||
            (r = px_fh_of(px, px->root_fd, NULL, &px->root_fh)) < 0 ||
            (r = px_resolve(px, &px->root_fh, &e)) < 0)
            goto out;
        cfs__fdc_put(px->paths, e);
    }
    *ctx = px;
out:
    if (fd >= 0)
        close(fd);
    if (r < 0) {
        cfs__fdc_free(px->paths);
        cfs__fdc_free(px->files);
        if (px->root_fd >= 0)
            close(px->root_fd);
        if (px->mount_fd >= 0)
            close(px->mount_fd);
        px_index_close(px);
        free(px);
    }
    return r;
}

static void px_export_close(void *ctx)
{
    struct px *px = ctx;
    px_ds_flush(px->id); /* directory streams kept between READDIR calls */
    cfs__fdc_free(px->paths);
    cfs__fdc_free(px->files);
    close(px->root_fd);
    close(px->mount_fd);
    px_index_close(px);
    free(px);
}

static int px_root_fh(void *ctx, struct cfs_fh *out)
{
    struct px *px = ctx;
    *out = px->root_fh;
    return 0;
}

/*
 * Health probe: the root is still there and its configured path still leads to it (an
 * export directory renamed away, deleted or replaced is reported, though the open fd
 * would keep working): -ENOENT or -ESTALE.
 */
static int px_probe(void *ctx)
{
    struct px *px = ctx;
    struct stat st;
    const char *path = cfs__vfs_api()->export_path(px->exp);

    if (fstat(px->root_fd, &st) < 0)
        return -errno;
    if (!path)
        return 0;
    if (stat(path, &st) < 0)
        return -errno;
    if (st.st_dev != px->dev || (uint64_t)st.st_ino != px->root_ino)
        return -ESTALE;
    return 0;
}

static void px_flush(void *ctx)
{
    struct px *px = ctx;
    px_ds_flush(px->id);
    cfs__fdc_flush(px->paths);
    cfs__fdc_flush(px->files);
}

static int px_exec(void *ctx, struct cfs_vfs_op *op)
{
    struct px *px = ctx;
    switch (op->op) {
    case CFS_VOP_LOOKUP: return px_lookup(px, op);
    case CFS_VOP_LOOKUP_PATH: return px_lookup_path(px, op);
    case CFS_VOP_GETATTR: return px_getattr(px, op);
    case CFS_VOP_SETATTR: return px_setattr(px, op);
    case CFS_VOP_ACCESS: return px_access(px, op);
    case CFS_VOP_READ: return px_read(px, op);
    case CFS_VOP_WRITE: return px_write(px, op);
    case CFS_VOP_COMMIT: return px_commit(px, op);
    case CFS_VOP_CREATE: case CFS_VOP_MKDIR: case CFS_VOP_MKNOD: case CFS_VOP_SYMLINK:
        return px_create(px, op);
    case CFS_VOP_READLINK: return px_readlink(px, op);
    case CFS_VOP_LINK: return px_link(px, op);
    case CFS_VOP_UNLINK: case CFS_VOP_RMDIR: return px_remove(px, op);
    case CFS_VOP_RENAME: return px_rename(px, op);
    case CFS_VOP_READDIR: return px_readdir(px, op);
    case CFS_VOP_STATFS: return px_statfs(px, op);
    case CFS_VOP_GETXATTR: case CFS_VOP_SETXATTR: case CFS_VOP_LISTXATTR:
    case CFS_VOP_REMOVEXATTR:
        return px_xattr(px, op);
    case CFS_VOP_FALLOCATE: return px_fallocate(px, op);
    case CFS_VOP_SEEK: return px_seek(px, op);
    case CFS_VOP_COPY: return px_copy(px, op);
    case CFS_VOP_CLONE: return px_clone(px, op);
    case CFS_VOP_OPENFD: return px_openfd(px, op);
    default: return CFS_ENOTSUP;
    }
}

/* GETATTR of an object whose fd and attributes are cached: no syscall, no blocking. */
static int px_try_fast(void *ctx, struct cfs_vfs_op *op)
{
    struct px *px = ctx;
    if (op->op != CFS_VOP_GETATTR || op->fh.len > CFS_FH_MAX || (op->flags & CFS_ATTR_FRESH))
        return 0;
    struct cfs__fdc_ent *e = cfs__fdc_get(px->paths, &op->fh, 1u + op->fh.len);
    if (!e)
        return 0;
    bool hit = cfs__attr_get(px->id, e->ino, &op->attr);
    cfs__fdc_put(px->paths, e);
    if (!hit)
        return 0;
    op->has_attr = true;
    op->status = 0;
    return 1;
}

/*
 * Short on a local file system, so fit to run on the network loop: metadata calls (the
 * inode and dentry caches answer them, or one small journal update) and small unstable
 * WRITEs (a copy into the page cache), READs answered by descriptor (px_read_fd: when
 * the data is not cached it says so and the pool reads it). Not other READs (a cold
 * page waits for the disk), not
 * COMMIT or stable writes (a flush), not truncates, copies or fallocate (they scale with
 * the file's size).
 */
#define PX_INLINE_WRITE_MAX 65536u

static bool px_inline_ok(void *ctx, const struct cfs_vfs_op *op)
{
    (void)ctx;
    switch (op->op) {
    case CFS_VOP_LOOKUP: case CFS_VOP_GETATTR: case CFS_VOP_ACCESS: case CFS_VOP_CREATE:
    case CFS_VOP_MKDIR: case CFS_VOP_MKNOD: case CFS_VOP_SYMLINK: case CFS_VOP_READLINK:
    case CFS_VOP_LINK: case CFS_VOP_UNLINK: case CFS_VOP_RMDIR: case CFS_VOP_RENAME:
    case CFS_VOP_READDIR: case CFS_VOP_STATFS: case CFS_VOP_GETXATTR:
    case CFS_VOP_SETXATTR: case CFS_VOP_LISTXATTR: case CFS_VOP_REMOVEXATTR:
        return true;
    case CFS_VOP_SETATTR:
        return !(op->sattr.mask & CFS_SET_SIZE);
    case CFS_VOP_WRITE:
        return op->stable == CFS_UNSTABLE && op->length <= PX_INLINE_WRITE_MAX;
    case CFS_VOP_READ: /* only a descriptor is handed out; uncached data: -EWOULDBLOCK */
        return (op->flags & CFS_READ_FD) != 0;
    default:
        return false;
    }
}

static void px_release(void *ctx, struct cfs_vfs_op *op)
{
    (void)ctx;
    (void)op; /* op->priv[0] is one malloc'd block, freed by the core */
}

const struct cfs__vfs_backend cfs__posix_backend = {
    .name = "posix",
    .export_open = px_export_open,
    .export_close = px_export_close,
    .root_fh = px_root_fh,
    .exec = px_exec,
    .release = px_release,
    .probe = px_probe,
    .flush = px_flush,
    .try_fast = px_try_fast,
    .inline_ok = px_inline_ok,
};
