/*
 * tests/unit/test_vfs_locks.c - leases broken by the VFS (core/vfs/guard.c) with the
 * lock manager wired by core/backend_glue.c: a lease holder gets its break callback when
 * a write, truncate, unlink or rename of its object comes from another owner, the
 * writer gets CFS_ERETRY (JUKEBOX/DELAY) until the break is acknowledged or times out,
 * the holder's own calls pass, the host API's locks slot is filled and the timer on
 * loop 0 forces overdue breaks.
 */
#include <pthread.h>

#include <cfs/lock.h>

#include "backend_glue.h"
#include "clock.h"
#include "config.h"
#include "core.h"
#include "locks.h"
#include "test_vfs_util.h"

static const struct cfs_lock_api *L;

struct brk {
    int calls;
    uint64_t id;
    uint32_t from, to, flags;
};

static void on_break(void *arg, uint64_t lease_id, uint32_t from, uint32_t to, uint32_t flags)
{
    struct brk *b = arg;

    __atomic_fetch_add(&b->calls, 1, __ATOMIC_SEQ_CST);
    b->id = lease_id;
    b->from = from;
    b->to = to;
    b->flags = flags;
}

static const struct cfs_lock_owner HOLDER = { CFS_LOCK_PROTO_SMB, 8, "client-A", 1 };

static int setup_with_loops(void **state, bool loops)
{
    char text[512];
    struct cfs__config *c = NULL;
    int rc;

    if (t_setup(state) != 0)
        return -1;
    cfs__clock_fake_set(7000000);
    if (loops && cfs__loops_start(1, 2) != 0)
        return -1;
    snprintf(text, sizeof(text), "gateway = { state_dir = \"%s\"; };\n"
             "backend = { health = { interval_ms = 3600000; }; };\n", T_state);
    if (cfs__config_load_text(text, &c) != 0)
        return -1;
    rc = cfs__backend_setup(c);
    cfs__config_free(c);
    L = cfs__host_api()->locks;
    return rc == 0 && L == cfs__locks_api() ? 0 : -1;
}

static int setup(void **state)
{
    return setup_with_loops(state, false);
}

static int setup_loops(void **state)
{
    return setup_with_loops(state, true);
}

static int teardown(void **state)
{
    cfs__backend_stop();
    cfs__loops_stop();
    cfs__backend_teardown();
    cfs__clock_fake_off();
    return t_teardown(state);
}

/* A file and a lease of `state` on it for HOLDER. */
static void leased_file(const char *name, struct cfs_fh *fh, struct cfs_lock_key *key,
                        uint32_t state, struct brk *b, uint64_t *id)
{
    struct cfs_attr a;

    assert_int_equal(t_create(&ROOT, &R1, name, fh), 0);
    assert_int_equal(t_write(&ROOT, fh, 0, "data", 4, CFS_UNSTABLE), 4);
    assert_int_equal(t_getattr(&ROOT, fh, &a), 0);
    cfs_lock_key_from_attr(key, &a);
    memset(b, 0, sizeof(*b));
    assert_int_equal(L->lease_grant(key, &HOLDER, state, 0, on_break, b, id), 0);
}

static int write_as(const struct cfs_lock_owner *who, const struct cfs_fh *fh)
{
    struct cfs_vfs_op op;

    t_op(&op, CFS_VOP_WRITE, &ROOT, fh);
    op.offset = 4;
    op.wbuf = "more";
    op.length = 4;
    op.lock_owner = who;
    return V->call(&op);
}

static void test_write_breaks_lease(void **state)
{
    struct cfs_fh f;
    struct cfs_lock_key k;
    struct brk b;
    uint64_t id;
    struct cfs_attr a;
    const struct cfs_lock_owner other = { CFS_LOCK_PROTO_NFS4, 3, "nfs", 2 };

    (void)state;
    leased_file("w", &f, &k, CFS_LEASE_READ | CFS_LEASE_WRITE | CFS_LEASE_HANDLE, &b, &id);
    /* the holder's own write: no break */
    assert_int_equal(write_as(&HOLDER, &f), 0);
    assert_int_equal(b.calls, 0);
    /* another owner (or none): the holder is called, the writer told to retry */
    assert_int_equal(write_as(&other, &f), CFS_ERETRY);
    assert_int_equal(b.calls, 1);
    assert_int_equal(b.id, id);
    assert_int_equal(b.from, CFS_LEASE_READ | CFS_LEASE_WRITE | CFS_LEASE_HANDLE);
    assert_int_equal(b.to, CFS_LEASE_HANDLE);
    assert_true(b.flags & CFS_LEASE_BREAK_ACK_REQUIRED);
    assert_int_equal(t_getattr(&ROOT, &f, &a), 0);
    assert_int_equal(a.size, 8); /* only the holder's write */
    assert_int_equal(cfs_err_nfs3(CFS_ERETRY), CFS_NFS3ERR_JUKEBOX);
    /* still breaking: retry again, no second callback */
    assert_int_equal(write_as(NULL, &f), CFS_ERETRY);
    assert_int_equal(b.calls, 1);
    /* reads are not held up */
    char buf[16];
    assert_int_equal(t_read(&USER, &f, 0, buf, sizeof(buf), NULL), 8);
    /* acknowledged: the write goes through */
    assert_int_equal(L->lease_ack(&k, id, CFS_LEASE_HANDLE), 0);
    assert_int_equal(write_as(&other, &f), 0);
    assert_int_equal(b.calls, 1);

    /* truncate (setattr size) is a write */
    struct cfs_fh g;
    struct cfs_lock_key k2;
    struct brk b2;
    uint64_t id2;
    leased_file("t", &g, &k2, CFS_LEASE_READ | CFS_LEASE_WRITE, &b2, &id2);
    struct cfs_vfs_op op;
    t_op(&op, CFS_VOP_SETATTR, &ROOT, &g);
    op.sattr.mask = CFS_SET_MODE;
    op.sattr.mode = 0600;
    assert_int_equal(V->call(&op), 0); /* mode alone breaks nothing */
    assert_int_equal(b2.calls, 0);
    op.sattr.mask = CFS_SET_SIZE;
    op.sattr.size = 0;
    assert_int_equal(V->call(&op), CFS_ERETRY);
    assert_int_equal(b2.calls, 1);
    assert_int_equal(L->lease_return(&k2, id2), 0);
    assert_int_equal(V->call(&op), 0);
}

static void test_unlink_breaks_until_timeout(void **state)
{
    struct cfs_fh f;
    struct cfs_lock_key k;
    struct brk b;
    uint64_t id;
    uint32_t st;
    bool breaking;

    (void)state;
    leased_file("u", &f, &k, CFS_LEASE_READ | CFS_LEASE_HANDLE, &b, &id);
    assert_int_equal(t_remove(CFS_VOP_UNLINK, &USER, &R1, "u"), CFS_ERETRY);
    assert_int_equal(b.calls, 1);
    assert_int_equal(b.to, CFS_LEASE_READ);
    assert_int_equal(t_lookup(&ROOT, &R1, "u", NULL, NULL), 0); /* still there */
    assert_int_equal(L->lease_get(&k, id, &st, &breaking, NULL), 0);
    assert_true(breaking);
    /* no answer: after break_timeout_ms (35 s) the break is forced */
    cfs__clock_fake_advance(34999);
    assert_int_equal(t_remove(CFS_VOP_UNLINK, &USER, &R1, "u"), CFS_ERETRY);
    cfs__clock_fake_advance(1);
    cfs__locks_tick();
    assert_int_equal(b.calls, 2);
    assert_true(b.flags & CFS_LEASE_BREAK_REVOKED);
    assert_int_equal(t_remove(CFS_VOP_UNLINK, &USER, &R1, "u"), 0);
    assert_int_equal(t_lookup(&ROOT, &R1, "u", NULL, NULL), -ENOENT);

    /* rename of a leased file, and rename over one */
    struct cfs_fh g, h;
    struct cfs_lock_key kg, kh;
    struct brk bg, bh;
    uint64_t ig, ih;
    struct cfs_vfs_op op;
    leased_file("g", &g, &kg, CFS_LEASE_READ | CFS_LEASE_HANDLE, &bg, &ig);
    leased_file("h", &h, &kh, CFS_LEASE_READ | CFS_LEASE_HANDLE, &bh, &ih);
    assert_int_equal(t_create(&ROOT, &R1, "plain", NULL), 0);
    t_op(&op, CFS_VOP_RENAME, &ROOT, &R1);
    op.name = "g";
    op.fh2 = R1;
    op.name2 = "g2";
    assert_int_equal(V->call(&op), CFS_ERETRY);
    assert_int_equal(bg.calls, 1);
    assert_int_equal(L->lease_ack(&kg, ig, CFS_LEASE_READ), 0);
    assert_int_equal(V->call(&op), 0);
    t_op(&op, CFS_VOP_RENAME, &ROOT, &R1);
    op.name = "plain";
    op.fh2 = R1;
    op.name2 = "h";
    assert_int_equal(V->call(&op), CFS_ERETRY);
    assert_int_equal(bh.calls, 1);
    assert_int_equal(L->lease_ack(&kh, ih, CFS_LEASE_READ), 0);
    assert_int_equal(V->call(&op), 0);
}

/* the asynchronous path answers CFS_ERETRY on the loop; the timer forces breaks */
struct async_ctx {
    pthread_mutex_t m;
    pthread_cond_t c;
    bool done;
    int status;
};

static void async_done(struct cfs_vfs_op *op, void *arg)
{
    struct async_ctx *a = arg;

    pthread_mutex_lock(&a->m);
    a->status = op->status;
    a->done = true;
    pthread_cond_signal(&a->c);
    pthread_mutex_unlock(&a->m);
}

static int submit_write(const struct cfs_fh *fh)
{
    struct async_ctx a = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 99 };
    struct cfs_vfs_op op;

    t_op(&op, CFS_VOP_WRITE, &ROOT, fh);
    op.wbuf = "x";
    op.length = 1;
    assert_int_equal(V->submit(cfs__loop_get(0), &op, async_done, &a), 0);
    pthread_mutex_lock(&a.m);
    while (!a.done)
        pthread_cond_wait(&a.c, &a.m);
    pthread_mutex_unlock(&a.m);
    return a.status;
}

static void test_async_and_timer(void **state)
{
    struct cfs_fh f;
    struct cfs_lock_key k;
    struct brk b;
    uint64_t id;

    (void)state;
    leased_file("a", &f, &k, CFS_LEASE_READ | CFS_LEASE_WRITE, &b, &id);
    assert_int_equal(submit_write(&f), CFS_ERETRY);
    assert_int_equal(__atomic_load_n(&b.calls, __ATOMIC_SEQ_CST), 1);
    /* nobody calls tick: the core's timer on loop 0 does, within a second or so */
    cfs__clock_fake_advance(35000);
    for (int i = 0; i < 3000 && __atomic_load_n(&b.calls, __ATOMIC_SEQ_CST) < 2; i++)
        usleep(1000);
    assert_int_equal(__atomic_load_n(&b.calls, __ATOMIC_SEQ_CST), 2);
    assert_int_equal(submit_write(&f), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_breaks_lease, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unlink_breaks_until_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async_and_timer, setup_loops, teardown),
    };
    if (geteuid() != 0) { /* the VFS fixtures need root (see test_vfs.c) */
        printf("%s: not root: skipped\n", __FILE__);
        return 0;
    }
    T_handles = CFS__HANDLES_AUTO;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
