/*
 * tests/fuzz/fuzz_nfs3.c - libFuzzer target for mod_nfs3's argument decoders: the module's
 * modules/nfs3/nfs3_xdr.c is compiled in as is. Byte 0 selects the procedure (NFSv3 0..21
 * or MOUNT when bit 7 is set); the rest is the XDR argument body. Decoded values are
 * checked against their bounds and re-encoded through the attribute encoders.
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
