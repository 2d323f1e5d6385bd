/*
 * tests/fuzz/fuzz_nfs3.c - libFuzzer target for mod_nfs3's argument decoders: the module's
 * modules/nfs3/nfs3_xdr.c is compiled in as is. Byte 0 selects the procedure (NFSv3 0..21
 * when bits 7-6 are 00/01, MOUNT for 10, NLM4 for 110, NSM for 111); the rest is the XDR
 * argument body. Decoded values are checked against their bounds and re-encoded
 * through the attribute encoders.
 */
#include <stdlib.h>
#include <string.h>

#include "../../modules/nfs3/nfs3_xdr.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct nfs3_args a;
    uint8_t out[4096];
    struct cfs_xdr x;
    struct cfs_attr attr;
    int rc;

    if (size < 1)
        return 0;
    memset(&a, 0xa5, sizeof(a));
    if ((data[0] & 0xc0) == 0xc0) {
        /* NLM4 (bit 5 clear) or NSM (bit 5 set) */
        if (data[0] & 0x20)
            rc = nsm_decode_args((uint32_t)(data[0] & 0x1f) % 8, data + 1, size - 1, &a);
        else
            rc = nlm4_decode_args((uint32_t)(data[0] & 0x1f), data + 1, size - 1, &a);
        if (rc == 0 && strlen(a.nlm.caller) > NLM_MAXSTR)
            abort();
        if (rc == 0 && !(data[0] & 0x20) && (data[0] & 0x1f) != NLM4_NULL &&
            (data[0] & 0x1f) != NLM4_FREE_ALL &&
            (a.nlm.fh.len > CFS_FH_MAX || a.nlm.oh_len > NLM_MAXNETOBJ ||
                        a.nlm.cookie_len > NLM_MAXNETOBJ || strlen(a.nlm.caller) > NLM_MAXSTR ||
                        (a.nlm.oh_len && (a.nlm.oh < data || a.nlm.oh + a.nlm.oh_len > data + size))))
            abort();
        return 0;
    }
    if (data[0] & 0x80)
        rc = mnt3_decode_args((uint32_t)(data[0] & 0x7f) % 8, data + 1, size - 1, &a);
    else
        rc = nfs3_decode_args((uint32_t)data[0] % 24, data + 1, size - 1, &a);
    if (rc != 0)
        return 0;
    /* invariants of a successful decode */
    if (strlen(a.path) > NFS3_PATH_MAX)
        abort();
    if (!(data[0] & 0x80)) {
        if (a.fh.len > CFS_FH_MAX || a.fh2.len > CFS_FH_MAX)
            abort();
        if (data[0] % 24 == NFS3_WRITE &&
            (a.data_len > size || a.count > a.data_len ||
             (a.data_len && (a.data < data || a.data + a.data_len > data + size))))
            abort();
        if (strlen(a.name) > NFS3_WIRE_NAME_MAX || strlen(a.name2) > NFS3_WIRE_NAME_MAX)
            abort();
    }
    memset(&attr, 0, sizeof(attr));
    attr.type = CFS_FT_REG;
    attr.size = a.offset;
    attr.mode = a.sattr.mode;
    cfs_xdr_enc_init(&x, out, sizeof(out));
    if (!(data[0] & 0x80))
        nfs3_enc_post_fh(&x, true, &a.fh);
    nfs3_enc_wcc(&x, true, &attr, true, &attr);
    nfs3_enc_post_attr(&x, true, &attr);
    if (x.err)
        abort();
    return 0;
}
