/*
 * modules/nfs3/nfs3.h - mod_nfs3 internals: NFSv3 (RFC 1813) and MOUNTv3 wire constants,
 * decoded argument structs, the server and connection state shared by the module's files.
 *
 * Files: nfs3_xdr.c (argument decoders and attribute encoders; no libevent, compiled
 * into the fuzz target too), nfs3_conn.c (TCP/UDP transport, record marking, ordered
 * replies), nfs3_proc.c (NFSv3 procedures over the VFS), mount.c (MOUNTv3), nfs3_mod.c
 * (descriptor, configuration, lifecycle, metrics), rpcbind.c (portmapper registration).
 */
#ifndef CFS_MOD_NFS3_H
#define CFS_MOD_NFS3_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <cfs/rpc.h>
#include <time.h>

#include <cfs/vfs.h>
#include <cfs/xdr.h>

#define NFS3_TAG "nfs3"

/* ---- programs ---- */
#define NFS3_PROG 100003u
#define NFS3_VERS 3u
#define MNT3_PROG 100005u
#define MNT3_VERS 3u
#define PMAP_PROG 100000u
#define PMAP_PORT 111

enum nfs3_proc {
    NFS3_NULL = 0, NFS3_GETATTR, NFS3_SETATTR, NFS3_LOOKUP, NFS3_ACCESS, NFS3_READLINK,
    NFS3_READ, NFS3_WRITE, NFS3_CREATE, NFS3_MKDIR, NFS3_SYMLINK, NFS3_MKNOD, NFS3_REMOVE,
    NFS3_RMDIR, NFS3_RENAME, NFS3_LINK, NFS3_READDIR, NFS3_READDIRPLUS, NFS3_FSSTAT,
    NFS3_FSINFO, NFS3_PATHCONF, NFS3_COMMIT, NFS3_NPROCS
};
enum mnt3_proc {
    MNT3_NULL = 0, MNT3_MNT, MNT3_DUMP, MNT3_UMNT, MNT3_UMNTALL, MNT3_EXPORT, MNT3_NPROCS
};
/* Handler tags in the dispatch table: NFS procs as is, MOUNT procs offset. */
#define NFS3_H_MNT_BASE 100

/* NLM version 4 (XNFS / RFC 1813 appendix II) and NSM version 1 */
#define NLM_PROG 100021u
#define NLM4_VERS 4u
#define NSM_PROG 100024u
#define NSM_VERS 1u
enum nlm4_proc {
    NLM4_NULL = 0, NLM4_TEST = 1, NLM4_LOCK = 2, NLM4_CANCEL = 3, NLM4_UNLOCK = 4,
    NLM4_GRANTED = 5, NLM4_TEST_MSG = 6, NLM4_LOCK_MSG = 7, NLM4_CANCEL_MSG = 8,
    NLM4_UNLOCK_MSG = 9, NLM4_GRANTED_MSG = 10, NLM4_TEST_RES = 11, NLM4_LOCK_RES = 12,
    NLM4_CANCEL_RES = 13, NLM4_UNLOCK_RES = 14, NLM4_GRANTED_RES = 15, NLM4_SHARE = 20, NLM4_UNSHARE = 21, NLM4_NM_LOCK = 22,
    NLM4_FREE_ALL = 23, NLM4_NPROCS = 24
};
/* The asynchronous twin of TEST..UNLOCK: the same arguments, the result sent back as a
 * call of the matching _RES procedure (proc + NLM4_MSG_TO_RES) to the client's NLM. */
#define NLM4_MSG_OFFSET 5u  /* TEST_MSG - TEST */
#define NLM4_MSG_TO_RES 5u  /* TEST_RES - TEST_MSG */
#define NLM4_IS_MSG(p) ((p) >= NLM4_TEST_MSG && (p) <= NLM4_UNLOCK_MSG)
enum nlm4_stat {
    NLM4_GRANTED_OK = 0, NLM4_DENIED = 1, NLM4_DENIED_NOLOCKS = 2, NLM4_BLOCKED = 3,
    NLM4_DENIED_GRACE_PERIOD = 4, NLM4_DEADLCK = 5, NLM4_ROFS = 6, NLM4_STALE_FH = 7,
    NLM4_FBIG = 8, NLM4_FAILED = 9,
};
enum nsm_proc {
    NSM_NULL = 0, NSM_STAT = 1, NSM_MON = 2, NSM_UNMON = 3, NSM_UNMON_ALL = 4,
    NSM_SIMU_CRASH = 5, NSM_NOTIFY = 6, NSM_NPROCS = 7
};
#define NLM_MAXSTR 1024u
#define NLM_MAXNETOBJ 1024u
#define NFS3_H_NLM_BASE 200
#define NFS3_H_NSM_BASE 300

/* NLM4 and NSM arguments (into the record where marked "ref"). */
struct nlm4_args {
    const uint8_t *cookie;       /* ref */
    uint32_t cookie_len;
    bool block, exclusive, reclaim;
    int32_t state;
    char caller[NLM_MAXSTR + 1]; /* caller_name; NSM mon_name / my_name */
    struct cfs_fh fh;
    bool fh_too_long;            /* a netobj handle longer than 64 bytes: STALE_FH */
    const uint8_t *oh;           /* ref: the owner handle */
    uint32_t oh_len;
    int32_t svid;
    uint64_t offset, len;
    uint32_t share_mode, share_access; /* SHARE: fsh4_mode (deny), fsh4_access */
};

enum nfs3_ftype { NF3REG = 1, NF3DIR, NF3BLK, NF3CHR, NF3LNK, NF3SOCK, NF3FIFO };

#define ACCESS3_READ 0x01u
#define ACCESS3_LOOKUP 0x02u
#define ACCESS3_MODIFY 0x04u
#define ACCESS3_EXTEND 0x08u
#define ACCESS3_DELETE 0x10u
#define ACCESS3_EXECUTE 0x20u

#define FSF3_LINK 0x01u
#define FSF3_SYMLINK 0x02u
#define FSF3_HOMOGENEOUS 0x08u
#define FSF3_CANSETTIME 0x10u

enum mnt3_stat {
    MNT3_OK = 0, MNT3ERR_PERM = 1, MNT3ERR_NOENT = 2, MNT3ERR_IO = 5, MNT3ERR_ACCES = 13,
    MNT3ERR_NOTDIR = 20, MNT3ERR_INVAL = 22, MNT3ERR_NAMETOOLONG = 63,
    MNT3ERR_NOTSUPP = 10004, MNT3ERR_SERVERFAULT = 10006,
};

#define NFS3_NAME_MAX 255u     /* what we accept as one component */
#define NFS3_WIRE_NAME_MAX 1024u /* longer names on the wire are garbage */
#define NFS3_PATH_MAX 1024u    /* nfspath3 / dirpath */
#define NFS3_FATTR_SIZE 84u    /* encoded fattr3 */

/* ---- decoded arguments (one struct for every procedure) ---- */
struct nfs3_args {
    struct cfs_fh fh, fh2;
    char name[NFS3_WIRE_NAME_MAX + 1];
    char name2[NFS3_WIRE_NAME_MAX + 1];
    char path[NFS3_PATH_MAX + 1];  /* symlink target, mount dirpath */
    struct cfs_sattr sattr;
    bool guard;
    struct timespec guard_ctime;
    uint64_t offset;
    uint32_t count;
    uint32_t stable;               /* WRITE */
    uint32_t how;                  /* CREATE */
    uint8_t verf[CFS_VERF_SIZE];   /* CREATE exclusive; READDIR cookieverf */
    const uint8_t *data;           /* WRITE payload, into the record */
    uint32_t data_len;
    uint32_t access;
    uint64_t cookie;
    uint32_t dircount, maxcount;
    uint32_t ftype;                /* MKNOD */
    uint32_t rdev_major, rdev_minor;
    struct nlm4_args nlm;
};

/* Decode the arguments of NFSv3 procedure `proc`: 0 or -EBADMSG (GARBAGE_ARGS). */
int nfs3_decode_args(uint32_t proc, const uint8_t *p, size_t len, struct nfs3_args *a);
/* Decode the arguments of MOUNTv3 procedure `proc`. */
int mnt3_decode_args(uint32_t proc, const uint8_t *p, size_t len, struct nfs3_args *a);
/* NLM4 and NSM procedures (a->nlm). */
int nlm4_decode_args(uint32_t proc, const uint8_t *p, size_t len, struct nfs3_args *a);
int nsm_decode_args(uint32_t proc, const uint8_t *p, size_t len, struct nfs3_args *a);

/* ---- result encoders ---- */
void nfs3_enc_fattr(struct cfs_xdr *x, const struct cfs_attr *a);
void nfs3_enc_post_attr(struct cfs_xdr *x, bool has, const struct cfs_attr *a);
void nfs3_enc_pre_attr(struct cfs_xdr *x, bool has, const struct cfs_attr *a);
void nfs3_enc_wcc(struct cfs_xdr *x, bool has_pre, const struct cfs_attr *pre, bool has_post,
                  const struct cfs_attr *post);
void nfs3_enc_post_fh(struct cfs_xdr *x, bool has, const struct cfs_fh *fh);
void nfs3_enc_fh(struct cfs_xdr *x, const struct cfs_fh *fh);
const char *nfs3_proc_name(uint32_t proc);
const char *mnt3_proc_name(uint32_t proc);

#endif
