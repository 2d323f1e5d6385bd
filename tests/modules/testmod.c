/*
 * tests/modules/testmod.c - one minimal module built many times, each variant broken
 * in exactly one way (compile definitions from tests/modules/CMakeLists.txt), for the
 * loader tests (tests/unit/test_loader.c). Without definitions it is a valid module.
 *
 *   TM_NAME           descriptor name (default "good")
 *   TM_MAGIC          magic (default CFS_MODULE_MAGIC)
 *   TM_MAJOR/TM_MINOR ABI numbers (default the SDK's)
 *   TM_STRUCT_SIZE    struct_size (default sizeof(struct cfs_module))
 *   TM_SIG            build signature (default CFS_BUILD_SIG)
 *   TM_NO_SYMBOL      export the descriptor under another name
 *   TM_OPS_SIZE       ops->size (default sizeof(struct cfs_module_ops))
 *   TM_NO_START       leave the required op start unset
 */
#include <stdlib.h>

#include <cfs/cfs.h>

#ifndef TM_NAME
#define TM_NAME "good"
#endif
#ifndef TM_MAGIC
#define TM_MAGIC CFS_MODULE_MAGIC
#endif
#ifndef TM_MAJOR
#define TM_MAJOR CFS_ABI_MAJOR
#endif
#ifndef TM_MINOR
#define TM_MINOR CFS_ABI_MINOR
#endif
#ifndef TM_STRUCT_SIZE
#define TM_STRUCT_SIZE sizeof(struct cfs_module)
#endif
#ifndef TM_SIG
#define TM_SIG CFS_BUILD_SIG
#endif
#ifndef TM_OPS_SIZE
#define TM_OPS_SIZE sizeof(struct cfs_module_ops)
#endif
#ifdef TM_NO_SYMBOL
#define TM_SYMBOL cfs_module_misspelt
#else
#define TM_SYMBOL cfs_module
#endif

struct tm_conf {
    int64_t value;
};

static const struct cfs_directive tm_directives[] = {
    { "value", CFS_CONF_INT, "7", offsetof(struct tm_conf, value), NULL, "a test value",
      NULL },
    CFS_DIRECTIVES_END,
};

static const struct cfs_host_api *tm_api;

static int tm_init(const struct cfs_host_api *api, void **state)
{
    tm_api = api;
    *state = NULL;
    return 0;
}

static int tm_configure(void *state, const struct cfs_conf_node *section, void **conf,
                        char *err, size_t errlen)
{
    struct tm_conf *c = calloc(1, sizeof(*c));
    int rc;

    if (c == NULL)
        return CFS_ENOMEM;
    rc = tm_api->conf_apply(section, tm_directives, c, err, errlen);
    if (rc != 0) {
        free(c);
        return rc;
    }
    *conf = c;
    return 0;
}

static void tm_conf_free(void *state, void *conf)
{
    free(conf);
}

static __attribute__((unused)) int tm_start(void *state, void *conf)
{
    return 0;
}

static void tm_stop(void *state)
{
}

static const struct cfs_module_ops tm_ops = {
    .size = TM_OPS_SIZE,
    .init = tm_init,
    .configure = tm_configure,
    .conf_free = tm_conf_free,
#ifndef TM_NO_START
    .start = tm_start,
#endif
    .stop = tm_stop,
};

CFS_MODULE_EXPORT const struct cfs_module TM_SYMBOL = {
    .magic = TM_MAGIC,
    .abi_major = TM_MAJOR,
    .abi_minor = TM_MINOR,
    .struct_size = TM_STRUCT_SIZE,
    .build_sig = TM_SIG,
    .name = TM_NAME,
    .version = "0.0.1",
    .description = "loader test module",
    .ops = &tm_ops,
    .directives = tm_directives,
};
