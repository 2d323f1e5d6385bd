/*
 * tests/unit/test_vfs.c - every VFS op on the posix backend, with its errors: lookup,
 * getattr/setattr/access, create (unchecked, guarded, exclusive), mkdir, mknod,
 * symlink/readlink, link, unlink/rmdir, rename, readdir (cookies, plus), statfs,
 * xattrs and cfs/meta.h, read/write/commit, fallocate/seek, copy/clone, openfd, the
 * attribute cache, export options, the faulty backend and the async path on a loop.
 */
#include <pthread.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>

#include "backend_glue.h"
#include "core.h"
#include "test_vfs_util.h"

static void test_lookup_getattr(void **state)
{
    (void)state;
    struct cfs_fh f, g, dot;
    struct cfs_attr a, b;
    assert_int_equal(t_create(&ROOT, &R1, "file", &f), 0);
    assert_int_equal(t_lookup(&ROOT, &R1, "file", &g, &a), 0);
    assert_int_equal(f.len, g.len);
    assert_memory_equal(f.data, g.data, f.len);
    assert_true(f.len <= CFS_FH_MAX);
    assert_int_equal(a.type, CFS_FT_REG);
    assert_int_equal(a.mode, 0644);
    assert_int_equal(t_getattr(&ROOT, &f, &b), 0);
    assert_int_equal(a.fileid, b.fileid);
    assert_int_equal(b.fsid, 1);
    assert_int_equal(t_lookup(&ROOT, &R1, "missing", NULL, NULL), -ENOENT);
    assert_int_equal(t_lookup(&ROOT, &R1, "a/b", NULL, NULL), -EINVAL);
    assert_int_equal(t_lookup(&ROOT, &R1, "", NULL, NULL), -EINVAL);
    assert_int_equal(t_lookup(&ROOT, &f, "x", NULL, NULL), -ENOTDIR);
    char longname[300];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = 0;
    assert_int_equal(t_lookup(&ROOT, &R1, longname, NULL, NULL), -ENAMETOOLONG);
    assert_int_equal(t_lookup(&ROOT, &R1, ".", &dot, NULL), 0);
    assert_int_equal(t_getattr(&ROOT, &dot, &a), 0);
    assert_int_equal(t_getattr(&ROOT, &R1, &b), 0);
    assert_int_equal(a.fileid, b.fileid);
    /* sub/.. is the root */
    struct cfs_fh sub, up;
    assert_int_equal(t_mk(CFS_VOP_MKDIR, &ROOT, &R1, "sub", 0755, &sub), 0);
    assert_int_equal(t_lookup(&ROOT, &sub, "..", &up, &a), 0);
    assert_int_equal(a.fileid, b.fileid);
    /* export lookups */
    assert_ptr_equal(V->export_from_fh(&f), E1);
    assert_string_equal(V->export_name(E1), "e1");
    assert_string_equal(V->export_path(E1), T_exp1);
    assert_null(V->export_find("nope"));
}

static void test_create_modes(void **state)
{
    (void)state;
    struct cfs_vfs_op op;
    struct cfs_fh f1, f2;
    assert_int_equal(t_create(&ROOT, &R1, "g", &f1), 0);
    assert_int_equal(t_create(&ROOT, &R1, "g", NULL), -EEXIST);
    /* unchecked on an existing file succeeds and applies size */
    assert_int_equal(t_write(&ROOT, &f1, 0, "hello", 5, CFS_UNSTABLE), 5);
    t_op(&op, CFS_VOP_CREATE, &ROOT, &R1);
    op.name = "g";
    op.how = CFS_CREATE_UNCHECKED;
    op.sattr.mask = CFS_SET_SIZE;
    op.sattr.size = 0;
    assert_int_equal(V->call(&op), 0);
    assert_memory_equal(op.out_fh.data, f1.data, f1.len);
    assert_int_equal(op.attr.size, 0);
    /* exclusive: verifier stored, same verifier retried = success, other = EEXIST */
    uint8_t v1[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, v2[8] = { 9, 9, 9, 9, 9, 9, 9, 9 };
    t_op(&op, CFS_VOP_CREATE, &ROOT, &R1);
    op.name = "x";
    op.how = CFS_CREATE_EXCLUSIVE;
    memcpy(op.verf_in, v1, 8);
    assert_int_equal(V->call(&op), 0);
    f2 = op.out_fh;
    assert_int_equal(V->call(&op), 0);
    assert_memory_equal(op.out_fh.data, f2.data, f2.len);
    memcpy(op.verf_in, v2, 8);
    assert_int_equal(V->call(&op), -EEXIST);
    /* create over a directory */
    assert_int_equal(t_mk(CFS_VOP_MKDIR, &ROOT, &R1, "d", -1, NULL), 0);
    t_op(&op, CFS_VOP_CREATE, &ROOT, &R1);
    op.name = "d";
    op.how = CFS_CREATE_UNCHECKED;
    assert_int_equal(V->call(&op), -EISDIR);
    assert_int_equal(t_create(&ROOT, &R1, "..", NULL), -EEXIST);
    assert_int_equal(t_create(&ROOT, &f1, "y", NULL), -ENOTDIR);
    /* mode exactly as asked, whatever the umask */
    mode_t old = umask(077);
    struct cfs_attr a;
    assert_int_equal(t_mk(CFS_VOP_CREATE, &ROOT, &R1, "m", 0666, &f2), 0);
    umask(old);
    assert_int_equal(t_getattr(&ROOT, &f2, &a), 0);
    assert_int_equal(a.mode, 0666);
}

static void test_write_read_commit(void **state)
{
    (void)state;
    struct cfs_fh f;
    struct cfs_vfs_op op;
    char buf[64];
    bool eof = false;
    uint8_t verf[8];
    V->write_verf(verf);
    assert_int_equal(t_create(&ROOT, &R1, "w", &f), 0);
    for (int s = CFS_UNSTABLE; s <= CFS_FILE_SYNC; s++) {
        t_op(&op, CFS_VOP_WRITE, &ROOT, &f);
        op.offset = (uint64_t)s * 10;
        op.wbuf = "0123456789";
        op.length = 10;
        op.stable = (enum cfs_stable)s;
        assert_int_equal(V->call(&op), 0);
        assert_int_equal(op.count, 10);
        assert_int_equal(op.committed, s);
        assert_memory_equal(op.verf, verf, 8);
        assert_true(op.has_pre && op.has_attr);
        assert_int_equal(op.attr.size, (uint64_t)s * 10 + 10);
    }
    assert_int_equal(t_read(&ROOT, &f, 5, buf, 10, &eof), 10);
    assert_memory_equal(buf, "5678901234", 10);
    assert_false(eof);
    assert_int_equal(t_read(&ROOT, &f, 25, buf, 64, &eof), 5);
    assert_true(eof);
    t_op(&op, CFS_VOP_COMMIT, &ROOT, &f);
    assert_int_equal(V->call(&op), 0);
    assert_memory_equal(op.verf, verf, 8);
    /* a write by a non-root caller drops setuid, as the kernel does */
    struct cfs_fh su;
    struct cfs_attr a;
    assert_int_equal(t_mk(CFS_VOP_CREATE, &ROOT, &R1, "suid", 04777, &su), 0);
    assert_int_equal(t_getattr(&ROOT, &su, &a), 0);
    assert_int_equal(a.mode, 04777);
    assert_int_equal(t_write(&USER, &su, 0, "x", 1, CFS_UNSTABLE), 1);
    assert_int_equal(t_getattr(&ROOT, &su, &a), 0);
    assert_int_equal(a.mode & 04000, 0);
    /* read/write on a directory */
    assert_int_equal(t_read(&ROOT, &R1, 0, buf, 4, NULL), -EISDIR);
    assert_int_equal(t_write(&ROOT, &R1, 0, buf, 4, CFS_UNSTABLE), -EISDIR);
}

static void test_setattr(void **state)
{
    (void)state;
    struct cfs_fh f;
    struct cfs_vfs_op op;
    struct cfs_attr a;
    assert_int_equal(t_create(&ROOT, &R1, "s", &f), 0);
    assert_int_equal(t_getattr(&ROOT, &f, &a), 0); /* cached now */
    t_op(&op, CFS_VOP_SETATTR, &ROOT, &f);
    op.sattr.mask = CFS_SET_MODE | CFS_SET_SIZE | CFS_SET_UID | CFS_SET_GID | CFS_SET_ATIME |
                    CFS_SET_MTIME;
    op.sattr.mode = 0600;
    op.sattr.size = 4096;
    op.sattr.uid = 1000;
    op.sattr.gid = 1001;
    op.sattr.atime = (struct timespec){ 1000000, 5 };
    op.sattr.mtime = (struct timespec){ 2000000, 7 };
    assert_int_equal(V->call(&op), 0);
    assert_true(op.has_pre);
    assert_int_equal(t_getattr(&ROOT, &f, &a), 0); /* invalidated: new values */
    assert_int_equal(a.mode, 0600);
    assert_int_equal(a.size, 4096);
    assert_int_equal(a.uid, 1000);
    assert_int_equal(a.gid, 1001);
    assert_int_equal(a.atime.tv_sec, 1000000);
    assert_int_equal(a.mtime.tv_nsec, 7);
    /* server time */
    t_op(&op, CFS_VOP_SETATTR, &ROOT, &f);
    op.sattr.mask = CFS_SET_MTIME_NOW;
    assert_int_equal(V->call(&op), 0);
    assert_true(op.attr.mtime.tv_sec > time(NULL) - 100);
    /* guard */
    t_op(&op, CFS_VOP_SETATTR, &ROOT, &f);
    op.sattr.mask = CFS_SET_MODE;
    op.sattr.mode = 0644;
    op.use_guard = true;
    op.guard_ctime = (struct timespec){ 1, 1 };
    assert_int_equal(V->call(&op), CFS_ENOTSYNC);
    op.guard_ctime = a.ctime;
    assert_int_equal(t_getattr(&ROOT, &f, &a), 0);
    op.guard_ctime = a.ctime;
    assert_int_equal(V->call(&op), 0);
    /* size on a directory */
    t_op(&op, CFS_VOP_SETATTR, &ROOT, &R1);
    op.sattr.mask = CFS_SET_SIZE;
    assert_int_equal(V->call(&op), -EISDIR);
    /* a non-owner cannot chmod; cannot chown */
    t_op(&op, CFS_VOP_SETATTR, &USER, &R1);
    op.sattr.mask = CFS_SET_MODE;
    op.sattr.mode = 0700;
    assert_int_equal(V->call(&op), -EPERM);
    t_op(&op, CFS_VOP_SETATTR, &USER, &f);
    op.sattr.mask = CFS_SET_UID;
    op.sattr.uid = 0;
    assert_int_equal(V->call(&op), -EPERM);
}

static void test_dirs_and_removal(void **state)
{
    (void)state;
    struct cfs_fh d, f;
    assert_int_equal(t_mk(CFS_VOP_MKDIR, &ROOT, &R1, "dir", 0750, &d), 0);
    assert_int_equal(t_mk(CFS_VOP_MKDIR, &ROOT, &R1, "dir", 0750, NULL), -EEXIST);
    assert_int_equal(t_create(&ROOT, &d, "in", &f), 0);
    assert_int_equal(t_remove(CFS_VOP_RMDIR, &ROOT, &R1, "dir"), -ENOTEMPTY);
    assert_int_equal(t_remove(CFS_VOP_UNLINK, &ROOT, &R1, "dir"), -EISDIR);
    assert_int_equal(t_remove(CFS_VOP_RMDIR, &ROOT, &d, "in"), -ENOTDIR);
    assert_int_equal(t_remove(CFS_VOP_UNLINK, &ROOT, &d, "nope"), -ENOENT);
    assert_int_equal(t_remove(CFS_VOP_UNLINK, &ROOT, &d, ".."), -EINVAL);
    struct cfs_vfs_op op;
    t_op(&op, CFS_VOP_UNLINK, &ROOT, &d);
    op.name = "in";
    assert_int_equal(V->call(&op), 0);
    assert_true(op.has_pre && op.has_dir_attr);
    assert_int_equal(t_getattr(&ROOT, &f, NULL), -ESTALE);
    assert_int_equal(t_remove(CFS_VOP_RMDIR, &ROOT, &R1, "dir"), 0);
    assert_int_equal(t_getattr(&ROOT, &d, NULL), -ESTALE);
    assert_int_equal(t_create(&ROOT, &d, "again", NULL), -ESTALE);
}

static void test_symlink_link_mknod(void **state)
{
    (void)state;
    struct cfs_vfs_op op;
    struct cfs_fh l, f;
    struct cfs_attr a;
    char buf[64];
    t_op(&op, CFS_VOP_SYMLINK, &ROOT, &R1);
    op.name = "ln";
    op.target = "some/where";
    assert_int_equal(V->call(&op), 0);
    l = op.out_fh;
    assert_int_equal(op.attr.type, CFS_FT_LNK);
    t_op(&op, CFS_VOP_READLINK, &ROOT, &l);
    op.rbuf = buf;
    op.length = sizeof(buf);
    assert_int_equal(V->call(&op), 0);
    assert_int_equal(op.count, 10);
    assert_memory_equal(buf, "some/where", 10);
    op.length = 4;
    assert_int_equal(V->call(&op), -ENAMETOOLONG);
    t_op(&op, CFS_VOP_READLINK, &ROOT, &R1);
    op.rbuf = buf;
    op.length = sizeof(buf);
    assert_int_equal(V->call(&op), -EINVAL);

    assert_int_equal(t_create(&ROOT, &R1, "orig", &f), 0);
    t_op(&op, CFS_VOP_LINK, &ROOT, &f);
    op.fh2 = R1;
    op.name2 = "alias";
    assert_int_equal(V->call(&op), 0);
    assert_int_equal(op.attr.nlink, 2);
    assert_true(op.has_pre2 && op.has_dir2_attr);
    assert_int_equal(V->call(&op), -EEXIST);
    op.fh2 = R2;
    assert_int_equal(V->call(&op), -EXDEV);
    assert_int_equal(t_remove(CFS_VOP_UNLINK, &ROOT, &R1, "alias"), 0);
    assert_int_equal(t_getattr(&ROOT, &f, &a), 0);
    assert_int_equal(a.nlink, 1);

    t_op(&op, CFS_VOP_MKNOD, &ROOT, &R1);
    op.name = "fifo";
    op.ftype = CFS_FT_FIFO;
    assert_int_equal(V->call(&op), 0);
    assert_int_equal(op.attr.type, CFS_FT_FIFO);
    op.name = "chr";
    op.ftype = CFS_FT_CHR;
    op.rdev_major = 1;
    op.rdev_minor = 3;
    assert_int_equal(V->call(&op), 0);
    assert_int_equal(op.attr.type, CFS_FT_CHR);
    assert_int_equal(op.attr.rdev_major, 1);
    assert_int_equal(op.attr.rdev_minor, 3);
    op.name = "bad";
    op.ftype = CFS_FT_REG;
    assert_int_equal(V->call(&op), -EINVAL);
    op.name = "unpriv";
    op.ftype = CFS_FT_CHR;
    op.cred = &USER;
    assert_int_equal(V->call(&op), -EPERM);
}

static void test_rename(void **state)
{
    (void)state;
    struct cfs_fh a, b, d, b2;
    struct cfs_vfs_op op;
    char buf[8];
    assert_int_equal(t_create(&ROOT, &R1, "a", &a), 0);
    assert_int_equal(t_write(&ROOT, &a, 0, "AAAA", 4, CFS_UNSTABLE), 4);
    assert_int_equal(t_create(&ROOT, &R1, "b", &b), 0);
    assert_int_equal(t_mk(CFS_VOP_MKDIR, &ROOT, &R1, "d", -1, &d), 0);
    assert_int_equal(t_getattr(&ROOT, &b, NULL), 0);
    t_op(&op, CFS_VOP_RENAME, &ROOT, &R1);
    op.name = "a";
    op.fh2 = R1;
    op.name2 = "b"; /* atomic replace */
    assert_int_equal(V->call(&op), 0);
    assert_true(op.has_pre && op.has_pre2 && op.has_dir_attr && op.has_dir2_attr);
    assert_int_equal(t_getattr(&ROOT, &b, NULL), -ESTALE);
    assert_int_equal(t_lookup(&ROOT, &R1, "b", &b2, NULL), 0);
    assert_memory_equal(b2.data, a.data, a.len);
    assert_int_equal(t_read(&ROOT, &b2, 0, buf, 8, NULL), 4);
    assert_int_equal(t_lookup(&ROOT, &R1, "a", NULL, NULL), -ENOENT);
    /* into a subdirectory, handle survives */
    op.name = "b";
    op.fh2 = d;
    op.name2 = "moved";
    assert_int_equal(V->call(&op), 0);
    assert_int_equal(t_getattr(&ROOT, &a, NULL), 0);
    assert_int_equal(V->call(&op), -ENOENT);
    /* across exports */
    t_op(&op, CFS_VOP_RENAME, &ROOT, &d);
    op.name = "moved";
    op.fh2 = R2;
    op.name2 = "x";
    assert_int_equal(V->call(&op), -EXDEV);
    /* directory onto a non-empty directory */
    assert_int_equal(t_mk(CFS_VOP_MKDIR, &ROOT, &R1, "e", -1, NULL), 0);
    t_op(&op, CFS_VOP_RENAME, &ROOT, &R1);
    op.name = "e";
    op.fh2 = R1;
    op.name2 = "d";
    assert_int_equal(V->call(&op), -ENOTEMPTY);
    op.name2 = "..";
    assert_int_equal(V->call(&op), -EINVAL);
}

static void test_readdir(void **state)
{
    (void)state;
    struct cfs_fh d;
    struct cfs_vfs_op op;
    char name[32];
    enum { N = 300 };
    static bool seen[N];
    memset(seen, 0, sizeof(seen));
    assert_int_equal(t_mk(CFS_VOP_MKDIR, &ROOT, &R1, "big", -1, &d), 0);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "f%03d", i);
        assert_int_equal(t_create(&ROOT, &d, name, NULL), 0);
    }
    uint64_t cookie = 0;
    int total = 0, pages = 0;
    bool eof = false;
    uint8_t verf[8] = { 0 };
    while (!eof && pages < 100) {
        t_op(&op, CFS_VOP_READDIR, &ROOT, &d);
        op.cookie = cookie;
        memcpy(op.cookieverf, verf, 8);
        op.length = 64;
        op.plus = pages % 2 == 1;
        assert_int_equal(V->call(&op), 0);
        memcpy(verf, op.verf, 8);
        for (size_t i = 0; i < op.nentries; i++) {
            const struct cfs_dirent *e = &op.entries[i];
            if (op.plus) {
                if (!e->has_attr) print_message("no attr: %s fh %d\n", e->name, e->fh.len);
                assert_true(e->has_attr);
                assert_true(e->fh.len > 0);
                struct cfs_attr a;
                assert_int_equal(t_getattr(&ROOT, &e->fh, &a), 0);
                assert_int_equal(a.fileid, e->attr.fileid);
            }
            if (strcmp(e->name, ".") == 0 || strcmp(e->name, "..") == 0)
                continue;
            int k = (int)strtol(e->name + 1, NULL, 10);
            assert_true(k >= 0 && k < N);
            assert_false(seen[k]);
            seen[k] = true;
            total++;
            cookie = e->cookie;
        }
        if (op.nentries)
            cookie = op.entries[op.nentries - 1].cookie;
        eof = op.eof;
        V->op_release(&op);
        assert_null(op.entries);
        pages++;
    }
    assert_int_equal(total, N);
    assert_true(pages >= 5);
    /* readdir of a file, and as a user without read permission */
    struct cfs_fh f;
    assert_int_equal(t_create(&ROOT, &R1, "plain", &f), 0);
    t_op(&op, CFS_VOP_READDIR, &ROOT, &f);
    assert_int_equal(V->call(&op), -ENOTDIR);
    struct cfs_vfs_op s;
    t_op(&s, CFS_VOP_SETATTR, &ROOT, &d);
    s.sattr.mask = CFS_SET_MODE;
    s.sattr.mode = 0700;
    assert_int_equal(V->call(&s), 0);
    t_op(&op, CFS_VOP_READDIR, &USER, &d);
    assert_int_equal(V->call(&op), -EACCES);
}

static void test_statfs(void **state)
{
    (void)state;
    struct cfs_vfs_op op;
    t_op(&op, CFS_VOP_STATFS, &ROOT, &R1);
    assert_int_equal(V->call(&op), 0);
    assert_true(op.statfs.tbytes > 0);
    assert_true(op.statfs.fbytes >= op.statfs.abytes);
    assert_int_equal(op.statfs.namemax, 255);
    assert_true(op.has_attr);
}

static void test_xattr_and_meta(void **state)
{
    (void)state;
    struct cfs_fh f;
    struct cfs_vfs_op op;
    char buf[256];
    size_t n = 0;
    assert_int_equal(t_create(&ROOT, &R1, "x", &f), 0);
    t_op(&op, CFS_VOP_SETXATTR, &ROOT, &f);
    op.name = "user.color";
    op.wbuf = "blue";
    op.length = 4;
    assert_int_equal(V->call(&op), 0);
    op.xflags = XATTR_CREATE;
    assert_int_equal(V->call(&op), -EEXIST);
    op.name = "trusted.x";
    op.xflags = 0;
    assert_int_equal(V->call(&op), -EOPNOTSUPP);
    op.name = "user.cfs.etag";
    assert_int_equal(V->call(&op), -EPERM);
    t_op(&op, CFS_VOP_GETXATTR, &ROOT, &f);
    op.name = "user.color";
    assert_int_equal(V->call(&op), 0); /* size only */
    assert_int_equal(op.count, 4);
    op.rbuf = buf;
    op.length = sizeof(buf);
    assert_int_equal(V->call(&op), 0);
    assert_memory_equal(buf, "blue", 4);
    op.length = 2;
    assert_int_equal(V->call(&op), -ERANGE);
    op.name = "user.none";
    op.length = sizeof(buf);
    assert_int_equal(V->call(&op), -ENODATA);
    /* metadata */
    assert_int_equal(cfs_meta_set(V, &ROOT, E1, &f, CFS_META_ETAG, "\"abc\"", 5, 0), 0);
    assert_int_equal(cfs_meta_set(V, &ROOT, E1, &f, CFS_META_CONTENT_TYPE, "text/plain", 10, 0),
                     0);
    char key[64];
    assert_int_equal(cfs_meta_name(key, sizeof(key), CFS_META_USER, "owner"), 0);
    assert_int_equal(cfs_meta_set(V, &ROOT, E1, &f, key, "me", 2, 0), 0);
    assert_int_equal(cfs_meta_get(V, &ROOT, E1, &f, CFS_META_ETAG, buf, sizeof(buf), &n), 0);
    assert_int_equal(n, 5);
    assert_memory_equal(buf, "\"abc\"", 5);
    /* plain list shows user.color only; meta list shows the three user.cfs.* */
    t_op(&op, CFS_VOP_LISTXATTR, &ROOT, &f);
    op.rbuf = buf;
    op.length = sizeof(buf);
    assert_int_equal(V->call(&op), 0);
    assert_int_equal(op.count, strlen("user.color") + 1);
    assert_string_equal(buf, "user.color");
    assert_int_equal(cfs_meta_list(V, &ROOT, E1, &f, buf, sizeof(buf), &n), 0);
    int count = 0;
    for (size_t i = 0; i < n; i += strlen(buf + i) + 1, count++)
        assert_memory_equal(buf + i, "user.cfs.", 9);
    assert_int_equal(count, 3);
    assert_int_equal(cfs_meta_remove(V, &ROOT, E1, &f, key), 0);
    assert_int_equal(cfs_meta_get(V, &ROOT, E1, &f, key, buf, sizeof(buf), &n), -ENODATA);
    t_op(&op, CFS_VOP_REMOVEXATTR, &ROOT, &f);
    op.name = "user.color";
    assert_int_equal(V->call(&op), 0);
    assert_int_equal(V->call(&op), -ENODATA);
    /* a user without write permission cannot set */
    t_op(&op, CFS_VOP_SETXATTR, &USER, &f);
    op.name = "user.y";
    op.wbuf = "1";
    op.length = 1;
    assert_int_equal(V->call(&op), -EACCES);
}

static void test_space_seek(void **state)
{
    (void)state;
    struct cfs_fh f;
    struct cfs_vfs_op op;
    static char block[65536];
    memset(block, 'z', sizeof(block));
    assert_int_equal(t_create(&ROOT, &R1, "sparse", &f), 0);
    assert_int_equal(t_write(&ROOT, &f, 0, block, sizeof(block), CFS_UNSTABLE), 65536);
    assert_int_equal(t_write(&ROOT, &f, 4 << 20, block, sizeof(block), CFS_UNSTABLE), 65536);
    t_op(&op, CFS_VOP_SEEK, &ROOT, &f);
    op.whence = SEEK_HOLE;
    assert_int_equal(V->call(&op), 0);
    assert_int_equal(op.seek_offset, 65536);
    op.offset = 65536;
    op.whence = SEEK_DATA;
    assert_int_equal(V->call(&op), 0);
    assert_int_equal(op.seek_offset, 4 << 20);
    op.offset = 8 << 20;
    assert_int_equal(V->call(&op), -ENXIO);
    op.whence = SEEK_SET;
    assert_int_equal(V->call(&op), -EINVAL);
    /* preallocate, then punch a hole */
    t_op(&op, CFS_VOP_FALLOCATE, &ROOT, &f);
    op.offset = 8 << 20;
    op.length = 1 << 20;
    assert_int_equal(V->call(&op), 0);
    assert_int_equal(op.attr.size, 9 << 20);
    op.offset = 0;
    op.length = 65536;
    op.falloc_mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
    assert_int_equal(V->call(&op), 0);
    t_op(&op, CFS_VOP_SEEK, &ROOT, &f);
    op.whence = SEEK_DATA;
    assert_int_equal(V->call(&op), 0);
    assert_int_equal(op.seek_offset, 4 << 20);
}

static void test_copy_clone_openfd(void **state)
{
    (void)state;
    struct cfs_fh s, d, o;
    struct cfs_vfs_op op;
    char buf[32];
    assert_int_equal(t_create(&ROOT, &R1, "src", &s), 0);
    assert_int_equal(t_create(&ROOT, &R1, "dst", &d), 0);
    assert_int_equal(t_create(&ROOT, &R2, "other", &o), 0);
    assert_int_equal(t_write(&ROOT, &s, 0, "abcdefghij", 10, CFS_UNSTABLE), 10);
    t_op(&op, CFS_VOP_COPY, &ROOT, &s);
    op.fh2 = d;
    op.offset = 2;
    op.offset2 = 1;
    op.length = 5;
    assert_int_equal(V->call(&op), 0);
    assert_int_equal(op.count, 5);
    assert_int_equal(op.attr.size, 6);
    assert_int_equal(t_read(&ROOT, &d, 1, buf, 5, NULL), 5);
    assert_memory_equal(buf, "cdefg", 5);
    op.length = 0; /* to the end */
    assert_int_equal(V->call(&op), 0);
    assert_int_equal(op.count, 8);
    op.fh2 = o;
    assert_int_equal(V->call(&op), -EXDEV);
    t_op(&op, CFS_VOP_CLONE, &ROOT, &s);
    op.fh2 = d;
    int r = V->call(&op);
    assert_true(r == 0 || r == -EOPNOTSUPP);
    op.fh2 = o;
    assert_int_equal(V->call(&op), -EXDEV);
    t_op(&op, CFS_VOP_OPENFD, &ROOT, &s);
    op.flags = O_RDONLY;
    assert_int_equal(V->call(&op), 0);
    assert_true(op.fd >= 0);
    assert_int_equal(pread(op.fd, buf, 10, 0), 10);
    assert_memory_equal(buf, "abcdefghij", 10);
    close(op.fd);
    t_op(&op, CFS_VOP_OPENFD, &USER, &s);
    op.flags = O_WRONLY;
    assert_int_equal(V->call(&op), -EACCES);
    assert_int_equal(op.fd, -1);
    t_op(&op, CFS_VOP_OPENFD, &ROOT, &R1);
    assert_int_equal(V->call(&op), -EISDIR);
}

static void test_access(void **state)
{
    (void)state;
    struct cfs_fh f;
    struct cfs_vfs_op op;
    assert_int_equal(t_mk(CFS_VOP_CREATE, &ROOT, &R1, "acc", 0640, &f), 0);
    t_op(&op, CFS_VOP_ACCESS, &ROOT, &f);
    op.access = R_OK | W_OK | X_OK;
    assert_int_equal(V->call(&op), 0);
    assert_int_equal(op.access, R_OK | W_OK); /* root needs an x bit to execute */
    t_op(&op, CFS_VOP_ACCESS, &USER, &f);
    op.access = R_OK | W_OK | X_OK;
    assert_int_equal(V->call(&op), 0);
    assert_int_equal(op.access, 0);
    struct cfs_cred grp = { 1000, 1000, 2, { 1000, 0 } };
    t_op(&op, CFS_VOP_ACCESS, &grp, &f);
    op.access = R_OK | W_OK;
    assert_int_equal(V->call(&op), 0);
    assert_int_equal(op.access, R_OK); /* via supplementary group 0 */
}

static void test_attr_cache(void **state)
{
    (void)state;
    struct cfs_fh f;
    struct cfs_attr a;
    struct cfs__vfs_stats s0, s1;
    char p[400];
    assert_int_equal(t_create(&ROOT, &R1, "c", &f), 0);
    cfs__vfs_stats(&s0);
    assert_int_equal(t_getattr(&ROOT, &f, &a), 0);
    assert_int_equal(t_getattr(&ROOT, &f, &a), 0);
    cfs__vfs_stats(&s1);
    assert_true(s1.attr_hits >= s0.attr_hits + 2);
    assert_true(s1.ops[CFS_VOP_GETATTR] == s0.ops[CFS_VOP_GETATTR] + 2);
    /* a change behind the VFS's back is not seen until the cache is flushed ... */
    t_path(p, sizeof(p), T_exp1, "c");
    assert_int_equal(truncate(p, 77), 0);
    assert_int_equal(t_getattr(&ROOT, &f, &a), 0);
    assert_int_equal(a.size, 0);
    cfs__vfs_cache_flush();
    assert_int_equal(t_getattr(&ROOT, &f, &a), 0);
    assert_int_equal(a.size, 77);
    /* ... but every change through the VFS is */
    assert_int_equal(t_write(&ROOT, &f, 100, "x", 1, CFS_UNSTABLE), 1);
    assert_int_equal(t_getattr(&ROOT, &f, &a), 0);
    assert_int_equal(a.size, 101);
    struct cfs_fh g;
    assert_int_equal(t_getattr(&ROOT, &R1, &a), 0);
    uint32_t nlink = a.nlink;
    assert_int_equal(t_mk(CFS_VOP_MKDIR, &ROOT, &R1, "cd", -1, &g), 0);
    assert_int_equal(t_getattr(&ROOT, &R1, &a), 0);
    assert_int_equal(a.nlink, nlink + 1);
    struct cfs_vfs_op op;
    t_op(&op, CFS_VOP_LINK, &ROOT, &f);
    op.fh2 = g;
    op.name2 = "c2";
    assert_int_equal(V->call(&op), 0);
    assert_int_equal(t_getattr(&ROOT, &f, &a), 0);
    assert_int_equal(a.nlink, 2);
    assert_int_equal(t_remove(CFS_VOP_UNLINK, &ROOT, &g, "c2"), 0);
    assert_int_equal(t_getattr(&ROOT, &f, &a), 0);
    assert_int_equal(a.nlink, 1);
    /* bounded: a cache of 4 entries stays at 4 */
    cfs__vfs_cache_config(4, 0, 0);
    for (int i = 0; i < 10; i++) {
        char n[16];
        snprintf(n, sizeof(n), "b%d", i);
        assert_int_equal(t_create(&ROOT, &R1, n, NULL), 0);
    }
    cfs__vfs_stats(&s1);
    assert_true(s1.attr_entries <= 4);
    cfs__vfs_cache_config(8192, 50, 0);
    assert_int_equal(t_getattr(&ROOT, &f, &a), 0);
    assert_int_equal(truncate(p, 5), 0);
    usleep(120 * 1000); /* expired by time */
    assert_int_equal(t_getattr(&ROOT, &f, &a), 0);
    assert_int_equal(a.size, 5);
    cfs__vfs_cache_config(8192, 2000, 0);
}

static void test_export_options(void **state)
{
    (void)state;
    char p[400];
    struct cfs_fh r, f;
    struct cfs_vfs_op op;
    struct cfs__export_opts ro = { .read_only = true };
    struct cfs__export_opts sq = { .root_squash = true };
    struct cfs__export_opts all = { .all_squash = true, .anon_uid = 4242, .anon_gid = 4243 };
    t_path(p, sizeof(p), T_exp1, "");
    assert_int_equal(cfs__vfs_export_add("ro", T_exp1, 11, &ro), 0);
    assert_int_equal(cfs__vfs_export_add("ro", T_exp1, 12, &ro), -EEXIST);
    assert_int_equal(cfs__vfs_export_add("ro2", T_exp1, 11, &ro), -EEXIST);
    assert_int_equal(cfs__vfs_export_add("bad", "relative", 13, NULL), -EINVAL);
    assert_int_equal(cfs__vfs_export_add("bad", "/nonexistent/x", 13, NULL), -ENOENT);
    struct cfs__export_opts nob = { .backend = "ceph" };
    assert_int_equal(cfs__vfs_export_add("bad", T_exp1, 13, &nob), -ENOENT);
    assert_int_equal(cfs__vfs_export_add("sq", T_exp2, 14, &sq), 0);
    assert_int_equal(cfs__vfs_export_add("all", T_exp2, 15, &all), 0);
    cfs_export *ero = V->export_find("ro");
    assert_int_equal(V->export_root(ero, &r), 0);
    cfs_vfs_op_init(&op, CFS_VOP_CREATE, &ROOT, ero);
    op.fh = r;
    op.name = "nope";
    assert_int_equal(V->call(&op), -EROFS);
    cfs_vfs_op_init(&op, CFS_VOP_GETATTR, &ROOT, ero);
    op.fh = r;
    assert_int_equal(V->call(&op), 0);
    cfs_vfs_op_init(&op, CFS_VOP_ACCESS, &ROOT, ero);
    op.fh = r;
    op.access = W_OK;
    assert_int_equal(V->call(&op), 0);
    assert_int_equal(op.access, 0);
    /* root squash: root creates as 65534 */
    cfs_export *esq = V->export_find("sq");
    assert_int_equal(V->export_root(esq, &r), 0);
    cfs_vfs_op_init(&op, CFS_VOP_CREATE, &ROOT, esq);
    op.fh = r;
    op.name = "squashed";
    assert_int_equal(V->call(&op), 0);
    assert_int_equal(op.attr.uid, 65534);
    assert_int_equal(op.attr.gid, 65534);
    f = op.out_fh;
    (void)f;
    cfs_export *eall = V->export_find("all");
    assert_int_equal(V->export_root(eall, &r), 0);
    cfs_vfs_op_init(&op, CFS_VOP_MKDIR, &USER, eall);
    op.fh = r;
    op.name = "alld";
    assert_int_equal(V->call(&op), 0);
    assert_int_equal(op.attr.uid, 4242);
    assert_int_equal(op.attr.gid, 4243);
    assert_int_equal(cfs__vfs_export_probe(eall), 0);
    assert_int_equal(cfs__vfs_export_remove("all"), 0);
    assert_int_equal(cfs__vfs_export_remove("all"), -ENOENT);
    assert_null(V->export_find("all"));
    /* a handle of a removed export is stale */
    cfs_vfs_op_init(&op, CFS_VOP_GETATTR, &ROOT, NULL);
    op.fh = r;
    assert_int_equal(V->call(&op), -ESTALE);
    cfs__vfs_export_remove("ro");
    cfs__vfs_export_remove("sq");
}

static void test_bad_input(void **state)
{
    (void)state;
    struct cfs_vfs_op op;
    struct cfs_fh f;
    assert_int_equal(t_create(&ROOT, &R1, "bi", &f), 0);
    t_op(&op, CFS_VOP_GETATTR, &ROOT, &f);
    op.fh.len = 0;
    assert_int_equal(V->call(&op), CFS_EBADHANDLE);
    op.fh = f;
    op.fh.data[f.len - 1] ^= 1; /* MAC */
    assert_int_equal(V->call(&op), CFS_EBADHANDLE);
    op.fh = f;
    op.fh.data[7] ^= 0x40; /* payload */
    assert_int_equal(V->call(&op), CFS_EBADHANDLE);
    op.fh = f;
    op.fh.len = 200;
    op.exp = E1;
    assert_int_equal(V->call(&op), CFS_EBADHANDLE);
    for (int i = 0; i < 2000; i++) { /* random bytes never crash */
        op.exp = (i & 1) ? E1 : NULL;
        op.fh.len = (uint8_t)(rand() % 256);
        for (int j = 0; j < CFS_FH_MAX; j++)
            op.fh.data[j] = (uint8_t)rand();
        if (i % 3 == 0)
            op.fh.data[0] = 0xC1;
        op.op = (enum cfs_vfs_opcode)(1 + i % (CFS_VOP__COUNT - 1));
        op.name = "x";
        op.name2 = "y";
        op.fh2 = op.fh;
        V->call(&op);
        V->op_release(&op);
    }
    t_op(&op, CFS_VOP_GETATTR, NULL, &f);
    assert_int_equal(V->call(&op), -EINVAL);
    t_op(&op, (enum cfs_vfs_opcode)0, &ROOT, &f);
    assert_int_equal(V->call(&op), -EINVAL);
    t_op(&op, CFS_VOP__COUNT, &ROOT, &f);
    assert_int_equal(V->call(&op), -EINVAL);
    t_op(&op, CFS_VOP_GETATTR, &ROOT, &f);
    op.size = 8;
    assert_int_equal(V->call(&op), -EINVAL);
    t_op(&op, CFS_VOP_SYMLINK, &ROOT, &R1);
    op.name = "nt";
    assert_int_equal(V->call(&op), -EINVAL);
    t_op(&op, CFS_VOP_GETATTR, &ROOT, &f);
    op.exp = E2; /* handle of e1 given with e2 */
    assert_int_equal(V->call(&op), -ESTALE);
}

static void test_faulty(void **state)
{
    (void)state;
    struct cfs__export_opts o = { .backend = "faulty:posix" };
    struct cfs_fh r;
    struct cfs_vfs_op op;
    assert_int_equal(cfs__vfs_export_add("fx", T_exp2, 21, &o), 0);
    cfs_export *e = V->export_find("fx");
    assert_int_equal(V->export_root(e, &r), 0);
    cfs_vfs_op_init(&op, CFS_VOP_GETATTR, &ROOT, e);
    op.fh = r;
    assert_int_equal(V->call(&op), 0);
    struct cfs__fault f = { .op_mask = 1ull << CFS_VOP_GETATTR, .error = -EIO };
    assert_int_equal(cfs__vfs_fault_set(e, &f), 0);
    assert_int_equal(V->call(&op), -EIO);
    op.op = CFS_VOP_STATFS;
    assert_int_equal(V->call(&op), 0);
    f = (struct cfs__fault){ .error = CFS_ERETRY, .every = 2 };
    assert_int_equal(cfs__vfs_fault_set(e, &f), 0);
    assert_int_equal(V->call(&op), 0);
    assert_int_equal(V->call(&op), CFS_ERETRY);
    assert_int_equal(V->call(&op), 0);
    assert_int_equal(cfs__vfs_export_probe(e), CFS_ERETRY);
    f = (struct cfs__fault){ .delay_ms = 30 };
    assert_int_equal(cfs__vfs_fault_set(e, &f), 0);
    uint64_t t0 = cfs__now_ms();
    assert_int_equal(V->call(&op), 0);
    assert_true(cfs__now_ms() - t0 >= 25);
    assert_int_equal(cfs__vfs_fault_set(e, NULL), 0);
    assert_true(cfs__vfs_fault_calls(e) >= 7);
    assert_int_equal(cfs__vfs_fault_set(E1, NULL), -EINVAL);
    cfs__vfs_export_remove("fx");
}

/* hang: a call blocks until another thread clears the fault */
struct hang_arg {
    cfs_export *e;
    struct cfs_fh r;
    int status;
};

static void *hang_thread(void *p)
{
    struct hang_arg *h = p;
    struct cfs_vfs_op op;
    cfs_vfs_op_init(&op, CFS_VOP_GETATTR, &ROOT, h->e);
    op.fh = h->r;
    h->status = V->call(&op);
    return NULL;
}

static void test_faulty_hang(void **state)
{
    (void)state;
    struct cfs__export_opts o = { .backend = "faulty" };
    struct hang_arg h = { .status = 99 };
    pthread_t t;
    assert_int_equal(cfs__vfs_export_add("fh", T_exp2, 22, &o), 0);
    h.e = V->export_find("fh");
    assert_int_equal(V->export_root(h.e, &h.r), 0);
    struct cfs__fault f = { .hang = true, .error = -ETIMEDOUT };
    assert_int_equal(cfs__vfs_fault_set(h.e, &f), 0);
    assert_int_equal(pthread_create(&t, NULL, hang_thread, &h), 0);
    usleep(50 * 1000);
    assert_int_equal(__atomic_load_n(&h.status, __ATOMIC_SEQ_CST), 99);
    assert_int_equal(cfs__vfs_fault_set(h.e, NULL), 0);
    pthread_join(t, NULL);
    assert_int_equal(h.status, -ETIMEDOUT); /* the hung call ends with the fault's error */
    cfs__vfs_export_remove("fh");
}

/* ---- async: submit on a loop, done on that loop ---- */
struct async_ctx {
    pthread_mutex_t m;
    pthread_cond_t c;
    int left, errors;
    cfs_loop *loop;
    bool wrong_loop;
};

static void async_done(struct cfs_vfs_op *op, void *arg)
{
    struct async_ctx *a = arg;
    if (cfs__loop_current() != a->loop)
        a->wrong_loop = true;
    pthread_mutex_lock(&a->m);
    if (op->status != 0)
        a->errors++;
    a->left--;
    pthread_cond_signal(&a->c);
    pthread_mutex_unlock(&a->m);
}

static void test_async(void **state)
{
    (void)state;
    struct cfs_fh f;
    enum { N = 64 };
    static struct cfs_vfs_op ops[N];
    struct async_ctx a = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, N, 0, NULL,
                           false };
    assert_int_equal(t_create(&ROOT, &R1, "async", &f), 0);
    assert_int_equal(cfs__loops_start(2, 4), 0);
    a.loop = cfs__loop_get(1);
    for (int i = 0; i < N; i++) {
        if (i % 2) {
            t_op(&ops[i], CFS_VOP_WRITE, &ROOT, &f);
            ops[i].offset = (uint64_t)i * 4;
            ops[i].wbuf = "abcd";
            ops[i].length = 4;
        } else {
            t_op(&ops[i], CFS_VOP_GETATTR, &ROOT, &f);
        }
        assert_int_equal(V->submit(a.loop, &ops[i], async_done, &a), 0);
    }
    pthread_mutex_lock(&a.m);
    while (a.left > 0)
        pthread_cond_wait(&a.c, &a.m);
    pthread_mutex_unlock(&a.m);
    assert_int_equal(a.errors, 0);
    assert_false(a.wrong_loop);
    struct cfs_vfs_op bad;
    t_op(&bad, CFS_VOP_GETATTR, &ROOT, &f);
    assert_int_equal(V->submit(a.loop, &bad, NULL, NULL), -EINVAL);
    cfs__loops_stop();
    struct cfs_attr at;
    assert_int_equal(t_getattr(&ROOT, &f, &at), 0);
    assert_int_equal(at.size, (N - 1) * 4 + 4);
}

/* ---- inline: short calls submitted on a loop run there, the rest on the pool ---- */
struct inline_case {
    struct cfs_vfs_op op;
    bool want_inline;
};

struct inline_ctx {
    struct async_ctx a;
    struct inline_case *cases;
    int n;
    bool submitting;   /* set while submit() runs: done must not be called inside it */
    bool reentered;
    uint64_t inline_seen[16];
};

static void inline_done(struct cfs_vfs_op *op, void *arg)
{
    struct inline_ctx *c = arg;
    if (c->submitting)
        c->reentered = true;
    async_done(op, &c->a);
}

/* Runs on the loop: submit each case, and note after each whether it ran inline. */
static void inline_submit_all(void *arg)
{
    struct inline_ctx *c = arg;
    struct cfs__vfs_stats st;

    for (int i = 0; i < c->n; i++) {
        c->submitting = true;
        int r = V->submit(c->a.loop, &c->cases[i].op, inline_done, c);
        c->submitting = false;
        assert_int_equal(r, 0);
        cfs__vfs_stats(&st);
        c->inline_seen[i] = st.inline_calls;
    }
}

static void run_inline_cases(struct inline_case *cases, int n, uint64_t *before, uint64_t *seen)
{
    struct inline_ctx c = { { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, n, 0, NULL,
                              false },
                            cases, n, false, false, { 0 } };
    struct cfs__vfs_stats st;

    c.a.loop = cfs__loop_get(0);
    cfs__vfs_stats(&st);
    *before = st.inline_calls;
    assert_int_equal(cfs__loop_post(c.a.loop, inline_submit_all, &c), 0);
    pthread_mutex_lock(&c.a.m);
    while (c.a.left > 0)
        pthread_cond_wait(&c.a.c, &c.a.m);
    pthread_mutex_unlock(&c.a.m);
    assert_false(c.reentered);
    assert_false(c.a.wrong_loop);
    assert_int_equal(c.a.errors, 0);
    memcpy(seen, c.inline_seen, sizeof(uint64_t) * (size_t)n);
}

static bool resident(int fd, size_t len)
{
    unsigned char vec[64];
    bool all = true;
    void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    assert_true(m != MAP_FAILED && len <= sizeof(vec) * 4096);
    assert_int_equal(mincore(m, len, vec), 0);
    for (size_t i = 0; i < (len + 4095) / 4096; i++)
        all = all && (vec[i] & 1);
    munmap(m, len);
    return all;
}

static void test_inline(void **state)
{
    (void)state;
    static char big[1 << 20];
    struct cfs_fh f, d;
    struct inline_case cs[8];
    uint64_t before, seen[16];

    assert_int_equal(t_create(&ROOT, &R1, "inl", &f), 0);
    assert_int_equal(cfs__loops_start(1, 2), 0);
    memset(cs, 0, sizeof(cs));
    t_op(&cs[0].op, CFS_VOP_LOOKUP, &ROOT, &R1);
    cs[0].op.name = "inl";
    cs[0].want_inline = true;
    t_op(&cs[1].op, CFS_VOP_CREATE, &ROOT, &R1);
    cs[1].op.name = "inl2";
    cs[1].want_inline = true;
    t_op(&cs[2].op, CFS_VOP_WRITE, &ROOT, &f); /* small unstable write: inline */
    cs[2].op.wbuf = "abcd";
    cs[2].op.length = 4;
    cs[2].want_inline = true;
    t_op(&cs[3].op, CFS_VOP_WRITE, &ROOT, &f); /* 1 MiB: pool */
    cs[3].op.wbuf = big;
    cs[3].op.length = sizeof(big);
    t_op(&cs[4].op, CFS_VOP_WRITE, &ROOT, &f); /* stable: pool */
    cs[4].op.wbuf = "efgh";
    cs[4].op.length = 4;
    cs[4].op.stable = CFS_FILE_SYNC;
    t_op(&cs[5].op, CFS_VOP_COMMIT, &ROOT, &f); /* a flush: pool */
    t_op(&cs[6].op, CFS_VOP_READ, &ROOT, &f); /* may wait for the disk: pool */
    cs[6].op.rbuf = big;
    cs[6].op.length = 4096;
    t_op(&cs[7].op, CFS_VOP_MKDIR, &ROOT, &R1);
    cs[7].op.name = "inld";
    cs[7].want_inline = true;
    run_inline_cases(cs, 8, &before, seen);
    for (int i = 0; i < 8; i++) {
        uint64_t prev = i ? seen[i - 1] : before;
        assert_int_equal(seen[i] - prev, cs[i].want_inline ? 1 : 0);
    }
    assert_int_equal(t_lookup(&ROOT, &R1, "inld", &d, NULL), 0);

    /* backend.inline_calls = false: everything goes through the pool */
    cfs__backend_set_inline(false);
    t_op(&cs[0].op, CFS_VOP_LOOKUP, &ROOT, &R1);
    cs[0].op.name = "inl";
    run_inline_cases(cs, 1, &before, seen);
    assert_int_equal(seen[0], before);
    cfs__backend_set_inline(true);

    /* a read-only export refuses a mutation submitted inline as on the pool */
    struct cfs__export_opts ro = { .read_only = true };
    struct cfs_fh rr;
    assert_int_equal(cfs__vfs_export_add("ro", T_exp1, 31, &ro), 0);
    assert_int_equal(V->export_root(V->export_find("ro"), &rr), 0);
    struct inline_ctx c = { { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 1, 0, NULL,
                              false },
                            cs, 1, false, false, { 0 } };
    t_op(&cs[0].op, CFS_VOP_MKDIR, &ROOT, &rr);
    cs[0].op.name = "nope";
    c.a.loop = cfs__loop_get(0);
    assert_int_equal(cfs__loop_post(c.a.loop, inline_submit_all, &c), 0);
    pthread_mutex_lock(&c.a.m);
    while (c.a.left > 0)
        pthread_cond_wait(&c.a.c, &c.a.m);
    pthread_mutex_unlock(&c.a.m);
    assert_int_equal(cs[0].op.status, -EROFS);

    /* READ by descriptor: inline when cached; when not, the pool reads it into rbuf */
    static char rb[1 << 17];
    char path[400];
    assert_int_equal(t_write(&ROOT, &f, 0, big, sizeof(rb), CFS_FILE_SYNC), (int)sizeof(rb));
    t_op(&cs[0].op, CFS_VOP_READ, &ROOT, &f);
    cs[0].op.flags = CFS_READ_FD;
    cs[0].op.rbuf = rb;
    cs[0].op.length = sizeof(rb);
    run_inline_cases(cs, 1, &before, seen);
    assert_int_equal(seen[0] - before, 1);
    assert_true(cs[0].op.fd >= 0);
    close(cs[0].op.fd);
    t_path(path, sizeof(path), T_exp1, "inl");
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    bool evicted = !resident(fd, sizeof(rb));
    close(fd);
    t_op(&cs[0].op, CFS_VOP_READ, &ROOT, &f);
    cs[0].op.flags = CFS_READ_FD;
    cs[0].op.rbuf = rb;
    cs[0].op.length = sizeof(rb);
    run_inline_cases(cs, 1, &before, seen);
    if (evicted) {
        assert_int_equal(seen[0], before); /* went to the pool */
        assert_int_equal(cs[0].op.fd, -1);
        assert_int_equal(cs[0].op.count, sizeof(rb));
    } else if (cs[0].op.fd >= 0) {
        close(cs[0].op.fd);
    }

    /* the faulty backend is never run inline (its hangs must not stall a loop) */
    struct cfs__export_opts fo = { .backend = "faulty:posix" };
    struct cfs_fh fr;
    assert_int_equal(cfs__vfs_export_add("fi", T_exp2, 32, &fo), 0);
    assert_int_equal(V->export_root(V->export_find("fi"), &fr), 0);
    t_op(&cs[0].op, CFS_VOP_STATFS, &ROOT, &fr);
    run_inline_cases(cs, 1, &before, seen);
    assert_int_equal(seen[0], before);
    cfs__loops_stop();
    cfs__vfs_export_remove("ro");
    cfs__vfs_export_remove("fi");
}

/* ---- READ by descriptor (CFS_READ_FD) ---- */
static void test_read_fd(void **state)
{
    (void)state;
    enum { SZ = 300000 };
    static char data[SZ], buf[SZ];
    struct cfs_fh f;
    struct cfs_vfs_op op;
    char path[400];

    for (int i = 0; i < SZ; i++)
        data[i] = (char)(i * 7 + 3);
    assert_int_equal(t_create(&ROOT, &R1, "rfd", &f), 0);
    assert_int_equal(t_write(&ROOT, &f, 0, data, SZ, CFS_FILE_SYNC), SZ);

    /* cached: a descriptor, count and eof, rbuf untouched */
    t_op(&op, CFS_VOP_READ, &ROOT, &f);
    op.flags = CFS_READ_FD;
    op.offset = 100000;
    op.length = 250000;
    op.rbuf = buf;
    memset(buf, 0, sizeof(buf));
    assert_int_equal(V->call(&op), 0);
    assert_true(op.fd >= 0);
    assert_int_equal(op.count, SZ - 100000);
    assert_true(op.eof);
    assert_int_equal(buf[0], 0);
    assert_int_equal(pread(op.fd, buf, op.count, (off_t)op.offset), (ssize_t)op.count);
    assert_memory_equal(buf, data + 100000, op.count);
    close(op.fd);

    /* not at the end: eof false; past the end: no descriptor, count 0, eof */
    t_op(&op, CFS_VOP_READ, &ROOT, &f);
    op.flags = CFS_READ_FD;
    op.length = 65536;
    op.rbuf = buf;
    assert_int_equal(V->call(&op), 0);
    assert_true(op.fd >= 0);
    assert_int_equal(op.count, 65536);
    assert_false(op.eof);
    close(op.fd);
    op.offset = SZ + 10;
    op.fd = -1;
    assert_int_equal(V->call(&op), 0);
    assert_int_equal(op.fd, -1);
    assert_int_equal(op.count, 0);
    assert_true(op.eof);

    /* small reads are copied as before */
    t_op(&op, CFS_VOP_READ, &ROOT, &f);
    op.flags = CFS_READ_FD;
    op.length = 4096;
    op.rbuf = buf;
    assert_int_equal(V->call(&op), 0);
    assert_int_equal(op.fd, -1);
    assert_memory_equal(buf, data, 4096);

    /* not in the page cache: read into rbuf (on the pool, never a descriptor) */
    t_path(path, sizeof(path), T_exp1, "rfd");
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(fdatasync(fd), 0);
    assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    close(fd);
    t_op(&op, CFS_VOP_READ, &ROOT, &f);
    op.flags = CFS_READ_FD;
    op.length = 200000;
    op.rbuf = buf;
    memset(buf, 0, sizeof(buf));
    assert_int_equal(V->call(&op), 0);
    if (op.fd >= 0) { /* the kernel kept the pages after all (mapped elsewhere) */
        close(op.fd);
    } else {
        assert_int_equal(op.count, 200000);
        assert_memory_equal(buf, data, 200000);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lookup_getattr, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_create_modes, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_write_read_commit, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_setattr, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_dirs_and_removal, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_symlink_link_mknod, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_rename, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_readdir, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_statfs, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_xattr_and_meta, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_space_seek, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_copy_clone_openfd, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_access, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_attr_cache, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_export_options, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_faulty, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_faulty_hang, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_async, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_inline, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_read_fd, t_setup, t_teardown),
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
