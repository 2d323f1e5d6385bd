/*
 * core/proto/rpc.c - ONC RPC v2 (RFC 5531): TCP record marking, call header decoding
 * (AUTH_NONE, AUTH_SYS), reply header encoding and the program/version/procedure table.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cfs/rpc.h>

/* ---- record marking ---- */

void cfs_rpc_rm_init(struct cfs_rpc_rm *rm, size_t max_record)
{
    memset(rm, 0, sizeof(*rm));
    rm->max_record = max_record;
}

void cfs_rpc_rm_free(struct cfs_rpc_rm *rm)
{
    free(rm->buf);
    rm->buf = NULL;
    rm->len = rm->cap = 0;
}

/* Room for `more` bytes of record body, growing by doubling, bounded by max_record. */
static int rm_reserve(struct cfs_rpc_rm *rm, size_t more)
{
    size_t need, cap;
    uint8_t *nb;

    if (more > rm->max_record || rm->len > rm->max_record - more)
        return -EMSGSIZE;
    need = rm->len + more;
    if (need <= rm->cap)
        return 0;
    cap = rm->cap ? rm->cap : 512;
    while (cap < need)
        cap *= 2;
    if (cap > rm->max_record)
        cap = rm->max_record;
    if (cap < need)
        cap = need;
    nb = realloc(rm->buf, cap ? cap : 1);
    if (nb == NULL)
        return -ENOMEM;
    rm->buf = nb;
    rm->cap = cap;
    return 0;
}

ssize_t cfs_rpc_rm_feed(struct cfs_rpc_rm *rm, const void *data, size_t n)
{
    const uint8_t *p = data;
    size_t used = 0;
    int rc;

    while (used < n && !rm->done) {
        if (!rm->in_frag) {
            size_t k = 4u - rm->hdr_have;

            if (k > n - used)
                k = n - used;
            memcpy(rm->hdr + rm->hdr_have, p + used, k);
            rm->hdr_have = (uint8_t)(rm->hdr_have + k);
            used += k;
            if (rm->hdr_have < 4)
                break;
            uint32_t mark = cfs_xdr_get_be32(rm->hdr);
            rm->hdr_have = 0;
            rm->last = (mark & CFS_RPC_RM_LAST) != 0;
            rm->frag_left = mark & CFS_RPC_RM_LEN;
            /* Check the whole fragment against the bound now: never wait for a huge one. */
            rc = rm_reserve(rm, rm->frag_left);
            if (rc)
                return rc;
            rm->in_frag = true;
        }
        if (rm->frag_left > 0) {
            size_t k = rm->frag_left;

            if (k > n - used)
                k = n - used;
            memcpy(rm->buf + rm->len, p + used, k);
            rm->len += k;
            rm->frag_left -= (uint32_t)k;
            used += k;
        }
        if (rm->frag_left == 0) {
            rm->in_frag = false;
            if (rm->last)
                rm->done = true;
        }
    }
    return (ssize_t)used;
}

void *cfs_rpc_rm_direct(struct cfs_rpc_rm *rm, size_t *n)
{
    if (rm->done || !rm->in_frag || rm->frag_left == 0) {
        *n = 0;
        return NULL;
    }
    *n = rm->frag_left; /* reserved when the fragment header arrived */
    return rm->buf + rm->len;
}

void cfs_rpc_rm_commit(struct cfs_rpc_rm *rm, size_t n)
{
    assert(rm->in_frag && n <= rm->frag_left);
    rm->len += n;
    rm->frag_left -= (uint32_t)n;
    if (rm->frag_left == 0) {
        rm->in_frag = false;
        if (rm->last)
            rm->done = true;
    }
}

uint8_t *cfs_rpc_rm_take(struct cfs_rpc_rm *rm, size_t *len)
{
    uint8_t *rec;

    if (!rm->done)
        return NULL;
    rec = rm->buf;
    *len = rm->len;
    if (rec == NULL) /* an empty record */
        rec = malloc(1);
    rm->buf = NULL;
    rm->len = rm->cap = 0;
    rm->done = false;
    rm->last = false;
    return rec;
}

/* ---- call header ---- */

static int decode_authsys(const uint8_t *body, uint32_t len, struct cfs_rpc_authsys *s)
{
    struct cfs_xdr x;

    cfs_xdr_dec_init(&x, body, len);
    cfs_xdr_dec_u32(&x, &s->stamp);
    cfs_xdr_dec_string(&x, s->machine, sizeof(s->machine), CFS_RPC_AUTHSYS_MAX_MACHINE);
    cfs_xdr_dec_u32(&x, &s->uid);
    cfs_xdr_dec_u32(&x, &s->gid);
    if (cfs_xdr_dec_u32(&x, &s->ngids) || s->ngids > CFS_RPC_AUTHSYS_MAX_GIDS)
        return -EBADMSG;
    for (uint32_t i = 0; i < s->ngids; i++)
        cfs_xdr_dec_u32(&x, &s->gids[i]);
    if (x.err || cfs_xdr_remaining(&x) != 0)
        return -EBADMSG;
    return 0;
}

int cfs_rpc_decode_call(const void *rec, size_t len, struct cfs_rpc_call *c,
                        bool accept_other_flavors)
{
    struct cfs_xdr x;
    uint32_t mtype;

    memset(c, 0, sizeof(*c));
    cfs_xdr_dec_init(&x, rec, len);
    if (cfs_xdr_dec_u32(&x, &c->xid) || cfs_xdr_dec_u32(&x, &mtype) || mtype != CFS_RPC_CALL)
        return -EBADMSG;
    if (cfs_xdr_dec_u32(&x, &c->rpcvers))
        return -EBADMSG;
    if (c->rpcvers != CFS_RPC_VERS) {
        c->reject = CFS_RPC_CALL_RPC_MISMATCH;
        return 0;
    }
    cfs_xdr_dec_u32(&x, &c->prog);
    cfs_xdr_dec_u32(&x, &c->vers);
    cfs_xdr_dec_u32(&x, &c->proc);
    cfs_xdr_dec_u32(&x, &c->cred_flavor);
    if (x.err)
        return -EBADMSG;
    /* Credential and verifier: opaque_auth with a 400-byte body limit. */
    if (cfs_xdr_dec_opaque_ref(&x, &c->cred_body, &c->cred_len, CFS_RPC_AUTH_MAX_BYTES) ||
        cfs_xdr_dec_u32(&x, &c->verf_flavor) ||
        cfs_xdr_dec_opaque_ref(&x, &c->verf_body, &c->verf_len, CFS_RPC_AUTH_MAX_BYTES)) {
        c->reject = CFS_RPC_CALL_AUTH_ERROR;
        c->auth_stat = CFS_RPC_AUTH_BADCRED;
        return 0;
    }
    c->args = cfs_xdr_cursor(&x);
    c->args_len = cfs_xdr_remaining(&x);
    switch (c->cred_flavor) {
    case CFS_RPC_AUTH_NONE:
        break;
    case CFS_RPC_AUTH_SYS:
        if (decode_authsys(c->cred_body, c->cred_len, &c->sys)) {
            c->reject = CFS_RPC_CALL_AUTH_ERROR;
            c->auth_stat = CFS_RPC_AUTH_BADCRED;
            return 0;
        }
        break;
    default:
        if (!accept_other_flavors) {
            c->reject = CFS_RPC_CALL_AUTH_ERROR;
            c->auth_stat = CFS_RPC_AUTH_BADCRED;
            return 0;
        }
        return 0;
    }
    /* With AUTH_NONE / AUTH_SYS the verifier must be AUTH_NONE (RFC 5531 A). */
    if (c->verf_flavor != CFS_RPC_AUTH_NONE) {
        c->reject = CFS_RPC_CALL_AUTH_ERROR;
        c->auth_stat = CFS_RPC_AUTH_BADVERF;
    }
    return 0;
}

/* ---- reply headers ---- */

static int enc_reply_start(struct cfs_xdr *x, uint32_t xid, uint32_t reply_stat)
{
    cfs_xdr_enc_u32(x, xid);
    cfs_xdr_enc_u32(x, CFS_RPC_REPLY);
    return cfs_xdr_enc_u32(x, reply_stat);
}

int cfs_rpc_enc_accepted(struct cfs_xdr *x, uint32_t xid, uint32_t stat)
{
    enc_reply_start(x, xid, CFS_RPC_MSG_ACCEPTED);
    cfs_xdr_enc_u32(x, CFS_RPC_AUTH_NONE); /* verifier */
    cfs_xdr_enc_u32(x, 0);
    return cfs_xdr_enc_u32(x, stat);
}

int cfs_rpc_enc_prog_mismatch(struct cfs_xdr *x, uint32_t xid, uint32_t low, uint32_t high)
{
    cfs_rpc_enc_accepted(x, xid, CFS_RPC_PROG_MISMATCH);
    cfs_xdr_enc_u32(x, low);
    return cfs_xdr_enc_u32(x, high);
}

int cfs_rpc_enc_rpc_mismatch(struct cfs_xdr *x, uint32_t xid, uint32_t low, uint32_t high)
{
    enc_reply_start(x, xid, CFS_RPC_MSG_DENIED);
    cfs_xdr_enc_u32(x, CFS_RPC_RPC_MISMATCH);
    cfs_xdr_enc_u32(x, low);
    return cfs_xdr_enc_u32(x, high);
}

int cfs_rpc_enc_auth_error(struct cfs_xdr *x, uint32_t xid, uint32_t auth_stat)
{
    enc_reply_start(x, xid, CFS_RPC_MSG_DENIED);
    cfs_xdr_enc_u32(x, CFS_RPC_AUTH_ERROR);
    return cfs_xdr_enc_u32(x, auth_stat);
}

int cfs_rpc_decode_reply(const void *rec, size_t len, struct cfs_rpc_reply *r)
{
    struct cfs_xdr x;
    uint32_t mtype, vflavor;
    const uint8_t *vbody;
    uint32_t vlen;

    memset(r, 0, sizeof(*r));
    cfs_xdr_dec_init(&x, rec, len);
    cfs_xdr_dec_u32(&x, &r->xid);
    cfs_xdr_dec_u32(&x, &mtype);
    cfs_xdr_dec_u32(&x, &r->reply_stat);
    if (x.err || mtype != CFS_RPC_REPLY)
        return -EBADMSG;
    if (r->reply_stat == CFS_RPC_MSG_ACCEPTED) {
        cfs_xdr_dec_u32(&x, &vflavor);
        cfs_xdr_dec_opaque_ref(&x, &vbody, &vlen, CFS_RPC_AUTH_MAX_BYTES);
        cfs_xdr_dec_u32(&x, &r->accept_stat);
        if (r->accept_stat == CFS_RPC_PROG_MISMATCH) {
            cfs_xdr_dec_u32(&x, &r->low);
            cfs_xdr_dec_u32(&x, &r->high);
        }
        if (x.err)
            return -EBADMSG;
        r->results = cfs_xdr_cursor(&x);
        r->results_len = cfs_xdr_remaining(&x);
        return 0;
    }
    if (r->reply_stat != CFS_RPC_MSG_DENIED || cfs_xdr_dec_u32(&x, &r->reject_stat))
        return -EBADMSG;
    if (r->reject_stat == CFS_RPC_RPC_MISMATCH) {
        cfs_xdr_dec_u32(&x, &r->low);
        cfs_xdr_dec_u32(&x, &r->high);
    } else if (r->reject_stat == CFS_RPC_AUTH_ERROR) {
        cfs_xdr_dec_u32(&x, &r->auth_stat);
    } else {
        return -EBADMSG;
    }
    return x.err ? -EBADMSG : 0;
}

int cfs_rpc_enc_call(struct cfs_xdr *x, uint32_t xid, uint32_t prog, uint32_t vers,
                     uint32_t proc, const struct cfs_rpc_authsys *sys)
{
    cfs_xdr_enc_u32(x, xid);
    cfs_xdr_enc_u32(x, CFS_RPC_CALL);
    cfs_xdr_enc_u32(x, CFS_RPC_VERS);
    cfs_xdr_enc_u32(x, prog);
    cfs_xdr_enc_u32(x, vers);
    cfs_xdr_enc_u32(x, proc);
    if (sys == NULL) {
        cfs_xdr_enc_u32(x, CFS_RPC_AUTH_NONE);
        cfs_xdr_enc_u32(x, 0);
    } else {
        size_t at;
        uint32_t n = sys->ngids > CFS_RPC_AUTHSYS_MAX_GIDS ? CFS_RPC_AUTHSYS_MAX_GIDS
                                                           : sys->ngids;

        cfs_xdr_enc_u32(x, CFS_RPC_AUTH_SYS);
        at = x->pos;
        cfs_xdr_enc_u32(x, 0); /* body length, patched below */
        cfs_xdr_enc_u32(x, sys->stamp);
        cfs_xdr_enc_string(x, sys->machine);
        cfs_xdr_enc_u32(x, sys->uid);
        cfs_xdr_enc_u32(x, sys->gid);
        cfs_xdr_enc_u32(x, n);
        for (uint32_t i = 0; i < n; i++)
            cfs_xdr_enc_u32(x, sys->gids[i]);
        cfs_xdr_put_u32_at(x, at, (uint32_t)(x->pos - at - 4));
    }
    cfs_xdr_enc_u32(x, CFS_RPC_AUTH_NONE);
    return cfs_xdr_enc_u32(x, 0);
}

/* ---- dispatch ---- */

uint32_t cfs_rpc_dispatch(const struct cfs_rpc_program *table, size_t n,
                          const struct cfs_rpc_call *call,
                          const struct cfs_rpc_program **program,
                          const struct cfs_rpc_proc **proc, uint32_t *low, uint32_t *high)
{
    bool prog_seen = false;
    uint32_t lo = UINT32_MAX, hi = 0;

    for (size_t i = 0; i < n; i++) {
        const struct cfs_rpc_program *p = &table[i];

        if (p->prog != call->prog)
            continue;
        prog_seen = true;
        if (p->vers < lo)
            lo = p->vers;
        if (p->vers > hi)
            hi = p->vers;
        if (p->vers != call->vers)
            continue;
        if (call->proc >= p->nprocs || p->procs[call->proc].name == NULL)
            return CFS_RPC_PROC_UNAVAIL;
        *program = p;
        *proc = &p->procs[call->proc];
        return CFS_RPC_SUCCESS;
    }
    if (!prog_seen)
        return CFS_RPC_PROG_UNAVAIL;
    *low = lo;
    *high = hi;
    return CFS_RPC_PROG_MISMATCH;
}
