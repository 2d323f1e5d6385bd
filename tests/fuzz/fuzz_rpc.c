/*
 * tests/fuzz/fuzz_rpc.c - libFuzzer target for the ONC RPC / XDR decoders in cfsproto:
 * the input is a TCP byte stream fed to the record reassembler in chunks whose sizes come
 * from the input; every record is decoded as a call (and as a reply), dispatched against
 * a small program table, and walked with the XDR primitives.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cfs/rpc.h>
#include <cfs/xdr.h>

static const struct cfs_rpc_proc procs[] = {{"NULL", 0, false}, {"A", 1, true}, {NULL, 0, false}};
static const struct cfs_rpc_program table[] = {
    {100003, 3, procs, 3, NULL}, {100005, 1, procs, 1, NULL}, {100005, 3, procs, 2, NULL}};

static void walk_xdr(const uint8_t *p, size_t n)
{
    struct cfs_xdr x;
    char s[64];
    uint8_t o[32];
    uint32_t u, len;
    uint64_t q;
    bool b;
    const uint8_t *ref;

    cfs_xdr_dec_init(&x, p, n);
    while (cfs_xdr_remaining(&x) > 0 && x.err == 0) {
        if (cfs_xdr_dec_u32(&x, &u))
            break;
        switch (u % 8) {
        case 0: cfs_xdr_dec_u64(&x, &q); break;
        case 1: cfs_xdr_dec_bool(&x, &b); break;
        case 2: cfs_xdr_dec_string(&x, s, sizeof(s), 63); break;
        case 3: cfs_xdr_dec_opaque(&x, o, &len, sizeof(o)); break;
        case 4: cfs_xdr_dec_opaque_ref(&x, &ref, &len, UINT32_MAX); break;
        case 5: cfs_xdr_dec_fixed(&x, o, u % sizeof(o)); break;
        case 6: cfs_xdr_dec_enum(&x, &u, 7); break;
        default: cfs_xdr_dec_skip(&x, u >> 16); break;
        }
    }
}

static void one_record(const uint8_t *rec, size_t len)
{
    struct cfs_rpc_call c;
    struct cfs_rpc_reply r;
    const struct cfs_rpc_program *prog;
    const struct cfs_rpc_proc *proc;
    uint32_t lo, hi;
    uint8_t out[512];
    struct cfs_xdr x;

    if (cfs_rpc_decode_call(rec, len, &c, len & 1) == 0) {
        cfs_xdr_enc_init(&x, out, sizeof(out));
        if (c.reject == CFS_RPC_CALL_OK) {
            uint32_t st = cfs_rpc_dispatch(table, 3, &c, &prog, &proc, &lo, &hi);

            if (st == CFS_RPC_PROG_MISMATCH)
                cfs_rpc_enc_prog_mismatch(&x, c.xid, lo, hi);
            else
                cfs_rpc_enc_accepted(&x, c.xid, st);
            if (c.args_len)
                walk_xdr(c.args, c.args_len);
        } else if (c.reject == CFS_RPC_CALL_RPC_MISMATCH) {
            cfs_rpc_enc_rpc_mismatch(&x, c.xid, 2, 2);
        } else {
            cfs_rpc_enc_auth_error(&x, c.xid, c.auth_stat);
        }
        if (cfs_rpc_decode_reply(out, x.pos, &r) != 0 || r.xid != c.xid)
            abort(); /* our own replies must decode */
    }
    cfs_rpc_decode_reply(rec, len, &r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cfs_rpc_rm rm;
    size_t off = 0;
    uint8_t step = size ? data[0] : 1;

    if (size == 0)
        return 0;
    /* the whole input as one record, too */
    one_record(data + 1, size - 1);
    cfs_rpc_rm_init(&rm, 4096);
    off = 1;
    while (off < size) {
        size_t k = (size_t)(step % 61) + 1;
        ssize_t n;

        if (k > size - off)
            k = size - off;
        n = cfs_rpc_rm_feed(&rm, data + off, k);
        if (n < 0)
            break;
        off += (size_t)n;
        if (rm.done) {
            size_t len;
            uint8_t *rec = cfs_rpc_rm_take(&rm, &len);

            if (rec == NULL || len > 4096)
                abort();
            one_record(rec, len);
            free(rec);
        } else if (n == 0) {
            abort(); /* feed must progress while input remains */
        }
        step = (uint8_t)(step * 31u + 7u);
    }
    cfs_rpc_rm_free(&rm);
    return 0;
}
