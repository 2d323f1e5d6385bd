/* tests/unit/test_xdr.c - XDR primitives: round trips, padding, bounds, sticky errors. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <cfs/xdr.h>

static void test_roundtrip(void **state)
{
    uint8_t buf[256];
    struct cfs_xdr e, d;
    uint32_t u, n;
    int32_t i;
    uint64_t q;
    bool b;
    char s[16];
    uint8_t op[8];
    const uint8_t *ref;

    (void)state;
    cfs_xdr_enc_init(&e, buf, sizeof(buf));
    assert_int_equal(cfs_xdr_enc_u32(&e, 0xdeadbeef), 0);
    assert_int_equal(cfs_xdr_enc_i32(&e, -5), 0);
    assert_int_equal(cfs_xdr_enc_u64(&e, 0x0102030405060708ull), 0);
    assert_int_equal(cfs_xdr_enc_bool(&e, true), 0);
    assert_int_equal(cfs_xdr_enc_string(&e, "hello"), 0);
    assert_int_equal(cfs_xdr_enc_opaque(&e, "\x01\x02\x03", 3), 0);
    assert_int_equal(cfs_xdr_enc_fixed(&e, "abcdef", 6), 0);
    assert_int_equal(cfs_xdr_enc_optional(&e, false), 0);
    /* 4 + 4 + 8 + 4 + (4+8) + (4+4) + 8 + 4 */
    assert_int_equal(e.pos, 52);
    /* the string is padded with zeros */
    assert_memory_equal(buf + 20, "\0\0\0\5hello\0\0\0", 12);

    cfs_xdr_dec_init(&d, buf, e.pos);
    assert_int_equal(cfs_xdr_dec_u32(&d, &u), 0);
    assert_int_equal(u, 0xdeadbeef);
    assert_int_equal(cfs_xdr_dec_i32(&d, &i), 0);
    assert_int_equal(i, -5);
    assert_int_equal(cfs_xdr_dec_u64(&d, &q), 0);
    assert_true(q == 0x0102030405060708ull);
    assert_int_equal(cfs_xdr_dec_bool(&d, &b), 0);
    assert_true(b);
    assert_int_equal(cfs_xdr_dec_string(&d, s, sizeof(s), 15), 0);
    assert_string_equal(s, "hello");
    assert_int_equal(cfs_xdr_dec_opaque(&d, op, &n, sizeof(op)), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(op, "\x01\x02\x03", 3);
    assert_int_equal(cfs_xdr_dec_fixed(&d, op, 6), 0);
    assert_memory_equal(op, "abcdef", 6);
    assert_int_equal(cfs_xdr_dec_optional(&d, &b), 0);
    assert_false(b);
    assert_int_equal(cfs_xdr_remaining(&d), 0);
    assert_int_equal(cfs_xdr_dec_u32(&d, &u), -EBADMSG);
    (void)ref;
}

static void test_bounds(void **state)
{
    uint8_t in[12] = {0, 0, 0, 9, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'};
    struct cfs_xdr d;
    char s[32];
    uint8_t out[32];
    uint32_t n, u;
    const uint8_t *p;
    bool b;

    (void)state;
    /* declared 9 bytes, only 8 present */
    cfs_xdr_dec_init(&d, in, sizeof(in));
    assert_int_equal(cfs_xdr_dec_opaque_ref(&d, &p, &n, 100), -EBADMSG);
    /* sticky: later calls fail too */
    assert_int_equal(cfs_xdr_dec_u32(&d, &u), -EBADMSG);
    assert_int_equal(cfs_xdr_remaining(&d), 0);

    /* longer than max */
    in[3] = 8;
    cfs_xdr_dec_init(&d, in, sizeof(in));
    assert_int_equal(cfs_xdr_dec_opaque(&d, out, &n, 7), -EBADMSG);
    cfs_xdr_dec_init(&d, in, sizeof(in));
    assert_int_equal(cfs_xdr_dec_opaque(&d, out, &n, 8), 0);
    assert_int_equal(n, 8);
    /* string longer than the buffer */
    cfs_xdr_dec_init(&d, in, sizeof(in));
    assert_int_equal(cfs_xdr_dec_string(&d, s, 8, 255), -EBADMSG);
    cfs_xdr_dec_init(&d, in, sizeof(in));
    assert_int_equal(cfs_xdr_dec_string(&d, s, 9, 255), 0);
    assert_string_equal(s, "abcdefgh");
    /* embedded NUL in a string */
    in[6] = 0;
    cfs_xdr_dec_init(&d, in, sizeof(in));
    assert_int_equal(cfs_xdr_dec_string(&d, s, sizeof(s), 255), -EBADMSG);

    /* huge length does not wrap */
    uint8_t huge[8] = {0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4};
    cfs_xdr_dec_init(&d, huge, sizeof(huge));
    assert_int_equal(cfs_xdr_dec_opaque_ref(&d, &p, &n, UINT32_MAX), -EBADMSG);
    uint8_t huge2[8] = {0xff, 0xff, 0xff, 0xfd, 1, 2, 3, 4};
    cfs_xdr_dec_init(&d, huge2, sizeof(huge2));
    assert_int_equal(cfs_xdr_dec_opaque_ref(&d, &p, &n, UINT32_MAX), -EBADMSG);

    /* bool other than 0/1, enum out of range */
    uint8_t two[4] = {0, 0, 0, 2};
    cfs_xdr_dec_init(&d, two, 4);
    assert_int_equal(cfs_xdr_dec_bool(&d, &b), -EBADMSG);
    cfs_xdr_dec_init(&d, two, 4);
    assert_int_equal(cfs_xdr_dec_enum(&d, &u, 1), -EBADMSG);
    cfs_xdr_dec_init(&d, two, 4);
    assert_int_equal(cfs_xdr_dec_enum(&d, &u, 2), 0);

    /* truncated u64 */
    cfs_xdr_dec_init(&d, two, 4);
    uint64_t q;
    assert_int_equal(cfs_xdr_dec_u64(&d, &q), -EBADMSG);
    /* NULL buffer */
    cfs_xdr_dec_init(&d, NULL, 100);
    assert_int_equal(cfs_xdr_dec_u32(&d, &u), -EBADMSG);
}

static void test_encode_overflow(void **state)
{
    uint8_t buf[8];
    struct cfs_xdr e;

    (void)state;
    cfs_xdr_enc_init(&e, buf, sizeof(buf));
    assert_int_equal(cfs_xdr_enc_u32(&e, 1), 0);
    assert_int_equal(cfs_xdr_enc_u64(&e, 2), -ENOSPC);
    assert_int_equal(cfs_xdr_enc_u32(&e, 3), -ENOSPC); /* sticky */
    assert_int_equal(e.pos, 4);

    cfs_xdr_enc_init(&e, buf, sizeof(buf));
    assert_int_equal(cfs_xdr_enc_string(&e, "abcde"), -ENOSPC);
}

static void test_dynamic(void **state)
{
    struct cfs_xdr e;
    uint8_t *p;
    size_t len;

    (void)state;
    assert_int_equal(cfs_xdr_enc_init_dyn(&e, 16, 4096), 0);
    for (int i = 0; i < 1024; i++)
        assert_int_equal(cfs_xdr_enc_u32(&e, (uint32_t)i), 0);
    assert_int_equal(e.pos, 4096);
    assert_int_equal(cfs_xdr_enc_u32(&e, 1), -ENOSPC);
    cfs_xdr_enc_free(&e);

    assert_int_equal(cfs_xdr_enc_init_dyn(&e, 16, 4096), 0);
    size_t at = e.pos;
    assert_non_null(cfs_xdr_enc_reserve(&e, 4));
    cfs_xdr_enc_string(&e, "a longer string than sixteen bytes");
    cfs_xdr_put_u32_at(&e, at, 77);
    p = cfs_xdr_enc_take(&e, &len);
    assert_non_null(p);
    assert_int_equal(len, 4 + 4 + 36);
    assert_int_equal(cfs_xdr_get_be32(p), 77);
    free(p);
    /* reserve must be a multiple of 4 */
    assert_int_equal(cfs_xdr_enc_init_dyn(&e, 16, 4096), 0);
    assert_null(cfs_xdr_enc_reserve(&e, 3));
    assert_int_equal(e.err, -EINVAL);
    cfs_xdr_enc_free(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_encode_overflow),
        cmocka_unit_test(test_dynamic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
