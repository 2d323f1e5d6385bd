/*
 * core/host.c - the host API table handed to every module (sdk/include/cfs/host.h),
 * plus the small registries that live nowhere else: services and connection counts.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "backend_glue.h"
#include "config.h"
#include "core.h"
#include "health.h"
#include "listen.h"
#include "metrics.h"
#include "vfs/namespace.h"

/* ---- service registry: modules find each other by name ---- */

#define MAX_SERVICES 64
static struct {
    pthread_mutex_t lock;
    int n;
    struct {
        char *name;
        uint32_t version;
        const void *iface;
    } s[MAX_SERVICES];
} SV = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int service_register(const char *name, uint32_t version, const void *iface)
{
    int rc = 0;

    if (!name || !iface)
        return -EINVAL;
    pthread_mutex_lock(&SV.lock);
    for (int i = 0; i < SV.n; i++) {
        if (strcmp(SV.s[i].name, name) == 0) {
            rc = -EEXIST;
            goto out;
        }
    }
    if (SV.n == MAX_SERVICES) {
        rc = -ENOSPC;
        goto out;
    }
    SV.s[SV.n].name = strdup(name);
    if (!SV.s[SV.n].name) {
        rc = -ENOMEM;
        goto out;
    }
    SV.s[SV.n].version = version;
    SV.s[SV.n].iface = iface;
    SV.n++;
out:
    pthread_mutex_unlock(&SV.lock);
    return rc;
}

static const void *service_lookup(const char *name, uint32_t min_version)
{
    const void *iface = NULL;

    pthread_mutex_lock(&SV.lock);
    for (int i = 0; i < SV.n; i++)
        if (strcmp(SV.s[i].name, name) == 0 && SV.s[i].version >= min_version)
            iface = SV.s[i].iface;
    pthread_mutex_unlock(&SV.lock);
    return iface;
}

static void service_unregister(const char *name)
{
    pthread_mutex_lock(&SV.lock);
    for (int i = 0; i < SV.n; i++) {
        if (strcmp(SV.s[i].name, name) == 0) {
            free(SV.s[i].name);
            SV.s[i] = SV.s[--SV.n];
            break;
        }
    }
    pthread_mutex_unlock(&SV.lock);
}

/* ---- connections per module ---- */

static cfs_metric *conn_gauge, *conn_total;

static void conn_metrics(void)
{
    static const char *const l[] = { "module", NULL };
    struct cfs_metric_desc d = { .size = sizeof(d), .labels = l };

    if (conn_gauge)
        return;
    d.type = CFS_METRIC_GAUGE;
    d.name = "cfs_connections";
    d.help = "Client connections open, per module.";
    conn_gauge = cfs__metric_register(&d);
    d.type = CFS_METRIC_COUNTER;
    d.name = "cfs_connections_accepted_total";
    d.help = "Client connections accepted, per module.";
    conn_total = cfs__metric_register(&d);
}

static void conn_opened(const char *module)
{
    const char *v[] = { module };

    conn_metrics();
    cfs__gauge_add(cfs__metric_series(conn_gauge, v), 1);
    cfs__counter_add(cfs__metric_series(conn_total, v), 1);
}

static void conn_closed(const char *module)
{
    const char *v[] = { module };

    conn_metrics();
    cfs__gauge_add(cfs__metric_series(conn_gauge, v), -1);
}

static char state_dir_buf[4096];

static const char *state_dir(void)
{
    return state_dir_buf;
}

void cfs__host_set_state_dir(const char *dir)
{
    strncpy(state_dir_buf, dir ? dir : "", sizeof(state_dir_buf) - 1);
}

static struct cfs_host_api host = {
    .size = sizeof(struct cfs_host_api),
    .abi_major = CFS_ABI_MAJOR,
    .abi_minor = CFS_ABI_MINOR,
    .version = CFS_VERSION,
    .log = cfs__log,
    .vlog = cfs__vlog,
    .log_enabled = cfs__log_enabled,
    .conf_apply = cfs__conf_apply,
    .conf_free = cfs__conf_free,
    .conf_member = cfs__conf_member,
    .conf_count = cfs__conf_count,
    .conf_elem = cfs__conf_elem,
    .conf_type = cfs__conf_type,
    .conf_name = cfs__conf_name,
    .conf_get_int = cfs__conf_get_int,
    .conf_get_bool = cfs__conf_get_bool,
    .conf_get_string = cfs__conf_get_string,
    .conf_file = cfs__conf_file,
    .conf_line = cfs__conf_line,
    .state_dir = state_dir,
    .metric_register = cfs__metric_register,
    .metric_series = cfs__metric_series,
    .counter_add = cfs__counter_add,
    .gauge_set = cfs__gauge_set,
    .gauge_add = cfs__gauge_add,
    .histogram_observe = cfs__histogram_observe,
    .health_register = cfs__health_register,
    .health_unregister = cfs__health_unregister,
    .loop_count = cfs__loop_count,
    .loop_get = cfs__loop_get,
    .loop_current = cfs__loop_current,
    .loop_base = cfs__loop_base,
    .loop_index = cfs__loop_index,
    .loop_post = cfs__loop_post,
    .listen = cfs__listen,
    .listener_close = cfs__listener_close,
    .listener_port = cfs__listener_port,
    .timer_add = cfs__timer_add,
    .timer_del = cfs__timer_del,
    .now_ms = cfs__now_ms,
    .work_submit = cfs__work_submit,
    .service_register = service_register,
    .service_lookup = service_lookup,
    .service_unregister = service_unregister,
    .vfs = NULL,
    .locks = NULL,
    .conn_opened = conn_opened,
    .conn_closed = conn_closed,
    /* the users table (core/backend_glue.c) */
    .identity_by_access_key = cfs__identity_info_by_access_key,
    .identity_by_name = cfs__identity_info_by_name,
};

const struct cfs_host_api *cfs__host_api(void)
{
    if (!host.vfs)
        host.vfs = cfs__vfs_api();
    return &host;
}

struct cfs_host_api *cfs__host_api_mut(void)
{
    return &host;
}
