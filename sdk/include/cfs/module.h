/*
 * cfs/module.h - what a module is: its descriptor, lifecycle ops and config directives.
 *
 * A module is a shared object exporting exactly one data symbol:
 *
 *     CFS_MODULE_EXPORT const struct cfs_module cfs_module = {
 *         CFS_MODULE_HEADER,
 *         .name = "echo", .version = "1.0", .description = "...",
 *         .ops = &echo_ops, .directives = echo_directives,
 *     };
 *
 * The host checks, in order: magic, ABI major equal and minor not newer, struct_size,
 * build_sig, unique name. It reads only fields inside struct_size; a missing tail is NULL.
 */
#ifndef CFS_MODULE_H
#define CFS_MODULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "abi.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cfs_host_api;
struct cfs_conf_node; /* opaque: one setting of the parsed configuration */

/* ---- configuration directives (nginx ngx_command_t) ---------------------------- */

enum cfs_conf_type {
    CFS_CONF_BOOL = 1,   /* bool at offset */
    CFS_CONF_INT,        /* int64_t at offset */
    CFS_CONF_STRING,     /* char * at offset (owned by the conf; freed by cfs_conf_free) */
    CFS_CONF_LIST,       /* a libconfig list/array: custom setter required */
    CFS_CONF_GROUP,      /* a libconfig group: custom setter required */
};

struct cfs_directive;

/*
 * A setter stores `node` into `conf`. It returns NULL on success or a static/contant
 * error string that the host prints as "file:line: <directive>: <error>".
 */
typedef const char *(*cfs_conf_set_fn)(void *conf, const struct cfs_directive *d,
                                       const struct cfs_conf_node *node,
                                       const struct cfs_host_api *api);

struct cfs_directive {
    const char *name;          /* key inside the module's group */
    enum cfs_conf_type type;   /* checked by the host before any setter runs */
    const char *default_value; /* text form for scalars ("2049", "true", "0.0.0.0:9000"); NULL = none */
    size_t offset;             /* where the builtin setter stores the value */
    cfs_conf_set_fn set;       /* NULL = builtin setter for the scalar type */
    const char *help;          /* one line for `cfs-gateway modules -v` and docs */
    const struct cfs_directive *children; /* LIST of groups / GROUP: allowed member keys */
};
#define CFS_DIRECTIVES_END { NULL, 0, NULL, 0, NULL, NULL, NULL }

/* ---- lifecycle -------------------------------------------------------------- */

/* What a module may answer to health(). */
enum cfs_health_state { CFS_HEALTH_OK = 0, CFS_HEALTH_DEGRADED = 1, CFS_HEALTH_FAILED = 2 };

struct cfs_module_ops {
    uint32_t size; /* sizeof(struct cfs_module_ops) the module was built with */

    /* Register metrics and services; allocate the module state. No sockets, no threads. */
    int (*init)(const struct cfs_host_api *api, void **state);
    /*
     * Build an immutable configuration for one generation from the module's group
     * (`section` may be NULL when the module has no group: use defaults). No side
     * effects; may run many times (validate-config, reload). On error, write a message
     * into err and return a negative code.
     */
    int (*configure)(void *state, const struct cfs_conf_node *section, void **conf,
                     char *err, size_t errlen);
    void (*conf_free)(void *state, void *conf);
    /* Open listeners through the host and begin serving with `conf` (the host keeps
     * ownership of conf and frees it with conf_free after stop or a later reload). */
    int (*start)(void *state, void *conf);
    /*
     * Apply a new configuration in place, keeping connections. On success the module
     * serves with new_conf and the host frees the old conf (conf_free) once reload
     * returns. Return CFS_ENOTSUP to have the host restart the instance instead
     * (drain + stop, then start with new_conf); any other error keeps the old conf.
     */
    int (*reload)(void *state, void *new_conf);
    /*
     * Stop accepting new work (close listeners) and let what is in flight finish by
     * `deadline_ms` (host->now_ms() clock). Must not block: return 0 when nothing is in
     * flight any more, or the number of requests/connections still busy; the host calls
     * it again every few ms until 0 or the deadline, then calls stop.
     */
    int (*drain)(void *state, uint64_t deadline_ms);
    /* Close everything; after this returns, no callback of the module runs. */
    void (*stop)(void *state);
    /* Free the state allocated by init. */
    void (*fini)(void *state);

    /* Optional. Fill `detail` with a short text; return a cfs_health_state. */
    int (*health)(void *state, char *detail, size_t len);
    /* Optional. Write a human-readable dump of internal state (debugging). */
    int (*dump)(void *state, char *buf, size_t len);
};

struct cfs_module {
    /* version fields: never move */
    uint32_t magic;       /* CFS_MODULE_MAGIC */
    uint16_t abi_major;   /* CFS_ABI_MAJOR */
    uint16_t abi_minor;   /* CFS_ABI_MINOR */
    uint32_t struct_size; /* sizeof(struct cfs_module) as built */
    const char *build_sig; /* CFS_BUILD_SIG */
    /* ABI 1.0 */
    const char *name;     /* unique; the config group name ("nfs3", "s3") */
    const char *version;
    const char *description;
    uint32_t flags;
    const struct cfs_module_ops *ops;
    const struct cfs_directive *directives; /* terminated by CFS_DIRECTIVES_END */
};

#define CFS_MODULE_HEADER                                                                \
    .magic = CFS_MODULE_MAGIC, .abi_major = CFS_ABI_MAJOR, .abi_minor = CFS_ABI_MINOR,   \
    .struct_size = sizeof(struct cfs_module), .build_sig = CFS_BUILD_SIG

#define CFS_MODULE_EXPORT __attribute__((visibility("default")))

#ifdef __cplusplus
}
#endif
#endif
