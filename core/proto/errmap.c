/*
 * core/proto/errmap.c - the one error map (cfs/errmap.h): each row turns a negated
 * errno or CFS_E* code into the NFSv3, NFSv4, NTSTATUS and S3 answers. Unknown codes
 * fall back to the last (default) row: a server fault / internal error.
 */
#include <errno.h>
#include <stddef.h>

#include <cfs/errmap.h>

#define ROW(e, n3, n4, nt, s3, http) { e, #e, CFS_##n3, CFS_##n4, CFS_##nt, s3, http }

static const struct cfs_errmap_row rows[] = {
    ROW(-EPERM, NFS3ERR_PERM, NFS4ERR_PERM, STATUS_ACCESS_DENIED, "AccessDenied", 403),
    ROW(-ENOENT, NFS3ERR_NOENT, NFS4ERR_NOENT, STATUS_OBJECT_NAME_NOT_FOUND, "NoSuchKey", 404),
    ROW(-EIO, NFS3ERR_IO, NFS4ERR_IO, STATUS_IO_DEVICE_ERROR, "InternalError", 500),
    ROW(-ENXIO, NFS3ERR_NXIO, NFS4ERR_NXIO, STATUS_NO_SUCH_DEVICE, "InternalError", 500),
    ROW(-ENODEV, NFS3ERR_NODEV, NFS4ERR_NXIO, STATUS_NO_SUCH_DEVICE, "InternalError", 500),
    ROW(-EBADF, NFS3ERR_BADHANDLE, NFS4ERR_BADHANDLE, STATUS_INVALID_HANDLE,
        "InvalidArgument", 400),
    ROW(-EAGAIN, NFS3ERR_JUKEBOX, NFS4ERR_DELAY, STATUS_INSUFFICIENT_RESOURCES, "SlowDown",
        503),
    ROW(-ENOMEM, NFS3ERR_SERVERFAULT, NFS4ERR_RESOURCE, STATUS_NO_MEMORY, "InternalError",
        500),
    ROW(-EACCES, NFS3ERR_ACCES, NFS4ERR_ACCESS, STATUS_ACCESS_DENIED, "AccessDenied", 403),
    ROW(-EFAULT, NFS3ERR_SERVERFAULT, NFS4ERR_SERVERFAULT, STATUS_INTERNAL_ERROR,
        "InternalError", 500),
    ROW(-EBUSY, NFS3ERR_JUKEBOX, NFS4ERR_DELAY, STATUS_SHARING_VIOLATION, "SlowDown", 503),
    ROW(-EEXIST, NFS3ERR_EXIST, NFS4ERR_EXIST, STATUS_OBJECT_NAME_COLLISION,
        "PreconditionFailed", 412),
    ROW(-EXDEV, NFS3ERR_XDEV, NFS4ERR_XDEV, STATUS_NOT_SAME_DEVICE, "InvalidRequest", 400),
    ROW(-ENOTDIR, NFS3ERR_NOTDIR, NFS4ERR_NOTDIR, STATUS_NOT_A_DIRECTORY, "InvalidRequest",
        400),
    ROW(-EISDIR, NFS3ERR_ISDIR, NFS4ERR_ISDIR, STATUS_FILE_IS_A_DIRECTORY, "InvalidRequest",
        400),
    ROW(-EINVAL, NFS3ERR_INVAL, NFS4ERR_INVAL, STATUS_INVALID_PARAMETER, "InvalidArgument",
        400),
    ROW(-ENFILE, NFS3ERR_JUKEBOX, NFS4ERR_DELAY, STATUS_TOO_MANY_OPENED_FILES, "SlowDown",
        503),
    ROW(-EMFILE, NFS3ERR_JUKEBOX, NFS4ERR_DELAY, STATUS_TOO_MANY_OPENED_FILES, "SlowDown",
        503),
    ROW(-ENOTTY, NFS3ERR_NOTSUPP, NFS4ERR_NOTSUPP, STATUS_INVALID_DEVICE_REQUEST,
        "NotImplemented", 501),
    ROW(-ETXTBSY, NFS3ERR_JUKEBOX, NFS4ERR_DELAY, STATUS_SHARING_VIOLATION, "SlowDown", 503),
    ROW(-EFBIG, NFS3ERR_FBIG, NFS4ERR_FBIG, STATUS_FILE_TOO_LARGE, "EntityTooLarge", 400),
    ROW(-ENOSPC, NFS3ERR_NOSPC, NFS4ERR_NOSPC, STATUS_DISK_FULL, "InsufficientStorage", 507),
    ROW(-ESPIPE, NFS3ERR_INVAL, NFS4ERR_INVAL, STATUS_INVALID_PARAMETER, "InvalidArgument",
        400),
    ROW(-EROFS, NFS3ERR_ROFS, NFS4ERR_ROFS, STATUS_MEDIA_WRITE_PROTECTED, "AccessDenied", 403),
    ROW(-EMLINK, NFS3ERR_MLINK, NFS4ERR_MLINK, STATUS_TOO_MANY_LINKS, "InvalidRequest", 400),
    ROW(-ERANGE, NFS3ERR_TOOSMALL, NFS4ERR_TOOSMALL, STATUS_BUFFER_TOO_SMALL, "InvalidRange",
        416),
    ROW(-ENAMETOOLONG, NFS3ERR_NAMETOOLONG, NFS4ERR_NAMETOOLONG, STATUS_NAME_TOO_LONG,
        "KeyTooLongError", 400),
    ROW(-ENOSYS, NFS3ERR_NOTSUPP, NFS4ERR_NOTSUPP, STATUS_NOT_IMPLEMENTED, "NotImplemented",
        501),
    ROW(-ENOTEMPTY, NFS3ERR_NOTEMPTY, NFS4ERR_NOTEMPTY, STATUS_DIRECTORY_NOT_EMPTY,
        "BucketNotEmpty", 409),
    ROW(-ELOOP, NFS3ERR_INVAL, NFS4ERR_SYMLINK, STATUS_STOPPED_ON_SYMLINK, "InvalidRequest",
        400),
    ROW(-ENODATA, NFS3ERR_NOENT, NFS4ERR_NOXATTR, STATUS_NOT_FOUND, "NoSuchKey", 404),
    ROW(-EOVERFLOW, NFS3ERR_FBIG, NFS4ERR_FBIG, STATUS_FILE_TOO_LARGE, "InvalidRange", 416),
    ROW(-EILSEQ, NFS3ERR_INVAL, NFS4ERR_BADNAME, STATUS_OBJECT_NAME_INVALID,
        "InvalidArgument", 400),
    ROW(-E2BIG, NFS3ERR_FBIG, NFS4ERR_XATTR2BIG, STATUS_INVALID_PARAMETER,
        "MetadataTooLarge", 400),
    ROW(-EOPNOTSUPP, NFS3ERR_NOTSUPP, NFS4ERR_NOTSUPP, STATUS_NOT_SUPPORTED, "NotImplemented",
        501),
    ROW(-ETIMEDOUT, NFS3ERR_JUKEBOX, NFS4ERR_DELAY, STATUS_IO_TIMEOUT, "ServiceUnavailable",
        503),
    ROW(-ESTALE, NFS3ERR_STALE, NFS4ERR_STALE, STATUS_INVALID_HANDLE, "NoSuchKey", 404),
    ROW(-EREMOTE, NFS3ERR_REMOTE, NFS4ERR_SERVERFAULT, STATUS_NOT_SUPPORTED, "InternalError",
        500),
    ROW(-EDQUOT, NFS3ERR_DQUOT, NFS4ERR_DQUOT, STATUS_QUOTA_EXCEEDED, "QuotaExceeded", 403),
    ROW(-ECANCELED, NFS3ERR_IO, NFS4ERR_IO, STATUS_CANCELLED, "InternalError", 500),
    ROW(-EDEADLK, NFS3ERR_JUKEBOX, NFS4ERR_LOCKED, STATUS_LOCK_NOT_GRANTED, "SlowDown", 503),
    ROW(CFS_ERETRY, NFS3ERR_JUKEBOX, NFS4ERR_DELAY, STATUS_INSUFFICIENT_RESOURCES, "SlowDown",
        503),
    ROW(CFS_EBADHANDLE, NFS3ERR_BADHANDLE, NFS4ERR_BADHANDLE, STATUS_INVALID_HANDLE,
        "InvalidArgument", 400),
    ROW(CFS_ESERVERFAULT, NFS3ERR_SERVERFAULT, NFS4ERR_SERVERFAULT, STATUS_INTERNAL_ERROR,
        "InternalError", 500),
    ROW(CFS_ENOTSYNC, NFS3ERR_NOT_SYNC, NFS4ERR_NOT_SAME, STATUS_INVALID_PARAMETER,
        "PreconditionFailed", 412),
    ROW(CFS_EBADCOOKIE, NFS3ERR_BAD_COOKIE, NFS4ERR_BAD_COOKIE, STATUS_INVALID_PARAMETER,
        "InvalidArgument", 400),
};

/* Anything not listed: a fault of ours, never a client error. */
static const struct cfs_errmap_row fallback = {
    0, "default", CFS_NFS3ERR_SERVERFAULT, CFS_NFS4ERR_SERVERFAULT, CFS_STATUS_INTERNAL_ERROR,
    "InternalError", 500,
};

const struct cfs_errmap_row *cfs_err_row(int err)
{
    if (err > 0)
        err = -err;
    /* EWOULDBLOCK == EAGAIN and ENOTSUP == EOPNOTSUPP on Linux: one row each. */
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        if (rows[i].err == err)
            return &rows[i];
    return NULL;
}

const struct cfs_errmap_row *cfs_err_table(size_t *n)
{
    *n = sizeof(rows) / sizeof(rows[0]);
    return rows;
}

static const struct cfs_errmap_row *row_or_default(int err)
{
    const struct cfs_errmap_row *r = cfs_err_row(err);
    return r ? r : &fallback;
}

uint32_t cfs_err_nfs3(int err)
{
    return err == 0 ? CFS_NFS3_OK : row_or_default(err)->nfs3;
}

uint32_t cfs_err_nfs4(int err)
{
    return err == 0 ? CFS_NFS4_OK : row_or_default(err)->nfs4;
}

uint32_t cfs_err_ntstatus(int err)
{
    return err == 0 ? CFS_STATUS_SUCCESS : row_or_default(err)->ntstatus;
}

const char *cfs_err_s3(int err, int *http_status)
{
    if (err == 0) {
        if (http_status)
            *http_status = 200;
        return "OK";
    }
    const struct cfs_errmap_row *r = row_or_default(err);
    if (http_status)
        *http_status = r->http;
    return r->s3;
}
