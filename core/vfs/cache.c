/*
 * core/vfs/cache.c - the VFS caches: attributes by (export id, fileid), bounded in
 * entries and age and forgotten by every mutation made through the VFS; and a
 * per-export cache of open fds keyed by handle bytes (plus open mode and caller), with
 * reference counts so an evicted fd is closed only after its last user is done.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "cache.h"
#include "metrics.h"

/* ---- shared ---- */
static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t fnv1a(const void *p, size_t n, uint64_t h)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

struct lru {
    struct lru *prev, *next;
};

static void lru_init(struct lru *l) { l->prev = l->next = l; }
static void lru_del(struct lru *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->prev = l->next = l;
}
static void lru_push(struct lru *head, struct lru *l) /* most recent at head->next */
{
    l->next = head->next;
    l->prev = head;
    head->next->prev = l;
    head->next = l;
}

#define CONTAINER(ptr, type, field) ((type *)(void *)((char *)(ptr) - offsetof(type, field)))

/* ---- attribute cache ---- */
#define ATTR_BUCKETS 8192u

struct attr_ent {
    struct attr_ent *hnext;
    struct lru lru;
    uint32_t export_id;
    uint64_t expires;
    struct cfs_attr attr;
};

static pthread_mutex_t attr_lock = PTHREAD_MUTEX_INITIALIZER;
static struct attr_ent *attr_tab[ATTR_BUCKETS];
/*
 * Invalidation generations: attr_gen counts forgets; bucket_gen[b] is the generation
 * of the last forget in bucket b. A put carries the generation read before its stat;
 * when a forget hit the bucket since, the stat may predate the change it announced
 * (a getattr racing a write), so the put is dropped instead of caching stale data.
 */
static _Atomic uint64_t attr_gen = 1;
static uint64_t bucket_gen[ATTR_BUCKETS];
static struct lru attr_lru = { &attr_lru, &attr_lru };
static uint32_t attr_n, attr_max = 8192, attr_ttl = 2000;
static _Atomic uint64_t attr_hits, attr_misses;
static uint32_t fd_max = 1024;

static uint32_t attr_bucket(uint32_t export_id, uint64_t fileid)
{
    uint64_t k[2] = { export_id, fileid };
    return (uint32_t)(fnv1a(k, sizeof(k), 0xcbf29ce484222325ULL) & (ATTR_BUCKETS - 1));
}

static struct attr_ent **attr_slot(uint32_t export_id, uint64_t fileid)
{
    return &attr_tab[attr_bucket(export_id, fileid)];
}

uint64_t cfs__attr_gen(void)
{
    return atomic_load(&attr_gen);
}

static void attr_unlink(struct attr_ent **pp)
{
    struct attr_ent *e = *pp;
    *pp = e->hnext;
    lru_del(&e->lru);
    attr_n--;
    free(e);
}

static struct attr_ent **attr_find(uint32_t export_id, uint64_t fileid)
{
    struct attr_ent **pp = attr_slot(export_id, fileid);
    for (; *pp; pp = &(*pp)->hnext)
        if ((*pp)->export_id == export_id && (*pp)->attr.fileid == fileid)
            return pp;
    return NULL;
}

bool cfs__attr_get(uint32_t export_id, uint64_t fileid, struct cfs_attr *out)
{
    bool hit = false;
    pthread_mutex_lock(&attr_lock);
    struct attr_ent **pp = attr_find(export_id, fileid);
    if (pp) {
        if ((*pp)->expires > now_ms()) {
            *out = (*pp)->attr;
            hit = true;
        } else {
            attr_unlink(pp);
        }
    }
    pthread_mutex_unlock(&attr_lock);
    atomic_fetch_add_explicit(hit ? &attr_hits : &attr_misses, 1, memory_order_relaxed);
    cfs__counter_add(hit ? cfs__vfs_m_attr_hit : cfs__vfs_m_attr_miss, 1);
    return hit;
}

void cfs__attr_put(uint32_t export_id, const struct cfs_attr *attr, uint64_t gen)
{
    pthread_mutex_lock(&attr_lock);
    if (bucket_gen[attr_bucket(export_id, attr->fileid)] >= gen) {
        pthread_mutex_unlock(&attr_lock); /* invalidated since the stat began */
        return;
    }
    struct attr_ent **pp = attr_find(export_id, attr->fileid), *e;
    if (pp) {
        e = *pp;
        lru_del(&e->lru);
    } else {
        while (attr_n >= attr_max && attr_lru.prev != &attr_lru) {
            struct attr_ent *old = CONTAINER(attr_lru.prev, struct attr_ent, lru);
            attr_unlink(attr_find(old->export_id, old->attr.fileid));
        }
        e = malloc(sizeof(*e));
        if (!e)
            goto out;
        e->export_id = export_id;
        struct attr_ent **slot = attr_slot(export_id, attr->fileid);
        e->hnext = *slot;
        *slot = e;
        attr_n++;
    }
    e->attr = *attr;
    e->expires = now_ms() + attr_ttl;
    lru_push(&attr_lru, &e->lru);
out:
    pthread_mutex_unlock(&attr_lock);
}

void cfs__attr_forget(uint32_t export_id, uint64_t fileid)
{
    pthread_mutex_lock(&attr_lock);
    bucket_gen[attr_bucket(export_id, fileid)] = atomic_fetch_add(&attr_gen, 1);
    struct attr_ent **pp = attr_find(export_id, fileid);
    if (pp)
        attr_unlink(pp);
    pthread_mutex_unlock(&attr_lock);
}

void cfs__attr_flush(void)
{
    pthread_mutex_lock(&attr_lock);
    uint64_t g = atomic_fetch_add(&attr_gen, 1);
    for (uint32_t i = 0; i < ATTR_BUCKETS; i++)
        bucket_gen[i] = g;
    for (uint32_t i = 0; i < ATTR_BUCKETS; i++)
        while (attr_tab[i])
            attr_unlink(&attr_tab[i]);
    pthread_mutex_unlock(&attr_lock);
}

void cfs__attr_fini(void)
{
    cfs__attr_flush();
}

void cfs__attr_config(uint32_t max, uint32_t ttl_ms)
{
    pthread_mutex_lock(&attr_lock);
    if (max)
        attr_max = max;
    if (ttl_ms)
        attr_ttl = ttl_ms;
    pthread_mutex_unlock(&attr_lock);
}

void cfs__attr_counts(uint64_t *hits, uint64_t *misses, uint64_t *entries)
{
    *hits = atomic_load(&attr_hits);
    *misses = atomic_load(&attr_misses);
    pthread_mutex_lock(&attr_lock);
    *entries = attr_n;
    pthread_mutex_unlock(&attr_lock);
}

void cfs__vfs_cache_config(uint32_t a_max, uint32_t a_ttl_ms, uint32_t f_max)
{
    cfs__attr_config(a_max, a_ttl_ms);
    if (f_max)
        __atomic_store_n(&fd_max, f_max, __ATOMIC_RELAXED);
}

/* ---- fd cache ---- */
#define FDC_BUCKETS 2048u

struct cfs__fdc {
    pthread_mutex_t lock;
    struct cfs__fdc_ent *tab[FDC_BUCKETS];
    struct lru lru;
    uint32_t n;
};

static struct cfs__fdc_ent **fdc_slot(struct cfs__fdc *c, const void *key, size_t klen)
{
    return &c->tab[fnv1a(key, klen, 0xcbf29ce484222325ULL) & (FDC_BUCKETS - 1)];
}

struct cfs__fdc *cfs__fdc_new(void)
{
    struct cfs__fdc *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    pthread_mutex_init(&c->lock, NULL);
    lru_init(&c->lru);
    return c;
}

static void ent_close(struct cfs__fdc_ent *e)
{
    close(e->fd);
    free(e);
}

/* Take e out of the table (the caller holds the lock); closed now or at last put. */
static void fdc_remove(struct cfs__fdc *c, struct cfs__fdc_ent **pp)
{
    struct cfs__fdc_ent *e = *pp;
    *pp = e->hnext;
    lru_del((struct lru *)e->lru);
    c->n--;
    atomic_fetch_sub_explicit(&cfs__vfs_fd_entries, 1, memory_order_relaxed);
    e->dead = true;
    if (e->refs == 0)
        ent_close(e);
}

static struct cfs__fdc_ent **fdc_find(struct cfs__fdc *c, const void *key, size_t klen)
{
    struct cfs__fdc_ent **pp = fdc_slot(c, key, klen);
    for (; *pp; pp = &(*pp)->hnext)
        if ((*pp)->klen == klen && memcmp((*pp)->key, key, klen) == 0)
            return pp;
    return NULL;
}

struct cfs__fdc_ent *cfs__fdc_get(struct cfs__fdc *c, const void *key, size_t klen)
{
    struct cfs__fdc_ent *e = NULL;
    pthread_mutex_lock(&c->lock);
    struct cfs__fdc_ent **pp = fdc_find(c, key, klen);
    if (pp) {
        e = *pp;
        e->refs++;
        lru_del((struct lru *)e->lru);
        lru_push(&c->lru, (struct lru *)e->lru);
    }
    pthread_mutex_unlock(&c->lock);
    atomic_fetch_add_explicit(e ? &cfs__vfs_fd_hits : &cfs__vfs_fd_misses, 1,
                              memory_order_relaxed);
    cfs__counter_add(e ? cfs__vfs_m_fd_hit : cfs__vfs_m_fd_miss, 1);
    return e;
}

struct cfs__fdc_ent *cfs__fdc_add(struct cfs__fdc *c, const void *key, size_t klen, int fd,
                                  uint64_t ino)
{
    if (klen > sizeof(((struct cfs__fdc_ent *)0)->key)) {
        close(fd);
        return NULL;
    }
    struct cfs__fdc_ent *e = calloc(1, sizeof(*e));
    if (!e) {
        close(fd);
        return NULL;
    }
    memcpy(e->key, key, klen);
    e->klen = (uint8_t)klen;
    e->fd = fd;
    e->ino = ino;
    e->refs = 1;
    lru_init((struct lru *)e->lru);
    pthread_mutex_lock(&c->lock);
    struct cfs__fdc_ent **pp = fdc_find(c, key, klen);
    if (pp) { /* another thread raced us in: use its fd */
        struct cfs__fdc_ent *old = *pp;
        old->refs++;
        pthread_mutex_unlock(&c->lock);
        ent_close(e);
        return old;
    }
    uint32_t max = __atomic_load_n(&fd_max, __ATOMIC_RELAXED);
    while (c->n >= max && c->lru.prev != &c->lru) {
        struct cfs__fdc_ent *old = CONTAINER(c->lru.prev, struct cfs__fdc_ent, lru);
        fdc_remove(c, fdc_find(c, old->key, old->klen));
    }
    struct cfs__fdc_ent **slot = fdc_slot(c, key, klen);
    e->hnext = *slot;
    *slot = e;
    lru_push(&c->lru, (struct lru *)e->lru);
    c->n++;
    atomic_fetch_add_explicit(&cfs__vfs_fd_entries, 1, memory_order_relaxed);
    pthread_mutex_unlock(&c->lock);
    return e;
}

void cfs__fdc_put(struct cfs__fdc *c, struct cfs__fdc_ent *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&c->lock);
    bool close_it = --e->refs == 0 && e->dead;
    pthread_mutex_unlock(&c->lock);
    if (close_it)
        ent_close(e);
}

void cfs__fdc_forget_ino(struct cfs__fdc *c, uint64_t ino)
{
    pthread_mutex_lock(&c->lock);
    for (uint32_t i = 0; i < FDC_BUCKETS; i++) {
        struct cfs__fdc_ent **pp = &c->tab[i];
        while (*pp) {
            if ((*pp)->ino == ino)
                fdc_remove(c, pp);
            else
                pp = &(*pp)->hnext;
        }
    }
    pthread_mutex_unlock(&c->lock);
}

void cfs__fdc_forget_key(struct cfs__fdc *c, const void *key, size_t klen)
{
    pthread_mutex_lock(&c->lock);
    struct cfs__fdc_ent **pp = fdc_find(c, key, klen);
    if (pp)
        fdc_remove(c, pp);
    pthread_mutex_unlock(&c->lock);
}

void cfs__fdc_flush(struct cfs__fdc *c)
{
    pthread_mutex_lock(&c->lock);
    for (uint32_t i = 0; i < FDC_BUCKETS; i++)
        while (c->tab[i])
            fdc_remove(c, &c->tab[i]);
    pthread_mutex_unlock(&c->lock);
}

void cfs__fdc_free(struct cfs__fdc *c)
{
    if (!c)
        return;
    cfs__fdc_flush(c);
    pthread_mutex_destroy(&c->lock);
    free(c);
}
