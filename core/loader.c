/*
 * core/loader.c - the module loader (libltdl): the module path, opening mod_<name>.so,
 * the ABI checks in their fixed order, the normalised descriptor and ops copies, the
 * list of open modules and the scan behind `cfs-gateway modules`.
 *
 * Check order (STYLE.md): magic -> ABI major equal -> minor not newer -> struct_size ->
 * build_sig -> descriptor (name, ops and its size, required ops) -> unique name. Each
 * refusal is one line naming the file, the expected and the found value; the handle is
 * closed again so a refused module leaves nothing loaded. No code of the module runs
 * here (modules have no constructors; lifecycle ops are the caller's business).
 */
#include <assert.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ltdl.h>

#include <cfs/errors.h>

#include "core.h"
#include "loader.h"

#ifndef CFS_MODULE_BUILD_DIR
#define CFS_MODULE_BUILD_DIR "modules"
#endif
#ifndef CFS_MODULE_INSTALL_DIR
#define CFS_MODULE_INSTALL_DIR "/usr/local/lib/cfs-gateway/modules"
#endif

#define TAG "loader"
#define NAME_MAX_LEN 32
#define SIG_MAX_LEN 128
#define SHOW_MAX 80 /* characters of a module-supplied string shown in a message */

static pthread_mutex_t loader_lock = PTHREAD_MUTEX_INITIALIZER;
static int loader_inits;
static char *path_dirs[CFS__LOADER_MAX_DIRS];
static int path_n;
static struct cfs__mod *open_list;

/* ---- default optional ops (Ganesha def_fsal_ops) ---------------------------- */

static void def_conf_free(void *state, void *conf) {}
static int def_reload(void *state, void *new_conf) { return CFS_ENOTSUP; }
static int def_drain(void *state, uint64_t deadline_ms) { return CFS_ENOTSUP; }
static void def_fini(void *state) {}
static int def_health(void *state, char *detail, size_t len) { return CFS_ENOTSUP; }
static int def_dump(void *state, char *buf, size_t len) { return CFS_ENOTSUP; }

/* ---- helpers ------------------------------------------------------------------- */

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* A module-supplied string made safe to print: quoted, printable, bounded. */
static const char *show(const char *s, char *buf, size_t len)
{
    size_t i, o = 0;

    if (s == NULL)
        return "(null)";
    if (len < 8)
        return "?";
    buf[o++] = '"';
    for (i = 0; s[i] != '\0' && i < SHOW_MAX && o + 5 < len; i++)
        buf[o++] = isprint((unsigned char)s[i]) ? s[i] : '?';
    if (s[i] != '\0') {
        buf[o++] = '.';
        buf[o++] = '.';
        buf[o++] = '.';
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

static bool env_no_dlclose(void)
{
    const char *v = getenv("CFS_NO_DLCLOSE");

    return v != NULL && strcmp(v, "1") == 0;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);

    return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

static bool valid_name(const char *name)
{
    size_t i;

    if (name == NULL || !isalpha((unsigned char)name[0]))
        return false;
    for (i = 0; name[i] != '\0'; i++) {
        if (i >= NAME_MAX_LEN)
            return false;
        if (!isalnum((unsigned char)name[i]) && name[i] != '_' && name[i] != '-')
            return false;
    }
    return true;
}

static bool is_file(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* ---- path ---------------------------------------------------------------------- */

static void path_clear(void)
{
    for (int i = 0; i < path_n; i++)
        free(path_dirs[i]);
    path_n = 0;
}

static int path_add(const char *dir)
{
    size_t len;

    if (dir == NULL || dir[0] == '\0')
        return -EINVAL;
    for (int i = 0; i < path_n; i++)
        if (strcmp(path_dirs[i], dir) == 0)
            return 0;
    if (path_n >= CFS__LOADER_MAX_DIRS)
        return -E2BIG;
    len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    path_dirs[path_n] = strndup(dir, len);
    if (path_dirs[path_n] == NULL)
        return -ENOMEM;
    path_n++;
    return 0;
}

static int path_set_locked(const char *const *dirs, int n)
{
    int rc = 0;

    path_clear();
    for (int i = 0; i < n && rc == 0; i++)
        rc = path_add(dirs[i]);
    if (rc == 0)
        rc = path_add(CFS_MODULE_BUILD_DIR);
    if (rc == 0)
        rc = path_add(CFS_MODULE_INSTALL_DIR);
    if (rc != 0)
        path_clear();
    return rc;
}

int cfs__loader_set_path(const char *const *dirs, int n)
{
    int rc;

    if (n < 0 || (n > 0 && dirs == NULL))
        return -EINVAL;
    pthread_mutex_lock(&loader_lock);
    rc = path_set_locked(dirs, n);
    pthread_mutex_unlock(&loader_lock);
    return rc;
}

static size_t path_str_locked(char *buf, size_t len)
{
    size_t o = 0;

    if (len > 0)
        buf[0] = '\0';
    for (int i = 0; i < path_n; i++) {
        int w = snprintf(len > o ? buf + o : NULL, len > o ? len - o : 0, "%s%s",
                         i ? ":" : "", path_dirs[i]);
        if (w > 0)
            o += (size_t)w;
    }
    return o;
}

size_t cfs__loader_path_str(char *buf, size_t len)
{
    size_t o;

    pthread_mutex_lock(&loader_lock);
    o = path_str_locked(buf, len);
    pthread_mutex_unlock(&loader_lock);
    return o;
}

/* ---- init / fini --------------------------------------------------------------- */

static void mod_unload(struct cfs__mod *m, bool dlclose)
{
    if (m->handle != NULL && dlclose)
        lt_dlclose((lt_dlhandle)m->handle);
    m->magic = 0;
    free(m->path);
    free(m);
}

int cfs__loader_init(void)
{
    int rc = 0;

    pthread_mutex_lock(&loader_lock);
    if (loader_inits == 0) {
        if (lt_dlinit() != 0) {
            const char *e = lt_dlerror();
            cfs__log(CFS_LOG_ERROR, TAG, "lt_dlinit failed: %s", e ? e : "unknown error");
            rc = -ENOEXEC;
            goto out;
        }
        if (path_n == 0 && (rc = path_set_locked(NULL, 0)) != 0) {
            lt_dlexit();
            goto out;
        }
    }
    loader_inits++;
out:
    pthread_mutex_unlock(&loader_lock);
    return rc;
}

void cfs__loader_fini(void)
{
    struct cfs__mod *m, *next;
    bool dlclose = !env_no_dlclose();

    pthread_mutex_lock(&loader_lock);
    if (loader_inits == 0 || --loader_inits > 0)
        goto out;
    for (m = open_list; m != NULL; m = next) {
        next = m->next;
        cfs__log(CFS_LOG_WARN, TAG, "%s: still open at exit (refcount %d), unloading",
                 m->path, m->refcount);
        mod_unload(m, dlclose);
    }
    open_list = NULL;
    path_clear();
    lt_dlexit();
out:
    pthread_mutex_unlock(&loader_lock);
}

/* ---- opening and checking ------------------------------------------------------ */

/* Resolve a name to the first mod_<name>.so on the path, or take a path as it is. */
static int resolve(const char *name_or_path, char **out, char *err, size_t errlen)
{
    char file[4096], shown[SHOW_MAX + 8], pathstr[1024];
    int w;

    *out = NULL;
    if (strchr(name_or_path, '/') != NULL) {
        *out = strdup(name_or_path);
        return *out ? 0 : -ENOMEM;
    }
    if (!valid_name(name_or_path)) {
        seterr(err, errlen, "module %s: bad module name: expected [A-Za-z][A-Za-z0-9_-]{0,%d}, "
               "found %s", show(name_or_path, shown, sizeof(shown)), NAME_MAX_LEN - 1,
               show(name_or_path, shown, sizeof(shown)));
        return -EINVAL;
    }
    for (int i = 0; i < path_n; i++) {
        w = snprintf(file, sizeof(file), "%s/mod_%s.so", path_dirs[i], name_or_path);
        if (w < 0 || (size_t)w >= sizeof(file))
            continue;
        if (is_file(file)) {
            *out = strdup(file);
            return *out ? 0 : -ENOMEM;
        }
    }
    path_str_locked(pathstr, sizeof(pathstr));
    seterr(err, errlen, "module \"%s\": not found: expected mod_%s.so in %s, found none",
           name_or_path, name_or_path, pathstr[0] ? pathstr : "(empty module path)");
    return -ENOENT;
}

static lt_dlhandle dl_open(const char *path, char *err, size_t errlen)
{
    lt_dladvise advise;
    lt_dlhandle h = NULL;
    const char *e;

    if (lt_dladvise_init(&advise) != 0)
        goto out;
    lt_dladvise_local(&advise); /* one module's symbols never interpose another's */
    if (!has_suffix(path, ".so") && !has_suffix(path, ".la"))
        lt_dladvise_ext(&advise); /* lt_dlopenext: try .la then .so */
    h = lt_dlopenadvise(path, advise);
    lt_dladvise_destroy(&advise);
out:
    if (h == NULL) {
        e = lt_dlerror();
        seterr(err, errlen, "%s: cannot load: expected a loadable module, found: %s", path,
               e ? e : "unknown error");
    }
    return h;
}

/* The cfs_module data symbol: plain, or <stem>_LTX_cfs_module for dlpreopen. */
static const struct cfs_module *find_desc(lt_dlhandle h, const char *path)
{
    const void *sym;
    const char *base = strrchr(path, '/');
    char stem[64], ltx[96];
    size_t n;

    sym = lt_dlsym(h, "cfs_module"); /* libltdl also tries <libname>_LTX_cfs_module */
    if (sym != NULL)
        return sym;
    base = base ? base + 1 : path;
    if (strncmp(base, "mod_", 4) == 0)
        base += 4;
    n = strcspn(base, ".");
    if (n == 0 || n >= sizeof(stem))
        return NULL;
    memcpy(stem, base, n);
    stem[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)stem[i]))
            stem[i] = '_';
    if (snprintf(ltx, sizeof(ltx), "%s_LTX_cfs_module", stem) >= (int)sizeof(ltx))
        return NULL;
    return lt_dlsym(h, ltx);
}

/*
 * Run every check but uniqueness on the descriptor `d` found in `path`, filling the
 * normalised copies in m. Reads only what the module declares it has.
 */
static int check_desc(const char *path, const struct cfs_module *d, struct cfs__mod *m,
                      char *err, size_t errlen)
{
    char s1[SHOW_MAX + 8];
    const struct cfs_module_ops *ops;
    uint32_t size;

    if (d->magic != CFS_MODULE_MAGIC) {
        seterr(err, errlen, "%s: bad magic: expected 0x%08x, found 0x%08x", path,
               CFS_MODULE_MAGIC, d->magic);
        return -ENOEXEC;
    }
    if (d->abi_major != CFS_ABI_MAJOR) {
        seterr(err, errlen, "%s: ABI major mismatch: expected %d, found %u", path,
               CFS_ABI_MAJOR, d->abi_major);
        return -EPROTO;
    }
    if (d->abi_minor > CFS_ABI_MINOR) {
        seterr(err, errlen, "%s: ABI minor newer than the host's: expected <= %d.%d, "
               "found %u.%u", path, CFS_ABI_MAJOR, CFS_ABI_MINOR, d->abi_major, d->abi_minor);
        return -EPROTO;
    }
    if (d->struct_size < CFS__MODULE_SIZE_1_0) {
        seterr(err, errlen, "%s: descriptor too small: expected struct_size >= %zu, found %u",
               path, (size_t)CFS__MODULE_SIZE_1_0, d->struct_size);
        return -ENOEXEC;
    }
    memset(&m->desc, 0, sizeof(m->desc));
    memcpy(&m->desc, d, d->struct_size < sizeof(m->desc) ? d->struct_size : sizeof(m->desc));

    if (m->desc.build_sig == NULL || strnlen(m->desc.build_sig, SIG_MAX_LEN) >= SIG_MAX_LEN ||
        strcmp(m->desc.build_sig, CFS_BUILD_SIG) != 0) {
        seterr(err, errlen, "%s: build signature mismatch: expected \"%s\", found %s", path,
               CFS_BUILD_SIG, show(m->desc.build_sig, s1, sizeof(s1)));
        return -EPROTO;
    }
    if (!valid_name(m->desc.name)) {
        seterr(err, errlen, "%s: bad module name: expected [A-Za-z][A-Za-z0-9_-]{0,%d}, "
               "found %s", path, NAME_MAX_LEN - 1, show(m->desc.name, s1, sizeof(s1)));
        return -ENOEXEC;
    }
    ops = m->desc.ops;
    if (ops == NULL) {
        seterr(err, errlen, "%s: module \"%s\" has no ops: expected a struct cfs_module_ops, "
               "found NULL", path, m->desc.name);
        return -ENOEXEC;
    }
    size = ops->size;
    if (size < CFS__MODULE_OPS_SIZE_1_0) {
        seterr(err, errlen, "%s: ops table too small: expected ops->size >= %zu, found %u",
               path, (size_t)CFS__MODULE_OPS_SIZE_1_0, size);
        return -ENOEXEC;
    }
    memset(&m->ops, 0, sizeof(m->ops));
    memcpy(&m->ops, ops, size < sizeof(m->ops) ? size : sizeof(m->ops));
    m->ops.size = sizeof(m->ops);
    m->desc.ops = &m->ops;
    m->desc.struct_size = sizeof(m->desc);
    if (m->desc.version == NULL)
        m->desc.version = "";
    if (m->desc.description == NULL)
        m->desc.description = "";

#define REQUIRED(op)                                                                     \
    if (m->ops.op == NULL) {                                                             \
        seterr(err, errlen, "%s: required op missing: expected ops->" #op " set, found NULL", \
               path);                                                                    \
        return -ENOEXEC;                                                                 \
    }
    REQUIRED(init)
    REQUIRED(configure)
    REQUIRED(start)
    REQUIRED(stop)
#undef REQUIRED
#define DEFAULT(op, fn)                                                                  \
    if (m->ops.op == NULL)                                                               \
        m->ops.op = fn;
    DEFAULT(conf_free, def_conf_free)
    DEFAULT(reload, def_reload)
    DEFAULT(drain, def_drain)
    DEFAULT(fini, def_fini)
    DEFAULT(health, def_health)
    DEFAULT(dump, def_dump)
#undef DEFAULT
    return 0;
}

/* Load `path` and check it (not its uniqueness). On failure nothing stays loaded. */
static int load_checked(const char *path, struct cfs__mod **out, char *err, size_t errlen)
{
    struct cfs__mod *m = NULL;
    const struct cfs_module *d;
    const lt_dlinfo *info;
    lt_dlhandle h;
    int rc;

    *out = NULL;
    h = dl_open(path, err, errlen);
    if (h == NULL)
        return -ENOEXEC;
    info = lt_dlgetinfo(h); /* the file libltdl chose (lt_dlopenext adds the extension) */
    if (info != NULL && info->filename != NULL)
        path = info->filename;
    d = find_desc(h, path);
    if (d == NULL) {
        seterr(err, errlen, "%s: no module descriptor: expected symbol cfs_module, found none",
               path);
        rc = -ENOENT;
        goto out;
    }
    m = calloc(1, sizeof(*m));
    if (m == NULL || (m->path = strdup(path)) == NULL) {
        seterr(err, errlen, "%s: out of memory", path);
        rc = -ENOMEM;
        goto out;
    }
    rc = check_desc(path, d, m, err, errlen);
    if (rc != 0)
        goto out;
    m->magic = CFS__MOD_MAGIC;
    m->orig = d;
    m->handle = h;
    m->refcount = 1;
    *out = m;
out:
    if (rc != 0) {
        if (m != NULL) {
            free(m->path);
            free(m);
        }
        lt_dlclose(h); /* refused: always unload, nothing of the module ran */
    }
    return rc;
}

int cfs__module_open(const char *name_or_path, struct cfs__mod **out, char *err,
                     size_t errlen)
{
    struct cfs__mod *m = NULL, *o;
    char *path = NULL, localerr[512];
    int rc;

    if (err == NULL || errlen == 0) {
        err = localerr;
        errlen = sizeof(localerr);
    }
    err[0] = '\0';
    *out = NULL;
    if (name_or_path == NULL || name_or_path[0] == '\0') {
        seterr(err, errlen, "module: no name: expected a module name or path, found \"\"");
        return -EINVAL;
    }
    pthread_mutex_lock(&loader_lock);
    if (loader_inits == 0) {
        seterr(err, errlen, "module %s: loader not initialised", name_or_path);
        rc = -EINVAL;
        goto out;
    }
    rc = resolve(name_or_path, &path, err, errlen);
    if (rc != 0)
        goto out;
    rc = load_checked(path, &m, err, errlen);
    if (rc != 0)
        goto out;
    for (o = open_list; o != NULL; o = o->next) {
        if (strcmp(o->desc.name, m->desc.name) == 0) {
            seterr(err, errlen, "%s: duplicate module name \"%s\": expected a unique name, "
                   "found it already loaded from %s", m->path, m->desc.name, o->path);
            lt_dlclose((lt_dlhandle)m->handle);
            m->handle = NULL;
            mod_unload(m, false);
            m = NULL;
            rc = -EEXIST;
            goto out;
        }
    }
    m->next = open_list;
    open_list = m;
    *out = m;
    cfs__log(CFS_LOG_INFO, TAG, "%s: loaded module \"%s\" %s (ABI %u.%u)", m->path,
             m->desc.name, m->desc.version, m->desc.abi_major, m->desc.abi_minor);
out:
    pthread_mutex_unlock(&loader_lock);
    if (rc != 0)
        cfs__log(CFS_LOG_ERROR, TAG, "%s", err);
    free(path);
    return rc;
}

void cfs__module_ref(struct cfs__mod *m)
{
    assert(m != NULL && m->magic == CFS__MOD_MAGIC);
    pthread_mutex_lock(&loader_lock);
    m->refcount++;
    pthread_mutex_unlock(&loader_lock);
}

static void loop_barrier_noop(void *arg) {}

void cfs__module_close(struct cfs__mod *m)
{
    struct cfs__mod **pp;
    bool last;

    if (m == NULL)
        return;
    assert(m->magic == CFS__MOD_MAGIC && m->refcount > 0);
    pthread_mutex_lock(&loader_lock);
    last = --m->refcount == 0;
    if (last) {
        for (pp = &open_list; *pp != NULL; pp = &(*pp)->next) {
            if (*pp == m) {
                *pp = m->next;
                break;
            }
        }
    }
    pthread_mutex_unlock(&loader_lock);
    if (!last)
        return;
    /*
     * A module's stop may have posted work to the loops that is still returning through
     * the module's code (its last instructions after signalling stop). One no-op round
     * on every loop, run after everything posted earlier, makes sure no loop thread is
     * inside the module when it is unmapped. Loops not running: returns at once.
     */
    if (cfs__loop_current() == NULL)
        cfs__loop_post_all_wait(loop_barrier_noop, NULL);
    cfs__log(CFS_LOG_DEBUG, TAG, "%s: unloading module \"%s\"", m->path, m->desc.name);
    pthread_mutex_lock(&loader_lock);
    mod_unload(m, !env_no_dlclose());
    pthread_mutex_unlock(&loader_lock);
}

struct cfs__mod *cfs__module_find(const char *name)
{
    struct cfs__mod *m;

    pthread_mutex_lock(&loader_lock);
    for (m = open_list; m != NULL; m = m->next)
        if (strcmp(m->desc.name, name) == 0)
            break;
    pthread_mutex_unlock(&loader_lock);
    return m;
}

int cfs__module_count(void)
{
    int n = 0;

    pthread_mutex_lock(&loader_lock);
    for (struct cfs__mod *m = open_list; m != NULL; m = m->next)
        n++;
    pthread_mutex_unlock(&loader_lock);
    return n;
}

/* ---- scan ---------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted mod_*.so file names of one directory (missing directory = none). */
static int list_dir(const char *dir, char ***out, int *nout)
{
    DIR *dp;
    struct dirent *de;
    char **v = NULL, **nv;
    int n = 0, cap = 0, rc = 0;

    *out = NULL;
    *nout = 0;
    dp = opendir(dir);
    if (dp == NULL)
        return 0;
    while ((de = readdir(dp)) != NULL) {
        if (strncmp(de->d_name, "mod_", 4) != 0 || !has_suffix(de->d_name, ".so"))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            nv = realloc(v, (size_t)cap * sizeof(*v));
            if (nv == NULL) {
                rc = -ENOMEM;
                goto out;
            }
            v = nv;
        }
        if ((v[n] = strdup(de->d_name)) == NULL) {
            rc = -ENOMEM;
            goto out;
        }
        n++;
    }
    if (n > 1)
        qsort(v, (size_t)n, sizeof(*v), cmp_str);
out:
    closedir(dp);
    if (rc != 0) {
        for (int i = 0; i < n; i++)
            free(v[i]);
        free(v);
        return rc;
    }
    *out = v;
    *nout = n;
    return 0;
}

struct seen {
    char name[NAME_MAX_LEN + 1];
    char path[4096];
};

int cfs__module_scan(cfs__scan_fn cb, void *arg)
{
    struct seen *seen = NULL, *ns;
    int nseen = 0, total = 0, rc = 0;
    char file[4096], err[768];

    pthread_mutex_lock(&loader_lock);
    if (loader_inits == 0) {
        rc = -EINVAL;
        goto out;
    }
    for (int i = 0; i < path_n && rc == 0; i++) {
        char **names;
        int n;

        rc = list_dir(path_dirs[i], &names, &n);
        if (rc != 0)
            break;
        for (int j = 0; j < n; j++) {
            struct cfs__mod *m = NULL;
            int w = snprintf(file, sizeof(file), "%s/%s", path_dirs[i], names[j]);

            free(names[j]);
            if (w < 0 || (size_t)w >= sizeof(file))
                continue;
            total++;
            err[0] = '\0';
            if (load_checked(file, &m, err, sizeof(err)) != 0) {
                cb(file, NULL, err, arg);
                continue;
            }
            for (int k = 0; k < nseen; k++) {
                if (strcmp(seen[k].name, m->desc.name) == 0) {
                    seterr(err, sizeof(err), "%s: module \"%s\" shadowed: expected a unique "
                           "name, found it first in %s", file, m->desc.name, seen[k].path);
                    break;
                }
            }
            if (err[0] != '\0') {
                cb(file, NULL, err, arg);
            } else {
                ns = realloc(seen, (size_t)(nseen + 1) * sizeof(*seen));
                if (ns != NULL) {
                    seen = ns;
                    snprintf(seen[nseen].name, sizeof(seen[nseen].name), "%s", m->desc.name);
                    snprintf(seen[nseen].path, sizeof(seen[nseen].path), "%s", file);
                    nseen++;
                }
                cb(file, &m->desc, NULL, arg);
            }
            lt_dlclose((lt_dlhandle)m->handle);
            m->handle = NULL;
            mod_unload(m, false);
        }
        free(names);
    }
out:
    pthread_mutex_unlock(&loader_lock);
    free(seen);
    return rc != 0 ? rc : total;
}
