/*
 * core/proto/rpc_drc.c - the ONC RPC duplicate request cache: remembers the replies of
 * non-idempotent calls (CREATE, REMOVE, RENAME...) by xid, program, version, procedure,
 * client address and a checksum of the arguments, so a retransmission gets the first
 * answer instead of running twice. A hash table plus an LRU list under one mutex.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <cfs/rpc.h>

struct drc_entry {
    struct cfs_rpc_drc_key key;
    uint64_t hash;
    uint64_t stamp_ms;
    bool in_progress;
    uint8_t *reply;
    size_t reply_len;
    struct drc_entry *hnext;            /* hash chain */
    struct drc_entry *lru_prev, *lru_next; /* head = most recent */
};

struct cfs_rpc_drc {
    pthread_mutex_t mu;
    struct drc_entry **buckets;
    size_t nbuckets, count, max;
    uint64_t ttl_ms;
    struct drc_entry *lru_head, *lru_tail;
};

uint64_t cfs_rpc_drc_checksum(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

void cfs_rpc_drc_key_init(struct cfs_rpc_drc_key *k, const struct cfs_rpc_call *call,
                          const struct sockaddr *peer, socklen_t peerlen)
{
    memset(k, 0, sizeof(*k));
    k->xid = call->xid;
    k->prog = call->prog;
    k->vers = call->vers;
    k->proc = call->proc;
    k->args_sum = cfs_rpc_drc_checksum(call->args, call->args_len);
    if (peer == NULL)
        return;
    /* Keep the address only: a client reconnecting from a new port still matches. */
    if (peer->sa_family == AF_INET && peerlen >= (socklen_t)sizeof(struct sockaddr_in)) {
        struct sockaddr_in *a = (struct sockaddr_in *)&k->addr;

        a->sin_family = AF_INET;
        a->sin_addr = ((const struct sockaddr_in *)peer)->sin_addr;
    } else if (peer->sa_family == AF_INET6 &&
               peerlen >= (socklen_t)sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&k->addr;

        a->sin6_family = AF_INET6;
        a->sin6_addr = ((const struct sockaddr_in6 *)peer)->sin6_addr;
    }
}

static uint64_t key_hash(const struct cfs_rpc_drc_key *k)
{
    return cfs_rpc_drc_checksum(k, sizeof(*k));
}

static bool key_eq(const struct cfs_rpc_drc_key *a, const struct cfs_rpc_drc_key *b)
{
    return memcmp(a, b, sizeof(*a)) == 0;
}

cfs_rpc_drc *cfs_rpc_drc_new(size_t max_entries, uint64_t ttl_ms)
{
    cfs_rpc_drc *d = calloc(1, sizeof(*d));

    if (d == NULL)
        return NULL;
    if (max_entries == 0)
        max_entries = 1;
    d->max = max_entries;
    d->ttl_ms = ttl_ms;
    d->nbuckets = 64;
    while (d->nbuckets < max_entries && d->nbuckets < (1u << 20))
        d->nbuckets *= 2;
    d->buckets = calloc(d->nbuckets, sizeof(*d->buckets));
    if (d->buckets == NULL) {
        free(d);
        return NULL;
    }
    pthread_mutex_init(&d->mu, NULL);
    return d;
}

static void lru_unlink(cfs_rpc_drc *d, struct drc_entry *e)
{
    if (e->lru_prev)
        e->lru_prev->lru_next = e->lru_next;
    else
        d->lru_head = e->lru_next;
    if (e->lru_next)
        e->lru_next->lru_prev = e->lru_prev;
    else
        d->lru_tail = e->lru_prev;
    e->lru_prev = e->lru_next = NULL;
}

static void lru_push(cfs_rpc_drc *d, struct drc_entry *e)
{
    e->lru_prev = NULL;
    e->lru_next = d->lru_head;
    if (d->lru_head)
        d->lru_head->lru_prev = e;
    d->lru_head = e;
    if (d->lru_tail == NULL)
        d->lru_tail = e;
}

static void entry_remove(cfs_rpc_drc *d, struct drc_entry *e)
{
    struct drc_entry **pp = &d->buckets[e->hash & (d->nbuckets - 1)];

    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = e->hnext;
    lru_unlink(d, e);
    d->count--;
    free(e->reply);
    free(e);
}

static struct drc_entry *find(cfs_rpc_drc *d, const struct cfs_rpc_drc_key *k, uint64_t h)
{
    for (struct drc_entry *e = d->buckets[h & (d->nbuckets - 1)]; e; e = e->hnext)
        if (e->hash == h && key_eq(&e->key, k))
            return e;
    return NULL;
}

void cfs_rpc_drc_free(cfs_rpc_drc *d)
{
    if (d == NULL)
        return;
    while (d->lru_head)
        entry_remove(d, d->lru_head);
    free(d->buckets);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

/* Evict completed entries from the tail while over the limit or past their ttl. */
static void evict(cfs_rpc_drc *d, uint64_t now_ms)
{
    struct drc_entry *e = d->lru_tail;

    while (e) {
        struct drc_entry *prev = e->lru_prev;
        bool old = now_ms >= e->stamp_ms && now_ms - e->stamp_ms > d->ttl_ms;

        if (d->count < d->max && !old)
            break;
        if (!e->in_progress || old)
            entry_remove(d, e);
        e = prev;
    }
}

int cfs_rpc_drc_lookup(cfs_rpc_drc *d, const struct cfs_rpc_drc_key *k, uint64_t now_ms,
                       uint8_t **reply, size_t *len)
{
    uint64_t h = key_hash(k);
    struct drc_entry *e;
    int st = CFS_RPC_DRC_NEW;

    *reply = NULL;
    *len = 0;
    pthread_mutex_lock(&d->mu);
    e = find(d, k, h);
    if (e != NULL && !e->in_progress && now_ms >= e->stamp_ms &&
        now_ms - e->stamp_ms > d->ttl_ms) {
        entry_remove(d, e); /* expired: a new call that happens to reuse the xid */
        e = NULL;
    }
    if (e != NULL) {
        if (e->in_progress) {
            st = CFS_RPC_DRC_IN_PROGRESS;
        } else {
            uint8_t *copy = malloc(e->reply_len ? e->reply_len : 1);

            if (copy == NULL) {
                st = -ENOMEM;
                goto out;
            }
            memcpy(copy, e->reply, e->reply_len);
            *reply = copy;
            *len = e->reply_len;
            lru_unlink(d, e);
            lru_push(d, e);
            st = CFS_RPC_DRC_REPLAY;
        }
        goto out;
    }
    evict(d, now_ms);
    e = calloc(1, sizeof(*e));
    if (e == NULL) {
        st = -ENOMEM;
        goto out;
    }
    e->key = *k;
    e->hash = h;
    e->stamp_ms = now_ms;
    e->in_progress = true;
    e->hnext = d->buckets[h & (d->nbuckets - 1)];
    d->buckets[h & (d->nbuckets - 1)] = e;
    lru_push(d, e);
    d->count++;
out:
    pthread_mutex_unlock(&d->mu);
    return st;
}

void cfs_rpc_drc_complete(cfs_rpc_drc *d, const struct cfs_rpc_drc_key *k,
                          const void *reply, size_t len, uint64_t now_ms)
{
    uint64_t h = key_hash(k);
    struct drc_entry *e;

    pthread_mutex_lock(&d->mu);
    e = find(d, k, h);
    if (e == NULL || !e->in_progress)
        goto out;
    e->reply = malloc(len ? len : 1);
    if (e->reply == NULL) {
        entry_remove(d, e);
        goto out;
    }
    memcpy(e->reply, reply, len);
    e->reply_len = len;
    e->in_progress = false;
    e->stamp_ms = now_ms;
out:
    pthread_mutex_unlock(&d->mu);
}

void cfs_rpc_drc_abandon(cfs_rpc_drc *d, const struct cfs_rpc_drc_key *k)
{
    uint64_t h = key_hash(k);
    struct drc_entry *e;

    pthread_mutex_lock(&d->mu);
    e = find(d, k, h);
    if (e != NULL && e->in_progress)
        entry_remove(d, e);
    pthread_mutex_unlock(&d->mu);
}

size_t cfs_rpc_drc_size(cfs_rpc_drc *d)
{
    size_t n;

    pthread_mutex_lock(&d->mu);
    n = d->count;
    pthread_mutex_unlock(&d->mu);
    return n;
}
