/*
 * core/vfs/namespace.h - the namespace as the host sees it: start/stop, exports, the
 * API table put in api->vfs, statistics and cache tuning, and test controls (the
 * faulty backend). Modules use cfs/vfs.h only.
 */
#ifndef CFS_VFS_NAMESPACE_H
#define CFS_VFS_NAMESPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cfs/vfs.h>

struct cfs__export_opts {
    bool read_only;
    bool root_squash;      /* uid 0 -> anon_uid, gid 0 -> anon_gid */
    bool all_squash;       /* every caller -> anon_uid/anon_gid */
    uint32_t anon_uid;     /* 65534 when 0 and a squash option is set */
    uint32_t anon_gid;
    const char *backend;   /* NULL = "posix"; "faulty:posix" wraps posix */
    int handles;           /* posix: CFS__HANDLES_AUTO / _KERNEL / _INDEX */
    const char *const *clients; /* NULL-terminated networks (copied); NULL = everyone */
    bool secure_ports;     /* protocols require client ports < 1024 */
};

/* posix handle schemes: kernel handles (open_by_handle_at, needs CAP_DAC_READ_SEARCH)
 * or the inode index kept in the state dir; AUTO picks kernel when it works. */
enum { CFS__HANDLES_AUTO = 0, CFS__HANDLES_KERNEL = 1, CFS__HANDLES_INDEX = 2 };

/*
 * Start the namespace. state_dir holds the handle key (vfs.key, created 0600); NULL
 * = a random key for this process only (handles then do not survive a restart).
 */
int cfs__vfs_init(const char *state_dir);
void cfs__vfs_shutdown(void);
const char *cfs__vfs_state_dir(void); /* NULL when started without one */

/* name and path are copied; export_id must be unique and non-zero; opts may be NULL. */
int cfs__vfs_export_add(const char *name, const char *path, uint32_t export_id,
                        const struct cfs__export_opts *opts);
int cfs__vfs_export_remove(const char *name);
cfs_export *cfs__vfs_export_find(const char *name);
uint32_t cfs__vfs_export_id(cfs_export *exp);

/* The table the host stores in api->vfs. */
const struct cfs_vfs_api *cfs__vfs_api(void);

/* Health: a cheap probe of the export's root (0 or negative error). */
int cfs__vfs_export_probe(cfs_export *exp);
/* Probe every export; the first failure's error, its export's name in `which`. */
int cfs__vfs_probe_all(char *which, size_t len);

/* Quotas: the export's usage is tracked (core/quota.c): the VFS charges and releases. */
void cfs__vfs_export_set_quota(cfs_export *exp, bool on);
bool cfs__vfs_export_quota(cfs_export *exp);

/* Leases: break conflicting leases before write/truncate/unlink/rmdir/rename (NULL = off). */
struct cfs_lock_api;
void cfs__vfs_set_locks(const struct cfs_lock_api *api);

struct cfs__vfs_stats {
    uint64_t attr_hits, attr_misses;   /* attribute cache */
    uint64_t fd_hits, fd_misses;       /* handle -> open fd cache */
    uint64_t attr_entries, fd_entries; /* current sizes */
    uint64_t ops[CFS_VOP__COUNT];      /* calls per opcode */
    uint64_t errors;                   /* calls that returned an error */
    uint64_t inline_calls;             /* calls run on the submitting loop */
};
void cfs__vfs_stats(struct cfs__vfs_stats *out);

/* Cache bounds (0 keeps the current value). Defaults: 8192 attrs for 2000 ms, 1024 fds. */
void cfs__vfs_cache_config(uint32_t attr_max, uint32_t attr_ttl_ms, uint32_t fd_max);
/* Drop every cached attribute and fd (tests, reload). */
void cfs__vfs_cache_flush(void);

/* ---- the faulty backend (tests of the breaker, pool, protocols) ---- */
struct cfs__fault {
    uint64_t op_mask;    /* bit (1 << opcode) selects ops; 0 = every op */
    int error;           /* returned instead of running the op (0 = run it) */
    uint32_t every;      /* inject on every Nth selected call (0 or 1 = each) */
    uint32_t delay_ms;   /* sleep before the op (0 = none) */
    bool hang;           /* block selected calls until the fault is cleared */
};
/* Set (fault != NULL) or clear the fault of an export made with backend "faulty:...". */
int cfs__vfs_fault_set(cfs_export *exp, const struct cfs__fault *fault);
/* Calls the faulty backend has seen (selected or not). */
uint64_t cfs__vfs_fault_calls(cfs_export *exp);

#endif
