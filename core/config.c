/*
 * core/config.c - reading the configuration (libconfig): gateway.conf and every conf.d .conf file
 * in lexical order, the core's own settings, and the directive engine that checks and
 * applies a module's group (unknown keys and wrong types refused with file:line).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend_glue.h"
#include "config.h"
#include "core.h"

#define TAG "config"

/* ---- nodes: a cfs_conf_node is a libconfig setting ---- */

static const config_setting_t *S(const struct cfs_conf_node *n)
{
    return (const config_setting_t *)n;
}

static const struct cfs_conf_node *N(const config_setting_t *s)
{
    return (const struct cfs_conf_node *)s;
}

const struct cfs_conf_node *cfs__conf_member(const struct cfs_conf_node *g, const char *name)
{
    if (!g || !config_setting_is_group(S(g)))
        return NULL;
    return N(config_setting_get_member(S(g), name));
}

int cfs__conf_count(const struct cfs_conf_node *n)
{
    return n ? config_setting_length(S(n)) : 0;
}

const struct cfs_conf_node *cfs__conf_elem(const struct cfs_conf_node *n, int i)
{
    return n ? N(config_setting_get_elem(S(n), (unsigned)i)) : NULL;
}

int cfs__conf_type(const struct cfs_conf_node *n)
{
    if (!n)
        return 0;
    switch (config_setting_type(S(n))) {
    case CONFIG_TYPE_BOOL: return CFS_CONF_BOOL;
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64: return CFS_CONF_INT;
    case CONFIG_TYPE_STRING: return CFS_CONF_STRING;
    case CONFIG_TYPE_LIST:
    case CONFIG_TYPE_ARRAY: return CFS_CONF_LIST;
    case CONFIG_TYPE_GROUP: return CFS_CONF_GROUP;
    default: return 0;
    }
}

const char *cfs__conf_name(const struct cfs_conf_node *n)
{
    return n ? config_setting_name(S(n)) : NULL;
}

int cfs__conf_get_int(const struct cfs_conf_node *n, int64_t *out)
{
    if (!n || cfs__conf_type(n) != CFS_CONF_INT)
        return -EINVAL;
    *out = (int64_t)config_setting_get_int64(S(n));
    return 0;
}

int cfs__conf_get_bool(const struct cfs_conf_node *n, bool *out)
{
    if (!n || cfs__conf_type(n) != CFS_CONF_BOOL)
        return -EINVAL;
    *out = config_setting_get_bool(S(n)) != 0;
    return 0;
}

const char *cfs__conf_get_string(const struct cfs_conf_node *n)
{
    if (!n || cfs__conf_type(n) != CFS_CONF_STRING)
        return NULL;
    return config_setting_get_string(S(n));
}

const char *cfs__conf_file(const struct cfs_conf_node *n)
{
    const char *f = n ? config_setting_source_file(S(n)) : NULL;
    return f ? f : "<command line>";
}

int cfs__conf_line(const struct cfs_conf_node *n)
{
    return n ? (int)config_setting_source_line(S(n)) : 0;
}

/* ---- directives ---- */

static const char *type_name(int t)
{
    switch (t) {
    case CFS_CONF_BOOL: return "a boolean";
    case CFS_CONF_INT: return "an integer";
    case CFS_CONF_STRING: return "a string";
    case CFS_CONF_LIST: return "a list";
    case CFS_CONF_GROUP: return "a group";
    default: return "unknown";
    }
}

static const struct cfs_directive *find_dir(const struct cfs_directive *dirs, const char *name)
{
    for (; dirs && dirs->name; dirs++)
        if (strcmp(dirs->name, name) == 0)
            return dirs;
    return NULL;
}

static bool allowed(const char *const *allow, const char *name)
{
    for (; allow && *allow; allow++)
        if (strcmp(*allow, name) == 0)
            return true;
    return false;
}

int cfs__conf_check(const config_setting_t *group, const struct cfs_directive *dirs,
                    const char *const *allow, const char *what)
{
    int errors = 0;

    if (!group)
        return 0;
    if (!config_setting_is_group(group)) {
        CFS_LOG_E(TAG, "%s:%d: %s: expected a group { ... }, found %s",
                  cfs__conf_file(N(group)), cfs__conf_line(N(group)), what,
                  type_name(cfs__conf_type(N(group))));
        return 1;
    }
    for (int i = 0; i < config_setting_length(group); i++) {
        const config_setting_t *m = config_setting_get_elem(group, (unsigned)i);
        const char *name = config_setting_name(m);
        const struct cfs_directive *d = find_dir(dirs, name);
        int t = cfs__conf_type(N(m));

        if (!d) {
            if (allowed(allow, name))
                continue;
            CFS_LOG_E(TAG, "%s:%d: %s: unknown directive '%s'", cfs__conf_file(N(m)),
                      cfs__conf_line(N(m)), what, name);
            errors++;
            continue;
        }
        if (t != (int)d->type) {
            CFS_LOG_E(TAG, "%s:%d: %s.%s: expected %s, found %s", cfs__conf_file(N(m)),
                      cfs__conf_line(N(m)), what, name, type_name(d->type), type_name(t));
            errors++;
            continue;
        }
        if (d->children && t == CFS_CONF_GROUP) {
            char sub[160];
            snprintf(sub, sizeof(sub), "%s.%s", what, name);
            errors += cfs__conf_check(m, d->children, NULL, sub);
        } else if (d->children && t == CFS_CONF_LIST) {
            for (int j = 0; j < config_setting_length(m); j++) {
                char sub[160];
                snprintf(sub, sizeof(sub), "%s.%s[%d]", what, name, j);
                errors += cfs__conf_check(config_setting_get_elem(m, (unsigned)j),
                                          d->children, NULL, sub);
            }
        }
    }
    return errors;
}

static int parse_bool_text(const char *s, bool *out)
{
    if (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0 || strcmp(s, "1") == 0)
        *out = true;
    else if (strcmp(s, "false") == 0 || strcmp(s, "no") == 0 || strcmp(s, "0") == 0)
        *out = false;
    else
        return -EINVAL;
    return 0;
}

static int parse_int_text(const char *s, int64_t *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 0);
    if (errno || end == s || *end)
        return -EINVAL;
    *out = v;
    return 0;
}

/* Store a scalar given as text (defaults) at d->offset. */
static int store_text(void *conf, const struct cfs_directive *d, const char *text)
{
    char *p = (char *)conf + d->offset;

    switch (d->type) {
    case CFS_CONF_BOOL:
        return parse_bool_text(text, (bool *)p);
    case CFS_CONF_INT:
        return parse_int_text(text, (int64_t *)p);
    case CFS_CONF_STRING: {
        char *dup = strdup(text);
        if (!dup)
            return -ENOMEM;
        free(*(char **)p);
        *(char **)p = dup;
        return 0;
    }
    default:
        return 0; /* lists and groups have no text default */
    }
}

static const char *builtin_set(void *conf, const struct cfs_directive *d,
                               const struct cfs_conf_node *node)
{
    char *p = (char *)conf + d->offset;

    switch (d->type) {
    case CFS_CONF_BOOL:
        return cfs__conf_get_bool(node, (bool *)p) ? "expected a boolean" : NULL;
    case CFS_CONF_INT:
        return cfs__conf_get_int(node, (int64_t *)p) ? "expected an integer" : NULL;
    case CFS_CONF_STRING: {
        const char *s = cfs__conf_get_string(node);
        char *dup;
        if (!s)
            return "expected a string";
        dup = strdup(s);
        if (!dup)
            return "out of memory";
        free(*(char **)p);
        *(char **)p = dup;
        return NULL;
    }
    default:
        return "this directive needs a setter";
    }
}

int cfs__conf_apply(const struct cfs_conf_node *section, const struct cfs_directive *dirs,
                    void *conf, char *err, size_t errlen)
{
    const struct cfs_directive *d;

    if (err && errlen)
        err[0] = '\0';
    for (d = dirs; d && d->name; d++) {
        if (d->default_value && !d->set && store_text(conf, d, d->default_value) != 0) {
            snprintf(err, errlen, "directive '%s': bad default '%s'", d->name, d->default_value);
            return -EINVAL;
        }
    }
    if (!section)
        return 0;
    for (d = dirs; d && d->name; d++) {
        const struct cfs_conf_node *n = cfs__conf_member(section, d->name);
        const char *e;

        if (!n)
            continue;
        if (cfs__conf_type(n) != (int)d->type) {
            snprintf(err, errlen, "%s:%d: %s: expected %s, found %s", cfs__conf_file(n),
                     cfs__conf_line(n), d->name, type_name(d->type),
                     type_name(cfs__conf_type(n)));
            return -EINVAL;
        }
        e = d->set ? d->set(conf, d, n, cfs__host_api()) : builtin_set(conf, d, n);
        if (e) {
            snprintf(err, errlen, "%s:%d: %s: %s", cfs__conf_file(n), cfs__conf_line(n),
                     d->name, e);
            return -EINVAL;
        }
    }
    return 0;
}

void cfs__conf_free(const struct cfs_directive *dirs, void *conf)
{
    for (const struct cfs_directive *d = dirs; conf && d && d->name; d++) {
        if (d->type == CFS_CONF_STRING && !d->set) {
            char **p = (char **)((char *)conf + d->offset);
            free(*p);
            *p = NULL;
        }
    }
}

/* ---- the core's own settings ---- */

static const char *set_strlist(void *conf, const struct cfs_directive *d,
                               const struct cfs_conf_node *n, const struct cfs_host_api *api)
{
    char ***out = (char ***)((char *)conf + d->offset);
    int cnt = cfs__conf_count(n);
    char **v = calloc((size_t)cnt + 1, sizeof(*v));

    (void)api;
    if (!v)
        return "out of memory";
    for (int i = 0; i < cnt; i++) {
        const char *s = cfs__conf_get_string(cfs__conf_elem(n, i));
        if (!s || !(v[i] = strdup(s))) {
            for (int j = 0; j < i; j++)
                free(v[j]);
            free(v);
            return "expected a list of strings";
        }
    }
    if (*out) {
        for (char **p = *out; *p; p++)
            free(*p);
        free(*out);
    }
    *out = v;
    return NULL;
}

static void free_strlist(char **v)
{
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}

#define CORE_OFF(f) offsetof(struct cfs__core_conf, f)
static const struct cfs_directive gateway_dirs[] = {
    { "workers", CFS_CONF_INT, "0", CORE_OFF(workers), NULL, "worker loops (0 = one per core)", NULL },
    { "pool_threads", CFS_CONF_INT, "0", CORE_OFF(pool_threads), NULL, "blocking-work threads (0 = auto)", NULL },
    { "admin", CFS_CONF_STRING, "127.0.0.1:8080", CORE_OFF(admin), NULL, "admin HTTP address (\"off\" = none)", NULL },
    { "log_level", CFS_CONF_STRING, "notice", CORE_OFF(log_level), NULL, "error|warn|notice|info|debug", NULL },
    { "log_file", CFS_CONF_STRING, "", CORE_OFF(log_file), NULL, "log file (empty = stderr)", NULL },
    { "state_dir", CFS_CONF_STRING, "/var/lib/cfs-gateway", CORE_OFF(state_dir), NULL, "persistent state", NULL },
    { "drain_ms", CFS_CONF_INT, "5000", CORE_OFF(drain_ms), NULL, "drain deadline for stopping modules", NULL },
    CFS_DIRECTIVES_END
};

static const struct cfs_directive pool_dirs[] = {
    { "min_per_node", CFS_CONF_INT, "1", CORE_OFF(pool_min_per_node), NULL, NULL, NULL },
    { "max_per_node", CFS_CONF_INT, "16", CORE_OFF(pool_max_per_node), NULL, NULL, NULL },
    CFS_DIRECTIVES_END
};
static const struct cfs_directive breaker_dirs[] = {
    { "failure_threshold", CFS_CONF_INT, "5", CORE_OFF(breaker_failure_threshold), NULL, NULL, NULL },
    { "open_duration_ms", CFS_CONF_INT, "30000", CORE_OFF(breaker_open_duration_ms), NULL, NULL, NULL },
    { "op_timeout_ms", CFS_CONF_INT, "30000", CORE_OFF(op_timeout_ms), NULL, "a backend call running longer counts as a failure", NULL },
    CFS_DIRECTIVES_END
};
static const struct cfs_directive health_dirs[] = {
    { "interval_ms", CFS_CONF_INT, "5000", CORE_OFF(health_interval_ms), NULL, NULL, NULL },
    { "timeout_ms", CFS_CONF_INT, "2000", CORE_OFF(health_timeout_ms), NULL, NULL, NULL },
    CFS_DIRECTIVES_END
};

static const char *set_subgroup(void *conf, const struct cfs_directive *d,
                                const struct cfs_conf_node *n, const struct cfs_host_api *api)
{
    static char err[256];
    (void)api;
    return cfs__conf_apply(n, d->children, conf, err, sizeof(err)) ? err : NULL;
}

static const struct cfs_directive backend_dirs[] = {
    { "type", CFS_CONF_STRING, "posix", CORE_OFF(backend_type), NULL, "posix", NULL },
    { "metadata_servers", CFS_CONF_LIST, NULL, CORE_OFF(metadata_servers), set_strlist, "backend nodes", NULL },
    { "connection_pool", CFS_CONF_GROUP, NULL, 0, set_subgroup, NULL, pool_dirs },
    { "circuit_breaker", CFS_CONF_GROUP, NULL, 0, set_subgroup, NULL, breaker_dirs },
    { "health", CFS_CONF_GROUP, NULL, 0, set_subgroup, NULL, health_dirs },
    { "inline_calls", CFS_CONF_BOOL, "true", CORE_OFF(inline_calls), NULL, "run short metadata calls of a local backend on the network loop", NULL },
    CFS_DIRECTIVES_END
};

#define EXP_OFF(f) offsetof(struct cfs__export_conf, f)
static const struct cfs_directive export_dirs[] = {
    { "name", CFS_CONF_STRING, NULL, EXP_OFF(name), NULL, "export name", NULL },
    { "path", CFS_CONF_STRING, NULL, EXP_OFF(path), NULL, "directory", NULL },
    { "id", CFS_CONF_INT, "0", EXP_OFF(id), NULL, "stable id (0 = from position)", NULL },
    { "read_only", CFS_CONF_BOOL, "false", EXP_OFF(read_only), NULL, NULL, NULL },
    { "root_squash", CFS_CONF_BOOL, "true", EXP_OFF(root_squash), NULL, NULL, NULL },
    { "all_squash", CFS_CONF_BOOL, "false", EXP_OFF(all_squash), NULL, NULL, NULL },
    { "anon_uid", CFS_CONF_INT, "65534", EXP_OFF(anon_uid), NULL, NULL, NULL },
    { "anon_gid", CFS_CONF_INT, "65534", EXP_OFF(anon_gid), NULL, NULL, NULL },
    { "clients", CFS_CONF_LIST, NULL, EXP_OFF(clients), set_strlist, "allowed networks", NULL },
    { "secure_ports", CFS_CONF_BOOL, "false", EXP_OFF(secure_ports), NULL, NULL, NULL },
    CFS_DIRECTIVES_END
};

static const char *const core_keys[] = { "gateway", "backend", "exports", "users", "quotas", NULL };

static bool is_core_key(const char *name)
{
    return allowed(core_keys, name);
}

static void export_free(struct cfs__export_conf *e)
{
    cfs__conf_free(export_dirs, e);
    free_strlist(e->clients);
    memset(e, 0, sizeof(*e));
}

/* A relative path names a place below the directory the gateway was started from. */
static int absolutize(char **path)
{
    char cwd[PATH_MAX], *abs = NULL;

    if ((*path)[0] == '/')
        return 0;
    if (!getcwd(cwd, sizeof(cwd)) || asprintf(&abs, "%s/%s", cwd, *path) < 0)
        return -ENOMEM;
    free(*path);
    *path = abs;
    return 0;
}

static int load_exports(struct cfs__config *c, const config_setting_t *list)
{
    int errors = 0;

    if (!config_setting_is_list(list)) {
        CFS_LOG_E(TAG, "%s:%d: exports: expected a list ( { ... }, ... )",
                  cfs__conf_file(N(list)), cfs__conf_line(N(list)));
        return 1;
    }
    for (int i = 0; i < config_setting_length(list); i++) {
        const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
        struct cfs__export_conf *e;
        char what[32], err[512];

        snprintf(what, sizeof(what), "exports[%d]", i);
        if (cfs__conf_check(g, export_dirs, NULL, what)) {
            errors++;
            continue;
        }
        if (c->nexports == CFS_MAX_EXPORTS) {
            CFS_LOG_E(TAG, "%s:%d: more than %d exports", cfs__conf_file(N(g)),
                      cfs__conf_line(N(g)), CFS_MAX_EXPORTS);
            return errors + 1;
        }
        e = &c->exports[c->nexports];
        if (cfs__conf_apply(N(g), export_dirs, e, err, sizeof(err))) {
            CFS_LOG_E(TAG, "%s", err);
            export_free(e);
            errors++;
            continue;
        }
        if (!e->path || !*e->path) {
            CFS_LOG_E(TAG, "%s:%d: %s: 'path' is required", cfs__conf_file(N(g)),
                      cfs__conf_line(N(g)), what);
            export_free(e);
            errors++;
            continue;
        }
        if (absolutize(&e->path) != 0) {
            CFS_LOG_E(TAG, "%s:%d: %s: cannot make '%s' absolute", cfs__conf_file(N(g)),
                      cfs__conf_line(N(g)), what, e->path);
            export_free(e);
            errors++;
            continue;
        }
        if (!e->name) {
            char nm[32];
            snprintf(nm, sizeof(nm), "export%d", c->nexports);
            e->name = strdup(nm);
        }
        if (e->id == 0)
            e->id = c->nexports + 1;
        for (int j = 0; j < c->nexports; j++) {
            if (strcmp(c->exports[j].name, e->name) == 0 || c->exports[j].id == e->id) {
                CFS_LOG_E(TAG, "%s:%d: %s: name '%s' or id %" PRId64 " already used",
                          cfs__conf_file(N(g)), cfs__conf_line(N(g)), what, e->name, e->id);
                errors++;
            }
        }
        c->nexports++;
    }
    return errors;
}

static int load_core(struct cfs__config *c, const config_setting_t *root)
{
    int errors = 0;
    char err[512];

    for (int i = 0; i < config_setting_length(root); i++) {
        const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
        const char *name = config_setting_name(s);

        if (strcmp(name, "gateway") == 0) {
            if (cfs__conf_check(s, gateway_dirs, NULL, "gateway") != 0)
                errors++;
            else if (cfs__conf_apply(N(s), gateway_dirs, &c->core, err, sizeof(err)) != 0) {
                CFS_LOG_E(TAG, "%s", err);
                errors++;
            }
        } else if (strcmp(name, "backend") == 0) {
            if (cfs__conf_check(s, backend_dirs, NULL, "backend") != 0)
                errors++;
            else if (cfs__conf_apply(N(s), backend_dirs, &c->core, err, sizeof(err)) != 0) {
                CFS_LOG_E(TAG, "%s", err);
                errors++;
            }
        } else if (strcmp(name, "exports") == 0) {
            errors += load_exports(c, s);
        } else if (strcmp(name, "users") == 0) {
            if (!config_setting_is_list(s)) {
                CFS_LOG_E(TAG, "%s:%d: users: expected a list ( { ... }, ... )",
                          cfs__conf_file(N(s)), cfs__conf_line(N(s)));
                errors++;
            } else {
                c->users = s;
            }
        } else if (strcmp(name, "quotas") == 0) {
            /* quotas: checked with the users table by cfs__backend_conf_check() */
            if (!config_setting_is_list(s)) {
                CFS_LOG_E(TAG, "%s:%d: quotas: expected a list ( { ... }, ... )",
                          cfs__conf_file(N(s)), cfs__conf_line(N(s)));
                errors++;
            } else {
                c->quotas = s;
            }
        }
    }
    return errors;
}

static int apply_core_defaults(struct cfs__config *c)
{
    char err[256];

    if (cfs__conf_apply(NULL, gateway_dirs, &c->core, err, sizeof(err)) ||
        cfs__conf_apply(NULL, backend_dirs, &c->core, err, sizeof(err)) ||
        cfs__conf_apply(NULL, pool_dirs, &c->core, err, sizeof(err)) ||
        cfs__conf_apply(NULL, breaker_dirs, &c->core, err, sizeof(err)) ||
        cfs__conf_apply(NULL, health_dirs, &c->core, err, sizeof(err)))
        return -EINVAL;
    return 0;
}

static int check_core_values(struct cfs__config *c)
{
    int errors = 0;
    struct cfs__core_conf *k = &c->core;

    if (cfs__log_parse_level(k->log_level) < 0) {
        CFS_LOG_E(TAG, "gateway.log_level: expected error|warn|notice|info|debug, found '%s'",
                  k->log_level);
        errors++;
    }
    if (k->workers < 0 || k->workers > 256) {
        CFS_LOG_E(TAG, "gateway.workers: expected 0..256, found %" PRId64, k->workers);
        errors++;
    }
    if (k->pool_min_per_node < 0 || k->pool_max_per_node < 1 ||
        k->pool_min_per_node > k->pool_max_per_node) {
        CFS_LOG_E(TAG, "backend.connection_pool: expected 0 <= min_per_node <= max_per_node "
                  "and max_per_node >= 1, found min %" PRId64 " max %" PRId64,
                  k->pool_min_per_node, k->pool_max_per_node);
        errors++;
    }
    if (k->breaker_failure_threshold < 1 || k->breaker_open_duration_ms < 1) {
        CFS_LOG_E(TAG, "backend.circuit_breaker: expected failure_threshold >= 1 and "
                  "open_duration_ms >= 1");
        errors++;
    }
    if (strcmp(k->backend_type, "posix") != 0) {
        CFS_LOG_E(TAG, "backend.type: expected 'posix' (the backends built in), found '%s'",
                  k->backend_type);
        errors++;
    }
    return errors;
}

static int load_sections(struct cfs__config *c, const config_setting_t *root)
{
    int errors = 0;

    for (int i = 0; i < config_setting_length(root); i++) {
        const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
        const char *name = config_setting_name(s);
        struct cfs__module_section *sec;
        const config_setting_t *en;

        if (is_core_key(name))
            continue;
        if (!config_setting_is_group(s)) {
            CFS_LOG_E(TAG, "%s:%d: '%s': expected a module group { enabled = ...; }",
                      cfs__conf_file(N(s)), cfs__conf_line(N(s)), name);
            errors++;
            continue;
        }
        sec = cfs__config_section(c, name);
        if (sec) {
            CFS_LOG_E(TAG, "%s:%d: module '%s' is already configured at %s:%d",
                      cfs__conf_file(N(s)), cfs__conf_line(N(s)), name, sec->file, sec->line);
            errors++;
            continue;
        }
        if (c->nsections == CFS_MAX_MODULE_SECTIONS) {
            CFS_LOG_E(TAG, "%s:%d: too many module groups", cfs__conf_file(N(s)),
                      cfs__conf_line(N(s)));
            return errors + 1;
        }
        sec = &c->sections[c->nsections++];
        sec->name = name;
        sec->group = s;
        sec->file = cfs__conf_file(N(s));
        sec->line = cfs__conf_line(N(s));
        sec->enabled = false;
        en = config_setting_get_member(s, "enabled");
        if (en && config_setting_type(en) != CONFIG_TYPE_BOOL) {
            CFS_LOG_E(TAG, "%s:%d: %s.enabled: expected a boolean, found %s",
                      cfs__conf_file(N(en)), cfs__conf_line(N(en)), name,
                      type_name(cfs__conf_type(N(en))));
            errors++;
        } else if (en) {
            sec->enabled = config_setting_get_bool(en) != 0;
        }
    }
    return errors;
}

struct cfs__module_section *cfs__config_section(struct cfs__config *c, const char *name)
{
    for (int i = 0; i < c->nsections; i++)
        if (strcmp(c->sections[i].name, name) == 0)
            return &c->sections[i];
    return NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Parse one file (or text when `text` != NULL) into the next slot. */
static int parse_one(struct cfs__config *c, const char *file, const char *text)
{
    config_t *cf;
    int ok;

    if (c->nfiles == CFS_MAX_CONF_FILES) {
        CFS_LOG_E(TAG, "%s: too many configuration files (max %d)", file, CFS_MAX_CONF_FILES);
        return 1;
    }
    cf = &c->files[c->nfiles];
    config_init(cf);
    if (c->dir)
        config_set_include_dir(cf, c->dir); /* @include is relative to the conf dir */
    c->file_names[c->nfiles] = strdup(file);
    c->nfiles++;
    if (text) {
        ok = config_read_string(cf, text);
    } else {
        ok = config_read_file(cf, file);
    }
    if (!ok) {
        if (config_error_type(cf) == CONFIG_ERR_FILE_IO)
            CFS_LOG_E(TAG, "%s: cannot read: %s", file, strerror(errno));
        else
            CFS_LOG_E(TAG, "%s:%d: %s", config_error_file(cf) ? config_error_file(cf) : file,
                      config_error_line(cf), config_error_text(cf));
        return 1;
    }
    return 0;
}

static int read_dir_files(struct cfs__config *c, const char *dir, const char *skip)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char *names[CFS_MAX_CONF_FILES];
    int n = 0, errors = 0;

    if (!d) {
        CFS_LOG_E(TAG, "%s: cannot open directory: %s", dir, strerror(errno));
        return 1;
    }
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        char path[PATH_MAX];

        if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".conf") != 0)
            continue;
        if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
            continue;
        if (skip && strcmp(de->d_name, skip) == 0)
            continue;
        if (n == CFS_MAX_CONF_FILES) {
            CFS_LOG_E(TAG, "%s: more than %d .conf files", dir, CFS_MAX_CONF_FILES);
            errors++;
            break;
        }
        names[n++] = strdup(path);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof(names[0]), cmp_str);
    for (int i = 0; i < n; i++) {
        errors += parse_one(c, names[i], NULL);
        free(names[i]);
    }
    return errors;
}

static int finish(struct cfs__config *c)
{
    int errors = 0;

    for (int i = 0; i < c->nfiles; i++) {
        const config_setting_t *root = config_root_setting(&c->files[i]);
        if (!root)
            continue;
        errors += load_core(c, root);
        errors += load_sections(c, root);
    }
    errors += check_core_values(c);
    if (c->core.state_dir && absolutize(&c->core.state_dir) != 0)
        errors++;
    if (c->core.op_timeout_ms < 1) {
        CFS_LOG_E(TAG, "backend.circuit_breaker.op_timeout_ms: expected >= 1, found %" PRId64,
                  c->core.op_timeout_ms);
        errors++;
    }
    /* users and quotas (core/backend_glue.c), after the exports they name */
    if (errors == 0)
        errors += cfs__backend_conf_check(c);
    return errors;
}

int cfs__config_load(const char *path, const char *inline_extra, struct cfs__config **out)
{
    struct cfs__config *c = calloc(1, sizeof(*c));
    struct stat st;
    int errors = 0;
    char main_file[PATH_MAX];

    *out = NULL;
    if (!c)
        return 1;
    if (apply_core_defaults(c)) {
        free(c);
        return 1;
    }
    if (path) {
        if (stat(path, &st) != 0) {
            CFS_LOG_E(TAG, "%s: cannot read: %s", path, strerror(errno));
            cfs__config_free(c);
            return 1;
        }
        if (S_ISDIR(st.st_mode)) {
            c->dir = strdup(path);
            snprintf(main_file, sizeof(main_file), "%s/gateway.conf", path);
        } else {
            const char *slash = strrchr(path, '/');
            c->dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
            snprintf(main_file, sizeof(main_file), "%s", path);
        }
        if (access(main_file, R_OK) == 0) {
            const char *base = strrchr(main_file, '/');
            errors += parse_one(c, main_file, NULL);
            errors += read_dir_files(c, c->dir, base ? base + 1 : main_file);
        } else if (S_ISDIR(st.st_mode)) {
            errors += read_dir_files(c, c->dir, NULL);
        } else {
            CFS_LOG_E(TAG, "%s: cannot read: %s", main_file, strerror(errno));
            errors++;
        }
    }
    if (inline_extra)
        errors += parse_one(c, "<command line>", inline_extra);
    if (errors == 0)
        errors = finish(c);
    if (errors) {
        cfs__config_free(c);
        return errors;
    }
    *out = c;
    return 0;
}

int cfs__config_load_text(const char *text, struct cfs__config **out)
{
    return cfs__config_load(NULL, text, out);
}

void cfs__config_free(struct cfs__config *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->nexports; i++)
        export_free(&c->exports[i]);
    cfs__conf_free(gateway_dirs, &c->core);
    cfs__conf_free(backend_dirs, &c->core);
    free_strlist(c->core.metadata_servers);
    for (int i = 0; i < c->nfiles; i++) {
        config_destroy(&c->files[i]);
        free(c->file_names[i]);
    }
    free(c->dir);
    free(c->inline_text);
    free(c);
}
