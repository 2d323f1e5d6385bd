/*
 * cfs/errmap.h - the one error map: a negated errno or CFS_E* code (cfs/errors.h) to the
 * status each protocol puts on the wire: NFSv3 nfsstat3 (RFC 1813), NFSv4 nfsstat4
 * (RFC 8881, RFC 7862, RFC 8276), SMB NTSTATUS (MS-ERREF 2.3) and the S3 error code
 * string with its HTTP status. Every protocol module calls these; nobody keeps its own
 * table. Codes not in the table map to the protocol's generic server fault / I/O error.
 * Lives in cfsproto (core/proto/errmap.c).
 */
#ifndef CFS_ERRMAP_H
#define CFS_ERRMAP_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Two VFS results that have no errno. TODO(lead): move into cfs/errors.h next to the
 * other CFS_E* codes (values kept).
 */

/* NFSv3 nfsstat3 values used by the map (RFC 1813 2.6). */
enum {
    CFS_NFS3_OK = 0, CFS_NFS3ERR_PERM = 1, CFS_NFS3ERR_NOENT = 2, CFS_NFS3ERR_IO = 5,
    CFS_NFS3ERR_NXIO = 6, CFS_NFS3ERR_ACCES = 13, CFS_NFS3ERR_EXIST = 17,
    CFS_NFS3ERR_XDEV = 18, CFS_NFS3ERR_NODEV = 19, CFS_NFS3ERR_NOTDIR = 20,
    CFS_NFS3ERR_ISDIR = 21, CFS_NFS3ERR_INVAL = 22, CFS_NFS3ERR_FBIG = 27,
    CFS_NFS3ERR_NOSPC = 28, CFS_NFS3ERR_ROFS = 30, CFS_NFS3ERR_MLINK = 31,
    CFS_NFS3ERR_NAMETOOLONG = 63, CFS_NFS3ERR_NOTEMPTY = 66, CFS_NFS3ERR_DQUOT = 69,
    CFS_NFS3ERR_STALE = 70, CFS_NFS3ERR_REMOTE = 71, CFS_NFS3ERR_BADHANDLE = 10001,
    CFS_NFS3ERR_NOT_SYNC = 10002, CFS_NFS3ERR_BAD_COOKIE = 10003,
    CFS_NFS3ERR_NOTSUPP = 10004, CFS_NFS3ERR_TOOSMALL = 10005,
    CFS_NFS3ERR_SERVERFAULT = 10006, CFS_NFS3ERR_BADTYPE = 10007,
    CFS_NFS3ERR_JUKEBOX = 10008,
};

/* NFSv4 nfsstat4 values used by the map (RFC 8881 15.1, RFC 8276 for xattrs). */
enum {
    CFS_NFS4_OK = 0, CFS_NFS4ERR_PERM = 1, CFS_NFS4ERR_NOENT = 2, CFS_NFS4ERR_IO = 5,
    CFS_NFS4ERR_NXIO = 6, CFS_NFS4ERR_ACCESS = 13, CFS_NFS4ERR_EXIST = 17,
    CFS_NFS4ERR_XDEV = 18, CFS_NFS4ERR_NOTDIR = 20, CFS_NFS4ERR_ISDIR = 21,
    CFS_NFS4ERR_INVAL = 22, CFS_NFS4ERR_FBIG = 27, CFS_NFS4ERR_NOSPC = 28,
    CFS_NFS4ERR_ROFS = 30, CFS_NFS4ERR_MLINK = 31, CFS_NFS4ERR_NAMETOOLONG = 63,
    CFS_NFS4ERR_NOTEMPTY = 66, CFS_NFS4ERR_DQUOT = 69, CFS_NFS4ERR_STALE = 70,
    CFS_NFS4ERR_BADHANDLE = 10001, CFS_NFS4ERR_BAD_COOKIE = 10003,
    CFS_NFS4ERR_NOTSUPP = 10004, CFS_NFS4ERR_TOOSMALL = 10005,
    CFS_NFS4ERR_SERVERFAULT = 10006, CFS_NFS4ERR_BADTYPE = 10007,
    CFS_NFS4ERR_DELAY = 10008, CFS_NFS4ERR_LOCKED = 10012, CFS_NFS4ERR_RESOURCE = 10018,
    CFS_NFS4ERR_NOT_SAME = 10027, CFS_NFS4ERR_SYMLINK = 10029,
    CFS_NFS4ERR_BADNAME = 10041, CFS_NFS4ERR_NOXATTR = 10095,
    CFS_NFS4ERR_XATTR2BIG = 10096,
};

/* NTSTATUS values used by the map (MS-ERREF 2.3.1). */
#define CFS_STATUS_SUCCESS 0x00000000u
#define CFS_STATUS_STOPPED_ON_SYMLINK 0x8000002Du
#define CFS_STATUS_NOT_IMPLEMENTED 0xC0000002u
#define CFS_STATUS_INVALID_HANDLE 0xC0000008u
#define CFS_STATUS_INVALID_PARAMETER 0xC000000Du
#define CFS_STATUS_NO_SUCH_DEVICE 0xC000000Eu
#define CFS_STATUS_INVALID_DEVICE_REQUEST 0xC0000010u
#define CFS_STATUS_NO_MEMORY 0xC0000017u
#define CFS_STATUS_ACCESS_DENIED 0xC0000022u
#define CFS_STATUS_BUFFER_TOO_SMALL 0xC0000023u
#define CFS_STATUS_OBJECT_NAME_INVALID 0xC0000033u
#define CFS_STATUS_OBJECT_NAME_NOT_FOUND 0xC0000034u
#define CFS_STATUS_OBJECT_NAME_COLLISION 0xC0000035u
#define CFS_STATUS_SHARING_VIOLATION 0xC0000043u
#define CFS_STATUS_QUOTA_EXCEEDED 0xC0000044u
#define CFS_STATUS_LOCK_NOT_GRANTED 0xC0000055u
#define CFS_STATUS_DISK_FULL 0xC000007Fu
#define CFS_STATUS_INSUFFICIENT_RESOURCES 0xC000009Au
#define CFS_STATUS_MEDIA_WRITE_PROTECTED 0xC00000A2u
#define CFS_STATUS_IO_TIMEOUT 0xC00000B5u
#define CFS_STATUS_FILE_IS_A_DIRECTORY 0xC00000BAu
#define CFS_STATUS_NOT_SUPPORTED 0xC00000BBu
#define CFS_STATUS_NOT_SAME_DEVICE 0xC00000D4u
#define CFS_STATUS_INTERNAL_ERROR 0xC00000E5u
#define CFS_STATUS_DIRECTORY_NOT_EMPTY 0xC0000101u
#define CFS_STATUS_NOT_A_DIRECTORY 0xC0000103u
#define CFS_STATUS_NAME_TOO_LONG 0xC0000106u
#define CFS_STATUS_TOO_MANY_OPENED_FILES 0xC000011Fu
#define CFS_STATUS_CANCELLED 0xC0000120u
#define CFS_STATUS_IO_DEVICE_ERROR 0xC0000185u
#define CFS_STATUS_NOT_FOUND 0xC0000225u
#define CFS_STATUS_TOO_MANY_LINKS 0xC0000265u
#define CFS_STATUS_FILE_TOO_LARGE 0xC0000904u

/* One row of the map. */
struct cfs_errmap_row {
    int err;             /* negative errno or CFS_E* */
    const char *name;    /* "ENOENT", "CFS_ERETRY", ... */
    uint32_t nfs3;       /* nfsstat3 */
    uint32_t nfs4;       /* nfsstat4 */
    uint32_t ntstatus;   /* NTSTATUS */
    const char *s3;      /* S3 error code */
    int http;            /* HTTP status of that S3 error */
};

/* err may be given negative (as returned) or positive (a raw errno); 0 = success. */
uint32_t cfs_err_nfs3(int err);
uint32_t cfs_err_nfs4(int err);
uint32_t cfs_err_ntstatus(int err);
/* The S3 code ("NoSuchKey", ...); *http_status gets its HTTP status (200 for 0). */
const char *cfs_err_s3(int err, int *http_status);
/* The row for err, or NULL when err is not in the table (the default applies). */
const struct cfs_errmap_row *cfs_err_row(int err);
/* The whole table (for tests and docs). */
const struct cfs_errmap_row *cfs_err_table(size_t *n);

#ifdef __cplusplus
}
#endif
#endif
