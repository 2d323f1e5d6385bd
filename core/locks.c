/*
 * core/locks.c - the lock and lease manager: byte-range locks (POSIX and Windows
 * semantics), share reservations and leases/delegations with asynchronous breaks, keyed
 * by object, one mutex per bucket of objects (see cfs/lock.h for the contract and
 * core/locks.h for the core side).
 */
#include "locks.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <cfs/errors.h>

#include "clock.h"
#include "core.h"
#include "metrics.h"

#define NBUCKETS 256u
#define OBJ_MAGIC 0x4c4f424au /* "LOBJ" */

struct owner {
    uint32_t proto;
    uint32_t len;
    uint64_t client;
    uint8_t *data;
};

struct range {
    struct owner own;
    uint64_t start, end; /* [start, end); end UINT64_MAX = to EOF */
    enum cfs_lock_type type;
    bool windows;
};

struct share {
    uint64_t id;
    struct owner own;
    uint32_t access, deny;
};

struct lease {
    uint64_t id;
    struct owner own;
    uint32_t state, flags;
    cfs_lease_break_fn fn;
    void *arg;
    bool breaking;
    uint32_t break_to;
    uint64_t deadline;
};

enum { W_LOCK = 0, W_BREAK = 1 };

struct waiter {
    struct waiter *next;
    cfs_lock_wake_fn fn;
    void *arg;
    int kind;
};

struct obj {
    uint32_t magic;
    struct obj *next;
    struct cfs_lock_key key;
    struct range *ranges;
    size_t nranges, cranges;
    struct share *shares;
    size_t nshares, cshares;
    struct lease *leases;
    size_t nleases, cleases;
    struct waiter *waiters;
};

struct bucket {
    pthread_mutex_t mu;
    struct obj *head;
};

/* A callback to run once the bucket mutex is released. */
struct notice {
    cfs_lease_break_fn fn;
    void *arg;
    uint64_t id;
    uint32_t from, to, flags;
};

struct deferred {
    struct waiter *wakes;
    struct notice *v;
    size_t n, cap;
    struct notice inline_v[8];
};

enum { K_RANGE, K_SHARE, K_LEASE, K__N };

static struct {
    struct bucket b[NBUCKETS];
    _Atomic uint64_t break_timeout_ms; /* configuration: may change on reload */
    atomic_size_t max_entries;
    bool inited;
    atomic_size_t n[K__N];
    atomic_size_t nobjects, nbreaking;
    atomic_uint_fast64_t next_id;
    cfs_series *m_held[K__N], *m_conflicts[K__N];
    cfs_series *m_sent, *m_acked, *m_returned, *m_revoked;
} g;

static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void once_init(void)
{
    for (unsigned i = 0; i < NBUCKETS; i++)
        pthread_mutex_init(&g.b[i].mu, NULL);
    atomic_store(&g.next_id, 1);
}

/* ---- helpers --------------------------------------------------------------------- */

static uint32_t key_hash(const struct cfs_lock_key *k)
{
    uint32_t h = 2166136261u;

    for (unsigned i = 0; i < k->len; i++) {
        h ^= k->data[i];
        h *= 16777619u;
    }
    return h;
}

static bool key_ok(const struct cfs_lock_key *k)
{
    return k != NULL && k->len > 0 && k->len <= CFS_LOCK_KEY_MAX;
}

static bool owner_ok(const struct cfs_lock_owner *o)
{
    return o != NULL && o->len > 0 && o->len <= CFS_LOCK_OWNER_MAX && o->data != NULL;
}

static bool owner_eq(const struct owner *a, const struct cfs_lock_owner *b)
{
    return b != NULL && a->proto == b->proto && a->len == b->len &&
           memcmp(a->data, b->data, a->len) == 0;
}

static bool same_client(const struct owner *a, const struct cfs_lock_owner *b)
{
    return a->proto == b->proto && a->client != 0 && a->client == b->client;
}

static int owner_dup(struct owner *dst, const struct cfs_lock_owner *src)
{
    dst->data = malloc(src->len);
    if (dst->data == NULL)
        return -ENOMEM;
    memcpy(dst->data, src->data, src->len);
    dst->proto = src->proto;
    dst->len = src->len;
    dst->client = src->client;
    return 0;
}

static void owner_free(struct owner *o)
{
    free(o->data);
    o->data = NULL;
}

static int grow(void **arr, size_t *cap, size_t need, size_t elsz)
{
    size_t ncap;
    void *p;

    if (need <= *cap)
        return 0;
    ncap = *cap ? *cap * 2 : 4;
    while (ncap < need)
        ncap *= 2;
    p = realloc(*arr, ncap * elsz);
    if (p == NULL)
        return -ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

/* [start, end) from offset/length; -EINVAL on overflow. */
static int make_range(uint64_t offset, uint64_t length, uint64_t *start, uint64_t *end)
{
    if (length == CFS_LOCK_EOF) {
        *start = offset;
        *end = UINT64_MAX;
        return 0;
    }
    if (offset > UINT64_MAX - length)
        return -EINVAL;
    *start = offset;
    *end = offset + length;
    return 0;
}

static void update_gauges(void)
{
    for (int k = 0; k < K__N; k++)
        cfs__gauge_set(g.m_held[k], (double)atomic_load(&g.n[k]));
}

static bool table_full(size_t extra)
{
    size_t total = atomic_load(&g.n[K_RANGE]) + atomic_load(&g.n[K_SHARE]) +
                   atomic_load(&g.n[K_LEASE]);

    return total + extra > atomic_load(&g.max_entries);
}

/* ---- objects and buckets ---------------------------------------------------------- */

static struct bucket *bucket_of(const struct cfs_lock_key *k)
{
    pthread_once(&g_once, once_init);
    return &g.b[key_hash(k) % NBUCKETS];
}

static struct obj *obj_find(struct bucket *b, const struct cfs_lock_key *k, bool create)
{
    struct obj *o;

    for (o = b->head; o != NULL; o = o->next)
        if (o->key.len == k->len && memcmp(o->key.data, k->data, k->len) == 0)
            return o;
    if (!create)
        return NULL;
    o = calloc(1, sizeof(*o));
    if (o == NULL)
        return NULL;
    o->magic = OBJ_MAGIC;
    o->key = *k;
    o->next = b->head;
    b->head = o;
    atomic_fetch_add(&g.nobjects, 1);
    return o;
}

/* Free o if nothing is left in it (bucket mutex held). */
static void obj_gc(struct bucket *b, struct obj *o)
{
    struct obj **pp;

    if (o == NULL || o->nranges || o->nshares || o->nleases || o->waiters)
        return;
    for (pp = &b->head; *pp != o; pp = &(*pp)->next)
        assert(*pp != NULL);
    *pp = o->next;
    free(o->ranges);
    free(o->shares);
    free(o->leases);
    o->magic = 0;
    free(o);
    atomic_fetch_sub(&g.nobjects, 1);
}

static void range_remove(struct obj *o, size_t i)
{
    owner_free(&o->ranges[i].own);
    memmove(&o->ranges[i], &o->ranges[i + 1], (o->nranges - i - 1) * sizeof(o->ranges[0]));
    o->nranges--;
    atomic_fetch_sub(&g.n[K_RANGE], 1);
}

static void share_remove_at(struct obj *o, size_t i)
{
    owner_free(&o->shares[i].own);
    memmove(&o->shares[i], &o->shares[i + 1], (o->nshares - i - 1) * sizeof(o->shares[0]));
    o->nshares--;
    atomic_fetch_sub(&g.n[K_SHARE], 1);
}

static void lease_remove_at(struct obj *o, size_t i)
{
    if (o->leases[i].breaking)
        atomic_fetch_sub(&g.nbreaking, 1);
    owner_free(&o->leases[i].own);
    memmove(&o->leases[i], &o->leases[i + 1], (o->nleases - i - 1) * sizeof(o->leases[0]));
    o->nleases--;
    atomic_fetch_sub(&g.n[K_LEASE], 1);
}

/* ---- deferred callbacks ----------------------------------------------------------- */

static void defer_init(struct deferred *d)
{
    d->wakes = NULL;
    d->v = d->inline_v;
    d->n = 0;
    d->cap = sizeof(d->inline_v) / sizeof(d->inline_v[0]);
}

static void defer_notice(struct deferred *d, const struct lease *l, uint32_t from, uint32_t to,
                         uint32_t flags)
{
    if (l->fn == NULL)
        return;
    if (d->n == d->cap) {
        size_t ncap = d->cap * 2;
        struct notice *nv = malloc(ncap * sizeof(*nv));

        if (nv == NULL) {
            cfs__log(CFS_LOG_ERROR, "locks", "out of memory: lease break notice lost");
            return;
        }
        memcpy(nv, d->v, d->n * sizeof(*nv));
        if (d->v != d->inline_v)
            free(d->v);
        d->v = nv;
        d->cap = ncap;
    }
    d->v[d->n++] = (struct notice){l->fn, l->arg, l->id, from, to, flags};
}

/* Move the object's waiters of `kind` (-1 = all) to d (bucket mutex held). */
static void defer_wakes(struct deferred *d, struct obj *o, int kind)
{
    struct waiter **pp = &o->waiters, *w;

    while ((w = *pp) != NULL) {
        if (kind < 0 || w->kind == kind) {
            *pp = w->next;
            w->next = d->wakes;
            d->wakes = w;
        } else {
            pp = &w->next;
        }
    }
}

/* Run the callbacks (no lock held). */
static void defer_run(struct deferred *d)
{
    struct waiter *w;

    for (size_t i = 0; i < d->n; i++)
        d->v[i].fn(d->v[i].arg, d->v[i].id, d->v[i].from, d->v[i].to, d->v[i].flags);
    if (d->v != d->inline_v)
        free(d->v);
    while ((w = d->wakes) != NULL) {
        d->wakes = w->next;
        w->fn(w->arg);
        free(w);
    }
    update_gauges();
}

static int add_waiter(struct obj *o, int kind, cfs_lock_wake_fn fn, void *arg)
{
    struct waiter *w = malloc(sizeof(*w));

    if (w == NULL)
        return -ENOMEM;
    w->fn = fn;
    w->arg = arg;
    w->kind = kind;
    w->next = o->waiters;
    o->waiters = w;
    return 0;
}

/* ---- byte-range locks --------------------------------------------------------------- */

static const struct range *find_conflict(const struct obj *o, const struct cfs_lock_owner *own,
                                         enum cfs_lock_type type, uint64_t s, uint64_t e,
                                         bool windows)
{
    for (size_t i = 0; o != NULL && i < o->nranges; i++) {
        const struct range *r = &o->ranges[i];

        if (!(r->start < e && s < r->end))
            continue;
        if (r->type == CFS_LOCK_READ && type == CFS_LOCK_READ)
            continue;
        if (own != NULL && owner_eq(&r->own, own)) {
            if (!windows)
                continue;  /* POSIX: an owner never conflicts with itself */
            if (type == CFS_LOCK_READ)
                continue;  /* Windows: shared stacks on the owner's own exclusive */
        }
        return r;
    }
    return NULL;
}

static void fill_conflict(struct cfs_lock_conflict *c, const struct range *r)
{
    if (c == NULL)
        return;
    c->type = r->type;
    c->offset = r->start;
    c->length = r->end == UINT64_MAX ? CFS_LOCK_EOF : r->end - r->start;
    c->proto = r->own.proto;
    c->client = r->own.client;
    c->owner_len = r->own.len;
    memcpy(c->owner, r->own.data, r->own.len);
}

static bool valid_type(int type)
{
    return type == CFS_LOCK_READ || type == CFS_LOCK_WRITE;
}

/*
 * Remove [s, e) from the owner's POSIX locks (only those of a type other than `keep`,
 * or all when keep == 0). `spare` is a pre-made owner copy for the one split that can
 * happen; it is consumed (set to NULL data) when used.
 */
static void posix_cut(struct obj *o, const struct cfs_lock_owner *own, uint64_t s, uint64_t e,
                      int keep, struct owner *spare)
{
    for (size_t i = 0; i < o->nranges;) {
        struct range *r = &o->ranges[i];

        if (r->windows || !owner_eq(&r->own, own) || (int)r->type == keep ||
            !(r->start < e && s < r->end)) {
            i++;
            continue;
        }
        if (r->start < s && e < r->end) {
            /* split: [r->start, s) stays, [e, r->end) is new (capacity reserved) */
            struct range right = *r;

            assert(spare->data != NULL);
            right.own = *spare;
            spare->data = NULL;
            right.start = e;
            r->end = s;
            o->ranges[o->nranges++] = right;
            atomic_fetch_add(&g.n[K_RANGE], 1);
            i++;
        } else if (r->start < s) {
            r->end = s;
            i++;
        } else if (e < r->end) {
            r->start = e;
            i++;
        } else {
            range_remove(o, i);
        }
    }
}

static int api_lock(const struct cfs_lock_key *key, const struct cfs_lock_owner *owner,
                    enum cfs_lock_type type, uint64_t offset, uint64_t length, uint32_t flags,
                    struct cfs_lock_conflict *conflict, cfs_lock_wake_fn wake, void *arg)
{
    bool windows = (flags & CFS_LOCK_F_WINDOWS) != 0;
    struct owner mine = {0}, spare = {0};
    struct bucket *b;
    struct obj *o;
    const struct range *cr;
    uint64_t s, e;
    int rc;

    if (!key_ok(key) || !owner_ok(owner) || !valid_type((int)type) ||
        make_range(offset, length, &s, &e) < 0 || (length == 0 && !windows))
        return -EINVAL;
    b = bucket_of(key);
    pthread_mutex_lock(&b->mu);
    o = obj_find(b, key, true);
    if (o == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    cr = find_conflict(o, owner, type, s, e, windows);
    if (cr != NULL) {
        fill_conflict(conflict, cr);
        cfs__counter_add(g.m_conflicts[K_RANGE], 1);
        rc = -EAGAIN;
        if (wake != NULL && add_waiter(o, W_LOCK, wake, arg) < 0)
            rc = -ENOMEM;
        goto out;
    }
    if (table_full(2)) {
        rc = -ENOLCK;
        goto out;
    }
    if (grow((void **)&o->ranges, &o->cranges, o->nranges + 2, sizeof(o->ranges[0])) < 0 ||
        owner_dup(&mine, owner) < 0 || (!windows && owner_dup(&spare, owner) < 0)) {
        rc = -ENOMEM;
        goto out;
    }
    if (!windows) {
        posix_cut(o, owner, s, e, (int)type, &spare);
        /* merge the owner's same-type locks that overlap or touch [s, e) */
        for (size_t i = 0; i < o->nranges;) {
            struct range *r = &o->ranges[i];

            if (!r->windows && r->type == type && owner_eq(&r->own, owner) && r->start <= e &&
                s <= r->end) {
                s = r->start < s ? r->start : s;
                e = r->end > e ? r->end : e;
                range_remove(o, i);
            } else {
                i++;
            }
        }
    }
    o->ranges[o->nranges++] = (struct range){mine, s, e, type, windows};
    mine.data = NULL;
    atomic_fetch_add(&g.n[K_RANGE], 1);
    rc = 0;
out:
    owner_free(&mine);
    owner_free(&spare);
    obj_gc(b, o);
    pthread_mutex_unlock(&b->mu);
    update_gauges();
    return rc;
}

static int api_unlock(const struct cfs_lock_key *key, const struct cfs_lock_owner *owner,
                      uint64_t offset, uint64_t length, uint32_t flags)
{
    bool windows = (flags & CFS_LOCK_F_WINDOWS) != 0;
    struct owner spare = {0};
    struct deferred d;
    struct bucket *b;
    struct obj *o;
    uint64_t s, e;
    int rc = 0;

    if (!key_ok(key) || !owner_ok(owner) || make_range(offset, length, &s, &e) < 0 ||
        (length == 0 && !windows))
        return -EINVAL;
    defer_init(&d);
    b = bucket_of(key);
    pthread_mutex_lock(&b->mu);
    o = obj_find(b, key, false);
    if (windows) {
        size_t found = SIZE_MAX;

        for (size_t i = 0; o != NULL && i < o->nranges; i++) {
            const struct range *r = &o->ranges[i];

            if (r->windows && r->start == s && r->end == e && owner_eq(&r->own, owner)) {
                if (found == SIZE_MAX || r->type == CFS_LOCK_WRITE)
                    found = i;
                if (r->type == CFS_LOCK_WRITE)
                    break;
            }
        }
        if (found == SIZE_MAX) {
            rc = -ENOLCK;
            goto out;
        }
        range_remove(o, found);
    } else {
        if (o == NULL)
            goto out;
        if (grow((void **)&o->ranges, &o->cranges, o->nranges + 1, sizeof(o->ranges[0])) < 0 ||
            owner_dup(&spare, owner) < 0) {
            rc = -ENOMEM;
            goto out;
        }
        posix_cut(o, owner, s, e, 0, &spare);
    }
    defer_wakes(&d, o, W_LOCK);
out:
    owner_free(&spare);
    obj_gc(b, o);
    pthread_mutex_unlock(&b->mu);
    defer_run(&d);
    return rc;
}

static int api_test(const struct cfs_lock_key *key, const struct cfs_lock_owner *owner,
                    enum cfs_lock_type type, uint64_t offset, uint64_t length, uint32_t flags,
                    struct cfs_lock_conflict *conflict)
{
    bool windows = (flags & CFS_LOCK_F_WINDOWS) != 0;
    const struct range *cr;
    struct bucket *b;
    uint64_t s, e;
    int rc = 0;

    if (!key_ok(key) || (owner != NULL && !owner_ok(owner)) || !valid_type((int)type) ||
        make_range(offset, length, &s, &e) < 0 || (length == 0 && !windows))
        return -EINVAL;
    b = bucket_of(key);
    pthread_mutex_lock(&b->mu);
    cr = find_conflict(obj_find(b, key, false), owner, type, s, e, windows);
    if (cr != NULL) {
        fill_conflict(conflict, cr);
        rc = -EAGAIN;
    }
    pthread_mutex_unlock(&b->mu);
    return rc;
}

static int api_wait_cancel(const struct cfs_lock_key *key, cfs_lock_wake_fn wake, void *arg)
{
    struct bucket *b;
    struct obj *o;
    struct waiter **pp, *w;
    int rc = -ENOENT;

    if (!key_ok(key))
        return -EINVAL;
    b = bucket_of(key);
    pthread_mutex_lock(&b->mu);
    o = obj_find(b, key, false);
    for (pp = o != NULL ? &o->waiters : NULL; pp != NULL && (w = *pp) != NULL;
         pp = &w->next) {
        if (w->fn == wake && w->arg == arg) {
            *pp = w->next;
            free(w);
            rc = 0;
            break;
        }
    }
    obj_gc(b, o);
    pthread_mutex_unlock(&b->mu);
    return rc;
}

/* ---- share reservations ------------------------------------------------------------- */

static bool share_conflicts(const struct obj *o, uint64_t self, uint32_t access, uint32_t deny)
{
    for (size_t i = 0; i < o->nshares; i++) {
        const struct share *sh = &o->shares[i];

        if (sh->id == self)
            continue;
        if ((access & sh->deny) != 0 || (deny & sh->access) != 0)
            return true;
    }
    return false;
}

static int api_share_add(const struct cfs_lock_key *key, const struct cfs_lock_owner *owner,
                         uint32_t access, uint32_t deny, uint64_t *share_id)
{
    struct owner mine = {0};
    struct bucket *b;
    struct obj *o;
    int rc;

    if (!key_ok(key) || !owner_ok(owner) || share_id == NULL || (access & ~7u) ||
        (deny & ~7u))
        return -EINVAL;
    b = bucket_of(key);
    pthread_mutex_lock(&b->mu);
    o = obj_find(b, key, true);
    if (o == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    if (share_conflicts(o, 0, access, deny)) {
        cfs__counter_add(g.m_conflicts[K_SHARE], 1);
        rc = -EBUSY;
        goto out;
    }
    if (table_full(1)) {
        rc = -ENOLCK;
        goto out;
    }
    if (grow((void **)&o->shares, &o->cshares, o->nshares + 1, sizeof(o->shares[0])) < 0 ||
        owner_dup(&mine, owner) < 0) {
        rc = -ENOMEM;
        goto out;
    }
    *share_id = atomic_fetch_add(&g.next_id, 1);
    o->shares[o->nshares++] = (struct share){*share_id, mine, access, deny};
    atomic_fetch_add(&g.n[K_SHARE], 1);
    rc = 0;
out:
    obj_gc(b, o);
    pthread_mutex_unlock(&b->mu);
    update_gauges();
    return rc;
}

static int api_share_update(const struct cfs_lock_key *key, uint64_t share_id, uint32_t access,
                            uint32_t deny)
{
    struct bucket *b;
    struct obj *o;
    int rc = -ENOENT;

    if (!key_ok(key) || (access & ~7u) || (deny & ~7u))
        return -EINVAL;
    b = bucket_of(key);
    pthread_mutex_lock(&b->mu);
    o = obj_find(b, key, false);
    for (size_t i = 0; o != NULL && i < o->nshares; i++) {
        if (o->shares[i].id != share_id)
            continue;
        if (share_conflicts(o, share_id, access, deny)) {
            cfs__counter_add(g.m_conflicts[K_SHARE], 1);
            rc = -EBUSY;
        } else {
            o->shares[i].access = access;
            o->shares[i].deny = deny;
            rc = 0;
        }
        break;
    }
    pthread_mutex_unlock(&b->mu);
    return rc;
}

static int api_share_remove(const struct cfs_lock_key *key, uint64_t share_id)
{
    struct bucket *b;
    struct obj *o;
    int rc = -ENOENT;

    if (!key_ok(key))
        return -EINVAL;
    b = bucket_of(key);
    pthread_mutex_lock(&b->mu);
    o = obj_find(b, key, false);
    for (size_t i = 0; o != NULL && i < o->nshares; i++) {
        if (o->shares[i].id == share_id) {
            share_remove_at(o, i);
            rc = 0;
            break;
        }
    }
    obj_gc(b, o);
    pthread_mutex_unlock(&b->mu);
    update_gauges();
    return rc;
}

/* ---- leases ---------------------------------------------------------------------- */

static struct lease *lease_find(struct obj *o, uint64_t id, size_t *idx)
{
    for (size_t i = 0; o != NULL && i < o->nleases; i++) {
        if (o->leases[i].id == id) {
            if (idx != NULL)
                *idx = i;
            return &o->leases[i];
        }
    }
    return NULL;
}

/* Force every overdue break of o (bucket mutex held). */
static void force_overdue(struct obj *o, uint64_t now, struct deferred *d)
{
    bool any = false;

    for (size_t i = 0; i < o->nleases;) {
        struct lease *l = &o->leases[i];

        if (!l->breaking || now < l->deadline) {
            i++;
            continue;
        }
        any = true;
        cfs__counter_add(g.m_revoked, 1);
        cfs__log(CFS_LOG_WARN, "locks", "lease %llu: break not acknowledged in %llu ms, %s",
                 (unsigned long long)l->id, (unsigned long long)atomic_load(&g.break_timeout_ms),
                 (l->flags & CFS_LEASE_F_RECALL) ? "revoked" : "forced");
        defer_notice(d, l, l->state, l->break_to, CFS_LEASE_BREAK_REVOKED);
        if (l->flags & CFS_LEASE_F_RECALL) {
            lease_remove_at(o, i);
            continue;
        }
        l->state = l->break_to;
        l->breaking = false;
        atomic_fetch_sub(&g.nbreaking, 1);
        i++;
    }
    if (any)
        defer_wakes(d, o, W_BREAK);
}

static bool valid_state(uint32_t s)
{
    return s != 0 && (s & ~7u) == 0;
}

static int api_lease_grant(const struct cfs_lock_key *key, const struct cfs_lock_owner *owner,
                           uint32_t state, uint32_t flags, cfs_lease_break_fn on_break,
                           void *arg, uint64_t *lease_id)
{
    struct owner mine = {0};
    struct deferred d;
    struct bucket *b;
    struct obj *o;
    struct lease *self = NULL;
    uint32_t want;
    int rc = 0;

    if (!key_ok(key) || !owner_ok(owner) || !valid_state(state) || lease_id == NULL ||
        (flags & ~CFS_LEASE_F_RECALL))
        return -EINVAL;
    defer_init(&d);
    b = bucket_of(key);
    pthread_mutex_lock(&b->mu);
    o = obj_find(b, key, true);
    if (o == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    force_overdue(o, cfs__clock_ms(), &d);
    for (size_t i = 0; i < o->nleases; i++)
        if (owner_eq(&o->leases[i].own, owner))
            self = &o->leases[i];
    want = state | (self != NULL ? self->state : 0);
    for (size_t i = 0; i < o->nleases; i++) {
        const struct lease *l = &o->leases[i];

        if (l->breaking ||
            (l != self && (((want & CFS_LEASE_WRITE) && (l->state & (CFS_LEASE_READ |
                                                                      CFS_LEASE_WRITE))) ||
                           ((want & CFS_LEASE_READ) && (l->state & CFS_LEASE_WRITE))))) {
            rc = -EAGAIN;
            goto conflict;
        }
    }
    for (size_t i = 0; i < o->nshares; i++) {
        const struct share *sh = &o->shares[i];

        if (same_client(&sh->own, owner))
            continue;
        if ((want & CFS_LEASE_WRITE) ||
            ((want & CFS_LEASE_READ) && (sh->access & CFS_SHARE_WRITE))) {
            rc = -EAGAIN;
            goto conflict;
        }
    }
    if (self != NULL) {
        self->state = want;
        self->fn = on_break;
        self->arg = arg;
        *lease_id = self->id;
        goto out;
    }
    if (table_full(1)) {
        rc = -ENOLCK;
        goto out;
    }
    if (grow((void **)&o->leases, &o->cleases, o->nleases + 1, sizeof(o->leases[0])) < 0 ||
        owner_dup(&mine, owner) < 0) {
        rc = -ENOMEM;
        goto out;
    }
    *lease_id = atomic_fetch_add(&g.next_id, 1);
    o->leases[o->nleases++] = (struct lease){.id = *lease_id, .own = mine, .state = want,
                                             .flags = flags, .fn = on_break, .arg = arg};
    atomic_fetch_add(&g.n[K_LEASE], 1);
    goto out;
conflict:
    cfs__counter_add(g.m_conflicts[K_LEASE], 1);
out:
    obj_gc(b, o);
    pthread_mutex_unlock(&b->mu);
    defer_run(&d);
    return rc;
}

static int api_lease_ack(const struct cfs_lock_key *key, uint64_t lease_id, uint32_t new_state)
{
    struct deferred d;
    struct bucket *b;
    struct obj *o;
    struct lease *l;
    size_t idx = 0;
    int rc = 0;

    if (!key_ok(key))
        return -EINVAL;
    defer_init(&d);
    b = bucket_of(key);
    pthread_mutex_lock(&b->mu);
    o = obj_find(b, key, false);
    l = lease_find(o, lease_id, &idx);
    if (l == NULL) {
        rc = -ENOENT;
        goto out;
    }
    if (!l->breaking || (new_state & ~l->break_to) != 0) {
        rc = -EINVAL;
        goto out;
    }
    cfs__counter_add(g.m_acked, 1);
    if (new_state == 0 && (l->flags & CFS_LEASE_F_RECALL)) {
        lease_remove_at(o, idx);
    } else {
        l->state = new_state;
        l->breaking = false;
        atomic_fetch_sub(&g.nbreaking, 1);
    }
    defer_wakes(&d, o, W_BREAK);
out:
    obj_gc(b, o);
    pthread_mutex_unlock(&b->mu);
    defer_run(&d);
    return rc;
}

static int api_lease_return(const struct cfs_lock_key *key, uint64_t lease_id)
{
    struct deferred d;
    struct bucket *b;
    struct obj *o;
    size_t idx = 0;
    int rc = 0;

    if (!key_ok(key))
        return -EINVAL;
    defer_init(&d);
    b = bucket_of(key);
    pthread_mutex_lock(&b->mu);
    o = obj_find(b, key, false);
    if (lease_find(o, lease_id, &idx) == NULL) {
        rc = -ENOENT;
        goto out;
    }
    cfs__counter_add(g.m_returned, 1);
    lease_remove_at(o, idx);
    defer_wakes(&d, o, W_BREAK);
out:
    obj_gc(b, o);
    pthread_mutex_unlock(&b->mu);
    defer_run(&d);
    return rc;
}

static int api_lease_get(const struct cfs_lock_key *key, uint64_t lease_id, uint32_t *state,
                         bool *breaking, uint32_t *break_to)
{
    struct bucket *b;
    struct lease *l;
    int rc = -ENOENT;

    if (!key_ok(key))
        return -EINVAL;
    b = bucket_of(key);
    pthread_mutex_lock(&b->mu);
    l = lease_find(obj_find(b, key, false), lease_id, NULL);
    if (l != NULL) {
        if (state != NULL)
            *state = l->state;
        if (breaking != NULL)
            *breaking = l->breaking;
        if (break_to != NULL)
            *break_to = l->break_to;
        rc = 0;
    }
    pthread_mutex_unlock(&b->mu);
    return rc;
}

/* The state a lease keeps when `what` happens. */
static uint32_t break_target(const struct lease *l, uint32_t what)
{
    uint32_t t = l->state;

    if ((what & CFS_BREAK_READ) && (t & CFS_LEASE_WRITE))
        t &= ~CFS_LEASE_WRITE;
    if (what & CFS_BREAK_WRITE)
        t &= ~(CFS_LEASE_READ | CFS_LEASE_WRITE);
    if (what & CFS_BREAK_HANDLE)
        t &= ~CFS_LEASE_HANDLE;
    if (t != l->state && (l->flags & CFS_LEASE_F_RECALL))
        t = 0;
    return t;
}

static int api_break_leases(const struct cfs_lock_key *key, const struct cfs_lock_owner *who,
                            uint32_t what, cfs_lock_wake_fn wake, void *arg)
{
    struct deferred d;
    struct bucket *b;
    struct obj *o;
    uint64_t now = cfs__clock_ms();
    bool pending = false;
    int rc = 0;

    if (!key_ok(key) || (who != NULL && !owner_ok(who)) || what == 0 || (what & ~7u))
        return -EINVAL;
    defer_init(&d);
    b = bucket_of(key);
    pthread_mutex_lock(&b->mu);
    o = obj_find(b, key, false);
    if (o == NULL)
        goto out;
    force_overdue(o, now, &d);
    for (size_t i = 0; i < o->nleases;) {
        struct lease *l = &o->leases[i];
        uint32_t to;

        if (who != NULL && owner_eq(&l->own, who)) {
            i++;
            continue;
        }
        to = break_target(l, what);
        if (to == l->state) {
            i++;
            continue;
        }
        if (l->breaking) {
            pending = true;
            i++;
            continue;
        }
        cfs__counter_add(g.m_sent, 1);
        if (!(l->flags & CFS_LEASE_F_RECALL) &&
            !(l->state & (CFS_LEASE_WRITE | CFS_LEASE_HANDLE))) {
            /* R -> none: no ack needed, nothing cached to flush */
            defer_notice(&d, l, l->state, to, 0);
            l->state = to;
            i++;
            continue;
        }
        defer_notice(&d, l, l->state, to, CFS_LEASE_BREAK_ACK_REQUIRED);
        l->breaking = true;
        l->break_to = to;
        l->deadline = now + atomic_load(&g.break_timeout_ms);
        atomic_fetch_add(&g.nbreaking, 1);
        pending = true;
        i++;
    }
    if (pending) {
        cfs__counter_add(g.m_conflicts[K_LEASE], 1);
        rc = CFS_ERETRY;
        if (wake != NULL && add_waiter(o, W_BREAK, wake, arg) < 0)
            rc = -ENOMEM;
    }
out:
    obj_gc(b, o);
    pthread_mutex_unlock(&b->mu);
    defer_run(&d);
    return rc;
}

/* ---- bulk release ------------------------------------------------------------------ */

struct match {
    const struct cfs_lock_owner *owner; /* or: */
    uint32_t proto;
    uint64_t client;
};

static bool matches(const struct owner *o, const struct match *m)
{
    if (m->owner != NULL)
        return owner_eq(o, m->owner);
    return o->proto == m->proto && o->client == m->client;
}

/* Drop m's entries from o; wake everybody if anything went (bucket mutex held). */
static void release_in(struct obj *o, const struct match *m, struct deferred *d)
{
    bool any = false;

    for (size_t i = 0; i < o->nranges;) {
        if (matches(&o->ranges[i].own, m)) {
            range_remove(o, i);
            any = true;
        } else {
            i++;
        }
    }
    for (size_t i = 0; i < o->nshares;) {
        if (matches(&o->shares[i].own, m)) {
            share_remove_at(o, i);
            any = true;
        } else {
            i++;
        }
    }
    for (size_t i = 0; i < o->nleases;) {
        if (matches(&o->leases[i].own, m)) {
            lease_remove_at(o, i);
            any = true;
        } else {
            i++;
        }
    }
    if (any)
        defer_wakes(d, o, -1);
}

static void release_match(const struct cfs_lock_key *key, const struct match *m)
{
    struct deferred d;

    defer_init(&d);
    if (key != NULL) {
        struct bucket *b = bucket_of(key);
        struct obj *o;

        pthread_mutex_lock(&b->mu);
        o = obj_find(b, key, false);
        if (o != NULL) {
            release_in(o, m, &d);
            obj_gc(b, o);
        }
        pthread_mutex_unlock(&b->mu);
        defer_run(&d);
        return;
    }
    pthread_once(&g_once, once_init);
    for (unsigned i = 0; i < NBUCKETS; i++) {
        struct bucket *b = &g.b[i];
        struct obj *o, *next;

        pthread_mutex_lock(&b->mu);
        for (o = b->head; o != NULL; o = next) {
            next = o->next;
            release_in(o, m, &d);
            obj_gc(b, o);
        }
        pthread_mutex_unlock(&b->mu);
        defer_run(&d);
        defer_init(&d);
    }
}

static void api_release_owner(const struct cfs_lock_key *key, const struct cfs_lock_owner *owner)
{
    struct match m = {.owner = owner};

    if ((key != NULL && !key_ok(key)) || !owner_ok(owner))
        return;
    release_match(key, &m);
}

static void api_release_client(uint32_t proto, uint64_t client)
{
    struct match m = {.proto = proto, .client = client};

    if (client == 0)
        return;
    release_match(NULL, &m);
}

/* ---- core side --------------------------------------------------------------------- */

static const struct cfs_lock_api g_api = {
    .size = sizeof(struct cfs_lock_api),
    .version = CFS_LOCK_API_VERSION,
    .lock = api_lock,
    .unlock = api_unlock,
    .test = api_test,
    .wait_cancel = api_wait_cancel,
    .share_add = api_share_add,
    .share_update = api_share_update,
    .share_remove = api_share_remove,
    .lease_grant = api_lease_grant,
    .lease_ack = api_lease_ack,
    .lease_return = api_lease_return,
    .lease_get = api_lease_get,
    .break_leases = api_break_leases,
    .release_owner = api_release_owner,
    .release_client = api_release_client,
};

const struct cfs_lock_api *cfs__locks_api(void)
{
    return &g_api;
}

int cfs__locks_init(const struct cfs__locks_conf *conf)
{
    static const char *const l_kind[] = {"kind", NULL};
    static const char *const l_result[] = {"result", NULL};
    static const struct cfs_metric_desc d_held = {
        .size = sizeof(d_held), .type = CFS_METRIC_GAUGE, .name = "cfs_locks_held",
        .help = "Byte-range locks, share reservations and leases held", .labels = l_kind};
    static const struct cfs_metric_desc d_conf = {
        .size = sizeof(d_conf), .type = CFS_METRIC_COUNTER, .name = "cfs_lock_conflicts_total",
        .help = "Lock, share and lease requests refused or delayed by a conflict",
        .labels = l_kind};
    static const struct cfs_metric_desc d_breaks = {
        .size = sizeof(d_breaks), .type = CFS_METRIC_COUNTER, .name = "cfs_lease_breaks_total",
        .help = "Lease and delegation breaks, by outcome", .labels = l_result};
    static const char *const kinds[K__N] = {"range", "share", "lease"};
    cfs_metric *m;

    pthread_once(&g_once, once_init);
    atomic_store(&g.break_timeout_ms,
                 conf != NULL && conf->break_timeout_ms ? conf->break_timeout_ms : 35000);
    atomic_store(&g.max_entries,
                 conf != NULL && conf->max_entries ? conf->max_entries : 1000000);
    if (g.inited)
        return 0;
    m = cfs__metric_register(&d_held);
    for (int k = 0; k < K__N; k++) {
        const char *v[] = {kinds[k]};

        g.m_held[k] = cfs__metric_series(m, v);
    }
    m = cfs__metric_register(&d_conf);
    for (int k = 0; k < K__N; k++) {
        const char *v[] = {kinds[k]};

        g.m_conflicts[k] = cfs__metric_series(m, v);
    }
    m = cfs__metric_register(&d_breaks);
    g.m_sent = cfs__metric_series(m, (const char *const[]){"sent"});
    g.m_acked = cfs__metric_series(m, (const char *const[]){"acked"});
    g.m_returned = cfs__metric_series(m, (const char *const[]){"returned"});
    g.m_revoked = cfs__metric_series(m, (const char *const[]){"revoked"});
    g.inited = true;
    update_gauges();
    return 0;
}

void cfs__locks_shutdown(void)
{
    pthread_once(&g_once, once_init);
    for (unsigned i = 0; i < NBUCKETS; i++) {
        struct bucket *b = &g.b[i];
        struct obj *o;

        pthread_mutex_lock(&b->mu);
        while ((o = b->head) != NULL) {
            struct waiter *w;

            while (o->nranges)
                range_remove(o, o->nranges - 1);
            while (o->nshares)
                share_remove_at(o, o->nshares - 1);
            while (o->nleases)
                lease_remove_at(o, o->nleases - 1);
            while ((w = o->waiters) != NULL) {
                o->waiters = w->next;
                free(w);
            }
            obj_gc(b, o);
        }
        pthread_mutex_unlock(&b->mu);
    }
    update_gauges();
}

void cfs__locks_tick(void)
{
    uint64_t now;

    if (atomic_load(&g.nbreaking) == 0)
        return;
    now = cfs__clock_ms();
    for (unsigned i = 0; i < NBUCKETS; i++) {
        struct bucket *b = &g.b[i];
        struct obj *o, *next;
        struct deferred d;

        defer_init(&d);
        pthread_mutex_lock(&b->mu);
        for (o = b->head; o != NULL; o = next) {
            next = o->next;
            force_overdue(o, now, &d);
            obj_gc(b, o);
        }
        pthread_mutex_unlock(&b->mu);
        defer_run(&d);
    }
}

void cfs__locks_timer_fn(void *arg)
{
    (void)arg;
    cfs__locks_tick();
}

void cfs__locks_stats(struct cfs__locks_stats *out)
{
    out->objects = atomic_load(&g.nobjects);
    out->ranges = atomic_load(&g.n[K_RANGE]);
    out->shares = atomic_load(&g.n[K_SHARE]);
    out->leases = atomic_load(&g.n[K_LEASE]);
    out->breaking = atomic_load(&g.nbreaking);
}
