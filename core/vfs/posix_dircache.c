/*
 * core/vfs/posix_dircache.c - posix backend: what READDIR keeps between calls.
 *
 * Directory streams: a listing is many calls, each resuming at the cookie (a d_off) the
 * last one ended with. Instead of open + lseek + getdents64 + close per call, the open
 * directory fd is kept with its getdents64 buffer and the cookie it stopped at; the next
 * call with that cookie (or with a cookie of an entry still in the buffer: the protocol
 * may send fewer entries than were read) continues without a system call. A stream is
 * only reused by the same caller (mapped credentials) for the same directory with the
 * same ctime (a change of entries or of permissions since the open means a fresh open,
 * so the permission check of open(2) is made again). While a call uses a stream it is
 * out of the cache; the cache is bounded in streams and in age, a stream that reached
 * the end of the directory is closed at once. Cookies stay d_offs, so a call whose stream
 * was evicted just opens and seeks as before. A stream also keeps the last READDIRPLUS
 * entries it computed (handle + attributes), for up to a second and while nothing was
 * invalidated through the VFS (the attribute cache's generation): the reply usually holds
 * fewer than were read, and the next call starts inside them. Only the first 4096 entries
 * of a listing put their attributes in the attribute cache (a bigger directory would only
 * churn it).
 *
 * Handles by inode: with kernel handles, a READDIRPLUS entry costs a statx and a
 * name_to_handle_at. A handle never changes during an inode's life, so the handle
 * payload is kept by (export, device, inode, birth time); the birth time tells a reused
 * inode number apart. Only payloads whose inode number can be checked against the statx
 * (FILEID_INO32_GEN and the 64-bit form: ext4, xfs) are kept, so a name swapped between
 * the two calls cannot attach one file's handle to another. Payloads are sealed again on
 * use (the sealing key is the namespace's, which may change across a restart).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "posix.h"

#define DS_BUF 32768u
#define DS_TAIL 32u /* computed READDIRPLUS entries kept for a resume inside the reply */
#define DS_TAIL_AGE 1000u /* ms: older ones are computed again (fresher attributes) */
#define DS_ATTR_PUT 4096u /* entries of a listing whose attributes go to the attr cache */
#define DS_MAX_DEFAULT 32u
#define DS_AGE_DEFAULT 10000u /* ms */

struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

struct px_dstream {
    struct px_dstream *prev, *next; /* LRU, most recent first; NULL while in use */
    uint32_t export_id;
    dev_t dev;
    uint64_t ino;
    struct timespec ctime;
    struct cfs_cred cred;
    uint64_t next_cookie; /* d_off of the last entry handed out (0: none yet) */
    uint64_t handed;      /* entries handed out since the open or the last seek */
    uint64_t used_ms;
    int fd;
    size_t len, pos; /* bytes in buf, start of the next entry */
    size_t ntail, tcur; /* the last call's last entries, the next one to reuse */
    uint64_t tail_gen;  /* cfs__attr_gen() before they were computed */
    struct cfs_dirent tail[DS_TAIL]; /* name: unused, see tname */
    char tname[DS_TAIL][256];
    char buf[DS_BUF] __attribute__((aligned(8)));
};

static pthread_mutex_t ds_lock = PTHREAD_MUTEX_INITIALIZER;
static struct px_dstream *ds_head, *ds_tail;
static unsigned ds_n, ds_max = DS_MAX_DEFAULT, ds_age = DS_AGE_DEFAULT;
static _Atomic uint64_t ds_reused;

static uint64_t ds_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void ds_unlink(struct px_dstream *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        ds_head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    else
        ds_tail = s->prev;
    s->prev = s->next = NULL;
    ds_n--;
}

static void ds_free(struct px_dstream *s)
{
    if (!s)
        return;
    if (s->fd >= 0)
        close(s->fd);
    free(s);
}

/* Streams past their age, or beyond the bound, leave the cache (under ds_lock) onto *out. */
static void ds_trim(uint64_t now, unsigned keep, struct px_dstream **out)
{
    while (ds_tail && (ds_n > keep || now - ds_tail->used_ms > ds_age)) {
        struct px_dstream *s = ds_tail;
        ds_unlink(s);
        s->next = *out;
        *out = s;
    }
}

static void ds_free_list(struct px_dstream *l)
{
    while (l) {
        struct px_dstream *n = l->next;
        ds_free(l);
        l = n;
    }
}

static bool cred_eq(const struct cfs_cred *a, const struct cfs_cred *b)
{
    return a->uid == b->uid && a->gid == b->gid && a->ngroups == b->ngroups &&
           memcmp(a->groups, b->groups, a->ngroups * sizeof(a->groups[0])) == 0;
}

/* Position s just after the entry whose d_off is cookie, if that entry is in the buffer. */
static bool ds_rewind(struct px_dstream *s, uint64_t cookie)
{
    for (size_t off = 0; off < s->len;) {
        const struct linux_dirent64 *de = (const void *)(s->buf + off);
        off += de->d_reclen;
        if ((uint64_t)de->d_off == cookie) {
            s->pos = off;
            s->next_cookie = cookie;
            /* the kept entries that follow it are the ones the buffer gives next */
            s->tcur = s->ntail;
            for (size_t i = 0; i < s->ntail; i++)
                if (s->tail[i].cookie == cookie) {
                    s->tcur = i + 1;
                    break;
                }
            return true;
        }
    }
    return false;
}

int px_ds_get(struct px *px, uint64_t dir_ino, const struct timespec *ctime,
              const struct cfs_cred *cred, uint64_t cookie, int pathfd,
              struct px_dstream **out)
{
    struct px_dstream *s = NULL, *any = NULL, *gone = NULL;
    char path[32];
    int r;

    uint64_t now = ds_now_ms();
    pthread_mutex_lock(&ds_lock);
    ds_trim(now, ds_max, &gone);
    for (struct px_dstream *c = ds_head; c; c = c->next) {
        if (c->export_id != px->id || c->ino != dir_ino || c->dev != px->dev ||
            c->ctime.tv_sec != ctime->tv_sec || c->ctime.tv_nsec != ctime->tv_nsec ||
            !cred_eq(&c->cred, cred))
            continue;
        if (cookie && c->next_cookie == cookie) {
            c->tcur = c->ntail; /* all of the last call's entries were taken */
            s = c;
            break;
        }
        if (cookie && ds_rewind(c, cookie)) {
            s = c;
            break;
        }
        if (!any)
            any = c;
    }
    if (!s)
        s = any; /* the same directory elsewhere: a seek instead of an open */
    if (s)
        ds_unlink(s);
    pthread_mutex_unlock(&ds_lock);
    /* kept entries: not too old, and nothing invalidated through the VFS since */
    if (s && (now - s->used_ms > DS_TAIL_AGE || cfs__attr_gen() != s->tail_gen))
        s->ntail = s->tcur = 0;
    ds_free_list(gone);

    if (s && s->next_cookie != cookie) {
        s->ntail = s->tcur = 0;
        if (lseek(s->fd, (off_t)cookie, SEEK_SET) < 0) {
            r = errno == EINVAL ? CFS_EBADCOOKIE : -errno;
            goto out;
        }
        s->len = s->pos = 0;
        s->handed = 0;
        s->next_cookie = cookie;
    }
    if (!s) {
        if (!(s = malloc(sizeof(*s)))) {
            r = -ENOMEM;
            goto out;
        }
        memset(s, 0, offsetof(struct px_dstream, tail));
        s->export_id = px->id;
        s->dev = px->dev;
        s->ino = dir_ino;
        s->ctime = *ctime;
        s->cred = *cred;
        s->next_cookie = cookie;
        px_procpath(path, pathfd);
        s->fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->fd < 0) {
            r = -errno;
            goto out;
        }
        if (cookie && lseek(s->fd, (off_t)cookie, SEEK_SET) < 0) {
            r = errno == EINVAL ? CFS_EBADCOOKIE : -errno;
            goto out;
        }
    }
    *out = s;
    s = NULL;
    r = 0;
out:
    ds_free(s);
    return r;
}

int px_ds_next(struct px_dstream *s, uint64_t *ino, uint64_t *cookie, const char **name)
{
    if (s->pos >= s->len) {
        long n = syscall(SYS_getdents64, s->fd, s->buf, sizeof(s->buf));
        if (n < 0)
            return -errno;
        s->len = (size_t)n;
        s->pos = 0;
        if (n == 0)
            return 0;
    }
    const struct linux_dirent64 *de = (const void *)(s->buf + s->pos);
    s->pos += de->d_reclen;
    s->next_cookie = (uint64_t)de->d_off;
    s->handed++;
    *ino = de->d_ino;
    *cookie = (uint64_t)de->d_off;
    *name = de->d_name;
    return 1;
}

int px_ds_fd(const struct px_dstream *s)
{
    return s->fd;
}

bool px_ds_attr_put(const struct px_dstream *s)
{
    return s->handed <= DS_ATTR_PUT;
}

const struct cfs_dirent *px_ds_reuse(struct px_dstream *s, uint64_t cookie, const char *name)
{
    if (s->tcur < s->ntail && s->tail[s->tcur].cookie == cookie &&
        strcmp(s->tname[s->tcur], name) == 0) {
        atomic_fetch_add_explicit(&ds_reused, 1, memory_order_relaxed);
        return &s->tail[s->tcur++];
    }
    s->tcur = s->ntail;
    return NULL;
}

void px_ds_keep(struct px_dstream *s, const struct cfs_dirent *ents, size_t n,
                const char *names, uint64_t gen)
{
    size_t k = n < DS_TAIL ? n : DS_TAIL;
    s->ntail = s->tcur = 0;
    s->tail_gen = gen;
    for (size_t i = 0; i < k; i++) {
        const struct cfs_dirent *e = &ents[n - k + i];
        const char *nm = names + (uintptr_t)e->name;
        size_t len = strlen(nm);
        if (len >= sizeof(s->tname[0]))
            return;
        s->tail[i] = *e;
        s->tail[i].name = NULL;
        memcpy(s->tname[i], nm, len + 1);
        s->ntail = i + 1;
    }
    s->tcur = s->ntail;
}

void px_ds_put(struct px_dstream *s, bool keep)
{
    struct px_dstream *gone = NULL;
    if (!s)
        return;
    if (!keep || ds_max == 0) {
        ds_free(s);
        return;
    }
    uint64_t now = ds_now_ms();
    s->used_ms = now;
    pthread_mutex_lock(&ds_lock);
    s->prev = NULL;
    s->next = ds_head;
    if (ds_head)
        ds_head->prev = s;
    else
        ds_tail = s;
    ds_head = s;
    ds_n++;
    ds_trim(now, ds_max, &gone);
    pthread_mutex_unlock(&ds_lock);
    ds_free_list(gone);
}

void px_ds_flush(uint32_t export_id)
{
    struct px_dstream *gone = NULL;
    pthread_mutex_lock(&ds_lock);
    for (struct px_dstream *c = ds_head, *n; c; c = n) {
        n = c->next;
        if (export_id == 0 || c->export_id == export_id) {
            ds_unlink(c);
            c->next = gone;
            gone = c;
        }
    }
    pthread_mutex_unlock(&ds_lock);
    ds_free_list(gone);
}

uint64_t px_ds_reused(void)
{
    return atomic_load(&ds_reused);
}

unsigned px_ds_count(void)
{
    pthread_mutex_lock(&ds_lock);
    unsigned n = ds_n;
    pthread_mutex_unlock(&ds_lock);
    return n;
}

void px_ds_limits(unsigned max_streams, unsigned max_age_ms)
{
    struct px_dstream *gone = NULL;
    pthread_mutex_lock(&ds_lock);
    ds_max = max_streams;
    ds_age = max_age_ms;
    ds_trim(ds_now_ms(), ds_max, &gone);
    pthread_mutex_unlock(&ds_lock);
    ds_free_list(gone);
}

/* ---- handles by inode ---- */
#define HC_SETS 16384u /* 4-way sets: 65536 handles, 3 MiB of bss paged in as used */
#define HC_WAYS 4u
#define HC_PAYLOAD 13u /* the checkable types: type byte + 8 or 12 bytes */

struct hc_ent {
    uint64_t ino;
    int64_t btime_sec;
    uint32_t btime_nsec;
    uint32_t export_id;
    uint32_t dev;  /* makedev of the statx's device, folded */
    uint8_t len;   /* 0: empty */
    uint8_t payload[HC_PAYLOAD];
}; /* 48 bytes */

static pthread_mutex_t hc_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hc_ent hc_tab[HC_SETS][HC_WAYS] __attribute__((aligned(64)));
static _Atomic uint64_t hc_hits, hc_misses;

static uint32_t hc_dev(const struct statx *st)
{
    return st->stx_dev_major << 20 ^ st->stx_dev_minor;
}

static uint64_t hc_hash(uint32_t export_id, uint64_t ino)
{
    return (ino ^ (uint64_t)export_id << 40) * 0x9E3779B97F4A7C15ULL;
}

static struct hc_ent *hc_set(uint32_t export_id, uint64_t ino)
{
    return hc_tab[hc_hash(export_id, ino) >> 48 & (HC_SETS - 1)];
}

static bool hc_match(const struct hc_ent *e, uint32_t export_id, const struct statx *st)
{
    return e->len && e->ino == st->stx_ino && e->export_id == export_id &&
           e->btime_sec == st->stx_btime.tv_sec && e->btime_nsec == st->stx_btime.tv_nsec &&
           e->dev == hc_dev(st);
}

void px_hc_prefetch(struct px *px, uint64_t ino)
{
    if (!px->idx) {
        const char *p = (const char *)hc_set(px->id, ino);
        __builtin_prefetch(p);
        __builtin_prefetch(p + 64);
        __builtin_prefetch(p + 128);
    }
}

bool px_hc_get(struct px *px, const struct statx *st, struct cfs_fh *out)
{
    uint8_t payload[HC_PAYLOAD];
    size_t len = 0;
    if (!(st->stx_mask & STATX_BTIME) || px->idx)
        return false;
    pthread_mutex_lock(&hc_lock);
    const struct hc_ent *set = hc_set(px->id, st->stx_ino);
    for (unsigned w = 0; w < HC_WAYS; w++)
        if (hc_match(&set[w], px->id, st)) {
            len = set[w].len;
            memcpy(payload, set[w].payload, len);
            break;
        }
    pthread_mutex_unlock(&hc_lock);
    atomic_fetch_add_explicit(len ? &hc_hits : &hc_misses, 1, memory_order_relaxed);
    return len && cfs__fh_seal(px->id, payload, len, out) == 0;
}

/* Does the kernel handle payload (type byte, then the handle) name inode ino? */
static bool hc_checkable(const uint8_t *p, size_t len, uint64_t ino)
{
    if (len == 1 + 8 && p[0] == 1) { /* FILEID_INO32_GEN: u32 ino, u32 generation */
        uint32_t i;
        memcpy(&i, p + 1, 4);
        return i == ino;
    }
    if (len == 1 + 12 && p[0] == 0x81) { /* FILEID_INO32_GEN | 64-bit inode (xfs) */
        uint64_t i;
        memcpy(&i, p + 1, 8);
        return i == ino;
    }
    return false;
}

void px_hc_note(struct px *px, const struct cfs_attr *a, const struct cfs_fh *fh)
{
    struct statx st;
    memset(&st, 0, sizeof(st));
    st.stx_mask = STATX_BTIME;
    st.stx_ino = a->fileid;
    st.stx_btime.tv_sec = a->btime.tv_sec;
    st.stx_btime.tv_nsec = (uint32_t)a->btime.tv_nsec;
    st.stx_dev_major = major(px->dev);
    st.stx_dev_minor = minor(px->dev);
    px_hc_put(px, &st, fh);
}

void px_hc_put(struct px *px, const struct statx *st, const struct cfs_fh *fh)
{
    const uint8_t *p;
    size_t plen;
    uint32_t id;
    if (!(st->stx_mask & STATX_BTIME) || px->idx)
        return;
    if (cfs__fh_open(fh, &id, &p, &plen) < 0 || id != px->id || plen > HC_PAYLOAD ||
        !hc_checkable(p, plen, st->stx_ino))
        return;
    pthread_mutex_lock(&hc_lock);
    struct hc_ent *set = hc_set(px->id, st->stx_ino), *e = NULL;
    for (unsigned w = 0; w < HC_WAYS && !e; w++) /* the same inode (a new birth), or a free way */
        if (!set[w].len || (set[w].ino == st->stx_ino && set[w].export_id == px->id))
            e = &set[w];
    if (!e) /* else one of the four, by bits of the hash the set index did not use */
        e = &set[hc_hash(px->id, st->stx_ino) >> 20 & (HC_WAYS - 1)];
    e->ino = st->stx_ino;
    e->btime_sec = st->stx_btime.tv_sec;
    e->btime_nsec = st->stx_btime.tv_nsec;
    e->export_id = px->id;
    e->dev = hc_dev(st);
    e->len = (uint8_t)plen;
    memcpy(e->payload, p, plen);
    pthread_mutex_unlock(&hc_lock);
}

void px_hc_stats(uint64_t *hits, uint64_t *misses)
{
    *hits = atomic_load(&hc_hits);
    *misses = atomic_load(&hc_misses);
}
