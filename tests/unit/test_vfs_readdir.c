/*
 * tests/unit/test_vfs_readdir.c - READDIR on the posix backend with the directory
 * streams kept between calls and the handles kept by inode (posix_dircache.c): a
 * listing in many calls equals one listing; a call may resume at any cookie of the last
 * reply (the protocol sends fewer entries than were read); entries made or removed
 * between calls; interleaved listings of two directories and of two callers; the bound
 * on kept streams; cookies of closed or evicted streams; a permission change between
 * calls; handles equal LOOKUP's, also for a reused inode and across a restart.
 */
#include <time.h>

#include "test_vfs_util.h"
#include "vfs/posix.h"

struct ent {
    char name[64];
    uint64_t cookie, fileid;
    struct cfs_fh fh;
    bool has_attr;
    uint64_t afileid;
    struct cfs_attr attr;
};

struct listing {
    struct ent *e;
    size_t n, cap;
    bool eof;
};

static void l_free(struct listing *l)
{
    free(l->e);
    memset(l, 0, sizeof(*l));
}

/* One call: appends what it got, returns the status. */
static int l_call(struct listing *l, const struct cfs_cred *c, const struct cfs_fh *dir,
                  uint64_t cookie, uint64_t length, bool plus)
{
    struct cfs_vfs_op op;
    t_op(&op, CFS_VOP_READDIR, c, dir);
    op.cookie = cookie;
    op.length = length;
    op.plus = plus;
    int r = V->call(&op);
    if (r < 0)
        return r;
    for (size_t i = 0; i < op.nentries; i++) {
        const struct cfs_dirent *d = &op.entries[i];
        if (l->n == l->cap) {
            l->cap = l->cap ? l->cap * 2 : 64;
            l->e = realloc(l->e, l->cap * sizeof(*l->e));
            assert_non_null(l->e);
        }
        struct ent *e = &l->e[l->n++];
        memset(e, 0, sizeof(*e));
        assert_true(strlen(d->name) < sizeof(e->name));
        snprintf(e->name, sizeof(e->name), "%s", d->name);
        e->cookie = d->cookie;
        e->fileid = d->fileid;
        e->fh = d->fh;
        e->has_attr = d->has_attr;
        e->afileid = d->attr.fileid;
        e->attr = d->attr;
    }
    l->eof = op.eof;
    V->op_release(&op);
    return 0;
}

/* A whole listing in calls of `length` entries, each resuming at the last cookie. */
static void l_all(struct listing *l, const struct cfs_cred *c, const struct cfs_fh *dir,
                  uint64_t length, bool plus)
{
    uint64_t cookie = 0;
    for (int calls = 0; calls < 100000; calls++) {
        size_t before = l->n;
        assert_int_equal(l_call(l, c, dir, cookie, length, plus), 0);
        if (l->eof)
            return;
        assert_true(l->n > before);
        cookie = l->e[l->n - 1].cookie;
    }
    fail_msg("listing did not end");
}

static void assert_same(const struct listing *a, const struct listing *b, bool plus)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_string_equal(a->e[i].name, b->e[i].name);
        assert_int_equal(a->e[i].cookie, b->e[i].cookie);
        assert_int_equal(a->e[i].fileid, b->e[i].fileid);
        if (plus) {
            assert_int_equal(a->e[i].fh.len, b->e[i].fh.len);
            assert_memory_equal(a->e[i].fh.data, b->e[i].fh.data, a->e[i].fh.len);
            assert_int_equal(a->e[i].has_attr, b->e[i].has_attr);
        }
    }
}

static const struct ent *l_find(const struct listing *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->e[i].name, name) == 0)
            return &l->e[i];
    return NULL;
}

/* Every plus entry's handle is LOOKUP's, byte for byte, and its attributes are there. */
static void assert_handles_are_lookups(const struct listing *l, const struct cfs_fh *dir)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct ent *e = &l->e[i];
        struct cfs_fh fh;
        struct cfs_attr a;
        if (strcmp(e->name, "..") == 0)
            continue;
        assert_int_equal(t_lookup(&ROOT, dir, e->name, &fh, &a), 0);
        assert_true(e->has_attr);
        assert_int_equal(e->afileid, a.fileid);
        /* the attributes GETATTR gives (posix_dir.c converts the statx itself) */
        const struct cfs_attr *x = &e->attr;
        assert_int_equal(x->type, a.type);
        assert_int_equal(x->mode, a.mode);
        assert_int_equal(x->nlink, a.nlink);
        assert_int_equal(x->uid, a.uid);
        assert_int_equal(x->gid, a.gid);
        assert_int_equal(x->size, a.size);
        assert_int_equal(x->used, a.used);
        assert_int_equal(x->rdev_major, a.rdev_major);
        assert_int_equal(x->rdev_minor, a.rdev_minor);
        assert_int_equal(x->fsid, a.fsid);
        assert_int_equal(x->change, a.change);
        assert_memory_equal(&x->mtime, &a.mtime, sizeof(a.mtime));
        assert_memory_equal(&x->ctime, &a.ctime, sizeof(a.ctime));
        assert_memory_equal(&x->btime, &a.btime, sizeof(a.btime));
        assert_int_equal(e->fh.len, fh.len);
        assert_memory_equal(e->fh.data, fh.data, fh.len);
    }
}

/* names prefix + 4 digits */
static void mkfiles(const struct cfs_fh *dir, const char *prefix, int from, int to)
{
    char name[64];
    for (int i = from; i < to; i++) {
        snprintf(name, sizeof(name), "%s%04d", prefix, i);
        assert_int_equal(t_create(&ROOT, dir, name, NULL), 0);
    }
}

/* past the coarse clock tick, so a change shows in the directory's ctime */
static void tick(void)
{
    struct timespec ts = { 0, 30 * 1000 * 1000 };
    nanosleep(&ts, NULL);
}

static int s_setup(void **state)
{
    px_ds_limits(32, 10000);
    px_ds_flush(0);
    return t_setup(state);
}

static int s_teardown(void **state)
{
    px_ds_flush(0);
    return t_teardown(state);
}

static void test_split_equals_one(void **state)
{
    (void)state;
    struct cfs_fh d;
    assert_int_equal(t_mk(CFS_VOP_MKDIR, &ROOT, &R1, "big", -1, &d), 0);
    mkfiles(&d, "file-with-a-longer-name-", 0, 700);
    /* other types, made behind the VFS's back too */
    char p[400];
    assert_int_equal(t_mk(CFS_VOP_MKDIR, &ROOT, &d, "subdir", -1, NULL), 0);
    t_path(p, sizeof(p), T_exp1, "big/link");
    assert_int_equal(symlink("subdir", p), 0);
    t_path(p, sizeof(p), T_exp1, "big/fifo");
    assert_int_equal(mkfifo(p, 0600), 0);
    for (int plus = 0; plus < 2; plus++) {
        struct listing one = { 0 }, many = { 0 }, small = { 0 };
        l_all(&one, &ROOT, &d, 4096, plus);
        assert_int_equal(one.n, 705);
        l_all(&many, &ROOT, &d, 37, plus);
        assert_same(&one, &many, plus);
        l_all(&small, &ROOT, &d, 1, plus);
        assert_same(&one, &small, plus);
        if (plus)
            assert_handles_are_lookups(&one, &d);
        /* a finished listing leaves no stream behind */
        assert_int_equal(px_ds_count(), 0);
        l_free(&one);
        l_free(&many);
        l_free(&small);
    }
}

/* Resuming at any cookie of the last reply, or of an older one, gives the rest. */
static void test_resume_anywhere(void **state)
{
    (void)state;
    struct cfs_fh d;
    assert_int_equal(t_mk(CFS_VOP_MKDIR, &ROOT, &R1, "res", -1, &d), 0);
    mkfiles(&d, "r", 0, 3000);
    struct listing one = { 0 };
    l_all(&one, &ROOT, &d, 65536, true);
    assert_int_equal(one.n, 3002);
    /* replies of 50 of which the client takes 40 (the encoder's budget) */
    uint64_t reused = px_ds_reused();
    struct listing got = { 0 };
    uint64_t cookie = 0;
    for (;;) {
        struct listing page = { 0 };
        assert_int_equal(l_call(&page, &ROOT, &d, cookie, 50, true), 0);
        size_t take = page.eof ? page.n : (page.n < 40 ? page.n : 40);
        for (size_t i = 0; i < take; i++) {
            if (got.n == got.cap) {
                got.cap = got.cap ? got.cap * 2 : 64;
                got.e = realloc(got.e, got.cap * sizeof(*got.e));
                assert_non_null(got.e);
            }
            got.e[got.n++] = page.e[i];
        }
        bool eof = page.eof;
        if (take)
            cookie = page.e[take - 1].cookie;
        l_free(&page);
        if (eof)
            break;
    }
    assert_same(&one, &got, true);
    /* the 10 entries not taken were mostly not computed again (not when the reply
     * spanned two getdents buffers: the resume point is then read again) */
    assert_true(px_ds_reused() - reused >= 8 * (one.n / 40));
    /* resume at older cookies: each gives exactly what followed it */
    size_t at[] = { 0, 1, 17, 999, 1000, 2500, 2999, 3000 };
    for (size_t k = 0; k < sizeof(at) / sizeof(at[0]); k++) {
        struct listing rest = { 0 };
        assert_int_equal(l_call(&rest, &ROOT, &d, one.e[at[k]].cookie, 5, true), 0);
        size_t want = one.n - at[k] - 1 < 5 ? one.n - at[k] - 1 : 5;
        assert_int_equal(rest.n, want);
        for (size_t i = 0; i < rest.n; i++)
            assert_string_equal(rest.e[i].name, one.e[at[k] + 1 + i].name);
        l_free(&rest);
    }
    px_ds_flush(0);
    l_free(&one);
    l_free(&got);
}

/* An entry computed by the last call but not sent is not reused after a write to it. */
static void test_kept_entries_fresh(void **state)
{
    (void)state;
    struct cfs_fh d, fh;
    assert_int_equal(t_mk(CFS_VOP_MKDIR, &ROOT, &R1, "fresh", -1, &d), 0);
    mkfiles(&d, "f", 0, 100);
    struct listing l = { 0 };
    assert_int_equal(l_call(&l, &ROOT, &d, 0, 50, true), 0);
    assert_int_equal(l.n, 50);
    /* the client takes 40; the 45th changes through the VFS before the next call */
    const struct ent *e = &l.e[44];
    assert_int_equal(t_lookup(&ROOT, &d, e->name, &fh, NULL), 0);
    assert_int_equal(t_write(&ROOT, &fh, 0, "12345", 5, CFS_UNSTABLE), 5);
    struct listing m = { 0 };
    uint64_t reused = px_ds_reused();
    assert_int_equal(l_call(&m, &ROOT, &d, l.e[39].cookie, 50, true), 0);
    assert_int_equal(px_ds_reused(), reused); /* all computed again */
    assert_string_equal(m.e[4].name, e->name);
    assert_int_equal(m.e[4].attr.size, 5);
    /* without a change in between, they are reused */
    l_free(&l);
    assert_int_equal(l_call(&l, &ROOT, &d, m.e[9].cookie, 10, true), 0);
    l_free(&m);
    assert_int_equal(l_call(&m, &ROOT, &d, l.e[4].cookie, 10, true), 0);
    assert_int_equal(px_ds_reused(), reused + 5);
    px_ds_flush(0);
    l_free(&l);
    l_free(&m);
}

static void test_changes_between_calls(void **state)
{
    (void)state;
    struct cfs_fh d;
    char name[64];
    assert_int_equal(t_mk(CFS_VOP_MKDIR, &ROOT, &R1, "chg", -1, &d), 0);
    mkfiles(&d, "old", 0, 600);
    struct listing full = { 0 };
    l_all(&full, &ROOT, &d, 4096, false);
    struct listing l = { 0 };
    assert_int_equal(l_call(&l, &ROOT, &d, 0, 100, true), 0);
    /* remove every file not listed yet whose number is even; add new ones */
    tick();
    bool removed[600] = { false };
    for (size_t i = 100; i < full.n; i++) {
        int k;
        if (sscanf(full.e[i].name, "old%d", &k) == 1 && k % 2 == 0) {
            assert_int_equal(t_remove(CFS_VOP_UNLINK, &ROOT, &d, full.e[i].name), 0);
            removed[k] = true;
        }
    }
    mkfiles(&d, "new", 0, 200);
    uint64_t cookie = l.e[l.n - 1].cookie;
    for (int calls = 0; !l.eof && calls < 1000; calls++) {
        size_t before = l.n;
        assert_int_equal(l_call(&l, &ROOT, &d, cookie, 100, true), 0);
        if (l.n > before)
            cookie = l.e[l.n - 1].cookie;
    }
    assert_true(l.eof);
    for (int k = 0; k < 600; k++) {
        snprintf(name, sizeof(name), "old%04d", k);
        int seen = 0;
        for (size_t i = 0; i < l.n; i++)
            seen += strcmp(l.e[i].name, name) == 0;
        assert_int_equal(seen, removed[k] ? 0 : 1);
    }
    for (int k = 0; k < 200; k++) { /* new names: at most once, with a good handle */
        snprintf(name, sizeof(name), "new%04d", k);
        int seen = 0;
        for (size_t i = 0; i < l.n; i++)
            if (strcmp(l.e[i].name, name) == 0) {
                struct cfs_fh fh;
                assert_int_equal(t_lookup(&ROOT, &d, name, &fh, NULL), 0);
                assert_memory_equal(fh.data, l.e[i].fh.data, fh.len);
                seen++;
            }
        assert_true(seen <= 1);
    }
    l_free(&full);
    l_free(&l);
}

static void test_interleaved(void **state)
{
    (void)state;
    struct cfs_fh a, b;
    assert_int_equal(t_mk(CFS_VOP_MKDIR, &ROOT, &R1, "a", 0755, &a), 0);
    assert_int_equal(t_mk(CFS_VOP_MKDIR, &ROOT, &R2, "b", 0755, &b), 0);
    mkfiles(&a, "a", 0, 400);
    mkfiles(&b, "b", 0, 300);
    struct listing oa = { 0 }, ob = { 0 }, ou = { 0 };
    l_all(&oa, &ROOT, &a, 4096, true);
    l_all(&ob, &ROOT, &b, 4096, true);
    /* a by root and by a user, b by root, one call each in turn */
    struct listing la = { 0 }, lb = { 0 }, lu = { 0 };
    uint64_t ca = 0, cb = 0, cu = 0;
    for (int turn = 0; turn < 1000 && !(la.eof && lb.eof && lu.eof); turn++) {
        if (!la.eof) {
            assert_int_equal(l_call(&la, &ROOT, &a, ca, 23, true), 0);
            ca = la.n ? la.e[la.n - 1].cookie : 0;
        }
        if (!lu.eof) {
            assert_int_equal(l_call(&lu, &USER, &a, cu, 31, true), 0);
            cu = lu.n ? lu.e[lu.n - 1].cookie : 0;
        }
        if (!lb.eof) {
            assert_int_equal(l_call(&lb, &ROOT, &b, cb, 19, true), 0);
            cb = lb.n ? lb.e[lb.n - 1].cookie : 0;
        }
        assert_true(px_ds_count() <= 3);
    }
    assert_same(&oa, &la, true);
    assert_same(&ob, &lb, true);
    l_all(&ou, &USER, &a, 4096, true);
    assert_same(&ou, &lu, true);
    assert_same(&oa, &lu, true);
    assert_int_equal(px_ds_count(), 0);
    l_free(&oa);
    l_free(&ob);
    l_free(&ou);
    l_free(&la);
    l_free(&lb);
    l_free(&lu);
}

static void test_bound_and_evicted(void **state)
{
    (void)state;
    enum { D = 10 };
    struct cfs_fh d[D];
    struct listing one[D], l[D];
    char name[32];
    px_ds_limits(4, 10000);
    for (int i = 0; i < D; i++) {
        snprintf(name, sizeof(name), "d%d", i);
        assert_int_equal(t_mk(CFS_VOP_MKDIR, &ROOT, &R1, name, -1, &d[i]), 0);
        mkfiles(&d[i], "x", 0, 50 + 10 * i);
        memset(&one[i], 0, sizeof(one[i]));
        memset(&l[i], 0, sizeof(l[i]));
        l_all(&one[i], &ROOT, &d[i], 4096, true);
    }
    /* ten listings open at once: at most four streams kept */
    for (int i = 0; i < D; i++) {
        assert_int_equal(l_call(&l[i], &ROOT, &d[i], 0, 20, true), 0);
        assert_true(px_ds_count() <= 4);
    }
    /* the evicted ones resume from their cookies all the same */
    for (int round = 0; round < 100; round++) {
        bool all = true;
        for (int i = 0; i < D; i++) {
            if (l[i].eof)
                continue;
            all = false;
            assert_int_equal(l_call(&l[i], &ROOT, &d[i], l[i].e[l[i].n - 1].cookie, 20, true), 0);
            assert_true(px_ds_count() <= 4);
            if (i == 3)
                px_ds_flush(0); /* closed under a listing */
        }
        if (all)
            break;
    }
    for (int i = 0; i < D; i++) {
        assert_same(&one[i], &l[i], true);
        l_free(&one[i]);
        l_free(&l[i]);
    }
    /* no streams at all, and streams that expire at once */
    for (unsigned max = 0; max < 2; max++) {
        px_ds_limits(max, max ? 0 : 10000);
        struct listing x = { 0 };
        l_all(&x, &ROOT, &d[9], 7, true);
        struct listing y = { 0 };
        l_all(&y, &ROOT, &d[9], 4096, true);
        assert_same(&x, &y, true);
        l_free(&x);
        l_free(&y);
    }
    px_ds_limits(32, 10000);
    /* a cookie the directory never gave is refused or ends the listing, no crash */
    struct listing z = { 0 };
    int r = l_call(&z, &ROOT, &d[0], 0x7fffffffffffff00ULL, 10, true);
    assert_true(r == 0 || r == CFS_EBADCOOKIE);
    l_free(&z);
}

/* A kept stream is not used past a permission change: the open's check is made again. */
static void test_permission_change(void **state)
{
    (void)state;
    struct cfs_fh d;
    assert_int_equal(t_mk(CFS_VOP_MKDIR, &ROOT, &R1, "perm", 0755, &d), 0);
    mkfiles(&d, "p", 0, 300);
    struct listing l = { 0 };
    assert_int_equal(l_call(&l, &USER, &d, 0, 50, true), 0);
    assert_false(l.eof);
    assert_true(px_ds_count() >= 1);
    tick();
    struct cfs_vfs_op s;
    t_op(&s, CFS_VOP_SETATTR, &ROOT, &d);
    s.sattr.mask = CFS_SET_MODE;
    s.sattr.mode = 0700;
    assert_int_equal(V->call(&s), 0);
    assert_int_equal(l_call(&l, &USER, &d, l.e[l.n - 1].cookie, 50, true), -EACCES);
    /* read but no search permission: names without handles or attributes */
    t_op(&s, CFS_VOP_SETATTR, &ROOT, &d);
    s.sattr.mask = CFS_SET_MODE;
    s.sattr.mode = 0744;
    assert_int_equal(V->call(&s), 0);
    struct listing n = { 0 };
    assert_int_equal(l_call(&n, &USER, &d, 0, 50, true), 0);
    for (size_t i = 0; i < n.n; i++) {
        if (strcmp(n.e[i].name, ".") == 0 || strcmp(n.e[i].name, "..") == 0)
            continue;
        assert_false(n.e[i].has_attr);
        assert_int_equal(n.e[i].fh.len, 0);
    }
    px_ds_flush(0);
    l_free(&l);
    l_free(&n);
}

/* Handles kept by inode: a reused inode gets its own handle; handles outlive a restart. */
static void test_handles(void **state)
{
    (void)state;
    struct cfs_fh d, f;
    assert_int_equal(t_mk(CFS_VOP_MKDIR, &ROOT, &R1, "h", -1, &d), 0);
    mkfiles(&d, "h", 0, 100);
    uint64_t h0, m0, h1, m1;
    px_hc_stats(&h0, &m0);
    struct listing a = { 0 }, b = { 0 };
    l_all(&a, &ROOT, &d, 30, true);
    l_all(&b, &ROOT, &d, 30, true);
    assert_same(&a, &b, true);
    assert_handles_are_lookups(&b, &d);
    px_hc_stats(&h1, &m1);
    if (T_handles != CFS__HANDLES_INDEX && h1 == h0)
        print_message("note: no handle cache hits (no birth time or handle type)\n");
    /* inode reuse: the name's old handle must not come back for the new file */
    int reused = 0;
    for (int round = 0; round < 5; round++) {
        const struct ent *e = l_find(&b, "h0050");
        assert_non_null(e);
        struct cfs_fh old = e->fh;
        uint64_t old_ino = e->fileid;
        assert_int_equal(t_remove(CFS_VOP_UNLINK, &ROOT, &d, "h0050"), 0);
        assert_int_equal(t_create(&ROOT, &d, "h0050", &f), 0);
        l_free(&b);
        l_all(&b, &ROOT, &d, 30, true);
        e = l_find(&b, "h0050");
        assert_non_null(e);
        reused += e->fileid == old_ino;
        assert_int_equal(e->fh.len, f.len);
        assert_memory_equal(e->fh.data, f.data, f.len);
        assert_false(old.len == f.len && memcmp(old.data, f.data, f.len) == 0);
        assert_int_equal(t_getattr(&ROOT, &old, NULL), -ESTALE);
    }
    if (!reused)
        print_message("note: no inode was reused\n");
    /* a restart: the same handles, and they resolve */
    cfs__vfs_shutdown();
    assert_int_equal(t_start(), 0);
    struct listing c = { 0 };
    l_all(&c, &ROOT, &d, 30, true);
    assert_same(&b, &c, true);
    assert_handles_are_lookups(&c, &d);
    for (size_t i = 0; i < c.n; i++) {
        struct cfs_attr at;
        assert_int_equal(t_getattr(&ROOT, &c.e[i].fh, &at), 0);
        assert_int_equal(at.fileid, c.e[i].afileid);
    }
    l_free(&a);
    l_free(&b);
    l_free(&c);
}

/* Handles noted from LOOKUP/CREATE (px_hc_note): used by a listing, never a wrong one. */
static void test_hc_note(void **state)
{
    (void)state;
    struct px *px = cfs__export_ctx(E1);
    struct cfs_fh d, fa, fb;
    struct cfs_attr aa, ab;
    assert_non_null(px);
    assert_int_equal(t_mk(CFS_VOP_MKDIR, &ROOT, &R1, "note", -1, &d), 0);
    assert_int_equal(t_create(&ROOT, &d, "a", &fa), 0);
    assert_int_equal(t_create(&ROOT, &d, "b", &fb), 0);
    assert_int_equal(t_getattr(&ROOT, &fa, &aa), 0);
    assert_int_equal(t_getattr(&ROOT, &fb, &ab), 0);
    /* b's handle offered for a: refused (its inode is not a's) */
    px_hc_note(px, &aa, &fb);
    px_hc_note(px, &ab, &fb);
    uint64_t h0, m0, h1, m1;
    px_hc_stats(&h0, &m0);
    struct listing l = { 0 };
    l_all(&l, &ROOT, &d, 100, true);
    px_hc_stats(&h1, &m1);
    assert_handles_are_lookups(&l, &d);
    if (T_handles != CFS__HANDLES_INDEX && h1 == h0)
        print_message("note: no handle cache hits (no birth time or handle type)\n");
    /* a replaced by a new file: the noted handle of the old one is not used */
    px_hc_note(px, &aa, &fa);
    assert_int_equal(t_remove(CFS_VOP_UNLINK, &ROOT, &d, "a"), 0);
    assert_int_equal(t_create(&ROOT, &d, "a", NULL), 0);
    l_free(&l);
    l_all(&l, &ROOT, &d, 100, true);
    assert_handles_are_lookups(&l, &d);
    l_free(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_split_equals_one, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_resume_anywhere, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_kept_entries_fresh, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_changes_between_calls, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_interleaved, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_bound_and_evicted, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_permission_change, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_handles, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_hc_note, s_setup, s_teardown),
    };
    int failed = 0;
    if (geteuid() != 0) { /* setfsuid and open_by_handle_at need root */
        printf("%s: not root: skipped\n", __FILE__);
        return 0;
    }
    T_handles = CFS__HANDLES_AUTO;
    failed += cmocka_run_group_tests_name("readdir, kernel handles", tests, NULL, NULL);
    T_handles = CFS__HANDLES_INDEX;
    failed += cmocka_run_group_tests_name("readdir, index handles", tests, NULL, NULL);
    return failed;
}
