/*
 * core/vfs/vfs.c - the namespace core: exports and their lookup, the handle envelope
 * (export id + SipHash MAC under a key kept in the state dir), the write verifier,
 * the API table (call, submit through the work pool, op_release) and statistics.
 * Storage engines plug in through core/vfs/backend.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"
#include "metrics.h"
#include "backend.h"
#include "backend_glue.h"

void cfs__vfs_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cfs__vlog(level, "vfs", fmt, ap);
    va_end(ap);
}

#define EXPORT_MAGIC 0x45585054u /* "EXPT" */
#define MAX_EXPORTS 256

struct cfs_export {
    uint32_t magic;
    uint32_t id;
    char *name;
    char *path;
    char *backend_spec;
    struct cfs__export_opts opts;
    const struct cfs__vfs_backend *be;
    void *ctx;
    _Atomic bool quota;      /* usage tracked by core/quota.c: charge in guard.c */
    char **clients;          /* copy of opts.clients */
    struct cfs_export_info info;
    struct cfs_export *next; /* on the live or the retired list */
};

static pthread_rwlock_t exports_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct cfs_export *exports;  /* live */
static struct cfs_export *retired;  /* removed; freed at shutdown (ops may hold them) */
static bool inited;
static uint8_t fh_key[16];
static char *state_path;
static uint8_t write_verf[CFS_VERF_SIZE];

static _Atomic uint64_t op_counts[CFS_VOP__COUNT];
static _Atomic uint64_t op_errors, op_inline;
static cfs_series *m_inline;
_Atomic uint64_t cfs__vfs_fd_hits, cfs__vfs_fd_misses, cfs__vfs_fd_entries;
cfs_series *cfs__vfs_m_attr_hit, *cfs__vfs_m_attr_miss, *cfs__vfs_m_fd_hit, *cfs__vfs_m_fd_miss;
static cfs_series *m_ops[CFS_VOP__COUNT], *m_errs[CFS_VOP__COUNT];

static const char *const op_names[CFS_VOP__COUNT] = {
    [0] = "invalid", [CFS_VOP_LOOKUP] = "lookup", [CFS_VOP_GETATTR] = "getattr",
    [CFS_VOP_SETATTR] = "setattr", [CFS_VOP_ACCESS] = "access", [CFS_VOP_READ] = "read",
    [CFS_VOP_WRITE] = "write", [CFS_VOP_COMMIT] = "commit", [CFS_VOP_CREATE] = "create",
    [CFS_VOP_MKDIR] = "mkdir", [CFS_VOP_MKNOD] = "mknod", [CFS_VOP_SYMLINK] = "symlink",
    [CFS_VOP_READLINK] = "readlink", [CFS_VOP_LINK] = "link", [CFS_VOP_UNLINK] = "unlink",
    [CFS_VOP_RMDIR] = "rmdir", [CFS_VOP_RENAME] = "rename", [CFS_VOP_READDIR] = "readdir",
    [CFS_VOP_STATFS] = "statfs", [CFS_VOP_GETXATTR] = "getxattr",
    [CFS_VOP_SETXATTR] = "setxattr", [CFS_VOP_LISTXATTR] = "listxattr",
    [CFS_VOP_REMOVEXATTR] = "removexattr", [CFS_VOP_FALLOCATE] = "fallocate",
    [CFS_VOP_SEEK] = "seek", [CFS_VOP_COPY] = "copy", [CFS_VOP_CLONE] = "clone",
    [CFS_VOP_LOOKUP_PATH] = "lookup_path", [CFS_VOP_OPENFD] = "openfd",
};

const char *cfs__vfs_op_name(int op)
{
    return op > 0 && op < CFS_VOP__COUNT && op_names[op] ? op_names[op] : "invalid";
}

/* Prometheus families: ops and errors per opcode, cache hits and misses. */
static void metrics_register(void)
{
    static const char *const op_label[] = { "op", NULL };
    static const char *const cache_label[] = { "cache", NULL };
    const struct cfs_metric_desc ops = { sizeof(ops), CFS_METRIC_COUNTER, "cfs_vfs_ops_total",
                                         "VFS calls by operation", op_label, NULL, 0 };
    const struct cfs_metric_desc errs = { sizeof(errs), CFS_METRIC_COUNTER,
                                          "cfs_vfs_errors_total",
                                          "VFS calls that failed, by operation", op_label,
                                          NULL, 0 };
    const struct cfs_metric_desc hits = { sizeof(hits), CFS_METRIC_COUNTER,
                                          "cfs_vfs_cache_hits_total",
                                          "VFS cache hits (attr: attributes, fd: open fds)",
                                          cache_label, NULL, 0 };
    const struct cfs_metric_desc miss = { sizeof(miss), CFS_METRIC_COUNTER,
                                          "cfs_vfs_cache_misses_total", "VFS cache misses",
                                          cache_label, NULL, 0 };
    cfs_metric *mo = cfs__metric_register(&ops), *me = cfs__metric_register(&errs);
    cfs_metric *mh = cfs__metric_register(&hits), *mm = cfs__metric_register(&miss);
    for (int i = 1; i < CFS_VOP__COUNT; i++) {
        const char *v[] = { op_names[i] };
        m_ops[i] = cfs__metric_series(mo, v);
        m_errs[i] = cfs__metric_series(me, v);
    }
    const char *attr[] = { "attr" }, *fd[] = { "fd" };
    cfs__vfs_m_attr_hit = cfs__metric_series(mh, attr);
    cfs__vfs_m_attr_miss = cfs__metric_series(mm, attr);
    cfs__vfs_m_fd_hit = cfs__metric_series(mh, fd);
    cfs__vfs_m_fd_miss = cfs__metric_series(mm, fd);
    const struct cfs_metric_desc inl = { sizeof(inl), CFS_METRIC_COUNTER,
                                         "cfs_vfs_inline_calls_total",
                                         "VFS calls run on the network loop that submitted "
                                         "them (no pool hand-off)", NULL, NULL, 0 };
    m_inline = cfs__metric_series(cfs__metric_register(&inl), NULL);
}

/* ---- SipHash-2-4 (Aumasson & Bernstein), 64-bit output ---- */
#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                        \
    do {                                                                                \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);                       \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                                          \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                                          \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);                       \
    } while (0)

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t siphash(const uint8_t key[16], const uint8_t *in, size_t len)
{
    uint64_t k0 = le64(key), k1 = le64(key + 8);
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
    size_t whole = len - (len % 8);
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = le64(in + i);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (size_t i = 0; i < len % 8; i++)
        b |= (uint64_t)in[whole + i] << (8 * i);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

int cfs__fh_seal(uint32_t export_id, const void *payload, size_t len, struct cfs_fh *out)
{
    if (len > CFS__FH_PAYLOAD_MAX)
        return -EOVERFLOW;
    uint8_t *d = out->data;
    d[0] = CFS__FH_VERSION;
    for (int i = 0; i < 4; i++)
        d[1 + i] = (uint8_t)(export_id >> (8 * i));
    memcpy(d + CFS__FH_HDR, payload, len);
    size_t n = CFS__FH_HDR + len;
    uint64_t mac = siphash(fh_key, d, n);
    for (int i = 0; i < CFS__FH_MAC; i++)
        d[n + i] = (uint8_t)(mac >> (8 * i));
    out->len = (uint8_t)(n + CFS__FH_MAC);
    return 0;
}

static int fh_export_id(const struct cfs_fh *fh, uint32_t *id)
{
    if (fh->len < CFS__FH_HDR + CFS__FH_MAC || fh->len > CFS_FH_MAX ||
        fh->data[0] != CFS__FH_VERSION)
        return CFS_EBADHANDLE;
    *id = (uint32_t)fh->data[1] | (uint32_t)fh->data[2] << 8 | (uint32_t)fh->data[3] << 16 |
          (uint32_t)fh->data[4] << 24;
    return 0;
}

int cfs__fh_open(const struct cfs_fh *fh, uint32_t *export_id, const uint8_t **payload,
                 size_t *len)
{
    int r = fh_export_id(fh, export_id);
    if (r < 0)
        return r;
    size_t n = fh->len - CFS__FH_MAC;
    uint64_t mac = siphash(fh_key, fh->data, n), got = 0;
    for (int i = CFS__FH_MAC - 1; i >= 0; i--)
        got = (got << 8) | fh->data[n + i];
    if (mac != got)
        return CFS_EBADHANDLE;
    *payload = fh->data + CFS__FH_HDR;
    *len = n - CFS__FH_HDR;
    return 0;
}

void cfs__write_verf(uint8_t out[CFS_VERF_SIZE])
{
    memcpy(out, write_verf, CFS_VERF_SIZE);
}

/* ---- the handle key ---- */
static int load_key(const char *state_dir)
{
    char path[4096];
    int fd = -1, r = 0;
    if (!state_dir || !*state_dir) {
        if (getrandom(fh_key, sizeof(fh_key), 0) != (ssize_t)sizeof(fh_key))
            return -EIO;
        return 0;
    }
    if ((size_t)snprintf(path, sizeof(path), "%s/vfs.key", state_dir) >= sizeof(path))
        return -ENAMETOOLONG;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0) {
        ssize_t n = read(fd, fh_key, sizeof(fh_key));
        r = n == (ssize_t)sizeof(fh_key) ? 0 : -EINVAL;
        if (r < 0)
            cfs__vfs_log(CFS_LOG_ERROR, "%s: expected %zu key bytes, found %zd", path, sizeof(fh_key), n);
        goto out;
    }
    if (errno != ENOENT) {
        r = -errno;
        goto out;
    }
    if (getrandom(fh_key, sizeof(fh_key), 0) != (ssize_t)sizeof(fh_key)) {
        r = -EIO;
        goto out;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        r = -errno;
        goto out;
    }
    if (write(fd, fh_key, sizeof(fh_key)) != (ssize_t)sizeof(fh_key) || fsync(fd) < 0)
        r = -EIO;
out:
    if (fd >= 0)
        close(fd);
    return r;
}

/* ---- exports ---- */
int cfs__vfs_init(const char *state_dir)
{
    if (inited)
        return -EALREADY;
    int r = load_key(state_dir);
    if (r < 0)
        return r;
    if (getrandom(write_verf, sizeof(write_verf), 0) != (ssize_t)sizeof(write_verf))
        return -EIO;
    /* the fd caches keep up to 2 x fd_max fds per export: lift the soft fd limit */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            cfs__vfs_log(CFS_LOG_WARN, "cannot raise RLIMIT_NOFILE: %s", strerror(errno));
    }
    free(state_path);
    state_path = state_dir && *state_dir ? strdup(state_dir) : NULL;
    if (state_dir && *state_dir && !state_path)
        return -ENOMEM;
    metrics_register();
    inited = true;
    return 0;
}

static void export_free(struct cfs_export *e)
{
    if (e->be && e->ctx)
        e->be->export_close(e->ctx);
    free(e->name);
    free(e->path);
    free(e->backend_spec);
    for (char **c = e->clients; c && *c; c++)
        free(*c);
    free(e->clients);
    e->magic = 0;
    free(e);
}

void cfs__vfs_shutdown(void)
{
    pthread_rwlock_wrlock(&exports_lock);
    struct cfs_export *lists[2] = { exports, retired };
    exports = retired = NULL;
    pthread_rwlock_unlock(&exports_lock);
    for (int i = 0; i < 2; i++) {
        while (lists[i]) {
            struct cfs_export *e = lists[i];
            lists[i] = e->next;
            export_free(e);
        }
    }
    cfs__attr_fini();
    free(state_path);
    state_path = NULL;
    inited = false;
}

const struct cfs__vfs_backend *cfs__vfs_backend_find(const char *name, size_t len)
{
    static const struct cfs__vfs_backend *const all[] = { &cfs__posix_backend,
                                                          &cfs__faulty_backend };
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (strlen(all[i]->name) == len && memcmp(all[i]->name, name, len) == 0)
            return all[i];
    return NULL;
}

int cfs__vfs_export_add(const char *name, const char *path, uint32_t export_id,
                        const struct cfs__export_opts *opts)
{
    if (!inited)
        return -EAGAIN;
    if (!name || !*name || !path || path[0] != '/' || export_id == 0)
        return -EINVAL;
    struct cfs_export *e = calloc(1, sizeof(*e));
    int r = 0;
    if (!e)
        return -ENOMEM;
    e->magic = EXPORT_MAGIC;
    e->id = export_id;
    if (opts)
        e->opts = *opts;
    if (e->opts.anon_uid == 0)
        e->opts.anon_uid = 65534;
    if (e->opts.anon_gid == 0)
        e->opts.anon_gid = 65534;
    const char *spec = e->opts.backend ? e->opts.backend : "posix";
    e->name = strdup(name);
    e->path = strdup(path);
    e->backend_spec = strdup(spec);
    if (!e->name || !e->path || !e->backend_spec) {
        r = -ENOMEM;
        goto out;
    }
    e->opts.backend = e->backend_spec;
    if (e->opts.clients) {
        size_t n = 0;
        while (e->opts.clients[n])
            n++;
        e->clients = calloc(n + 1, sizeof(*e->clients));
        for (size_t i = 0; e->clients && i < n; i++)
            if (!(e->clients[i] = strdup(e->opts.clients[i])))
                r = -ENOMEM;
        if (!e->clients || r < 0) {
            r = -ENOMEM;
            goto out;
        }
        e->opts.clients = (const char *const *)e->clients;
    }
    e->info = (struct cfs_export_info){
        .size = sizeof(struct cfs_export_info), .id = e->id, .name = e->name,
        .path = e->path, .read_only = e->opts.read_only, .root_squash = e->opts.root_squash,
        .all_squash = e->opts.all_squash, .anon_uid = e->opts.anon_uid,
        .anon_gid = e->opts.anon_gid, .clients = e->opts.clients,
        .secure_ports = e->opts.secure_ports,
    };
    const char *colon = strchr(spec, ':');
    e->be = cfs__vfs_backend_find(spec, colon ? (size_t)(colon - spec) : strlen(spec));
    if (!e->be) {
        cfs__vfs_log(CFS_LOG_ERROR, "export %s: expected backend posix or faulty:<backend>, found '%s'",
                  name, spec);
        r = -ENOENT;
        goto out;
    }
    pthread_rwlock_rdlock(&exports_lock);
    for (struct cfs_export *x = exports; x; x = x->next)
        if (x->id == export_id || strcmp(x->name, name) == 0)
            r = -EEXIST;
    pthread_rwlock_unlock(&exports_lock);
    if (r < 0)
        goto out;
    r = e->be->export_open(e, e->path, colon ? colon + 1 : NULL, &e->ctx);
    if (r < 0) {
        cfs__vfs_log(CFS_LOG_ERROR, "export %s: cannot open %s: %s", name, path, strerror(-r));
        goto out;
    }
    pthread_rwlock_wrlock(&exports_lock);
    for (struct cfs_export *x = exports; x; x = x->next)
        if (x->id == export_id || strcmp(x->name, name) == 0)
            r = -EEXIST;
    if (r == 0) {
        struct cfs_export **pp = &exports;
        while (*pp)
            pp = &(*pp)->next;
        e->next = NULL;
        *pp = e; /* at the tail: export_get(i) follows the order of adding */
    }
    pthread_rwlock_unlock(&exports_lock);
out:
    if (r < 0)
        export_free(e);
    return r;
}

int cfs__vfs_export_remove(const char *name)
{
    int r = -ENOENT;
    pthread_rwlock_wrlock(&exports_lock);
    for (struct cfs_export **pp = &exports; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->name, name) == 0) {
            struct cfs_export *e = *pp;
            *pp = e->next;
            e->next = retired;
            retired = e;
            r = 0;
            break;
        }
    }
    pthread_rwlock_unlock(&exports_lock);
    return r;
}

cfs_export *cfs__vfs_export_find(const char *name)
{
    struct cfs_export *e = NULL;
    if (!name)
        return NULL;
    pthread_rwlock_rdlock(&exports_lock);
    for (e = exports; e; e = e->next)
        if (strcmp(e->name, name) == 0)
            break;
    pthread_rwlock_unlock(&exports_lock);
    return e;
}

static cfs_export *export_by_id(uint32_t id)
{
    struct cfs_export *e;
    pthread_rwlock_rdlock(&exports_lock);
    for (e = exports; e; e = e->next)
        if (e->id == id)
            break;
    pthread_rwlock_unlock(&exports_lock);
    return e;
}

static cfs_export *export_from_fh(const struct cfs_fh *fh)
{
    uint32_t id;
    if (!fh || fh_export_id(fh, &id) < 0)
        return NULL;
    return export_by_id(id);
}

uint32_t cfs__vfs_export_id(cfs_export *exp) { return exp->id; }
const char *cfs__vfs_state_dir(void) { return state_path; }
const struct cfs__export_opts *cfs__export_opts(cfs_export *exp) { return &exp->opts; }
void *cfs__export_ctx(cfs_export *exp) { return exp->ctx; }
const struct cfs__vfs_backend *cfs__export_backend(cfs_export *exp) { return exp->be; }
static const char *export_name(cfs_export *exp) { return exp ? exp->name : NULL; }
static const char *export_path(cfs_export *exp) { return exp ? exp->path : NULL; }

static int export_root(cfs_export *exp, struct cfs_fh *out)
{
    if (!exp || exp->magic != EXPORT_MAGIC || !out)
        return -EINVAL;
    return exp->be->root_fh(exp->ctx, out);
}

int cfs__vfs_export_probe(cfs_export *exp)
{
    return exp->be->probe ? exp->be->probe(exp->ctx) : 0;
}

/*
 * Probes run outside exports_lock (one may hang on a sick backend; a reload must still
 * be able to add and remove exports). Export structs live until shutdown.
 */
int cfs__vfs_probe_all(char *which, size_t len)
{
    struct cfs_export **v = NULL;
    size_t n = 0, cap = 0;
    int r = 0;

    if (which && len)
        which[0] = '\0';
    pthread_rwlock_rdlock(&exports_lock);
    for (struct cfs_export *e = exports; e; e = e->next)
        cap++;
    v = cap ? calloc(cap, sizeof(*v)) : NULL;
    for (struct cfs_export *e = exports; v && e && n < cap; e = e->next)
        v[n++] = e;
    pthread_rwlock_unlock(&exports_lock);
    if (cap && !v)
        return -ENOMEM;
    for (size_t i = 0; i < n && r == 0; i++) {
        r = cfs__vfs_export_probe(v[i]);
        if (r < 0 && which && len)
            snprintf(which, len, "%s", v[i]->name);
    }
    free(v);
    return r;
}

void cfs__vfs_export_set_quota(cfs_export *exp, bool on)
{
    atomic_store(&exp->quota, on);
}

bool cfs__vfs_export_quota(cfs_export *exp)
{
    return atomic_load_explicit(&exp->quota, memory_order_relaxed);
}

void cfs__export_map_cred(cfs_export *exp, const struct cfs_cred *in, struct cfs_cred *out)
{
    *out = *in;
    if (out->ngroups > CFS_MAX_GROUPS)
        out->ngroups = CFS_MAX_GROUPS;
    if (exp->opts.all_squash) {
        out->uid = exp->opts.anon_uid;
        out->gid = exp->opts.anon_gid;
        out->ngroups = 0;
    } else if (exp->opts.root_squash) {
        if (out->uid == 0)
            out->uid = exp->opts.anon_uid;
        if (out->gid == 0)
            out->gid = exp->opts.anon_gid;
        for (uint32_t i = 0; i < out->ngroups; i++)
            if (out->groups[i] == 0)
                out->groups[i] = exp->opts.anon_gid;
    }
}

/* ---- calls ---- */

/* The op struct as first published (fields after it are read when op->size covers them). */
#define OP_MIN_SIZE offsetof(struct cfs_vfs_op, lock_owner)
static bool op_mutates(const struct cfs_vfs_op *op)
{
    switch (op->op) {
    case CFS_VOP_SETATTR: case CFS_VOP_WRITE: case CFS_VOP_CREATE: case CFS_VOP_MKDIR:
    case CFS_VOP_MKNOD: case CFS_VOP_SYMLINK: case CFS_VOP_LINK: case CFS_VOP_UNLINK:
    case CFS_VOP_RMDIR: case CFS_VOP_RENAME: case CFS_VOP_SETXATTR:
    case CFS_VOP_REMOVEXATTR: case CFS_VOP_FALLOCATE: case CFS_VOP_COPY:
    case CFS_VOP_CLONE:
        return true;
    case CFS_VOP_OPENFD:
        return (op->flags & O_ACCMODE) != O_RDONLY || (op->flags & O_TRUNC);
    default:
        return false;
    }
}

/* One call counted, with its result, in the stats and the metrics. */
static void count_call(int op, int r)
{
    if (op > 0 && op < CFS_VOP__COUNT) {
        atomic_fetch_add_explicit(&op_counts[op], 1, memory_order_relaxed);
        cfs__counter_add(m_ops[op], 1);
        if (r < 0)
            cfs__counter_add(m_errs[op], 1);
    }
    if (r < 0)
        atomic_fetch_add_explicit(&op_errors, 1, memory_order_relaxed);
}

static int vfs_call(struct cfs_vfs_op *op)
{
    int r;
    if (!op || op->size < OP_MIN_SIZE)
        return -EINVAL;
    op->fd = -1;
    op->priv[0] = NULL;
    if (op->op < CFS_VOP_LOOKUP || op->op >= CFS_VOP__COUNT || !op->cred) {
        r = -EINVAL;
        goto out;
    }
    if (!op->exp)
        op->exp = export_from_fh(&op->fh);
    if (!op->exp) {
        r = fh_export_id(&op->fh, &(uint32_t){ 0 }) < 0 ? CFS_EBADHANDLE : -ESTALE;
        goto out;
    }
    if (op->exp->magic != EXPORT_MAGIC) {
        r = -EINVAL;
        goto out;
    }
    if (op->exp->opts.read_only && op_mutates(op)) {
        r = -EROFS;
        goto out;
    }
    r = cfs__vfs_exec(op->exp, op); /* pool, breaker, leases, quotas: guard.c */
out:
    count_call(op->op, r);
    op->status = r;
    return r;
}

static void vfs_release(struct cfs_vfs_op *op)
{
    if (!op)
        return;
    if (op->exp && op->exp->magic == EXPORT_MAGIC && op->priv[0])
        op->exp->be->release(op->exp->ctx, op);
    free(op->priv[0]);
    op->priv[0] = NULL;
    op->entries = NULL;
    op->nentries = 0;
}

/* submit: op->priv[1] = done, priv[2] = arg; the op itself is the work item. */
static void submit_work(void *arg)
{
    vfs_call(arg);
}

static void submit_done(void *arg, int status)
{
    struct cfs_vfs_op *op = arg;
    cfs_vfs_done_fn done = (cfs_vfs_done_fn)op->priv[1];
    (void)status;
    done(op, op->priv[2]);
}

static void fast_done(void *arg)
{
    struct cfs_vfs_op *op = arg;
    cfs_vfs_done_fn done = (cfs_vfs_done_fn)op->priv[1];
    done(op, op->priv[2]);
}

/*
 * Submitted from the loop it completes on: an op the backend can answer from its caches
 * (a getattr of a cached object) skips the pool and completes on the next loop turn.
 */
static bool submit_fast(cfs_loop *loop, struct cfs_vfs_op *op)
{
    if (op->op != CFS_VOP_GETATTR || !op->cred || !op->exp ||
        op->exp->magic != EXPORT_MAGIC || !op->exp->be->try_fast ||
        cfs__loop_current() != loop)
        return false;
    op->fd = -1;
    op->priv[0] = NULL;
    if (op->exp->be->try_fast(op->exp->ctx, op) != 1)
        return false;
    count_call(op->op, 0);
    return cfs__loop_post(loop, fast_done, op) == 0;
}

/*
 * The export's backend is refusing calls (every node's breaker open): answer CFS_ERETRY
 * on the loop's next turn without queueing behind pool threads that may be stuck.
 */
static bool submit_reject(cfs_loop *loop, struct cfs_vfs_op *op)
{
    cfs_export *e = op->exp ? op->exp : export_from_fh(&op->fh);

    if (!e || e->magic != EXPORT_MAGIC || !cfs__backend_rejecting(e))
        return false;
    op->fd = -1;
    op->priv[0] = NULL;
    op->status = CFS_ERETRY;
    count_call(op->op, CFS_ERETRY);
    return cfs__loop_post(loop, fast_done, op) == 0;
}

/*
 * A short call of a local backend runs right here on the submitting loop, and its
 * completion on the loop's next turn: no hand-off to a pool thread and back (two context
 * switches and a wake-up each way, the main cost of a metadata RPC). Only when the
 * backend says the op is short, a pool connection is free without waiting, and
 * backend.inline_calls is on; anything else goes to the pool as before. A backend that
 * finds out while running that it would wait (a READ whose data is not cached) returns
 * -EWOULDBLOCK with nothing done, and the op goes to the pool.
 */
_Thread_local bool cfs__vfs_inline_now;

static int submit_inline(cfs_loop *loop, struct cfs_vfs_op *op)
{
    struct cfs__backend_ticket t;
    cfs_export *e = op->exp ? op->exp : export_from_fh(&op->fh);
    int r;

    if (!e || e->magic != EXPORT_MAGIC || !e->be->inline_ok || !op->cred ||
        op->op < CFS_VOP_LOOKUP || op->op >= CFS_VOP__COUNT ||
        cfs__loop_current() != loop || !cfs__backend_inline_allowed() ||
        !e->be->inline_ok(e->ctx, op))
        return 0;
    if (e->opts.read_only && op_mutates(op))
        return 0; /* vfs_call answers it */
    if (cfs__backend_try_enter(e, &t) < 0)
        return 0;
    op->exp = e;
    op->fd = -1;
    op->priv[0] = NULL;
    cfs__vfs_inline_now = true;
    r = cfs__vfs_exec_entered(e, op);
    cfs__vfs_inline_now = false;
    if (r == -EWOULDBLOCK) {
        /* the backend found it would wait after all (data not cached): the pool runs it */
        cfs__backend_leave(&t, 0);
        vfs_release(op);
        return 0;
    }
    cfs__backend_leave(&t, r);
    count_call(op->op, r);
    atomic_fetch_add_explicit(&op_inline, 1, memory_order_relaxed);
    cfs__counter_add(m_inline, 1);
    op->status = r;
    /* fails only when the loop is stopping: the caller drops the request */
    r = cfs__loop_post(loop, fast_done, op);
    return r < 0 ? r : 1;
}

static int vfs_submit(cfs_loop *loop, struct cfs_vfs_op *op, cfs_vfs_done_fn done, void *arg)
{
    if (!op || op->size < OP_MIN_SIZE || !done || !loop)
        return -EINVAL;
    op->priv[1] = (void *)done;
    op->priv[2] = arg;
    if (submit_fast(loop, op))
        return 0;
    if (submit_reject(loop, op))
        return 0;
    int r = submit_inline(loop, op);
    if (r != 0)
        return r < 0 ? r : 0;
    return cfs__work_submit(loop, submit_work, submit_done, op);
}

static int export_count(void)
{
    int n = 0;

    pthread_rwlock_rdlock(&exports_lock);
    for (struct cfs_export *e = exports; e; e = e->next)
        n++;
    pthread_rwlock_unlock(&exports_lock);
    return n;
}

/* Pointers stay valid after a removal (retired exports are freed at shutdown only). */
static cfs_export *export_get(int i)
{
    struct cfs_export *e;

    if (i < 0)
        return NULL;
    pthread_rwlock_rdlock(&exports_lock);
    for (e = exports; e && i > 0; e = e->next)
        i--;
    pthread_rwlock_unlock(&exports_lock);
    return e;
}

static const struct cfs_export_info *export_info(cfs_export *exp)
{
    return exp && exp->magic == EXPORT_MAGIC ? &exp->info : NULL;
}

static void export_squash(cfs_export *exp, struct cfs_cred *cred)
{
    struct cfs_cred out;

    if (!exp || exp->magic != EXPORT_MAGIC || !cred)
        return;
    cfs__export_map_cred(exp, cred, &out);
    *cred = out;
}

static const struct cfs_vfs_api api = {
    .size = sizeof(struct cfs_vfs_api),
    .export_find = cfs__vfs_export_find,
    .export_from_fh = export_from_fh,
    .export_root = export_root,
    .export_name = export_name,
    .export_path = export_path,
    .submit = vfs_submit,
    .call = vfs_call,
    .op_release = vfs_release,
    .write_verf = cfs__write_verf,
    .export_count = export_count,
    .export_get = export_get,
    .export_info = export_info,
    .squash = export_squash,
};

const struct cfs_vfs_api *cfs__vfs_api(void)
{
    return &api;
}

void cfs__vfs_stats(struct cfs__vfs_stats *out)
{
    memset(out, 0, sizeof(*out));
    cfs__attr_counts(&out->attr_hits, &out->attr_misses, &out->attr_entries);
    out->fd_hits = atomic_load(&cfs__vfs_fd_hits);
    out->fd_misses = atomic_load(&cfs__vfs_fd_misses);
    out->fd_entries = atomic_load(&cfs__vfs_fd_entries);
    for (int i = 0; i < CFS_VOP__COUNT; i++)
        out->ops[i] = atomic_load(&op_counts[i]);
    out->errors = atomic_load(&op_errors);
    out->inline_calls = atomic_load(&op_inline);
}

void cfs__vfs_cache_flush(void)
{
    cfs__attr_flush();
    pthread_rwlock_rdlock(&exports_lock);
    for (struct cfs_export *e = exports; e; e = e->next)
        if (e->be->flush)
            e->be->flush(e->ctx);
    pthread_rwlock_unlock(&exports_lock);
}
