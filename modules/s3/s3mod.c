/*
 * modules/s3/s3mod.c - mod_s3's module descriptor and lifecycle: the "s3" config group,
 * metrics, the root credentials (CFS_ACCESS_KEY/CFS_SECRET_KEY, or a generated pair kept
 * 0600 in the state directory, as MinIO does), the listener, the abandoned-upload
 * collector, drain and stop.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "s3.h"

static const struct cfs_directive s3_directives[] = {
    {"enabled", CFS_CONF_BOOL, "false", offsetof(struct s3_conf, enabled), NULL,
     "serve the S3 REST API", NULL},
    {"bind", CFS_CONF_STRING, ":9000", offsetof(struct s3_conf, bind), NULL,
     "address of the S3 endpoint", NULL},
    {"region", CFS_CONF_STRING, "us-east-1", offsetof(struct s3_conf, region), NULL,
     "the region answered by GetBucketLocation and HeadBucket", NULL},
    {"enable_versioning", CFS_CONF_BOOL, "false", offsetof(struct s3_conf, enable_versioning),
     NULL, "versioning status of new buckets", NULL},
    {"export", CFS_CONF_STRING, "", offsetof(struct s3_conf, export_name), NULL,
     "core export whose root holds the buckets (default: the first export)", NULL},
    {"domain", CFS_CONF_STRING, "", offsetof(struct s3_conf, domain), NULL,
     "virtual-hosted-style domain: <bucket>.<domain> addresses a bucket", NULL},
    {"tls_cert", CFS_CONF_STRING, "", offsetof(struct s3_conf, tls_cert), NULL,
     "PEM certificate chain for HTTPS (empty = plain HTTP)", NULL},
    {"tls_key", CFS_CONF_STRING, "", offsetof(struct s3_conf, tls_key), NULL,
     "PEM private key for HTTPS", NULL},
    {"max_header_bytes", CFS_CONF_INT, "32768", offsetof(struct s3_conf, max_header_bytes), NULL,
     "largest request header section (bytes)", NULL},
    {"multipart_max_age", CFS_CONF_INT, "604800", offsetof(struct s3_conf, multipart_max_age),
     NULL, "seconds after which an abandoned multipart upload is removed", NULL},
    {"uid", CFS_CONF_INT, "-1", offsetof(struct s3_conf, uid), NULL,
     "uid S3 users act as in the namespace (-1 = owner of the export root)", NULL},
    {"gid", CFS_CONF_INT, "-1", offsetof(struct s3_conf, gid), NULL,
     "gid S3 users act as in the namespace (-1 = group of the export root)", NULL},
    {"max_connections", CFS_CONF_INT, "4096", offsetof(struct s3_conf, max_connections), NULL,
     "connections beyond this are refused with 503 SlowDown", NULL},
    {"header_timeout_ms", CFS_CONF_INT, "30000", offsetof(struct s3_conf, header_timeout_ms), NULL,
     "a request's header section must arrive within this time (ms); else 400 RequestTimeout",
     NULL},
    CFS_DIRECTIVES_END,
};

static const char *const op_names[S3OP__COUNT] = {
    [S3OP_UNKNOWN] = "Unknown",
    [S3OP_ListBuckets] = "ListBuckets",
    [S3OP_CreateBucket] = "CreateBucket",
    [S3OP_DeleteBucket] = "DeleteBucket",
    [S3OP_HeadBucket] = "HeadBucket",
    [S3OP_GetBucketLocation] = "GetBucketLocation",
    [S3OP_GetBucketVersioning] = "GetBucketVersioning",
    [S3OP_PutBucketVersioning] = "PutBucketVersioning",
    [S3OP_ListObjects] = "ListObjects",
    [S3OP_ListObjectsV2] = "ListObjectsV2",
    [S3OP_ListObjectVersions] = "ListObjectVersions",
    [S3OP_DeleteObjects] = "DeleteObjects",
    [S3OP_PutObject] = "PutObject",
    [S3OP_CopyObject] = "CopyObject",
    [S3OP_GetObject] = "GetObject",
    [S3OP_HeadObject] = "HeadObject",
    [S3OP_DeleteObject] = "DeleteObject",
    [S3OP_CreateMultipartUpload] = "CreateMultipartUpload",
    [S3OP_UploadPart] = "UploadPart",
    [S3OP_UploadPartCopy] = "UploadPartCopy",
    [S3OP_CompleteMultipartUpload] = "CompleteMultipartUpload",
    [S3OP_AbortMultipartUpload] = "AbortMultipartUpload",
    [S3OP_ListParts] = "ListParts",
    [S3OP_ListMultipartUploads] = "ListMultipartUploads",
    [S3OP_GetBucketAcl] = "GetBucketAcl",
    [S3OP_GetObjectAcl] = "GetObjectAcl",
    [S3OP_PutBucketAcl] = "PutBucketAcl",
    [S3OP_GetBucketPolicy] = "GetBucketPolicy",
    [S3OP_PutBucketPolicy] = "PutBucketPolicy",
    [S3OP_DeleteBucketPolicy] = "DeleteBucketPolicy",
};

const char *s3_op_name(enum s3_opid op)
{
    return (unsigned)op < S3OP__COUNT && op_names[op] ? op_names[op] : "Unknown";
}

/* ---- metrics ---- */

static void register_metrics(struct s3_server *s)
{
    static const char *const l_op_code[] = {"op", "code", NULL};
    static const char *const l_op[] = {"op", NULL};
    static const double lat[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                 0.25,   0.5,   1,      2.5,   5,    10,    30,    60};
    const struct cfs_host_api *api = s->api;
    struct cfs_metric_desc d = {.size = sizeof(d)};
    d.type = CFS_METRIC_COUNTER;
    d.name = "cfs_s3_requests_total";
    d.help = "S3 requests by operation and HTTP status class";
    d.labels = l_op_code;
    s->m.requests = api->metric_register(&d);
    d.name = "cfs_s3_errors_total";
    d.help = "S3 error responses by operation and S3 error code";
    s->m.errors = api->metric_register(&d);
    d.name = "cfs_s3_received_bytes_total";
    d.help = "request body bytes received by operation";
    d.labels = l_op;
    s->m.bytes_in = api->metric_register(&d);
    d.name = "cfs_s3_sent_bytes_total";
    d.help = "response body bytes sent by operation";
    s->m.bytes_out = api->metric_register(&d);
    d.type = CFS_METRIC_HISTOGRAM;
    d.name = "cfs_s3_request_duration_seconds";
    d.help = "S3 request latency from the end of the headers to the end of the response";
    d.buckets = lat;
    d.nbuckets = sizeof(lat) / sizeof(lat[0]);
    s->m.latency = api->metric_register(&d);
    d.type = CFS_METRIC_GAUGE;
    d.name = "cfs_s3_connections";
    d.help = "open S3 client connections";
    d.labels = NULL;
    d.buckets = NULL;
    d.nbuckets = 0;
    s->m.conns = api->metric_register(&d);
}

/* The series of family m for these labels, from *slot once looked up (series live until exit). */
static cfs_series *series_cached(struct s3_server *s, cfs_metric *m, _Atomic(cfs_series *) *slot,
                                 const char *const *lv)
{
    cfs_series *se = atomic_load_explicit(slot, memory_order_acquire);
    if (!se && (se = s->api->metric_series(m, lv)) != NULL)
        atomic_store_explicit(slot, se, memory_order_release);
    return se;
}

void s3_metrics_observe(struct s3_server *s, const struct s3_req *r, double seconds)
{
    const struct cfs_host_api *api = s->api;
    const char *op = s3_op_name(r->op);
    unsigned oi = (unsigned)r->op < S3OP__COUNT ? (unsigned)r->op : 0;
    char cls[8];
    int ci = r->status / 100 % 10;
    snprintf(cls, sizeof(cls), "%dxx", ci);
    if (s->m.requests) {
        const char *lv[] = {op, cls};
        cfs_series *se = ci < 6 ? series_cached(s, s->m.requests, &s->m.s_req[oi][ci], lv)
                                : api->metric_series(s->m.requests, lv);
        if (se)
            api->counter_add(se, 1);
    }
    if (r->err != S3E_OK && s->m.errors) {
        const char *lv[] = {op, s3_err_code(r->err)};
        cfs_series *se = api->metric_series(s->m.errors, lv);
        if (se)
            api->counter_add(se, 1);
    }
    const char *lo[] = {op};
    if (s->m.latency) {
        cfs_series *se = series_cached(s, s->m.latency, &s->m.s_lat[oi], lo);
        if (se)
            api->histogram_observe(se, seconds);
    }
    if (r->bytes_in && s->m.bytes_in) {
        cfs_series *se = series_cached(s, s->m.bytes_in, &s->m.s_in[oi], lo);
        if (se)
            api->counter_add(se, (double)r->bytes_in);
    }
    if (r->bytes_out && s->m.bytes_out) {
        cfs_series *se = series_cached(s, s->m.bytes_out, &s->m.s_out[oi], lo);
        if (se)
            api->counter_add(se, (double)r->bytes_out);
    }
}

/* ---- credentials ---- */

static bool key_ok(const char *k, size_t min)
{
    size_t n = strlen(k);
    if (n < min || n > 128)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)k[i] <= ' ' || (unsigned char)k[i] >= 0x7f)
            return false;
    return true;
}

static void random_key(char *out, size_t n, const char *alphabet)
{
    size_t al = strlen(alphabet);
    uint8_t r[128];
    if (RAND_bytes(r, (int)n) != 1) {
        /* RAND_bytes failing means no entropy source: refuse to invent a weak key */
        out[0] = '\0';
        return;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = alphabet[r[i] % al];
    out[n] = '\0';
}

static int load_credentials(struct s3_server *s)
{
    const struct cfs_host_api *api = s->api;
    const char *ak = getenv("CFS_ACCESS_KEY"), *sk = getenv("CFS_SECRET_KEY");
    if (ak && sk && *ak && *sk) {
        if (!key_ok(ak, 3) || !key_ok(sk, 8)) {
            api->log(CFS_LOG_ERROR, S3_TAG,
                     "CFS_ACCESS_KEY (3-128 chars) / CFS_SECRET_KEY (8-128 chars) invalid");
            return CFS_EINVAL;
        }
        snprintf(s->access_key, sizeof(s->access_key), "%s", ak);
        snprintf(s->secret_key, sizeof(s->secret_key), "%s", sk);
        api->log(CFS_LOG_NOTICE, S3_TAG, "root access key %s (from CFS_ACCESS_KEY)", ak);
        return 0;
    }
    const char *sd = api->state_dir ? api->state_dir() : NULL;
    char path[4096];
    if (!sd || !*sd)
        sd = ".";
    if (snprintf(path, sizeof(path), "%s/s3-root-credentials", sd) >= (int)sizeof(path))
        return CFS_EINVAL;
    FILE *f = fopen(path, "r");
    if (f) {
        char a[sizeof(s->access_key)] = "", b[sizeof(s->secret_key)] = "";
        bool ok = fgets(a, sizeof(a), f) && fgets(b, sizeof(b), f);
        fclose(f);
        a[strcspn(a, "\r\n")] = '\0';
        b[strcspn(b, "\r\n")] = '\0';
        if (!ok || !key_ok(a, 3) || !key_ok(b, 8)) {
            api->log(CFS_LOG_ERROR, S3_TAG, "%s: expected two lines (access key, secret key)",
                     path);
            return CFS_EINVAL;
        }
        snprintf(s->access_key, sizeof(s->access_key), "%s", a);
        snprintf(s->secret_key, sizeof(s->secret_key), "%s", b);
        api->log(CFS_LOG_NOTICE, S3_TAG, "root access key %s (from %s)", a, path);
        return 0;
    }
    random_key(s->access_key, 20, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
    random_key(s->secret_key, 40,
               "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
    if (!s->access_key[0] || !s->secret_key[0])
        return CFS_ESERVERFAULT;
    mkdir(sd, 0700);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        api->log(CFS_LOG_ERROR, S3_TAG, "%s: cannot create: %s", path, strerror(errno));
        return -errno;
    }
    char line[300];
    int n = snprintf(line, sizeof(line), "%s\n%s\n", s->access_key, s->secret_key);
    bool ok = write(fd, line, (size_t)n) == n && fsync(fd) == 0;
    close(fd);
    if (!ok) {
        unlink(path);
        return CFS_ESERVERFAULT;
    }
    /* printed once, as MinIO prints its root user */
    fprintf(stderr,
            "S3 root credentials (generated, kept in %s):\n"
            "  AccessKey: %s\n  SecretKey: %s\n",
            path, s->access_key, s->secret_key);
    api->log(CFS_LOG_NOTICE, S3_TAG, "generated root access key %s (stored in %s)",
             s->access_key, path);
    return 0;
}

/* ---- lifecycle ---- */

static int s3_init(const struct cfs_host_api *api, void **state)
{
    struct s3_server *s = calloc(1, sizeof(*s));
    if (!s)
        return CFS_ENOMEM;
    s->magic = S3_SERVER_MAGIC;
    s->api = api;
    pthread_mutex_init(&s->init_mu, NULL);
    register_metrics(s);
    *state = s;
    return 0;
}

static SSL_CTX *tls_ctx(const struct s3_conf *c, char *err, size_t errlen);

static int s3_configure(void *state, const struct cfs_conf_node *section, void **conf,
                        char *err, size_t errlen)
{
    struct s3_server *s = state;
    struct s3_conf *c = calloc(1, sizeof(*c));
    if (!c)
        return CFS_ENOMEM;
    int r = s->api->conf_apply(section, s3_directives, c, err, errlen);
    if (r < 0)
        goto bad;
    if (!c->region || !*c->region) {
        snprintf(err, errlen, "region: expected a region name, found an empty string");
        r = CFS_EINVAL;
        goto bad;
    }
    if (c->max_header_bytes < 1024 || c->max_header_bytes > (1 << 20)) {
        snprintf(err, errlen, "max_header_bytes: expected 1024..1048576, found %lld",
                 (long long)c->max_header_bytes);
        r = CFS_EINVAL;
        goto bad;
    }
    if (c->header_timeout_ms < 100 || c->header_timeout_ms > 3600000) {
        snprintf(err, errlen, "header_timeout_ms: expected 100..3600000, found %lld",
                 (long long)c->header_timeout_ms);
        r = CFS_EINVAL;
        goto bad;
    }
    if (c->multipart_max_age < 60) {
        snprintf(err, errlen, "multipart_max_age: expected >= 60 seconds, found %lld",
                 (long long)c->multipart_max_age);
        r = CFS_EINVAL;
        goto bad;
    }
    if ((c->tls_cert && *c->tls_cert) != (c->tls_key && *c->tls_key)) {
        snprintf(err, errlen, "tls_cert and tls_key: expected both or neither");
        r = CFS_EINVAL;
        goto bad;
    }
    if (c->tls_cert && *c->tls_cert) {
        /* read both files now so validate-config reports a bad path or key */
        SSL_CTX *ctx = tls_ctx(c, err, errlen);
        if (!ctx) {
            r = CFS_EINVAL;
            goto bad;
        }
        SSL_CTX_free(ctx);
    }
    if (c->max_connections < 1)
        c->max_connections = 1;
    *conf = c;
    return 0;
bad:
    s->api->conf_free(s3_directives, c);
    free(c);
    return r;
}

static SSL_CTX *tls_ctx(const struct s3_conf *c, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        snprintf(err, errlen, "tls: cannot create an SSL context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_use_certificate_chain_file(ctx, c->tls_cert) != 1) {
        snprintf(err, errlen, "tls_cert: %s: expected a PEM certificate chain", c->tls_cert);
        goto bad;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, c->tls_key, SSL_FILETYPE_PEM) != 1) {
        snprintf(err, errlen, "tls_key: %s: expected a PEM private key", c->tls_key);
        goto bad;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, errlen, "tls_key: %s: does not match the certificate in %s", c->tls_key,
                 c->tls_cert);
        goto bad;
    }
    return ctx;
bad:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

static void s3_conf_free(void *state, void *conf)
{
    struct s3_server *s = state;
    if (!conf)
        return;
    s->api->conf_free(s3_directives, conf);
    free(conf);
}

static cfs_export *pick_export(struct s3_server *s, const struct s3_conf *c)
{
    const struct cfs_vfs_api *v = s->api->vfs;
    if (c->export_name && *c->export_name)
        return v->export_find(c->export_name);
    if (!v->export_count || !v->export_get) {
        s->api->log(CFS_LOG_ERROR, S3_TAG, "this host cannot list its exports: set s3.export");
        return NULL;
    }
    return v->export_count() > 0 ? v->export_get(0) : NULL;
}

static void gc_work(void *arg)
{
    struct s3_server *s = arg;
    struct s3_conf *c = atomic_load(&s->conf);
    if (c)
        s3_gc(s, c->multipart_max_age);
}

static void gc_done(void *arg, int status)
{
    struct s3_server *s = arg;
    (void)status;
    atomic_store(&s->gc_running, false);
}

static void gc_tick(void *arg)
{
    struct s3_server *s = arg;
    if (atomic_exchange(&s->gc_running, true))
        return;
    cfs_loop *l = s->api->loop_current ? s->api->loop_current() : NULL;
    if (!l || s->api->work_submit(l, gc_work, gc_done, s) < 0)
        atomic_store(&s->gc_running, false);
}

static void gc_timer_del(void *arg)
{
    struct s3_server *s = arg;
    if (s->gc_timer)
        s->api->timer_del(s->gc_timer);
    s->gc_timer = NULL;
}

static int s3_start(void *state, void *conf)
{
    struct s3_server *s = state;
    struct s3_conf *c = conf;
    const struct cfs_host_api *api = s->api;
    char err[256] = "";
    int r;

    if (!api->vfs) {
        api->log(CFS_LOG_ERROR, S3_TAG, "no namespace: configure an export first");
        return CFS_EINVAL;
    }
    s->exp = pick_export(s, c);
    if (!s->exp) {
        api->log(CFS_LOG_ERROR, S3_TAG, "export \"%s\": no such export",
                 c->export_name && *c->export_name ? c->export_name : "(first)");
        return CFS_EINVAL;
    }
    if ((r = api->vfs->export_root(s->exp, &s->root)) < 0) {
        api->log(CFS_LOG_ERROR, S3_TAG, "export root: %s", strerror(-r));
        return r;
    }
    if ((r = load_credentials(s)) < 0)
        return r;
    if (s->ssl_ctx) {
        SSL_CTX_free(s->ssl_ctx); /* connections hold their own SSL references */
        s->ssl_ctx = NULL;
    }
    if (c->tls_cert && *c->tls_cert) {
        s->ssl_ctx = tls_ctx(c, err, sizeof(err));
        if (!s->ssl_ctx) {
            api->log(CFS_LOG_ERROR, S3_TAG, "%s", err);
            return CFS_EINVAL;
        }
    }
    uint8_t rb[8];
    RAND_bytes(rb, sizeof(rb));
    memcpy(&s->boot_id, rb, sizeof(rb));
    atomic_store(&s->draining, false);
    atomic_store(&s->conf, c);
    if (!s->conns) {
        s->nloops = api->loop_count ? api->loop_count() : 1;
        if (s->nloops < 1)
            s->nloops = 1;
        s->conns = calloc((size_t)s->nloops, sizeof(*s->conns));
        if (!s->conns) {
            atomic_store(&s->conf, NULL);
            return CFS_ENOMEM;
        }
    }
    s->lst = api->listen("s3", c->bind, CFS_LISTEN_TCP, s3_accept, s, err, sizeof(err));
    if (!s->lst) {
        api->log(CFS_LOG_ERROR, S3_TAG, "bind %s: %s", c->bind, err);
        atomic_store(&s->conf, NULL);
        return CFS_EINVAL;
    }
    snprintf(s->bind, sizeof(s->bind), "%s", c->bind);
    cfs_loop *l0 = api->loop_get ? api->loop_get(0) : NULL;
    if (l0) {
        uint64_t every = (uint64_t)(c->multipart_max_age < 3600 ? c->multipart_max_age : 3600) * 1000;
        s->gc_timer = api->timer_add(l0, every, true, gc_tick, s);
    }
    api->log(CFS_LOG_NOTICE, S3_TAG, "S3 on %s (port %d, %s), export %s, region %s", c->bind,
             api->listener_port(s->lst), s->ssl_ctx ? "HTTPS" : "HTTP",
             api->vfs->export_name(s->exp), c->region);
    return 0;
}

static int s3_reload(void *state, void *new_conf)
{
    struct s3_server *s = state;
    struct s3_conf *c = new_conf, *old = atomic_load(&s->conf);
    if (!old || strcmp(old->bind, c->bind) != 0 || pick_export(s, c) != s->exp ||
        strcmp(old->tls_cert, c->tls_cert) != 0 || strcmp(old->tls_key, c->tls_key) != 0)
        return CFS_ENOTSUP;
    atomic_store(&s->conf, c);
    /* requests in flight may still point at the old conf: keep it until fini */
    old->retired_next = s->retired;
    s->retired = old;
    s->api->log(CFS_LOG_INFO, S3_TAG, "reloaded");
    return 0;
}

static int s3_drain(void *state, uint64_t deadline_ms)
{
    struct s3_server *s = state;
    (void)deadline_ms;
    if (!atomic_exchange(&s->draining, true) && s->lst) {
        s->api->listener_close(s->lst);
        s->lst = NULL;
    }
    return 0;
}

static void s3_stop(void *state)
{
    struct s3_server *s = state;
    const struct cfs_host_api *api = s->api;
    atomic_store(&s->draining, true);
    if (s->lst) {
        api->listener_close(s->lst);
        s->lst = NULL;
    }
    if (s->gc_timer) {
        api->loop_post(api->loop_get(0), gc_timer_del, s);
        for (int t = 0; t < 200 && s->gc_timer; t++)
            usleep(5000);
    }
    int n = api->loop_count ? api->loop_count() : 0;
    for (int i = 0; i < n; i++)
        api->loop_post(api->loop_get(i), s3_close_loop_conns, s);
    for (int t = 0; t < 500 && (atomic_load(&s->live_conns) > 0 || atomic_load(&s->gc_running)); t++)
        usleep(10000);
    if (atomic_load(&s->live_conns) > 0) {
        api->log(CFS_LOG_WARN, S3_TAG, "%d connection(s) still busy at stop",
                 atomic_load(&s->live_conns));
    } else if (s->ssl_ctx) {
        /* a restart with a new configuration builds its own context */
        SSL_CTX_free(s->ssl_ctx);
        s->ssl_ctx = NULL;
    }
    atomic_store(&s->conf, NULL);
}

static void s3_fini(void *state)
{
    struct s3_server *s = state;
    if (atomic_load(&s->live_conns) != 0)
        return; /* a late completion must still find the state */
    while (s->retired) {
        struct s3_conf *c = s->retired;
        s->retired = c->retired_next;
        s3_conf_free(s, c);
    }
    free(s->conns);
    if (s->ssl_ctx)
        SSL_CTX_free(s->ssl_ctx);
    pthread_mutex_destroy(&s->init_mu);
    OPENSSL_cleanse(s->secret_key, sizeof(s->secret_key));
    free(s);
}

static int s3_health(void *state, char *detail, size_t len)
{
    struct s3_server *s = state;
    snprintf(detail, len, "%d connection(s), bind %s", atomic_load(&s->live_conns), s->bind);
    return atomic_load(&s->draining) ? CFS_HEALTH_DEGRADED : CFS_HEALTH_OK;
}

static int s3_dump(void *state, char *buf, size_t len)
{
    struct s3_server *s = state;
    const struct s3_conf *c = atomic_load(&s->conf);
    return snprintf(buf, len, "s3: bind=%s region=%s connections=%d requests=%llu access_key=%s\n",
                    s->bind, c ? c->region : "-", atomic_load(&s->live_conns),
                    (unsigned long long)atomic_load(&s->reqseq), s->access_key);
}

static const struct cfs_module_ops s3_ops = {
    .size = sizeof(struct cfs_module_ops),
    .init = s3_init,
    .configure = s3_configure,
    .conf_free = s3_conf_free,
    .start = s3_start,
    .reload = s3_reload,
    .drain = s3_drain,
    .stop = s3_stop,
    .fini = s3_fini,
    .health = s3_health,
    .dump = s3_dump,
};

CFS_MODULE_EXPORT const struct cfs_module cfs_module = {
    CFS_MODULE_HEADER,
    .name = "s3",
    .version = "0.1.0",
    .description = "S3 REST API (SigV4, multipart, listing) over the shared namespace",
    .flags = 0,
    .ops = &s3_ops,
    .directives = s3_directives,
};
