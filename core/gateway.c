/*
 * core/gateway.c - the running gateway: which modules run with which configuration
 * (one generation), start-up, SIGHUP reload (parse and configure everything first,
 * then commit; on any error the old generation keeps running) and shutdown with drain.
 * Module lifecycle calls all happen on the main thread.
 */
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend_glue.h"
#include "core.h"
#include "gateway.h"
#include "health.h"
#include "listen.h"
#include "loader.h"
#include "metrics.h"
#include "vfs/namespace.h"

#define TAG "gateway"
#define MAX_INST 32

struct inst {
    struct cfs__mod *mod;
    void *state;
    void *conf;       /* the configuration it serves with */
    int st;           /* enum cfs__inst_state */
};

struct plan_item {
    struct inst *inst;
    void *conf;       /* prepared configuration */
    bool is_new;      /* opened by this prepare */
};

struct plan {
    int n;
    struct plan_item items[MAX_INST];
};

static struct {
    struct cfs__config *conf;
    unsigned gen;
    int ninst;
    struct inst *inst[MAX_INST];
    char **only;
    time_t started_at;
    uint64_t started_ms;
    bool vfs_up;
    uint64_t reloads_ok, reloads_failed;
    bool last_reload_ok;
    cfs_metric *m_reloads, *m_gen, *m_last, *m_up, *m_info;
} G = { .last_reload_ok = true };

const char *cfs__inst_state_name(int s)
{
    static const char *const names[] = { "loaded", "started", "draining", "stopped", "failed" };
    return s >= 0 && s <= CFS__INST_FAILED ? names[s] : "unknown";
}

static void metrics_init(void)
{
    static const char *const result_l[] = { "result", NULL };
    static const char *const module_l[] = { "module", NULL };
    static const char *const info_l[] = { "version", NULL };
    struct cfs_metric_desc d = { .size = sizeof(d) };

    if (G.m_reloads)
        return;
    d.type = CFS_METRIC_COUNTER;
    d.name = "cfs_config_reloads_total";
    d.help = "Configuration reloads by result.";
    d.labels = result_l;
    G.m_reloads = cfs__metric_register(&d);
    d.type = CFS_METRIC_GAUGE;
    d.name = "cfs_config_generation";
    d.help = "Generation of the running configuration (1 at start, +1 per successful reload).";
    d.labels = NULL;
    G.m_gen = cfs__metric_register(&d);
    d.name = "cfs_config_last_reload_successful";
    d.help = "1 when the last reload succeeded (or none happened), else 0.";
    G.m_last = cfs__metric_register(&d);
    d.name = "cfs_module_up";
    d.help = "1 when the module is started and serving.";
    d.labels = module_l;
    G.m_up = cfs__metric_register(&d);
    d.name = "cfs_build_info";
    d.help = "Gateway version.";
    d.labels = info_l;
    G.m_info = cfs__metric_register(&d);
    const char *v[] = { CFS_VERSION };
    cfs__gauge_set(cfs__metric_series(G.m_info, v), 1);
    cfs__counter_add(cfs__metric_series(G.m_reloads, (const char *[]){ "success" }), 0);
    cfs__counter_add(cfs__metric_series(G.m_reloads, (const char *[]){ "failure" }), 0);
}

static void set_up_metric(struct inst *in)
{
    const char *v[] = { in->mod->desc.name };
    cfs__gauge_set(cfs__metric_series(G.m_up, v), in->st == CFS__INST_STARTED ? 1 : 0);
}

static void publish_gen(void)
{
    cfs__gauge_set(cfs__metric_series(G.m_gen, NULL), G.gen);
    cfs__gauge_set(cfs__metric_series(G.m_last, NULL), G.last_reload_ok ? 1 : 0);
}

/* ---- which modules a configuration runs ---- */

static bool wanted(const struct cfs__config *c, char *const *only, const char *name)
{
    if (only) {
        for (char *const *p = only; *p; p++)
            if (strcmp(*p, name) == 0)
                return true;
        return false;
    }
    for (int i = 0; i < c->nsections; i++)
        if (strcmp(c->sections[i].name, name) == 0)
            return c->sections[i].enabled;
    return false;
}

static int module_names(const struct cfs__config *c, char *const *only, const char **out,
                        int max)
{
    int n = 0;

    if (only) {
        for (char *const *p = only; *p && n < max; p++)
            out[n++] = *p;
        return n;
    }
    for (int i = 0; i < c->nsections && n < max; i++)
        if (c->sections[i].enabled)
            out[n++] = c->sections[i].name;
    return n;
}

static struct inst *find_inst(const char *name)
{
    for (int i = 0; i < G.ninst; i++)
        if (strcmp(G.inst[i]->mod->desc.name, name) == 0)
            return G.inst[i];
    return NULL;
}

static void noop(void *arg)
{
    (void)arg;
}

static void inst_destroy(struct inst *in)
{
    /* Let every loop finish what it was running (posted callbacks of this module)
     * before the module frees its state. */
    if (cfs__loop_count() > 0 && !cfs__loop_current())
        cfs__loop_post_all_wait(noop, NULL);
    if (in->state && in->mod->ops.fini)
        in->mod->ops.fini(in->state);
    cfs__module_close(in->mod);
    free(in);
}

static void plan_discard(struct plan *p)
{
    for (int i = 0; i < p->n; i++) {
        struct plan_item *it = &p->items[i];
        if (it->conf)
            it->inst->mod->ops.conf_free(it->inst->state, it->conf);
        if (it->is_new)
            inst_destroy(it->inst);
    }
    p->n = 0;
}

/* Open, init and configure every module `c` runs; log every error. */
static int prepare(struct cfs__config *c, char *const *only, struct plan *p)
{
    static const char *const allow[] = { "enabled", NULL };
    const char *names[MAX_INST];
    int n = module_names(c, only, names, MAX_INST), errors = 0;

    p->n = 0;
    for (int i = 0; i < n; i++) {
        struct plan_item *it = &p->items[p->n];
        struct cfs__module_section *sec = cfs__config_section(c, names[i]);
        const struct cfs_conf_node *node = sec ? (const struct cfs_conf_node *)sec->group : NULL;
        char err[512] = "";
        int rc;

        memset(it, 0, sizeof(*it));
        it->inst = find_inst(names[i]);
        if (!it->inst) {
            struct cfs__mod *m;
            rc = cfs__module_open(names[i], &m, err, sizeof(err));
            if (rc != 0) {
                if (sec)
                    CFS_LOG_E(TAG, "%s:%d: module '%s': %s", sec->file, sec->line, names[i], err);
                else
                    CFS_LOG_E(TAG, "module '%s': %s", names[i], err);
                errors++;
                continue;
            }
            it->inst = calloc(1, sizeof(*it->inst));
            if (!it->inst) {
                cfs__module_close(m);
                errors++;
                continue;
            }
            it->inst->mod = m;
            it->inst->st = CFS__INST_LOADED;
            it->is_new = true;
            rc = m->ops.init(cfs__host_api(), &it->inst->state);
            if (rc != 0) {
                CFS_LOG_E(TAG, "module '%s' (%s): init failed: %s", names[i], m->path,
                          strerror(-rc));
                it->inst->state = NULL;
                inst_destroy(it->inst);
                errors++;
                continue;
            }
        }
        p->n++;
        if (sec && cfs__conf_check(sec->group, it->inst->mod->desc.directives, allow,
                                   names[i]) != 0) {
            errors++;
            continue;
        }
        rc = it->inst->mod->ops.configure(it->inst->state, node, &it->conf, err, sizeof(err));
        if (rc != 0) {
            it->conf = NULL;
            if (sec && !(err[0] && strstr(err, sec->file) == err))
                CFS_LOG_E(TAG, "%s:%d: %s: %s", sec->file, sec->line, names[i],
                          err[0] ? err : strerror(-rc < 4096 ? -rc : EIO));
            else
                CFS_LOG_E(TAG, "%s: %s", names[i], err[0] ? err : strerror(-rc < 4096 ? -rc : EIO));
            errors++;
        }
    }
    /* Sections for modules that are not on the path are errors even when disabled. */
    for (int i = 0; i < c->nsections; i++) {
        const struct cfs__module_section *sec = &c->sections[i];
        if (wanted(c, only, sec->name) || find_inst(sec->name))
            continue;
        struct cfs__mod *m;
        char err[512];
        if (cfs__module_open(sec->name, &m, err, sizeof(err)) == 0) {
            if (cfs__conf_check(sec->group, m->desc.directives, allow, sec->name) != 0)
                errors++;
            cfs__module_close(m);
        } else if (sec->enabled) {
            CFS_LOG_E(TAG, "%s:%d: module '%s': %s", sec->file, sec->line, sec->name, err);
            errors++;
        } else {
            CFS_LOG_I(TAG, "%s:%d: disabled module '%s' is not on the module path",
                      sec->file, sec->line, sec->name);
        }
    }
    if (errors)
        plan_discard(p);
    return errors;
}

static char **copy_names(const char *const *v)
{
    int n = 0;
    char **out;

    if (!v)
        return NULL;
    while (v[n])
        n++;
    out = calloc((size_t)n + 1, sizeof(*out));
    for (int i = 0; out && i < n; i++)
        out[i] = strdup(v[i]);
    return out;
}

static void free_names(char **v)
{
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}

int cfs__gateway_validate(struct cfs__config *conf, const struct cfs__gateway_opts *opts)
{
    struct plan p;
    char **only = copy_names(opts ? opts->only_modules : NULL);
    int errors = prepare(conf, only, &p);

    if (errors == 0)
        plan_discard(&p);
    free_names(only);
    return errors;
}

/* ---- the namespace: exports of a configuration ---- */

static int mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    size_t len = strlen(path);

    if (len == 0 || len >= sizeof(buf))
        return -ENAMETOOLONG;
    memcpy(buf, path, len + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static void export_opts(const struct cfs__export_conf *e, struct cfs__export_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->read_only = e->read_only;
    o->root_squash = e->root_squash;
    o->all_squash = e->all_squash;
    o->anon_uid = (uint32_t)e->anon_uid;
    o->anon_gid = (uint32_t)e->anon_gid;
    o->clients = (const char *const *)e->clients; /* for vfs->export_info (copied) */
    o->secure_ports = e->secure_ports;
}

static bool clients_same(char *const *a, char *const *b)
{
    for (; a && b && *a && *b; a++, b++)
        if (strcmp(*a, *b) != 0)
            return false;
    return (!a || !*a) && (!b || !*b);
}

static bool export_same(const struct cfs__export_conf *a, const struct cfs__export_conf *b)
{
    return strcmp(a->name, b->name) == 0 && strcmp(a->path, b->path) == 0 &&
           a->id == b->id && a->read_only == b->read_only && a->root_squash == b->root_squash &&
           a->all_squash == b->all_squash && a->anon_uid == b->anon_uid &&
           a->anon_gid == b->anon_gid && a->secure_ports == b->secure_ports &&
           clients_same(a->clients, b->clients);
}

static const struct cfs__export_conf *export_in(const struct cfs__config *c,
                                                const struct cfs__export_conf *e)
{
    for (int i = 0; c && i < c->nexports; i++)
        if (export_same(&c->exports[i], e))
            return &c->exports[i];
    return NULL;
}

/* Make the namespace's exports those of `c` (old = the running configuration). */
static int apply_exports(const struct cfs__config *old, const struct cfs__config *c)
{
    int errors = 0;

    for (int i = 0; old && i < old->nexports; i++)
        if (!export_in(c, &old->exports[i]))
            cfs__vfs_export_remove(old->exports[i].name);
    for (int i = 0; i < c->nexports; i++) {
        const struct cfs__export_conf *e = &c->exports[i];
        struct cfs__export_opts o;
        int rc;

        if (export_in(old, e))
            continue;
        rc = mkdir_p(e->path);
        if (rc != 0) {
            CFS_LOG_E(TAG, "export '%s': cannot create %s: %s", e->name, e->path, strerror(-rc));
            errors++;
            continue;
        }
        export_opts(e, &o);
        rc = cfs__vfs_export_add(e->name, e->path, (uint32_t)e->id, &o);
        if (rc != 0) {
            CFS_LOG_E(TAG, "export '%s' (%s): %s", e->name, e->path, strerror(-rc));
            errors++;
        } else {
            CFS_LOG_N(TAG, "export '%s': %s%s", e->name, e->path, e->read_only ? " (read-only)" : "");
        }
    }
    return errors;
}


static int apply_core(const struct cfs__config *old, const struct cfs__config *c)
{
    int level = cfs__log_parse_level(c->core.log_level);

    if (old && level != cfs__log_level())
        CFS_LOG_N(TAG, "log level now %s", c->core.log_level);
    cfs__log_set_level(level);
    if (!old || strcmp(old->core.log_file, c->core.log_file) != 0) {
        int rc = cfs__log_set_file(c->core.log_file);
        if (rc != 0)
            CFS_LOG_E(TAG, "log_file %s: %s", c->core.log_file, strerror(-rc));
    }
    if (!G.vfs_up) {
        int rc = mkdir_p(c->core.state_dir);

        cfs__host_set_state_dir(c->core.state_dir);
        if (rc != 0) {
            CFS_LOG_E(TAG, "state_dir %s: %s", c->core.state_dir, strerror(-rc));
            return rc;
        }
        rc = cfs__vfs_init(c->core.state_dir);
        if (rc != 0) {
            CFS_LOG_E(TAG, "namespace: %s", strerror(-rc));
            return rc;
        }
        G.vfs_up = true;
    }
    int rc = apply_exports(old, c) ? -EINVAL : 0;
    /* backend pool, breakers, health checks, quotas, locks, users: core/backend_glue.c */
    int brc = cfs__backend_setup(c);
    return rc ? rc : brc;
}

/* ---- lifecycle ---- */

static void inst_stop(struct inst *in, int64_t drain_ms)
{
    const struct cfs_module_ops *ops = &in->mod->ops;

    if (in->st == CFS__INST_STARTED) {
        uint64_t deadline = cfs__now_ms() + (uint64_t)(drain_ms > 0 ? drain_ms : 0);
        int busy;

        in->st = CFS__INST_DRAINING;
        while ((busy = ops->drain(in->state, deadline)) > 0 && cfs__now_ms() < deadline)
            usleep(10000);
        if (busy > 0)
            CFS_LOG_W(TAG, "%s: %d still busy at the drain deadline; stopping", in->mod->desc.name, busy);
        ops->stop(in->state);
    }
    in->st = CFS__INST_STOPPED;
    set_up_metric(in);
    if (in->conf)
        ops->conf_free(in->state, in->conf);
    in->conf = NULL;
}

static int inst_start(struct inst *in, void *conf)
{
    int rc = in->mod->ops.start(in->state, conf);

    if (rc != 0) {
        CFS_LOG_E(TAG, "%s: start failed: %s", in->mod->desc.name, strerror(-rc < 4096 ? -rc : EIO));
        in->mod->ops.conf_free(in->state, conf);
        in->st = CFS__INST_FAILED;
        set_up_metric(in);
        return rc;
    }
    in->conf = conf;
    in->st = CFS__INST_STARTED;
    set_up_metric(in);
    CFS_LOG_N(TAG, "%s %s started", in->mod->desc.name, in->mod->desc.version);
    return 0;
}

int cfs__gateway_start(struct cfs__config *conf, const struct cfs__gateway_opts *opts)
{
    struct plan p;
    int rc;

    metrics_init();
    G.only = copy_names(opts ? opts->only_modules : NULL);
    G.conf = conf;
    rc = apply_core(NULL, conf);
    if (rc == 0 && prepare(conf, G.only, &p) != 0)
        rc = -EINVAL;
    if (rc != 0) {
        cfs__gateway_stop();
        return rc;
    }
    G.started_at = time(NULL);
    G.started_ms = cfs__now_ms();
    for (int i = 0; i < p.n; i++) {
        struct plan_item *it = &p.items[i];
        G.inst[G.ninst++] = it->inst;
        rc = inst_start(it->inst, it->conf);
        it->conf = NULL;
        if (rc != 0) {
            /* Undo in reverse order; the rest of the plan never started. */
            for (int j = i + 1; j < p.n; j++) {
                p.items[j].inst->mod->ops.conf_free(p.items[j].inst->state, p.items[j].conf);
                inst_destroy(p.items[j].inst);
            }
            cfs__gateway_stop();
            return rc;
        }
    }
    G.gen = 1;
    publish_gen();
    CFS_LOG_N(TAG, "generation %u running %d module%s", G.gen, G.ninst, G.ninst == 1 ? "" : "s");
    return 0;
}

static void record_reload(bool ok)
{
    const char *v[] = { ok ? "success" : "failure" };

    G.last_reload_ok = ok;
    if (ok)
        G.reloads_ok++;
    else
        G.reloads_failed++;
    cfs__counter_add(cfs__metric_series(G.m_reloads, v), 1);
    publish_gen();
}

int cfs__gateway_reload(struct cfs__config *conf)
{
    struct plan p;
    struct cfs__config *old = G.conf;
    int failures = 0;

    if (!conf) {
        CFS_LOG_E(TAG, "reload refused: the configuration has errors; generation %u keeps running",
                  G.gen);
        record_reload(false);
        return -EINVAL;
    }
    if (prepare(conf, G.only, &p) != 0) {
        CFS_LOG_E(TAG, "reload refused: the configuration has errors; generation %u keeps running",
                  G.gen);
        cfs__config_free(conf);
        record_reload(false);
        return -EINVAL;
    }
    /* Commit. Exports first (added ones must exist before modules use them). */
    if (apply_core(old, conf) != 0)
        failures++;
    cfs__listen_park_begin();
    /* Modules no longer wanted: drain and stop. */
    for (int i = 0; i < G.ninst;) {
        struct inst *in = G.inst[i];
        bool kept = false;
        for (int j = 0; j < p.n; j++)
            kept |= p.items[j].inst == in;
        if (kept) {
            i++;
            continue;
        }
        CFS_LOG_N(TAG, "%s: disabled by reload; draining", in->mod->desc.name);
        inst_stop(in, old->core.drain_ms);
        inst_destroy(in);
        memmove(&G.inst[i], &G.inst[i + 1], (size_t)(G.ninst - i - 1) * sizeof(G.inst[0]));
        G.ninst--;
    }
    for (int i = 0; i < p.n; i++) {
        struct plan_item *it = &p.items[i];
        struct inst *in = it->inst;
        void *newconf = it->conf;

        it->conf = NULL;
        if (it->is_new) {
            G.inst[G.ninst++] = in;
            if (inst_start(in, newconf) != 0)
                failures++;
            continue;
        }
        if (in->st != CFS__INST_STARTED) {
            if (inst_start(in, newconf) != 0)
                failures++;
            continue;
        }
        int rc = in->mod->ops.reload(in->state, newconf);
        if (rc == 0) {
            in->mod->ops.conf_free(in->state, in->conf);
            in->conf = newconf;
            CFS_LOG_I(TAG, "%s: reloaded in place", in->mod->desc.name);
        } else if (rc == CFS_ENOTSUP) {
            CFS_LOG_I(TAG, "%s: restarting with the new configuration", in->mod->desc.name);
            inst_stop(in, old->core.drain_ms);
            if (inst_start(in, newconf) != 0)
                failures++;
        } else {
            CFS_LOG_E(TAG, "%s: reload failed (%s); it keeps its old configuration",
                      in->mod->desc.name, strerror(-rc < 4096 ? -rc : EIO));
            in->mod->ops.conf_free(in->state, newconf);
            failures++;
        }
    }
    cfs__listen_park_end();
    G.conf = conf;
    cfs__config_free(old);
    G.gen++;
    record_reload(failures == 0);
    CFS_LOG_I(TAG, "generation %u: %d exports", G.gen, conf->nexports);
    CFS_LOG_N(TAG, "reload %s: generation %u running %d module%s",
              failures ? "partly failed" : "done", G.gen, G.ninst, G.ninst == 1 ? "" : "s");
    return failures ? -EIO : 0;
}

void cfs__gateway_stop(void)
{
    int64_t drain = G.conf ? G.conf->core.drain_ms : 1000;

    for (int i = G.ninst - 1; i >= 0; i--) {
        inst_stop(G.inst[i], drain);
        inst_destroy(G.inst[i]);
    }
    G.ninst = 0;
    cfs__config_free(G.conf);
    G.conf = NULL;
    free_names(G.only);
    G.only = NULL;
    cfs__backend_stop(); /* its timer, while the loops still run */
}

void cfs__gateway_fini(void)
{
    cfs__backend_teardown(); /* before the namespace its calls use */
    if (G.vfs_up) {
        cfs__vfs_shutdown();
        G.vfs_up = false;
    }
}

unsigned cfs__gateway_generation(void)
{
    return G.gen;
}

const struct cfs__config *cfs__gateway_config(void)
{
    return G.conf;
}

/* ---- /health and /ready ---- */

static json_t *modules_json(bool *all_started)
{
    json_t *mods = json_array();

    *all_started = G.ninst > 0 || (G.conf != NULL);
    for (int i = 0; i < G.ninst; i++) {
        struct inst *in = G.inst[i];
        json_t *m = json_object();
        char detail[256] = "";

        json_object_set_new(m, "name", json_string(in->mod->desc.name));
        json_object_set_new(m, "version", json_string(in->mod->desc.version ? in->mod->desc.version : ""));
        json_object_set_new(m, "state", json_string(cfs__inst_state_name(in->st)));
        if (in->st == CFS__INST_STARTED) {
            int h = in->mod->ops.health(in->state, detail, sizeof(detail));
            if (h == CFS_ENOTSUP)
                h = CFS_HEALTH_OK;
            json_object_set_new(m, "health", json_string(cfs__health_state_name(h)));
            if (detail[0])
                json_object_set_new(m, "detail", json_string(detail));
        } else {
            *all_started = false;
        }
        json_array_append_new(mods, m);
    }
    return mods;
}

static json_t *status_json(bool *ready_out)
{
    json_t *o = json_object(), *checks = NULL;
    bool started;
    int worst = cfs__health_run(&checks);
    json_t *mods = modules_json(&started);

    json_object_set_new(o, "status", json_string(worst == CFS_HEALTH_FAILED ? "failed" :
                                                 worst == CFS_HEALTH_DEGRADED ? "degraded" : "ok"));
    json_object_set_new(o, "version", json_string(CFS_VERSION));
    json_object_set_new(o, "uptime_seconds",
                        json_integer((json_int_t)((cfs__now_ms() - G.started_ms) / 1000)));
    json_object_set_new(o, "generation", json_integer(G.gen));
    json_object_set_new(o, "modules", mods);
    json_object_set_new(o, "checks", checks ? checks : json_object());
    json_t *r = json_object();
    json_object_set_new(r, "succeeded", json_integer((json_int_t)G.reloads_ok));
    json_object_set_new(r, "failed", json_integer((json_int_t)G.reloads_failed));
    json_object_set_new(r, "last_successful", json_boolean(G.last_reload_ok));
    json_object_set_new(o, "reloads", r);
    if (ready_out)
        *ready_out = started && G.gen > 0 && worst != CFS_HEALTH_FAILED;
    return o;
}

char *cfs__gateway_health_json(void)
{
    json_t *o = status_json(NULL);
    char *s = json_dumps(o, JSON_COMPACT);

    json_decref(o);
    return s;
}

bool cfs__gateway_ready(char **json)
{
    bool ready = false;
    json_t *o = status_json(&ready);

    json_object_set_new(o, "ready", json_boolean(ready));
    *json = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return ready;
}
