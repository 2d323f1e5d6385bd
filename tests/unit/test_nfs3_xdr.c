/*
 * tests/unit/test_nfs3_xdr.c - mod_nfs3's argument decoders and attribute encoders
 * (modules/nfs3/nfs3_xdr.c compiled in): every procedure's arguments, WRITE data by
 * reference, bounds (handles > 64 bytes, names, bad enums, trailing bytes), fattr3 size,
 * NLM4 and NSM arguments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../modules/nfs3/nfs3_xdr.c"

static struct nfs3_args A;

static size_t put_fh(struct cfs_xdr *x, uint8_t n)
{
    uint8_t fh[80];

    for (int i = 0; i < 80; i++)
        fh[i] = (uint8_t)i;
    cfs_xdr_enc_opaque(x, fh, n);
    return x->pos;
}

static void put_sattr(struct cfs_xdr *x)
{
    cfs_xdr_enc_bool(x, true);
    cfs_xdr_enc_u32(x, 0100644); /* type bits are dropped */
    cfs_xdr_enc_bool(x, false);
    cfs_xdr_enc_bool(x, true);
    cfs_xdr_enc_u32(x, 42);
    cfs_xdr_enc_bool(x, true);
    cfs_xdr_enc_u64(x, 1ull << 33);
    cfs_xdr_enc_u32(x, 1); /* atime: server time */
    cfs_xdr_enc_u32(x, 2); /* mtime: client time */
    cfs_xdr_enc_u32(x, 1000);
    cfs_xdr_enc_u32(x, 5);
}

static void test_simple_procs(void **state)
{
    uint8_t b[512];
    struct cfs_xdr x;

    (void)state;
    assert_int_equal(nfs3_decode_args(NFS3_NULL, NULL, 0, &A), 0);
    cfs_xdr_enc_init(&x, b, sizeof(b));
    put_fh(&x, 22);
    assert_int_equal(nfs3_decode_args(NFS3_GETATTR, b, x.pos, &A), 0);
    assert_int_equal(A.fh.len, 22);
    assert_int_equal(A.fh.data[21], 21);
    /* trailing bytes are garbage */
    cfs_xdr_enc_u32(&x, 0);
    assert_int_equal(nfs3_decode_args(NFS3_GETATTR, b, x.pos, &A), -EBADMSG);
    /* a 65-byte handle */
    cfs_xdr_enc_init(&x, b, sizeof(b));
    put_fh(&x, 65);
    assert_int_equal(nfs3_decode_args(NFS3_GETATTR, b, x.pos, &A), -EBADMSG);
    /* LOOKUP */
    cfs_xdr_enc_init(&x, b, sizeof(b));
    put_fh(&x, 8);
    cfs_xdr_enc_string(&x, "file.txt");
    assert_int_equal(nfs3_decode_args(NFS3_LOOKUP, b, x.pos, &A), 0);
    assert_string_equal(A.name, "file.txt");
    /* a name with a NUL inside */
    cfs_xdr_enc_init(&x, b, sizeof(b));
    put_fh(&x, 8);
    cfs_xdr_enc_opaque(&x, "a\0b", 3);
    assert_int_equal(nfs3_decode_args(NFS3_LOOKUP, b, x.pos, &A), -EBADMSG);
    /* unknown procedure */
    assert_int_equal(nfs3_decode_args(22, b, 0, &A), -EINVAL);
}

static void test_setattr_create(void **state)
{
    uint8_t b[512];
    struct cfs_xdr x;

    (void)state;
    cfs_xdr_enc_init(&x, b, sizeof(b));
    put_fh(&x, 8);
    put_sattr(&x);
    cfs_xdr_enc_bool(&x, true);
    cfs_xdr_enc_u32(&x, 77);
    cfs_xdr_enc_u32(&x, 88);
    assert_int_equal(nfs3_decode_args(NFS3_SETATTR, b, x.pos, &A), 0);
    assert_int_equal(A.sattr.mask, CFS_SET_MODE | CFS_SET_GID | CFS_SET_SIZE |
                                       CFS_SET_ATIME_NOW | CFS_SET_MTIME);
    assert_int_equal(A.sattr.mode, 0644);
    assert_int_equal(A.sattr.gid, 42);
    assert_true(A.sattr.size == 1ull << 33);
    assert_int_equal(A.sattr.mtime.tv_sec, 1000);
    assert_int_equal(A.sattr.mtime.tv_nsec, 5);
    assert_true(A.guard);
    assert_int_equal(A.guard_ctime.tv_sec, 77);

    /* nanoseconds >= 10^9 are garbage */
    cfs_xdr_put_u32_at(&x, x.pos - 4, 1000000000u);
    assert_int_equal(nfs3_decode_args(NFS3_SETATTR, b, x.pos, &A), -EBADMSG);

    /* CREATE exclusive: a verifier */
    cfs_xdr_enc_init(&x, b, sizeof(b));
    put_fh(&x, 8);
    cfs_xdr_enc_string(&x, "new");
    cfs_xdr_enc_u32(&x, 2);
    cfs_xdr_enc_fixed(&x, "VERIFIER", 8);
    assert_int_equal(nfs3_decode_args(NFS3_CREATE, b, x.pos, &A), 0);
    assert_int_equal(A.how, 2);
    assert_memory_equal(A.verf, "VERIFIER", 8);
    /* createmode 3 does not exist */
    cfs_xdr_put_u32_at(&x, x.pos - 12, 3);
    assert_int_equal(nfs3_decode_args(NFS3_CREATE, b, x.pos, &A), -EBADMSG);
    /* CREATE guarded with sattr */
    cfs_xdr_enc_init(&x, b, sizeof(b));
    put_fh(&x, 8);
    cfs_xdr_enc_string(&x, "new");
    cfs_xdr_enc_u32(&x, 1);
    put_sattr(&x);
    assert_int_equal(nfs3_decode_args(NFS3_CREATE, b, x.pos, &A), 0);
    assert_int_equal(A.how, 1);
    assert_int_equal(A.sattr.mode, 0644);
}

static void test_io_procs(void **state)
{
    uint8_t b[512];
    struct cfs_xdr x;

    (void)state;
    cfs_xdr_enc_init(&x, b, sizeof(b));
    put_fh(&x, 8);
    cfs_xdr_enc_u64(&x, 5ull << 30);
    cfs_xdr_enc_u32(&x, 1 << 20);
    assert_int_equal(nfs3_decode_args(NFS3_READ, b, x.pos, &A), 0);
    assert_true(A.offset == 5ull << 30);
    assert_int_equal(A.count, 1 << 20);

    /* WRITE: the data stays in the record */
    cfs_xdr_enc_init(&x, b, sizeof(b));
    put_fh(&x, 8);
    cfs_xdr_enc_u64(&x, 100);
    cfs_xdr_enc_u32(&x, 5);
    cfs_xdr_enc_u32(&x, 2);
    size_t at = x.pos + 4;
    cfs_xdr_enc_opaque(&x, "hello", 5);
    assert_int_equal(nfs3_decode_args(NFS3_WRITE, b, x.pos, &A), 0);
    assert_ptr_equal(A.data, b + at);
    assert_int_equal(A.data_len, 5);
    assert_int_equal(A.stable, 2);
    /* count larger than the data */
    cfs_xdr_put_u32_at(&x, 4 + 8 + 8, 6);
    assert_int_equal(nfs3_decode_args(NFS3_WRITE, b, x.pos, &A), -EBADMSG);
    /* stable_how 3 */
    cfs_xdr_put_u32_at(&x, 4 + 8 + 8, 5);
    cfs_xdr_put_u32_at(&x, 4 + 8 + 8 + 4, 3);
    assert_int_equal(nfs3_decode_args(NFS3_WRITE, b, x.pos, &A), -EBADMSG);

    /* READDIRPLUS */
    cfs_xdr_enc_init(&x, b, sizeof(b));
    put_fh(&x, 8);
    cfs_xdr_enc_u64(&x, 9);
    cfs_xdr_enc_fixed(&x, "cookieve", 8);
    cfs_xdr_enc_u32(&x, 4096);
    cfs_xdr_enc_u32(&x, 65536);
    assert_int_equal(nfs3_decode_args(NFS3_READDIRPLUS, b, x.pos, &A), 0);
    assert_true(A.cookie == 9);
    assert_int_equal(A.dircount, 4096);
    assert_int_equal(A.maxcount, 65536);
    /* the same bytes are too long for READDIR */
    assert_int_equal(nfs3_decode_args(NFS3_READDIR, b, x.pos, &A), -EBADMSG);
}

static void test_names_procs(void **state)
{
    uint8_t b[2048];
    struct cfs_xdr x;

    (void)state;
    cfs_xdr_enc_init(&x, b, sizeof(b));
    put_fh(&x, 8);
    cfs_xdr_enc_string(&x, "from");
    put_fh(&x, 9);
    cfs_xdr_enc_string(&x, "to");
    assert_int_equal(nfs3_decode_args(NFS3_RENAME, b, x.pos, &A), 0);
    assert_string_equal(A.name, "from");
    assert_string_equal(A.name2, "to");
    assert_int_equal(A.fh2.len, 9);

    cfs_xdr_enc_init(&x, b, sizeof(b));
    put_fh(&x, 8);
    cfs_xdr_enc_string(&x, "ln");
    put_sattr(&x);
    cfs_xdr_enc_string(&x, "../target");
    assert_int_equal(nfs3_decode_args(NFS3_SYMLINK, b, x.pos, &A), 0);
    assert_string_equal(A.path, "../target");

    cfs_xdr_enc_init(&x, b, sizeof(b));
    put_fh(&x, 8);
    cfs_xdr_enc_string(&x, "dev");
    cfs_xdr_enc_u32(&x, NF3CHR);
    put_sattr(&x);
    cfs_xdr_enc_u32(&x, 1);
    cfs_xdr_enc_u32(&x, 3);
    assert_int_equal(nfs3_decode_args(NFS3_MKNOD, b, x.pos, &A), 0);
    assert_int_equal(A.ftype, NF3CHR);
    assert_int_equal(A.rdev_major, 1);
    assert_int_equal(A.rdev_minor, 3);
    /* ftype 9 */
    cfs_xdr_enc_init(&x, b, sizeof(b));
    put_fh(&x, 8);
    cfs_xdr_enc_string(&x, "dev");
    cfs_xdr_enc_u32(&x, 9);
    assert_int_equal(nfs3_decode_args(NFS3_MKNOD, b, x.pos, &A), -EBADMSG);
    /* a regular-file MKNOD decodes (the procedure answers BADTYPE) */
    cfs_xdr_put_u32_at(&x, x.pos - 4, NF3REG);
    assert_int_equal(nfs3_decode_args(NFS3_MKNOD, b, x.pos, &A), 0);

    /* a name of 1025 bytes is garbage; 300 bytes decodes (NAMETOOLONG later) */
    char longname[1100];
    memset(longname, 'n', sizeof(longname));
    cfs_xdr_enc_init(&x, b, sizeof(b));
    put_fh(&x, 8);
    cfs_xdr_enc_string_n(&x, longname, 1025);
    assert_int_equal(nfs3_decode_args(NFS3_REMOVE, b, x.pos, &A), -EBADMSG);
    cfs_xdr_enc_init(&x, b, sizeof(b));
    put_fh(&x, 8);
    cfs_xdr_enc_string_n(&x, longname, 300);
    assert_int_equal(nfs3_decode_args(NFS3_REMOVE, b, x.pos, &A), 0);
    assert_int_equal(strlen(A.name), 300);

    /* MOUNT */
    cfs_xdr_enc_init(&x, b, sizeof(b));
    cfs_xdr_enc_string(&x, "/export");
    assert_int_equal(mnt3_decode_args(MNT3_MNT, b, x.pos, &A), 0);
    assert_string_equal(A.path, "/export");
    assert_int_equal(mnt3_decode_args(MNT3_EXPORT, b, x.pos, &A), -EBADMSG);
    assert_int_equal(mnt3_decode_args(MNT3_EXPORT, b, 0, &A), 0);
    assert_int_equal(mnt3_decode_args(9, b, 0, &A), -EINVAL);
}

static void test_encoders(void **state)
{
    uint8_t b[512];
    struct cfs_xdr x;
    struct cfs_attr a;
    struct cfs_fh fh = {.len = 5, .data = {1, 2, 3, 4, 5}};

    (void)state;
    memset(&a, 0, sizeof(a));
    a.type = CFS_FT_DIR;
    a.mode = 040755;
    a.size = 1ull << 40;
    a.fileid = 99;
    a.mtime.tv_sec = 1234;
    cfs_xdr_enc_init(&x, b, sizeof(b));
    nfs3_enc_fattr(&x, &a);
    assert_int_equal(x.pos, NFS3_FATTR_SIZE);
    assert_int_equal(cfs_xdr_get_be32(b), NF3DIR);
    assert_int_equal(cfs_xdr_get_be32(b + 4), 0755);
    cfs_xdr_enc_init(&x, b, sizeof(b));
    nfs3_enc_wcc(&x, true, &a, true, &a);
    assert_int_equal(x.pos, 4 + 24 + 4 + 84);
    cfs_xdr_enc_init(&x, b, sizeof(b));
    nfs3_enc_wcc(&x, false, NULL, false, NULL);
    assert_int_equal(x.pos, 8);
    cfs_xdr_enc_init(&x, b, sizeof(b));
    nfs3_enc_post_fh(&x, true, &fh);
    assert_int_equal(x.pos, 4 + 4 + 8);
    assert_string_equal(nfs3_proc_name(NFS3_READDIRPLUS), "READDIRPLUS");
    assert_string_equal(nfs3_proc_name(99), "UNKNOWN");
    assert_string_equal(mnt3_proc_name(MNT3_EXPORT), "EXPORT");
}

static void test_nlm(void **state)
{
    uint8_t b[2048];
    struct cfs_xdr x;
    uint8_t big[80] = {0};

    (void)state;
    /* LOCK: cookie, block, exclusive, lock, reclaim, state */
    cfs_xdr_enc_init(&x, b, sizeof(b));
    cfs_xdr_enc_opaque(&x, "ck", 2);
    cfs_xdr_enc_bool(&x, true);
    cfs_xdr_enc_bool(&x, true);
    cfs_xdr_enc_string(&x, "client-a");
    put_fh(&x, 22);
    cfs_xdr_enc_opaque(&x, "owner", 5);
    cfs_xdr_enc_i32(&x, 42);
    cfs_xdr_enc_u64(&x, 100);
    cfs_xdr_enc_u64(&x, 0);
    cfs_xdr_enc_bool(&x, false);
    cfs_xdr_enc_i32(&x, 3);
    assert_int_equal(nlm4_decode_args(NLM4_LOCK, b, x.pos, &A), 0);
    assert_true(A.nlm.block && A.nlm.exclusive && !A.nlm.reclaim);
    assert_string_equal(A.nlm.caller, "client-a");
    assert_int_equal(A.nlm.fh.len, 22);
    assert_int_equal(A.nlm.oh_len, 5);
    assert_memory_equal(A.nlm.oh, "owner", 5);
    assert_int_equal(A.nlm.svid, 42);
    assert_true(A.nlm.offset == 100 && A.nlm.len == 0);
    assert_int_equal(A.nlm.cookie_len, 2);
    /* truncated */
    assert_int_equal(nlm4_decode_args(NLM4_LOCK, b, x.pos - 4, &A), -EBADMSG);
    /* an 80-byte netobj handle decodes and is flagged (NLM4_STALE_FH) */
    cfs_xdr_enc_init(&x, b, sizeof(b));
    cfs_xdr_enc_opaque(&x, "ck", 2);
    cfs_xdr_enc_string(&x, "c");
    cfs_xdr_enc_opaque(&x, big, sizeof(big));
    cfs_xdr_enc_opaque(&x, "o", 1);
    cfs_xdr_enc_i32(&x, 1);
    cfs_xdr_enc_u64(&x, 0);
    cfs_xdr_enc_u64(&x, 1);
    assert_int_equal(nlm4_decode_args(NLM4_UNLOCK, b, x.pos, &A), 0);
    assert_true(A.nlm.fh_too_long);
    /* UNLOCK_MSG takes UNLOCK's arguments */
    assert_int_equal(nlm4_decode_args(NLM4_UNLOCK_MSG, b, x.pos, &A), 0);
    assert_true(A.nlm.fh_too_long && A.nlm.svid == 1 && A.nlm.len == 1);
    assert_int_equal(nlm4_decode_args(NLM4_LOCK_MSG, b, 0, &A), -EBADMSG);
    /* SHARE: cookie, caller, fh, oh, mode, access, reclaim */
    cfs_xdr_enc_init(&x, b, sizeof(b));
    cfs_xdr_enc_opaque(&x, "ck", 2);
    cfs_xdr_enc_string(&x, "pc");
    cfs_xdr_enc_opaque(&x, "0123456789", 10);
    cfs_xdr_enc_opaque(&x, "own", 3);
    cfs_xdr_enc_u32(&x, 2);
    cfs_xdr_enc_u32(&x, 3);
    cfs_xdr_enc_bool(&x, true);
    assert_int_equal(nlm4_decode_args(NLM4_SHARE, b, x.pos, &A), 0);
    assert_string_equal(A.nlm.caller, "pc");
    assert_true(A.nlm.fh.len == 10 && A.nlm.oh_len == 3 && A.nlm.share_mode == 2 &&
                A.nlm.share_access == 3 && A.nlm.reclaim);
    assert_int_equal(nlm4_decode_args(NLM4_UNSHARE, b, x.pos - 4, &A), -EBADMSG);
    /* unserved procedures */
    assert_int_equal(nlm4_decode_args(NLM4_GRANTED_MSG, b, 0, &A), -EINVAL);
    assert_int_equal(nlm4_decode_args(NLM4_GRANTED_RES, b, 0, &A), -EINVAL);
    /* NSM NOTIFY */
    cfs_xdr_enc_init(&x, b, sizeof(b));
    cfs_xdr_enc_string(&x, "host");
    cfs_xdr_enc_i32(&x, 5);
    assert_int_equal(nsm_decode_args(NSM_NOTIFY, b, x.pos, &A), 0);
    assert_string_equal(A.nlm.caller, "host");
    assert_int_equal(A.nlm.state, 5);
    assert_int_equal(nsm_decode_args(NSM_MON, b, x.pos, &A), -EBADMSG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_procs), cmocka_unit_test(test_setattr_create),
        cmocka_unit_test(test_io_procs),     cmocka_unit_test(test_names_procs),
        cmocka_unit_test(test_encoders),     cmocka_unit_test(test_nlm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
