/*
 * core/identity.c - the users table (name, uid/gid/groups, S3 keys, SMB NT hash) loaded
 * from libconfig with file:line errors, lookups, and export squash rules (identity.h).
 */
#include "identity.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

struct table {
    size_t n;
    struct cfs__user *users;
    int *lines; /* source line of each user (duplicate reports) */
};

static pthread_rwlock_t g_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct table g_table;

static void table_free(struct table *t)
{
    if (t->users != NULL)
        explicit_bzero(t->users, t->n * sizeof(*t->users));
    free(t->users);
    free(t->lines);
    t->users = NULL;
    t->lines = NULL;
    t->n = 0;
}

__attribute__((format(printf, 4, 5)))
static int fail(char *err, size_t errlen, const config_setting_t *s, const char *fmt, ...)
{
    const char *file = config_setting_source_file(s);
    int line = (int)config_setting_source_line(s);
    va_list ap;
    int n;

    n = snprintf(err, errlen, "%s:%d: ", file != NULL ? file : "<config>", line);
    if (n < 0 || (size_t)n >= errlen)
        return -EINVAL;
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static const char *type_name(const config_setting_t *s)
{
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64: return "an integer";
    case CONFIG_TYPE_FLOAT: return "a float";
    case CONFIG_TYPE_STRING: return "a string";
    case CONFIG_TYPE_BOOL: return "a boolean";
    case CONFIG_TYPE_ARRAY: return "an array";
    case CONFIG_TYPE_LIST: return "a list";
    case CONFIG_TYPE_GROUP: return "a group";
    default: return "nothing";
    }
}

static bool is_int(const config_setting_t *s)
{
    return config_setting_type(s) == CONFIG_TYPE_INT ||
           config_setting_type(s) == CONFIG_TYPE_INT64;
}

static int get_id(const config_setting_t *s, const char *who, const char *key, uint32_t *out,
                  char *err, size_t errlen)
{
    long long v;

    if (!is_int(s))
        return fail(err, errlen, s, "user %s: %s: expected an integer 0..4294967294, found %s",
                    who, key, type_name(s));
    v = config_setting_get_int64(s);
    if (v < 0 || v > 4294967294LL)
        return fail(err, errlen, s, "user %s: %s: expected 0..4294967294, found %lld", who,
                    key, v);
    *out = (uint32_t)v;
    return 0;
}

static bool name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > CFS__USER_NAME_MAX || s[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '@' || c == '-'))
            return false;
    }
    return true;
}

static bool access_key_ok(const char *s)
{
    size_t n = strlen(s);

    if (n < 3 || n > CFS__S3_KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static bool secret_ok(const char *s)
{
    size_t n = strlen(s);

    if (n < 1 || n > CFS__S3_KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool parse_hash(const char *s, uint8_t out[CFS__NT_HASH_LEN])
{
    if (strlen(s) != 2 * CFS__NT_HASH_LEN)
        return false;
    for (int i = 0; i < CFS__NT_HASH_LEN; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

static const char *str_of(const config_setting_t *s, const char *who, const char *key,
                          char *err, size_t errlen, int *rc)
{
    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        *rc = fail(err, errlen, s, "user %s: %s: expected a string, found %s", who, key,
                   type_name(s));
        return NULL;
    }
    return config_setting_get_string(s);
}

/* Parse one user group into *u. */
static int parse_user(const config_setting_t *g, int idx, struct cfs__user *u, char *err,
                      size_t errlen)
{
    const config_setting_t *s;
    const char *v;
    char who[CFS__USER_NAME_MAX + 16];
    bool have_uid = false, have_gid = false;
    int rc = 0;

    memset(u, 0, sizeof(*u));
    if (config_setting_type(g) != CONFIG_TYPE_GROUP)
        return fail(err, errlen, g, "users[%d]: expected a group { name = ...; }, found %s",
                    idx, type_name(g));
    s = config_setting_get_member(g, "name");
    if (s == NULL)
        return fail(err, errlen, g, "users[%d]: expected a name, found none", idx);
    snprintf(who, sizeof(who), "#%d", idx);
    v = str_of(s, who, "name", err, errlen, &rc);
    if (v == NULL)
        return rc;
    if (!name_ok(v))
        return fail(err, errlen, s, "users[%d]: name: expected 1..64 of [A-Za-z0-9._@-] "
                    "(not starting with '-'), found \"%.80s\"", idx, v);
    memcpy(u->name, v, strlen(v) + 1);
    snprintf(who, sizeof(who), "\"%s\"", u->name);

    for (int i = 0; i < config_setting_length(g); i++) {
        const char *key;

        s = config_setting_get_elem(g, (unsigned)i);
        key = config_setting_name(s);
        if (key == NULL)
            continue;
        if (strcmp(key, "name") == 0) {
            continue;
        } else if (strcmp(key, "uid") == 0) {
            rc = get_id(s, who, key, &u->uid, err, errlen);
            have_uid = true;
        } else if (strcmp(key, "gid") == 0) {
            rc = get_id(s, who, key, &u->gid, err, errlen);
            have_gid = true;
        } else if (strcmp(key, "groups") == 0) {
            int n;

            if (config_setting_type(s) != CONFIG_TYPE_ARRAY &&
                config_setting_type(s) != CONFIG_TYPE_LIST)
                return fail(err, errlen, s, "user %s: groups: expected an array of gids, "
                            "found %s", who, type_name(s));
            n = config_setting_length(s);
            if (n > CFS_MAX_GROUPS)
                return fail(err, errlen, s, "user %s: groups: expected at most %d gids, "
                            "found %d", who, CFS_MAX_GROUPS, n);
            for (int k = 0; k < n && rc == 0; k++)
                rc = get_id(config_setting_get_elem(s, (unsigned)k), who, "groups",
                            &u->groups[k], err, errlen);
            u->ngroups = (uint32_t)n;
        } else if (strcmp(key, "s3_access_key") == 0) {
            if ((v = str_of(s, who, key, err, errlen, &rc)) == NULL)
                return rc;
            if (!access_key_ok(v))
                return fail(err, errlen, s, "user %s: s3_access_key: expected 3..128 of "
                            "[A-Za-z0-9._-], found %zu characters", who, strlen(v));
            memcpy(u->access_key, v, strlen(v) + 1);
        } else if (strcmp(key, "s3_secret_key") == 0) {
            if ((v = str_of(s, who, key, err, errlen, &rc)) == NULL)
                return rc;
            if (!secret_ok(v))
                return fail(err, errlen, s, "user %s: s3_secret_key: expected 1..128 "
                            "printable ASCII characters without spaces", who);
            memcpy(u->secret_key, v, strlen(v) + 1);
        } else if (strcmp(key, "smb_nt_hash") == 0) {
            if ((v = str_of(s, who, key, err, errlen, &rc)) == NULL)
                return rc;
            if (!parse_hash(v, u->nt_hash))
                return fail(err, errlen, s, "user %s: smb_nt_hash: expected 32 hex digits "
                            "(MD4 of the UTF-16LE password), found %zu characters", who,
                            strlen(v));
            u->has_nt_hash = true;
        } else {
            return fail(err, errlen, s, "user %s: unknown key \"%s\" (expected name, uid, "
                        "gid, groups, s3_access_key, s3_secret_key, smb_nt_hash)", who, key);
        }
        if (rc < 0)
            return rc;
    }
    if (!have_uid)
        return fail(err, errlen, g, "user %s: expected a uid, found none", who);
    if (!have_gid)
        return fail(err, errlen, g, "user %s: expected a gid, found none", who);
    if ((u->access_key[0] != '\0') != (u->secret_key[0] != '\0'))
        return fail(err, errlen, g, "user %s: s3_access_key and s3_secret_key go together, "
                    "found only %s", who, u->access_key[0] ? "the access key" : "the secret");
    return 0;
}

static int parse(const config_setting_t *users, struct table *t, char *err, size_t errlen)
{
    int n, rc = 0;

    memset(t, 0, sizeof(*t));
    if (users == NULL)
        return 0;
    if (config_setting_type(users) != CONFIG_TYPE_LIST)
        return fail(err, errlen, users, "users: expected a list ( { name = ...; }, ... ), "
                    "found %s", type_name(users));
    n = config_setting_length(users);
    if (n == 0)
        return 0;
    t->users = calloc((size_t)n, sizeof(*t->users));
    t->lines = calloc((size_t)n, sizeof(*t->lines));
    if (t->users == NULL || t->lines == NULL) {
        rc = -ENOMEM;
        snprintf(err, errlen, "users: out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        const config_setting_t *g = config_setting_get_elem(users, (unsigned)i);
        struct cfs__user *u = &t->users[i];

        rc = parse_user(g, i, u, err, errlen);
        if (rc < 0)
            goto out;
        t->lines[i] = (int)config_setting_source_line(g);
        t->n++;
        for (int k = 0; k < i; k++) {
            if (strcmp(t->users[k].name, u->name) == 0) {
                rc = fail(err, errlen, g, "user \"%s\": name already used at line %d",
                          u->name, t->lines[k]);
                goto out;
            }
            if (u->access_key[0] != '\0' &&
                strcmp(t->users[k].access_key, u->access_key) == 0) {
                rc = fail(err, errlen, g, "user \"%s\": s3_access_key already used by "
                          "user \"%s\" at line %d", u->name, t->users[k].name, t->lines[k]);
                goto out;
            }
        }
    }
out:
    if (rc < 0)
        table_free(t);
    return rc;
}

int cfs__identity_check(const config_setting_t *users, char *err, size_t errlen)
{
    struct table t;
    int rc = parse(users, &t, err, errlen);

    table_free(&t);
    return rc;
}

int cfs__identity_load(const config_setting_t *users, char *err, size_t errlen)
{
    struct table t, old;
    int rc = parse(users, &t, err, errlen);

    if (rc < 0)
        return rc;
    pthread_rwlock_wrlock(&g_lock);
    old = g_table;
    g_table = t;
    pthread_rwlock_unlock(&g_lock);
    table_free(&old);
    cfs__log(CFS_LOG_INFO, "identity", "%zu users loaded", t.n);
    return 0;
}

void cfs__identity_clear(void)
{
    struct table old;

    pthread_rwlock_wrlock(&g_lock);
    old = g_table;
    memset(&g_table, 0, sizeof(g_table));
    pthread_rwlock_unlock(&g_lock);
    table_free(&old);
}

size_t cfs__identity_count(void)
{
    size_t n;

    pthread_rwlock_rdlock(&g_lock);
    n = g_table.n;
    pthread_rwlock_unlock(&g_lock);
    return n;
}

enum by { BY_NAME, BY_KEY, BY_UID };

static int lookup(enum by by, const char *s, uint32_t uid, struct cfs__user *out)
{
    int rc = -ENOENT;

    if (by != BY_UID && (s == NULL || s[0] == '\0'))
        return -ENOENT;
    pthread_rwlock_rdlock(&g_lock);
    for (size_t i = 0; i < g_table.n; i++) {
        const struct cfs__user *u = &g_table.users[i];
        bool hit = by == BY_NAME ? strcmp(u->name, s) == 0
                   : by == BY_KEY ? u->access_key[0] != '\0' && strcmp(u->access_key, s) == 0
                                  : u->uid == uid;

        if (hit) {
            *out = *u;
            rc = 0;
            break;
        }
    }
    pthread_rwlock_unlock(&g_lock);
    return rc;
}

int cfs__identity_by_name(const char *name, struct cfs__user *out)
{
    return lookup(BY_NAME, name, 0, out);
}

int cfs__identity_by_access_key(const char *access_key, struct cfs__user *out)
{
    return lookup(BY_KEY, access_key, 0, out);
}

int cfs__identity_by_uid(uint32_t uid, struct cfs__user *out)
{
    return lookup(BY_UID, NULL, uid, out);
}

void cfs__identity_to_cred(const struct cfs__user *u, struct cfs_cred *cred)
{
    memset(cred, 0, sizeof(*cred));
    cred->uid = u->uid;
    cred->gid = u->gid;
    cred->ngroups = u->ngroups <= CFS_MAX_GROUPS ? u->ngroups : CFS_MAX_GROUPS;
    memcpy(cred->groups, u->groups, cred->ngroups * sizeof(cred->groups[0]));
}

void cfs__identity_squash(const struct cfs__squash *rules, struct cfs_cred *cred)
{
    if (rules == NULL)
        return;
    if (rules->all_squash) {
        cred->uid = rules->anon_uid;
        cred->gid = rules->anon_gid;
        cred->ngroups = 0;
        return;
    }
    if (!rules->root_squash)
        return;
    if (cred->uid == 0)
        cred->uid = rules->anon_uid;
    if (cred->gid == 0)
        cred->gid = rules->anon_gid;
    if (cred->ngroups > CFS_MAX_GROUPS)
        cred->ngroups = CFS_MAX_GROUPS;
    for (uint32_t i = 0; i < cred->ngroups; i++)
        if (cred->groups[i] == 0)
            cred->groups[i] = rules->anon_gid;
}
