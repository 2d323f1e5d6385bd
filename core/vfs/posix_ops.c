/*
 * core/vfs/posix_ops.c - posix backend: attributes (getattr, setattr with a ctime
 * guard, access), data (read, write with stability, commit), space (statfs,
 * fallocate/punch hole, SEEK_DATA/SEEK_HOLE), copy_file_range, FICLONERANGE and OPENFD.
 * Data goes through fds opened as the caller (so the kernel checks the open) and kept in
 * a cache keyed by handle, open mode and caller.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "posix.h"

int px_file(struct px *px, const struct cfs_vfs_op *op, const struct cfs_fh *fh, int accmode,
            struct cfs__fdc_ent **out)
{
    struct cfs_cred c;
    uint8_t key[96];
    size_t k = 0;
    struct cfs__fdc_ent *d = NULL;
    struct cfs_attr a;
    int r, fd;

    if (fh->len > CFS_FH_MAX)
        return CFS_EBADHANDLE;
    cfs__export_map_cred(px->exp, op->cred, &c);
    uint64_t gh = 0xcbf29ce484222325ULL;
    for (uint32_t i = 0; i < c.ngroups; i++)
        gh = (gh ^ c.groups[i]) * 0x100000001b3ULL;
    key[k++] = fh->len;
    memcpy(key + k, fh->data, fh->len);
    k += fh->len;
    key[k++] = (uint8_t)accmode;
    memcpy(key + k, &c.uid, 4);
    k += 4;
    memcpy(key + k, &c.gid, 4);
    k += 4;
    memcpy(key + k, &gh, 8);
    k += 8;
    if ((*out = cfs__fdc_get(px->files, key, k)))
        return 0;
    if ((r = px_resolve(px, fh, &d)) < 0)
        return r;
    if ((r = px_attr(px, d, &a)) < 0)
        goto out;
    if (a.type == CFS_FT_DIR) {
        r = -EISDIR;
        goto out;
    }
    if (a.type != CFS_FT_REG) {
        r = -EINVAL;
        goto out;
    }
    char path[32];
    px_procpath(path, d->fd);
    if ((r = cfs__cred_enter(&c)) < 0)
        goto out;
    fd = open(path, accmode | O_CLOEXEC | O_NOCTTY);
    r = fd < 0 ? -errno : 0;
    cfs__cred_leave();
    if (r < 0)
        goto out;
    *out = cfs__fdc_add(px->files, key, k, fd, d->ino);
    if (!*out)
        r = -ENOMEM;
out:
    cfs__fdc_put(px->paths, d);
    return r;
}

int px_getattr(struct px *px, struct cfs_vfs_op *op)
{
    struct cfs__fdc_ent *e;
    int r = px_resolve(px, &op->fh, &e);
    if (r < 0)
        return r;
    r = (op->flags & CFS_ATTR_FRESH) ? px_statx(px, e->fd, NULL, &op->attr)
                                     : px_attr(px, e, &op->attr);
    op->has_attr = r == 0;
    cfs__fdc_put(px->paths, e);
    return r;
}

static struct timespec set_time(uint32_t mask, uint32_t set, uint32_t now,
                                struct timespec to)
{
    if (mask & now)
        return (struct timespec){ 0, UTIME_NOW };
    if (mask & set)
        return to;
    return (struct timespec){ 0, UTIME_OMIT };
}

int px_setattr(struct px *px, struct cfs_vfs_op *op)
{
    struct cfs__fdc_ent *e;
    const struct cfs_sattr *s = &op->sattr;
    char path[32];
    bool cred = false;
    int r = px_resolve(px, &op->fh, &e);
    if (r < 0)
        return r;
    if ((r = px_statx(px, e->fd, NULL, &op->pre)) < 0)
        goto out;
    op->has_pre = true;
    if (op->use_guard && (op->pre.ctime.tv_sec != op->guard_ctime.tv_sec ||
                          op->pre.ctime.tv_nsec != op->guard_ctime.tv_nsec)) {
        r = CFS_ENOTSYNC;
        goto out;
    }
    px_procpath(path, e->fd);
    if ((r = px_cred_enter(px, op)) < 0)
        goto out;
    cred = true;
    if (s->mask & CFS_SET_SIZE) {
        if (op->pre.type == CFS_FT_DIR) {
            r = -EISDIR;
            goto out;
        }
        if (op->pre.type != CFS_FT_REG) {
            r = -EINVAL;
            goto out;
        }
        if (s->size > (uint64_t)LLONG_MAX) {
            r = -EFBIG;
            goto out;
        }
        if (truncate(path, (off_t)s->size) < 0) {
            r = -errno;
            goto out;
        }
    }
    if (s->mask & (CFS_SET_UID | CFS_SET_GID)) {
        uid_t u = s->mask & CFS_SET_UID ? s->uid : (uid_t)-1;
        gid_t g = s->mask & CFS_SET_GID ? s->gid : (gid_t)-1;
        if (fchownat(e->fd, "", u, g, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
            r = -errno;
            goto out;
        }
    }
    if ((s->mask & CFS_SET_MODE) && op->pre.type != CFS_FT_LNK &&
        chmod(path, s->mode & 07777) < 0) {
        r = -errno;
        goto out;
    }
    if (s->mask & (CFS_SET_ATIME | CFS_SET_MTIME | CFS_SET_ATIME_NOW | CFS_SET_MTIME_NOW)) {
        struct timespec ts[2] = {
            set_time(s->mask, CFS_SET_ATIME, CFS_SET_ATIME_NOW, s->atime),
            set_time(s->mask, CFS_SET_MTIME, CFS_SET_MTIME_NOW, s->mtime),
        };
        if (utimensat(AT_FDCWD, path, ts, 0) < 0) {
            r = -errno;
            goto out;
        }
    }
out:
    if (cred)
        cfs__cred_leave();
    px_forget(px, e->ino, true);
    if (px_statx(px, e->fd, NULL, &op->attr) == 0)
        op->has_attr = true;
    cfs__fdc_put(px->paths, e);
    return r;
}

int px_access(struct px *px, struct cfs_vfs_op *op)
{
    struct cfs__fdc_ent *e;
    char path[32];
    int r = px_resolve(px, &op->fh, &e);
    uint32_t want = op->access & (R_OK | W_OK | X_OK), got = 0;
    if (r < 0)
        return r;
    if ((r = px_attr(px, e, &op->attr)) < 0)
        goto out;
    op->has_attr = true;
    px_procpath(path, e->fd);
    if ((r = px_cred_enter(px, op)) < 0)
        goto out;
    for (uint32_t bit = 1; bit <= 4; bit <<= 1) {
        if (!(want & bit))
            continue;
        if (op->attr.type == CFS_FT_LNK) { /* links are not checked by the kernel */
            got |= bit;
            continue;
        }
        if (syscall(SYS_faccessat2, AT_FDCWD, path, (int)bit, AT_EACCESS) == 0)
            got |= bit;
    }
    cfs__cred_leave();
    if (cfs__export_opts(px->exp)->read_only)
        got &= ~(uint32_t)W_OK;
    op->access = got;
out:
    cfs__fdc_put(px->paths, e);
    return r;
}

/* Is all of [off, off + len) of fd in the page cache? (mincore of a mapping: no I/O.) */
static bool px_resident(int fd, uint64_t off, uint64_t len)
{
    static long page;
    unsigned char vec[512];
    uint64_t start, span, pages;
    bool all = true;

    if (page == 0)
        page = sysconf(_SC_PAGESIZE);
    start = off & ~(uint64_t)(page - 1);
    span = off + len - start;
    pages = (span + (uint64_t)page - 1) / (uint64_t)page;
    if (pages > sizeof(vec))
        return false;
    void *m = mmap(NULL, (size_t)span, PROT_READ, MAP_SHARED, fd, (off_t)start);
    if (m == MAP_FAILED)
        return false;
    if (mincore(m, (size_t)span, vec) < 0)
        all = false;
    for (uint64_t i = 0; all && i < pages; i++)
        all = (vec[i] & 1) != 0;
    munmap(m, (size_t)span);
    return all;
}

/*
 * READ with CFS_READ_FD: answer with a descriptor when the range is cached (the caller
 * sends it with sendfile: no copy through a buffer). 1 = answered, 0 = read into rbuf
 * instead, -EWOULDBLOCK = not cached and running on a network loop (go to the pool).
 */
static int px_read_fd(struct px *px, struct cfs_vfs_op *op, struct cfs__fdc_ent *f)
{
    if (px_statx(px, f->fd, NULL, &op->attr) < 0 || op->attr.type != CFS_FT_REG)
        return 0;
    op->has_attr = true;
    op->count = op->offset >= op->attr.size ? 0 :
                op->attr.size - op->offset < op->length ? op->attr.size - op->offset :
                op->length;
    op->eof = op->offset + op->count >= op->attr.size;
    if (op->count == 0)
        return 1;
    if (!px_resident(f->fd, op->offset, op->count))
        return cfs__vfs_inline_now ? -EWOULDBLOCK : 0;
    op->fd = fcntl(f->fd, F_DUPFD_CLOEXEC, 0);
    return op->fd >= 0 ? 1 : 0;
}

#define PX_READ_FD_MIN 65536u

int px_read(struct px *px, struct cfs_vfs_op *op)
{
    struct cfs__fdc_ent *f;
    if (op->length > SSIZE_MAX || (op->length && !op->rbuf) || op->offset > (uint64_t)LLONG_MAX)
        return -EINVAL;
    int r = px_file(px, op, &op->fh, O_RDONLY, &f);
    if (r < 0)
        return r;
    if ((op->flags & CFS_READ_FD) && op->length >= PX_READ_FD_MIN &&
        (r = px_read_fd(px, op, f)) != 0) {
        r = r < 0 ? r : 0;
        goto out;
    }
    ssize_t n = pread(f->fd, op->rbuf, op->length, (off_t)op->offset);
    if (n < 0) {
        r = -errno;
        goto out;
    }
    op->count = (uint64_t)n;
    if (cfs__attr_get(px->id, f->ino, &op->attr) || px_statx(px, f->fd, NULL, &op->attr) == 0)
        op->has_attr = true;
    op->eof = op->offset + (uint64_t)n >= op->attr.size;
out:
    cfs__fdc_put(px->files, f);
    return r;
}

#define PX_WRITE_BEHIND_MIN (256u * 1024u)

int px_write(struct px *px, struct cfs_vfs_op *op)
{
    struct cfs__fdc_ent *f;
    if (op->length > SSIZE_MAX || (op->length && !op->wbuf) ||
        op->offset > (uint64_t)LLONG_MAX)
        return -EINVAL;
    int r = px_file(px, op, &op->fh, O_WRONLY, &f);
    if (r < 0)
        return r;
    if (!cfs__attr_get(px->id, f->ino, &op->pre) && px_statx(px, f->fd, NULL, &op->pre) < 0)
        memset(&op->pre, 0, sizeof(op->pre));
    else
        op->has_pre = true;
    int flags = op->stable == CFS_FILE_SYNC ? RWF_SYNC : op->stable == CFS_DATA_SYNC ? RWF_DSYNC
                                                                                     : 0;
    struct iovec iov = { (void *)(uintptr_t)op->wbuf, op->length };
    /* setuid/setgid bits are dropped by a write of a caller without CAP_FSETID: write
     * as the caller then (the fd itself was opened as the caller already) */
    bool cred = op->has_pre && (op->pre.mode & (S_ISUID | S_ISGID));
    if (cred && (r = px_cred_enter(px, op)) < 0)
        goto out;
    ssize_t n = pwritev2(f->fd, &iov, 1, (off_t)op->offset, flags);
    if (n < 0)
        r = -errno;
    if (cred)
        cfs__cred_leave();
    if (r < 0) {
        cfs__attr_forget(px->id, f->ino);
        goto out;
    }
    op->count = (uint64_t)n;
    op->committed = op->stable;
    cfs__write_verf(op->verf);
    /* Write-behind: start the write-back of a large unstable write now, so the COMMIT
     * that follows finds most of the data on disk already instead of flushing it all
     * (the disk works while the client still sends). Asynchronous: nothing waits. */
    if (op->stable == CFS_UNSTABLE && (uint64_t)n >= PX_WRITE_BEHIND_MIN)
        (void)sync_file_range(f->fd, (off_t)op->offset, (off_t)n, SYNC_FILE_RANGE_WRITE);
    /* Invalidate first: a stat racing this write must not cache the old size after
     * ours (cfs__attr_put drops results older than the last forget). */
    cfs__attr_forget(px->id, f->ino);
    if (px_statx(px, f->fd, NULL, &op->attr) == 0)
        op->has_attr = true;
out:
    cfs__fdc_put(px->files, f);
    return r;
}

int px_commit(struct px *px, struct cfs_vfs_op *op)
{
    struct cfs__fdc_ent *f;
    int r = px_file(px, op, &op->fh, O_WRONLY, &f);
    if (r == -EACCES)
        r = px_file(px, op, &op->fh, O_RDONLY, &f);
    if (r < 0)
        return r;
    if (px_statx(px, f->fd, NULL, &op->pre) == 0)
        op->has_pre = true;
    if (fdatasync(f->fd) < 0)
        r = -errno;
    cfs__write_verf(op->verf);
    if (px_statx(px, f->fd, NULL, &op->attr) == 0)
        op->has_attr = true;
    cfs__fdc_put(px->files, f);
    return r;
}

int px_statfs(struct px *px, struct cfs_vfs_op *op)
{
    struct cfs__fdc_ent *e;
    struct statfs s;
    int r = px_resolve(px, &op->fh, &e);
    if (r < 0)
        return r;
    if (fstatfs(e->fd, &s) < 0) {
        r = -errno;
        goto out;
    }
    uint64_t bs = s.f_frsize ? (uint64_t)s.f_frsize : (uint64_t)s.f_bsize;
    op->statfs.tbytes = s.f_blocks * bs;
    op->statfs.fbytes = s.f_bfree * bs;
    op->statfs.abytes = s.f_bavail * bs;
    op->statfs.tfiles = s.f_files;
    op->statfs.ffiles = s.f_ffree;
    op->statfs.afiles = s.f_ffree;
    op->statfs.namemax = (uint32_t)s.f_namelen;
    if (px_attr(px, e, &op->attr) == 0)
        op->has_attr = true;
out:
    cfs__fdc_put(px->paths, e);
    return r;
}

int px_fallocate(struct px *px, struct cfs_vfs_op *op)
{
    struct cfs__fdc_ent *f;
    if (op->offset > (uint64_t)LLONG_MAX || op->length > (uint64_t)LLONG_MAX || !op->length)
        return -EINVAL;
    int r = px_file(px, op, &op->fh, O_WRONLY, &f);
    if (r < 0)
        return r;
    if (px_statx(px, f->fd, NULL, &op->pre) == 0)
        op->has_pre = true;
    if (fallocate(f->fd, op->falloc_mode, (off_t)op->offset, (off_t)op->length) < 0)
        r = -errno;
    cfs__attr_forget(px->id, f->ino);
    if (px_statx(px, f->fd, NULL, &op->attr) == 0)
        op->has_attr = true;
    cfs__fdc_put(px->files, f);
    return r;
}

int px_seek(struct px *px, struct cfs_vfs_op *op)
{
    struct cfs__fdc_ent *f;
    if ((op->whence != SEEK_DATA && op->whence != SEEK_HOLE) ||
        op->offset > (uint64_t)LLONG_MAX)
        return -EINVAL;
    int r = px_file(px, op, &op->fh, O_RDONLY, &f);
    if (r < 0)
        return r;
    off_t o = lseek(f->fd, (off_t)op->offset, op->whence);
    if (px_statx(px, f->fd, NULL, &op->attr) == 0)
        op->has_attr = true;
    if (o < 0) {
        r = -errno;
        op->eof = r == -ENXIO;
    } else {
        op->seek_offset = (uint64_t)o;
        op->eof = (uint64_t)o >= op->attr.size;
    }
    cfs__fdc_put(px->files, f);
    return r;
}

int px_copy(struct px *px, struct cfs_vfs_op *op)
{
    struct cfs__fdc_ent *s = NULL, *d = NULL;
    int r = px_same_export(px, &op->fh, &op->fh2);
    if (r < 0)
        return r;
    if (op->offset > (uint64_t)LLONG_MAX || op->offset2 > (uint64_t)LLONG_MAX)
        return -EINVAL;
    if ((r = px_file(px, op, &op->fh, O_RDONLY, &s)) < 0)
        return r;
    if ((r = px_file(px, op, &op->fh2, O_WRONLY, &d)) < 0)
        goto out;
    if (px_statx(px, d->fd, NULL, &op->pre) == 0)
        op->has_pre = true;
    loff_t in = (loff_t)op->offset, outo = (loff_t)op->offset2;
    uint64_t left = op->length;
    if (left == 0) { /* to the end of the source */
        struct stat st;
        if (fstat(s->fd, &st) < 0) {
            r = -errno;
            goto out;
        }
        left = (uint64_t)st.st_size > op->offset ? (uint64_t)st.st_size - op->offset : 0;
    }
    op->count = 0;
    while (left > 0) {
        size_t chunk = left > (1u << 30) ? (1u << 30) : (size_t)left;
        ssize_t n = copy_file_range(s->fd, &in, d->fd, &outo, chunk, 0);
        if (n < 0) {
            r = -errno;
            break;
        }
        if (n == 0)
            break;
        op->count += (uint64_t)n;
        left -= (uint64_t)n;
    }
    if (op->count > 0)
        r = 0; /* a short copy is a success with count */
    cfs__attr_forget(px->id, d->ino);
    if (px_statx(px, d->fd, NULL, &op->attr) == 0)
        op->has_attr = true;
out:
    cfs__fdc_put(px->files, s);
    cfs__fdc_put(px->files, d);
    return r;
}

int px_clone(struct px *px, struct cfs_vfs_op *op)
{
    struct cfs__fdc_ent *s = NULL, *d = NULL;
    int r = px_same_export(px, &op->fh, &op->fh2);
    if (r < 0)
        return r;
    if ((r = px_file(px, op, &op->fh, O_RDONLY, &s)) < 0)
        return r;
    if ((r = px_file(px, op, &op->fh2, O_WRONLY, &d)) < 0)
        goto out;
    struct file_clone_range fcr = {
        .src_fd = s->fd,
        .src_offset = op->offset,
        .src_length = op->length,
        .dest_offset = op->offset2,
    };
    if (ioctl(d->fd, FICLONERANGE, &fcr) < 0) {
        r = -errno;
        if (r == -ENOTTY || r == -EXDEV || r == -EOPNOTSUPP || r == -ENOSYS)
            r = -EOPNOTSUPP;
    }
    cfs__attr_forget(px->id, d->ino);
    if (px_statx(px, d->fd, NULL, &op->attr) == 0)
        op->has_attr = true;
out:
    cfs__fdc_put(px->files, s);
    cfs__fdc_put(px->files, d);
    return r;
}

int px_openfd(struct px *px, struct cfs_vfs_op *op)
{
    struct cfs__fdc_ent *e;
    char path[32];
    int flags = op->flags & (O_ACCMODE | O_APPEND | O_TRUNC | O_DIRECT | O_NONBLOCK);
    int r = px_resolve(px, &op->fh, &e);
    if (r < 0)
        return r;
    if ((r = px_attr(px, e, &op->attr)) < 0)
        goto out;
    if (op->attr.type != CFS_FT_REG) {
        r = op->attr.type == CFS_FT_DIR ? -EISDIR : -EINVAL;
        goto out;
    }
    px_procpath(path, e->fd);
    if ((r = px_cred_enter(px, op)) < 0)
        goto out;
    op->fd = open(path, flags | O_CLOEXEC | O_NOCTTY);
    r = op->fd < 0 ? -errno : 0;
    cfs__cred_leave();
    if (flags & O_TRUNC)
        cfs__attr_forget(px->id, e->ino);
    op->has_attr = true;
out:
    cfs__fdc_put(px->paths, e);
    return r;
}
