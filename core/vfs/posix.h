/*
 * core/vfs/posix.h - the posix backend's private header: a local directory is an
 * export root. Handles are kernel file handles (name_to_handle_at) inside the core's
 * sealed envelope; objects are reached with open_by_handle_at and kept as O_PATH fds in
 * a bounded cache; names are resolved one component at a time with openat2
 * (RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) under the caller's credentials.
 */
#ifndef CFS_VFS_POSIX_H
#define CFS_VFS_POSIX_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "backend.h"
#include "cache.h"

struct px {
    cfs_export *exp;
    uint32_t id;          /* export id */
    int root_fd;          /* O_PATH of the export root */
    int mount_fd;         /* O_RDONLY of the root, for open_by_handle_at */
    dev_t dev;
    uint64_t root_ino;
    struct cfs_fh root_fh;
    struct cfs__fdc *paths; /* handle -> O_PATH fd */
    struct cfs__fdc *files; /* handle + mode + caller -> open fd */
    struct px_index *idx;   /* fallback handles (no open_by_handle_at); else NULL */
};

/* posix_handle.c */
int px_check_name(const char *name);
void px_procpath(char buf[32], int fd);
int px_fh_of(struct px *px, int dirfd, const char *name, struct cfs_fh *out);
int px_resolve(struct px *px, const struct cfs_fh *fh, struct cfs__fdc_ent **out);
struct statx;
int px_statx_fd(int fd, struct statx *st);
int px_statx(struct px *px, int dirfd, const char *name, struct cfs_attr *out);
int px_attr(struct px *px, struct cfs__fdc_ent *e, struct cfs_attr *out);
void px_forget(struct px *px, uint64_t ino, bool files_only);
int px_cred_enter(struct px *px, const struct cfs_vfs_op *op);
int px_lookup(struct px *px, struct cfs_vfs_op *op);
int px_lookup_path(struct px *px, struct cfs_vfs_op *op);
/* Both handles must name this export: else -EXDEV. */
int px_same_export(struct px *px, const struct cfs_fh *a, const struct cfs_fh *b);

/* posix_ops.c: attributes, data, space */
int px_getattr(struct px *px, struct cfs_vfs_op *op);
int px_setattr(struct px *px, struct cfs_vfs_op *op);
int px_access(struct px *px, struct cfs_vfs_op *op);
int px_read(struct px *px, struct cfs_vfs_op *op);
int px_write(struct px *px, struct cfs_vfs_op *op);
int px_commit(struct px *px, struct cfs_vfs_op *op);
int px_statfs(struct px *px, struct cfs_vfs_op *op);
int px_fallocate(struct px *px, struct cfs_vfs_op *op);
int px_seek(struct px *px, struct cfs_vfs_op *op);
int px_copy(struct px *px, struct cfs_vfs_op *op);
int px_clone(struct px *px, struct cfs_vfs_op *op);
int px_openfd(struct px *px, struct cfs_vfs_op *op);
/* An open fd (O_RDONLY/O_WRONLY/O_RDWR) for fh as the op's caller, cached. */
int px_file(struct px *px, const struct cfs_vfs_op *op, const struct cfs_fh *fh, int accmode,
            struct cfs__fdc_ent **out);

/* posix_ns.c: names */
int px_create(struct px *px, struct cfs_vfs_op *op); /* CREATE MKDIR MKNOD SYMLINK */
int px_readlink(struct px *px, struct cfs_vfs_op *op);
int px_link(struct px *px, struct cfs_vfs_op *op);
int px_remove(struct px *px, struct cfs_vfs_op *op); /* UNLINK RMDIR */
int px_rename(struct px *px, struct cfs_vfs_op *op);

/* posix_index.c: the fallback handle scheme (no-ops when px->idx is NULL) */
int px_index_open(struct px *px, const char *state_dir);
void px_index_close(struct px *px);
void px_index_note(struct px *px, uint64_t parent, const char *name, uint64_t ino);
void px_index_forget(struct px *px, uint64_t parent, const char *name, uint64_t ino);
int px_index_fh(struct px *px, int fd, struct cfs_fh *out);
int px_index_resolve(struct px *px, const uint8_t *payload, size_t len, int *fd);

/* posix_dir.c */
int px_readdir(struct px *px, struct cfs_vfs_op *op);

/* posix_xattr.c */
int px_xattr(struct px *px, struct cfs_vfs_op *op);

#endif
