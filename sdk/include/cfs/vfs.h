/*
 * cfs/vfs.h - the namespace: one handle-based storage API for every protocol.
 *
 * A call is described by a struct cfs_vfs_op (inputs, then outputs). It runs either
 *   - asynchronously: vfs->submit(loop, op, done, arg) runs it on the backend pool and
 *     calls done(arg, op->status) back on `loop` (a failed submit never calls done), or
 *   - synchronously: vfs->call(op), only from a pool thread (work_submit) or a test.
 * Every op carries the caller's credentials and is checked as the kernel would check
 * that user. Results that own memory (readdir entries, xattr lists) are released with
 * vfs->op_release(op).
 *
 * Errors are negated errno values or CFS_E* (cfs/errors.h); cfs_err_* map them to each
 * protocol's status through one table.
 */
#ifndef CFS_VFS_H
#define CFS_VFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "host.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CFS_FH_MAX 64 /* NFSv3 limit */
#define CFS_MAX_GROUPS 32
#define CFS_VERF_SIZE 8

struct cfs_fh {
    uint8_t len;
    uint8_t data[CFS_FH_MAX];
};

struct cfs_cred {
    uint32_t uid;
    uint32_t gid;
    uint32_t ngroups;
    uint32_t groups[CFS_MAX_GROUPS];
};

typedef struct cfs_export cfs_export; /* opaque: one exported directory tree */
struct cfs_lock_owner;                  /* cfs/lock.h */

enum cfs_ftype {
    CFS_FT_REG = 1, CFS_FT_DIR, CFS_FT_BLK, CFS_FT_CHR, CFS_FT_LNK, CFS_FT_SOCK, CFS_FT_FIFO,
};

struct cfs_attr {
    enum cfs_ftype type;
    uint32_t mode;      /* permission bits only (07777) */
    uint32_t nlink;
    uint32_t uid, gid;
    uint64_t size;
    uint64_t used;      /* bytes allocated */
    uint32_t rdev_major, rdev_minor;
    uint64_t fsid;
    uint64_t fileid;    /* inode number */
    struct timespec atime, mtime, ctime, btime;
    uint64_t change;    /* changes whenever data or metadata change (ctime based) */
};

/* setattr mask bits */
#define CFS_SET_MODE 0x01u
#define CFS_SET_UID 0x02u
#define CFS_SET_GID 0x04u
#define CFS_SET_SIZE 0x08u
#define CFS_SET_ATIME 0x10u       /* to sattr.atime */
#define CFS_SET_MTIME 0x20u       /* to sattr.mtime */
#define CFS_SET_ATIME_NOW 0x40u   /* to the server's time */
#define CFS_SET_MTIME_NOW 0x80u

struct cfs_sattr {
    uint32_t mask;
    uint32_t mode, uid, gid;
    uint64_t size;
    struct timespec atime, mtime;
};

enum cfs_stable { CFS_UNSTABLE = 0, CFS_DATA_SYNC = 1, CFS_FILE_SYNC = 2 };
enum cfs_createhow { CFS_CREATE_UNCHECKED = 0, CFS_CREATE_GUARDED = 1, CFS_CREATE_EXCLUSIVE = 2 };

enum cfs_vfs_opcode {
    CFS_VOP_LOOKUP = 1,  /* fh=dir, name -> out_fh, attr, dir_attr */
    CFS_VOP_GETATTR,     /* fh -> attr */
    CFS_VOP_SETATTR,     /* fh, sattr [guard_ctime if use_guard] -> pre, attr */
    CFS_VOP_ACCESS,      /* fh, access (R_OK|W_OK|X_OK bits) -> access (granted), attr */
    CFS_VOP_READ,        /* fh, offset, length, rbuf -> count, eof, attr */
    CFS_VOP_WRITE,       /* fh, offset, length, wbuf, stable -> count, committed, verf, pre, attr */
    CFS_VOP_COMMIT,      /* fh, offset, length -> verf, pre, attr */
    CFS_VOP_CREATE,      /* fh=dir, name, how, sattr, verf -> out_fh, attr, pre/dir_attr */
    CFS_VOP_MKDIR,       /* fh=dir, name, sattr -> out_fh, attr, pre/dir_attr */
    CFS_VOP_MKNOD,       /* fh=dir, name, sattr, ftype, rdev -> out_fh, attr, wcc */
    CFS_VOP_SYMLINK,     /* fh=dir, name, target, sattr -> out_fh, attr, wcc */
    CFS_VOP_READLINK,    /* fh, rbuf, length -> count (bytes of target, not terminated) */
    CFS_VOP_LINK,        /* fh=file, fh2=dir, name2 -> attr, pre2/dir2_attr */
    CFS_VOP_UNLINK,      /* fh=dir, name -> wcc */
    CFS_VOP_RMDIR,       /* fh=dir, name -> wcc */
    CFS_VOP_RENAME,      /* fh=from dir, name, fh2=to dir, name2 -> wcc both */
    CFS_VOP_READDIR,     /* fh=dir, cookie, cookieverf, length (max entries), plus -> entries */
    CFS_VOP_STATFS,      /* fh -> statfs */
    CFS_VOP_GETXATTR,    /* fh, name, rbuf, length -> count (length 0: size only) */
    CFS_VOP_SETXATTR,    /* fh, name, wbuf, length, xflags */
    CFS_VOP_LISTXATTR,   /* fh, rbuf, length -> count (NUL-separated names) */
    CFS_VOP_REMOVEXATTR, /* fh, name */
    CFS_VOP_FALLOCATE,   /* fh, offset, length, falloc_mode (FALLOC_FL_*) */
    CFS_VOP_SEEK,        /* fh, offset, whence (SEEK_DATA/SEEK_HOLE) -> seek_offset, eof */
    CFS_VOP_COPY,        /* fh=src, offset, fh2=dst, offset2, length -> count */
    CFS_VOP_CLONE,       /* fh=src, offset, fh2=dst, offset2, length (0 = whole file) */
    CFS_VOP_LOOKUP_PATH, /* fh=start dir, name = "a/b/c" relative path -> out_fh, attr */
    CFS_VOP_OPENFD,      /* fh, flags (O_*) -> fd (caller closes; for sendfile/splice) */
    CFS_VOP__COUNT
};

/* GETATTR op.flags: read the attributes from the backend, not the attribute cache
 * (after writing through an OPENFD descriptor, which the cache cannot see). */
#define CFS_ATTR_FRESH 0x1
/* READ op.flags: the caller can send from a descriptor (sendfile). When the whole range
 * is in the page cache the backend may answer with op->fd >= 0 (a descriptor of the file
 * that the caller closes; send [offset, offset + count) from it), count and eof, leaving
 * rbuf untouched; otherwise it reads into rbuf as usual and op->fd stays -1. rbuf must
 * be given either way. The file may shrink before the caller sends: sendfile then comes
 * up short and the caller must treat it as an error (close the stream). */
#define CFS_READ_FD 0x2

struct cfs_dirent {
    uint64_t cookie;     /* resume after this entry */
    uint64_t fileid;
    const char *name;
    struct cfs_fh fh;    /* when op.plus */
    struct cfs_attr attr; /* when op.plus and has_attr */
    bool has_attr;
};

struct cfs_statfs {
    uint64_t tbytes, fbytes, abytes; /* total, free, available to the caller */
    uint64_t tfiles, ffiles, afiles;
    uint32_t namemax;
};

struct cfs_vfs_op {
    uint32_t size;               /* sizeof(struct cfs_vfs_op) */
    enum cfs_vfs_opcode op;
    const struct cfs_cred *cred;
    cfs_export *exp;

    /* ---- inputs ---- */
    struct cfs_fh fh;
    const char *name;
    struct cfs_fh fh2;
    const char *name2;
    const char *target;          /* symlink target */
    uint64_t offset, offset2, length;
    const void *wbuf;
    void *rbuf;
    enum cfs_stable stable;
    enum cfs_createhow how;
    uint8_t verf_in[CFS_VERF_SIZE]; /* exclusive create verifier */
    struct cfs_sattr sattr;
    bool use_guard;              /* setattr: fail with -EINVAL... unless ctime matches */
    struct timespec guard_ctime;
    enum cfs_ftype ftype;        /* mknod */
    uint32_t rdev_major, rdev_minor;
    uint32_t access;             /* ACCESS: bits asked */
    uint64_t cookie;             /* READDIR */
    uint8_t cookieverf[CFS_VERF_SIZE];
    bool plus;                   /* READDIR: fill fh + attr */
    int whence, falloc_mode, xflags, flags;

    /* ---- outputs ---- */
    int status;                  /* 0 or negative error, as passed to done() */
    struct cfs_fh out_fh;
    struct cfs_attr attr;        /* the object's attributes after the op */
    bool has_attr;
    struct cfs_attr pre;         /* before (wcc): size, mtime, ctime are set */
    bool has_pre;
    struct cfs_attr dir_attr;    /* directory after (create/remove/lookup) */
    bool has_dir_attr;
    struct cfs_attr pre2, dir2_attr; /* second directory (rename/link) */
    bool has_pre2, has_dir2_attr;
    uint64_t count;
    bool eof;
    enum cfs_stable committed;
    uint8_t verf[CFS_VERF_SIZE];  /* write verifier; or cookie verifier from readdir */
    struct cfs_dirent *entries;  /* READDIR; released by op_release */
    size_t nentries;
    struct cfs_statfs statfs;
    uint64_t seek_offset;
    int fd;

    /* private to the VFS */
    void *priv[4];

    /* ---- appended (ABI 1.0); the VFS reads it only when `size` covers it ---- */
    /*
     * Input: the lock owner the op is made for (NFSv4 open/lock owner, SMB lease key),
     * or NULL. Before a write, a truncate (setattr size), an unlink/rmdir or a rename the
     * VFS breaks the conflicting leases/delegations (cfs/lock.h) of every other owner and
     * fails the op with CFS_ERETRY while a break is in progress.
     */
    const struct cfs_lock_owner *lock_owner;
};

typedef void (*cfs_vfs_done_fn)(struct cfs_vfs_op *op, void *arg);

/* What the configuration says of an export (core `exports` list in gateway.conf). */
struct cfs_export_info {
    uint32_t size;
    uint32_t id;            /* stable id carried in handles */
    const char *name;       /* "data"; NFS clients mount "/<name>" or the path */
    const char *path;       /* the directory on the backend */
    bool read_only;
    bool root_squash;       /* uid 0 -> anon_uid */
    bool all_squash;        /* every uid -> anon_uid */
    uint32_t anon_uid, anon_gid;
    const char *const *clients; /* NULL-terminated networks ("127.0.0.0/8"); NULL = all */
    bool secure_ports;      /* require client ports < 1024 */
};

struct cfs_vfs_api {
    uint32_t size;
    /* Exports: by name (as configured) or by the id inside a handle. */
    cfs_export *(*export_find)(const char *name);
    cfs_export *(*export_from_fh)(const struct cfs_fh *fh);
    int (*export_root)(cfs_export *exp, struct cfs_fh *out);
    const char *(*export_name)(cfs_export *exp);
    const char *(*export_path)(cfs_export *exp);
    /* Asynchronous: run on the pool, complete on `loop`. */
    int (*submit)(cfs_loop *loop, struct cfs_vfs_op *op, cfs_vfs_done_fn done, void *arg);
    /* Synchronous, for pool threads and tests; returns op->status. */
    int (*call)(struct cfs_vfs_op *op);
    void (*op_release)(struct cfs_vfs_op *op);
    /* The write verifier of this gateway instance (changes on restart). */
    void (*write_verf)(uint8_t out[CFS_VERF_SIZE]);
    /* Iterate exports (index 0..count-1; the set changes only on reload). */
    int (*export_count)(void);
    cfs_export *(*export_get)(int i);
    const struct cfs_export_info *(*export_info)(cfs_export *exp);
    /* Apply the export's squash rules to a caller's credentials (in place). */
    void (*squash)(cfs_export *exp, struct cfs_cred *cred);
};

/* Does op (of op->size bytes) carry `field`? (fields appended after ABI 1.0's first cut) */
#define CFS_VFS_OP_HAS(op, field)                                                       \
    (offsetof(struct cfs_vfs_op, field) + sizeof((op)->field) <= (size_t)(op)->size)

/* Initialise an op (zeroes it and sets size/op/cred/exp). */
static inline void cfs_vfs_op_init(struct cfs_vfs_op *op, enum cfs_vfs_opcode code,
                                   const struct cfs_cred *cred, cfs_export *exp)
{
    __builtin_memset(op, 0, sizeof(*op));
    op->size = sizeof(*op);
    op->op = code;
    op->cred = cred;
    op->exp = exp;
    op->fd = -1;
}

#ifdef __cplusplus
}
#endif
#endif
