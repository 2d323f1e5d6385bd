/*
 * modules/nfs3/nlm.c - NLM version 4 byte-range locks for NFSv3 clients, through the
 * core lock manager (cfs/lock.h) so SMB and NFSv4 locks conflict with them; and a small
 * NSM (status monitor) so a rebooted client's SM_NOTIFY drops its locks.
 *
 * TEST, LOCK, NM_LOCK, CANCEL, UNLOCK and FREE_ALL are served synchronously. A blocking
 * LOCK that conflicts answers NLM4_BLOCKED and waits in nlm_grant.c: once the holder
 * unlocks, the lock is taken for the client and an NLM4_GRANTED call tells it (a client
 * that re-sends its LOCK meanwhile is answered as before). The asynchronous _MSG/_RES
 * procedures are not served (PROC_UNAVAIL).
 *
 * Grace: the names of clients that held locks are kept in <state_dir>/nlm-clients. When
 * the gateway starts and that file lists clients, new locks are refused with
 * NLM4_DENIED_GRACE_PERIOD for nlm_grace_ms while reclaims (reclaim = true) are granted.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cfs/lock.h>

#include "nfs3_srv.h"

#define NLM_CLIENTS_FILE "nlm-clients"
#define NSM_STATE_FILE "nsm-state"
#define NLM_KNOWN_MAX 4096u

static const struct cfs_lock_api *lock_api(struct nfs3_srv *s)
{
    const struct cfs_lock_api *l;

    if (!CFS_HOST_HAS(s->api, locks))
        return NULL;
    l = s->api->locks;
    if (l == NULL || l->size < offsetof(struct cfs_lock_api, release_client) +
                                   sizeof(l->release_client))
        return NULL;
    return l;
}

static uint64_t client_id(const char *name)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (const char *p = name; *p; p++) {
        h ^= (uint8_t)*p;
        h *= 0x100000001b3ull;
    }
    return h | 1u; /* never 0: 0 means "unknown" to the lock manager */
}

/* Owner identity: svid (4) + oh length (4) + oh + hash of the caller name (8). */
struct nlm_owner {
    uint8_t data[8 + NLM_MAXNETOBJ + 8 + 1]; /* a share owner with the longest oh is
                                                one byte too long for the lock manager:
                                                refused there (DENIED_NOLOCKS) */
    struct cfs_lock_owner o;
};

/*
 * The owner of a byte-range lock: svid, oh length, oh, client id. The owner of a share
 * reservation (SHARE carries no svid): oh length where the svid goes, the oh length
 * again, oh, client id, and one byte more, so that no lock owner is ever equal to a share
 * owner (the length field would have to name two lengths) and UNSHARE can drop the
 * owner's shares with release_owner without touching its locks.
 */
static void owner_init(struct nlm_owner *w, const struct nlm4_args *n, bool share)
{
    uint64_t h = client_id(n->caller);
    size_t at = 0;

    cfs_xdr_put_be32(w->data, share ? n->oh_len : (uint32_t)n->svid);
    cfs_xdr_put_be32(w->data + 4, n->oh_len);
    at = 8;
    if (n->oh_len)
        memcpy(w->data + at, n->oh, n->oh_len);
    at += n->oh_len;
    for (int i = 0; i < 8; i++)
        w->data[at++] = (uint8_t)(h >> (56 - 8 * i));
    if (share)
        w->data[at++] = 'S';
    w->o.proto = CFS_LOCK_PROTO_NLM;
    w->o.len = (uint32_t)at;
    w->o.data = w->data;
    w->o.client = h;
}

/* ---- client records (grace after restart) ---- */

struct record_job {
    struct nfs3_srv *srv;
    char path[512];
    char name[NLM_MAXSTR + INET6_ADDRSTRLEN + 3]; /* "caller address\n" */
};

static void record_work(void *arg)
{
    struct record_job *j = arg;
    int fd = open(j->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

    if (fd >= 0) {
        size_t n = strlen(j->name);

        if (write(fd, j->name, n) != (ssize_t)n)
            (void)0; /* best effort: only the grace period depends on it */
        close(fd);
    }
}

static void record_done(void *arg, int status)
{
    (void)status;
    free(arg);
}

/* Remember that `name` holds locks (once per name per run), and where it called from:
 * after a restart it is told with SM_NOTIFY (nlm_start). */
void nlm_record_client(struct nfs3_srv *s, cfs_loop *loop, const char *name,
                       const struct sockaddr *peer)
{
    char addr[INET6_ADDRSTRLEN] = "-";
    const char *dir = s->api->state_dir ? s->api->state_dir() : NULL;
    uint64_t id = client_id(name);
    struct record_job *j;
    bool known = false;

    if (dir == NULL || dir[0] == '\0' || s->api->work_submit == NULL || loop == NULL)
        return;
    pthread_mutex_lock(&s->mnt_mu);
    for (size_t i = 0; i < s->nlm_nknown; i++)
        if (s->nlm_known[i] == id)
            known = true;
    if (!known && s->nlm_nknown < NLM_KNOWN_MAX) {
        uint64_t *k = realloc(s->nlm_known, (s->nlm_nknown + 1) * sizeof(*k));

        if (k != NULL) {
            s->nlm_known = k;
            k[s->nlm_nknown++] = id;
        } else {
            known = true;
        }
    }
    pthread_mutex_unlock(&s->mnt_mu);
    if (known)
        return;
    j = calloc(1, sizeof(*j));
    if (j == NULL)
        return;
    j->srv = s;
    snprintf(j->path, sizeof(j->path), "%s/%s", dir, NLM_CLIENTS_FILE);
    if (peer && peer->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)peer)->sin_addr, addr, sizeof(addr));
    else if (peer && peer->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)peer)->sin6_addr, addr,
                  sizeof(addr));
    snprintf(j->name, sizeof(j->name), "%s %s\n", name, addr);
    /* the caller name is the client's to choose: a blank, newline or control byte in it
     * must not make a line of its own (an address SM_NOTIFY would go to at the next start) */
    for (char *p = j->name, *end = j->name + strlen(name); p < end; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p == 0x7f)
            *p = '?';
    if (s->api->work_submit(loop, record_work, record_done, j) != 0)
        free(j);
}

/*
 * After a restart: tell every client recorded as holding locks, with SM_NOTIFY to its
 * statd (as sm-notify does for a rebooted host), that this host's NSM state changed,
 * so that it reclaims its locks within the grace period. Lines "caller address"; older
 * lines without an address are skipped.
 */
static void notify_clients(struct nfs3_srv *s, const char *path)
{
    char line[NLM_MAXSTR + INET6_ADDRSTRLEN + 8], host[256], name[NLM_MAXSTR + 1];
    char addr[INET6_ADDRSTRLEN + 1];
    uint8_t args[512];
    struct cfs_xdr x;
    unsigned sent = 0;
    FILE *f = fopen(path, "r");

    if (f == NULL)
        return;
    if (gethostname(host, sizeof(host) - 1) != 0)
        snprintf(host, sizeof(host), "cfs-gateway");
    host[sizeof(host) - 1] = '\0';
    cfs_xdr_enc_init(&x, args, sizeof(args));
    cfs_xdr_enc_string_n(&x, host, (uint32_t)strlen(host)); /* stat_chge.mon_name */
    cfs_xdr_enc_i32(&x, (int32_t)s->nsm_state);              /* stat_chge.state */
    while (x.err == 0 && sent < NLM_KNOWN_MAX && fgets(line, sizeof(line), f) != NULL) {
        struct sockaddr_storage ss;
        socklen_t sl = 0;
        char what[NLM_MAXSTR + INET6_ADDRSTRLEN + 32];

        memset(&ss, 0, sizeof(ss));
        if (sscanf(line, "%1024s %46s", name, addr) != 2)
            continue;
        if (inet_pton(AF_INET, addr, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
            ss.ss_family = AF_INET;
            sl = sizeof(struct sockaddr_in);
        } else if (inet_pton(AF_INET6, addr, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
            ss.ss_family = AF_INET6;
            sl = sizeof(struct sockaddr_in6);
        } else {
            continue;
        }
        snprintf(what, sizeof(what), "SM_NOTIFY to %s (%s)", name, addr);
        nlm_call_client(s, (const struct sockaddr *)&ss, sl, NSM_PROG, NSM_VERS, NSM_NOTIFY,
                        args, x.pos, true, what);
        sent++;
    }
    fclose(f);
    if (sent)
        s->api->log(CFS_LOG_NOTICE, NFS3_TAG,
                    "NSM state %u: telling %u client(s) that held locks (SM_NOTIFY)",
                    s->nsm_state, sent);
}

void nlm_start(struct nfs3_srv *s, const struct nfs3_conf *c)
{
    const char *dir = s->api->state_dir ? s->api->state_dir() : NULL;
    char path[512];
    struct stat st;
    FILE *f;
    uint32_t state = 0;

    s->nlm_grace_until = 0;
    s->nsm_state = 1;
    if (dir == NULL || dir[0] == '\0')
        return;
    /* NSM state: odd while up, one step further at every start. */
    snprintf(path, sizeof(path), "%s/%s", dir, NSM_STATE_FILE);
    f = fopen(path, "r");
    if (f != NULL) {
        unsigned long v = 0;

        if (fscanf(f, "%lu", &v) == 1)
            state = (uint32_t)v;
        fclose(f);
    }
    s->nsm_state = (state | 1u) + 2u;
    f = fopen(path, "w");
    if (f != NULL) {
        fprintf(f, "%u\n", s->nsm_state);
        fclose(f);
    }
    if (!c->nlm)
        return;
    snprintf(path, sizeof(path), "%s/%s", dir, NLM_CLIENTS_FILE);
    bool held = stat(path, &st) == 0 && st.st_size > 0;

    if (held && c->nlm_grace_ms > 0) {
        s->nlm_grace_until = s->api->now_ms() + (uint64_t)c->nlm_grace_ms;
        s->api->log(CFS_LOG_NOTICE, NFS3_TAG,
                    "NLM grace period of %lld ms: clients held locks before the restart",
                    (long long)c->nlm_grace_ms);
    }
    if (held)
        notify_clients(s, path);
    if (truncate(path, 0) != 0 && errno != ENOENT)
        s->api->log(CFS_LOG_WARN, NFS3_TAG, "%s: %s", path, strerror(errno));
}

void nlm_fini(struct nfs3_srv *s)
{
    free(s->nlm_known);
    s->nlm_known = NULL;
    s->nlm_nknown = 0;
}

/* ---- replies ---- */


/* The procedure to carry out: a _MSG call does what its synchronous twin does. */
static int nlm_proc(const struct nfs3_req *r)
{
    int proc = r->handler - NFS3_H_NLM_BASE;

    return NLM4_IS_MSG(proc) ? proc - (int)NLM4_MSG_OFFSET : proc;
}

/*
 * The call is answered. A _MSG call gets an empty (void) reply, and its result leaves as
 * a call of the matching _RES procedure to the client's NLM service; a client whose
 * _RES is lost sends its _MSG again.
 */
static void nlm_finish(struct nfs3_req *r)
{
    uint32_t proc = (uint32_t)(r->handler - NFS3_H_NLM_BASE);

    if (NLM4_IS_MSG(proc) && !r->drop && r->out.err == 0 && r->out.pos > r->nlm_res) {
        socklen_t peerlen;
        const struct sockaddr *peer = nfs3_req_peer(r, &peerlen);

        nlm_msg_send(r->conn->srv, peer, peerlen, proc + NLM4_MSG_TO_RES,
                     r->out.buf + r->nlm_res, r->out.pos - r->nlm_res);
        r->out.pos = r->nlm_res;
    }
    nfs3_req_finish(r);
}

static void enc_res(struct nfs3_req *r, uint32_t stat)
{
    const struct nlm4_args *n = &r->args.nlm;

    r->status = stat;
    cfs_xdr_enc_opaque(&r->out, n->cookie, n->cookie_len);
    cfs_xdr_enc_u32(&r->out, stat);
    if (nlm_proc(r) == NLM4_SHARE || nlm_proc(r) == NLM4_UNSHARE)
        cfs_xdr_enc_i32(&r->out, 0); /* nlm4_shareres.sequence */
}

static void enc_test_denied(struct nfs3_req *r, const struct cfs_lock_conflict *cf)
{
    struct cfs_xdr *x = &r->out;
    uint32_t svid = 0, ohlen = 0;
    const uint8_t *oh = NULL;

    enc_res(r, NLM4_DENIED);
    if (cf->proto == CFS_LOCK_PROTO_NLM && cf->owner_len >= 8) {
        svid = cfs_xdr_get_be32(cf->owner);
        ohlen = cfs_xdr_get_be32(cf->owner + 4);
        if (ohlen <= cf->owner_len - 8)
            oh = cf->owner + 8;
        else
            ohlen = 0;
    }
    cfs_xdr_enc_bool(x, cf->type == CFS_LOCK_WRITE);
    cfs_xdr_enc_i32(x, (int32_t)svid);
    cfs_xdr_enc_opaque(x, oh, ohlen);
    cfs_xdr_enc_u64(x, cf->offset);
    cfs_xdr_enc_u64(x, cf->length == CFS_LOCK_EOF ? 0 : cf->length);
}

/* ---- the lock step, once the handle's attributes are known ---- */

static void lock_step(struct nfs3_req *r)
{
    struct nfs3_srv *s = r->conn->srv;
    const struct cfs_lock_api *la = lock_api(s);
    const struct nlm4_args *n = &r->args.nlm;
    int proc = nlm_proc(r);
    struct cfs_lock_conflict *cf = NULL;
    struct nlm_owner *w = NULL;
    struct cfs_lock_key key;
    uint64_t len = n->len ? n->len : CFS_LOCK_EOF;
    enum cfs_lock_type type = n->exclusive ? CFS_LOCK_WRITE : CFS_LOCK_READ;
    int rc;

    if (la == NULL) {
        enc_res(r, NLM4_DENIED_NOLOCKS);
        return;
    }
    if (n->len && n->offset + n->len < n->offset) {
        enc_res(r, NLM4_FBIG);
        return;
    }
    w = malloc(sizeof(*w));
    cf = calloc(1, sizeof(*cf));
    if (w == NULL || cf == NULL) {
        enc_res(r, NLM4_DENIED_NOLOCKS);
        goto out;
    }
    owner_init(w, n, proc == NLM4_SHARE || proc == NLM4_UNSHARE);
    cfs_lock_key_from_attr(&key, &r->op.attr);
    switch (proc) {
    case NLM4_TEST:
        rc = la->test(&key, &w->o, type, n->offset, len, 0, cf);
        if (rc == -EAGAIN)
            enc_test_denied(r, cf);
        else
            enc_res(r, rc == 0 ? NLM4_GRANTED_OK : NLM4_FAILED);
        break;
    case NLM4_LOCK: case NLM4_NM_LOCK:
        if (n->block && proc == NLM4_LOCK)
            rc = nlm_block_lock(r, &key, &w->o, type, n->offset, len);
        else
            rc = la->lock(&key, &w->o, type, n->offset, len, 0, NULL, NULL, NULL);
        if (rc == 0 && !(n->block && proc == NLM4_LOCK))
            nlm_block_forget(s, &key, &w->o, n->offset, len, false); /* it has it now */
        if (rc == 0) {
            enc_res(r, NLM4_GRANTED_OK);
            if (proc == NLM4_LOCK)
                nlm_record_client(s, r->conn->loop, n->caller, nfs3_req_peer(r, NULL));
        } else if (rc == 1) {
            enc_res(r, NLM4_BLOCKED); /* NLM4_GRANTED follows once it is ours */
        } else if (rc == -EAGAIN) {
            enc_res(r, n->block ? NLM4_BLOCKED : NLM4_DENIED);
        } else if (rc == -ENOLCK || rc == -ENOMEM) {
            enc_res(r, NLM4_DENIED_NOLOCKS);
        } else {
            enc_res(r, NLM4_FAILED);
        }
        break;
    case NLM4_UNLOCK:
        nlm_block_forget(s, &key, &w->o, n->offset, len, false);
        la->unlock(&key, &w->o, n->offset, len, 0);
        enc_res(r, NLM4_GRANTED_OK);
        break;
    case NLM4_SHARE: {
        /* DOS share modes: fsh4_access and fsh4_mode (deny) map bit for bit onto
         * CFS_SHARE_READ/WRITE; a SHARE again by the same owner replaces its share */
        uint64_t id;

        if (n->share_mode > 3 || n->share_access > 3) {
            enc_res(r, NLM4_FAILED);
            break;
        }
        la->release_owner(&key, &w->o);
        rc = la->share_add(&key, &w->o, n->share_access, n->share_mode, &id);
        if (rc == 0) {
            enc_res(r, NLM4_GRANTED_OK);
            nlm_record_client(s, r->conn->loop, n->caller, nfs3_req_peer(r, NULL));
        } else {
            enc_res(r, rc == -EBUSY ? NLM4_DENIED : NLM4_DENIED_NOLOCKS);
        }
        break;
    }
    case NLM4_UNSHARE:
        la->release_owner(&key, &w->o);
        enc_res(r, NLM4_GRANTED_OK);
        break;
    case NLM4_CANCEL:
        /* the client gave up waiting: forget it (a lock taken for it meanwhile is
         * released); answered GRANTED (done) when nothing was waiting, as lockd does */
        nlm_block_forget(s, &key, &w->o, n->offset, len, true);
        enc_res(r, NLM4_GRANTED_OK);
        break;
    default:
        enc_res(r, NLM4_FAILED);
        break;
    }
out:
    free(w);
    free(cf);
}

static void getattr_done(struct cfs_vfs_op *op, void *arg)
{
    struct nfs3_req *r = arg;

    r->op_live = true;
    if (op->status == CFS_ESTALE || op->status == CFS_EBADHANDLE)
        enc_res(r, NLM4_STALE_FH);
    else if (op->status != 0 || !op->has_attr)
        enc_res(r, NLM4_FAILED);
    else
        lock_step(r);
    nlm_finish(r);
}

static void nlm_run(struct nfs3_req *r)
{
    struct nfs3_srv *s = r->conn->srv;
    const struct nlm4_args *n = &r->args.nlm;
    int proc = nlm_proc(r);
    const struct cfs_export_info *info = NULL;
    const struct sockaddr *peer = nfs3_req_peer(r, NULL);

    r->status = 0;
    r->nlm_res = r->out.pos;
    if (proc == NLM4_NULL)
        goto done;
    if (proc == NLM4_FREE_ALL) {
        const struct cfs_lock_api *la = lock_api(s);

        nlm_blocks_drop(s, client_id(n->caller));
        if (la)
            la->release_client(CFS_LOCK_PROTO_NLM, client_id(n->caller));
        goto done;
    }
    if (lock_api(s) == NULL) {
        enc_res(r, NLM4_DENIED_NOLOCKS);
        goto done;
    }
    if (n->fh_too_long || n->fh.len == 0) {
        enc_res(r, NLM4_STALE_FH);
        goto done;
    }
    r->exp = s->vfs->export_from_fh(&n->fh);
    if (r->exp == NULL) {
        enc_res(r, NLM4_STALE_FH);
        goto done;
    }
    if (s->vfs->size >= offsetof(struct cfs_vfs_api, export_info) + sizeof(s->vfs->export_info) &&
        s->vfs->export_info)
        info = s->vfs->export_info(r->exp);
    if (info && !nfs3_client_allowed(info, peer)) {
        enc_res(r, NLM4_DENIED);
        goto done;
    }
    if ((proc == NLM4_LOCK || proc == NLM4_NM_LOCK || proc == NLM4_TEST ||
         proc == NLM4_SHARE) &&
        !(proc != NLM4_TEST && n->reclaim) && s->nlm_grace_until &&
        s->api->now_ms() < s->nlm_grace_until) {
        enc_res(r, NLM4_DENIED_GRACE_PERIOD);
        goto done;
    }
    /* The lock key is (fsid, fileid): ask the namespace for the attributes. */
    cfs_vfs_op_init(&r->op, CFS_VOP_GETATTR, &r->cred, r->exp);
    r->op.fh = n->fh;
    if (s->vfs->submit(r->conn->loop, &r->op, getattr_done, r) == 0)
        return;
    enc_res(r, NLM4_FAILED);
done:
    nlm_finish(r);
}

static void nsm_run(struct nfs3_req *r)
{
    struct nfs3_srv *s = r->conn->srv;
    const struct cfs_lock_api *la = lock_api(s);
    struct cfs_xdr *x = &r->out;

    r->status = 0;
    switch (r->handler - NFS3_H_NSM_BASE) {
    case NSM_STAT: case NSM_MON:
        cfs_xdr_enc_u32(x, 0); /* stat_succ */
        cfs_xdr_enc_u32(x, s->nsm_state);
        break;
    case NSM_UNMON: case NSM_UNMON_ALL:
        cfs_xdr_enc_u32(x, s->nsm_state);
        break;
    case NSM_NOTIFY:
        /* The client rebooted: the locks it held are gone. */
        nlm_blocks_drop(s, client_id(r->args.nlm.caller));
        if (la)
            la->release_client(CFS_LOCK_PROTO_NLM, client_id(r->args.nlm.caller));
        if (s->api->log)
            s->api->log(CFS_LOG_INFO, NFS3_TAG, "SM_NOTIFY from %s: its NLM locks released",
                        r->args.nlm.caller);
        break;
    default: /* NULL, SIMU_CRASH */
        break;
    }
    nfs3_req_finish(r);
}

void nlm_proc_run(struct nfs3_req *r)
{
    if (r->handler >= NFS3_H_NSM_BASE)
        nsm_run(r);
    else
        nlm_run(r);
}
