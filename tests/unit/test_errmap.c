/*
 * tests/unit/test_errmap.c - the one error map: every row of the table checked against
 * an independent expectation list (RFC 1813, RFC 8881, MS-ERREF, S3 docs), plus the
 * fallback, sign handling and the must-have retry/quota rows.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <cfs/errmap.h>

struct want {
    int err;
    uint32_t nfs3, nfs4, nt;
    const char *s3;
    int http;
};

static const struct want wants[] = {
    { -EPERM, 1, 1, 0xC0000022u, "AccessDenied", 403 },
    { -ENOENT, 2, 2, 0xC0000034u, "NoSuchKey", 404 },
    { -EIO, 5, 5, 0xC0000185u, "InternalError", 500 },
    { -ENXIO, 6, 6, 0xC000000Eu, "InternalError", 500 },
    { -ENODEV, 19, 6, 0xC000000Eu, "InternalError", 500 },
    { -EBADF, 10001, 10001, 0xC0000008u, "InvalidArgument", 400 },
    { -EAGAIN, 10008, 10008, 0xC000009Au, "SlowDown", 503 },
    { -ENOMEM, 10006, 10018, 0xC0000017u, "InternalError", 500 },
    { -EACCES, 13, 13, 0xC0000022u, "AccessDenied", 403 },
    { -EFAULT, 10006, 10006, 0xC00000E5u, "InternalError", 500 },
    { -EBUSY, 10008, 10008, 0xC0000043u, "SlowDown", 503 },
    { -EEXIST, 17, 17, 0xC0000035u, "PreconditionFailed", 412 },
    { -EXDEV, 18, 18, 0xC00000D4u, "InvalidRequest", 400 },
    { -ENOTDIR, 20, 20, 0xC0000103u, "InvalidRequest", 400 },
    { -EISDIR, 21, 21, 0xC00000BAu, "InvalidRequest", 400 },
    { -EINVAL, 22, 22, 0xC000000Du, "InvalidArgument", 400 },
    { -ENFILE, 10008, 10008, 0xC000011Fu, "SlowDown", 503 },
    { -EMFILE, 10008, 10008, 0xC000011Fu, "SlowDown", 503 },
    { -ENOTTY, 10004, 10004, 0xC0000010u, "NotImplemented", 501 },
    { -ETXTBSY, 10008, 10008, 0xC0000043u, "SlowDown", 503 },
    { -EFBIG, 27, 27, 0xC0000904u, "EntityTooLarge", 400 },
    { -ENOSPC, 28, 28, 0xC000007Fu, "InsufficientStorage", 507 },
    { -ESPIPE, 22, 22, 0xC000000Du, "InvalidArgument", 400 },
    { -EROFS, 30, 30, 0xC00000A2u, "AccessDenied", 403 },
    { -EMLINK, 31, 31, 0xC0000265u, "InvalidRequest", 400 },
    { -ERANGE, 10005, 10005, 0xC0000023u, "InvalidRange", 416 },
    { -ENAMETOOLONG, 63, 63, 0xC0000106u, "KeyTooLongError", 400 },
    { -ENOSYS, 10004, 10004, 0xC0000002u, "NotImplemented", 501 },
    { -ENOTEMPTY, 66, 66, 0xC0000101u, "BucketNotEmpty", 409 },
    { -ELOOP, 22, 10029, 0x8000002Du, "InvalidRequest", 400 },
    { -ENODATA, 2, 10095, 0xC0000225u, "NoSuchKey", 404 },
    { -EOVERFLOW, 27, 27, 0xC0000904u, "InvalidRange", 416 },
    { -EILSEQ, 22, 10041, 0xC0000033u, "InvalidArgument", 400 },
    { -E2BIG, 27, 10096, 0xC000000Du, "MetadataTooLarge", 400 },
    { -EOPNOTSUPP, 10004, 10004, 0xC00000BBu, "NotImplemented", 501 },
    { -ETIMEDOUT, 10008, 10008, 0xC00000B5u, "ServiceUnavailable", 503 },
    { -ESTALE, 70, 70, 0xC0000008u, "NoSuchKey", 404 },
    { -EREMOTE, 71, 10006, 0xC00000BBu, "InternalError", 500 },
    { -EDQUOT, 69, 69, 0xC0000044u, "QuotaExceeded", 403 },
    { -ECANCELED, 5, 5, 0xC0000120u, "InternalError", 500 },
    { -EDEADLK, 10008, 10012, 0xC0000055u, "SlowDown", 503 },
    { CFS_ERETRY, 10008, 10008, 0xC000009Au, "SlowDown", 503 },
    { CFS_EBADHANDLE, 10001, 10001, 0xC0000008u, "InvalidArgument", 400 },
    { CFS_ESERVERFAULT, 10006, 10006, 0xC00000E5u, "InternalError", 500 },
    { CFS_ENOTSYNC, 10002, 10027, 0xC000000Du, "PreconditionFailed", 412 },
    { CFS_EBADCOOKIE, 10003, 10003, 0xC000000Du, "InvalidArgument", 400 },
};

static void test_every_row(void **state)
{
    (void)state;
    size_t n = 0;
    const struct cfs_errmap_row *t = cfs_err_table(&n);
    assert_int_equal(n, sizeof(wants) / sizeof(wants[0]));
    for (size_t i = 0; i < n; i++) {
        const struct want *w = &wants[i];
        int http = 0;
        print_message("row %zu: %s\n", i, t[i].name);
        assert_int_equal(t[i].err, w->err);
        assert_ptr_equal(cfs_err_row(w->err), &t[i]);
        assert_int_equal(cfs_err_nfs3(w->err), w->nfs3);
        assert_int_equal(cfs_err_nfs4(w->err), w->nfs4);
        assert_int_equal(cfs_err_ntstatus(w->err), w->nt);
        assert_string_equal(cfs_err_s3(w->err, &http), w->s3);
        assert_int_equal(http, w->http);
        /* a raw positive errno gives the same answer */
        assert_int_equal(cfs_err_nfs3(-w->err), w->nfs3);
    }
}

static void test_success_and_default(void **state)
{
    (void)state;
    int http = 0;
    assert_int_equal(cfs_err_nfs3(0), CFS_NFS3_OK);
    assert_int_equal(cfs_err_nfs4(0), CFS_NFS4_OK);
    assert_int_equal(cfs_err_ntstatus(0), CFS_STATUS_SUCCESS);
    assert_string_equal(cfs_err_s3(0, &http), "OK");
    assert_int_equal(http, 200);
    assert_null(cfs_err_row(-EHWPOISON));
    assert_int_equal(cfs_err_nfs3(-EHWPOISON), CFS_NFS3ERR_SERVERFAULT);
    assert_int_equal(cfs_err_nfs4(-EHWPOISON), CFS_NFS4ERR_SERVERFAULT);
    assert_int_equal(cfs_err_ntstatus(-EHWPOISON), CFS_STATUS_INTERNAL_ERROR);
    assert_string_equal(cfs_err_s3(-EHWPOISON, &http), "InternalError");
    assert_int_equal(http, 500);
    assert_string_equal(cfs_err_s3(-ENOENT, NULL), "NoSuchKey");
}

static void test_aliases_and_must_haves(void **state)
{
    (void)state;
    int http = 0;
    assert_int_equal(cfs_err_nfs3(-EWOULDBLOCK), CFS_NFS3ERR_JUKEBOX);
    assert_int_equal(cfs_err_nfs3(CFS_ENOTSUP), CFS_NFS3ERR_NOTSUPP);
    assert_int_equal(cfs_err_nfs3(CFS_ERETRY), CFS_NFS3ERR_JUKEBOX);
    assert_int_equal(cfs_err_nfs4(CFS_ERETRY), CFS_NFS4ERR_DELAY);
    assert_int_equal(cfs_err_ntstatus(CFS_ERETRY), CFS_STATUS_INSUFFICIENT_RESOURCES);
    assert_string_equal(cfs_err_s3(CFS_ERETRY, &http), "SlowDown");
    assert_int_equal(http, 503);
    assert_int_equal(cfs_err_nfs3(-EDQUOT), CFS_NFS3ERR_DQUOT);
    assert_int_equal(cfs_err_nfs3(CFS_ESTALE), CFS_NFS3ERR_STALE);
}

static void test_unique_rows(void **state)
{
    (void)state;
    size_t n = 0;
    const struct cfs_errmap_row *t = cfs_err_table(&n);
    for (size_t i = 0; i < n; i++) {
        assert_true(t[i].err < 0);
        assert_non_null(t[i].s3);
        assert_true(t[i].http >= 400 && t[i].http < 600);
        for (size_t j = i + 1; j < n; j++)
            assert_int_not_equal(t[i].err, t[j].err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_row),
        cmocka_unit_test(test_success_and_default),
        cmocka_unit_test(test_aliases_and_must_haves),
        cmocka_unit_test(test_unique_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
