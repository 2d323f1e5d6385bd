/*
 * cfs/rpc.h - ONC RPC version 2 (RFC 5531) for the NFS family of modules: TCP record
 * marking, call header decoding with AUTH_NONE / AUTH_SYS, reply headers, a program /
 * version / procedure dispatch table and a duplicate request cache. Transport-neutral
 * (no libevent): the module feeds bytes and writes the buffers these calls produce.
 * Implemented in cfsproto (core/proto/rpc.c, rpc_drc.c).
 */
#ifndef CFS_RPC_H
#define CFS_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "xdr.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CFS_RPC_VERS 2u

enum cfs_rpc_msg_type { CFS_RPC_CALL = 0, CFS_RPC_REPLY = 1 };
enum cfs_rpc_reply_stat { CFS_RPC_MSG_ACCEPTED = 0, CFS_RPC_MSG_DENIED = 1 };
enum cfs_rpc_accept_stat {
    CFS_RPC_SUCCESS = 0,
    CFS_RPC_PROG_UNAVAIL = 1,
    CFS_RPC_PROG_MISMATCH = 2,
    CFS_RPC_PROC_UNAVAIL = 3,
    CFS_RPC_GARBAGE_ARGS = 4,
    CFS_RPC_SYSTEM_ERR = 5,
};
enum cfs_rpc_reject_stat { CFS_RPC_RPC_MISMATCH = 0, CFS_RPC_AUTH_ERROR = 1 };
enum cfs_rpc_auth_stat {
    CFS_RPC_AUTH_OK = 0,
    CFS_RPC_AUTH_BADCRED = 1,
    CFS_RPC_AUTH_REJECTEDCRED = 2,
    CFS_RPC_AUTH_BADVERF = 3,
    CFS_RPC_AUTH_REJECTEDVERF = 4,
    CFS_RPC_AUTH_TOOWEAK = 5,
    CFS_RPC_AUTH_INVALIDRESP = 6,
    CFS_RPC_AUTH_FAILED = 7,
};
enum cfs_rpc_auth_flavor {
    CFS_RPC_AUTH_NONE = 0,
    CFS_RPC_AUTH_SYS = 1,
    CFS_RPC_AUTH_SHORT = 2,
    CFS_RPC_AUTH_DH = 3,
    CFS_RPC_RPCSEC_GSS = 6,
};

#define CFS_RPC_AUTH_MAX_BYTES 400u /* opaque_auth body limit (RFC 5531) */
#define CFS_RPC_AUTHSYS_MAX_MACHINE 255u
#define CFS_RPC_AUTHSYS_MAX_GIDS 16u

/* ---- record marking (RFC 5531 section 11) ---- */

#define CFS_RPC_RM_LAST 0x80000000u
#define CFS_RPC_RM_LEN 0x7fffffffu

/* Reassembles one record at a time from a byte stream. */
struct cfs_rpc_rm {
    uint8_t *buf;        /* the record being assembled (heap) */
    size_t len, cap;     /* bytes assembled / allocated */
    size_t max_record;   /* a record (all fragments) larger than this is an error */
    uint32_t frag_left;  /* bytes of the current fragment still to come */
    uint8_t hdr[4];
    uint8_t hdr_have;    /* bytes of the next fragment header seen */
    bool in_frag;        /* inside a fragment body */
    bool last;           /* the current fragment is the record's last */
    bool done;           /* a whole record is ready: take it before feeding more */
};

void cfs_rpc_rm_init(struct cfs_rpc_rm *rm, size_t max_record);
void cfs_rpc_rm_free(struct cfs_rpc_rm *rm);
/*
 * Feed up to `n` stream bytes. Returns how many were consumed (stops at the end of a
 * record: rm->done is then true) or -EMSGSIZE when the record would exceed max_record.
 * After an error the stream is unusable: close the connection.
 */
ssize_t cfs_rpc_rm_feed(struct cfs_rpc_rm *rm, const void *data, size_t n);
/*
 * Reading a fragment's body straight into the record (no copy through another buffer):
 * while a fragment body is pending, where its remaining bytes go and how many (*n);
 * NULL when none is pending. Read at most *n bytes there, then report them with
 * cfs_rpc_rm_commit(), which completes the fragment (and the record) as feed would.
 */
void *cfs_rpc_rm_direct(struct cfs_rpc_rm *rm, size_t *n);
void cfs_rpc_rm_commit(struct cfs_rpc_rm *rm, size_t n);
/* Take the completed record (heap, free() it); NULL unless rm->done. Resets for the next. */
uint8_t *cfs_rpc_rm_take(struct cfs_rpc_rm *rm, size_t *len);
/* Write the record mark of a single-fragment record of `len` bytes. */
static inline void cfs_rpc_rm_mark(uint8_t out[4], uint32_t len)
{
    cfs_xdr_put_be32(out, CFS_RPC_RM_LAST | (len & CFS_RPC_RM_LEN));
}

/* ---- call header ---- */

struct cfs_rpc_authsys {
    uint32_t stamp;
    char machine[CFS_RPC_AUTHSYS_MAX_MACHINE + 1];
    uint32_t uid, gid;
    uint32_t ngids;
    uint32_t gids[CFS_RPC_AUTHSYS_MAX_GIDS];
};

/* What decode found wrong with a call that still deserves an answer. */
enum cfs_rpc_call_reject {
    CFS_RPC_CALL_OK = 0,
    CFS_RPC_CALL_RPC_MISMATCH,  /* rpcvers != 2: reply MSG_DENIED RPC_MISMATCH 2..2 */
    CFS_RPC_CALL_AUTH_ERROR,    /* reply MSG_DENIED AUTH_ERROR call.auth_stat */
};

struct cfs_rpc_call {
    uint32_t xid, rpcvers, prog, vers, proc;
    uint32_t cred_flavor;
    const uint8_t *cred_body;   /* into the record */
    uint32_t cred_len;
    struct cfs_rpc_authsys sys; /* when cred_flavor == AUTH_SYS */
    uint32_t verf_flavor;
    const uint8_t *verf_body;
    uint32_t verf_len;
    const uint8_t *args;        /* procedure arguments: into the record */
    size_t args_len;
    enum cfs_rpc_call_reject reject;
    uint32_t auth_stat;         /* when reject == CFS_RPC_CALL_AUTH_ERROR */
};

/*
 * Decode a call header from one record. Returns 0 when the call can be answered (check
 * call->reject), -EBADMSG when it cannot (too short for an xid, or not a CALL): drop it.
 * Accepts AUTH_NONE and AUTH_SYS (at most 16 gids, machine name <= 255); other flavors
 * give reject = AUTH_ERROR/AUTH_BADCRED unless `accept_other_flavors` (RPCSEC_GSS for
 * NFSv4 callers who handle the body themselves).
 */
int cfs_rpc_decode_call(const void *rec, size_t len, struct cfs_rpc_call *call,
                        bool accept_other_flavors);

/* ---- reply headers (into an encoder; the record mark is the caller's) ---- */

/* MSG_ACCEPTED with an AUTH_NONE verifier and `stat` (SUCCESS, PROG_UNAVAIL, ...). */
int cfs_rpc_enc_accepted(struct cfs_xdr *x, uint32_t xid, uint32_t stat);
/* MSG_ACCEPTED PROG_MISMATCH low..high. */
int cfs_rpc_enc_prog_mismatch(struct cfs_xdr *x, uint32_t xid, uint32_t low, uint32_t high);
/* MSG_DENIED RPC_MISMATCH low..high (2..2). */
int cfs_rpc_enc_rpc_mismatch(struct cfs_xdr *x, uint32_t xid, uint32_t low, uint32_t high);
/* MSG_DENIED AUTH_ERROR stat. */
int cfs_rpc_enc_auth_error(struct cfs_xdr *x, uint32_t xid, uint32_t auth_stat);

/* Decoded reply header (for clients and tests: rpcbind registration, test programs). */
struct cfs_rpc_reply {
    uint32_t xid;
    uint32_t reply_stat;    /* MSG_ACCEPTED / MSG_DENIED */
    uint32_t accept_stat;   /* when accepted */
    uint32_t reject_stat;   /* when denied */
    uint32_t low, high;     /* PROG_MISMATCH / RPC_MISMATCH */
    uint32_t auth_stat;     /* AUTH_ERROR */
    const uint8_t *results; /* after the header, when accepted SUCCESS */
    size_t results_len;
};
int cfs_rpc_decode_reply(const void *rec, size_t len, struct cfs_rpc_reply *r);
/* Encode a call header with AUTH_NONE or AUTH_SYS (sys may be NULL for AUTH_NONE). */
int cfs_rpc_enc_call(struct cfs_xdr *x, uint32_t xid, uint32_t prog, uint32_t vers,
                     uint32_t proc, const struct cfs_rpc_authsys *sys);

/* ---- dispatch table ---- */

struct cfs_rpc_proc {
    const char *name;      /* "READ"; NULL = slot unused (PROC_UNAVAIL) */
    int handler;           /* module's own procedure index/tag */
    bool non_idempotent;   /* answers go through the duplicate request cache */
};

struct cfs_rpc_program {
    uint32_t prog, vers;
    const struct cfs_rpc_proc *procs;
    uint32_t nprocs;
    void *arg;             /* module data for this program/version */
};

/*
 * Find the procedure for a call. Returns CFS_RPC_SUCCESS with *program and *proc set,
 * CFS_RPC_PROG_UNAVAIL, CFS_RPC_PROG_MISMATCH (with *low and *high over the versions of that
 * program in the table) or CFS_RPC_PROC_UNAVAIL.
 */
uint32_t cfs_rpc_dispatch(const struct cfs_rpc_program *table, size_t n,
                          const struct cfs_rpc_call *call,
                          const struct cfs_rpc_program **program,
                          const struct cfs_rpc_proc **proc, uint32_t *low, uint32_t *high);

/* ---- duplicate request cache (non-idempotent calls) ---- */

typedef struct cfs_rpc_drc cfs_rpc_drc;

enum cfs_rpc_drc_state {
    CFS_RPC_DRC_NEW = 0,        /* not seen: now recorded as in progress; answer it */
    CFS_RPC_DRC_IN_PROGRESS,    /* the first copy is still running: drop this one */
    CFS_RPC_DRC_REPLAY,         /* answered before: send the cached reply */
};

struct cfs_rpc_drc_key {
    uint32_t xid, prog, vers, proc;
    uint64_t args_sum;          /* cfs_rpc_drc_checksum() of the arguments */
    struct sockaddr_storage addr; /* client address; the port is ignored */
};

/* A cache of at most `max_entries` answers, each kept at least ttl_ms. Thread-safe. */
cfs_rpc_drc *cfs_rpc_drc_new(size_t max_entries, uint64_t ttl_ms);
void cfs_rpc_drc_free(cfs_rpc_drc *drc);
uint64_t cfs_rpc_drc_checksum(const void *p, size_t n);
/* Fill a key from a call and the client address. */
void cfs_rpc_drc_key_init(struct cfs_rpc_drc_key *k, const struct cfs_rpc_call *call,
                          const struct sockaddr *peer, socklen_t peerlen);
/*
 * Look the call up. On REPLAY, *reply and *len get a heap copy of the cached reply (free()).
 * On NEW the call is recorded as in progress; finish it with complete() or abandon().
 */
int cfs_rpc_drc_lookup(cfs_rpc_drc *drc, const struct cfs_rpc_drc_key *k, uint64_t now_ms,
                       uint8_t **reply, size_t *len);
/* Store the reply of a NEW call (copied). */
void cfs_rpc_drc_complete(cfs_rpc_drc *drc, const struct cfs_rpc_drc_key *k,
                          const void *reply, size_t len, uint64_t now_ms);
/* Forget a NEW call that got no reply (connection closed). */
void cfs_rpc_drc_abandon(cfs_rpc_drc *drc, const struct cfs_rpc_drc_key *k);
size_t cfs_rpc_drc_size(cfs_rpc_drc *drc);

#ifdef __cplusplus
}
#endif
#endif
