/*
 * tests/unit/test_vfs_util.h - fixtures shared by the VFS suites: a temp tree with two
 * export roots and a state dir, the namespace started on it, and one-line wrappers
 * around vfs->call for each op.
 */
#ifndef CFS_TEST_VFS_UTIL_H
#define CFS_TEST_VFS_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <cfs/errmap.h>
#include <cfs/meta.h>
#include <cfs/vfs.h>

#include "vfs/namespace.h"

static __attribute__((unused)) char T_root[256], T_exp1[300], T_exp2[300], T_state[300];
static const struct cfs_vfs_api *V;
static const struct cfs_cred ROOT = { 0, 0, 0, { 0 } };
static const struct cfs_cred USER = { 1000, 1000, 1, { 1000 } };
static cfs_export *E1, *E2;
static struct cfs_fh R1, R2; /* export roots */
static int T_handles;        /* CFS__HANDLES_*: suites run once per scheme */

static __attribute__((unused)) int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st; (void)flag; (void)f;
    return remove(p);
}

static __attribute__((unused)) void t_path(char *out, size_t len, const char *base, const char *rel)
{
    int n = snprintf(out, len, "%s/%s", base, rel);
    assert_true(n > 0 && (size_t)n < len);
}

static __attribute__((unused)) int t_start(void)
{
    if (cfs__vfs_init(T_state) < 0)
        return -1;
    V = cfs__vfs_api();
    struct cfs__export_opts o = { .handles = T_handles };
    if (cfs__vfs_export_add("e1", T_exp1, 1, &o) < 0 ||
        cfs__vfs_export_add("e2", T_exp2, 2, &o) < 0)
        return -1;
    E1 = V->export_find("e1");
    E2 = V->export_find("e2");
    V->export_root(E1, &R1);
    V->export_root(E2, &R2);
    return 0;
}

static __attribute__((unused)) int t_setup(void **state)
{
    (void)state;
    snprintf(T_root, sizeof(T_root), "/tmp/cfsvfs.XXXXXX");
    if (!mkdtemp(T_root))
        return -1;
    chmod(T_root, 0755);
    snprintf(T_exp1, sizeof(T_exp1), "%s/exp1", T_root);
    snprintf(T_exp2, sizeof(T_exp2), "%s/exp2", T_root);
    snprintf(T_state, sizeof(T_state), "%s/state", T_root);
    if (mkdir(T_exp1, 0777) < 0 || mkdir(T_exp2, 0777) < 0 || mkdir(T_state, 0700) < 0)
        return -1;
    chmod(T_exp1, 0777);
    chmod(T_exp2, 0777);
    return t_start();
}

static __attribute__((unused)) int t_teardown(void **state)
{
    (void)state;
    cfs__vfs_shutdown();
    nftw(T_root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static __attribute__((unused)) void t_op(struct cfs_vfs_op *op, enum cfs_vfs_opcode code, const struct cfs_cred *c,
                 const struct cfs_fh *fh)
{
    cfs_vfs_op_init(op, code, c, NULL);
    if (fh)
        op->fh = *fh;
}

static __attribute__((unused)) int t_lookup(const struct cfs_cred *c, const struct cfs_fh *dir, const char *name,
                    struct cfs_fh *out, struct cfs_attr *attr)
{
    struct cfs_vfs_op op;
    t_op(&op, CFS_VOP_LOOKUP, c, dir);
    op.name = name;
    int r = V->call(&op);
    if (r == 0 && out)
        *out = op.out_fh;
    if (r == 0 && attr)
        *attr = op.attr;
    return r;
}

static __attribute__((unused)) int t_lookup_path(const struct cfs_cred *c, const struct cfs_fh *dir, const char *path,
                         struct cfs_fh *out, struct cfs_attr *attr)
{
    struct cfs_vfs_op op;
    t_op(&op, CFS_VOP_LOOKUP_PATH, c, dir);
    op.name = path;
    int r = V->call(&op);
    if (r == 0 && out)
        *out = op.out_fh;
    if (r == 0 && attr)
        *attr = op.attr;
    return r;
}

static __attribute__((unused)) int t_getattr(const struct cfs_cred *c, const struct cfs_fh *fh, struct cfs_attr *attr)
{
    struct cfs_vfs_op op;
    t_op(&op, CFS_VOP_GETATTR, c, fh);
    int r = V->call(&op);
    if (r == 0 && attr)
        *attr = op.attr;
    return r;
}

static __attribute__((unused)) int t_mk(enum cfs_vfs_opcode code, const struct cfs_cred *c, const struct cfs_fh *dir,
                const char *name, int mode, struct cfs_fh *out)
{
    struct cfs_vfs_op op;
    t_op(&op, code, c, dir);
    op.name = name;
    op.how = CFS_CREATE_GUARDED;
    if (mode >= 0) {
        op.sattr.mask = CFS_SET_MODE;
        op.sattr.mode = (uint32_t)mode;
    }
    int r = V->call(&op);
    if (r == 0 && out)
        *out = op.out_fh;
    return r;
}

static __attribute__((unused)) int t_create(const struct cfs_cred *c, const struct cfs_fh *dir, const char *name,
                    struct cfs_fh *out)
{
    return t_mk(CFS_VOP_CREATE, c, dir, name, 0644, out);
}

static __attribute__((unused)) int t_write(const struct cfs_cred *c, const struct cfs_fh *fh, uint64_t off,
                   const void *buf, size_t len, enum cfs_stable st)
{
    struct cfs_vfs_op op;
    t_op(&op, CFS_VOP_WRITE, c, fh);
    op.offset = off;
    op.wbuf = buf;
    op.length = len;
    op.stable = st;
    int r = V->call(&op);
    return r < 0 ? r : (int)op.count;
}

static __attribute__((unused)) int t_read(const struct cfs_cred *c, const struct cfs_fh *fh, uint64_t off, void *buf,
                  size_t len, bool *eof)
{
    struct cfs_vfs_op op;
    t_op(&op, CFS_VOP_READ, c, fh);
    op.offset = off;
    op.rbuf = buf;
    op.length = len;
    int r = V->call(&op);
    if (eof)
        *eof = op.eof;
    return r < 0 ? r : (int)op.count;
}

static __attribute__((unused)) int t_remove(enum cfs_vfs_opcode code, const struct cfs_cred *c,
                    const struct cfs_fh *dir, const char *name)
{
    struct cfs_vfs_op op;
    t_op(&op, code, c, dir);
    op.name = name;
    return V->call(&op);
}

#endif
