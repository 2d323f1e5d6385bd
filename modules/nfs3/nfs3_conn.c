/*
 * modules/nfs3/nfs3_conn.c - mod_nfs3 transport: one bufferevent per TCP connection on
 * the loop that accepted it, RPC record reassembly, call header checks and dispatch,
 * the duplicate request cache, replies sent in call order (pipelining allowed, bounded
 * requests in flight per connection), READ payloads sent by reference; and UDP, one
 * datagram per call, answered as soon as each call completes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "nfs3_srv.h"

#define NFS3_OUT_HIGH (32u << 20) /* pause reading while this much output is queued */
#define NFS3_UDP_MAX 65536u
#define NFS3_IO_CHUNK (2u << 20) /* bytes one read/write callback may move */

static const uint8_t zeros[4];

static const struct cfs_rpc_proc nfs3_procs[NFS3_NPROCS] = {
    [NFS3_NULL] = {"NULL", NFS3_NULL, false},
    [NFS3_GETATTR] = {"GETATTR", NFS3_GETATTR, false},
    [NFS3_SETATTR] = {"SETATTR", NFS3_SETATTR, true},
    [NFS3_LOOKUP] = {"LOOKUP", NFS3_LOOKUP, false},
    [NFS3_ACCESS] = {"ACCESS", NFS3_ACCESS, false},
    [NFS3_READLINK] = {"READLINK", NFS3_READLINK, false},
    [NFS3_READ] = {"READ", NFS3_READ, false},
    [NFS3_WRITE] = {"WRITE", NFS3_WRITE, false},
    [NFS3_CREATE] = {"CREATE", NFS3_CREATE, true},
    [NFS3_MKDIR] = {"MKDIR", NFS3_MKDIR, true},
    [NFS3_SYMLINK] = {"SYMLINK", NFS3_SYMLINK, true},
    [NFS3_MKNOD] = {"MKNOD", NFS3_MKNOD, true},
    [NFS3_REMOVE] = {"REMOVE", NFS3_REMOVE, true},
    [NFS3_RMDIR] = {"RMDIR", NFS3_RMDIR, true},
    [NFS3_RENAME] = {"RENAME", NFS3_RENAME, true},
    [NFS3_LINK] = {"LINK", NFS3_LINK, true},
    [NFS3_READDIR] = {"READDIR", NFS3_READDIR, false},
    [NFS3_READDIRPLUS] = {"READDIRPLUS", NFS3_READDIRPLUS, false},
    [NFS3_FSSTAT] = {"FSSTAT", NFS3_FSSTAT, false},
    [NFS3_FSINFO] = {"FSINFO", NFS3_FSINFO, false},
    [NFS3_PATHCONF] = {"PATHCONF", NFS3_PATHCONF, false},
    [NFS3_COMMIT] = {"COMMIT", NFS3_COMMIT, false},
};

static const struct cfs_rpc_proc mnt3_procs[MNT3_NPROCS] = {
    [MNT3_NULL] = {"NULL", NFS3_H_MNT_BASE + MNT3_NULL, false},
    [MNT3_MNT] = {"MNT", NFS3_H_MNT_BASE + MNT3_MNT, false},
    [MNT3_DUMP] = {"DUMP", NFS3_H_MNT_BASE + MNT3_DUMP, false},
    [MNT3_UMNT] = {"UMNT", NFS3_H_MNT_BASE + MNT3_UMNT, false},
    [MNT3_UMNTALL] = {"UMNTALL", NFS3_H_MNT_BASE + MNT3_UMNTALL, false},
    [MNT3_EXPORT] = {"EXPORT", NFS3_H_MNT_BASE + MNT3_EXPORT, false},
};

static const struct cfs_rpc_proc nlm4_procs[NLM4_NPROCS] = {
    [NLM4_NULL] = {"NULL", NFS3_H_NLM_BASE + NLM4_NULL, false},
    [NLM4_TEST] = {"TEST", NFS3_H_NLM_BASE + NLM4_TEST, false},
    [NLM4_LOCK] = {"LOCK", NFS3_H_NLM_BASE + NLM4_LOCK, false},
    [NLM4_CANCEL] = {"CANCEL", NFS3_H_NLM_BASE + NLM4_CANCEL, false},
    [NLM4_UNLOCK] = {"UNLOCK", NFS3_H_NLM_BASE + NLM4_UNLOCK, false},
    [NLM4_TEST_MSG] = {"TEST_MSG", NFS3_H_NLM_BASE + NLM4_TEST_MSG, false},
    [NLM4_LOCK_MSG] = {"LOCK_MSG", NFS3_H_NLM_BASE + NLM4_LOCK_MSG, false},
    [NLM4_CANCEL_MSG] = {"CANCEL_MSG", NFS3_H_NLM_BASE + NLM4_CANCEL_MSG, false},
    [NLM4_UNLOCK_MSG] = {"UNLOCK_MSG", NFS3_H_NLM_BASE + NLM4_UNLOCK_MSG, false},
    [NLM4_SHARE] = {"SHARE", NFS3_H_NLM_BASE + NLM4_SHARE, false},
    [NLM4_UNSHARE] = {"UNSHARE", NFS3_H_NLM_BASE + NLM4_UNSHARE, false},
    [NLM4_NM_LOCK] = {"NM_LOCK", NFS3_H_NLM_BASE + NLM4_NM_LOCK, false},
    [NLM4_FREE_ALL] = {"FREE_ALL", NFS3_H_NLM_BASE + NLM4_FREE_ALL, false},
};

static const struct cfs_rpc_proc nsm_procs[NSM_NPROCS] = {
    [NSM_NULL] = {"NULL", NFS3_H_NSM_BASE + NSM_NULL, false},
    [NSM_STAT] = {"STAT", NFS3_H_NSM_BASE + NSM_STAT, false},
    [NSM_MON] = {"MON", NFS3_H_NSM_BASE + NSM_MON, false},
    [NSM_UNMON] = {"UNMON", NFS3_H_NSM_BASE + NSM_UNMON, false},
    [NSM_UNMON_ALL] = {"UNMON_ALL", NFS3_H_NSM_BASE + NSM_UNMON_ALL, false},
    [NSM_SIMU_CRASH] = {"SIMU_CRASH", NFS3_H_NSM_BASE + NSM_SIMU_CRASH, false},
    [NSM_NOTIFY] = {"NOTIFY", NFS3_H_NSM_BASE + NSM_NOTIFY, false},
};

static const struct cfs_rpc_program nfs3_programs[] = {
    {NFS3_PROG, NFS3_VERS, nfs3_procs, NFS3_NPROCS, NULL},
    {MNT3_PROG, MNT3_VERS, mnt3_procs, MNT3_NPROCS, NULL},
    {NLM_PROG, NLM4_VERS, nlm4_procs, NLM4_NPROCS, NULL},
    {NSM_PROG, NSM_VERS, nsm_procs, NSM_NPROCS, NULL},
};
/* Without NLM: the table stops before it. */
#define NFS3_NPROGRAMS_NO_NLM 2

const struct nfs3_conf *nfs3_conf_get(struct nfs3_srv *s)
{
    return atomic_load_explicit(&s->conf, memory_order_acquire);
}

static void process_input(struct nfs3_conn *c);

/* ---- connection bookkeeping ---- */

static void conn_link(struct nfs3_conn *c, struct nfs3_conn **head)
{
    c->prev = NULL;
    c->next = *head;
    if (*head)
        (*head)->prev = c;
    *head = c;
}

static void conn_unlink(struct nfs3_conn *c, struct nfs3_conn **head)
{
    if (c->prev)
        c->prev->next = c->next;
    else if (*head == c)
        *head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
}

static struct nfs3_conn **loop_list(struct nfs3_conn *c)
{
    struct nfs3_srv *s = c->srv;
    int i = s->api->loop_index ? s->api->loop_index(c->loop) : 0;

    if (c->udp_fd >= 0)
        return &s->udp_conns;
    if (i < 0 || i >= s->nloops)
        i = 0;
    return &s->loop_conns[i];
}

static void req_free(struct nfs3_req *r)
{
    struct nfs3_srv *s = r->conn->srv;

    atomic_fetch_sub(&s->live_reqs, 1);
    if (r->op_live)
        s->vfs->op_release(&r->op);
    if (r->use_drc && !r->done)
        cfs_rpc_drc_abandon(s->drc, &r->drc_key);
    cfs_xdr_enc_free(&r->out);
    free(r->data);
    if (r->data_fd >= 0)
        close(r->data_fd);
    free(r->rec);
    free(r);
}

static void conn_free(struct nfs3_conn *c)
{
    struct nfs3_srv *s = c->srv;

    cfs_rpc_rm_free(&c->rm);
    c->magic = 0;
    free(c);
    atomic_fetch_sub(&s->live_conns, 1);
}

/* Close the socket; requests still running finish (and are freed) later. */
static void conn_close(struct nfs3_conn *c)
{
    struct nfs3_srv *s = c->srv;
    struct nfs3_req **pp;

    if (c->closing)
        return;
    c->closing = true;
    if (c->rev) {
        event_free(c->rev);
        c->rev = NULL;
    }
    if (c->bev) {
        bufferevent_free(c->bev);
        c->bev = NULL;
        if (s->api->conn_closed)
            s->api->conn_closed("nfs3");
    }
    if (c->udp_ev) {
        event_free(c->udp_ev);
        c->udp_ev = NULL;
    }
    conn_unlink(c, loop_list(c));
    /* Requests already answered are freed now; running ones when they complete. */
    pp = &c->head;
    while (*pp) {
        struct nfs3_req *r = *pp;

        if (r->done) {
            *pp = r->next;
            c->inflight--;
            req_free(r);
        } else {
            pp = &r->next;
        }
    }
    c->tail = NULL;
    for (struct nfs3_req *r = c->head; r; r = r->next)
        c->tail = r;
    if (c->head == NULL && !c->in_input)
        conn_free(c);
}

void nfs3_close_loop_conns(void *arg)
{
    struct nfs3_srv *s = arg;
    cfs_loop *loop = s->api->loop_current ? s->api->loop_current() : NULL;
    int i = loop && s->api->loop_index ? s->api->loop_index(loop) : -1;

    if (i >= 0 && i < s->nloops)
        while (s->loop_conns[i])
            conn_close(s->loop_conns[i]);
    if (i <= 0)
        while (s->udp_conns)
            conn_close(s->udp_conns);
    atomic_fetch_sub(&s->posts_pending, 1); /* last touch of s by this call */
}

/* ---- sending ---- */

static void free_cb(const void *data, size_t len, void *extra)
{
    (void)len;
    (void)extra;
    free((void *)(uintptr_t)data);
}

/*
 * A READ payload answered by descriptor (CFS_READ_FD): a file segment that the
 * bufferevent writes with sendfile, page cache to socket without a copy through a
 * buffer. Should the file shrink before it is sent, sendfile comes up short, libevent
 * reports EOF on writing and the connection closes: the client retries, it never gets
 * a record with missing bytes.
 */
static void add_file(struct nfs3_conn *c, struct evbuffer *out, struct nfs3_req *r)
{
    struct evbuffer_file_segment *seg;
    ssize_t n;

    seg = evbuffer_file_segment_new(r->data_fd, (ev_off_t)r->op.offset, (ev_off_t)r->data_len,
                                    EVBUF_FS_CLOSE_ON_FREE | EVBUF_FS_DISABLE_MMAP |
                                        EVBUF_FS_DISABLE_LOCKING);
    if (seg != NULL) {
        r->data_fd = -1; /* the segment closes it */
        if (evbuffer_add_file_segment(out, seg, 0, (ev_off_t)r->data_len) != 0)
            shutdown(bufferevent_getfd(c->bev), SHUT_RDWR); /* cannot send it: close */
        evbuffer_file_segment_free(seg);
        return;
    }
    /* no segment (memory): read it here after all */
    n = r->data ? pread(r->data_fd, r->data, r->data_len, (off_t)r->op.offset) : -1;
    if (n == (ssize_t)r->data_len)
        evbuffer_add(out, r->data, r->data_len);
    else
        shutdown(bufferevent_getfd(c->bev), SHUT_RDWR);
}

/* Append a finished TCP reply (record mark, header, payload by reference). */
static void send_tcp(struct nfs3_conn *c, struct nfs3_req *r)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    uint32_t pad = CFS_XDR_PAD(r->data_len);
    size_t hlen = r->out.pos;
    size_t total = hlen - 4 + r->data_len + pad;
    uint8_t *hdr;

    cfs_rpc_rm_mark(r->out.buf, (uint32_t)total);
    if (hlen <= 4096) {
        evbuffer_add(out, r->out.buf, hlen);
    } else {
        hdr = cfs_xdr_enc_take(&r->out, &hlen);
        if (hdr == NULL || evbuffer_add_reference(out, hdr, hlen, free_cb, NULL) != 0)
            free(hdr);
    }
    if (r->data_len == 0)
        return;
    if (r->data_fd >= 0)
        add_file(c, out, r);
    else if (evbuffer_add_reference(out, r->data, r->data_len, free_cb, NULL) == 0)
        r->data = NULL; /* the evbuffer frees it once written */
    else
        evbuffer_add(out, r->data, r->data_len);
    if (pad)
        evbuffer_add(out, zeros, pad);
}

static void send_udp(struct nfs3_conn *c, struct nfs3_req *r)
{
    struct iovec iov[3];
    struct msghdr mh;
    uint32_t pad = CFS_XDR_PAD(r->data_len);
    int n = 0;

    if (r->out.pos < 4)
        return;
    iov[n].iov_base = r->out.buf + 4; /* no record mark on UDP */
    iov[n++].iov_len = r->out.pos - 4;
    if (r->data_len) {
        iov[n].iov_base = r->data;
        iov[n++].iov_len = r->data_len;
        if (pad) {
            iov[n].iov_base = (void *)(uintptr_t)zeros;
            iov[n++].iov_len = pad;
        }
    }
    memset(&mh, 0, sizeof(mh));
    mh.msg_name = &r->peer;
    mh.msg_namelen = r->peerlen;
    mh.msg_iov = iov;
    mh.msg_iovlen = (size_t)n;
    if (sendmsg(c->udp_fd, &mh, MSG_DONTWAIT) < 0 && c->srv->api->log_enabled &&
        c->srv->api->log_enabled(CFS_LOG_DEBUG))
        c->srv->api->log(CFS_LOG_DEBUG, NFS3_TAG, "udp reply: %s", strerror(errno));
}

static bool output_full(struct nfs3_conn *c)
{
    return c->bev && evbuffer_get_length(bufferevent_get_output(c->bev)) > NFS3_OUT_HIGH;
}

/* After EOF or a stream error: close once the replies already due are written. */
static void check_close(struct nfs3_conn *c)
{
    if (!c->eof_pending || c->closing || c->head != NULL)
        return;
    if (c->bev && evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
        return; /* write_cb comes back when it is written */
    conn_close(c);
}

/* Start or stop reading the socket (our read event, see on_readable). */
static void read_enable(struct nfs3_conn *c, bool on)
{
    if (c->rev == NULL)
        return;
    if (on)
        event_add(c->rev, NULL);
    else
        event_del(c->rev);
}

static void shutdown_read(struct nfs3_conn *c)
{
    c->eof_pending = true;
    if (c->bev) {
        read_enable(c, false);
        evbuffer_drain(bufferevent_get_input(c->bev),
                       evbuffer_get_length(bufferevent_get_input(c->bev)));
    }
}

static void maybe_resume(struct nfs3_conn *c)
{
    const struct nfs3_conf *cf = nfs3_conf_get(c->srv);

    if (!c->paused || c->closing || c->eof_pending || c->bev == NULL)
        return;
    if (c->inflight >= (unsigned)cf->max_inflight || output_full(c))
        return;
    c->paused = false;
    read_enable(c, true);
    process_input(c);
}

static void unlink_req(struct nfs3_conn *c, struct nfs3_req *r)
{
    struct nfs3_req **pp = &c->head;

    while (*pp && *pp != r)
        pp = &(*pp)->next;
    if (*pp)
        *pp = r->next;
    c->tail = NULL;
    for (struct nfs3_req *q = c->head; q; q = q->next)
        c->tail = q;
    c->inflight--;
}

void nfs3_req_finish(struct nfs3_req *r)
{
    struct nfs3_conn *c = r->conn;
    struct nfs3_srv *s = c->srv;

    r->done = true;
    if (r->use_drc && !r->drop) {
        if (r->out.err == 0)
            cfs_rpc_drc_complete(s->drc, &r->drc_key, r->out.buf + 4, r->out.pos - 4,
                                 s->api->now_ms());
        else
            cfs_rpc_drc_abandon(s->drc, &r->drc_key);
    }
    if (r->metric >= 0)
        nfs3_metrics_done(r);
    if (r->out.err && !r->drop && s->api->log)
        s->api->log(CFS_LOG_WARN, NFS3_TAG, "%s: reply of xid %u too large (%d): dropped",
                    c->peer_str, r->call.xid, r->out.err);
    if (c->closing || c->udp_fd >= 0) {
        if (c->udp_fd >= 0 && !c->closing && !r->drop && !r->out.err)
            send_udp(c, r);
        unlink_req(c, r);
        req_free(r);
        if (c->closing && c->head == NULL && !c->in_input)
            conn_free(c);
        return;
    }
    /* The reply leaves as soon as it is ready, in whatever order the calls complete:
     * RPC lets a server answer in any order (clients match xids), so a slow COMMIT or
     * a cold READ does not hold back the replies of the calls behind it. */
    unlink_req(c, r);
    if (!r->drop && !r->out.err)
        send_tcp(c, r);
    req_free(r);
    if (c->eof_pending && !c->in_input)
        check_close(c);
    else
        maybe_resume(c);
}

/* ---- one call ---- */

static void reply_header(struct nfs3_req *r, uint32_t stat)
{
    r->out.pos = 4; /* keep the record mark slot */
    r->out.err = 0;
    cfs_rpc_enc_accepted(&r->out, r->call.xid, stat);
}

static void handle_record(struct nfs3_conn *c, uint8_t *rec, size_t len,
                          const struct sockaddr *from, socklen_t fromlen)
{
    struct nfs3_srv *s = c->srv;
    const struct nfs3_conf *cf = nfs3_conf_get(s);
    const struct cfs_rpc_program *prog = NULL;
    const struct cfs_rpc_proc *proc = NULL;
    struct nfs3_req *r;
    uint32_t stat, lo = 0, hi = 0;
    int rc;

    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        free(rec);
        return;
    }
    r->conn = c;
    r->data_fd = -1;
    r->rec = rec;
    r->rec_len = len;
    r->metric = -1;
    r->t0_us = nfs3_now_us();
    if (from && fromlen <= sizeof(r->peer)) {
        memcpy(&r->peer, from, fromlen);
        r->peerlen = fromlen;
    }
    if (cfs_rpc_decode_call(rec, len, &r->call, false) < 0) {
        /* Not a call we can answer (no xid, or a reply): ignore the record. */
        free(rec);
        free(r);
        return;
    }
    /* Queue it now: replies leave in call order. */
    atomic_fetch_add(&s->live_reqs, 1);
    if (c->tail)
        c->tail->next = r;
    else
        c->head = r;
    c->tail = r;
    c->inflight++;
    if (cfs_xdr_enc_init_dyn(&r->out, 256, (size_t)cf->max_io + 65536u) ||
        cfs_xdr_enc_reserve(&r->out, 4) == NULL) {
        r->drop = true;
        nfs3_req_finish(r);
        return;
    }
    if (r->call.reject == CFS_RPC_CALL_RPC_MISMATCH) {
        cfs_rpc_enc_rpc_mismatch(&r->out, r->call.xid, CFS_RPC_VERS, CFS_RPC_VERS);
        nfs3_req_finish(r);
        return;
    }
    if (r->call.reject == CFS_RPC_CALL_AUTH_ERROR) {
        cfs_rpc_enc_auth_error(&r->out, r->call.xid, r->call.auth_stat);
        nfs3_req_finish(r);
        return;
    }
    stat = cfs_rpc_dispatch(nfs3_programs,
                            cf->nlm ? sizeof(nfs3_programs) / sizeof(nfs3_programs[0])
                                    : NFS3_NPROGRAMS_NO_NLM,
                            &r->call, &prog, &proc, &lo, &hi);
    if (stat == CFS_RPC_PROG_MISMATCH) {
        cfs_rpc_enc_prog_mismatch(&r->out, r->call.xid, lo, hi);
        nfs3_req_finish(r);
        return;
    }
    if (stat != CFS_RPC_SUCCESS) {
        reply_header(r, stat);
        nfs3_req_finish(r);
        return;
    }
    r->handler = proc->handler;
    if (r->handler >= NFS3_H_NSM_BASE)
        r->metric = NFS3_M_NSM + (r->handler - NFS3_H_NSM_BASE);
    else if (r->handler >= NFS3_H_NLM_BASE)
        r->metric = NFS3_M_NLM + (r->handler - NFS3_H_NLM_BASE);
    else if (r->handler >= NFS3_H_MNT_BASE)
        r->metric = NFS3_NPROCS + (r->handler - NFS3_H_MNT_BASE);
    else
        r->metric = r->handler;
    /* Credentials: AUTH_SYS as sent; AUTH_NONE is the anonymous user. */
    if (r->call.cred_flavor == CFS_RPC_AUTH_SYS) {
        r->cred.uid = r->call.sys.uid;
        r->cred.gid = r->call.sys.gid;
        r->cred.ngroups = r->call.sys.ngids;
        memcpy(r->cred.groups, r->call.sys.gids, sizeof(uint32_t) * r->call.sys.ngids);
    } else {
        r->cred.uid = r->cred.gid = 65534;
    }
    if (r->handler >= NFS3_H_NSM_BASE)
        rc = nsm_decode_args(r->call.proc, r->call.args, r->call.args_len, &r->args);
    else if (r->handler >= NFS3_H_NLM_BASE)
        rc = nlm4_decode_args(r->call.proc, r->call.args, r->call.args_len, &r->args);
    else if (r->handler >= NFS3_H_MNT_BASE)
        rc = mnt3_decode_args(r->call.proc, r->call.args, r->call.args_len, &r->args);
    else
        rc = nfs3_decode_args(r->call.proc, r->call.args, r->call.args_len, &r->args);
    if (rc) {
        reply_header(r, CFS_RPC_GARBAGE_ARGS);
        nfs3_req_finish(r);
        return;
    }
    if (proc->non_idempotent && s->drc) {
        uint8_t *cached = NULL;
        size_t clen = 0;
        const struct sockaddr *pa = from ? from : (const struct sockaddr *)&c->peer;
        socklen_t pl = from ? fromlen : c->peerlen;

        cfs_rpc_drc_key_init(&r->drc_key, &r->call, pa, pl);
        rc = cfs_rpc_drc_lookup(s->drc, &r->drc_key, s->api->now_ms(), &cached, &clen);
        if (rc == CFS_RPC_DRC_IN_PROGRESS) {
            r->drop = true; /* the first copy answers */
            nfs3_req_finish(r);
            return;
        }
        if (rc == CFS_RPC_DRC_REPLAY) {
            r->out.pos = 4;
            cfs_xdr_enc_fixed(&r->out, cached, clen);
            free(cached);
            nfs3_req_finish(r);
            return;
        }
        r->use_drc = rc == CFS_RPC_DRC_NEW;
    }
    reply_header(r, CFS_RPC_SUCCESS);
    if (r->handler >= NFS3_H_NLM_BASE)
        nlm_proc_run(r);
    else if (r->handler >= NFS3_H_MNT_BASE)
        mnt3_proc_run(r);
    else
        nfs3_proc_run(r);
}

/* ---- TCP ---- */

/*
 * While a large fragment (a WRITE's data) is still arriving, ask the kernel to wake us
 * only once a good part of it is there (SO_RCVLOWAT), instead of once per few KiB that
 * loopback or the network delivers: one readv per 128 KiB rather than per 4 KiB.
 */
#define RCVLOWAT_MAX (128 * 1024)
static void tune_rcvlowat(struct nfs3_conn *c)
{
    int want = 0, fd;

    if (c->bev == NULL || (fd = bufferevent_getfd(c->bev)) < 0)
        return;
    if (c->rm.in_frag && c->rm.frag_left > 16384 &&
        evbuffer_get_length(bufferevent_get_input(c->bev)) == 0)
        want = c->rm.frag_left > RCVLOWAT_MAX ? RCVLOWAT_MAX : (int)c->rm.frag_left;
    if (want == c->rcvlowat)
        return;
    int v = want ? want : 1;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof(v)) == 0)
        c->rcvlowat = want;
}

static void take_record(struct nfs3_conn *c)
{
    size_t len = 0;
    uint8_t *rec = cfs_rpc_rm_take(&c->rm, &len);

    if (rec == NULL)
        shutdown_read(c);
    else
        handle_record(c, rec, len, NULL, 0);
}

static void process_input(struct nfs3_conn *c)
{
    const struct nfs3_conf *cf = nfs3_conf_get(c->srv);

    if (c->in_input)
        return; /* a synchronous reply inside the loop below: it continues anyway */
    c->in_input = true;
    while (!c->closing && !c->eof_pending && c->bev) {
        struct evbuffer *in = bufferevent_get_input(c->bev);
        struct evbuffer_iovec v[8];
        size_t used = 0;
        int n;

        if (c->inflight >= (unsigned)cf->max_inflight || output_full(c)) {
            c->paused = true;
            read_enable(c, false);
            break;
        }
        if (c->rm.done) { /* completed by a direct read (on_readable) */
            take_record(c);
            continue;
        }
        if (evbuffer_get_length(in) == 0)
            break;
        n = evbuffer_peek(in, -1, NULL, v, 8);
        if (n > 8)
            n = 8;
        for (int i = 0; i < n && !c->rm.done; i++) {
            ssize_t k = cfs_rpc_rm_feed(&c->rm, v[i].iov_base, v[i].iov_len);

            if (k < 0) {
                c->srv->api->log(CFS_LOG_NOTICE, NFS3_TAG,
                                 "%s: record larger than max_record %lld: closing",
                                 c->peer_str, (long long)cf->max_record);
                shutdown_read(c);
                goto out;
            }
            used += (size_t)k;
            if ((size_t)k < v[i].iov_len)
                break;
        }
        evbuffer_drain(in, used);
        if (c->rm.done)
            take_record(c);
        else if (used == 0)
            break;
    }
out:
    c->in_input = false;
    if (c->closing) {
        if (c->head == NULL)
            conn_free(c);
        return;
    }
    if (c->eof_pending) {
        check_close(c);
        return;
    }
    /* Replies completed synchronously above may allow more input now. */
    if (c->paused)
        maybe_resume(c);
    else
        tune_rcvlowat(c);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    process_input(arg);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    struct nfs3_conn *c = arg;

    (void)bev;
    if (c->eof_pending)
        check_close(c);
    else
        maybe_resume(c);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct nfs3_conn *c = arg;

    (void)bev;
    if (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
        conn_close(c);
    } else if (what & BEV_EVENT_EOF) {
        /* The client finished sending: answer what it asked, then close. */
        shutdown_read(c);
        check_close(c);
    }
}

/*
 * The rest of a large fragment (a WRITE's data) goes straight from the socket into the
 * record being assembled; what follows it (the next record's start) into the input
 * buffer. false: nothing to read that way.
 */
#define DIRECT_MIN 16384u
static bool read_direct(struct nfs3_conn *c, int fd, struct evbuffer *in)
{
    struct evbuffer_iovec v;
    struct iovec iov[2];
    size_t want = 0;
    void *p = cfs_rpc_rm_direct(&c->rm, &want);
    ssize_t n;

    if (p == NULL || want < DIRECT_MIN)
        return false;
    if (evbuffer_reserve_space(in, 4096, &v, 1) != 1) {
        conn_close(c);
        return true;
    }
    iov[0].iov_base = p;
    iov[0].iov_len = want;
    iov[1].iov_base = v.iov_base;
    iov[1].iov_len = v.iov_len;
    n = readv(fd, iov, 2);
    if (n <= 0) {
        evbuffer_commit_space(in, &v, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return true;
        event_cb(c->bev, (short)(BEV_EVENT_READING | (n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR)),
                 c);
        return true;
    }
    if ((size_t)n <= want) {
        cfs_rpc_rm_commit(&c->rm, (size_t)n);
        evbuffer_commit_space(in, &v, 0);
    } else {
        cfs_rpc_rm_commit(&c->rm, want);
        v.iov_len = (size_t)n - want;
        evbuffer_commit_space(in, &v, 1);
    }
    process_input(c);
    return true;
}

/*
 * The socket is readable. libevent 2.1's bufferevent reads at most 4 KiB per wake-up
 * (EVBUFFER_MAX_READ), so a 1 MiB WRITE took 256 trips through epoll; read what the
 * kernel holds (FIONREAD, up to a record) into the input buffer in one readv instead.
 */
static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    struct nfs3_conn *c = arg;
    struct evbuffer *in;
    struct evbuffer_iovec v[2];
    struct iovec iov[2];
    int avail = 0, nv;
    ssize_t n, left;

    (void)what;
    if (c->bev == NULL)
        return;
    in = bufferevent_get_input(c->bev);
    if (evbuffer_get_length(in) == 0 && read_direct(c, fd, in))
        return;
    if (ioctl(fd, FIONREAD, &avail) != 0 || avail < 4096)
        avail = 4096;
    if (avail > (int)NFS3_IO_CHUNK + 65536)
        avail = (int)NFS3_IO_CHUNK + 65536;
    nv = evbuffer_reserve_space(in, avail, v, 2);
    if (nv <= 0) {
        conn_close(c);
        return;
    }
    for (int i = 0; i < nv; i++) {
        iov[i].iov_base = v[i].iov_base;
        iov[i].iov_len = v[i].iov_len;
    }
    n = readv(fd, iov, nv);
    if (n <= 0) {
        evbuffer_commit_space(in, v, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        event_cb(c->bev, (short)(BEV_EVENT_READING | (n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR)),
                 c);
        return;
    }
    left = n;
    for (int i = 0; i < nv; i++) {
        if ((size_t)left < v[i].iov_len)
            v[i].iov_len = (size_t)left;
        left -= (ssize_t)v[i].iov_len;
    }
    evbuffer_commit_space(in, v, nv);
    process_input(c);
}

static void format_peer(struct nfs3_conn *c)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;

    if (c->peer.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&c->peer;

        inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
        port = ntohs(a->sin_port);
    } else if (c->peer.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&c->peer;

        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
        port = ntohs(a->sin6_port);
    }
    snprintf(c->peer_str, sizeof(c->peer_str), "%s:%u", host, port);
    c->peer_priv = port > 0 && port < 1024;
}

static struct nfs3_conn *conn_new(struct nfs3_srv *s, cfs_loop *loop,
                                  const struct sockaddr *peer, socklen_t peerlen)
{
    const struct nfs3_conf *cf = nfs3_conf_get(s);
    struct nfs3_conn *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->magic = NFS3_CONN_MAGIC;
    c->srv = s;
    c->loop = loop;
    c->udp_fd = -1;
    if (peer && peerlen <= sizeof(c->peer)) {
        memcpy(&c->peer, peer, peerlen);
        c->peerlen = peerlen;
    }
    format_peer(c);
    cfs_rpc_rm_init(&c->rm, (size_t)cf->max_record);
    atomic_fetch_add(&s->live_conns, 1);
    return c;
}

void nfs3_on_accept(cfs_loop *loop, int fd, const struct sockaddr *peer, socklen_t peerlen,
                    void *arg)
{
    struct nfs3_srv *s = arg;
    struct nfs3_conn *c;

    if (atomic_load(&s->draining) || s->loop_conns == NULL) {
        close(fd);
        return;
    }
    c = conn_new(s, loop, peer, peerlen);
    if (c == NULL) {
        close(fd);
        return;
    }
    c->bev = bufferevent_socket_new(s->api->loop_base(loop), fd, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        close(fd);
        conn_free(c);
        return;
    }
    conn_link(c, loop_list(c));
    if (s->api->conn_opened)
        s->api->conn_opened("nfs3");
    /* libevent moves 16 KiB per callback by default: a 1 MiB READ/WRITE would take 64
     * trips through the loop. Let one callback move a whole record. */
    bufferevent_set_max_single_read(c->bev, NFS3_IO_CHUNK);
    bufferevent_set_max_single_write(c->bev, NFS3_IO_CHUNK);
    bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
    /* The bufferevent writes; reading is ours (on_readable). */
    c->rev = event_new(s->api->loop_base(loop), fd, EV_READ | EV_PERSIST, on_readable, c);
    if (c->rev == NULL) {
        conn_close(c); /* frees c: nothing in flight */
        return;
    }
    bufferevent_disable(c->bev, EV_READ);
    /* bufferevent_socket_new freezes the input's end for its own reads only. */
    evbuffer_unfreeze(bufferevent_get_input(c->bev), 0);
    read_enable(c, true);
    if (s->api->log_enabled && s->api->log_enabled(CFS_LOG_DEBUG))
        s->api->log(CFS_LOG_DEBUG, NFS3_TAG, "connection from %s", c->peer_str);
}

/* ---- UDP ---- */

static void udp_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct nfs3_conn *c = arg;
    const struct nfs3_conf *cf = nfs3_conf_get(c->srv);
    uint8_t buf[NFS3_UDP_MAX];

    (void)what;
    for (int i = 0; i < 64 && !c->closing; i++) {
        struct sockaddr_storage from;
        socklen_t flen = sizeof(from);
        ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from,
                             &flen);
        uint8_t *rec;

        if (n < 0)
            break;
        if (c->inflight >= (unsigned)cf->max_inflight * 4u)
            continue; /* overloaded: the client retransmits */
        rec = malloc(n ? (size_t)n : 1);
        if (rec == NULL)
            continue;
        memcpy(rec, buf, (size_t)n);
        handle_record(c, rec, (size_t)n, (struct sockaddr *)&from, flen);
    }
}

void nfs3_on_udp(cfs_loop *loop, int fd, const struct sockaddr *peer, socklen_t peerlen,
                 void *arg)
{
    struct nfs3_srv *s = arg;
    struct nfs3_conn *c = conn_new(s, loop, peer, peerlen);

    if (c == NULL)
        return;
    c->udp_fd = fd;
    snprintf(c->peer_str, sizeof(c->peer_str), "udp");
    c->udp_ev = event_new(s->api->loop_base(loop), fd, EV_READ | EV_PERSIST, udp_read_cb, c);
    if (c->udp_ev == NULL || event_add(c->udp_ev, NULL) != 0) {
        if (c->udp_ev)
            event_free(c->udp_ev);
        conn_free(c);
        return;
    }
    conn_link(c, loop_list(c));
}
