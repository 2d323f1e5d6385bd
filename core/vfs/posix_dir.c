/*
 * core/vfs/posix_dir.c - posix backend: READDIR. Cookies are the filesystem's own
 * directory offsets (getdents64 d_off: hash based on ext4/xfs/btrfs, so stable across
 * changes and restarts); a cookie resumes after the entry that carried it. The cookie
 * verifier is derived from the directory's mtime and returned in op->verf; since the
 * offsets stay valid, a changed verifier is not refused (as Linux nfsd). With op->plus,
 * each entry also gets its handle and attributes. The directory is opened and read as
 * the caller (read permission; search permission for the plus lookups).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "posix.h"

#define RD_DEFAULT 256u
#define RD_MAX 65536u

struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

struct rd {
    struct cfs_dirent *ents;
    size_t n, max;
    char *names;
    size_t nlen, ncap;
};

static int rd_add(struct rd *rd, uint64_t cookie, uint64_t ino, const char *name)
{
    size_t len = strlen(name) + 1;
    if (rd->nlen + len > rd->ncap) {
        size_t cap = rd->ncap ? rd->ncap * 2 : 4096;
        while (cap < rd->nlen + len)
            cap *= 2;
        char *p = realloc(rd->names, cap);
        if (!p)
            return -ENOMEM;
        rd->names = p;
        rd->ncap = cap;
    }
    struct cfs_dirent *e = &rd->ents[rd->n++];
    memset(e, 0, sizeof(*e));
    e->cookie = cookie;
    e->fileid = ino;
    e->name = (const char *)(uintptr_t)rd->nlen; /* an offset until the block is built */
    memcpy(rd->names + rd->nlen, name, len);
    rd->nlen += len;
    return 0;
}

static void rd_plus(struct px *px, struct cfs_vfs_op *op, int dirfd, struct cfs_dirent *e,
                    const char *name)
{
    int r;
    if (strcmp(name, ".") == 0 || (strcmp(name, "..") == 0 && op->attr.fileid == px->root_ino)) {
        e->fh = op->fh;
        if (strcmp(name, "..") == 0)
            e->fh = px->root_fh;
        e->attr = op->attr;
        e->fileid = op->attr.fileid;
        e->has_attr = true;
        return;
    }
    r = px_fh_of(px, dirfd, name, &e->fh);
    if (r < 0) {
        e->fh.len = 0;
        return;
    }
    if (px_statx(px, dirfd, name, &e->attr) == 0) {
        e->has_attr = true;
        e->fileid = e->attr.fileid;
        px_index_note(px, op->attr.fileid, name, e->attr.fileid);
    }
}

int px_readdir(struct px *px, struct cfs_vfs_op *op)
{
    struct cfs__fdc_ent *d = NULL;
    struct rd rd = { 0 };
    char path[32], *buf = NULL;
    bool cred = false, full = false;
    int fd = -1, r;

    if ((r = px_resolve(px, &op->fh, &d)) < 0)
        return r;
    if ((r = px_statx(px, d->fd, NULL, &op->attr)) < 0)
        goto out;
    op->has_attr = true;
    if (op->attr.type != CFS_FT_DIR) {
        r = -ENOTDIR;
        goto out;
    }
    uint32_t s = (uint32_t)op->attr.mtime.tv_sec, ns = (uint32_t)op->attr.mtime.tv_nsec;
    memcpy(op->verf, &s, 4);
    memcpy(op->verf + 4, &ns, 4);
    rd.max = op->length == 0 ? RD_DEFAULT : op->length > RD_MAX ? RD_MAX : op->length;
    rd.ents = malloc(rd.max * sizeof(*rd.ents));
    buf = malloc(32768);
    if (!rd.ents || !buf) {
        r = -ENOMEM;
        goto out;
    }
    px_procpath(path, d->fd);
    if ((r = px_cred_enter(px, op)) < 0)
        goto out;
    cred = true;
    fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        r = -errno;
        goto out;
    }
    if (op->cookie && lseek(fd, (off_t)op->cookie, SEEK_SET) < 0) {
        r = errno == EINVAL ? CFS_EBADCOOKIE : -errno;
        goto out;
    }
    op->eof = false;
    while (!full) {
        long n = syscall(SYS_getdents64, fd, buf, 32768);
        if (n < 0) {
            r = -errno;
            goto out;
        }
        if (n == 0) {
            op->eof = true;
            break;
        }
        for (long off = 0; off < n;) {
            struct linux_dirent64 *de = (struct linux_dirent64 *)(void *)(buf + off);
            off += de->d_reclen;
            if (rd.n == rd.max) {
                full = true;
                break;
            }
            if ((r = rd_add(&rd, (uint64_t)de->d_off, de->d_ino, de->d_name)) < 0)
                goto out;
            if (op->plus)
                rd_plus(px, op, fd, &rd.ents[rd.n - 1], de->d_name);
        }
    }
    /* one block: entries then names; the core frees it (op->priv[0]) */
    size_t esz = rd.n * sizeof(*rd.ents);
    char *block = malloc(esz + rd.nlen + 1);
    if (!block) {
        r = -ENOMEM;
        goto out;
    }
    memcpy(block, rd.ents, esz);
    if (rd.nlen)
        memcpy(block + esz, rd.names, rd.nlen);
    op->entries = (struct cfs_dirent *)(void *)block;
    op->nentries = rd.n;
    for (size_t i = 0; i < rd.n; i++)
        op->entries[i].name = block + esz + (uintptr_t)op->entries[i].name;
    op->priv[0] = block;
    r = 0;
out:
    if (fd >= 0)
        close(fd);
    if (cred)
        cfs__cred_leave();
    free(rd.ents);
    free(rd.names);
    free(buf);
    cfs__fdc_put(px->paths, d);
    return r;
}
