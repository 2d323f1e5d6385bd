/*
 * core/backend_glue.h - the namespace's backend side wired together: the backend pool
 * (core/pool.h) with its breakers in front of every VFS call, a per-call deadline
 * enforced by a watchdog, health checks of the nodes (core/healthcheck.h, /ready,
 * cfs_backend_up), quotas from the configuration (core/quota.h), the lock/lease manager
 * (core/locks.h) in the host API with its timer, and the users table (core/identity.h)
 * for the host API's identity entries.
 *
 * Lifecycle (core/gateway.c): cfs__backend_setup(conf) after the exports of a
 * configuration are in place, at start and at every reload (it applies what changed:
 * pool limits and breaker settings in place, a new node list by a new pool that takes
 * over while the old one drains its in-flight calls); cfs__backend_stop() before the
 * worker loops stop; cfs__backend_teardown() at exit. cfs__backend_conf_check() checks
 * `users` and `quotas` (config.c calls it, so validate-config and reload see errors).
 *
 * Configuration (gateway.conf):
 *
 *   backend = {
 *     metadata_servers = [ "local" ];            # pool nodes; default one node "local"
 *     connection_pool = { min_per_node = 1; max_per_node = 16; };
 *     circuit_breaker = { failure_threshold = 5; open_duration_ms = 30000;
 *                         op_timeout_ms = 30000; };   # a call running longer = failure
 *     health = { interval_ms = 5000; timeout_ms = 2000; };
 *   };
 *   quotas = (
 *     { export = "data"; bytes_hard = "10G"; files_hard = 100000; },      # whole export
 *     { export = "data"; user = "alice"; bytes_soft = "1G"; bytes_hard = "2G";
 *       grace_ms = 604800000; },                                          # one user
 *     { export = "data"; user = "*"; files_hard = 1000; },                 # every user
 *     { export = "data"; group = 100; bytes_hard = 1073741824; }          # one group
 *   );
 *
 *   export     required: the name of an export of `exports`
 *   user/group at most one: a uid/gid (integer), a user name of `users` (user only), or
 *              "*" (the default limits of every user/group without their own)
 *   bytes_soft, bytes_hard, files_soft, files_hard: integers or strings with a K, M, G
 *              or T suffix (powers of 1024); 0 or absent = no limit; soft <= hard
 *   grace_ms   how long usage may stay over a soft limit (0/absent = 7 days)
 *
 * Usage of an export with quotas is recomputed (a directory walk) when the export is
 * added, at start or by a reload, and then tracked by the VFS on every call.
 */
#ifndef CFS_BACKEND_GLUE_H
#define CFS_BACKEND_GLUE_H

#include <stdbool.h>
#include <stdint.h>

#include <cfs/identity.h>
#include <cfs/vfs.h>

struct cfs__config;
struct cfs__pool;
struct cfs__pool_conn;

/* Check `users` and `quotas` of c; every error logged with file:line. The error count. */
int cfs__backend_conf_check(const struct cfs__config *c);
/* Start (first call) or reconfigure the backend side from c. 0 or negative. */
int cfs__backend_setup(const struct cfs__config *c);
/* Before the worker loops stop: remove the locks timer. */
void cfs__backend_stop(void);
/* Stop health checks, the watchdog and the pool; forget quotas, leases and users. */
void cfs__backend_teardown(void);

/* ---- one backend call (core/vfs/guard.c) ---- */
struct cfs__backend_ticket {
    void *gen;                   /* NULL: no pool configured, the call runs directly */
    struct cfs__pool_conn *conn;
    uint64_t start_ms;           /* cfs__clock_ms() */
    bool expired;                /* the watchdog reported it as timed out */
    struct cfs__backend_ticket *prev, *next;
};
/* Acquire a connection for a call on exp: 0, or CFS_ERETRY (breaker open, pool
 * exhausted, waiters full) without blocking longer than the acquire timeout. */
int cfs__backend_enter(cfs_export *exp, struct cfs__backend_ticket *t);
/* The same without ever waiting for a connection: -EWOULDBLOCK when it would wait. */
int cfs__backend_try_enter(cfs_export *exp, struct cfs__backend_ticket *t);
/* May short metadata calls run on the network loop that asked (backend.inline_calls)? */
bool cfs__backend_inline_allowed(void);
void cfs__backend_set_inline(bool on); /* tests; the config sets it otherwise */
/* Give it back with the call's result (fed to the breaker; a call past op_timeout_ms
 * counts as -ETIMEDOUT there whatever it returned). */
void cfs__backend_leave(struct cfs__backend_ticket *t, int result);
/* Would a call on exp fail fast right now (every node's breaker open)? Never blocks. */
bool cfs__backend_rejecting(cfs_export *exp);

/* ---- tests and tools ---- */
/* Report calls running past op_timeout_ms now (the watchdog thread does it on its own). */
void cfs__backend_watchdog_run(void);
struct cfs__pool *cfs__backend_pool(void); /* the current pool, or NULL */
uint64_t cfs__backend_op_timeout_ms(void);

/* ---- identity for the host API (cfs/identity.h) ---- */
int cfs__identity_info_by_name(const char *name, struct cfs_identity_info *out);
int cfs__identity_info_by_access_key(const char *access_key, struct cfs_identity_info *out);

#endif
