/*
 * cfs/abi.h - version numbers of the cfs-gateway module ABI and the build signature.
 *
 * Rules (see docs/MODULE_SDK.md):
 *   - CFS_ABI_MAJOR changes when anything is removed or changes signature or meaning.
 *     A module is loaded only when its major equals the host's.
 *   - CFS_ABI_MINOR changes when something is appended at the end of a public struct
 *     (the host API table, the module descriptor, an ops table). A module is loaded only
 *     when its minor is not newer than the host's; it tests CFS_HOST_HAS() before calling
 *     an entry appended after the minor it was built against.
 *   - Every symbol an SDK release adds is listed in sdk/symbols-in-versions.
 *
 * History (newest first):
 *   2026-11-25  1.0  (still unreleased, so the minor stays 0) appended: host API
 *                    identity_by_access_key/identity_by_name with struct
 *                    cfs_identity_info (cfs/identity.h); struct cfs_vfs_op lock_owner
 *                    (leases broken by the VFS) and CFS_VFS_OP_HAS; GETATTR flag
 *                    CFS_ATTR_FRESH and READ flag CFS_READ_FD (cfs/vfs.h);
 *                    cfs_rpc_rm_direct/cfs_rpc_rm_commit (cfs/rpc.h). The first
 *                    release ships as 1.0.
 *   2026-11-25  1.0  first ABI: module descriptor, host API table (log, config, metrics,
 *                    health, listeners, loops, timers, work pool, services, vfs slot).
 */
#ifndef CFS_ABI_H
#define CFS_ABI_H

#include <stddef.h>
#include <stdint.h>

#define CFS_MODULE_MAGIC 0x43465347u /* "CFSG" */
#define CFS_ABI_MAJOR 1
#define CFS_ABI_MINOR 0

#define CFS_STR_(x) #x
#define CFS_STR(x) CFS_STR_(x)

#if defined(__SANITIZE_ADDRESS__)
#define CFS_SIG_ASAN "asan"
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CFS_SIG_ASAN "asan"
#endif
#endif
#ifndef CFS_SIG_ASAN
#define CFS_SIG_ASAN "noasan"
#endif

/*
 * The build signature: what must agree between host and module beyond the ABI numbers
 * (nginx NGX_MODULE_SIGNATURE, PostgreSQL Pg_magic_func). Pointer and time_t widths and
 * the address sanitizer (its allocator must be on both sides or neither).
 */
#define CFS_BUILD_SIG                                                                   \
    "cfs1:ptr" CFS_STR(__SIZEOF_POINTER__) ":long" CFS_STR(__SIZEOF_LONG__) ":" CFS_SIG_ASAN

/* Does the host API table `api` have the entry `fn`? (Redis RMAPI_FUNC_SUPPORTED) */
#define CFS_HOST_HAS(api, fn)                                                            \
    ((api) != NULL &&                                                                   \
     offsetof(struct cfs_host_api, fn) + sizeof((api)->fn) <= (size_t)(api)->size &&    \
     (api)->fn != NULL)

#endif
