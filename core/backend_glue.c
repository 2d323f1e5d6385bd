/*
 * core/backend_glue.c - the namespace's backend side wired together (see
 * backend_glue.h): pool generations in front of every VFS call with a watchdog for
 * calls past their deadline, node health checks, quotas from the configuration, the
 * lock/lease manager and its timer, and the users table behind the host API.
 */
#include "backend_glue.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "breaker.h"
#include "clock.h"
#include "config.h"
#include "core.h"
#include "healthcheck.h"
#include "identity.h"
#include "locks.h"
#include "pool.h"
#include "quota.h"
#include "vfs/namespace.h"

#define TAG "backend"
#define CTAG "config"
#define GEN_MAGIC 0x47454e31u /* "GEN1" */

/* One pool and the calls in flight on it. A reload that changes the node list makes a
 * new generation; the old one is freed when its last call has left. */
struct gen {
    uint32_t magic;
    atomic_int refs;             /* 1 while current + 1 per call in flight */
    struct cfs__pool *pool;
    size_t nnodes;
    char **nodes;
    struct cfs__pool_conf pconf;
    pthread_mutex_t mu;          /* calls */
    struct cfs__backend_ticket *calls;
    struct gen *next;            /* B.gens */
};

struct qrule {
    char *export;
    enum cfs__quota_kind kind;
    uint32_t id;                 /* uid/gid, CFS__QUOTA_DEFAULT_ID; unused for EXPORT */
    uint32_t export_id;          /* set when applied */
    struct cfs__quota_limits lim;
};

static struct {
    pthread_rwlock_t cur_lock;   /* cur */
    struct gen *cur;
    pthread_mutex_t gens_mu;     /* gens (every live generation) */
    struct gen *gens;
    _Atomic uint64_t op_timeout_ms;
    _Atomic bool inline_calls;
    bool set_up, health_on;
    /* watchdog */
    pthread_mutex_t wd_mu;
    pthread_cond_t wd_cond;
    pthread_t wd;
    bool wd_running, wd_stop;
    /* quotas of the running configuration */
    struct qrule *rules;
    size_t nrules;
    /* locks */
    bool locks_on;
    cfs_timer *lock_timer;
} B = {
    .cur_lock = PTHREAD_RWLOCK_INITIALIZER,
    .gens_mu = PTHREAD_MUTEX_INITIALIZER,
    .wd_mu = PTHREAD_MUTEX_INITIALIZER,
    .op_timeout_ms = 30000,
    .inline_calls = true,
};

/* ==== identity for the host API ======================================================= */

static int identity_out(int rc, const struct cfs__user *u, struct cfs_identity_info *out)
{
    struct cfs_identity_info t;
    uint32_t size;

    if (rc < 0)
        return rc;
    memset(&t, 0, sizeof(t));
    t.uid = u->uid;
    t.gid = u->gid;
    t.ngroups = u->ngroups <= CFS_MAX_GROUPS ? u->ngroups : CFS_MAX_GROUPS;
    memcpy(t.groups, u->groups, t.ngroups * sizeof(t.groups[0]));
    snprintf(t.name, sizeof(t.name), "%s", u->name);
    snprintf(t.access_key, sizeof(t.access_key), "%s", u->access_key);
    snprintf(t.secret_key, sizeof(t.secret_key), "%s", u->secret_key);
    t.has_nt_hash = u->has_nt_hash;
    memcpy(t.nt_hash, u->nt_hash, sizeof(t.nt_hash));
    size = out->size;
    t.size = size;
    memcpy(out, &t, size < sizeof(t) ? size : sizeof(t));
    explicit_bzero(&t, sizeof(t));
    return 0;
}

int cfs__identity_info_by_name(const char *name, struct cfs_identity_info *out)
{
    struct cfs__user u;
    int rc;

    if (!name || !out || out->size < sizeof(out->size) + sizeof(out->uid))
        return -EINVAL;
    rc = identity_out(cfs__identity_by_name(name, &u), &u, out);
    explicit_bzero(&u, sizeof(u));
    return rc;
}

int cfs__identity_info_by_access_key(const char *access_key, struct cfs_identity_info *out)
{
    struct cfs__user u;
    int rc;

    if (!access_key || !out || out->size < sizeof(out->size) + sizeof(out->uid))
        return -EINVAL;
    rc = identity_out(cfs__identity_by_access_key(access_key, &u), &u, out);
    explicit_bzero(&u, sizeof(u));
    return rc;
}

/* ==== quotas from the configuration ==================================================== */

static const char *const quota_keys[] = { "export", "user", "group", "bytes_soft",
                                          "bytes_hard", "files_soft", "files_hard",
                                          "grace_ms", NULL };

static const char *sfile(const config_setting_t *s)
{
    const char *f = config_setting_source_file(s);
    return f ? f : "<command line>";
}

static int sline(const config_setting_t *s)
{
    return (int)config_setting_source_line(s);
}

/* An amount: a non-negative integer, or a string "<n>[KMGT]" (powers of 1024). */
static const char *parse_amount(const config_setting_t *s, uint64_t *out)
{
    int t = config_setting_type(s);

    if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) {
        long long v = config_setting_get_int64(s);
        if (v < 0)
            return "expected a non-negative amount";
        *out = (uint64_t)v;
        return NULL;
    }
    if (t != CONFIG_TYPE_STRING)
        return "expected an integer or a string like \"10G\"";
    const char *str = config_setting_get_string(s);
    char *end;
    unsigned shift = 0;

    if (!str || *str < '0' || *str > '9')
        return "expected an amount like \"512M\"";
    errno = 0;
    unsigned long long v = strtoull(str, &end, 10);
    if (errno)
        return "amount out of range";
    switch (*end) {
    case 'K': case 'k': shift = 10; end++; break;
    case 'M': case 'm': shift = 20; end++; break;
    case 'G': case 'g': shift = 30; end++; break;
    case 'T': case 't': shift = 40; end++; break;
    default: break;
    }
    if (*end)
        return "expected digits and one of the suffixes K, M, G, T";
    if (shift && v > (UINT64_MAX >> shift))
        return "amount out of range";
    *out = (uint64_t)v << shift;
    return NULL;
}

/* uid of user `name` in the configuration's users list, or -ENOENT. */
static int64_t conf_user_uid(const struct cfs__config *c, const char *name)
{
    for (int i = 0; c->users && i < config_setting_length(c->users); i++) {
        const config_setting_t *u = config_setting_get_elem(c->users, (unsigned)i);
        const char *n = NULL;
        long long uid = -1;

        if (u && config_setting_lookup_string(u, "name", &n) && strcmp(n, name) == 0 &&
            config_setting_lookup_int64(u, "uid", &uid) && uid >= 0 && uid < UINT32_MAX)
            return uid;
    }
    return -ENOENT;
}

static bool export_named(const struct cfs__config *c, const char *name)
{
    for (int i = 0; i < c->nexports; i++)
        if (strcmp(c->exports[i].name, name) == 0)
            return true;
    return false;
}

static void rules_free(struct qrule *r, size_t n)
{
    for (size_t i = 0; r && i < n; i++)
        free(r[i].export);
    free(r);
}

/* The id of user/group `s` (kind USER/GROUP) or an error text. */
static const char *rule_id(const struct cfs__config *c, const config_setting_t *s, bool user,
                           uint32_t *id)
{
    int t = config_setting_type(s);

    if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) {
        long long v = config_setting_get_int64(s);
        if (v < 0 || v > (long long)UINT32_MAX - 1)
            return "expected an id 0..4294967294";
        *id = (uint32_t)v;
        return NULL;
    }
    if (t != CONFIG_TYPE_STRING)
        return user ? "expected a uid, a user name or \"*\"" : "expected a gid or \"*\"";
    const char *v = config_setting_get_string(s);
    if (strcmp(v, "*") == 0) {
        *id = CFS__QUOTA_DEFAULT_ID;
        return NULL;
    }
    if (!user)
        return "expected a gid or \"*\" (group names are not known)";
    int64_t uid = conf_user_uid(c, v);
    if (uid < 0)
        return "expected a user of the `users` list";
    *id = (uint32_t)uid;
    return NULL;
}

/* Parse c->quotas into rules; log every error; the error count. */
static int parse_quotas(const struct cfs__config *c, struct qrule **out, size_t *nout)
{
    const config_setting_t *list = c->quotas;
    int n = list ? config_setting_length(list) : 0, errors = 0;
    struct qrule *rules = n ? calloc((size_t)n, sizeof(*rules)) : NULL;
    size_t nr = 0;

    *out = NULL;
    *nout = 0;
    if (n && !rules) {
        CFS_LOG_E(CTAG, "quotas: out of memory");
        return 1;
    }
    for (int i = 0; i < n; i++) {
        const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
        struct qrule r = { .kind = CFS__QUOTA_EXPORT };
        const config_setting_t *m;
        const char *e;
        int before = errors;

        if (!config_setting_is_group(g)) {
            CFS_LOG_E(CTAG, "%s:%d: quotas[%d]: expected a group { export = ...; ... }",
                      sfile(g), sline(g), i);
            errors++;
            continue;
        }
        for (int k = 0; k < config_setting_length(g); k++) {
            const char *key = config_setting_name(config_setting_get_elem(g, (unsigned)k));
            bool known = false;
            for (const char *const *q = quota_keys; *q; q++)
                known |= strcmp(*q, key) == 0;
            if (!known) {
                m = config_setting_get_elem(g, (unsigned)k);
                CFS_LOG_E(CTAG, "%s:%d: quotas[%d]: unknown key '%s' (expected export, user, "
                          "group, bytes_soft, bytes_hard, files_soft, files_hard, grace_ms)",
                          sfile(m), sline(m), i, key);
                errors++;
            }
        }
        m = config_setting_get_member(g, "export");
        if (!m || config_setting_type(m) != CONFIG_TYPE_STRING) {
            CFS_LOG_E(CTAG, "%s:%d: quotas[%d].export: expected the name of an export, found %s",
                      sfile(m ? m : g), sline(m ? m : g), i, m ? "another type" : "none");
            errors++;
        } else if (!export_named(c, config_setting_get_string(m))) {
            CFS_LOG_E(CTAG, "%s:%d: quotas[%d].export: expected an export of `exports`, found '%s'",
                      sfile(m), sline(m), i, config_setting_get_string(m));
            errors++;
        } else {
            r.export = strdup(config_setting_get_string(m));
        }
        const config_setting_t *mu = config_setting_get_member(g, "user");
        const config_setting_t *mg = config_setting_get_member(g, "group");
        if (mu && mg) {
            CFS_LOG_E(CTAG, "%s:%d: quotas[%d]: expected at most one of user and group, found both",
                      sfile(g), sline(g), i);
            errors++;
        } else if (mu || mg) {
            r.kind = mu ? CFS__QUOTA_USER : CFS__QUOTA_GROUP;
            if ((e = rule_id(c, mu ? mu : mg, mu != NULL, &r.id)) != NULL) {
                m = mu ? mu : mg;
                CFS_LOG_E(CTAG, "%s:%d: quotas[%d].%s: %s", sfile(m), sline(m), i,
                          mu ? "user" : "group", e);
                errors++;
            }
        }
        static const char *const amounts[] = { "bytes_soft", "bytes_hard", "files_soft",
                                               "files_hard", "grace_ms" };
        uint64_t *dst[] = { &r.lim.bytes_soft, &r.lim.bytes_hard, &r.lim.files_soft,
                            &r.lim.files_hard, &r.lim.grace_ms };
        for (size_t k = 0; k < sizeof(amounts) / sizeof(amounts[0]); k++) {
            m = config_setting_get_member(g, amounts[k]);
            if (m && (e = parse_amount(m, dst[k])) != NULL) {
                CFS_LOG_E(CTAG, "%s:%d: quotas[%d].%s: %s", sfile(m), sline(m), i, amounts[k], e);
                errors++;
            }
        }
        if ((r.lim.bytes_soft && r.lim.bytes_hard && r.lim.bytes_soft > r.lim.bytes_hard) ||
            (r.lim.files_soft && r.lim.files_hard && r.lim.files_soft > r.lim.files_hard)) {
            CFS_LOG_E(CTAG, "%s:%d: quotas[%d]: expected soft <= hard limits", sfile(g), sline(g), i);
            errors++;
        }
        for (size_t k = 0; errors == before && r.export && k < nr; k++) {
            if (strcmp(rules[k].export, r.export) == 0 && rules[k].kind == r.kind &&
                (r.kind == CFS__QUOTA_EXPORT || rules[k].id == r.id)) {
                CFS_LOG_E(CTAG, "%s:%d: quotas[%d]: the same limits are already set by an "
                          "earlier entry", sfile(g), sline(g), i);
                errors++;
            }
        }
        if (errors != before || !r.export) {
            free(r.export);
            if (errors == before) {
                CFS_LOG_E(CTAG, "%s:%d: quotas[%d]: out of memory", sfile(g), sline(g), i);
                errors++;
            }
            continue;
        }
        rules[nr++] = r;
    }
    if (errors) {
        rules_free(rules, nr);
        return errors;
    }
    *out = rules;
    *nout = nr;
    return 0;
}

/* Make the quotas of the namespace those of rules (taking them over). */
static void apply_quotas(const struct cfs__config *c, struct qrule *rules, size_t nrules)
{
    /* forget the limits of the previous configuration */
    for (size_t i = 0; i < B.nrules; i++)
        (void)cfs__quota_set(B.rules[i].export_id, B.rules[i].kind, B.rules[i].id, NULL);
    rules_free(B.rules, B.nrules);
    B.rules = NULL;
    B.nrules = 0;
    for (int i = 0; i < c->nexports; i++) {
        const struct cfs__export_conf *e = &c->exports[i];
        cfs_export *x = cfs__vfs_export_find(e->name);
        bool has = false;
        int rc;

        for (size_t k = 0; k < nrules; k++)
            has |= strcmp(rules[k].export, e->name) == 0;
        if (!x)
            continue;
        if (!has) {
            cfs__vfs_export_set_quota(x, false);
            continue;
        }
        for (size_t k = 0; k < nrules; k++)
            if (strcmp(rules[k].export, e->name) == 0)
                rules[k].export_id = cfs__vfs_export_id(x);
        if (cfs__vfs_export_quota(x))
            continue;
        /* newly tracked: count what is there, then follow every call */
        rc = cfs__quota_export_add(cfs__vfs_export_id(x), e->name);
        if (rc == 0)
            rc = cfs__quota_rescan(cfs__vfs_export_id(x), e->path);
        if (rc != 0) {
            CFS_LOG_E(TAG, "export '%s': quota usage of %s: %s; quotas not enforced", e->name,
                      e->path, strerror(-rc));
            continue;
        }
        cfs__vfs_export_set_quota(x, true);
    }
    for (size_t k = 0; k < nrules; k++) {
        struct qrule *r = &rules[k];
        int rc = r->export_id ? cfs__quota_set(r->export_id, r->kind, r->id, &r->lim) : -ENOENT;

        if (rc != 0)
            CFS_LOG_E(TAG, "quota of export '%s': %s", r->export, strerror(-rc));
    }
    B.rules = rules;
    B.nrules = nrules;
}

int cfs__backend_conf_check(const struct cfs__config *c)
{
    char err[512] = "";
    int errors = 0;
    struct qrule *rules;
    size_t n;

    if (cfs__identity_check(c->users, err, sizeof(err)) != 0) {
        CFS_LOG_E("config", "%s", err[0] ? err : "users: invalid");
        errors++;
    }
    errors += parse_quotas(c, &rules, &n);
    rules_free(rules, n);
    if (c->core.metadata_servers) {
        for (char **p = c->core.metadata_servers; *p; p++) {
            if (!**p) {
                CFS_LOG_E("config", "backend.metadata_servers: expected node names, found \"\"");
                errors++;
            }
            for (char **q = c->core.metadata_servers; q < p; q++) {
                if (strcmp(*p, *q) == 0) {
                    CFS_LOG_E("config", "backend.metadata_servers: node \"%s\" is listed twice", *p);
                    errors++;
                }
            }
        }
    }
    return errors;
}

/* ==== pool generations ================================================================= */

/* posix: a "connection" is a token; the probe checks every export's root. */
static int px_conn_open(void *ctx, const char *node, void **handle)
{
    (void)ctx;
    (void)node;
    *handle = &B; /* any non-NULL token */
    return 0;
}

static void px_conn_close(void *ctx, void *handle)
{
    (void)ctx;
    (void)handle;
}

static int px_conn_ping(void *ctx, void *handle)
{
    char which[128];
    int rc;

    (void)ctx;
    (void)handle;
    rc = cfs__vfs_probe_all(which, sizeof(which));
    if (rc < 0)
        CFS_LOG_D(TAG, "probe of export '%s' failed: %s", which,
                  rc == CFS_ERETRY ? "retry later" : rc > -4096 ? strerror(-rc) : "backend error");
    return rc;
}

static const struct cfs__pool_conn_ops px_conn_ops = {
    .open = px_conn_open,
    .close = px_conn_close,
    .ping = px_conn_ping,
};

static void gen_free(struct gen *g)
{
    struct gen **pp;

    pthread_mutex_lock(&B.gens_mu);
    for (pp = &B.gens; *pp; pp = &(*pp)->next) {
        if (*pp == g) {
            *pp = g->next;
            break;
        }
    }
    pthread_mutex_unlock(&B.gens_mu);
    cfs__pool_free(g->pool);
    for (size_t i = 0; i < g->nnodes; i++)
        free(g->nodes[i]);
    free(g->nodes);
    pthread_mutex_destroy(&g->mu);
    g->magic = 0;
    free(g);
}

static void gen_put(struct gen *g)
{
    if (atomic_fetch_sub(&g->refs, 1) == 1)
        gen_free(g);
}

static struct gen *gen_get(void)
{
    struct gen *g;

    pthread_rwlock_rdlock(&B.cur_lock);
    g = B.cur;
    if (g)
        atomic_fetch_add(&g->refs, 1);
    pthread_rwlock_unlock(&B.cur_lock);
    return g;
}

static void conf_nodes(const struct cfs__config *c, const char **nodes, size_t *n, size_t max)
{
    static const char *const dflt = "local";

    *n = 0;
    for (char **p = c->core.metadata_servers; p && *p && *n < max; p++)
        nodes[(*n)++] = *p;
    if (*n == 0)
        nodes[(*n)++] = dflt;
}

static void conf_pool(const struct cfs__config *c, struct cfs__pool_conf *pc)
{
    memset(pc, 0, sizeof(*pc));
    pc->min_per_node = (uint32_t)c->core.pool_min_per_node;
    pc->max_per_node = (uint32_t)c->core.pool_max_per_node;
    pc->breaker.failure_threshold = (uint32_t)c->core.breaker_failure_threshold;
    pc->breaker.open_duration_ms = (uint64_t)c->core.breaker_open_duration_ms;
}

static bool same_nodes(const struct gen *g, const char *const *nodes, size_t n)
{
    if (g->nnodes != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(g->nodes[i], nodes[i]) != 0)
            return false;
    return true;
}

static int gen_new(const char *const *nodes, size_t n, const struct cfs__pool_conf *pc,
                   struct gen **out)
{
    struct gen *g = calloc(1, sizeof(*g));
    char err[256];
    int rc = -ENOMEM;

    if (!g)
        return -ENOMEM;
    g->magic = GEN_MAGIC;
    atomic_init(&g->refs, 1);
    pthread_mutex_init(&g->mu, NULL);
    g->pconf = *pc;
    g->nodes = calloc(n, sizeof(*g->nodes));
    if (!g->nodes)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        if (!(g->nodes[i] = strdup(nodes[i])))
            goto fail;
        g->nnodes++;
    }
    rc = cfs__pool_new(nodes, n, pc, &px_conn_ops, NULL, &g->pool, err, sizeof(err));
    if (rc != 0) {
        CFS_LOG_E(TAG, "%s", err);
        goto fail;
    }
    pthread_mutex_lock(&B.gens_mu);
    g->next = B.gens;
    B.gens = g;
    pthread_mutex_unlock(&B.gens_mu);
    *out = g;
    return 0;
fail:
    for (size_t i = 0; i < g->nnodes; i++)
        free(g->nodes[i]);
    free(g->nodes);
    pthread_mutex_destroy(&g->mu);
    free(g);
    return rc;
}

static int enter(struct cfs__backend_ticket *t, uint64_t timeout_ms)
{
    struct gen *g;
    int rc;

    memset(t, 0, sizeof(*t));
    g = gen_get();
    if (!g)
        return 0;
    rc = cfs__pool_acquire(g->pool, -1, timeout_ms, &t->conn);
    if (rc < 0) {
        gen_put(g);
        return rc == -EWOULDBLOCK ? rc : CFS_ERETRY;
    }
    t->gen = g;
    t->start_ms = cfs__clock_ms();
    pthread_mutex_lock(&g->mu);
    t->next = g->calls;
    if (g->calls)
        g->calls->prev = t;
    g->calls = t;
    pthread_mutex_unlock(&g->mu);
    return 0;
}

int cfs__backend_enter(cfs_export *exp, struct cfs__backend_ticket *t)
{
    (void)exp; /* every export lives on every node of the pool */
    return enter(t, 0);
}

int cfs__backend_try_enter(cfs_export *exp, struct cfs__backend_ticket *t)
{
    (void)exp;
    return enter(t, CFS__POOL_NOWAIT);
}

void cfs__backend_set_inline(bool on)
{
    atomic_store(&B.inline_calls, on);
}

bool cfs__backend_inline_allowed(void)
{
    return atomic_load_explicit(&B.inline_calls, memory_order_relaxed);
}

void cfs__backend_leave(struct cfs__backend_ticket *t, int result)
{
    struct gen *g = t->gen;
    bool expired;

    if (!g)
        return;
    pthread_mutex_lock(&g->mu);
    if (t->prev)
        t->prev->next = t->next;
    else
        g->calls = t->next;
    if (t->next)
        t->next->prev = t->prev;
    expired = t->expired;
    pthread_mutex_unlock(&g->mu);
    /* a call that took longer than allowed is a failure for the breaker whatever it
     * returned (a slow node is an unwell node); the caller still gets its result */
    if (!expired && cfs__clock_ms() - t->start_ms >= atomic_load(&B.op_timeout_ms))
        result = CFS_ETIMEDOUT;
    cfs__pool_release(t->conn, result);
    t->gen = NULL;
    t->conn = NULL;
    gen_put(g);
}

bool cfs__backend_rejecting(cfs_export *exp)
{
    bool reject = true;
    uint64_t now;

    (void)exp;
    pthread_rwlock_rdlock(&B.cur_lock);
    if (!B.cur) {
        pthread_rwlock_unlock(&B.cur_lock);
        return false;
    }
    now = cfs__clock_ms();
    for (size_t i = 0; reject && i < B.cur->nnodes; i++) {
        struct cfs__breaker_stats st;
        uint64_t open_ms = B.cur->pconf.breaker.open_duration_ms ?
                           B.cur->pconf.breaker.open_duration_ms : 5000;

        cfs__breaker_stats(cfs__pool_node_breaker(B.cur->pool, i), &st);
        /* open and not yet due for a half-open probe */
        reject = st.state == CFS__BREAKER_OPEN && now - st.opened_at_ms < open_ms;
    }
    pthread_rwlock_unlock(&B.cur_lock);
    return reject;
}

void cfs__backend_watchdog_run(void)
{
    uint64_t now = cfs__clock_ms(), limit = atomic_load(&B.op_timeout_ms);

    pthread_mutex_lock(&B.gens_mu);
    for (struct gen *g = B.gens; g; g = g->next) {
        pthread_mutex_lock(&g->mu);
        for (struct cfs__backend_ticket *t = g->calls; t; t = t->next) {
            if (t->expired || now - t->start_ms < limit)
                continue;
            t->expired = true;
            cfs__pool_conn_expire(t->conn);
            CFS_LOG_W(TAG, "node %s: a call has run for %" PRIu64 " ms (op_timeout_ms %" PRIu64
                      "): counted as a timeout", g->nodes[cfs__pool_conn_node(t->conn)],
                      now - t->start_ms, limit);
        }
        pthread_mutex_unlock(&g->mu);
    }
    pthread_mutex_unlock(&B.gens_mu);
}

static void *wd_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&B.wd_mu);
    while (!B.wd_stop) {
        uint64_t period = atomic_load(&B.op_timeout_ms) / 4;

        period = period < 10 ? 10 : period > 1000 ? 1000 : period;
        (void)cfs__clock_cond_wait(&B.wd_cond, &B.wd_mu, cfs__clock_ms() + period);
        if (B.wd_stop)
            break;
        pthread_mutex_unlock(&B.wd_mu);
        cfs__backend_watchdog_run();
        pthread_mutex_lock(&B.wd_mu);
    }
    pthread_mutex_unlock(&B.wd_mu);
    return NULL;
}

static int wd_start(void)
{
    int rc;

    if (B.wd_running)
        return 0;
    if (cfs__clock_cond_init(&B.wd_cond) != 0)
        return -ENOMEM;
    B.wd_stop = false;
    rc = -pthread_create(&B.wd, NULL, wd_main, NULL);
    if (rc < 0) {
        pthread_cond_destroy(&B.wd_cond);
        return rc;
    }
    B.wd_running = true;
    return 0;
}

static void wd_stop(void)
{
    if (!B.wd_running)
        return;
    pthread_mutex_lock(&B.wd_mu);
    B.wd_stop = true;
    pthread_cond_broadcast(&B.wd_cond);
    pthread_mutex_unlock(&B.wd_mu);
    pthread_join(B.wd, NULL);
    pthread_cond_destroy(&B.wd_cond);
    B.wd_running = false;
}

struct cfs__pool *cfs__backend_pool(void)
{
    struct cfs__pool *p;

    pthread_rwlock_rdlock(&B.cur_lock);
    p = B.cur ? B.cur->pool : NULL;
    pthread_rwlock_unlock(&B.cur_lock);
    return p;
}

uint64_t cfs__backend_op_timeout_ms(void)
{
    return atomic_load(&B.op_timeout_ms);
}

/* Health checks on g's pool (the previous ones stopped first). */
static void health_restart(struct gen *g, const struct cfs__backend_health_conf *hc)
{
    int rc;

    if (B.health_on)
        cfs__backend_health_stop();
    B.health_on = false;
    rc = cfs__backend_health_start(g->pool, hc);
    if (rc != 0) {
        CFS_LOG_E(TAG, "health checks: %s", strerror(-rc));
        return;
    }
    B.health_on = true;
    /* /ready answers from the first probes: wait for them (at most timeout_ms) */
    cfs__backend_health_probe_now();
}

static int setup_pool(const struct cfs__config *c)
{
    const char *nodes[64];
    size_t n;
    struct cfs__pool_conf pc;
    struct cfs__backend_health_conf hc = {
        .interval_ms = (uint64_t)c->core.health_interval_ms,
        .timeout_ms = (uint64_t)c->core.health_timeout_ms,
    };
    struct gen *g, *old;
    int rc;

    conf_nodes(c, nodes, &n, sizeof(nodes) / sizeof(nodes[0]));
    conf_pool(c, &pc);
    atomic_store(&B.op_timeout_ms, (uint64_t)(c->core.op_timeout_ms > 0 ? c->core.op_timeout_ms : 30000));
    atomic_store(&B.inline_calls, c->core.inline_calls);
    old = B.cur;
    if (old && same_nodes(old, nodes, n)) {
        /* limits and breaker settings in place: no call is dropped, breaker state kept */
        cfs__pool_set_conf(old->pool, &pc);
        pthread_rwlock_wrlock(&B.cur_lock);
        old->pconf = pc;
        pthread_rwlock_unlock(&B.cur_lock);
        if (B.health_on)
            cfs__backend_health_set_conf(&hc);
        else
            health_restart(old, &hc);
        return 0;
    }
    rc = gen_new(nodes, n, &pc, &g);
    if (rc != 0)
        return rc;
    /* the health checker points at the pool: stop it before the old pool can go */
    if (B.health_on) {
        cfs__backend_health_stop();
        B.health_on = false;
    }
    pthread_rwlock_wrlock(&B.cur_lock);
    B.cur = g;
    pthread_rwlock_unlock(&B.cur_lock);
    health_restart(g, &hc);
    if (old) {
        CFS_LOG_N(TAG, "backend nodes changed: new pool; the old one drains its calls");
        gen_put(old); /* freed by its last call */
    }
    rc = wd_start();
    if (rc != 0)
        CFS_LOG_E(TAG, "watchdog: %s", strerror(-rc));
    return 0;
}

/* ==== locks ============================================================================ */

static void lock_timer_start(void *arg)
{
    (void)arg;
    if (!B.lock_timer)
        B.lock_timer = cfs__timer_add(cfs__loop_current(), 500, true, cfs__locks_timer_fn, NULL);
}

static void lock_timer_stop(void *arg)
{
    (void)arg;
    if (B.lock_timer && cfs__loop_current() == cfs__loop_get(0)) {
        cfs__timer_del(B.lock_timer);
        B.lock_timer = NULL;
    }
}

static int setup_locks(void)
{
    int rc;

    if (B.locks_on)
        return 0;
    rc = cfs__locks_init(NULL);
    if (rc != 0)
        return rc;
    cfs__host_api_mut()->locks = cfs__locks_api();
    cfs__vfs_set_locks(cfs__locks_api());
    B.locks_on = true;
    if (cfs__loop_count() > 0 && cfs__loop_post(cfs__loop_get(0), lock_timer_start, NULL) != 0)
        CFS_LOG_W(TAG, "locks: cannot start the lease-break timer");
    return 0;
}

/* ==== lifecycle ======================================================================== */

int cfs__backend_setup(const struct cfs__config *c)
{
    char err[512] = "";
    struct qrule *rules = NULL;
    size_t nrules = 0;
    int rc;

    /* users: refused with file:line (validate-config and reload checked them first) */
    rc = cfs__identity_load(c->users, err, sizeof(err));
    if (rc != 0) {
        CFS_LOG_E(TAG, "%s", err[0] ? err : "users: invalid");
        return rc;
    }
    if (parse_quotas(c, &rules, &nrules) != 0)
        return -EINVAL;
    rc = setup_pool(c);
    if (rc != 0) {
        rules_free(rules, nrules);
        return rc;
    }
    apply_quotas(c, rules, nrules);
    rc = setup_locks();
    if (rc != 0)
        CFS_LOG_E(TAG, "lock manager: %s", strerror(-rc));
    B.set_up = true;
    return rc;
}

void cfs__backend_stop(void)
{
    /* posted after lock_timer_start (loop 0 runs posts in order): never misses it */
    if (B.locks_on && cfs__loop_count() > 0 && !cfs__loop_current())
        cfs__loop_post_all_wait(lock_timer_stop, NULL);
}

void cfs__backend_teardown(void)
{
    struct gen *g;

    if (B.health_on)
        cfs__backend_health_stop();
    B.health_on = false;
    wd_stop();
    pthread_rwlock_wrlock(&B.cur_lock);
    g = B.cur;
    B.cur = NULL;
    pthread_rwlock_unlock(&B.cur_lock);
    if (g)
        gen_put(g);
    if (B.locks_on) {
        cfs__vfs_set_locks(NULL);
        cfs__host_api_mut()->locks = NULL;
        cfs__locks_shutdown();
        B.locks_on = false;
    }
    B.lock_timer = NULL; /* deleted by cfs__backend_stop() while the loops ran */
    for (size_t i = 0; i < B.nrules; i++)
        (void)cfs__quota_set(B.rules[i].export_id, B.rules[i].kind, B.rules[i].id, NULL);
    rules_free(B.rules, B.nrules);
    B.rules = NULL;
    B.nrules = 0;
    if (B.set_up) {
        cfs__quota_reset();
        cfs__identity_clear();
    }
    B.set_up = false;
}
