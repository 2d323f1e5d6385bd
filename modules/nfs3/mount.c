/*
 * modules/nfs3/mount.c - MOUNT protocol version 3 (RFC 1813 appendix I): MNT returns an
 * export's root handle and the auth flavors (AUTH_SYS, AUTH_NONE); UMNT/UMNTALL/DUMP keep
 * the advisory list of mounted clients; EXPORT lists exports with their client rules.
 * Also the client-network matcher used by NFS calls ("10.0.0.0/8", "::1", "*", host IP).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nfs3_srv.h"

#define MNT_LIST_MAX 1024u

struct nfs3_mount {
    char host[INET6_ADDRSTRLEN];
    char dir[NFS3_PATH_MAX + 1];
};

/* ---- client rules ---- */

static bool match_net(const char *rule, const struct sockaddr *peer)
{
    char buf[INET6_ADDRSTRLEN + 8];
    uint8_t net[16], addr[16];
    const char *slash;
    size_t alen, n;
    long bits;
    int fam;

    if (strcmp(rule, "*") == 0)
        return true;
    n = strlen(rule);
    if (n >= sizeof(buf))
        return false;
    memcpy(buf, rule, n + 1);
    slash = strchr(buf, '/');
    if (slash)
        buf[slash - buf] = '\0';
    if (inet_pton(AF_INET, buf, net) == 1) {
        fam = AF_INET;
        alen = 4;
    } else if (inet_pton(AF_INET6, buf, net) == 1) {
        fam = AF_INET6;
        alen = 16;
    } else {
        return false;
    }
    bits = (long)alen * 8;
    if (slash) {
        char *end = NULL;

        bits = strtol(slash + 1, &end, 10);
        if (end == slash + 1 || *end != '\0' || bits < 0 || bits > (long)alen * 8)
            return false;
    }
    if (peer->sa_family == AF_INET && fam == AF_INET) {
        memcpy(addr, &((const struct sockaddr_in *)peer)->sin_addr, 4);
    } else if (peer->sa_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)peer)->sin6_addr;

        if (fam == AF_INET6) {
            memcpy(addr, a6, 16);
        } else if (IN6_IS_ADDR_V4MAPPED(a6)) {
            memcpy(addr, (const uint8_t *)a6 + 12, 4);
        } else {
            return false;
        }
    } else {
        return false;
    }
    for (long i = 0; i < bits; i++) {
        uint8_t m = (uint8_t)(0x80u >> (i % 8));

        if ((net[i / 8] & m) != (addr[i / 8] & m))
            return false;
    }
    return true;
}

bool nfs3_client_allowed(const struct cfs_export_info *info, const struct sockaddr *peer)
{
    if (info == NULL || info->clients == NULL)
        return true;
    for (const char *const *c = info->clients; *c; c++)
        if (match_net(*c, peer))
            return true;
    return false;
}

/* ---- helpers ---- */

static const struct cfs_export_info *info_of(struct nfs3_srv *s, cfs_export *e)
{
    if (s->vfs->size < offsetof(struct cfs_vfs_api, export_info) + sizeof(s->vfs->export_info) ||
        s->vfs->export_info == NULL)
        return NULL;
    return s->vfs->export_info(e);
}

static int export_count(struct nfs3_srv *s)
{
    if (s->vfs->size < offsetof(struct cfs_vfs_api, export_count) + sizeof(s->vfs->export_count) ||
        s->vfs->export_count == NULL || s->vfs->export_get == NULL)
        return 0;
    return s->vfs->export_count();
}

/* Compare paths ignoring trailing slashes. */
static bool path_eq(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);

    while (na > 1 && a[na - 1] == '/')
        na--;
    while (nb > 1 && b[nb - 1] == '/')
        nb--;
    return na == nb && memcmp(a, b, na) == 0;
}

/*
 * Does `dir` name `base` or a directory below it? Returns the remainder below base
 * ("" for base itself, "a/b" for base/a/b) or NULL.
 */
static const char *below(const char *dir, const char *base)
{
    size_t n = strlen(base);

    while (n > 1 && base[n - 1] == '/')
        n--;
    if (strncmp(dir, base, n) != 0 || (dir[n] != '\0' && dir[n] != '/'))
        return NULL;
    dir += n;
    while (*dir == '/')
        dir++;
    return dir;
}

/*
 * The export holding a directory a client names in MNT below an export ("/name/a/b" or
 * "<path>/a/b"), as Linux nfsd and Ganesha allow: *rest gets "a/b".
 */
static cfs_export *find_export_below(struct nfs3_srv *s, const char *dir, const char **rest)
{
    int n = export_count(s);

    for (int i = 0; i < n; i++) {
        cfs_export *e = s->vfs->export_get(i);
        const struct cfs_export_info *info = e ? info_of(s, e) : NULL;
        char slash_name[NFS3_PATH_MAX + 2];
        const char *r = NULL;

        if (info == NULL)
            continue;
        if (info->path)
            r = below(dir, info->path);
        if (r == NULL && info->name) {
            snprintf(slash_name, sizeof(slash_name), "/%s", info->name);
            r = below(dir, slash_name);
        }
        if (r != NULL && *r != '\0') {
            *rest = r;
            return e;
        }
    }
    return NULL;
}

/* The export a client names in MNT: its path, "/name" or "name". */
static cfs_export *find_export(struct nfs3_srv *s, const char *dir)
{
    int n = export_count(s);
    const char *nm = dir[0] == '/' ? dir + 1 : dir;

    for (int i = 0; i < n; i++) {
        cfs_export *e = s->vfs->export_get(i);
        const struct cfs_export_info *info = e ? info_of(s, e) : NULL;

        if (info == NULL)
            continue;
        if ((info->path && path_eq(dir, info->path)) || (info->name && path_eq(nm, info->name)))
            return e;
    }
    /* Older hosts without the export list: by name. */
    if (n == 0 && s->vfs->export_find)
        return s->vfs->export_find(nm);
    return NULL;
}

static void peer_host(struct nfs3_req *r, char *out, size_t len)
{
    const struct sockaddr *sa = nfs3_req_peer(r, NULL);

    out[0] = '\0';
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)len);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out,
                  (socklen_t)len);
}

static void list_add(struct nfs3_srv *s, const char *host, const char *dir)
{
    pthread_mutex_lock(&s->mnt_mu);
    for (size_t i = 0; i < s->nmounts; i++)
        if (strcmp(s->mounts[i].host, host) == 0 && strcmp(s->mounts[i].dir, dir) == 0)
            goto out;
    if (s->nmounts < MNT_LIST_MAX) {
        struct nfs3_mount *m = realloc(s->mounts, (s->nmounts + 1) * sizeof(*m));

        if (m == NULL)
            goto out;
        s->mounts = m;
        snprintf(m[s->nmounts].host, sizeof(m[0].host), "%s", host);
        snprintf(m[s->nmounts].dir, sizeof(m[0].dir), "%s", dir);
        s->nmounts++;
    }
out:
    pthread_mutex_unlock(&s->mnt_mu);
}

/* Remove host's entries for dir (NULL = all of them). */
static void list_remove(struct nfs3_srv *s, const char *host, const char *dir)
{
    pthread_mutex_lock(&s->mnt_mu);
    for (size_t i = 0; i < s->nmounts;) {
        if (strcmp(s->mounts[i].host, host) == 0 &&
            (dir == NULL || strcmp(s->mounts[i].dir, dir) == 0)) {
            s->mounts[i] = s->mounts[--s->nmounts];
            continue;
        }
        i++;
    }
    pthread_mutex_unlock(&s->mnt_mu);
}

void mnt3_list_free(struct nfs3_srv *s)
{
    pthread_mutex_lock(&s->mnt_mu);
    free(s->mounts);
    s->mounts = NULL;
    s->nmounts = 0;
    pthread_mutex_unlock(&s->mnt_mu);
}

/* ---- procedures ---- */

static void mnt_reply(struct nfs3_req *r, uint32_t st, const struct cfs_fh *fh)
{
    struct nfs3_srv *s = r->conn->srv;
    struct cfs_xdr *x = &r->out;
    char host[INET6_ADDRSTRLEN];

    if (st == MNT3_OK) {
        peer_host(r, host, sizeof(host));
        list_add(s, host, r->args.path);
    }
    r->status = st;
    cfs_xdr_enc_u32(x, st);
    if (st == MNT3_OK) {
        nfs3_enc_fh(x, fh);
        cfs_xdr_enc_u32(x, 2);
        cfs_xdr_enc_u32(x, CFS_RPC_AUTH_SYS);
        cfs_xdr_enc_u32(x, CFS_RPC_AUTH_NONE);
    }
    if (st != MNT3_OK && s->api->log)
        s->api->log(CFS_LOG_INFO, NFS3_TAG, "MNT %s from %s refused: %u", r->args.path,
                    r->conn->peer_str, st);
}

/* A mount below an export's root resolved: answer on the connection's loop. */
static void mnt_below_done(struct cfs_vfs_op *op, void *arg)
{
    struct nfs3_req *r = arg;
    uint32_t st = MNT3_OK;

    if (op->status == CFS_ERETRY)
        st = MNT3ERR_SERVERFAULT;
    else if (op->status == -EACCES || op->status == -EPERM)
        st = MNT3ERR_ACCES;
    else if (op->status != 0)
        st = MNT3ERR_NOENT;
    else if (op->has_attr && op->attr.type != CFS_FT_DIR)
        st = MNT3ERR_NOTDIR;
    mnt_reply(r, st, &op->out_fh);
    nfs3_req_finish(r);
}

/* Returns true when the reply will be sent later (a mount below an export's root). */
static bool mnt(struct nfs3_req *r)
{
    struct nfs3_srv *s = r->conn->srv;
    const struct cfs_export_info *info;
    struct cfs_fh fh;
    const char *rest = NULL;
    cfs_export *e;
    uint32_t st = MNT3_OK;

    if (strlen(r->args.path) > NFS3_PATH_MAX) {
        st = MNT3ERR_NAMETOOLONG;
        goto out;
    }
    e = find_export(s, r->args.path);
    if (e == NULL)
        e = find_export_below(s, r->args.path, &rest);
    if (e == NULL) {
        st = MNT3ERR_NOENT;
        goto out;
    }
    info = info_of(s, e);
    if (info && !nfs3_client_allowed(info, nfs3_req_peer(r, NULL))) {
        st = MNT3ERR_ACCES;
        goto out;
    }
    if (info && info->secure_ports) {
        const struct sockaddr *sa = nfs3_req_peer(r, NULL);
        uint16_t port = sa->sa_family == AF_INET
                            ? ntohs(((const struct sockaddr_in *)sa)->sin_port)
                            : ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);

        if (port >= 1024) {
            st = MNT3ERR_ACCES;
            goto out;
        }
    }
    memset(&fh, 0, sizeof(fh));
    if (s->vfs->export_root(e, &fh) < 0 || fh.len == 0) {
        st = MNT3ERR_SERVERFAULT;
        goto out;
    }
    if (rest) {
        /* Resolve the sub-path with the caller's credentials, confined to the export. */
        cfs_vfs_op_init(&r->op, CFS_VOP_LOOKUP_PATH, &r->cred, e);
        r->op.fh = fh;
        r->op.name = rest;
        if (s->vfs->submit(r->conn->loop, &r->op, mnt_below_done, r) == 0)
            return true;
        st = MNT3ERR_SERVERFAULT;
    }
out:
    mnt_reply(r, st, &fh);
    return false;
}

static void dump(struct nfs3_req *r)
{
    struct nfs3_srv *s = r->conn->srv;
    struct cfs_xdr *x = &r->out;

    pthread_mutex_lock(&s->mnt_mu);
    for (size_t i = 0; i < s->nmounts; i++) {
        cfs_xdr_enc_bool(x, true);
        cfs_xdr_enc_string(x, s->mounts[i].host);
        cfs_xdr_enc_string(x, s->mounts[i].dir);
    }
    pthread_mutex_unlock(&s->mnt_mu);
    cfs_xdr_enc_bool(x, false);
}

static void exports(struct nfs3_req *r)
{
    struct nfs3_srv *s = r->conn->srv;
    struct cfs_xdr *x = &r->out;
    int n = export_count(s);
    char dir[NFS3_PATH_MAX + 2];

    for (int i = 0; i < n; i++) {
        cfs_export *e = s->vfs->export_get(i);
        const struct cfs_export_info *info = e ? info_of(s, e) : NULL;

        if (info == NULL || info->name == NULL)
            continue;
        snprintf(dir, sizeof(dir), "/%s", info->name);
        cfs_xdr_enc_bool(x, true);
        cfs_xdr_enc_string(x, dir);
        if (info->clients) {
            for (const char *const *c = info->clients; *c; c++) {
                cfs_xdr_enc_bool(x, true);
                cfs_xdr_enc_string(x, *c);
            }
        } else {
            cfs_xdr_enc_bool(x, true);
            cfs_xdr_enc_string(x, "*");
        }
        cfs_xdr_enc_bool(x, false);
    }
    cfs_xdr_enc_bool(x, false);
}

void mnt3_proc_run(struct nfs3_req *r)
{
    char host[INET6_ADDRSTRLEN];

    r->status = 0;
    switch (r->handler - NFS3_H_MNT_BASE) {
    case MNT3_NULL:
        break;
    case MNT3_MNT:
        if (mnt(r))
            return; /* answered by mnt_below_done */
        break;
    case MNT3_DUMP:
        dump(r);
        break;
    case MNT3_UMNT:
        peer_host(r, host, sizeof(host));
        list_remove(r->conn->srv, host, r->args.path);
        break;
    case MNT3_UMNTALL:
        peer_host(r, host, sizeof(host));
        list_remove(r->conn->srv, host, NULL);
        break;
    case MNT3_EXPORT:
        exports(r);
        break;
    default:
        break;
    }
    nfs3_req_finish(r);
}
