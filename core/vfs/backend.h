/*
 * core/vfs/backend.h - the interface a storage engine implements to serve exports
 * (posix first, Ceph later), and the helpers the core gives every engine: handle
 * sealing, credentials mapping, the attribute cache and statistics. Protocol modules
 * never see this; they see cfs/vfs.h.
 *
 * Handle envelope (owned by the core, <= CFS_FH_MAX bytes):
 *   [0] 0xC1 version   [1..4] export id (LE)   [5..n-9] backend payload   [n-8..n-1] MAC
 * The MAC is SipHash-2-4 under the key in <state_dir>/vfs.key over bytes 0..n-9, so a
 * forged or corrupted handle is CFS_EBADHANDLE before the backend looks at it.
 */
#ifndef CFS_VFS_BACKEND_H
#define CFS_VFS_BACKEND_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cfs/vfs.h>
#include <cfs/errmap.h>

#include "namespace.h"

#define CFS__FH_VERSION 0xC1
#define CFS__FH_HDR 5
#define CFS__FH_MAC 8
#define CFS__FH_PAYLOAD_MAX (CFS_FH_MAX - CFS__FH_HDR - CFS__FH_MAC)

struct cfs__vfs_backend {
    const char *name;
    /* Open an export rooted at path. spec: text after "name:" in the backend option. */
    int (*export_open)(cfs_export *exp, const char *path, const char *spec, void **ctx);
    void (*export_close)(void *ctx);
    int (*root_fh)(void *ctx, struct cfs_fh *out);
    /* Run one op (any opcode; CFS_ENOTSUP for the ones it lacks). op->exp is set. */
    int (*exec)(void *ctx, struct cfs_vfs_op *op);
    /* Free what exec attached to op->priv[0] (may be NULL). */
    void (*release)(void *ctx, struct cfs_vfs_op *op);
    int (*probe)(void *ctx);
    void (*flush)(void *ctx); /* drop cached state (may be NULL) */
    /*
     * Optional: finish op from caches alone, without blocking (it runs on a loop
     * thread). 1 = done (op->status set), 0 = needs the pool. May be NULL.
     */
    int (*try_fast)(void *ctx, struct cfs_vfs_op *op);
    /*
     * Optional: may op run on the loop thread that submits it? Only for calls that are
     * short on this backend (a local file system's metadata: no network round trip, no
     * flush). The call still takes a pool connection (without waiting for one) and
     * goes through the breaker, leases and quotas. May be NULL (never inline).
     */
    bool (*inline_ok)(void *ctx, const struct cfs_vfs_op *op);
};

/* True while exec runs inline on a network loop (the backend may return -EWOULDBLOCK,
 * having done nothing, to be run on the pool instead). */
extern _Thread_local bool cfs__vfs_inline_now;

extern const struct cfs__vfs_backend cfs__posix_backend;
extern const struct cfs__vfs_backend cfs__faulty_backend;
const struct cfs__vfs_backend *cfs__vfs_backend_find(const char *name, size_t len);

/* ---- exports (vfs.c) ---- */
const struct cfs__export_opts *cfs__export_opts(cfs_export *exp);
void *cfs__export_ctx(cfs_export *exp);
const struct cfs__vfs_backend *cfs__export_backend(cfs_export *exp);
/* Map the caller through the export's squash options. */
void cfs__export_map_cred(cfs_export *exp, const struct cfs_cred *in, struct cfs_cred *out);

/* ---- one op on its backend connection: pool, breaker, leases, quotas (guard.c) ---- */
int cfs__vfs_exec(cfs_export *exp, struct cfs_vfs_op *op);
/* The same once the caller holds a backend ticket (cfs__backend_try_enter). */
int cfs__vfs_exec_entered(cfs_export *exp, struct cfs_vfs_op *op);

/* ---- handles (vfs.c) ---- */
int cfs__fh_seal(uint32_t export_id, const void *payload, size_t len, struct cfs_fh *out);
/* Check the envelope and MAC; *payload points into fh. */
int cfs__fh_open(const struct cfs_fh *fh, uint32_t *export_id, const uint8_t **payload,
                 size_t *len);
void cfs__write_verf(uint8_t out[CFS_VERF_SIZE]);

/* ---- per-thread credentials (cred.c) ---- */
/* Act as cred for filesystem checks on this thread; root (0/0) is a no-op. */
int cfs__cred_enter(const struct cfs_cred *cred);
void cfs__cred_leave(void);

/* ---- attribute cache (cache.c), keyed by (export id, fileid) ---- */
bool cfs__attr_get(uint32_t export_id, uint64_t fileid, struct cfs_attr *out);
/* The invalidation generation to read before a stat whose result goes to attr_put. */
uint64_t cfs__attr_gen(void);
/* Cache attr unless the object was invalidated since `gen` (from cfs__attr_gen). */
void cfs__attr_put(uint32_t export_id, const struct cfs_attr *attr, uint64_t gen);
void cfs__attr_forget(uint32_t export_id, uint64_t fileid);
void cfs__attr_flush(void);
void cfs__attr_config(uint32_t max, uint32_t ttl_ms);
void cfs__attr_counts(uint64_t *hits, uint64_t *misses, uint64_t *entries);
void cfs__attr_fini(void);

/* ---- logging (vfs.c): through core/log.c when linked, else stderr ---- */
void cfs__vfs_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- statistics (vfs.c) ---- */
extern _Atomic uint64_t cfs__vfs_fd_hits, cfs__vfs_fd_misses, cfs__vfs_fd_entries;
/* Metric series (NULL-safe for cfs__counter_add). */
extern cfs_series *cfs__vfs_m_attr_hit, *cfs__vfs_m_attr_miss, *cfs__vfs_m_fd_hit,
    *cfs__vfs_m_fd_miss;
const char *cfs__vfs_op_name(int op);

#endif
