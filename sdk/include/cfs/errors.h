/*
 * cfs/errors.h - return codes shared by the host and modules.
 *
 * Every call returns 0 (or a non-negative count) on success and a negative value on
 * failure: a negated errno, or one of the CFS_E* codes below, which live beyond the errno
 * range. Protocol modules turn them into wire statuses with cfs_err_map() (cfs/vfs.h).
 */
#ifndef CFS_ERRORS_H
#define CFS_ERRORS_H

#include <errno.h>

#define CFS_OK 0
#define CFS_ENOTSUP (-ENOTSUP)   /* the op is not implemented by this module/backend */
#define CFS_EINVAL (-EINVAL)
#define CFS_ENOMEM (-ENOMEM)
#define CFS_ERETRY (-10001)      /* transient: breaker open, pool exhausted; retry later */
#define CFS_ESTALE (-ESTALE)     /* the handle names an object that no longer exists */
#define CFS_EBADHANDLE (-10002)  /* the handle is malformed or not from this gateway */
#define CFS_ETIMEDOUT (-ETIMEDOUT)
#define CFS_ESERVERFAULT (-10003) /* a backend failure that maps to no errno */
#define CFS_ENOTSYNC (-10004)   /* setattr guard: the object's ctime did not match */
#define CFS_EBADCOOKIE (-10005) /* readdir: cookie/verifier no longer valid */

#endif
