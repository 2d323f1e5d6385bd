/*
 * tests/unit/test_locks.c - the lock and lease manager: POSIX byte-range locks (conflict
 * report, upgrade, downgrade, merge, split), Windows locks (stacking, exact unlock, zero
 * length), blocking-lock wakes, share reservations, leases and delegations (grant rules,
 * breaks with and without ack, timeouts with the fake clock, recalls), bulk release, the
 * table limit and a threaded mutual-exclusion run.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <cfs/errors.h>
#include <cfs/lock.h>

#include "clock.h"
#include "core.h"
#include "locks.h"
#include "metrics.h"

static const struct cfs_lock_api *L;
static struct cfs_lock_key K, K2;

static struct cfs_lock_owner own(const char *name, uint64_t client)
{
    return (struct cfs_lock_owner){CFS_LOCK_PROTO_LOCAL, (uint32_t)strlen(name), name, client};
}

static int setup(void **state)
{
    struct cfs__locks_conf c = {.break_timeout_ms = 1000};

    (void)state;
    cfs__log_set_level(CFS_LOG_ERROR);
    cfs__clock_fake_set(5000);
    assert_int_equal(cfs__locks_init(&c), 0);
    L = cfs__locks_api();
    cfs_lock_key_from_ids(&K, 1, 42);
    cfs_lock_key_from_ids(&K2, 1, 43);
    return 0;
}

static int teardown(void **state)
{
    struct cfs__locks_stats st;

    (void)state;
    cfs__locks_shutdown();
    cfs__locks_stats(&st);
    assert_int_equal(st.objects, 0);
    assert_int_equal(st.ranges + st.shares + st.leases + st.breaking, 0);
    cfs__clock_fake_off();
    return 0;
}

static int lk(const char *who, int type, uint64_t off, uint64_t len, uint32_t flags)
{
    struct cfs_lock_owner o = own(who, 0);

    return L->lock(&K, &o, type, off, len, flags, NULL, NULL, NULL);
}

static int unlk(const char *who, uint64_t off, uint64_t len, uint32_t flags)
{
    struct cfs_lock_owner o = own(who, 0);

    return L->unlock(&K, &o, off, len, flags);
}

/* The conflict a test by `who` meets, as "owner:offset:length:type" or "none". */
static const char *tst(const char *who, int type, uint64_t off, uint64_t len)
{
    static char buf[128];
    struct cfs_lock_owner o = own(who, 0);
    struct cfs_lock_conflict c;
    int rc = L->test(&K, &o, type, off, len, 0, &c);

    if (rc == 0)
        return "none";
    assert_int_equal(rc, -EAGAIN);
    snprintf(buf, sizeof(buf), "%.*s:%llu:%lld:%c", (int)c.owner_len, (const char *)c.owner,
             (unsigned long long)c.offset,
             c.length == CFS_LOCK_EOF ? -1LL : (long long)c.length,
             c.type == CFS_LOCK_WRITE ? 'W' : 'R');
    return buf;
}

static void test_key_helpers(void **state)
{
    struct cfs_lock_key a, b;
    struct cfs_fh fh = {.len = 3, .data = {1, 2, 3}};
    struct cfs_attr at = {.fsid = 1, .fileid = 42};

    cfs_lock_key_from_attr(&a, &at);
    assert_int_equal(a.len, 17);
    assert_memory_equal(a.data, K.data, 17);
    cfs_lock_key_from_fh(&b, &fh);
    assert_int_equal(b.len, 3);
}

static void test_posix_shared_exclusive(void **state)
{
    struct cfs_lock_owner a = own("A", 0);
    struct cfs_lock_conflict c;

    assert_int_equal(lk("A", CFS_LOCK_READ, 0, 100, 0), 0);
    assert_int_equal(lk("B", CFS_LOCK_READ, 50, 100, 0), 0);
    assert_int_equal(lk("C", CFS_LOCK_WRITE, 99, 1, 0), -EAGAIN);
    assert_int_equal(lk("C", CFS_LOCK_WRITE, 150, 10, 0), 0);
    assert_string_equal(tst("D", CFS_LOCK_WRITE, 0, 1), "A:0:100:R");
    assert_string_equal(tst("D", CFS_LOCK_READ, 0, CFS_LOCK_EOF), "C:150:10:W");
    assert_string_equal(tst("D", CFS_LOCK_READ, 0, 150), "none");
    /* the conflict of a lock call is reported too */
    struct cfs_lock_owner d = own("D", 0);
    assert_int_equal(L->lock(&K, &d, CFS_LOCK_WRITE, 155, 1, 0, &c, NULL, NULL), -EAGAIN);
    assert_int_equal(c.offset, 150);
    assert_int_equal(c.length, 10);
    assert_int_equal(c.owner_len, 1);
    assert_memory_equal(c.owner, "C", 1);
    /* a NULL owner conflicts with everybody, A included */
    assert_int_equal(L->test(&K, NULL, CFS_LOCK_WRITE, 0, 1, 0, &c), -EAGAIN);
    /* A's own shared lock does not conflict with A; B's from 50 does */
    assert_int_equal(L->test(&K, &a, CFS_LOCK_WRITE, 0, 50, 0, &c), 0);
    assert_int_equal(L->test(&K, &a, CFS_LOCK_WRITE, 0, 51, 0, &c), -EAGAIN);
    assert_memory_equal(c.owner, "B", 1);
    /* another object is independent */
    struct cfs_lock_owner z = own("Z", 0);
    assert_int_equal(L->lock(&K2, &z, CFS_LOCK_WRITE, 0, CFS_LOCK_EOF, 0, NULL, NULL, NULL), 0);
}

static void test_posix_upgrade_downgrade(void **state)
{
    assert_int_equal(lk("A", CFS_LOCK_READ, 0, 100, 0), 0);
    assert_int_equal(lk("A", CFS_LOCK_WRITE, 0, 100, 0), 0); /* upgrade, alone */
    assert_string_equal(tst("B", CFS_LOCK_READ, 10, 1), "A:0:100:W");
    /* downgrade the middle: W[0,40) R[40,60) W[60,100) */
    assert_int_equal(lk("A", CFS_LOCK_READ, 40, 20, 0), 0);
    assert_string_equal(tst("B", CFS_LOCK_READ, 45, 5), "none");
    assert_string_equal(tst("B", CFS_LOCK_READ, 30, 5), "A:0:40:W");
    assert_string_equal(tst("B", CFS_LOCK_READ, 70, 5), "A:60:40:W");
    assert_string_equal(tst("B", CFS_LOCK_WRITE, 50, 1), "A:40:20:R");
    /* upgrade refused while another owner shares the range */
    assert_int_equal(lk("B", CFS_LOCK_READ, 45, 5, 0), 0);
    assert_int_equal(lk("A", CFS_LOCK_WRITE, 0, 100, 0), -EAGAIN);
    assert_string_equal(tst("C", CFS_LOCK_READ, 30, 5), "A:0:40:W"); /* unchanged */
}

static void test_posix_merge_split(void **state)
{
    struct cfs__locks_stats st;

    assert_int_equal(lk("A", CFS_LOCK_WRITE, 0, 10, 0), 0);
    assert_int_equal(lk("A", CFS_LOCK_WRITE, 10, 10, 0), 0);  /* adjacent */
    assert_int_equal(lk("A", CFS_LOCK_WRITE, 15, 10, 0), 0);  /* overlapping */
    assert_int_equal(lk("A", CFS_LOCK_WRITE, 40, 10, 0), 0);  /* apart */
    assert_string_equal(tst("B", CFS_LOCK_READ, 24, 1), "A:0:25:W");
    cfs__locks_stats(&st);
    assert_int_equal(st.ranges, 2);
    assert_int_equal(lk("A", CFS_LOCK_WRITE, 25, 15, 0), 0);  /* fills the gap */
    assert_string_equal(tst("B", CFS_LOCK_READ, 49, 1), "A:0:50:W");
    cfs__locks_stats(&st);
    assert_int_equal(st.ranges, 1);
    /* unlock of a sub-range splits */
    assert_int_equal(unlk("A", 20, 10, 0), 0);
    assert_string_equal(tst("B", CFS_LOCK_WRITE, 20, 10), "none");
    assert_string_equal(tst("B", CFS_LOCK_WRITE, 19, 1), "A:0:20:W");
    assert_string_equal(tst("B", CFS_LOCK_WRITE, 30, 1), "A:30:20:W");
    /* unlock covering pieces and nothing: never an error */
    assert_int_equal(unlk("A", 0, CFS_LOCK_EOF, 0), 0);
    assert_int_equal(unlk("A", 0, CFS_LOCK_EOF, 0), 0);
    assert_string_equal(tst("B", CFS_LOCK_WRITE, 0, CFS_LOCK_EOF), "none");
    cfs__locks_stats(&st);
    assert_int_equal(st.ranges, 0);
    assert_int_equal(st.objects, 0);
}

static void test_posix_eof_and_errors(void **state)
{
    struct cfs_lock_owner a = own("A", 0);

    assert_int_equal(lk("A", CFS_LOCK_WRITE, 100, CFS_LOCK_EOF, 0), 0);
    assert_string_equal(tst("B", CFS_LOCK_READ, 1000000000000000000ull, 1), "A:100:-1:W");
    assert_string_equal(tst("B", CFS_LOCK_READ, 0, 100), "none");
    assert_int_equal(unlk("A", 200, CFS_LOCK_EOF, 0), 0);
    assert_string_equal(tst("B", CFS_LOCK_READ, 300, 1), "none");
    assert_string_equal(tst("B", CFS_LOCK_READ, 150, 1), "A:100:100:W");
    /* offset + length beyond 2^64 - 1 */
    assert_int_equal(lk("A", CFS_LOCK_WRITE, UINT64_MAX - 5, 10, 0), -EINVAL);
    assert_int_equal(lk("A", CFS_LOCK_WRITE, 0, 0, 0), -EINVAL); /* zero length, POSIX */
    assert_int_equal(lk("A", 7, 0, 1, 0), -EINVAL);
    assert_int_equal(L->lock(NULL, &a, CFS_LOCK_READ, 0, 1, 0, NULL, NULL, NULL), -EINVAL);
    struct cfs_lock_owner bad = {0, 0, "x", 0};
    assert_int_equal(L->lock(&K, &bad, CFS_LOCK_READ, 0, 1, 0, NULL, NULL, NULL), -EINVAL);
    struct cfs_lock_key kbad = {.len = 0};
    assert_int_equal(L->lock(&kbad, &a, CFS_LOCK_READ, 0, 1, 0, NULL, NULL, NULL), -EINVAL);
}

static void test_windows(void **state)
{
    const uint32_t W = CFS_LOCK_F_WINDOWS;
    struct cfs__locks_stats st;

    assert_int_equal(lk("A", CFS_LOCK_WRITE, 0, 10, W), 0);
    assert_int_equal(lk("A", CFS_LOCK_WRITE, 0, 10, W), -EAGAIN);  /* own exclusive */
    assert_int_equal(lk("A", CFS_LOCK_WRITE, 5, 10, W), -EAGAIN);
    assert_int_equal(lk("A", CFS_LOCK_READ, 0, 10, W), 0);         /* stacks */
    assert_int_equal(lk("B", CFS_LOCK_READ, 0, 10, W), -EAGAIN);
    /* no merging */
    assert_int_equal(lk("A", CFS_LOCK_READ, 10, 10, W), 0);
    cfs__locks_stats(&st);
    assert_int_equal(st.ranges, 3);
    assert_int_equal(unlk("A", 0, 20, W), -ENOLCK);
    assert_int_equal(unlk("A", 0, 5, W), -ENOLCK);
    /* exact unlock, exclusive first */
    assert_int_equal(unlk("A", 0, 10, W), 0);
    assert_int_equal(lk("B", CFS_LOCK_READ, 0, 10, W), 0);        /* only A's R left */
    assert_int_equal(unlk("A", 0, 10, W), 0);
    assert_int_equal(unlk("A", 0, 10, W), -ENOLCK);
    assert_int_equal(unlk("B", 0, 10, W), 0);
    assert_int_equal(unlk("A", 10, 10, W), 0);
    assert_int_equal(unlk("Z", 10, 10, W), -ENOLCK);
    /* zero-length locks: conflict only with locks strictly containing the offset */
    assert_int_equal(lk("A", CFS_LOCK_WRITE, 5, 0, W), 0);
    assert_int_equal(lk("B", CFS_LOCK_WRITE, 5, 0, W), 0);
    assert_int_equal(lk("B", CFS_LOCK_WRITE, 0, 5, W), 0);
    assert_int_equal(lk("C", CFS_LOCK_WRITE, 0, 10, W), -EAGAIN);
    assert_int_equal(lk("C", CFS_LOCK_WRITE, 0, 0, W), 0);
    assert_int_equal(lk("C", CFS_LOCK_WRITE, 3, 0, W), -EAGAIN);   /* inside B's [0,5) */
    assert_int_equal(unlk("A", 5, 0, W), 0);
    assert_int_equal(unlk("B", 5, 0, W), 0);
    assert_int_equal(unlk("B", 0, 5, W), 0);
    assert_int_equal(unlk("C", 0, 0, W), 0);
}

static atomic_int g_wakes;
static void on_wake(void *arg)
{
    atomic_fetch_add(&g_wakes, 1);
    if (arg != NULL)
        atomic_fetch_add((atomic_int *)arg, 1);
}

static void test_blocking_wake(void **state)
{
    struct cfs_lock_owner b = own("B", 0);
    atomic_int mine = 0;

    atomic_store(&g_wakes, 0);
    assert_int_equal(lk("A", CFS_LOCK_WRITE, 0, 10, 0), 0);
    assert_int_equal(L->lock(&K, &b, CFS_LOCK_WRITE, 0, 10, 0, NULL, on_wake, &mine), -EAGAIN);
    assert_int_equal(atomic_load(&g_wakes), 0);
    assert_int_equal(unlk("A", 0, 5, 0), 0); /* any unlock wakes; B retries */
    assert_int_equal(atomic_load(&mine), 1);
    assert_int_equal(L->wait_cancel(&K, on_wake, &mine), -ENOENT); /* fired already */
    assert_int_equal(L->lock(&K, &b, CFS_LOCK_WRITE, 0, 10, 0, NULL, on_wake, &mine), -EAGAIN);
    assert_int_equal(L->wait_cancel(&K, on_wake, &mine), 0);
    assert_int_equal(unlk("A", 0, 10, 0), 0);
    assert_int_equal(atomic_load(&mine), 1);
    assert_int_equal(L->lock(&K, &b, CFS_LOCK_WRITE, 0, 10, 0, NULL, on_wake, &mine), 0);
}

static void test_shares(void **state)
{
    struct cfs_lock_owner a = own("A", 1), b = own("B", 2);
    uint64_t sa, sb, sb2;

    assert_int_equal(L->share_add(&K, &a, CFS_SHARE_READ, CFS_SHARE_WRITE, &sa), 0);
    assert_int_equal(L->share_add(&K, &b, CFS_SHARE_WRITE, 0, &sb), -EBUSY);
    assert_int_equal(L->share_add(&K, &b, CFS_SHARE_READ, CFS_SHARE_READ, &sb), -EBUSY);
    assert_int_equal(L->share_add(&K, &b, CFS_SHARE_READ, 0, &sb), 0);
    /* every open is its own entry, the same owner's too */
    assert_int_equal(L->share_add(&K, &a, CFS_SHARE_WRITE, 0, &sb2), -EBUSY);
    /* upgrade A to read+write: B denies nothing */
    assert_int_equal(L->share_update(&K, sa, CFS_SHARE_READ | CFS_SHARE_WRITE, CFS_SHARE_WRITE), 0);
    /* A cannot start denying reads: B reads */
    assert_int_equal(L->share_update(&K, sa, CFS_SHARE_READ, CFS_SHARE_READ), -EBUSY);
    assert_int_equal(L->share_update(&K, 999999, CFS_SHARE_READ, 0), -ENOENT);
    assert_int_equal(L->share_add(&K, &b, CFS_SHARE_DELETE, CFS_SHARE_DELETE, &sb2), 0);
    assert_int_equal(L->share_add(&K, &a, CFS_SHARE_DELETE, 0, &sb2), -EBUSY);
    assert_int_equal(L->share_remove(&K, sa), 0);
    assert_int_equal(L->share_remove(&K, sa), -ENOENT);
    assert_int_equal(L->share_add(&K, &a, CFS_SHARE_WRITE, 0, &sa), 0);
    assert_int_equal(L->share_add(&K, &a, 8, 0, &sa), -EINVAL);
}

struct brk {
    int calls;
    uint64_t id;
    uint32_t from, to, flags;
};

static void on_break(void *arg, uint64_t id, uint32_t from, uint32_t to, uint32_t flags)
{
    struct brk *b = arg;

    b->calls++;
    b->id = id;
    b->from = from;
    b->to = to;
    b->flags = flags;
}

#define RWH (CFS_LEASE_READ | CFS_LEASE_WRITE | CFS_LEASE_HANDLE)
#define RH (CFS_LEASE_READ | CFS_LEASE_HANDLE)

static void test_lease_grant_rules(void **state)
{
    struct cfs_lock_owner a = own("leaseA", 1), b = own("leaseB", 2), c = own("leaseC", 3);
    struct brk ba = {0};
    uint64_t la, lb, lc, la2, sid;
    uint32_t st;

    assert_int_equal(L->lease_grant(&K, &a, CFS_LEASE_READ, 0, on_break, &ba, &la), 0);
    assert_int_equal(L->lease_grant(&K, &b, RH, 0, on_break, &ba, &lb), 0);
    assert_int_equal(L->lease_grant(&K, &c, RWH, 0, on_break, &ba, &lc), -EAGAIN);
    /* the same owner asking again gets its lease upgraded, same id */
    assert_int_equal(L->lease_grant(&K, &a, CFS_LEASE_HANDLE, 0, on_break, &ba, &la2), 0);
    assert_int_equal(la2, la);
    assert_int_equal(L->lease_get(&K, la, &st, NULL, NULL), 0);
    assert_int_equal(st, RH);
    assert_int_equal(L->lease_return(&K, la), 0);
    assert_int_equal(L->lease_return(&K, la), -ENOENT);
    assert_int_equal(L->lease_return(&K, lb), 0);
    /* opens by another client: no write lease; a writer also blocks read leases */
    assert_int_equal(L->share_add(&K, &b, CFS_SHARE_READ, 0, &sid), 0);
    assert_int_equal(L->lease_grant(&K, &a, RWH, 0, on_break, &ba, &la), -EAGAIN);
    assert_int_equal(L->lease_grant(&K, &a, RH, 0, on_break, &ba, &la), 0);
    assert_int_equal(L->lease_return(&K, la), 0);
    assert_int_equal(L->share_update(&K, sid, CFS_SHARE_WRITE, 0), 0);
    assert_int_equal(L->lease_grant(&K, &a, CFS_LEASE_READ, 0, on_break, &ba, &la), -EAGAIN);
    /* the client's own opens do not count */
    struct cfs_lock_owner b2 = own("leaseB2", 2);
    assert_int_equal(L->lease_grant(&K, &b2, RWH, 0, on_break, &ba, &lb), 0);
    assert_int_equal(L->lease_grant(&K, &a, 0, 0, on_break, &ba, &la), -EINVAL);
    assert_int_equal(L->lease_grant(&K, &a, 8, 0, on_break, &ba, &la), -EINVAL);
    assert_int_equal(ba.calls, 0);
}

static void test_lease_break_ack(void **state)
{
    struct cfs_lock_owner a = own("leaseA", 1), b = own("leaseB", 2);
    struct brk ba = {0};
    atomic_int woke = 0;
    uint64_t la;
    uint32_t st, to;
    bool breaking;

    assert_int_equal(L->lease_grant(&K, &a, RWH, 0, on_break, &ba, &la), 0);
    /* the holder's own access breaks nothing */
    assert_int_equal(L->break_leases(&K, &a, CFS_BREAK_WRITE | CFS_BREAK_HANDLE, NULL, NULL), 0);
    /* another client opens for reading: RWH -> RH, ack required */
    assert_int_equal(L->break_leases(&K, &b, CFS_BREAK_READ, on_wake, &woke), CFS_ERETRY);
    assert_int_equal(ba.calls, 1);
    assert_int_equal(ba.id, la);
    assert_int_equal(ba.from, RWH);
    assert_int_equal(ba.to, RH);
    assert_int_equal(ba.flags, CFS_LEASE_BREAK_ACK_REQUIRED);
    assert_int_equal(L->lease_get(&K, la, &st, &breaking, &to), 0);
    assert_true(breaking);
    assert_int_equal(st, RWH);
    assert_int_equal(to, RH);
    /* still in progress: no second notification */
    assert_int_equal(L->break_leases(&K, &b, CFS_BREAK_READ, NULL, NULL), CFS_ERETRY);
    assert_int_equal(ba.calls, 1);
    /* a grant while breaking is refused */
    uint64_t lx;
    assert_int_equal(L->lease_grant(&K, &b, CFS_LEASE_READ, 0, on_break, &ba, &lx), -EAGAIN);
    /* ack with more than allowed */
    assert_int_equal(L->lease_ack(&K, la, RWH), -EINVAL);
    assert_int_equal(atomic_load(&woke), 0);
    assert_int_equal(L->lease_ack(&K, la, CFS_LEASE_READ | CFS_LEASE_HANDLE), 0);
    assert_int_equal(atomic_load(&woke), 1);
    assert_int_equal(L->lease_ack(&K, la, 0), -EINVAL); /* no break in progress */
    assert_int_equal(L->break_leases(&K, &b, CFS_BREAK_READ, NULL, NULL), 0);
    /* a rename by someone else breaks H: RH -> R */
    assert_int_equal(L->break_leases(&K, NULL, CFS_BREAK_HANDLE, NULL, NULL), CFS_ERETRY);
    assert_int_equal(ba.to, CFS_LEASE_READ);
    assert_int_equal(L->lease_ack(&K, la, CFS_LEASE_READ), 0);
    /* R -> none on a write needs no ack: the writer proceeds at once */
    assert_int_equal(L->break_leases(&K, &b, CFS_BREAK_WRITE, NULL, NULL), 0);
    assert_int_equal(ba.calls, 3);
    assert_int_equal(ba.from, CFS_LEASE_READ);
    assert_int_equal(ba.to, 0);
    assert_int_equal(ba.flags, 0);
    assert_int_equal(L->lease_get(&K, la, &st, &breaking, NULL), 0);
    assert_int_equal(st, 0);
    assert_false(breaking);
    assert_int_equal(L->break_leases(&K, &b, 0, NULL, NULL), -EINVAL);
}

static void test_lease_timeout(void **state)
{
    struct cfs_lock_owner a = own("leaseA", 1);
    struct brk ba = {0};
    atomic_int woke = 0;
    struct cfs__locks_stats st;
    uint64_t la;
    uint32_t s;

    assert_int_equal(L->lease_grant(&K, &a, RWH, 0, on_break, &ba, &la), 0);
    assert_int_equal(L->break_leases(&K, NULL, CFS_BREAK_WRITE, on_wake, &woke), CFS_ERETRY);
    assert_int_equal(ba.to, CFS_LEASE_HANDLE);
    cfs__locks_stats(&st);
    assert_int_equal(st.breaking, 1);
    cfs__clock_fake_advance(999);
    cfs__locks_tick();
    assert_int_equal(ba.calls, 1);
    assert_int_equal(atomic_load(&woke), 0);
    cfs__clock_fake_advance(1);
    cfs__locks_tick();
    assert_int_equal(ba.calls, 2);
    assert_int_equal(ba.flags, CFS_LEASE_BREAK_REVOKED);
    assert_int_equal(atomic_load(&woke), 1);
    assert_int_equal(L->lease_get(&K, la, &s, NULL, NULL), 0);
    assert_int_equal(s, CFS_LEASE_HANDLE);
    cfs__locks_stats(&st);
    assert_int_equal(st.breaking, 0);
    /* overdue breaks are also forced by the next conflicting caller */
    assert_int_equal(L->break_leases(&K, NULL, CFS_BREAK_HANDLE, NULL, NULL), CFS_ERETRY);
    cfs__clock_fake_advance(1000);
    assert_int_equal(L->break_leases(&K, NULL, CFS_BREAK_HANDLE, NULL, NULL), 0);
    assert_int_equal(ba.calls, 4);
    /* a lease broken to nothing stays (state 0) until its holder returns it */
    assert_int_equal(L->lease_get(&K, la, &s, NULL, NULL), 0);
    assert_int_equal(s, 0);
    assert_int_equal(L->lease_return(&K, la), 0);
}

static void test_lease_break_many(void **state)
{
    struct cfs_lock_owner a = own("leaseA", 1), b = own("leaseB", 2), c = own("leaseC", 3);
    struct brk ba = {0}, bb = {0};
    atomic_int woke = 0;
    uint64_t la, lb;

    assert_int_equal(L->lease_grant(&K, &a, RH, 0, on_break, &ba, &la), 0);
    assert_int_equal(L->lease_grant(&K, &b, RH, 0, on_break, &bb, &lb), 0);
    /* C writes: both read-handle leases break to H, each needs an ack */
    assert_int_equal(L->break_leases(&K, &c, CFS_BREAK_WRITE, on_wake, &woke), CFS_ERETRY);
    assert_int_equal(ba.calls, 1);
    assert_int_equal(bb.calls, 1);
    assert_int_equal(ba.to, CFS_LEASE_HANDLE);
    assert_int_equal(L->lease_ack(&K, la, CFS_LEASE_HANDLE), 0);
    assert_int_equal(atomic_load(&woke), 1);
    /* C retries: B's break is still pending */
    assert_int_equal(L->break_leases(&K, &c, CFS_BREAK_WRITE, on_wake, &woke), CFS_ERETRY);
    assert_int_equal(bb.calls, 1);
    assert_int_equal(L->lease_return(&K, lb), 0);
    assert_int_equal(atomic_load(&woke), 2);
    assert_int_equal(L->break_leases(&K, &c, CFS_BREAK_WRITE, NULL, NULL), 0);
    /* a waiter can be cancelled before the break completes */
    assert_int_equal(L->break_leases(&K, &c, CFS_BREAK_HANDLE, on_wake, &woke), CFS_ERETRY);
    assert_int_equal(L->wait_cancel(&K, on_wake, &woke), 0);
    assert_int_equal(L->lease_ack(&K, la, 0), 0);
    assert_int_equal(atomic_load(&woke), 2);
}

static void test_delegation_recall(void **state)
{
    struct cfs_lock_owner a = own("clientA", 1), b = own("clientB", 2);
    struct brk ba = {0};
    atomic_int woke = 0;
    uint64_t la;

    /* read delegation: opens for reading do not recall it */
    assert_int_equal(L->lease_grant(&K, &a, RH, CFS_LEASE_F_RECALL, on_break, &ba, &la), 0);
    assert_int_equal(L->break_leases(&K, &b, CFS_BREAK_READ, NULL, NULL), 0);
    assert_int_equal(ba.calls, 0);
    /* a remove recalls it entirely, ack required although it is read-only */
    assert_int_equal(L->break_leases(&K, &b, CFS_BREAK_HANDLE, on_wake, &woke), CFS_ERETRY);
    assert_int_equal(ba.to, 0);
    assert_int_equal(ba.flags, CFS_LEASE_BREAK_ACK_REQUIRED);
    assert_int_equal(L->lease_return(&K, la), 0); /* DELEGRETURN */
    assert_int_equal(atomic_load(&woke), 1);
    assert_int_equal(L->break_leases(&K, &b, CFS_BREAK_HANDLE, NULL, NULL), 0);
    /* a write delegation not returned in time is revoked */
    assert_int_equal(L->lease_grant(&K, &a, RWH, CFS_LEASE_F_RECALL, on_break, &ba, &la), 0);
    assert_int_equal(L->break_leases(&K, &b, CFS_BREAK_READ, NULL, NULL), CFS_ERETRY);
    cfs__clock_fake_advance(1000);
    cfs__locks_tick();
    assert_int_equal(ba.flags, CFS_LEASE_BREAK_REVOKED);
    assert_int_equal(L->lease_get(&K, la, NULL, NULL, NULL), -ENOENT);
    /* ack 0 of a recall ends it too */
    assert_int_equal(L->lease_grant(&K, &a, RH, CFS_LEASE_F_RECALL, on_break, &ba, &la), 0);
    assert_int_equal(L->break_leases(&K, &b, CFS_BREAK_WRITE, NULL, NULL), CFS_ERETRY);
    assert_int_equal(L->lease_ack(&K, la, 0), 0);
    assert_int_equal(L->lease_get(&K, la, NULL, NULL, NULL), -ENOENT);
}

static void test_release(void **state)
{
    struct cfs_lock_owner a = own("A", 7), b = own("B", 8), a2 = own("A2", 7);
    struct brk ba = {0};
    atomic_int woke = 0;
    struct cfs__locks_stats st;
    uint64_t id;

    assert_int_equal(L->lock(&K, &a, CFS_LOCK_WRITE, 0, 10, 0, NULL, NULL, NULL), 0);
    assert_int_equal(L->lock(&K2, &a, CFS_LOCK_WRITE, 0, 10, 0, NULL, NULL, NULL), 0);
    assert_int_equal(L->share_add(&K, &a, CFS_SHARE_READ, CFS_SHARE_WRITE, &id), 0);
    assert_int_equal(L->lock(&K, &a2, CFS_LOCK_WRITE, 20, 10, 0, NULL, NULL, NULL), 0);
    assert_int_equal(L->lease_grant(&K2, &a2, RWH, 0, on_break, &ba, &id), 0);
    assert_int_equal(L->lock(&K, &b, CFS_LOCK_WRITE, 0, 10, 0, NULL, on_wake, &woke), -EAGAIN);
    /* one owner on one object */
    L->release_owner(&K, &a);
    assert_int_equal(atomic_load(&woke), 1);
    assert_int_equal(L->lock(&K, &b, CFS_LOCK_WRITE, 0, 10, 0, NULL, NULL, NULL), 0);
    assert_int_equal(L->lock(&K2, &b, CFS_LOCK_WRITE, 0, 10, 0, NULL, NULL, NULL), -EAGAIN);
    /* one owner everywhere */
    L->release_owner(NULL, &a);
    assert_int_equal(L->lock(&K2, &b, CFS_LOCK_WRITE, 0, 10, 0, NULL, NULL, NULL), 0);
    /* a whole client */
    L->release_client(CFS_LOCK_PROTO_LOCAL, 7);
    cfs__locks_stats(&st);
    assert_int_equal(st.leases, 0);
    assert_int_equal(st.ranges, 2); /* B's two */
    L->release_client(CFS_LOCK_PROTO_NFS4, 8); /* other protocol: nothing */
    cfs__locks_stats(&st);
    assert_int_equal(st.ranges, 2);
    L->release_client(CFS_LOCK_PROTO_LOCAL, 8);
    cfs__locks_stats(&st);
    assert_int_equal(st.ranges, 0);
    assert_int_equal(st.objects, 0);
    assert_int_equal(ba.calls, 0);
}

static void test_table_full(void **state)
{
    struct cfs__locks_conf c = {.break_timeout_ms = 1000, .max_entries = 3};
    uint64_t id;

    assert_int_equal(cfs__locks_init(&c), 0);
    assert_int_equal(lk("A", CFS_LOCK_READ, 0, 1, 0), 0);
    assert_int_equal(lk("B", CFS_LOCK_READ, 0, 1, 0), 0);
    assert_int_equal(lk("C", CFS_LOCK_READ, 0, 1, 0), -ENOLCK); /* a lock may need 2 */
    struct cfs_lock_owner b = own("B", 0);
    assert_int_equal(L->share_add(&K, &b, 0, 0, &id), 0);
    assert_int_equal(L->share_add(&K, &b, 0, 0, &id), -ENOLCK);
    c.max_entries = 0;
    assert_int_equal(cfs__locks_init(&c), 0);
    assert_int_equal(L->share_add(&K, &b, 0, 0, &id), 0);
}

static atomic_int g_holders, g_max_holders, g_granted;

static void *mutex_main(void *arg)
{
    char name[16];
    struct cfs_lock_owner o;

    snprintf(name, sizeof(name), "t%d", (int)(intptr_t)arg);
    o = own(name, 0);
    for (int i = 0; i < 3000; i++) {
        /* POSIX and Windows owners on one range: mutual exclusion either way */
        uint32_t fl = (i & 1) ? CFS_LOCK_F_WINDOWS : 0;

        if (L->lock(&K, &o, CFS_LOCK_WRITE, 100, 50, fl, NULL, NULL, NULL) != 0)
            continue;
        int h = atomic_fetch_add(&g_holders, 1) + 1;
        int m = atomic_load(&g_max_holders);

        while (h > m && !atomic_compare_exchange_weak(&g_max_holders, &m, h))
            ;
        atomic_fetch_add(&g_granted, 1);
        atomic_fetch_sub(&g_holders, 1);
        assert_int_equal(L->unlock(&K, &o, 100, 50, fl), 0);
        /* churn on other keys */
        struct cfs_lock_key k;
        cfs_lock_key_from_ids(&k, 2, (uint64_t)i % 97);
        assert_int_equal(L->lock(&k, &o, CFS_LOCK_READ, 0, 10, 0, NULL, NULL, NULL), 0);
        assert_int_equal(L->unlock(&k, &o, 0, 10, 0), 0);
    }
    return NULL;
}

/*
 * POSIX locks against a byte map model: random lock/unlock of 3 owners on 64 bytes;
 * after every step each byte's test() answer for every owner matches the model, and the
 * number of ranges is the number of maximal runs per owner (merging works).
 */
static void test_posix_model(void **state)
{
    enum { NB = 64, NO = 3 };
    static const char *names[NO + 1] = {"o0", "o1", "o2", "outsider"};
    uint8_t model[NO][NB];
    unsigned seed = 12345;
    struct cfs__locks_stats st;

    memset(model, 0, sizeof(model));
    for (int step = 0; step < 3000; step++) {
        int o = (int)(rand_r(&seed) % NO);
        uint64_t off = rand_r(&seed) % NB;
        uint64_t len = 1 + rand_r(&seed) % (NB - off);
        int op = (int)(rand_r(&seed) % 3); /* 0 unlock, 1 read, 2 write */

        if (op == 0) {
            assert_int_equal(unlk(names[o], off, len, 0), 0);
            for (uint64_t b = off; b < off + len; b++)
                model[o][b] = 0;
        } else {
            bool conflict = false;

            for (int q = 0; q < NO; q++)
                for (uint64_t b = off; b < off + len && q != o; b++)
                    if (model[q][b] == 2 || (model[q][b] != 0 && op == 2))
                        conflict = true;
            assert_int_equal(lk(names[o], op, off, len, 0), conflict ? -EAGAIN : 0);
            if (!conflict)
                for (uint64_t b = off; b < off + len; b++)
                    model[o][b] = (uint8_t)op;
        }
        /* answers byte by byte */
        for (int t = 0; t <= NO; t++) {
            for (int b = 0; b < NB; b++) {
                bool any = false, wr = false;

                for (int q = 0; q < NO; q++) {
                    if (q == t)
                        continue;
                    any |= model[q][b] != 0;
                    wr |= model[q][b] == 2;
                }
                struct cfs_lock_owner to = own(names[t], 0);
                struct cfs_lock_conflict c;
                int rw = L->test(&K, &to, CFS_LOCK_WRITE, (uint64_t)b, 1, 0, &c);
                int rr = L->test(&K, &to, CFS_LOCK_READ, (uint64_t)b, 1, 0, NULL);

                if (rw != (any ? -EAGAIN : 0) || rr != (wr ? -EAGAIN : 0))
                    fail_msg("step %d: owner %d byte %d: test W %d R %d", step, t, b, rw, rr);
                if (rw == -EAGAIN && (c.offset > (uint64_t)b || c.offset + c.length <= (uint64_t)b))
                    fail_msg("step %d: conflict range does not hold byte %d", step, b);
            }
        }
        /* ranges = maximal runs per owner */
        size_t runs = 0;
        for (int q = 0; q < NO; q++)
            for (int b = 0; b < NB; b++)
                if (model[q][b] != 0 && (b == 0 || model[q][b - 1] != model[q][b]))
                    runs++;
        cfs__locks_stats(&st);
        if (st.ranges != runs)
            fail_msg("step %d: %zu ranges, model has %zu runs", step, st.ranges, runs);
    }
}

static void test_metrics(void **state)
{
    struct cfs_lock_owner a = own("A", 1);
    char *out = NULL;
    size_t len;
    uint64_t id;

    assert_int_equal(lk("A", CFS_LOCK_WRITE, 0, 10, 0), 0);
    assert_int_equal(lk("B", CFS_LOCK_WRITE, 0, 10, 0), -EAGAIN);
    assert_int_equal(L->share_add(&K, &a, CFS_SHARE_READ, 0, &id), 0);
    assert_int_equal(cfs__metrics_render_ex(&out, &len, CFS__METRICS_NO_PROCESS), 0);
    assert_non_null(strstr(out, "cfs_locks_held{kind=\"range\"} 1"));
    assert_non_null(strstr(out, "cfs_locks_held{kind=\"share\"} 1"));
    assert_non_null(strstr(out, "cfs_locks_held{kind=\"lease\"} 0"));
    assert_non_null(strstr(out, "cfs_lock_conflicts_total{kind=\"range\"}"));
    assert_non_null(strstr(out, "cfs_lease_breaks_total{result=\"revoked\"}"));
    free(out);
}

static void test_threads(void **state)
{
    pthread_t t[6];
    struct cfs__locks_stats st;

    atomic_store(&g_holders, 0);
    atomic_store(&g_max_holders, 0);
    atomic_store(&g_granted, 0);
    for (int i = 0; i < 6; i++)
        pthread_create(&t[i], NULL, mutex_main, (void *)(intptr_t)i);
    for (int i = 0; i < 6; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&g_max_holders), 1);
    assert_true(atomic_load(&g_granted) > 0);
    cfs__locks_stats(&st);
    assert_int_equal(st.ranges, 0);
    assert_int_equal(st.objects, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_key_helpers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_posix_shared_exclusive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_posix_upgrade_downgrade, setup, teardown),
        cmocka_unit_test_setup_teardown(test_posix_merge_split, setup, teardown),
        cmocka_unit_test_setup_teardown(test_posix_eof_and_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_posix_model, setup, teardown),
        cmocka_unit_test_setup_teardown(test_windows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blocking_wake, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shares, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_grant_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_break_ack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_break_many, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delegation_recall, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_table_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
