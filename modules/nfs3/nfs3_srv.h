/*
 * modules/nfs3/nfs3_srv.h - mod_nfs3 server state: configuration, the server instance,
 * connections and requests, shared by nfs3_mod.c, nfs3_conn.c, nfs3_proc.c, mount.c and
 * rpcbind.c. Connections and their requests belong to one worker loop and are touched
 * only on that loop's thread.
 */
#ifndef CFS_MOD_NFS3_SRV_H
#define CFS_MOD_NFS3_SRV_H

#include <pthread.h>
#include <stdatomic.h>

#include <cfs/cfs.h>
#include <cfs/errmap.h>
#include <cfs/lock.h>

#include "nfs3.h"

struct bufferevent;
struct event;

/* One generation of configuration (immutable once built). */
struct nfs3_conf {
    bool enabled;
    char *bind;          /* "host:port" of NFS (and MOUNT) */
    char *mount_bind;    /* MOUNT's own port; "" = none */
    bool udp;
    int64_t max_record;  /* bytes of one RPC record */
    int64_t max_io;      /* rtmax/wtmax */
    bool sendfile;       /* READ of cached data by sendfile (TCP) */
    int64_t max_inflight; /* requests per connection */
    int64_t drc_entries;
    bool rpcbind;
    bool nlm;            /* serve NLM4 + NSM */
    int64_t nlm_grace_ms;
    int64_t nlm_block_ms;            /* a blocked LOCK not re-sent this long is forgotten */
    int64_t nlm_callback_rpcbind_port; /* where a client's NLM port is asked (GRANTED) */
    struct nfs3_conf *retired_next; /* kept until stop: loops may still read it */
};

#define NFS3_M_NLM (NFS3_NPROCS + MNT3_NPROCS)
#define NFS3_M_NSM (NFS3_M_NLM + NLM4_NPROCS)
#define NFS3_NMETRIC (NFS3_M_NSM + NSM_NPROCS)

struct nfs3_conn;

struct nfs3_srv {
    uint32_t magic;
    const struct cfs_host_api *api;
    const struct cfs_vfs_api *vfs;
    struct nfs3_conf *_Atomic conf;
    struct nfs3_conf *retired;
    cfs_listener *l_nfs, *l_mnt, *u_nfs, *u_mnt;
    int nfs_port, mnt_port;
    cfs_rpc_drc *drc;
    atomic_bool draining;
    atomic_int live_conns;
    atomic_int live_reqs;          /* calls received and not yet answered */
    atomic_int posts_pending;      /* close-all calls posted to loops by stop */
    int nloops;
    struct nfs3_conn **loop_conns; /* per loop: list of its connections */
    struct nfs3_conn *udp_conns;   /* UDP pseudo-connections (loop 0) */
    bool registered;               /* with rpcbind */
    /* metrics */
    cfs_series *m_ops[NFS3_NMETRIC], *m_err[NFS3_NMETRIC], *m_lat[NFS3_NMETRIC];
    cfs_series *m_rbytes, *m_wbytes;
    /* MOUNT's list of mounted clients (DUMP) */
    pthread_mutex_t mnt_mu;
    struct nfs3_mount *mounts;
    size_t nmounts;
    /* NLM / NSM (nlm.c) */
    uint64_t nlm_grace_until;      /* monotonic ms; 0 = no grace period */
    uint32_t nsm_state;
    uint64_t *nlm_known;           /* client ids already recorded (under mnt_mu) */
    size_t nlm_nknown;
    /* blocked locks waiting for a GRANTED callback (nlm_grant.c) */
    pthread_mutex_t nlm_mu;
    struct nlm_block *nlm_blocks;
    size_t nlm_nblocks;
    atomic_int nlm_posts;          /* calls posted to loop 0 not yet run */
    struct nlm_msg *nlm_msgs;      /* calls to clients under way (loop 0 only) */
    size_t nlm_nmsgs;              /* of them _RES calls (bounded) */
    uint64_t nlm_msgs_warned;      /* ms of the last "dropped" warning */
    atomic_bool nlm_stopping;
    cfs_timer *nlm_sweep;
};

#define NFS3_SRV_MAGIC 0x4e465333u /* "NFS3" */
#define NFS3_CONN_MAGIC 0x4e464343u

struct nfs3_req {
    struct nfs3_req *next;      /* the calls in progress on the connection */
    struct nfs3_conn *conn;
    uint8_t *rec;               /* the call record (owned) */
    size_t rec_len;
    struct cfs_rpc_call call;
    int handler;                /* NFS proc or NFS3_H_MNT_BASE + MOUNT proc */
    int metric;                 /* index into the metric arrays, -1 none */
    uint64_t t0_us;
    struct nfs3_args args;
    struct cfs_cred cred;
    cfs_export *exp;
    struct cfs_vfs_op op;
    bool op_live;               /* op holds VFS results to release */
    /* the reply */
    struct cfs_xdr out;         /* starts with 4 bytes for the record mark */
    void *data;                 /* READ/READLINK payload sent by reference */
    size_t data_len;
    int data_fd;                /* >= 0: READ payload sent from this file (sendfile) */
    uint32_t status;            /* nfsstat3 / mountstat3 for metrics */
    bool done;                  /* the reply is ready */
    bool drop;                  /* send nothing */
    bool use_drc;
    struct cfs_rpc_drc_key drc_key;
    struct sockaddr_storage peer; /* UDP: where to answer */
    socklen_t peerlen;
    size_t nlm_res;             /* NLM: where the results start in out */
};

struct nfs3_conn {
    uint32_t magic;
    struct nfs3_srv *srv;
    cfs_loop *loop;
    struct bufferevent *bev;    /* TCP; NULL once closed */
    int udp_fd;                 /* UDP pseudo-connection: >= 0 */
    struct event *udp_ev;
    struct sockaddr_storage peer;
    socklen_t peerlen;
    char peer_str[64];
    bool peer_priv;             /* source port < 1024 */
    struct cfs_rpc_rm rm;
    int rcvlowat;               /* SO_RCVLOWAT set on the socket (0 = default) */
    struct event *rev;          /* TCP: our read event (the bufferevent only writes) */
    struct nfs3_req *head, *tail;
    unsigned inflight;          /* requests not yet answered */
    bool closing, paused;
    bool in_input;              /* inside process_input: defer freeing */
    bool eof_pending;           /* close once every reply is written */
    struct nfs3_conn *next, *prev;
};

/* ---- nfs3_conn.c ---- */
void nfs3_on_accept(cfs_loop *loop, int fd, const struct sockaddr *peer, socklen_t peerlen,
                    void *arg);
void nfs3_on_udp(cfs_loop *loop, int fd, const struct sockaddr *peer, socklen_t peerlen,
                 void *arg);
/* Where a request came from: the datagram's sender (UDP) or the connection's peer
 * (TCP); its length in *len when len != NULL. */
static inline const struct sockaddr *nfs3_req_peer(const struct nfs3_req *r, socklen_t *len)
{
    if (len)
        *len = r->peerlen ? r->peerlen : r->conn->peerlen;
    return r->peerlen ? (const struct sockaddr *)&r->peer
                      : (const struct sockaddr *)&r->conn->peer;
}
/* A request's reply is complete (or dropped): send it (replies go out in completion
 * order), free the request. */
void nfs3_req_finish(struct nfs3_req *r);
/* Close every connection of the calling loop (posted by stop). */
void nfs3_close_loop_conns(void *srv);
const struct nfs3_conf *nfs3_conf_get(struct nfs3_srv *s);

/* ---- nfs3_proc.c ---- */
/* Run NFSv3 procedure r->handler; the reply header is already in r->out. */
void nfs3_proc_run(struct nfs3_req *r);

/* ---- mount.c ---- */
void mnt3_proc_run(struct nfs3_req *r);
void mnt3_list_free(struct nfs3_srv *s);
/* Is the client allowed by the export's rules? */
bool nfs3_client_allowed(const struct cfs_export_info *info, const struct sockaddr *peer);

/* ---- nlm.c ---- */
void nlm_proc_run(struct nfs3_req *r);
void nlm_start(struct nfs3_srv *s, const struct nfs3_conf *c);
void nlm_fini(struct nfs3_srv *s);
/* Remember that `name` holds locks (for the grace period after a restart). */
void nlm_record_client(struct nfs3_srv *s, cfs_loop *loop, const char *name,
                       const struct sockaddr *peer);

/* ---- nlm_grant.c ---- */
/* A blocking LOCK: 0 granted now, 1 blocked (a GRANTED callback follows when it can be
 * taken), or a negative error of the lock manager. */
int nlm_block_lock(struct nfs3_req *r, const struct cfs_lock_key *key,
                   const struct cfs_lock_owner *o, enum cfs_lock_type type, uint64_t offset,
                   uint64_t len);
/* Stop waiting for that lock (CANCEL, UNLOCK; and a non-blocking LOCK that got it):
 * true when a waiter was found. release: a lock already taken for the client but not yet
 * acknowledged is given back (CANCEL), else it stays the client's. */
bool nlm_block_forget(struct nfs3_srv *s, const struct cfs_lock_key *key,
                      const struct cfs_lock_owner *o, uint64_t offset, uint64_t len,
                      bool release);
void nlm_blocks_drop(struct nfs3_srv *s, uint64_t client); /* 0: all */
/* An NLM _MSG call's result: sent as a call of procedure res_proc (the matching _RES)
 * with these bytes as its arguments, to the NLM service of the client at peer, found
 * through the client's rpcbind (UDP), once. From any loop; the bytes are copied. */
void nlm_msg_send(struct nfs3_srv *s, const struct sockaddr *peer, socklen_t peerlen,
                  uint32_t res_proc, const uint8_t *res, size_t len);
/* The general form: call (prog, vers, proc) with these arguments at the client at peer
 * (port from its rpcbind), once, or re-sent until answered (want_reply). `what` names
 * the call in the log. */
void nlm_call_client(struct nfs3_srv *s, const struct sockaddr *peer, socklen_t peerlen,
                     uint32_t prog, uint32_t vers, uint32_t proc, const uint8_t *args,
                     size_t len, bool want_reply, const char *what);
void nlm_grant_start(struct nfs3_srv *s);
void nlm_grant_stop(struct nfs3_srv *s);

/* ---- rpcbind.c ---- */
void nfs3_rpcbind_register(struct nfs3_srv *s, bool set);

/* ---- nfs3_mod.c ---- */
void nfs3_metrics_done(struct nfs3_req *r);
uint64_t nfs3_now_us(void);

#endif
