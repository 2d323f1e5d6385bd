/*
 * core/vfs/posix_dir.c - posix backend: READDIR. Cookies are the filesystem's own
 * directory offsets (getdents64 d_off: hash based on ext4/xfs/btrfs, so stable across
 * changes and restarts); a cookie resumes after the entry that carried it. The cookie
 * verifier is derived from the directory's mtime and returned in op->verf; since the
 * offsets stay valid, a changed verifier is not refused (as Linux nfsd). With op->plus,
 * each entry also gets its handle and attributes. The directory is opened and read as
 * the caller (read permission; search permission for the plus lookups). The open
 * directory is kept between the calls of one listing (posix_dircache.c).
 *
 * Per READDIRPLUS entry: one statx (under the caller's credentials, which checks search
 * permission), and the handle from it when it can be made without another call: the
 * index scheme's handle is inode + birth-time hash (as px_index_fh makes it), a kernel
 * handle seen before comes from the handle cache; else name_to_handle_at as LOOKUP does.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "posix.h"

#define RD_DEFAULT 256u
#define RD_MAX 65536u

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

/* The handle of the object statx'd in st without a call, when the scheme allows. */
static bool rd_fh_fast(struct px *px, const struct statx *st, struct cfs_fh *out)
{
    if (!(st->stx_mask & STATX_BTIME))
        return false;
    if (!px->idx)
        return px_hc_get(px, st, out);
    return px_index_fh_statx(px, st, out) == 0;
}

static void rd_plus(struct px *px, struct cfs_vfs_op *op, int dirfd, bool put,
                    struct cfs_dirent *e, const char *name)
{
    struct statx st;
    if (strcmp(name, ".") == 0 || (strcmp(name, "..") == 0 && op->attr.fileid == px->root_ino)) {
        e->fh = op->fh;
        if (strcmp(name, "..") == 0)
            e->fh = px->root_fh;
        e->attr = op->attr;
        e->fileid = op->attr.fileid;
        e->has_attr = true;
        return;
    }
    if (strcmp(name, "..") == 0)
        goto slow;
    px_hc_prefetch(px, e->fileid); /* the d_ino: the slot loads during the statx */
    uint64_t gen = cfs__attr_gen();
    if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, &st) < 0)
        return; /* gone, or no search permission: the name alone */
    if (makedev(st.stx_dev_major, st.stx_dev_minor) != px->dev)
        goto slow; /* a mount point: as LOOKUP would answer */
    if (!rd_fh_fast(px, &st, &e->fh)) {
        if (px_fh_of(px, dirfd, name, &e->fh) < 0) {
            e->fh.len = 0;
            return;
        }
        px_hc_put(px, &st, &e->fh);
    }
    px_attr_from_statx(px, &st, &e->attr);
    if (put)
        cfs__attr_put(px->id, &e->attr, gen);
    e->has_attr = true;
    e->fileid = e->attr.fileid;
    px_index_note(px, op->attr.fileid, name, e->attr.fileid);
    return;
slow:
    if (px_fh_of(px, dirfd, name, &e->fh) < 0) {
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
    struct px_dstream *s = NULL;
    struct rd rd = { 0 };
    struct cfs_cred cred;
    bool entered = false, end = false;
    int r;

    if ((r = px_resolve(px, &op->fh, &d)) < 0)
        return r;
    if ((r = px_statx(px, d->fd, NULL, &op->attr)) < 0)
        goto out;
    op->has_attr = true;
    if (op->attr.type != CFS_FT_DIR) {
        r = -ENOTDIR;
        goto out;
    }
    uint32_t vs = (uint32_t)op->attr.mtime.tv_sec, vns = (uint32_t)op->attr.mtime.tv_nsec;
    memcpy(op->verf, &vs, 4);
    memcpy(op->verf + 4, &vns, 4);
    rd.max = op->length == 0 ? RD_DEFAULT : op->length > RD_MAX ? RD_MAX : op->length;
    rd.ents = malloc(rd.max * sizeof(*rd.ents));
    if (!rd.ents) {
        r = -ENOMEM;
        goto out;
    }
    cfs__export_map_cred(px->exp, op->cred, &cred);
    if ((r = cfs__cred_enter(&cred)) < 0)
        goto out;
    entered = true;
    uint64_t gen0 = cfs__attr_gen(); /* before px_ds_get checks the kept entries */
    if ((r = px_ds_get(px, op->attr.fileid, &op->attr.ctime, &cred, op->cookie, d->fd, &s)) < 0)
        goto out;
    int dirfd = px_ds_fd(s);
    op->eof = false;
    while (rd.n < rd.max) {
        uint64_t ino, cookie;
        const char *name;
        r = px_ds_next(s, &ino, &cookie, &name);
        if (r < 0)
            goto out;
        if (r == 0) {
            op->eof = end = true;
            break;
        }
        if ((r = rd_add(&rd, cookie, ino, name)) < 0)
            goto out;
        if (op->plus) {
            struct cfs_dirent *e = &rd.ents[rd.n - 1];
            const struct cfs_dirent *old = px_ds_reuse(s, cookie, name);
            if (old) { /* computed a moment ago by the last call, not sent */
                e->fileid = old->fileid;
                e->fh = old->fh;
                e->attr = old->attr;
                e->has_attr = old->has_attr;
            } else {
                rd_plus(px, op, dirfd, px_ds_attr_put(s), e, name);
            }
        }
    }
    if (!end)
        px_ds_keep(s, rd.ents, op->plus ? rd.n : 0, rd.names, gen0);
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
    px_ds_put(s, r == 0 && !end);
    if (entered)
        cfs__cred_leave();
    free(rd.ents);
    free(rd.names);
    cfs__fdc_put(px->paths, d);
    return r;
}
