/*
 * cfs/meta.h - per-object metadata kept in `user.cfs.*` extended attributes through
 * the VFS xattr ops: content type, user metadata (S3 x-amz-meta-*), ETag and
 * checksums, version id, SMB DOS attributes. Plain xattr calls do not see or touch
 * `user.cfs.*` (they get -EPERM, and LISTXATTR hides them) unless op.xflags has
 * CFS_XATTR_META, which these helpers set. The helpers are synchronous (vfs->call): use
 * them on a pool thread, or build the same op and vfs->submit it from a loop.
 */
#ifndef CFS_META_H
#define CFS_META_H

#include <stdio.h>
#include <string.h>

#include "vfs.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CFS_XATTR_META 0x100 /* op.xflags: allow user.cfs.* names */

#define CFS_META_PREFIX "user.cfs."
#define CFS_META_CONTENT_TYPE "user.cfs.content_type"
#define CFS_META_ETAG "user.cfs.etag"
#define CFS_META_VERSION "user.cfs.version"      /* version id */
#define CFS_META_DOS "user.cfs.dos"              /* SMB DOS attributes */
#define CFS_META_CHECKSUM "user.cfs.cksum."      /* + algorithm: "sha256", "crc32c" */
#define CFS_META_USER "user.cfs.m."              /* + user metadata key */

/* The full xattr name of a metadata key ("etag" -> "user.cfs.etag"); -ENAMETOOLONG. */
static inline int cfs_meta_name(char *out, size_t len, const char *prefix, const char *key)
{
    int n = snprintf(out, len, "%s%s", prefix, key ? key : "");
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Read `name` into buf (len bytes); *outlen gets its size. len 0 = size only. */
static inline int cfs_meta_get(const struct cfs_vfs_api *vfs, const struct cfs_cred *cred,
                               cfs_export *exp, const struct cfs_fh *fh, const char *name,
                               void *buf, size_t len, size_t *outlen)
{
    struct cfs_vfs_op op;
    cfs_vfs_op_init(&op, CFS_VOP_GETXATTR, cred, exp);
    op.fh = *fh;
    op.name = name;
    op.rbuf = buf;
    op.length = len;
    op.xflags = CFS_XATTR_META;
    int r = vfs->call(&op);
    if (r == 0 && outlen)
        *outlen = (size_t)op.count;
    return r;
}

/* Set `name` (flags: 0, XATTR_CREATE or XATTR_REPLACE). */
static inline int cfs_meta_set(const struct cfs_vfs_api *vfs, const struct cfs_cred *cred,
                               cfs_export *exp, const struct cfs_fh *fh, const char *name,
                               const void *val, size_t len, int flags)
{
    struct cfs_vfs_op op;
    cfs_vfs_op_init(&op, CFS_VOP_SETXATTR, cred, exp);
    op.fh = *fh;
    op.name = name;
    op.wbuf = val;
    op.length = len;
    op.xflags = CFS_XATTR_META | flags;
    return vfs->call(&op);
}

static inline int cfs_meta_remove(const struct cfs_vfs_api *vfs, const struct cfs_cred *cred,
                                  cfs_export *exp, const struct cfs_fh *fh, const char *name)
{
    struct cfs_vfs_op op;
    cfs_vfs_op_init(&op, CFS_VOP_REMOVEXATTR, cred, exp);
    op.fh = *fh;
    op.name = name;
    op.xflags = CFS_XATTR_META;
    return vfs->call(&op);
}

/* The NUL-separated user.cfs.* names into buf; *outlen gets the bytes used. */
static inline int cfs_meta_list(const struct cfs_vfs_api *vfs, const struct cfs_cred *cred,
                                cfs_export *exp, const struct cfs_fh *fh, char *buf,
                                size_t len, size_t *outlen)
{
    struct cfs_vfs_op op;
    cfs_vfs_op_init(&op, CFS_VOP_LISTXATTR, cred, exp);
    op.fh = *fh;
    op.rbuf = buf;
    op.length = len;
    op.xflags = CFS_XATTR_META;
    int r = vfs->call(&op);
    if (r == 0 && outlen)
        *outlen = (size_t)op.count;
    return r;
}

#ifdef __cplusplus
}
#endif
#endif
