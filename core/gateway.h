/*
 * core/gateway.h - the running gateway: the current configuration generation, the
 * module instances it runs, start-up, SIGHUP reload and shutdown with drain.
 */
#ifndef CFS_GATEWAY_H
#define CFS_GATEWAY_H

#include <stdbool.h>

#include "config.h"

enum cfs__inst_state {
    CFS__INST_LOADED = 0, /* opened and init'ed, not serving */
    CFS__INST_STARTED,
    CFS__INST_DRAINING,
    CFS__INST_STOPPED,
    CFS__INST_FAILED,
};

struct cfs__gateway_opts {
    const char *const *only_modules; /* NULL-terminated: run exactly these; NULL = enabled */
    bool validate_only;
};

/*
 * Check `conf` completely: every module section names a module on the path, every
 * directive is known and typed right, and each module's configure accepts it. Logs
 * every error with file:line; returns the number of errors. Nothing starts.
 */
int cfs__gateway_validate(struct cfs__config *conf, const struct cfs__gateway_opts *opts);
/* Start generation 1 from `conf` (always taken over). Negative on failure, with
 * everything already started stopped again in reverse order. */
int cfs__gateway_start(struct cfs__config *conf, const struct cfs__gateway_opts *opts);
/* Reload from a freshly parsed `conf` (NULL = parsing failed; counted as a failed
 * reload). On any error the old generation keeps running unchanged. 0 or negative. */
int cfs__gateway_reload(struct cfs__config *conf);
/* Drain and stop every module (reverse start order), free the generation. */
void cfs__gateway_stop(void);
/* Release the namespace; after the worker loops and pool are stopped. */
void cfs__gateway_fini(void);

unsigned cfs__gateway_generation(void);
const struct cfs__config *cfs__gateway_config(void);
/* /health and /ready bodies (malloc'd JSON); ready returns true when ready. */
char *cfs__gateway_health_json(void);
bool cfs__gateway_ready(char **json);
const char *cfs__inst_state_name(int s);

#endif
