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
/* posix_handle.c: a statx as the namespace's attributes (GETATTR's conversion) */
void px_attr_from_statx(struct px *px, const struct statx *st, struct cfs_attr *a);
int px_index_fh(struct px *px, int fd, struct cfs_fh *out);
/* The same from a statx of the object (with its birth time), or -EAGAIN. */
int px_index_fh_statx(struct px *px, const struct statx *st, struct cfs_fh *out);
int px_index_resolve(struct px *px, const uint8_t *payload, size_t len, int *fd);

/* posix_dir.c */
int px_readdir(struct px *px, struct cfs_vfs_op *op);

/* posix_dircache.c: directory streams kept between READDIR calls, handles by inode */
struct px_dstream;
/* A stream of directory dir_ino (ctime as now, opened as cred through pathfd, an fd of
 * it) positioned at cookie: a kept one when it fits, else a new open (+ seek). The
 * caller's credentials must be in force. */
int px_ds_get(struct px *px, uint64_t dir_ino, const struct timespec *ctime,
              const struct cfs_cred *cred, uint64_t cookie, int pathfd,
              struct px_dstream **out);
/* The next entry (1), the end (0) or -errno; name stays valid until the next call. */
int px_ds_next(struct px_dstream *s, uint64_t *ino, uint64_t *cookie, const char **name);
int px_ds_fd(const struct px_dstream *s);
/* Should the attributes of the entry just handed out go to the attribute cache? Not
 * past the first 4096 of a listing: a big directory would only churn the cache. */
bool px_ds_attr_put(const struct px_dstream *s);
/* READDIRPLUS entries computed by the last call on s and not sent (the reply took fewer):
 * the entry for (cookie, name) when the resume point was inside them, else NULL. */
const struct cfs_dirent *px_ds_reuse(struct px_dstream *s, uint64_t cookie, const char *name);
/* Keep the last entries of this call's n (names: offsets into `names`) for px_ds_reuse;
 * gen: cfs__attr_gen() read before they were computed. */
void px_ds_keep(struct px_dstream *s, const struct cfs_dirent *ents, size_t n,
                const char *names, uint64_t gen);
/* Done with s: kept for the next call of the listing (keep), else closed. */
void px_ds_put(struct px_dstream *s, bool keep);
/* Close the kept streams of an export (0: all); call at export removal and flushes. */
void px_ds_flush(uint32_t export_id);
unsigned px_ds_count(void);
uint64_t px_ds_reused(void); /* entries px_ds_reuse gave, since start */
void px_ds_limits(unsigned max_streams, unsigned max_age_ms); /* 32, 10000 by default */
/* The handle of the object statx'd in st, when known by inode (kernel handles only). */
bool px_hc_get(struct px *px, const struct statx *st, struct cfs_fh *out);
void px_hc_prefetch(struct px *px, uint64_t ino); /* a hint before the statx */
void px_hc_put(struct px *px, const struct statx *st, const struct cfs_fh *fh);
/* The same from a handle and the attributes made from one fd of the object (px_adopt, so
 * that a listing after LOOKUPs or CREATEs needs no name_to_handle_at). Where the file
 * system has no birth time (attr btime = ctime) px_hc_get never asks, so no harm. */
void px_hc_note(struct px *px, const struct cfs_attr *a, const struct cfs_fh *fh);
void px_hc_stats(uint64_t *hits, uint64_t *misses);

/* posix_xattr.c */
int px_xattr(struct px *px, struct cfs_vfs_op *op);

#endif
