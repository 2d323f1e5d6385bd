/*
 * core/config.h - the parsed configuration of one generation: gateway.conf (core
 * settings, exports, backend, users) plus every .conf file of conf.d (module groups), read in
 * lexical order, and the directive machinery modules use (conf_apply).
 */
#ifndef CFS_CONFIG_H
#define CFS_CONFIG_H

#include <libconfig.h>
#include <stdbool.h>
#include <stdint.h>

#include <cfs/module.h>

#define CFS_MAX_CONF_FILES 64
#define CFS_MAX_MODULE_SECTIONS 32
#define CFS_MAX_EXPORTS 64

struct cfs__export_conf {
    char *name;
    char *path;
    int64_t id;
    bool read_only, root_squash, all_squash, secure_ports;
    int64_t anon_uid, anon_gid;
    char **clients; /* NULL-terminated, or NULL = everyone */
};

struct cfs__core_conf {
    int64_t workers;      /* worker loops; 0 = cores */
    int64_t pool_threads; /* blocking-work threads; 0 = 4 per loop, at least 8 */
    char *admin;          /* "127.0.0.1:8080"; "" or "off" = no admin port */
    char *log_level;
    char *log_file;
    char *state_dir;
    int64_t drain_ms;     /* how long a stopping module may drain */
    /* backend */
    char *backend_type;   /* "posix" */
    char **metadata_servers;
    int64_t pool_min_per_node, pool_max_per_node;
    int64_t breaker_failure_threshold, breaker_open_duration_ms;
    int64_t health_interval_ms, health_timeout_ms;
    int64_t op_timeout_ms;    /* circuit_breaker.op_timeout_ms: a call counts as failed */
    bool inline_calls;        /* backend.inline_calls: short metadata calls on the loop */
};

struct cfs__module_section {
    const char *name;           /* group name = module name */
    bool enabled;
    const config_setting_t *group;
    const char *file;
    int line;
};

struct cfs__config {
    char *dir;                  /* directory of conf.d */
    int nfiles;
    config_t files[CFS_MAX_CONF_FILES];
    char *file_names[CFS_MAX_CONF_FILES];
    struct cfs__core_conf core;
    int nexports;
    struct cfs__export_conf exports[CFS_MAX_EXPORTS];
    const config_setting_t *users; /* the `users` list, or NULL */
    const config_setting_t *quotas; /* the `quotas` list, or NULL (core/backend_glue.h) */
    int nsections;
    struct cfs__module_section sections[CFS_MAX_MODULE_SECTIONS];
    /* memory backing for a config built in memory (CLI shortcuts) */
    char *inline_text;
};

/*
 * Load `path`: a gateway.conf file (its directory's other *.conf files are read too) or
 * a directory holding gateway.conf and module files. `inline_extra`, when not NULL, is
 * parsed last as if it were one more file (the CLI shortcuts). Every error is logged
 * as "file:line: message"; returns the number of errors (0 = *out is valid).
 */
int cfs__config_load(const char *path, const char *inline_extra, struct cfs__config **out);
/* Build a configuration from text alone (CLI shortcuts without --config). */
int cfs__config_load_text(const char *text, struct cfs__config **out);
void cfs__config_free(struct cfs__config *c);
struct cfs__module_section *cfs__config_section(struct cfs__config *c, const char *name);

/*
 * Check a group against directives (unknown keys, wrong types, nested groups), logging
 * every error with file:line; returns the number of errors. `allow` names extra keys
 * accepted silently (NULL-terminated; e.g. "enabled").
 */
int cfs__conf_check(const config_setting_t *group, const struct cfs_directive *dirs,
                    const char *const *allow, const char *what);

/* The host API entries (cfs_host_api conf_*) */
int cfs__conf_apply(const struct cfs_conf_node *section, const struct cfs_directive *dirs,
                    void *conf, char *err, size_t errlen);
void cfs__conf_free(const struct cfs_directive *dirs, void *conf);
const struct cfs_conf_node *cfs__conf_member(const struct cfs_conf_node *g, const char *name);
int cfs__conf_count(const struct cfs_conf_node *n);
const struct cfs_conf_node *cfs__conf_elem(const struct cfs_conf_node *n, int i);
int cfs__conf_type(const struct cfs_conf_node *n);
const char *cfs__conf_name(const struct cfs_conf_node *n);
int cfs__conf_get_int(const struct cfs_conf_node *n, int64_t *out);
int cfs__conf_get_bool(const struct cfs_conf_node *n, bool *out);
const char *cfs__conf_get_string(const struct cfs_conf_node *n);
const char *cfs__conf_file(const struct cfs_conf_node *n);
int cfs__conf_line(const struct cfs_conf_node *n);

#endif
