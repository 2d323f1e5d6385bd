/*
 * core/health.c - the health-check registry: named checks, run on demand by /health
 * and /ready, combined into the worst state and a JSON object.
 *
 * One mutex guards the list and is held while the checks run, so that a check is never
 * called after cfs__health_unregister() has returned (its `arg` may be gone by then).
 */
#include "health.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

struct check {
    char name[CFS__HEALTH_NAME_MAX + 1];
    cfs_health_fn fn;
    void *arg;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct check *g_checks; /* sorted by name */
static size_t g_n, g_cap;

static bool valid_name(const char *s)
{
    size_t n = 0;
    if (s == NULL || *s == '\0')
        return false;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == ':' || c == '/' || c == '-';
        if (!ok || n >= CFS__HEALTH_NAME_MAX)
            return false;
    }
    return true;
}

/* Index of `name`, or of where it would be inserted (*found tells which). */
static size_t find(const char *name, bool *found)
{
    size_t lo = 0, hi = g_n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(g_checks[mid].name, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

int cfs__health_register(const char *name, cfs_health_fn fn, void *arg)
{
    bool found;
    size_t pos;
    int rc = 0;

    if (!valid_name(name) || fn == NULL)
        return -EINVAL;
    pthread_mutex_lock(&g_lock);
    pos = find(name, &found);
    if (found) {
        rc = -EEXIST;
        goto out;
    }
    if (g_n >= CFS__HEALTH_MAX_CHECKS) {
        rc = -ENOSPC;
        goto out;
    }
    if (g_n == g_cap) {
        size_t ncap = g_cap ? g_cap * 2 : 16;
        struct check *nc = realloc(g_checks, ncap * sizeof(*nc));
        if (nc == NULL) {
            rc = -ENOMEM;
            goto out;
        }
        g_checks = nc;
        g_cap = ncap;
    }
    memmove(g_checks + pos + 1, g_checks + pos, (g_n - pos) * sizeof(*g_checks));
    memset(&g_checks[pos], 0, sizeof(g_checks[pos]));
    memcpy(g_checks[pos].name, name, strlen(name) + 1);
    g_checks[pos].fn = fn;
    g_checks[pos].arg = arg;
    g_n++;
out:
    pthread_mutex_unlock(&g_lock);
    return rc;
}

void cfs__health_unregister(const char *name)
{
    bool found;
    size_t pos;

    if (name == NULL)
        return;
    pthread_mutex_lock(&g_lock);
    pos = find(name, &found);
    if (found) {
        memmove(g_checks + pos, g_checks + pos + 1, (g_n - pos - 1) * sizeof(*g_checks));
        g_n--;
    }
    pthread_mutex_unlock(&g_lock);
}

const char *cfs__health_state_name(int state)
{
    switch (state) {
    case CFS_HEALTH_OK:
        return "ok";
    case CFS_HEALTH_DEGRADED:
        return "degraded";
    default:
        return "failed";
    }
}

int cfs__health_run(json_t **checks_out)
{
    json_t *obj = NULL;
    int worst = CFS_HEALTH_OK, rc;

    if (checks_out != NULL) {
        *checks_out = NULL;
        obj = json_object();
        if (obj == NULL)
            return -ENOMEM;
    }
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < g_n; i++) {
        char detail[CFS__HEALTH_DETAIL_MAX] = "";
        int st = g_checks[i].fn(g_checks[i].arg, detail, sizeof(detail));
        detail[sizeof(detail) - 1] = '\0';
        if (st != CFS_HEALTH_OK && st != CFS_HEALTH_DEGRADED)
            st = CFS_HEALTH_FAILED;
        if (st > worst)
            worst = st;
        if (obj != NULL) {
            /* json_string refuses invalid UTF-8: fall back to an ASCII-only copy */
            json_t *d = json_string(detail);
            if (d == NULL) {
                for (char *p = detail; *p; p++)
                    if ((unsigned char)*p >= 0x80)
                        *p = '?';
                d = json_string(detail);
            }
            json_t *c = json_pack("{s:s, s:o*}", "state", cfs__health_state_name(st),
                                  "detail", d);
            if (c == NULL || json_object_set_new(obj, g_checks[i].name, c) != 0) {
                worst = -ENOMEM;
                break;
            }
        }
    }
    pthread_mutex_unlock(&g_lock);
    rc = worst;
    if (rc < 0) {
        json_decref(obj);
        return rc;
    }
    if (checks_out != NULL)
        *checks_out = obj;
    return rc;
}

char *cfs__health_json(int *state_out)
{
    json_t *checks = NULL, *doc;
    char *s = NULL;
    int st = cfs__health_run(&checks);

    if (st < 0)
        return NULL;
    if (state_out != NULL)
        *state_out = st;
    doc = json_pack("{s:s, s:o}", "status", cfs__health_state_name(st), "checks", checks);
    if (doc == NULL)
        return NULL;
    s = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(doc);
    return s;
}

void cfs__health_reset(void)
{
    pthread_mutex_lock(&g_lock);
    free(g_checks);
    g_checks = NULL;
    g_n = g_cap = 0;
    pthread_mutex_unlock(&g_lock);
}
