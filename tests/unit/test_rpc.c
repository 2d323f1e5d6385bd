/*
 * tests/unit/test_rpc.c - ONC RPC: record marking across fragments and reads, bounds on
 * fragment lengths, call header decoding (AUTH_NONE, AUTH_SYS, bad creds, rpcvers), every
 * reply type, the dispatch table and the duplicate request cache.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <cfs/rpc.h>

/* Feed `n` bytes in chunks of `step`; returns the completed record or NULL. */
static uint8_t *feed_all(struct cfs_rpc_rm *rm, const uint8_t *p, size_t n, size_t step,
                         size_t *len, size_t *used)
{
    size_t off = 0;

    while (off < n && !rm->done) {
        size_t k = step < n - off ? step : n - off;
        ssize_t r = cfs_rpc_rm_feed(rm, p + off, k);

        if (r < 0)
            return NULL;
        off += (size_t)r;
    }
    *used = off;
    return cfs_rpc_rm_take(rm, len);
}

static void test_record_fragments(void **state)
{
    /* "hello" "world!!" in two fragments, then a second record "x" */
    uint8_t s[] = {0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o',
                   0x80, 0, 0, 7, 'w', 'o', 'r', 'l', 'd', '!', '!',
                   0x80, 0, 0, 1, 'x'};
    (void)state;
    for (size_t step = 1; step <= sizeof(s); step++) {
        struct cfs_rpc_rm rm;
        size_t len = 0, used = 0, used2 = 0;
        uint8_t *r;

        cfs_rpc_rm_init(&rm, 1024);
        r = feed_all(&rm, s, sizeof(s), step, &len, &used);
        assert_non_null(r);
        assert_int_equal(len, 12);
        assert_memory_equal(r, "helloworld!!", 12);
        assert_int_equal(used, 20);
        free(r);
        r = feed_all(&rm, s + used, sizeof(s) - used, step, &len, &used2);
        assert_non_null(r);
        assert_int_equal(len, 1);
        assert_int_equal(r[0], 'x');
        free(r);
        /* nothing pending */
        assert_null(cfs_rpc_rm_take(&rm, &len));
        cfs_rpc_rm_free(&rm);
    }
}

static void test_record_bounds(void **state)
{
    struct cfs_rpc_rm rm;
    uint8_t huge[4] = {0xff, 0xff, 0xff, 0xff};
    uint8_t two[8] = {0, 0, 0, 60, 0, 0, 0, 0};
    uint8_t buf[64] = {0};
    size_t len;

    (void)state;
    /* a huge fragment is refused at its header, without waiting for the data */
    cfs_rpc_rm_init(&rm, 1 << 20);
    assert_int_equal(cfs_rpc_rm_feed(&rm, huge, 4), -EMSGSIZE);
    cfs_rpc_rm_free(&rm);

    /* two fragments that together exceed the record bound */
    cfs_rpc_rm_init(&rm, 100);
    assert_int_equal(cfs_rpc_rm_feed(&rm, two, 4), 4);
    assert_int_equal(cfs_rpc_rm_feed(&rm, buf, 60), 60);
    assert_int_equal(cfs_rpc_rm_feed(&rm, two, 4), -EMSGSIZE);
    cfs_rpc_rm_free(&rm);

    /* an empty last fragment is an empty record */
    uint8_t empty[4] = {0x80, 0, 0, 0};
    cfs_rpc_rm_init(&rm, 100);
    assert_int_equal(cfs_rpc_rm_feed(&rm, empty, 4), 4);
    assert_true(rm.done);
    uint8_t *r = cfs_rpc_rm_take(&rm, &len);
    assert_non_null(r);
    assert_int_equal(len, 0);
    free(r);
    cfs_rpc_rm_free(&rm);

    /* the mark helper */
    uint8_t m[4];
    cfs_rpc_rm_mark(m, 0x1234);
    assert_memory_equal(m, "\x80\x00\x12\x34", 4);
}

static size_t build_call(uint8_t *buf, size_t cap, uint32_t xid, uint32_t prog,
                         uint32_t vers, uint32_t proc, const struct cfs_rpc_authsys *sys,
                         const void *args, size_t alen)
{
    struct cfs_xdr x;

    cfs_xdr_enc_init(&x, buf, cap);
    cfs_rpc_enc_call(&x, xid, prog, vers, proc, sys);
    cfs_xdr_enc_fixed(&x, args, alen);
    assert_int_equal(x.err, 0);
    return x.pos;
}

/* Fragment bodies read straight into the record (cfs_rpc_rm_direct/commit), mixed
 * with fed bytes: the same record as feeding everything. */
static void test_record_direct(void **state)
{
    (void)state;
    struct cfs_rpc_rm rm;
    uint8_t body[100000], mark[4];
    size_t n, len;

    for (size_t i = 0; i < sizeof(body); i++)
        body[i] = (uint8_t)(i * 13 + 1);
    cfs_rpc_rm_init(&rm, 1 << 20);
    assert_null(cfs_rpc_rm_direct(&rm, &n)); /* no fragment header yet */
    assert_int_equal(n, 0);
    /* fragment 1: 60000 bytes, not last; header and 10 bytes fed, the rest direct */
    cfs_xdr_put_be32(mark, 60000);
    assert_int_equal(cfs_rpc_rm_feed(&rm, mark, 4), 4);
    assert_int_equal(cfs_rpc_rm_feed(&rm, body, 10), 10);
    uint8_t *p = cfs_rpc_rm_direct(&rm, &n);
    assert_non_null(p);
    assert_int_equal(n, 60000 - 10);
    memcpy(p, body + 10, 20000);
    cfs_rpc_rm_commit(&rm, 20000);
    p = cfs_rpc_rm_direct(&rm, &n);
    assert_int_equal(n, 60000 - 20010);
    memcpy(p, body + 20010, n);
    cfs_rpc_rm_commit(&rm, n);
    assert_false(rm.done);
    assert_null(cfs_rpc_rm_direct(&rm, &n)); /* between fragments */
    /* fragment 2: the last, 40000 bytes, all direct */
    cfs_xdr_put_be32(mark, CFS_RPC_RM_LAST | 40000);
    assert_int_equal(cfs_rpc_rm_feed(&rm, mark, 4), 4);
    p = cfs_rpc_rm_direct(&rm, &n);
    assert_int_equal(n, 40000);
    memcpy(p, body + 60000, n);
    cfs_rpc_rm_commit(&rm, n);
    assert_true(rm.done);
    assert_null(cfs_rpc_rm_direct(&rm, &n));
    uint8_t *rec = cfs_rpc_rm_take(&rm, &len);
    assert_int_equal(len, sizeof(body));
    assert_memory_equal(rec, body, sizeof(body));
    free(rec);
    /* the next record starts clean */
    assert_null(cfs_rpc_rm_direct(&rm, &n));
    cfs_rpc_rm_free(&rm);
}

static void test_call_decode(void **state)
{
    uint8_t buf[1024];
    struct cfs_rpc_call c;
    struct cfs_rpc_authsys sys = {.stamp = 7, .uid = 1000, .gid = 100, .ngids = 2,
                                  .gids = {10, 20}};
    size_t n;

    (void)state;
    strncpy(sys.machine, "client", sizeof(sys.machine) - 1);
    n = build_call(buf, sizeof(buf), 42, 100003, 3, 1, &sys, "ARGS", 4);
    assert_int_equal(cfs_rpc_decode_call(buf, n, &c, false), 0);
    assert_int_equal(c.reject, CFS_RPC_CALL_OK);
    assert_int_equal(c.xid, 42);
    assert_int_equal(c.prog, 100003);
    assert_int_equal(c.vers, 3);
    assert_int_equal(c.proc, 1);
    assert_int_equal(c.cred_flavor, CFS_RPC_AUTH_SYS);
    assert_int_equal(c.sys.uid, 1000);
    assert_int_equal(c.sys.gid, 100);
    assert_int_equal(c.sys.ngids, 2);
    assert_int_equal(c.sys.gids[1], 20);
    assert_string_equal(c.sys.machine, "client");
    assert_int_equal(c.args_len, 4);
    assert_memory_equal(c.args, "ARGS", 4);

    n = build_call(buf, sizeof(buf), 43, 100005, 3, 0, NULL, NULL, 0);
    assert_int_equal(cfs_rpc_decode_call(buf, n, &c, false), 0);
    assert_int_equal(c.reject, CFS_RPC_CALL_OK);
    assert_int_equal(c.cred_flavor, CFS_RPC_AUTH_NONE);
    assert_int_equal(c.args_len, 0);

    /* every truncation either fails or (once past the cred) decodes */
    n = build_call(buf, sizeof(buf), 44, 100003, 3, 1, &sys, NULL, 0);
    for (size_t k = 0; k < n; k++) {
        int rc = cfs_rpc_decode_call(buf, k, &c, false);
        assert_true(rc == -EBADMSG || (rc == 0 && c.reject != CFS_RPC_CALL_OK));
    }

    /* too many gids */
    struct cfs_rpc_authsys big = sys;
    big.ngids = 16;
    n = build_call(buf, sizeof(buf), 45, 100003, 3, 1, &big, NULL, 0);
    assert_int_equal(cfs_rpc_decode_call(buf, n, &c, false), 0);
    assert_int_equal(c.reject, CFS_RPC_CALL_OK);
    /* cred len at 28, stamp 32, machine 36..48, uid 48, gid 52, ngids 56 */
    cfs_xdr_put_be32(buf + 56, 17); /* ngids */
    assert_int_equal(cfs_rpc_decode_call(buf, n, &c, false), 0);
    assert_int_equal(c.reject, CFS_RPC_CALL_AUTH_ERROR);
    assert_int_equal(c.auth_stat, CFS_RPC_AUTH_BADCRED);

    /* rpcvers 3 */
    n = build_call(buf, sizeof(buf), 46, 100003, 3, 1, NULL, NULL, 0);
    cfs_xdr_put_be32(buf + 8, 3);
    assert_int_equal(cfs_rpc_decode_call(buf, n, &c, false), 0);
    assert_int_equal(c.reject, CFS_RPC_CALL_RPC_MISMATCH);
    assert_int_equal(c.xid, 46);

    /* a REPLY is not a call */
    cfs_xdr_put_be32(buf + 4, 1);
    assert_int_equal(cfs_rpc_decode_call(buf, n, &c, false), -EBADMSG);

    /* unknown flavor (RPCSEC_GSS) */
    n = build_call(buf, sizeof(buf), 47, 100003, 3, 1, NULL, NULL, 0);
    cfs_xdr_put_be32(buf + 24, CFS_RPC_RPCSEC_GSS);
    assert_int_equal(cfs_rpc_decode_call(buf, n, &c, false), 0);
    assert_int_equal(c.reject, CFS_RPC_CALL_AUTH_ERROR);
    assert_int_equal(c.auth_stat, CFS_RPC_AUTH_BADCRED);
    assert_int_equal(cfs_rpc_decode_call(buf, n, &c, true), 0);
    assert_int_equal(c.reject, CFS_RPC_CALL_OK);

    /* cred body longer than 400 */
    n = build_call(buf, sizeof(buf), 48, 100003, 3, 1, NULL, NULL, 0);
    cfs_xdr_put_be32(buf + 28, 404);
    assert_int_equal(cfs_rpc_decode_call(buf, n, &c, false), 0);
    assert_int_equal(c.reject, CFS_RPC_CALL_AUTH_ERROR);
}

static void check_reply(const uint8_t *buf, size_t n, uint32_t xid, uint32_t rstat,
                        uint32_t stat, uint32_t low, uint32_t high)
{
    struct cfs_rpc_reply r;

    assert_int_equal(cfs_rpc_decode_reply(buf, n, &r), 0);
    assert_int_equal(r.xid, xid);
    assert_int_equal(r.reply_stat, rstat);
    if (rstat == CFS_RPC_MSG_ACCEPTED)
        assert_int_equal(r.accept_stat, stat);
    assert_int_equal(r.low, low);
    assert_int_equal(r.high, high);
}

static void test_replies(void **state)
{
    uint8_t buf[128];
    struct cfs_xdr x;
    struct cfs_rpc_reply r;
    static const uint32_t acc[] = {CFS_RPC_SUCCESS, CFS_RPC_PROG_UNAVAIL,
                                   CFS_RPC_PROC_UNAVAIL, CFS_RPC_GARBAGE_ARGS,
                                   CFS_RPC_SYSTEM_ERR};

    (void)state;
    for (size_t i = 0; i < sizeof(acc) / sizeof(acc[0]); i++) {
        cfs_xdr_enc_init(&x, buf, sizeof(buf));
        assert_int_equal(cfs_rpc_enc_accepted(&x, 9, acc[i]), 0);
        assert_int_equal(x.pos, 24);
        check_reply(buf, x.pos, 9, CFS_RPC_MSG_ACCEPTED, acc[i], 0, 0);
    }
    cfs_xdr_enc_init(&x, buf, sizeof(buf));
    assert_int_equal(cfs_rpc_enc_prog_mismatch(&x, 10, 3, 3), 0);
    assert_int_equal(x.pos, 32);
    check_reply(buf, x.pos, 10, CFS_RPC_MSG_ACCEPTED, CFS_RPC_PROG_MISMATCH, 3, 3);

    cfs_xdr_enc_init(&x, buf, sizeof(buf));
    assert_int_equal(cfs_rpc_enc_rpc_mismatch(&x, 11, 2, 2), 0);
    assert_int_equal(x.pos, 24);
    assert_int_equal(cfs_rpc_decode_reply(buf, x.pos, &r), 0);
    assert_int_equal(r.reply_stat, CFS_RPC_MSG_DENIED);
    assert_int_equal(r.reject_stat, CFS_RPC_RPC_MISMATCH);
    assert_int_equal(r.low, 2);
    assert_int_equal(r.high, 2);

    static const uint32_t auths[] = {CFS_RPC_AUTH_BADCRED, CFS_RPC_AUTH_TOOWEAK};
    for (size_t i = 0; i < 2; i++) {
        cfs_xdr_enc_init(&x, buf, sizeof(buf));
        assert_int_equal(cfs_rpc_enc_auth_error(&x, 12, auths[i]), 0);
        assert_int_equal(x.pos, 20);
        assert_int_equal(cfs_rpc_decode_reply(buf, x.pos, &r), 0);
        assert_int_equal(r.reject_stat, CFS_RPC_AUTH_ERROR);
        assert_int_equal(r.auth_stat, auths[i]);
    }
    /* exact wire bytes of an AUTH_TOOWEAK denial */
    assert_memory_equal(buf, "\0\0\0\x0c\0\0\0\1\0\0\0\1\0\0\0\1\0\0\0\5", 20);
}

static void test_dispatch(void **state)
{
    static const struct cfs_rpc_proc p3[] = {{"NULL", 0, false}, {"GETATTR", 1, false},
                                             {NULL, 0, false}, {"CREATE", 3, true}};
    static const struct cfs_rpc_proc m3[] = {{"NULL", 0, false}};
    const struct cfs_rpc_program table[] = {
        {100003, 3, p3, 4, NULL}, {100005, 1, m3, 1, NULL}, {100005, 3, m3, 1, NULL}};
    struct cfs_rpc_call c = {.prog = 100003, .vers = 3, .proc = 3};
    const struct cfs_rpc_program *prog = NULL;
    const struct cfs_rpc_proc *proc = NULL;
    uint32_t lo = 0, hi = 0;

    (void)state;
    assert_int_equal(cfs_rpc_dispatch(table, 3, &c, &prog, &proc, &lo, &hi),
                     CFS_RPC_SUCCESS);
    assert_ptr_equal(proc, &p3[3]);
    assert_true(proc->non_idempotent);
    c.proc = 2;
    assert_int_equal(cfs_rpc_dispatch(table, 3, &c, &prog, &proc, &lo, &hi),
                     CFS_RPC_PROC_UNAVAIL);
    c.proc = 99;
    assert_int_equal(cfs_rpc_dispatch(table, 3, &c, &prog, &proc, &lo, &hi),
                     CFS_RPC_PROC_UNAVAIL);
    c.vers = 4;
    assert_int_equal(cfs_rpc_dispatch(table, 3, &c, &prog, &proc, &lo, &hi),
                     CFS_RPC_PROG_MISMATCH);
    assert_int_equal(lo, 3);
    assert_int_equal(hi, 3);
    c.prog = 100005;
    c.vers = 2;
    assert_int_equal(cfs_rpc_dispatch(table, 3, &c, &prog, &proc, &lo, &hi),
                     CFS_RPC_PROG_MISMATCH);
    assert_int_equal(lo, 1);
    assert_int_equal(hi, 3);
    c.prog = 100021;
    assert_int_equal(cfs_rpc_dispatch(table, 3, &c, &prog, &proc, &lo, &hi),
                     CFS_RPC_PROG_UNAVAIL);
}

static void test_drc(void **state)
{
    cfs_rpc_drc *drc = cfs_rpc_drc_new(4, 1000);
    struct cfs_rpc_call c = {.xid = 1, .prog = 100003, .vers = 3, .proc = 8,
                             .args = (const uint8_t *)"abcd", .args_len = 4};
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(900)};
    struct cfs_rpc_drc_key k, k2;
    uint8_t *rep;
    size_t len;

    (void)state;
    assert_non_null(drc);
    a.sin_addr.s_addr = htonl(0x7f000001);
    cfs_rpc_drc_key_init(&k, &c, (struct sockaddr *)&a, sizeof(a));
    assert_int_equal(cfs_rpc_drc_lookup(drc, &k, 0, &rep, &len), CFS_RPC_DRC_NEW);
    assert_int_equal(cfs_rpc_drc_lookup(drc, &k, 1, &rep, &len), CFS_RPC_DRC_IN_PROGRESS);
    cfs_rpc_drc_complete(drc, &k, "REPLY", 5, 2);
    /* same call from another port of the same host: replay */
    a.sin_port = htons(901);
    cfs_rpc_drc_key_init(&k2, &c, (struct sockaddr *)&a, sizeof(a));
    assert_int_equal(cfs_rpc_drc_lookup(drc, &k2, 3, &rep, &len), CFS_RPC_DRC_REPLAY);
    assert_int_equal(len, 5);
    assert_memory_equal(rep, "REPLY", 5);
    free(rep);
    /* different args: a new call */
    c.args = (const uint8_t *)"abce";
    cfs_rpc_drc_key_init(&k2, &c, (struct sockaddr *)&a, sizeof(a));
    assert_int_equal(cfs_rpc_drc_lookup(drc, &k2, 3, &rep, &len), CFS_RPC_DRC_NEW);
    cfs_rpc_drc_abandon(drc, &k2);
    assert_int_equal(cfs_rpc_drc_lookup(drc, &k2, 3, &rep, &len), CFS_RPC_DRC_NEW);
    cfs_rpc_drc_complete(drc, &k2, "R2", 2, 3);
    /* bounded: many more calls evict old answers */
    for (uint32_t i = 100; i < 120; i++) {
        c.xid = i;
        cfs_rpc_drc_key_init(&k2, &c, (struct sockaddr *)&a, sizeof(a));
        assert_int_equal(cfs_rpc_drc_lookup(drc, &k2, 4, &rep, &len), CFS_RPC_DRC_NEW);
        cfs_rpc_drc_complete(drc, &k2, "R", 1, 4);
    }
    assert_true(cfs_rpc_drc_size(drc) <= 5);
    /* expired after the ttl */
    assert_int_equal(cfs_rpc_drc_lookup(drc, &k2, 5000, &rep, &len), CFS_RPC_DRC_NEW);
    cfs_rpc_drc_free(drc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_fragments), cmocka_unit_test(test_record_bounds),
        cmocka_unit_test(test_record_direct),
        cmocka_unit_test(test_call_decode),      cmocka_unit_test(test_replies),
        cmocka_unit_test(test_dispatch),         cmocka_unit_test(test_drc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
