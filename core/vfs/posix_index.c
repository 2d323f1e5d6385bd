/*
 * core/vfs/posix_index.c - posix backend: the fallback handle scheme, for hosts where
 * open_by_handle_at is refused (EPERM without CAP_DAC_READ_SEARCH, e.g. containers).
 * A handle then carries the inode number and a generation (a hash of the birth time, or
 * FS_IOC_GETVERSION), and the export keeps an index inode -> (parent inode, name)
 * learned from every lookup, create, readdir-plus and rename made through the VFS. An
 * object is found again by walking the parents up to the root and opening the relative
 * path with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS); the inode and generation
 * must match, else the handle is stale. The index is an append-only log in the state
 * dir (vfs-index-<export id>.log), compacted when loaded, so handles survive restarts.
 * Limits: an object reached only through a link removed later, or renamed behind the
 * gateway's back, goes stale.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "posix.h"

#define IDX_BUCKETS 4096u
#define IDX_DEPTH 256

struct ient {
    struct ient *next;
    uint64_t ino, parent;
    uint16_t nlen;
    char name[];
};

struct px_index {
    pthread_mutex_t lock;
    struct ient *tab[IDX_BUCKETS];
    int logfd;          /* -1: in memory only */
    char path[4096];
};

static struct ient **slot(struct px_index *x, uint64_t ino)
{
    return &x->tab[(ino * 0x9E3779B97F4A7C15ULL) >> 52 & (IDX_BUCKETS - 1)];
}

static struct ient **find(struct px_index *x, uint64_t ino)
{
    for (struct ient **pp = slot(x, ino); *pp; pp = &(*pp)->next)
        if ((*pp)->ino == ino)
            return pp;
    return NULL;
}

/* Set (parent != 0) or drop the entry of ino; true when something changed. */
static bool apply(struct px_index *x, uint64_t ino, uint64_t parent, const char *name,
                  size_t nlen)
{
    struct ient **pp = find(x, ino);
    if (pp && parent && (*pp)->parent == parent && (*pp)->nlen == nlen &&
        memcmp((*pp)->name, name, nlen) == 0)
        return false;
    if (pp) {
        struct ient *e = *pp;
        *pp = e->next;
        free(e);
    }
    if (!parent)
        return pp != NULL;
    struct ient *e = malloc(sizeof(*e) + nlen + 1);
    if (!e)
        return false;
    e->ino = ino;
    e->parent = parent;
    e->nlen = (uint16_t)nlen;
    memcpy(e->name, name, nlen);
    e->name[nlen] = 0;
    struct ient **s = slot(x, ino);
    e->next = *s;
    *s = e;
    return true;
}

/* Log record: ino (8), parent (8, 0 = removed), name length (2), name. */
static void log_rec(int fd, uint64_t ino, uint64_t parent, const char *name, size_t nlen)
{
    uint8_t rec[18 + 256];
    if (fd < 0 || nlen > 255)
        return;
    memcpy(rec, &ino, 8);
    memcpy(rec + 8, &parent, 8);
    uint16_t n = (uint16_t)nlen;
    memcpy(rec + 16, &n, 2);
    memcpy(rec + 18, name, nlen);
    if (write(fd, rec, 18 + nlen) != (ssize_t)(18 + nlen))
        cfs__vfs_log(CFS_LOG_WARN, "handle index: short write");
}

static void load(struct px_index *x, int fd)
{
    uint8_t hdr[18];
    char name[256];
    for (;;) {
        if (read(fd, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr))
            break;
        uint64_t ino, parent;
        uint16_t n;
        memcpy(&ino, hdr, 8);
        memcpy(&parent, hdr + 8, 8);
        memcpy(&n, hdr + 16, 2);
        if (n > 255 || (n && read(fd, name, n) != n)) {
            cfs__vfs_log(CFS_LOG_WARN, "%s: expected a record, found a torn tail", x->path);
            break;
        }
        apply(x, ino, parent, name, n);
    }
}

int px_index_open(struct px *px, const char *state_dir)
{
    struct px_index *x = calloc(1, sizeof(*x));
    char tmp[4200];
    int fd = -1, r = 0;
    if (!x)
        return -ENOMEM;
    pthread_mutex_init(&x->lock, NULL);
    x->logfd = -1;
    px->idx = x;
    if (!state_dir)
        return 0;
    if ((size_t)snprintf(x->path, sizeof(x->path), "%s/vfs-index-%u.log", state_dir,
                         px->id) >= sizeof(x->path))
        return -ENAMETOOLONG;
    fd = open(x->path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        load(x, fd);
        close(fd);
    }
    /* compact: rewrite the live entries, then append from there */
    snprintf(tmp, sizeof(tmp), "%s.tmp", x->path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    for (uint32_t i = 0; i < IDX_BUCKETS; i++)
        for (struct ient *e = x->tab[i]; e; e = e->next)
            log_rec(fd, e->ino, e->parent, e->name, e->nlen);
    if (fsync(fd) < 0 || rename(tmp, x->path) < 0)
        r = -errno;
    close(fd);
    if (r == 0) {
        x->logfd = open(x->path, O_WRONLY | O_APPEND | O_CLOEXEC);
        if (x->logfd < 0)
            r = -errno;
    }
    return r;
}

void px_index_close(struct px *px)
{
    struct px_index *x = px->idx;
    if (!x)
        return;
    for (uint32_t i = 0; i < IDX_BUCKETS; i++)
        while (x->tab[i]) {
            struct ient *e = x->tab[i];
            x->tab[i] = e->next;
            free(e);
        }
    if (x->logfd >= 0)
        close(x->logfd);
    pthread_mutex_destroy(&x->lock);
    free(x);
    px->idx = NULL;
}

void px_index_note(struct px *px, uint64_t parent, const char *name, uint64_t ino)
{
    struct px_index *x = px->idx;
    if (!x || !name || ino == px->root_ino || !strcmp(name, ".") || !strcmp(name, ".."))
        return;
    size_t n = strnlen(name, 256);
    if (n == 0 || n > 255)
        return;
    pthread_mutex_lock(&x->lock);
    if (apply(x, ino, parent, name, n))
        log_rec(x->logfd, ino, parent, name, n);
    pthread_mutex_unlock(&x->lock);
}

void px_index_forget(struct px *px, uint64_t parent, const char *name, uint64_t ino)
{
    struct px_index *x = px->idx;
    if (!x)
        return;
    pthread_mutex_lock(&x->lock);
    struct ient **pp = find(x, ino);
    if (pp && (*pp)->parent == parent && strcmp((*pp)->name, name) == 0) {
        apply(x, ino, 0, NULL, 0);
        log_rec(x->logfd, ino, 0, "", 0);
    }
    pthread_mutex_unlock(&x->lock);
}

/* The path of ino relative to the root ("" for the root itself). */
static int index_path(struct px *px, uint64_t ino, char *buf, size_t len)
{
    struct px_index *x = px->idx;
    const struct ient *chain[IDX_DEPTH];
    int depth = 0, r = 0;
    pthread_mutex_lock(&x->lock);
    while (ino != px->root_ino) {
        struct ient **pp = find(x, ino);
        if (!pp || depth == IDX_DEPTH) {
            r = -ESTALE;
            goto out;
        }
        chain[depth++] = *pp;
        ino = (*pp)->parent;
    }
    size_t off = 0;
    buf[0] = 0;
    for (int i = depth - 1; i >= 0; i--) {
        size_t n = chain[i]->nlen;
        if (off + n + 2 > len) {
            r = -ENAMETOOLONG;
            goto out;
        }
        memcpy(buf + off, chain[i]->name, n);
        off += n;
        buf[off++] = i ? '/' : 0;
    }
    if (off == 0)
        buf[0] = 0;
out:
    pthread_mutex_unlock(&x->lock);
    return r;
}

/* The generation: birth time hash, else the inode's i_generation, else 0. */
static uint32_t index_gen(int fd, const struct statx *st)
{
    if (st->stx_mask & STATX_BTIME)
        return (uint32_t)((uint64_t)st->stx_btime.tv_sec * 1000000007ULL ^
                          st->stx_btime.tv_nsec);
    uint32_t gen = 0;
    if (S_ISREG(st->stx_mode) || S_ISDIR(st->stx_mode)) {
        char p[32];
        px_procpath(p, fd);
        int rfd = open(p, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (rfd >= 0) {
            int g = 0;
            if (ioctl(rfd, FS_IOC_GETVERSION, &g) == 0)
                gen = (uint32_t)g;
            close(rfd);
        }
    }
    return gen;
}

static int index_seal(struct px *px, uint64_t ino, uint32_t gen, struct cfs_fh *out)
{
    uint8_t payload[13];
    payload[0] = 0xFF;
    memcpy(payload + 1, &ino, 8);
    memcpy(payload + 9, &gen, 4);
    return cfs__fh_seal(px->id, payload, sizeof(payload), out);
}

int px_index_fh(struct px *px, int fd, struct cfs_fh *out)
{
    struct statx st;
    int r = px_statx_fd(fd, &st);
    if (r < 0)
        return r;
    return index_seal(px, st.stx_ino, index_gen(fd, &st), out);
}

int px_index_fh_statx(struct px *px, const struct statx *st, struct cfs_fh *out)
{
    if (!(st->stx_mask & STATX_BTIME))
        return -EAGAIN; /* the generation needs the object itself */
    return index_seal(px, st->stx_ino, index_gen(-1, st), out);
}

int px_index_resolve(struct px *px, const uint8_t *p, size_t plen, int *out)
{
    char path[4096];
    uint64_t ino;
    uint32_t gen;
    struct statx st;
    int fd, r;
    if (plen != 13 || p[0] != 0xFF)
        return CFS_EBADHANDLE;
    memcpy(&ino, p + 1, 8);
    memcpy(&gen, p + 9, 4);
    if ((r = index_path(px, ino, path, sizeof(path))) < 0)
        return r;
    if (!path[0]) {
        fd = fcntl(px->root_fd, F_DUPFD_CLOEXEC, 0);
    } else {
        struct open_how how = {
            .flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
            .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV |
                       RESOLVE_NO_SYMLINKS,
        };
        fd = (int)syscall(SYS_openat2, px->root_fd, path, &how, sizeof(how));
    }
    if (fd < 0)
        return errno == ENOMEM || errno == EMFILE || errno == ENFILE ? -errno : -ESTALE;
    if (px_statx_fd(fd, &st) < 0 || st.stx_ino != ino || index_gen(fd, &st) != gen) {
        close(fd);
        return -ESTALE;
    }
    *out = fd;
    return 0;
}
