/*
 * tests/fuzz/fuzz_config.c - libFuzzer target for the configuration loader: arbitrary
 * text is parsed as a configuration (core settings, exports, module groups) and every
 * module group is checked and applied against a directive table of every type.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "core.h"

struct fz_conf {
    int64_t i;
    bool b;
    char *s;
    int64_t n;
};

static const char *set_list(void *conf, const struct cfs_directive *d,
                            const struct cfs_conf_node *n, const struct cfs_host_api *api)
{
    struct fz_conf *c = conf;

    c->n = 0;
    for (int i = 0; i < cfs__conf_count(n); i++) {
        const struct cfs_conf_node *e = cfs__conf_elem(n, i);
        int64_t v;
        if (cfs__conf_get_int(e, &v) == 0)
            c->n += v & 0xff;
        else if (!cfs__conf_get_string(e) && cfs__conf_type(e) != CFS_CONF_GROUP)
            return "bad element";
    }
    return NULL;
}

static const struct cfs_directive sub[] = {
    { "path", CFS_CONF_STRING, NULL, offsetof(struct fz_conf, s), NULL, NULL, NULL },
    CFS_DIRECTIVES_END
};

static const struct cfs_directive dirs[] = {
    { "i", CFS_CONF_INT, "1", offsetof(struct fz_conf, i), NULL, NULL, NULL },
    { "b", CFS_CONF_BOOL, "false", offsetof(struct fz_conf, b), NULL, NULL, NULL },
    { "s", CFS_CONF_STRING, "x", offsetof(struct fz_conf, s), NULL, NULL, NULL },
    { "l", CFS_CONF_LIST, NULL, 0, set_list, NULL, sub },
    CFS_DIRECTIVES_END
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const allow[] = { "enabled", NULL };
    static bool quiet;
    struct cfs__config *c = NULL;
    char *text;

    if (!quiet) {
        cfs__log_set_file("/dev/null");
        quiet = true;
    }
    /* @include reads files: the fuzzer must not wander the file system. */
    if (memmem(data, size, "@include", 8))
        return 0;
    text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (cfs__config_load_text(text, &c) == 0) {
        for (int i = 0; i < c->nsections; i++) {
            struct fz_conf fc = { 0 };
            char err[256];
            if (cfs__conf_check(c->sections[i].group, dirs, allow, c->sections[i].name) == 0)
                (void)cfs__conf_apply((const struct cfs_conf_node *)c->sections[i].group, dirs,
                                      &fc, err, sizeof(err));
            cfs__conf_free(dirs, &fc);
        }
        cfs__config_free(c);
    }
    free(text);
    return 0;
}
