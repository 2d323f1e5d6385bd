/*
 * core/health.h - the health-check registry behind /health and /ready.
 *
 * The core and modules register named checks (host API health_register). A check
 * returns an enum cfs_health_state and writes a short detail text; it runs on the
 * thread that asks (the admin server's loop), so it must be quick and must not block,
 * and it must not call cfs__health_register/unregister itself.
 */
#ifndef CFS_HEALTH_H
#define CFS_HEALTH_H

#include <stddef.h>

#include <jansson.h>

#include <cfs/host.h>

#define CFS__HEALTH_NAME_MAX 64     /* bytes of a check name, [A-Za-z0-9_.:/-] */
#define CFS__HEALTH_DETAIL_MAX 256  /* bytes of a detail text, NUL included */
#define CFS__HEALTH_MAX_CHECKS 256

/* 0, -EINVAL (bad name or fn), -EEXIST (name taken), -ENOSPC, -ENOMEM. */
int cfs__health_register(const char *name, cfs_health_fn fn, void *arg);
/* Remove a check; unknown names are ignored. After it returns, fn is not running and
 * will not be called again. */
void cfs__health_unregister(const char *name);
/*
 * Run every check (in name order) and return the worst state (CFS_HEALTH_OK when there
 * are none), or -ENOMEM. When checks_out is not NULL it receives a new object
 * {name: {"state": "ok|degraded|failed", "detail": "..."}} (json_decref it).
 * A check returning anything but a cfs_health_state counts as failed.
 */
int cfs__health_run(json_t **checks_out);
/* "ok", "degraded", "failed" ("failed" for anything unknown). */
const char *cfs__health_state_name(int state);
/*
 * Convenience for the admin hooks: run the checks and render
 * {"status": "<worst>", "checks": {...}} as a malloc'd string (free() it), or NULL.
 * *state_out (may be NULL) receives the worst state.
 */
char *cfs__health_json(int *state_out);
/* Drop every check (tests, shutdown). */
void cfs__health_reset(void);

#endif
