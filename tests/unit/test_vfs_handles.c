/*
 * tests/unit/test_vfs_handles.c - file handles and confinement on the posix backend:
 * handles survive a restart (shutdown + init with the same state dir) and resolve in
 * another process; they go stale after delete and after inode reuse; forged ones are
 * refused; every escape from an export root is refused (.., symlinks absolute and
 * relative, magic links, directories moved out, handles of another export); non-root
 * callers get EACCES exactly where the kernel would; credentials never leak.
 */
#include <pthread.h>
#include <sys/wait.h>

#include "test_vfs_util.h"

static void restart(void)
{
    cfs__vfs_shutdown();
    assert_int_equal(t_start(), 0);
}

static void test_persistence(void **state)
{
    (void)state;
    struct cfs_fh f, d, f2;
    struct cfs_attr a, b;
    assert_int_equal(t_mk(CFS_VOP_MKDIR, &ROOT, &R1, "pd", -1, &d), 0);
    assert_int_equal(t_create(&ROOT, &d, "pf", &f), 0);
    assert_int_equal(t_write(&ROOT, &f, 0, "persist", 7, CFS_FILE_SYNC), 7);
    assert_int_equal(t_getattr(&ROOT, &f, &a), 0);
    uint8_t v1[8], v2[8];
    V->write_verf(v1);
    restart();
    V->write_verf(v2);
    assert_memory_not_equal(v1, v2, 8); /* the write verifier changes on restart */
    assert_int_equal(t_getattr(&ROOT, &f, &b), 0);
    assert_int_equal(a.fileid, b.fileid);
    assert_int_equal(b.size, 7);
    assert_int_equal(t_lookup(&ROOT, &d, "pf", &f2, NULL), 0);
    assert_int_equal(f.len, f2.len);
    assert_memory_equal(f.data, f2.data, f.len); /* same handle as before */
    /* the root handle is stable too */
    struct cfs_fh r;
    assert_int_equal(V->export_root(E1, &r), 0);
    assert_memory_equal(r.data, R1.data, r.len);

    /* a forked child, started afresh from the state dir, resolves the handle */
    char hp[400];
    t_path(hp, sizeof(hp), T_root, "handle.bin");
    FILE *fp = fopen(hp, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(&f, sizeof(f), 1, fp), 1);
    fclose(fp);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct cfs_fh h;
        struct cfs_attr c;
        char buf[16];
        cfs__vfs_shutdown();
        if (t_start() < 0)
            _exit(2);
        FILE *in = fopen(hp, "rb");
        if (!in || fread(&h, sizeof(h), 1, in) != 1)
            _exit(3);
        fclose(in);
        if (t_getattr(&ROOT, &h, &c) < 0 || c.fileid != a.fileid)
            _exit(4);
        if (t_read(&ROOT, &h, 0, buf, sizeof(buf), NULL) != 7 || memcmp(buf, "persist", 7))
            _exit(5);
        _exit(0);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);

    /* a different key (another state dir) refuses the handle */
    cfs__vfs_shutdown();
    assert_int_equal(cfs__vfs_init(NULL), 0);
    struct cfs__export_opts o = { .handles = T_handles };
    assert_int_equal(cfs__vfs_export_add("e1", T_exp1, 1, &o), 0);
    assert_int_equal(t_getattr(&ROOT, &f, NULL), CFS_EBADHANDLE);
    cfs__vfs_shutdown();
    assert_int_equal(t_start(), 0);
    assert_int_equal(t_getattr(&ROOT, &f, NULL), 0);

    /* a renamed parent directory: children keep resolving, also after a restart */
    struct cfs_vfs_op op;
    struct cfs_fh nd;
    assert_int_equal(t_mk(CFS_VOP_MKDIR, &ROOT, &R1, "newparent", -1, &nd), 0);
    t_op(&op, CFS_VOP_RENAME, &ROOT, &R1);
    op.name = "pd";
    op.fh2 = nd;
    op.name2 = "pd-moved";
    assert_int_equal(V->call(&op), 0);
    restart();
    assert_int_equal(t_getattr(&ROOT, &f, &b), 0);
    assert_int_equal(b.fileid, a.fileid);
    assert_int_equal(t_getattr(&ROOT, &d, NULL), 0);
    assert_int_equal(t_lookup_path(&ROOT, &R1, "newparent/pd-moved/pf", &f2, NULL), 0);
    assert_memory_equal(f2.data, f.data, f.len);
}

static void test_stale(void **state)
{
    (void)state;
    struct cfs_fh f, g;
    struct cfs_attr a, b;
    char p[400];
    assert_int_equal(t_create(&ROOT, &R1, "s", &f), 0);
    assert_int_equal(t_getattr(&ROOT, &f, &a), 0);
    /* deleted through the VFS */
    assert_int_equal(t_remove(CFS_VOP_UNLINK, &ROOT, &R1, "s"), 0);
    assert_int_equal(t_getattr(&ROOT, &f, NULL), -ESTALE);
    /* inode reuse: the old handle must stay stale (ext4 reuses a freed inode once the
     * journal has committed the free) */
    bool reused = false;
    int efd = open(T_exp1, O_RDONLY | O_DIRECTORY);
    assert_true(efd >= 0);
    assert_int_equal(syncfs(efd), 0);
    close(efd);
    for (int i = 0; i < 500 && !reused; i++) {
        char n[16];
        snprintf(n, sizeof(n), "r%d", i);
        assert_int_equal(t_create(&ROOT, &R1, n, &g), 0);
        assert_int_equal(t_getattr(&ROOT, &g, &b), 0);
        if (b.fileid == a.fileid)
            reused = true;
    }
    if (reused) {
        assert_memory_not_equal(f.data, g.data, f.len < g.len ? f.len : g.len);
        assert_int_equal(t_getattr(&ROOT, &f, NULL), -ESTALE);
        cfs__vfs_cache_flush();
        assert_int_equal(t_getattr(&ROOT, &f, NULL), -ESTALE);
    } else {
        print_message("inode %llu not reused in 500 creates; reuse check skipped\n",
                      (unsigned long long)a.fileid);
    }
    restart();
    assert_int_equal(t_getattr(&ROOT, &f, NULL), -ESTALE);
    /* deleted behind the VFS's back: stale once the cached attributes expire */
    assert_int_equal(t_create(&ROOT, &R1, "ext", &g), 0);
    t_path(p, sizeof(p), T_exp1, "ext");
    assert_int_equal(unlink(p), 0);
    cfs__vfs_cache_flush();
    assert_int_equal(t_getattr(&ROOT, &g, NULL), -ESTALE);
    /* directory removed */
    struct cfs_fh d;
    assert_int_equal(t_mk(CFS_VOP_MKDIR, &ROOT, &R1, "gone", -1, &d), 0);
    assert_int_equal(t_remove(CFS_VOP_RMDIR, &ROOT, &R1, "gone"), 0);
    assert_int_equal(t_lookup(&ROOT, &d, "x", NULL, NULL), -ESTALE);
}

static void test_escape_dotdot_and_paths(void **state)
{
    (void)state;
    struct cfs_fh up, fh;
    struct cfs_attr ra, a;
    char p[400];
    assert_int_equal(t_getattr(&ROOT, &R1, &ra), 0);
    /* ".." at the root is the root */
    assert_int_equal(t_lookup(&ROOT, &R1, "..", &up, &a), 0);
    assert_int_equal(a.fileid, ra.fileid);
    assert_memory_equal(up.data, R1.data, R1.len);
    /* names with '/' are refused */
    assert_int_equal(t_lookup(&ROOT, &R1, "../exp2", NULL, NULL), -EINVAL);
    assert_int_equal(t_lookup(&ROOT, &R1, "/etc", NULL, NULL), -EINVAL);
    assert_int_equal(t_create(&ROOT, &R1, "../evil", NULL), -EINVAL);
    /* LOOKUP_PATH clamps at the root */
    assert_int_equal(t_lookup_path(&ROOT, &R1, "../../../..", &fh, &a), 0);
    assert_int_equal(a.fileid, ra.fileid);
    assert_int_equal(t_lookup_path(&ROOT, &R1, "../exp2", NULL, NULL), -ENOENT);
    assert_int_equal(t_lookup_path(&ROOT, &R1, "../../etc/passwd", NULL, NULL), -ENOENT);
    struct cfs_fh sub, deep;
    assert_int_equal(t_mk(CFS_VOP_MKDIR, &ROOT, &R1, "sub", -1, &sub), 0);
    assert_int_equal(t_mk(CFS_VOP_MKDIR, &ROOT, &sub, "deep", -1, &deep), 0);
    assert_int_equal(t_create(&ROOT, &deep, "leaf", NULL), 0);
    assert_int_equal(t_lookup_path(&ROOT, &R1, "sub/deep/leaf", NULL, &a), 0);
    assert_int_equal(a.type, CFS_FT_REG);
    assert_int_equal(t_lookup_path(&ROOT, &R1, "/sub//deep/./leaf", NULL, NULL), 0);
    assert_int_equal(t_lookup_path(&ROOT, &deep, "../../../../..", NULL, &a), 0);
    assert_int_equal(a.fileid, ra.fileid);
    assert_int_equal(t_lookup_path(&ROOT, &R1, "sub/deep/leaf/x", NULL, NULL), -ENOTDIR);
    /* a secret beside the export */
    t_path(p, sizeof(p), T_root, "secret");
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(t_lookup_path(&ROOT, &R1, "../secret", NULL, NULL), -ENOENT);
    assert_int_equal(t_lookup_path(&ROOT, &sub, "../../secret", NULL, NULL), -ENOENT);
}

static void test_escape_symlinks(void **state)
{
    (void)state;
    struct cfs_vfs_op op;
    struct cfs_fh l;
    struct cfs_attr a;
    const char *targets[] = { "/etc", "..", "../..", "../secret", "/proc/self/root",
                              "/proc/self/cwd", "/proc/self/fd/3" };
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        char name[16];
        snprintf(name, sizeof(name), "l%zu", i);
        t_op(&op, CFS_VOP_SYMLINK, &ROOT, &R1);
        op.name = name;
        op.target = targets[i];
        assert_int_equal(V->call(&op), 0);
        /* LOOKUP gives the link itself, never its target */
        assert_int_equal(t_lookup(&ROOT, &R1, name, &l, &a), 0);
        assert_int_equal(a.type, CFS_FT_LNK);
        /* going through it is refused */
        char path[64];
        snprintf(path, sizeof(path), "%s/passwd", name);
        int r = t_lookup_path(&ROOT, &R1, path, NULL, NULL);
        assert_true(r == -ENOTDIR || r == -ELOOP || r == -EACCES);
        snprintf(path, sizeof(path), "%s/", name);
        assert_int_equal(t_lookup_path(&ROOT, &R1, path, NULL, &a), 0);
        assert_int_equal(a.type, CFS_FT_LNK);
        /* and ops on the link's handle act on the link */
        t_op(&op, CFS_VOP_READ, &ROOT, &l);
        char buf[8];
        op.rbuf = buf;
        op.length = sizeof(buf);
        r = V->call(&op);
        assert_true(r == -EINVAL);
        t_op(&op, CFS_VOP_OPENFD, &ROOT, &l);
        op.flags = O_RDONLY;
        assert_int_equal(V->call(&op), -EINVAL);
        t_op(&op, CFS_VOP_READDIR, &ROOT, &l);
        assert_int_equal(V->call(&op), -ENOTDIR);
        t_op(&op, CFS_VOP_CREATE, &ROOT, &l);
        op.name = "x";
        assert_int_equal(V->call(&op), -ENOTDIR);
    }
    /* a symlink made outside the VFS, and a race: dir swapped for a link after lookup */
    char p[400], q[400];
    struct cfs_fh d;
    assert_int_equal(t_mk(CFS_VOP_MKDIR, &ROOT, &R1, "swap", -1, &d), 0);
    assert_int_equal(t_lookup(&ROOT, &d, ".", NULL, NULL), 0);
    t_path(p, sizeof(p), T_exp1, "swap");
    t_path(q, sizeof(q), T_root, "swapped-out");
    assert_int_equal(rename(p, q), 0);           /* the directory leaves the export */
    assert_int_equal(symlink("/", p), 0);        /* and a link to / takes its place */
    assert_int_equal(t_lookup(&ROOT, &R1, "swap", NULL, &a), 0);
    assert_int_equal(a.type, CFS_FT_LNK);
    assert_int_equal(t_lookup_path(&ROOT, &R1, "swap/etc", NULL, NULL), -ENOTDIR);
    /* the old handle now names a directory outside the export: stale once re-resolved */
    cfs__vfs_cache_flush();
    assert_int_equal(t_lookup(&ROOT, &d, ".", NULL, NULL), -ESTALE);
    assert_int_equal(t_getattr(&ROOT, &d, NULL), -ESTALE);
}

static void test_escape_other_export(void **state)
{
    (void)state;
    struct cfs_fh f;
    struct cfs_vfs_op op;
    assert_int_equal(t_create(&ROOT, &R2, "in2", &f), 0);
    /* a handle of e2 used as e1 */
    cfs_vfs_op_init(&op, CFS_VOP_GETATTR, &ROOT, E1);
    op.fh = f;
    assert_int_equal(V->call(&op), -ESTALE);
    /* re-labelling the export id breaks the MAC */
    op.fh.data[1] = 1;
    assert_int_equal(V->call(&op), CFS_EBADHANDLE);
    op.exp = NULL;
    assert_int_equal(V->call(&op), CFS_EBADHANDLE);
    /* an export nested in another: the inner export cannot reach up */
    char p[400];
    t_path(p, sizeof(p), T_exp1, "inner");
    assert_int_equal(mkdir(p, 0755), 0);
    struct cfs__export_opts o = { .handles = T_handles };
    assert_int_equal(cfs__vfs_export_add("inner", p, 9, &o), 0);
    cfs_export *in = V->export_find("inner");
    struct cfs_fh ir, up;
    struct cfs_attr a, ra;
    assert_int_equal(V->export_root(in, &ir), 0);
    cfs_vfs_op_init(&op, CFS_VOP_LOOKUP, &ROOT, in);
    op.fh = ir;
    op.name = "..";
    assert_int_equal(V->call(&op), 0);
    up = op.out_fh;
    a = op.attr;
    cfs_vfs_op_init(&op, CFS_VOP_GETATTR, &ROOT, in);
    op.fh = ir;
    assert_int_equal(V->call(&op), 0);
    ra = op.attr;
    assert_int_equal(a.fileid, ra.fileid);
    assert_memory_equal(up.data, ir.data, ir.len);
    /* e1's handle for the outer root is not accepted by the inner export */
    cfs_vfs_op_init(&op, CFS_VOP_GETATTR, &ROOT, in);
    op.fh = R1;
    assert_int_equal(V->call(&op), -ESTALE);
    cfs__vfs_export_remove("inner");
}

static void test_eacces_non_root(void **state)
{
    (void)state;
    struct cfs_fh priv, f, mine;
    struct cfs_vfs_op op;
    char buf[8];
    assert_int_equal(t_mk(CFS_VOP_MKDIR, &ROOT, &R1, "private", 0700, &priv), 0);
    assert_int_equal(t_create(&ROOT, &priv, "f", &f), 0);
    assert_int_equal(t_lookup(&USER, &priv, "f", NULL, NULL), -EACCES);
    assert_int_equal(t_lookup_path(&USER, &R1, "private/f", NULL, NULL), -EACCES);
    assert_int_equal(t_create(&USER, &priv, "g", NULL), -EACCES);
    assert_int_equal(t_mk(CFS_VOP_MKDIR, &USER, &priv, "g", -1, NULL), -EACCES);
    assert_int_equal(t_remove(CFS_VOP_UNLINK, &USER, &priv, "f"), -EACCES);
    t_op(&op, CFS_VOP_READDIR, &USER, &priv);
    assert_int_equal(V->call(&op), -EACCES);
    t_op(&op, CFS_VOP_RENAME, &USER, &priv);
    op.name = "f";
    op.fh2 = R1;
    op.name2 = "stolen";
    assert_int_equal(V->call(&op), -EACCES);
    /* a file 0644 of root: readable, not writable */
    assert_int_equal(t_create(&ROOT, &R1, "rootfile", &f), 0);
    assert_int_equal(t_write(&ROOT, &f, 0, "data", 4, CFS_UNSTABLE), 4);
    assert_int_equal(t_read(&USER, &f, 0, buf, sizeof(buf), NULL), 4);
    assert_int_equal(t_write(&USER, &f, 0, "x", 1, CFS_UNSTABLE), -EACCES);
    t_op(&op, CFS_VOP_SETATTR, &USER, &f);
    op.sattr.mask = CFS_SET_SIZE;
    assert_int_equal(V->call(&op), -EACCES);
    /* the user's own file in a world-writable dir */
    assert_int_equal(t_create(&USER, &R1, "mine", &mine), 0);
    struct cfs_attr a;
    assert_int_equal(t_getattr(&USER, &mine, &a), 0);
    assert_int_equal(a.uid, 1000);
    assert_int_equal(a.gid, 1000);
    assert_int_equal(t_write(&USER, &mine, 0, "ok", 2, CFS_UNSTABLE), 2);
    /* root still has every right afterwards: nothing leaked on this thread */
    assert_int_equal(t_lookup(&ROOT, &priv, "f", NULL, NULL), 0);
    assert_int_equal(t_create(&ROOT, &priv, "h", NULL), 0);
    /* a cached fd opened for root is not reused for the user after a chmod */
    t_op(&op, CFS_VOP_SETATTR, &ROOT, &mine);
    op.sattr.mask = CFS_SET_MODE;
    op.sattr.mode = 0;
    assert_int_equal(V->call(&op), 0);
    assert_int_equal(t_write(&USER, &mine, 0, "no", 2, CFS_UNSTABLE), -EACCES);
    assert_int_equal(t_read(&USER, &mine, 0, buf, 2, NULL), -EACCES);
}

/* Many threads, mixed users: each op is checked with its own caller. */
struct mix {
    int id, bad;
};

static void *mix_thread(void *p)
{
    struct mix *m = p;
    struct cfs_fh priv;
    if (t_lookup(&ROOT, &R1, "private", &priv, NULL) < 0) {
        m->bad++;
        return NULL;
    }
    for (int i = 0; i < 300; i++) {
        bool user = (i + m->id) % 2;
        int r = t_lookup(user ? &USER : &ROOT, &priv, "f", NULL, NULL);
        if (r != (user ? -EACCES : 0))
            m->bad++;
    }
    return NULL;
}

static void test_cred_threads(void **state)
{
    (void)state;
    pthread_t t[4];
    struct mix m[4];
    assert_int_equal(t_mk(CFS_VOP_MKDIR, &ROOT, &R1, "private", 0700, NULL), 0);
    struct cfs_fh priv;
    assert_int_equal(t_lookup(&ROOT, &R1, "private", &priv, NULL), 0);
    assert_int_equal(t_create(&ROOT, &priv, "f", NULL), 0);
    for (int i = 0; i < 4; i++) {
        m[i] = (struct mix){ i, 0 };
        assert_int_equal(pthread_create(&t[i], NULL, mix_thread, &m[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(m[i].bad, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_persistence, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_stale, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_escape_dotdot_and_paths, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_escape_symlinks, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_escape_other_export, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_eacces_non_root, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_cred_threads, t_setup, t_teardown),
    };
    int failed = 0;
    if (geteuid() != 0) { /* setfsuid, open_by_handle_at, mknod and chown need root */
        printf("%s: not root: skipped\n", __FILE__);
        return 0;
    }
    T_handles = CFS__HANDLES_AUTO; /* kernel handles here (we run as root) */
    failed += cmocka_run_group_tests_name("kernel handles", tests, NULL, NULL);
    T_handles = CFS__HANDLES_INDEX; /* the fallback scheme */
    failed += cmocka_run_group_tests_name("index handles", tests, NULL, NULL);
    return failed;
}
