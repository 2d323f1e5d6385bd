/*
 * modules/nfs3/nlm_grant.c - blocking NLM locks. A LOCK with block = true that conflicts
 * waits here: the core lock manager wakes the waiter at the next unlock on the file, the
 * lock is then taken for the client, and the client is told with an NLM4_GRANTED call to
 * its own NLM service (found through the rpcbind of the client's address, both over UDP,
 * as lockd does). A client that answers anything but GRANTED_OK, or nothing after
 * NLM_CB_TRIES attempts, has the lock released again; it can still poll with LOCK.
 *
 * Waiters are bounded (NLM_BLOCKS_MAX; beyond it a conflict still answers BLOCKED and the
 * client polls), dropped by CANCEL, FREE_ALL, SM_NOTIFY and module stop, and forgotten
 * once the client stops re-sending its LOCK for nlm_block_ms (Linux re-sends every 30 s).
 *
 * The results of the asynchronous _MSG calls go back the same way (nlm_msg_send): a
 * GETPORT at the client's rpcbind, then one call of the _RES procedure, not waited for
 * (the client sends its _MSG again when it hears nothing). At most NLM_MSGS_MAX are
 * under way; more are dropped with a log line (at most one a second). SM_NOTIFY after a
 * restart goes the same way to each client's statd, re-sent until answered.
 *
 * Threads: LOCK, CANCEL and FREE_ALL come in on any loop and change the waiter list under
 * s->nlm_mu; everything else (wake-ups, the callback's socket and timer, freeing) runs on
 * loop 0. A waiter is freed when its last reference goes: one for the list, one for each
 * wake-up registered with the lock manager or posted to loop 0.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "nfs3_srv.h"

#define NLM_BLOCKS_MAX 4096u
#define NLM_MSGS_MAX 256u
#define NLM_CB_TRIES 5
#define NLM_CB_RETRY_MS 1000u
#define NLM_SWEEP_MS 5000u
#define PMAP_VERS 2u
#define PMAPPROC_GETPORT 3u
#define IPPROTO_UDP_NUM 17u

enum blk_state { BLK_WAITING, BLK_GETPORT, BLK_GRANTING };

struct nlm_block {
    struct nlm_block *next;
    struct nfs3_srv *srv;
    atomic_int refs;
    bool listed;                 /* in s->nlm_blocks (under nlm_mu) */
    enum blk_state state;        /* under nlm_mu */
    struct cfs_lock_key key;
    struct cfs_lock_owner o;
    uint8_t odata[8 + NLM_MAXNETOBJ + 8];
    enum cfs_lock_type type;
    uint64_t offset, len;        /* as given to the lock manager */
    uint64_t wire_len;           /* as the client sent it (0 = to the end) */
    uint8_t cookie[NLM_MAXNETOBJ];
    uint32_t cookie_len;
    char caller[NLM_MAXSTR + 1];
    struct cfs_fh fh;
    uint8_t oh[NLM_MAXNETOBJ];
    uint32_t oh_len;
    int32_t svid;
    bool exclusive;
    struct sockaddr_storage peer;
    socklen_t peerlen;
    uint64_t seen_ms;            /* the client's last LOCK for it */
    /* the callback (loop 0) */
    int fd;
    struct event *ev;
    cfs_timer *timer;
    uint32_t xid;
    int tries;
    uint16_t cb_port;
    bool release;                /* blk_end_async: give the lock back */
};

static void wake_cb(void *arg);
struct nlm_msg;
static void msg_end(struct nlm_msg *m, const char *why);

static void set_port(struct sockaddr_storage *a, uint16_t port)
{
    if (a->ss_family == AF_INET)
        ((struct sockaddr_in *)a)->sin_port = htons(port);
    else if (a->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)a)->sin6_port = htons(port);
}

/* PMAPPROC_GETPORT(prog, vers, UDP) */
static void enc_getport(struct cfs_xdr *x, uint32_t xid, uint32_t prog, uint32_t vers)
{
    cfs_rpc_enc_call(x, xid, PMAP_PROG, PMAP_VERS, PMAPPROC_GETPORT, NULL);
    cfs_xdr_enc_u32(x, prog);
    cfs_xdr_enc_u32(x, vers);
    cfs_xdr_enc_u32(x, IPPROTO_UDP_NUM);
    cfs_xdr_enc_u32(x, 0);
}

/* The port a GETPORT reply names, 0 when none (or not the reply to xid). */
static uint16_t dec_getport(const uint8_t *buf, size_t n, uint32_t xid, bool *answered)
{
    struct cfs_rpc_reply rep;
    struct cfs_xdr x;
    uint32_t v = 0;

    *answered = false;
    if (cfs_rpc_decode_reply(buf, n, &rep) < 0 || rep.xid != xid)
        return 0;
    *answered = true;
    if (rep.reply_stat != CFS_RPC_MSG_ACCEPTED || rep.accept_stat != CFS_RPC_SUCCESS)
        return 0;
    cfs_xdr_dec_init(&x, rep.results, rep.results_len);
    if (cfs_xdr_dec_u32(&x, &v) != 0 || v > 65535)
        return 0;
    return (uint16_t)v;
}

static void machine_cred(struct cfs_rpc_authsys *sys)
{
    memset(sys, 0, sizeof(*sys));
    if (gethostname(sys->machine, sizeof(sys->machine) - 1) != 0)
        memcpy(sys->machine, "cfs-gateway", sizeof("cfs-gateway"));
}

static const struct cfs_lock_api *locks(struct nfs3_srv *s)
{
    return CFS_HOST_HAS(s->api, locks) ? s->api->locks : NULL;
}

static cfs_loop *loop0(struct nfs3_srv *s)
{
    return s->api->loop_get ? s->api->loop_get(0) : NULL;
}

static void blk_unref(struct nlm_block *b)
{
    if (atomic_fetch_sub(&b->refs, 1) == 1)
        free(b);
}

/* Take b off the list (under nlm_mu); false if it was not on it. */
static bool unlist_locked(struct nfs3_srv *s, struct nlm_block *b)
{
    if (!b->listed)
        return false;
    for (struct nlm_block **p = &s->nlm_blocks; *p; p = &(*p)->next) {
        if (*p == b) {
            *p = b->next;
            break;
        }
    }
    b->listed = false;
    s->nlm_nblocks--;
    return true;
}

static void cb_close(struct nlm_block *b)
{
    struct nfs3_srv *s = b->srv;

    if (b->timer) {
        s->api->timer_del(b->timer);
        b->timer = NULL;
    }
    if (b->ev) {
        event_free(b->ev);
        b->ev = NULL;
    }
    if (b->fd >= 0) {
        close(b->fd);
        b->fd = -1;
    }
}

/*
 * On loop 0, for a waiter already taken off the list: stop waiting and calling back;
 * give the lock back when it had been taken for the client (release). Drops the list's
 * reference.
 */
static void blk_end(struct nlm_block *b, bool release)
{
    struct nfs3_srv *s = b->srv;
    const struct cfs_lock_api *la = locks(s);

    if (la && la->wait_cancel(&b->key, wake_cb, b) == 0)
        blk_unref(b); /* the registered wake-up will not come */
    cb_close(b);
    if (release && la)
        la->unlock(&b->key, &b->o, b->offset, b->len, 0);
    blk_unref(b);
}

static void end_posted(void *arg)
{
    struct nlm_block *b = arg;
    struct nfs3_srv *s = b->srv;

    blk_end(b, b->release);
    atomic_fetch_sub(&s->nlm_posts, 1);
}

/* From any loop: b is off the list (b->release decided under nlm_mu); end it on loop 0. */
static void blk_end_async(struct nfs3_srv *s, struct nlm_block *b)
{
    cfs_loop *l = loop0(s);

    atomic_fetch_add(&s->nlm_posts, 1);
    if (l && s->api->loop_post(l, end_posted, b) == 0)
        return;
    atomic_fetch_sub(&s->nlm_posts, 1);
    blk_end(b, b->release); /* loops are gone: nothing races it now */
}

/* ---- the callback: GETPORT at the client's rpcbind, then NLM4_GRANTED ---- */

static void cb_send(struct nlm_block *b)
{
    struct nfs3_srv *s = b->srv;
    const struct nfs3_conf *cf = nfs3_conf_get(s);
    struct cfs_rpc_authsys sys;
    struct sockaddr_storage to = b->peer;
    uint8_t buf[4096];
    struct cfs_xdr x;

    machine_cred(&sys);
    b->xid++;
    cfs_xdr_enc_init(&x, buf, sizeof(buf));
    if (b->state == BLK_GETPORT) {
        enc_getport(&x, b->xid, NLM_PROG, NLM4_VERS);
        set_port(&to, (uint16_t)cf->nlm_callback_rpcbind_port);
    } else {
        cfs_rpc_enc_call(&x, b->xid, NLM_PROG, NLM4_VERS, NLM4_GRANTED, &sys);
        cfs_xdr_enc_opaque(&x, b->cookie, b->cookie_len);
        cfs_xdr_enc_bool(&x, b->exclusive);
        cfs_xdr_enc_string_n(&x, b->caller, (uint32_t)strlen(b->caller));
        cfs_xdr_enc_opaque(&x, b->fh.data, b->fh.len);
        cfs_xdr_enc_opaque(&x, b->oh, b->oh_len);
        cfs_xdr_enc_i32(&x, b->svid);
        cfs_xdr_enc_u64(&x, b->offset);
        cfs_xdr_enc_u64(&x, b->wire_len);
        set_port(&to, b->cb_port);
    }
    if (x.err == 0)
        (void)sendto(b->fd, buf, x.pos, MSG_DONTWAIT, (struct sockaddr *)&to, b->peerlen);
}

static void cb_finish(struct nlm_block *b, bool granted, const char *why)
{
    struct nfs3_srv *s = b->srv;
    bool mine;

    pthread_mutex_lock(&s->nlm_mu);
    mine = unlist_locked(s, b);
    pthread_mutex_unlock(&s->nlm_mu);
    if (!mine)
        return; /* a CANCEL took it meanwhile and posted its end */
    if (s->api->log_enabled && s->api->log_enabled(CFS_LOG_INFO))
        s->api->log(CFS_LOG_INFO, NFS3_TAG, "NLM blocked lock of %s: %s", b->caller, why);
    if (granted) {
        nlm_record_client(s, loop0(s), b->caller, (const struct sockaddr *)&b->peer);
        cb_close(b);
        blk_unref(b);
    } else {
        blk_end(b, true);
    }
}

static void cb_read(evutil_socket_t fd, short what, void *arg)
{
    struct nlm_block *b = arg;
    uint8_t buf[2048];
    struct cfs_rpc_reply rep;
    struct cfs_xdr x;
    uint32_t v = 0;
    ssize_t n;
    bool answered;

    (void)what;
    n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0 && b->state == BLK_GETPORT) {
        uint16_t port = dec_getport(buf, (size_t)n, b->xid, &answered);

        if (!answered)
            return; /* not the answer to our last call: keep waiting */
        if (port == 0) {
            cb_finish(b, false, "no NLM service registered at the client's rpcbind");
            return;
        }
        b->cb_port = port;
        b->state = BLK_GRANTING;
        b->tries = 0;
        cb_send(b);
        return;
    }
    if (n <= 0 || cfs_rpc_decode_reply(buf, (size_t)n, &rep) < 0 || rep.xid != b->xid)
        return; /* not the answer to our last call: keep waiting */
    if (rep.reply_stat != CFS_RPC_MSG_ACCEPTED || rep.accept_stat != CFS_RPC_SUCCESS) {
        cb_finish(b, false, "the client refused the GRANTED call");
        return;
    }
    cfs_xdr_dec_init(&x, rep.results, rep.results_len);
    /* nlm4_res: cookie, stat */
    const uint8_t *ck;
    uint32_t cklen;
    if (cfs_xdr_dec_opaque_ref(&x, &ck, &cklen, NLM_MAXNETOBJ) != 0 ||
        cfs_xdr_dec_u32(&x, &v) != 0) {
        cb_finish(b, false, "bad GRANTED reply");
        return;
    }
    if (v == NLM4_GRANTED_OK)
        cb_finish(b, true, "granted, the client acknowledged");
    else
        cb_finish(b, false, "the client declined the granted lock");
}

static void cb_timer(void *arg)
{
    struct nlm_block *b = arg;

    if (++b->tries >= NLM_CB_TRIES) {
        cb_finish(b, false, b->state == BLK_GETPORT ? "the client's rpcbind did not answer"
                                                    : "no answer to the GRANTED call");
        return;
    }
    cb_send(b);
}

/* On loop 0: the lock was taken for the client; tell it. */
static void cb_start(struct nlm_block *b)
{
    struct nfs3_srv *s = b->srv;
    cfs_loop *l = loop0(s);

    b->fd = socket(b->peer.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (b->fd < 0 || l == NULL) {
        cb_finish(b, false, "no socket for the callback");
        return;
    }
    b->ev = event_new(s->api->loop_base(l), b->fd, EV_READ | EV_PERSIST, cb_read, b);
    b->timer = s->api->timer_add(l, NLM_CB_RETRY_MS, true, cb_timer, b);
    if (b->ev == NULL || b->timer == NULL || event_add(b->ev, NULL) != 0) {
        cb_finish(b, false, "no event for the callback");
        return;
    }
    b->xid = (uint32_t)random();
    cb_send(b);
}

/* ---- waking ---- */

static void on_wake(void *arg)
{
    struct nlm_block *b = arg;
    struct nfs3_srv *s = b->srv;
    const struct cfs_lock_api *la = locks(s);
    int rc = -EAGAIN;

    pthread_mutex_lock(&s->nlm_mu);
    if (b->listed && b->state == BLK_WAITING && la) {
        atomic_fetch_add(&b->refs, 1); /* for the wake-up registered again on conflict */
        rc = la->lock(&b->key, &b->o, b->type, b->offset, b->len, 0, NULL, wake_cb, b);
        if (rc != -EAGAIN)
            atomic_fetch_sub(&b->refs, 1);
        if (rc == 0)
            b->state = BLK_GETPORT;
        else if (rc != -EAGAIN)
            unlist_locked(s, b);
    }
    pthread_mutex_unlock(&s->nlm_mu);
    if (rc == 0)
        cb_start(b);
    else if (rc != -EAGAIN)
        blk_end(b, false);
    blk_unref(b); /* this wake-up's reference */
    atomic_fetch_sub(&s->nlm_posts, 1);
}

/* Called by the lock manager (any thread) once, at an unlock on the file. */
static void wake_cb(void *arg)
{
    struct nlm_block *b = arg;
    struct nfs3_srv *s = b->srv;
    cfs_loop *l = loop0(s);

    atomic_fetch_add(&s->nlm_posts, 1);
    if (l && s->api->loop_post(l, on_wake, b) == 0)
        return;
    atomic_fetch_sub(&s->nlm_posts, 1);
    blk_unref(b);
}

/* ---- from the NLM procedures ---- */

static bool same_lock(const struct nlm_block *b, const struct cfs_lock_key *key,
                      const struct cfs_lock_owner *o, uint64_t offset, uint64_t len)
{
    return b->key.len == key->len && memcmp(b->key.data, key->data, key->len) == 0 &&
           b->o.len == o->len &&
           memcmp(b->o.data, o->data, o->len) == 0 && b->offset == offset && b->len == len;
}

int nlm_block_lock(struct nfs3_req *r, const struct cfs_lock_key *key,
                   const struct cfs_lock_owner *o, enum cfs_lock_type type, uint64_t offset,
                   uint64_t len)
{
    struct nfs3_srv *s = r->conn->srv;
    const struct cfs_lock_api *la = locks(s);
    const struct nlm4_args *n = &r->args.nlm;
    socklen_t peerlen;
    const struct sockaddr *peer = nfs3_req_peer(r, &peerlen);
    struct nlm_block *b;
    int rc;

    if (la == NULL || o->len > sizeof(b->odata))
        return -ENOLCK;
    pthread_mutex_lock(&s->nlm_mu);
    for (b = s->nlm_blocks; b; b = b->next) {
        if (!same_lock(b, key, o, offset, len) || b->type != type)
            continue;
        if (b->state != BLK_WAITING) {
            /* already taken for it, the callback still under way: it is the client's */
            unlist_locked(s, b);
            b->release = false;
            pthread_mutex_unlock(&s->nlm_mu);
            blk_end_async(s, b);
            return 0;
        }
        /* the client re-sent its blocked LOCK: still waiting; answer to this one */
        memcpy(b->cookie, n->cookie, n->cookie_len);
        b->cookie_len = n->cookie_len;
        b->seen_ms = s->api->now_ms();
        pthread_mutex_unlock(&s->nlm_mu);
        return 1;
    }
    if (s->nlm_nblocks >= NLM_BLOCKS_MAX || peerlen > sizeof(b->peer) ||
        (b = calloc(1, sizeof(*b))) == NULL) {
        pthread_mutex_unlock(&s->nlm_mu);
        rc = la->lock(key, o, type, offset, len, 0, NULL, NULL, NULL);
        return rc == -EAGAIN ? 1 : rc; /* BLOCKED without a waiter: the client polls */
    }
    b->srv = s;
    b->fd = -1;
    b->key = *key;
    memcpy(b->odata, o->data, o->len);
    b->o = *o;
    b->o.data = b->odata;
    b->type = type;
    b->offset = offset;
    b->len = len;
    b->wire_len = n->len;
    memcpy(b->cookie, n->cookie, n->cookie_len);
    b->cookie_len = n->cookie_len;
    memcpy(b->caller, n->caller, sizeof(b->caller));
    b->fh = n->fh;
    memcpy(b->oh, n->oh, n->oh_len);
    b->oh_len = n->oh_len;
    b->svid = n->svid;
    b->exclusive = n->exclusive;
    memcpy(&b->peer, peer, peerlen);
    b->peerlen = peerlen;
    b->seen_ms = s->api->now_ms();
    atomic_init(&b->refs, 2); /* the list, the wake-up */
    rc = la->lock(key, o, type, offset, len, 0, NULL, wake_cb, b);
    if (rc == -EAGAIN) {
        b->listed = true;
        b->next = s->nlm_blocks;
        s->nlm_blocks = b;
        s->nlm_nblocks++;
        pthread_mutex_unlock(&s->nlm_mu);
        return 1;
    }
    pthread_mutex_unlock(&s->nlm_mu);
    free(b);
    return rc;
}

bool nlm_block_forget(struct nfs3_srv *s, const struct cfs_lock_key *key,
                      const struct cfs_lock_owner *o, uint64_t offset, uint64_t len,
                      bool release)
{
    struct nlm_block *b;

    pthread_mutex_lock(&s->nlm_mu);
    for (b = s->nlm_blocks; b; b = b->next)
        if (same_lock(b, key, o, offset, len))
            break;
    if (b) {
        unlist_locked(s, b);
        b->release = release && b->state != BLK_WAITING;
    }
    pthread_mutex_unlock(&s->nlm_mu);
    if (b == NULL)
        return false;
    blk_end_async(s, b);
    return true;
}

/* Drop the waiters of one client (FREE_ALL, SM_NOTIFY), or of every client (id 0). */
void nlm_blocks_drop(struct nfs3_srv *s, uint64_t client)
{
    for (;;) {
        struct nlm_block *b;

        pthread_mutex_lock(&s->nlm_mu);
        for (b = s->nlm_blocks; b; b = b->next)
            if (client == 0 || b->o.client == client)
                break;
        if (b) {
            unlist_locked(s, b);
            b->release = b->state != BLK_WAITING;
        }
        pthread_mutex_unlock(&s->nlm_mu);
        if (b == NULL)
            return;
        blk_end_async(s, b);
    }
}

/* Loop 0, every NLM_SWEEP_MS: forget waiters whose client stopped asking. */
static void sweep(void *arg)
{
    struct nfs3_srv *s = arg;
    const struct nfs3_conf *cf = nfs3_conf_get(s);
    uint64_t now = s->api->now_ms();

    for (;;) {
        struct nlm_block *b;

        pthread_mutex_lock(&s->nlm_mu);
        for (b = s->nlm_blocks; b; b = b->next)
            if (b->state == BLK_WAITING && now - b->seen_ms > (uint64_t)cf->nlm_block_ms)
                break;
        if (b)
            unlist_locked(s, b);
        pthread_mutex_unlock(&s->nlm_mu);
        if (b == NULL)
            return;
        blk_end(b, false);
    }
}

static void sweep_start(void *arg)
{
    struct nfs3_srv *s = arg;
    cfs_loop *l = loop0(s);

    if (l)
        s->nlm_sweep = s->api->timer_add(l, NLM_SWEEP_MS, true, sweep, s);
    atomic_fetch_sub(&s->nlm_posts, 1);
}

static void sweep_stop(void *arg)
{
    struct nfs3_srv *s = arg;

    if (s->nlm_sweep)
        s->api->timer_del(s->nlm_sweep);
    s->nlm_sweep = NULL;
    while (s->nlm_msgs)
        msg_end(s->nlm_msgs, NULL);
    atomic_fetch_sub(&s->nlm_posts, 1);
}

/*
 * ---- calls to a client's services (loop 0): the result of a _MSG call (a _RES call to
 * its NLM, sent once) and SM_NOTIFY after a restart (to its statd, re-sent until
 * answered). GETPORT at the client's rpcbind first, then the call, over UDP. ----
 */

struct nlm_msg {
    struct nlm_msg *next;        /* s->nlm_msgs */
    struct nfs3_srv *srv;
    struct sockaddr_storage peer;
    socklen_t peerlen;
    uint32_t prog, vers, proc;   /* the call to make */
    bool want_reply;             /* re-send until answered; else send once */
    bool calling;                /* the port is known: the call itself is out */
    uint16_t port;
    uint32_t xid;
    int tries;
    int fd;
    struct event *ev;
    cfs_timer *timer;
    char what[NLM_MAXSTR + 96];  /* for the log */
    size_t len;
    uint8_t args[];
};

static void msg_end(struct nlm_msg *m, const char *why)
{
    struct nfs3_srv *s = m->srv;

    for (struct nlm_msg **p = &s->nlm_msgs; *p; p = &(*p)->next) {
        if (*p == m) {
            *p = m->next;
            if (!m->want_reply)
                s->nlm_nmsgs--;
            break;
        }
    }
    if (why && s->api->log_enabled && s->api->log_enabled(CFS_LOG_INFO))
        s->api->log(CFS_LOG_INFO, NFS3_TAG, "%s: %s", m->what, why);
    if (m->timer)
        s->api->timer_del(m->timer);
    if (m->ev)
        event_free(m->ev);
    if (m->fd >= 0)
        close(m->fd);
    free(m);
}

static void msg_send(struct nlm_msg *m)
{
    const struct nfs3_conf *cf = nfs3_conf_get(m->srv);
    struct sockaddr_storage to = m->peer;
    struct cfs_rpc_authsys sys;
    uint8_t *buf = malloc(512 + m->len);
    struct cfs_xdr x;

    if (buf == NULL)
        return; /* the timer tries again */
    cfs_xdr_enc_init(&x, buf, 512 + m->len);
    m->xid++;
    if (!m->calling) {
        enc_getport(&x, m->xid, m->prog, m->vers);
        set_port(&to, (uint16_t)cf->nlm_callback_rpcbind_port);
    } else {
        machine_cred(&sys);
        cfs_rpc_enc_call(&x, m->xid, m->prog, m->vers, m->proc, &sys);
        cfs_xdr_enc_fixed(&x, m->args, m->len);
        set_port(&to, m->port);
    }
    if (x.err == 0)
        (void)sendto(m->fd, buf, x.pos, MSG_DONTWAIT, (struct sockaddr *)&to, m->peerlen);
    free(buf);
}

static void msg_read(evutil_socket_t fd, short what, void *arg)
{
    struct nlm_msg *m = arg;
    struct cfs_rpc_reply rep;
    uint8_t buf[2048];
    bool answered;
    uint16_t port;
    ssize_t n;

    (void)what;
    n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n <= 0)
        return;
    if (m->calling) { /* the answer to the call itself */
        if (cfs_rpc_decode_reply(buf, (size_t)n, &rep) == 0 && rep.xid == m->xid)
            msg_end(m, rep.reply_stat == CFS_RPC_MSG_ACCEPTED &&
                               rep.accept_stat == CFS_RPC_SUCCESS
                           ? "answered"
                           : "refused");
        return;
    }
    port = dec_getport(buf, (size_t)n, m->xid, &answered);
    if (!answered)
        return;
    if (port == 0) {
        msg_end(m, "the service is not registered at the client's rpcbind");
        return;
    }
    m->port = port;
    m->calling = true;
    m->tries = 0;
    msg_send(m);
    if (!m->want_reply)
        msg_end(m, NULL); /* sent once: the client repeats its _MSG if it is lost */
}

static void msg_timer(void *arg)
{
    struct nlm_msg *m = arg;

    if (++m->tries >= NLM_CB_TRIES) {
        msg_end(m, m->calling ? "no answer" : "the client's rpcbind did not answer");
        return;
    }
    msg_send(m);
}

static void msg_start(void *arg)
{
    struct nlm_msg *m = arg;
    struct nfs3_srv *s = m->srv;
    cfs_loop *l = loop0(s);

    atomic_fetch_sub(&s->nlm_posts, 1);
    m->next = s->nlm_msgs;
    s->nlm_msgs = m;
    if (!m->want_reply)
        s->nlm_nmsgs++;
    if (atomic_load(&s->nlm_stopping) || l == NULL) {
        msg_end(m, "the module is stopping");
        return;
    }
    /* _RES calls are bounded (a client can send _MSG calls at any rate); SM_NOTIFY at a
     * start is bounded by the clients recorded */
    if (!m->want_reply && s->nlm_nmsgs > NLM_MSGS_MAX) {
        uint64_t now = s->api->now_ms();

        if (s->api->log && now - s->nlm_msgs_warned >= 1000) {
            s->nlm_msgs_warned = now;
            s->api->log(CFS_LOG_WARN, NFS3_TAG,
                        "NLM: %u _RES calls under way: %s and more dropped (the clients "
                        "send their _MSG again)", NLM_MSGS_MAX, m->what);
        }
        msg_end(m, NULL);
        return;
    }
    m->fd = socket(m->peer.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (m->fd < 0) {
        msg_end(m, "no socket");
        return;
    }
    m->ev = event_new(s->api->loop_base(l), m->fd, EV_READ | EV_PERSIST, msg_read, m);
    m->timer = s->api->timer_add(l, NLM_CB_RETRY_MS, true, msg_timer, m);
    if (m->ev == NULL || m->timer == NULL || event_add(m->ev, NULL) != 0) {
        msg_end(m, "no event");
        return;
    }
    m->xid = (uint32_t)random();
    msg_send(m);
}

void nlm_call_client(struct nfs3_srv *s, const struct sockaddr *peer, socklen_t peerlen,
                     uint32_t prog, uint32_t vers, uint32_t proc, const uint8_t *args,
                     size_t len, bool want_reply, const char *what)
{
    cfs_loop *l = loop0(s);
    struct nlm_msg *m;

    if (l == NULL || atomic_load(&s->nlm_stopping) || peerlen > sizeof(m->peer) ||
        len > 4096 || (m = calloc(1, sizeof(*m) + len)) == NULL)
        return;
    m->srv = s;
    memcpy(&m->peer, peer, peerlen);
    m->peerlen = peerlen;
    m->prog = prog;
    m->vers = vers;
    m->proc = proc;
    m->want_reply = want_reply;
    m->fd = -1;
    snprintf(m->what, sizeof(m->what), "%s", what);
    m->len = len;
    memcpy(m->args, args, len);
    atomic_fetch_add(&s->nlm_posts, 1);
    if (s->api->loop_post(l, msg_start, m) != 0) {
        atomic_fetch_sub(&s->nlm_posts, 1);
        free(m);
    }
}

void nlm_msg_send(struct nfs3_srv *s, const struct sockaddr *peer, socklen_t peerlen,
                  uint32_t res_proc, const uint8_t *res, size_t len)
{
    char what[64];

    snprintf(what, sizeof(what), "NLM _RES call (procedure %u)", res_proc);
    nlm_call_client(s, peer, peerlen, NLM_PROG, NLM4_VERS, res_proc, res, len, false, what);
}

static void post_loop0(struct nfs3_srv *s, cfs_loop_fn fn)
{
    cfs_loop *l = loop0(s);

    atomic_fetch_add(&s->nlm_posts, 1);
    if (l == NULL || s->api->loop_post(l, fn, s) != 0) {
        atomic_fetch_sub(&s->nlm_posts, 1);
        return;
    }
}

void nlm_grant_start(struct nfs3_srv *s)
{
    atomic_store(&s->nlm_stopping, false);
    post_loop0(s, sweep_start);
}

void nlm_grant_stop(struct nfs3_srv *s)
{
    atomic_store(&s->nlm_stopping, true);
    nlm_blocks_drop(s, 0);
    post_loop0(s, sweep_stop);
    /* every end, wake-up and timer change posted to loop 0 has run */
    for (int t = 0; t < 300 && atomic_load(&s->nlm_posts) > 0; t++)
        usleep(10000);
}
