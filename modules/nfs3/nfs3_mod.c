/*
 * modules/nfs3/nfs3_mod.c - mod_nfs3: the module descriptor, the "nfs3" configuration
 * group, the lifecycle (init, configure, start, reload, drain, stop, fini), per-procedure
 * metrics and health. The protocol work lives in nfs3_conn.c, nfs3_proc.c and mount.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nfs3_srv.h"

#define NFS3_MIN_IO 4096
#define NFS3_MAX_IO (4 << 20)
#define NFS3_DRC_TTL_MS 120000u

static const struct cfs_directive nfs3_directives[] = {
    {"enabled", CFS_CONF_BOOL, "false", offsetof(struct nfs3_conf, enabled), NULL,
     "serve NFSv3 and MOUNTv3", NULL},
    {"bind", CFS_CONF_STRING, ":2049", offsetof(struct nfs3_conf, bind), NULL,
     "address of the NFS service (MOUNT is served there too)", NULL},
    {"mount_bind", CFS_CONF_STRING, ":20048", offsetof(struct nfs3_conf, mount_bind), NULL,
     "address of the MOUNT service; \"\" = only on the NFS port", NULL},
    {"udp", CFS_CONF_BOOL, "false", offsetof(struct nfs3_conf, udp), NULL,
     "also serve over UDP on the same addresses", NULL},
    {"max_record", CFS_CONF_INT, "1114112", offsetof(struct nfs3_conf, max_record), NULL,
     "largest RPC record accepted (bytes); larger ones close the connection", NULL},
    {"max_io", CFS_CONF_INT, "1048576", offsetof(struct nfs3_conf, max_io), NULL,
     "rtmax/wtmax announced by FSINFO (bytes)", NULL},
    {"sendfile", CFS_CONF_BOOL, "false", offsetof(struct nfs3_conf, sendfile), NULL,
     "send READ data that is in the page cache with sendfile instead of a copy", NULL},
    {"max_inflight", CFS_CONF_INT, "64", offsetof(struct nfs3_conf, max_inflight), NULL,
     "requests in progress per connection before reading pauses", NULL},
    {"drc_entries", CFS_CONF_INT, "8192", offsetof(struct nfs3_conf, drc_entries), NULL,
     "replies kept by the duplicate request cache (0 = off)", NULL},
    {"rpcbind", CFS_CONF_BOOL, "true", offsetof(struct nfs3_conf, rpcbind), NULL,
     "register with a local rpcbind when one is running", NULL},
    {"nlm", CFS_CONF_BOOL, "true", offsetof(struct nfs3_conf, nlm), NULL,
     "serve NLM4 byte-range locks and NSM on the NFS port", NULL},
    {"nlm_grace_ms", CFS_CONF_INT, "15000", offsetof(struct nfs3_conf, nlm_grace_ms), NULL,
     "after a restart with lock holders, only reclaims are granted this long", NULL},
    {"nlm_block_ms", CFS_CONF_INT, "120000", offsetof(struct nfs3_conf, nlm_block_ms), NULL,
     "a blocked LOCK the client stops re-sending is forgotten after this long", NULL},
    {"nlm_callback_rpcbind_port", CFS_CONF_INT, "111",
     offsetof(struct nfs3_conf, nlm_callback_rpcbind_port), NULL,
     "port of the client's rpcbind, asked for its NLM port before a GRANTED callback", NULL},
    CFS_DIRECTIVES_END,
};

static uint64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- metrics ---- */

static const double lat_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                     0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};

static const char *metric_label(int i)
{
    static const char *const mnt[MNT3_NPROCS] = {"MNT_NULL", "MNT_MNT", "MNT_DUMP",
                                                 "MNT_UMNT", "MNT_UMNTALL", "MNT_EXPORT"};
    static const char *const nlm[NLM4_NPROCS] = {
        [NLM4_NULL] = "NLM_NULL", [NLM4_TEST] = "NLM_TEST", [NLM4_LOCK] = "NLM_LOCK",
        [NLM4_CANCEL] = "NLM_CANCEL", [NLM4_UNLOCK] = "NLM_UNLOCK",
        [NLM4_TEST_MSG] = "NLM_TEST_MSG", [NLM4_LOCK_MSG] = "NLM_LOCK_MSG",
        [NLM4_CANCEL_MSG] = "NLM_CANCEL_MSG", [NLM4_UNLOCK_MSG] = "NLM_UNLOCK_MSG",
        [NLM4_SHARE] = "NLM_SHARE", [NLM4_UNSHARE] = "NLM_UNSHARE",
        [NLM4_NM_LOCK] = "NLM_NM_LOCK", [NLM4_FREE_ALL] = "NLM_FREE_ALL"};
    static const char *const nsm[NSM_NPROCS] = {"NSM_NULL", "NSM_STAT", "NSM_MON",
                                                "NSM_UNMON", "NSM_UNMON_ALL",
                                                "NSM_SIMU_CRASH", "NSM_NOTIFY"};

    if (i < NFS3_NPROCS)
        return nfs3_proc_name((uint32_t)i);
    if (i < NFS3_M_NLM)
        return mnt[i - NFS3_NPROCS];
    if (i < NFS3_M_NSM)
        return nlm[i - NFS3_M_NLM];
    return nsm[i - NFS3_M_NSM];
}

static void metrics_init(struct nfs3_srv *s)
{
    const struct cfs_host_api *api = s->api;
    static const char *const proc_label[] = {"proc", NULL};
    struct cfs_metric_desc d = {.size = sizeof(d), .labels = proc_label};
    cfs_metric *ops, *errs, *lat, *rb, *wb;

    if (!api->metric_register || !api->metric_series)
        return;
    d.type = CFS_METRIC_COUNTER;
    d.name = "cfs_nfs3_requests_total";
    d.help = "NFSv3 and MOUNT calls answered, per procedure.";
    ops = api->metric_register(&d);
    d.name = "cfs_nfs3_request_errors_total";
    d.help = "NFSv3 and MOUNT calls answered with an error status, per procedure.";
    errs = api->metric_register(&d);
    d.type = CFS_METRIC_HISTOGRAM;
    d.name = "cfs_nfs3_request_duration_seconds";
    d.help = "Time from a call's arrival to its reply, per procedure.";
    d.buckets = lat_buckets;
    d.nbuckets = sizeof(lat_buckets) / sizeof(lat_buckets[0]);
    lat = api->metric_register(&d);
    d.type = CFS_METRIC_COUNTER;
    d.labels = NULL;
    d.buckets = NULL;
    d.nbuckets = 0;
    d.name = "cfs_nfs3_read_bytes_total";
    d.help = "Bytes returned by NFSv3 READ.";
    rb = api->metric_register(&d);
    d.name = "cfs_nfs3_written_bytes_total";
    d.help = "Bytes accepted by NFSv3 WRITE.";
    wb = api->metric_register(&d);
    for (int i = 0; i < NFS3_NMETRIC; i++) {
        const char *v[] = {metric_label(i), NULL};

        if (v[0] == NULL)
            continue; /* an NLM procedure we do not serve */

        s->m_ops[i] = ops ? api->metric_series(ops, v) : NULL;
        s->m_err[i] = errs ? api->metric_series(errs, v) : NULL;
        s->m_lat[i] = lat ? api->metric_series(lat, v) : NULL;
    }
    s->m_rbytes = rb ? api->metric_series(rb, NULL) : NULL;
    s->m_wbytes = wb ? api->metric_series(wb, NULL) : NULL;
}

void nfs3_metrics_done(struct nfs3_req *r)
{
    struct nfs3_srv *s = r->conn->srv;
    int i = r->metric;

    if (i < 0 || i >= NFS3_NMETRIC)
        return;
    if (s->m_ops[i])
        s->api->counter_add(s->m_ops[i], 1);
    if (r->status != 0 && s->m_err[i])
        s->api->counter_add(s->m_err[i], 1);
    if (s->m_lat[i])
        s->api->histogram_observe(s->m_lat[i], (double)(now_us() - r->t0_us) / 1e6);
}

uint64_t nfs3_now_us(void)
{
    return now_us();
}

/* ---- lifecycle ---- */

static int nfs3_init(const struct cfs_host_api *api, void **state)
{
    struct nfs3_srv *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return CFS_ENOMEM;
    s->magic = NFS3_SRV_MAGIC;
    s->api = api;
    pthread_mutex_init(&s->mnt_mu, NULL);
    pthread_mutex_init(&s->nlm_mu, NULL);
    metrics_init(s);
    *state = s;
    return 0;
}

static void free_conf(struct nfs3_srv *s, struct nfs3_conf *c)
{
    if (c == NULL)
        return;
    if (s->api->conf_free)
        s->api->conf_free(nfs3_directives, c);
    free(c);
}

static int nfs3_configure(void *state, const struct cfs_conf_node *section, void **out,
                          char *err, size_t errlen)
{
    struct nfs3_srv *s = state;
    struct nfs3_conf *c = calloc(1, sizeof(*c));
    int rc;

    if (c == NULL)
        return CFS_ENOMEM;
    rc = s->api->conf_apply(section, nfs3_directives, c, err, errlen);
    if (rc < 0)
        goto fail;
    rc = CFS_EINVAL;
    if (c->bind == NULL || c->bind[0] == '\0') {
        snprintf(err, errlen, "nfs3.bind: expected \"host:port\", found nothing");
        goto fail;
    }
    if (c->max_io < NFS3_MIN_IO || c->max_io > NFS3_MAX_IO || (c->max_io & 4095) != 0) {
        snprintf(err, errlen, "nfs3.max_io: expected a multiple of 4096 in [%d, %d], found %lld",
                 NFS3_MIN_IO, NFS3_MAX_IO, (long long)c->max_io);
        goto fail;
    }
    if (c->max_record < c->max_io + 4096 || c->max_record > (1ll << 30)) {
        snprintf(err, errlen,
                 "nfs3.max_record: expected at least max_io + 4096 (%lld) and at most 1 GiB, "
                 "found %lld", (long long)(c->max_io + 4096), (long long)c->max_record);
        goto fail;
    }
    if (c->max_inflight < 1 || c->max_inflight > 4096) {
        snprintf(err, errlen, "nfs3.max_inflight: expected 1..4096, found %lld",
                 (long long)c->max_inflight);
        goto fail;
    }
    if (c->drc_entries < 0 || c->drc_entries > (1 << 22)) {
        snprintf(err, errlen, "nfs3.drc_entries: expected 0..4194304, found %lld",
                 (long long)c->drc_entries);
        goto fail;
    }
    if (c->nlm_block_ms < 1000 || c->nlm_block_ms > 86400000) {
        snprintf(err, errlen, "nfs3.nlm_block_ms: expected 1000..86400000, found %lld",
                 (long long)c->nlm_block_ms);
        goto fail;
    }
    if (c->nlm_callback_rpcbind_port < 1 || c->nlm_callback_rpcbind_port > 65535) {
        snprintf(err, errlen, "nfs3.nlm_callback_rpcbind_port: expected 1..65535, found %lld",
                 (long long)c->nlm_callback_rpcbind_port);
        goto fail;
    }
    *out = c;
    return 0;
fail:
    free_conf(s, c);
    return rc;
}

static void nfs3_conf_free(void *state, void *conf)
{
    struct nfs3_srv *s = state;
    struct nfs3_conf *c = conf;

    if (c == NULL)
        return;
    /* A loop may still be reading a configuration that was current a moment ago. */
    if (s->loop_conns != NULL) {
        c->retired_next = s->retired;
        s->retired = c;
        return;
    }
    free_conf(s, c);
}

static bool same_addr(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* Open the listeners `c` asks for that `old` does not already have. */
static int open_listeners(struct nfs3_srv *s, const struct nfs3_conf *c,
                          const struct nfs3_conf *old)
{
    const struct cfs_host_api *api = s->api;
    char err[256] = "";
    cfs_listener *l;

    if (!old || !same_addr(old->bind, c->bind)) {
        l = api->listen("nfs3", c->bind, CFS_LISTEN_TCP, nfs3_on_accept, s, err, sizeof(err));
        if (l == NULL)
            goto fail;
        if (s->l_nfs)
            api->listener_close(s->l_nfs);
        s->l_nfs = l;
        s->nfs_port = api->listener_port(l);
    }
    if (!old || !same_addr(old->mount_bind, c->mount_bind)) {
        l = NULL;
        if (c->mount_bind && c->mount_bind[0] && !same_addr(c->mount_bind, c->bind)) {
            l = api->listen("nfs3", c->mount_bind, CFS_LISTEN_TCP, nfs3_on_accept, s, err,
                            sizeof(err));
            if (l == NULL)
                goto fail;
        }
        if (s->l_mnt)
            api->listener_close(s->l_mnt);
        s->l_mnt = l;
        s->mnt_port = l ? api->listener_port(l) : 0;
    }
    if (!old || old->udp != c->udp || !same_addr(old->bind, c->bind) ||
        !same_addr(old->mount_bind, c->mount_bind)) {
        if (s->u_nfs)
            api->listener_close(s->u_nfs);
        if (s->u_mnt)
            api->listener_close(s->u_mnt);
        s->u_nfs = s->u_mnt = NULL;
        if (c->udp) {
            s->u_nfs = api->listen("nfs3", c->bind, CFS_LISTEN_UDP, nfs3_on_udp, s, err,
                                   sizeof(err));
            if (s->u_nfs == NULL)
                goto fail;
            if (s->l_mnt) {
                s->u_mnt = api->listen("nfs3", c->mount_bind, CFS_LISTEN_UDP, nfs3_on_udp, s,
                                       err, sizeof(err));
                if (s->u_mnt == NULL)
                    goto fail;
            }
        }
    }
    return 0;
fail:
    api->log(CFS_LOG_ERROR, NFS3_TAG, "listen: %s", err[0] ? err : "failed");
    return -EADDRNOTAVAIL;
}

/* TCP listeners only (tcp_only), or all; UDP sockets go after their readers stopped. */
static void close_listeners(struct nfs3_srv *s, bool tcp_only)
{
    cfs_listener **ls[] = {&s->l_nfs, &s->l_mnt, &s->u_nfs, &s->u_mnt};

    for (size_t i = 0; i < (tcp_only ? 2u : sizeof(ls) / sizeof(ls[0])); i++) {
        if (*ls[i])
            s->api->listener_close(*ls[i]);
        *ls[i] = NULL;
    }
}

static int nfs3_start(void *state, void *conf)
{
    struct nfs3_srv *s = state;
    struct nfs3_conf *c = conf;
    int rc;

    s->vfs = s->api->vfs;
    if (s->vfs == NULL) {
        s->api->log(CFS_LOG_ERROR, NFS3_TAG, "no namespace: configure exports first");
        return CFS_EINVAL;
    }
    atomic_store(&s->draining, false);
    atomic_store_explicit(&s->conf, c, memory_order_release);
    s->nloops = s->api->loop_count ? s->api->loop_count() : 1;
    if (s->nloops < 1)
        s->nloops = 1;
    s->loop_conns = calloc((size_t)s->nloops, sizeof(*s->loop_conns));
    if (s->loop_conns == NULL)
        return CFS_ENOMEM;
    if (c->drc_entries > 0) {
        s->drc = cfs_rpc_drc_new((size_t)c->drc_entries, NFS3_DRC_TTL_MS);
        if (s->drc == NULL) {
            rc = CFS_ENOMEM;
            goto fail;
        }
    }
    nlm_start(s, c); /* the grace period is known before the first call */
    rc = open_listeners(s, c, NULL);
    if (rc < 0)
        goto fail;
    nlm_grant_start(s);
    nfs3_rpcbind_register(s, true);
    s->api->log(CFS_LOG_NOTICE, NFS3_TAG, "NFSv3 on %s (port %d), MOUNT on port %d%s",
                c->bind, s->nfs_port, s->l_mnt ? s->mnt_port : s->nfs_port,
                c->udp ? ", TCP and UDP" : "");
    return 0;
fail:
    close_listeners(s, false);
    cfs_rpc_drc_free(s->drc);
    s->drc = NULL;
    free(s->loop_conns);
    s->loop_conns = NULL;
    atomic_store(&s->conf, NULL);
    return rc;
}

static int nfs3_reload(void *state, void *new_conf)
{
    struct nfs3_srv *s = state;
    struct nfs3_conf *c = new_conf;
    struct nfs3_conf *old = atomic_load(&s->conf);
    int rc;

    if (old == NULL)
        return CFS_ENOTSUP;
    /* The UDP sockets are read by a loop: moving them is a restart of the instance. */
    if ((old->udp || c->udp) && (old->udp != c->udp || !same_addr(old->bind, c->bind) ||
                                 !same_addr(old->mount_bind, c->mount_bind)))
        return CFS_ENOTSUP;
    rc = open_listeners(s, c, old);
    if (rc < 0)
        return rc;
    atomic_store_explicit(&s->conf, c, memory_order_release);
    if (!same_addr(old->bind, c->bind) || !same_addr(old->mount_bind, c->mount_bind) ||
        old->udp != c->udp || old->rpcbind != c->rpcbind)
        nfs3_rpcbind_register(s, true);
    s->api->log(CFS_LOG_INFO, NFS3_TAG, "reloaded (bind %s)", c->bind);
    return 0;
}

static int nfs3_drain(void *state, uint64_t deadline_ms)
{
    struct nfs3_srv *s = state;

    (void)deadline_ms;
    if (!atomic_exchange(&s->draining, true))
        close_listeners(s, true);
    /* Busy while calls are in progress; idle connections are closed by stop. */
    return atomic_load(&s->live_reqs);
}

static void nfs3_stop(void *state)
{
    struct nfs3_srv *s = state;
    int n = s->nloops;

    atomic_store(&s->draining, true);
    close_listeners(s, true);
    nlm_grant_stop(s);
    if (atomic_load(&s->conf))
        nfs3_rpcbind_register(s, false);
    if (s->loop_conns == NULL) {
        close_listeners(s, false);
        return;
    }
    /* Each loop closes its own connections; wait for every posted call to have run. */
    for (int i = 0; i < n && atomic_load(&s->live_conns) > 0; i++) {
        cfs_loop *l = s->api->loop_get ? s->api->loop_get(i) : NULL;

        atomic_fetch_add(&s->posts_pending, 1);
        if (l == NULL || s->api->loop_post(l, nfs3_close_loop_conns, s) != 0)
            atomic_fetch_sub(&s->posts_pending, 1);
    }
    for (int t = 0; t < 500 && (atomic_load(&s->live_conns) > 0 ||
                                atomic_load(&s->posts_pending) > 0); t++)
        usleep(10000);
    if (atomic_load(&s->live_conns) > 0 || atomic_load(&s->posts_pending) > 0) {
        s->api->log(CFS_LOG_WARN, NFS3_TAG, "%d connection(s) still busy at stop",
                    atomic_load(&s->live_conns));
        return; /* keep their state: a late completion must find it */
    }
    close_listeners(s, false);
    cfs_rpc_drc_free(s->drc);
    s->drc = NULL;
    free(s->loop_conns);
    s->loop_conns = NULL;
}

static void nfs3_fini(void *state)
{
    struct nfs3_srv *s = state;

    while (s->retired) {
        struct nfs3_conf *c = s->retired;

        s->retired = c->retired_next;
        free_conf(s, c);
    }
    mnt3_list_free(s);
    nlm_fini(s);
    if (s->loop_conns == NULL) {
        pthread_mutex_destroy(&s->mnt_mu);
        pthread_mutex_destroy(&s->nlm_mu);
        free(s);
    }
}

static int nfs3_health(void *state, char *detail, size_t len)
{
    struct nfs3_srv *s = state;

    snprintf(detail, len, "%d connection(s), nfs port %d, mount port %d",
             atomic_load(&s->live_conns), s->nfs_port, s->l_mnt ? s->mnt_port : s->nfs_port);
    return atomic_load(&s->draining) ? CFS_HEALTH_DEGRADED : CFS_HEALTH_OK;
}

static int nfs3_dump(void *state, char *buf, size_t len)
{
    struct nfs3_srv *s = state;
    const struct nfs3_conf *c = atomic_load(&s->conf);
    size_t nm;

    pthread_mutex_lock(&s->mnt_mu);
    nm = s->nmounts;
    pthread_mutex_unlock(&s->mnt_mu);
    return snprintf(buf, len,
                    "nfs3: bind=%s mount_bind=%s udp=%d max_io=%lld max_record=%lld "
                    "connections=%d mounts=%zu drc=%zu\n",
                    c ? c->bind : "-", c ? c->mount_bind : "-", c ? c->udp : 0,
                    c ? (long long)c->max_io : 0, c ? (long long)c->max_record : 0,
                    atomic_load(&s->live_conns), nm, s->drc ? cfs_rpc_drc_size(s->drc) : 0);
}

static const struct cfs_module_ops nfs3_ops = {
    .size = sizeof(struct cfs_module_ops),
    .init = nfs3_init,
    .configure = nfs3_configure,
    .conf_free = nfs3_conf_free,
    .start = nfs3_start,
    .reload = nfs3_reload,
    .drain = nfs3_drain,
    .stop = nfs3_stop,
    .fini = nfs3_fini,
    .health = nfs3_health,
    .dump = nfs3_dump,
};

CFS_MODULE_EXPORT const struct cfs_module cfs_module = {
    CFS_MODULE_HEADER,
    .name = "nfs3",
    .version = "0.1.0",
    .description = "NFSv3 and MOUNTv3 over ONC RPC (RFC 1813, RFC 5531)",
    .flags = 0,
    .ops = &nfs3_ops,
    .directives = nfs3_directives,
};
