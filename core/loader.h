/*
 * core/loader.h - the module loader: finds mod_<name>.so on the module path, opens it
 * with libltdl and checks its descriptor (magic, ABI major/minor, struct_size,
 * build_sig, ops, unique name) before anything of the module runs.
 *
 * Every refusal is one line "<file>: <what>: expected <x>, found <y>", logged with tag
 * "loader" and returned in `err`; a refused module leaves nothing loaded.
 *
 * Not thread-safe against concurrent init/fini; open/close/scan/find take a lock.
 */
#ifndef CFS_LOADER_H
#define CFS_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include <cfs/module.h>

#define CFS__MOD_MAGIC 0x4d4f444cu /* "MODL" */
#define CFS__LOADER_MAX_DIRS 16

/*
 * The size of the descriptor and the ops table in ABI 1.0: the least a module may
 * declare in struct_size / ops->size.
 */
#define CFS__MODULE_SIZE_1_0                                                             \
    (offsetof(struct cfs_module, directives) + sizeof(((struct cfs_module *)0)->directives))
#define CFS__MODULE_OPS_SIZE_1_0                                                         \
    (offsetof(struct cfs_module_ops, dump) + sizeof(((struct cfs_module_ops *)0)->dump))

/*
 * One open module. `desc` is a normalised copy of the module's descriptor (full host
 * size, a missing tail is zero/NULL) whose `ops` points at `ops`, itself a normalised
 * copy in which every optional op is set (defaults return CFS_ENOTSUP or do nothing).
 * Strings in desc (name, version, ...) point into the module: valid while it is open.
 */
struct cfs__mod {
    uint32_t magic;               /* CFS__MOD_MAGIC */
    struct cfs_module desc;
    struct cfs_module_ops ops;
    const struct cfs_module *orig; /* the module's own descriptor */
    void *handle;                 /* lt_dlhandle */
    char *path;                   /* the file opened */
    int refcount;                 /* cfs__module_open = 1; cfs__module_ref + 1 */
    struct cfs__mod *next;        /* list of open modules */
};

/* libltdl set-up (counted: init and fini in pairs). fini closes modules still open. */
int cfs__loader_init(void);
void cfs__loader_fini(void);

/*
 * Set the module path: `dirs` (from --module-path, in order) come first, then
 * CFS_MODULE_BUILD_DIR, then CFS_MODULE_INSTALL_DIR. At most CFS__LOADER_MAX_DIRS in all.
 * n = 0 resets to the two defaults. Returns 0 or -E2BIG / -ENOMEM / -EINVAL.
 */
int cfs__loader_set_path(const char *const *dirs, int n);
/* The path as "dir1:dir2:..." (for messages); returns the length that would be written. */
size_t cfs__loader_path_str(char *buf, size_t len);

/*
 * Open a module. `name_or_path`: a name ("echo" -> the first mod_echo.so on the path)
 * or a file path (contains '/'). On success *out has refcount 1 and 0 is returned; on
 * failure a negative code, one line in err (also logged) and nothing stays loaded:
 *   -ENOENT  not found on the path, or no cfs_module symbol
 *   -ENOEXEC cannot be loaded, bad magic, bad struct/ops size, missing required op
 *   -EPROTO  ABI major differs, minor newer, build signature differs
 *   -EEXIST  another open module has the same name
 */
int cfs__module_open(const char *name_or_path, struct cfs__mod **out, char *err,
                     size_t errlen);
/* One more reference to an open module. */
void cfs__module_ref(struct cfs__mod *m);
/*
 * Drop a reference; at zero the module leaves the open list and is unloaded (kept
 * mapped when the environment has CFS_NO_DLCLOSE=1). The caller has already run
 * stop/fini: no code of the module may run after this.
 */
void cfs__module_close(struct cfs__mod *m);
/* The open module called `name` (no reference taken), or NULL. */
struct cfs__mod *cfs__module_find(const char *name);
/* Number of modules currently open. */
int cfs__module_count(void);

/*
 * Call cb for every mod_*.so on the path (dirs in path order, files sorted). `desc` is
 * the normalised descriptor when the file would load (valid during the call only), or
 * NULL with `err` saying why not (a name already seen earlier in the scan is refused as
 * shadowed). Nothing stays loaded. Returns the number of files seen, or a negative code.
 * cb runs with the loader's lock held: it must not call back into the loader.
 */
typedef void (*cfs__scan_fn)(const char *path, const struct cfs_module *desc,
                             const char *err, void *arg);
int cfs__module_scan(cfs__scan_fn cb, void *arg);

#endif
