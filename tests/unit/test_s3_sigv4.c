/*
 * tests/unit/test_s3_sigv4.c - SigV4 for S3: AWS's published vectors (aws4 test suite
 * get-vanilla, the S3 GET/presigned/aws-chunked examples), vectors produced by botocore's
 * own signer, skew/expiry errors, and the aws-chunked decoder (signed, signed trailer,
 * unsigned trailer, tampering and truncation).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../modules/s3/cksum.c"
#include "../../modules/s3/s3util.c"
#include "../../modules/s3/sigv4.c"

#define H(n, v) {n, sizeof(n) - 1, v, sizeof(v) - 1}
#define EMPTY EMPTY_SHA256
#define V2SIG1 "S94gflWgar+leInpKvARxe69vYE="
#define V2SIG2 "txyqsLm0iXigEXII8RYAmHt7Kbg="

static struct s3_reqview view(const char *method, const char *target, const struct s3_hdr *h,
                              size_t nh)
{
    struct s3_reqview rq = {.method = method, .hdrs = h, .nhdrs = nh};
    const char *q = strchr(target, '?');
    rq.path = target;
    rq.path_len = q ? (size_t)(q - target) : strlen(target);
    rq.query = q ? q + 1 : NULL;
    rq.query_len = q ? strlen(q + 1) : 0;
    return rq;
}

static void test_get_vanilla(void **st)
{
    (void)st;
    /* aws4_testsuite get-vanilla: the generic (non-S3) suite, service "service" */
    struct s3_hdr h[] = {
        H("Host", "example.amazonaws.com"),
        H("X-Amz-Date", "20150830T123600Z"),
        H("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    };
    struct s3_reqview rq = view("GET", "/", h, 3);
    struct s3_sigv4 sv;
    assert_int_equal(s3_sigv4_parse(&rq, &sv), S3E_OK);
    assert_int_equal(sv.kind, S3_AUTH_HEADER);
    assert_string_equal(sv.access_key, "AKIDEXAMPLE");
    assert_string_equal(sv.scope, "20150830/us-east-1/service/aws4_request");
    struct s3_buf c;
    s3_buf_init(&c, 0);
    assert_int_equal(s3_sigv4_canonical(&rq, &sv, &c), 0);
    assert_string_equal(s3_buf_cstr(&c), "GET\n/\n\nhost:example.amazonaws.com\n"
                                         "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" EMPTY);
    s3_buf_free(&c);
    struct s3_buf sts;
    s3_buf_init(&sts, 0);
    int64_t now = sv.t + 10;
    assert_int_equal(s3_sigv4_verify(&rq, &sv, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", now,
                                     NULL, &sts, NULL),
                     S3E_OK);
    assert_string_equal(s3_buf_cstr(&sts),
                        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
                        "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
    s3_buf_free(&sts);
    /* wrong secret: SignatureDoesNotMatch with the canonical request for the error body */
    struct s3_buf cr;
    s3_buf_init(&cr, 0);
    assert_int_equal(s3_sigv4_verify(&rq, &sv, "wrong", now, &cr, NULL, NULL),
                     S3E_SignatureDoesNotMatch);
    assert_non_null(strstr(s3_buf_cstr(&cr), "host:example.amazonaws.com"));
    s3_buf_free(&cr);
    /* 16 minutes later: RequestTimeTooSkewed (a replay) */
    assert_int_equal(s3_sigv4_verify(&rq, &sv, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                     sv.t + 16 * 60, NULL, NULL, NULL),
                     S3E_RequestTimeTooSkewed);
    assert_int_equal(s3_sigv4_verify(&rq, &sv, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                     sv.t - 16 * 60, NULL, NULL, NULL),
                     S3E_RequestTimeTooSkewed);
}

#define S3SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

static void test_s3_get_range(void **st)
{
    (void)st;
    /* S3 documentation example: GET /test.txt, Range: bytes=0-9 */
    struct s3_hdr h[] = {
        H("Host", "examplebucket.s3.amazonaws.com"),
        H("Range", "bytes=0-9"),
        H("x-amz-content-sha256", EMPTY),
        H("x-amz-date", "20130524T000000Z"),
        H("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"),
    };
    struct s3_reqview rq = view("GET", "/test.txt", h, 5);
    struct s3_sigv4 sv;
    assert_int_equal(s3_sigv4_parse(&rq, &sv), S3E_OK);
    assert_int_equal(sv.payload, S3_PL_HASH);
    assert_int_equal(s3_sigv4_verify(&rq, &sv, S3SECRET, sv.t, NULL, NULL, NULL), S3E_OK);
    /* a tampered range is detected */
    h[1] = (struct s3_hdr)H("Range", "bytes=0-10");
    assert_int_equal(s3_sigv4_verify(&rq, &sv, S3SECRET, sv.t, NULL, NULL, NULL),
                     S3E_SignatureDoesNotMatch);
}

static void test_presigned(void **st)
{
    (void)st;
    struct s3_hdr h[] = {H("Host", "examplebucket.s3.amazonaws.com")};
    struct s3_reqview rq = view(
        "GET",
        "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
        h, 1);
    struct s3_sigv4 sv;
    assert_int_equal(s3_sigv4_parse(&rq, &sv), S3E_OK);
    assert_int_equal(sv.kind, S3_AUTH_QUERY);
    assert_int_equal(sv.payload, S3_PL_UNSIGNED);
    assert_int_equal(sv.expires, 86400);
    assert_int_equal(s3_sigv4_verify(&rq, &sv, S3SECRET, sv.t + 3600, NULL, NULL, NULL), S3E_OK);
    /* expired */
    assert_int_equal(s3_sigv4_verify(&rq, &sv, S3SECRET, sv.t + 86401, NULL, NULL, NULL),
                     S3E_AccessDenied);
    /* not yet valid */
    assert_int_equal(s3_sigv4_verify(&rq, &sv, S3SECRET, sv.t - 3600, NULL, NULL, NULL),
                     S3E_AccessDenied);
    /* expires beyond a week */
    struct s3_reqview rq2 = view(
        "GET",
        "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=604801&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
        h, 1);
    assert_int_equal(s3_sigv4_parse(&rq2, &sv), S3E_AuthorizationQueryParametersError);
    /* missing pieces */
    struct s3_reqview rq3 = view("GET", "/t?X-Amz-Signature=00", h, 1);
    assert_int_equal(s3_sigv4_parse(&rq3, &sv), S3E_AuthorizationQueryParametersError);
}

static void test_botocore_vectors(void **st)
{
    (void)st;
    /* produced by botocore S3SigV4Auth (tests/s3/gen_vectors.py), clock fixed */
    struct s3_hdr h[] = {
        H("Host", "127.0.0.1:9000"),
        H("x-amz-meta-Foo", "  a   b  "),
        H("X-Amz-Date", "20261125T010203Z"),
        H("X-Amz-Content-SHA256", "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"),
        H("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDCFSTEST/20261125/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-meta-foo, Signature=8f6888a5c32a9e3077851f0aadd9d47ac9eb02f01b7a290c85841ad9a187bf49"),
        H("Content-Length", "5"),
    };
    struct s3_reqview rq = view(
        "PUT", "/bkt/dir%20x/a%2Bb~c%C3%A9.txt?partNumber=3&uploadId=ab%2Fcd%3D", h, 6);
    struct s3_sigv4 sv;
    assert_int_equal(s3_sigv4_parse(&rq, &sv), S3E_OK);
    assert_int_equal(s3_sigv4_verify(&rq, &sv, "secret/with+chars=", sv.t, NULL, NULL, NULL),
                     S3E_OK);
    /* the same path escaped differently by another client ('~' as %7E, 'é' raw) */
    struct s3_reqview rq2 = view(
        "PUT", "/bkt/dir%20x/a%2Bb%7Ec\xc3\xa9.txt?uploadId=ab%2Fcd%3D&partNumber=3", h, 6);
    assert_int_equal(s3_sigv4_verify(&rq2, &sv, "secret/with+chars=", sv.t, NULL, NULL, NULL),
                     S3E_OK);
    /* no double decoding: %252B is "%2B" literally, not "+" */
    struct s3_reqview rq3 = view(
        "PUT", "/bkt/dir%20x/a%252Bb~c%C3%A9.txt?partNumber=3&uploadId=ab%2Fcd%3D", h, 6);
    assert_int_equal(s3_sigv4_verify(&rq3, &sv, "secret/with+chars=", sv.t, NULL, NULL, NULL),
                     S3E_SignatureDoesNotMatch);

    struct s3_hdr g[] = {
        H("Host", "127.0.0.1:9000"),
        H("X-Amz-Date", "20261125T010203Z"),
        H("X-Amz-Content-SHA256", EMPTY),
        H("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDCFSTEST/20261125/eu-west-3/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=669b2b35c57852074a951c5afe9110c4d39ebd1186c285973cca0032b55cf86d"),
    };
    struct s3_reqview rg = view("GET", "/bkt?list-type=2&prefix=a%20b&delimiter=%2F&encoding-type=url", g, 4);
    assert_int_equal(s3_sigv4_parse(&rg, &sv), S3E_OK);
    assert_string_equal(sv.region, "eu-west-3");
    assert_int_equal(s3_sigv4_verify(&rg, &sv, "secret/with+chars=", sv.t, NULL, NULL, NULL),
                     S3E_OK);
}

static void test_sigv2(void **st)
{
    (void)st;
    /* legacy presigned URL (boto3's default presign); expected value from Python hmac */
    struct s3_hdr h[] = {H("Host", "127.0.0.1:19000")};
    struct s3_reqview rq = view("GET", "/boto-bucket/range.bin?AWSAccessKeyId=testkey&Signature=XXX&Expires=1795567659&response-content-type=text%2Fplain", h, 1);
    struct s3_sigv4 sv;
    assert_int_equal(s3_sigv4_parse(&rq, &sv), S3E_OK);
    assert_int_equal(sv.kind, S3_AUTH_V2_QUERY);
    snprintf(sv.signature, sizeof(sv.signature), "%s", V2SIG1);
    assert_int_equal(s3_sigv4_verify(&rq, &sv, "testsecret123", 1795567000, NULL, NULL, NULL), S3E_OK);
    assert_int_equal(s3_sigv4_verify(&rq, &sv, "testsecret123", 1795567660, NULL, NULL, NULL),
                     S3E_AccessDenied);
    assert_int_equal(s3_sigv4_verify(&rq, &sv, "wrong", 1795567000, NULL, NULL, NULL),
                     S3E_SignatureDoesNotMatch);
    /* header form with x-amz-* headers and sub-resources */
    struct s3_hdr h2[] = {
        H("Content-Type", "text/plain"),
        H("X-Amz-Date", "Wed, 25 Nov 2026 01:02:03 GMT"),
        H("X-Amz-Meta-A", "1"),
        H("x-amz-meta-a", " 2 "),
        {"Authorization", 13, "AWS testkey:" V2SIG2, 12 + sizeof(V2SIG2) - 1},
    };
    struct s3_reqview r2 = view("PUT", "/b/k?uploadId=x+y&partNumber=1&other=1", h2, 5);
    assert_int_equal(s3_sigv4_parse(&r2, &sv), S3E_OK);
    assert_int_equal(sv.kind, S3_AUTH_V2_HEADER);
    struct s3_buf sts;
    s3_buf_init(&sts, 0);
    assert_int_equal(s3_sigv4_verify(&r2, &sv, "testsecret123", sv.t, NULL, &sts, NULL), S3E_OK);
    assert_string_equal(s3_buf_cstr(&sts), "PUT\n\ntext/plain\n\nx-amz-date:Wed, 25 Nov 2026 01:02:03 GMT\n"
                                           "x-amz-meta-a:1,2\n/b/k?partNumber=1&uploadId=x y");
    s3_buf_free(&sts);
    assert_int_equal(s3_sigv4_verify(&r2, &sv, "testsecret123", sv.t + 3600, NULL, NULL, NULL),
                     S3E_RequestTimeTooSkewed);
}

static void test_malformed_auth(void **st)
{
    (void)st;
    static const char *const bad[] = {
        "AWS4-HMAC-SHA256",
        "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request",
        "AWS4-HMAC-SHA256 Credential=AK/2013/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
        "AWS4-HMAC-SHA256 Credential=/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
        "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=Host, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
        "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;;x, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
        "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=F0e8",
        "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_requesX, SignedHeaders=host, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
        "Bearer abc",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct s3_hdr h[] = {H("Host", "x"), H("x-amz-date", "20130524T000000Z"),
                             {"Authorization", 13, bad[i], strlen(bad[i])}};
        struct s3_reqview rq = view("GET", "/", h, 3);
        struct s3_sigv4 sv;
        assert_int_not_equal(s3_sigv4_parse(&rq, &sv), S3E_OK);
    }
    /* SigV2 without a date is refused with AccessDenied */
    struct s3_hdr h2[] = {H("Authorization", "AWS AKID:c2lnbmF0dXJl")};
    struct s3_reqview rq = view("GET", "/", h2, 1);
    struct s3_sigv4 sv;
    assert_int_equal(s3_sigv4_parse(&rq, &sv), S3E_AccessDenied);
    /* bad x-amz-content-sha256 */
    struct s3_hdr h3[] = {H("x-amz-content-sha256", "nope")};
    rq = view("GET", "/", h3, 1);
    assert_int_equal(s3_sigv4_parse(&rq, &sv), S3E_InvalidArgument);
    /* no auth at all: anonymous */
    rq = view("GET", "/", NULL, 0);
    assert_int_equal(s3_sigv4_parse(&rq, &sv), S3E_OK);
    assert_int_equal(sv.kind, S3_AUTH_NONE);
}

/* ---- aws-chunked ---- */

struct sink {
    struct s3_buf b;
};

static int sink_fn(void *arg, const uint8_t *p, size_t n)
{
    struct sink *s = arg;
    return s3_buf_add(&s->b, p, n);
}

static const char *SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";

static void example_key(uint8_t key[32])
{
    s3_sigv4_signing_key(S3SECRET, "20130524", "us-east-1", "s3", key);
}

static struct s3_buf example_body(const char *sig1, const char *sig2, const char *sig3)
{
    struct s3_buf b;
    s3_buf_init(&b, 0);
    s3_buf_addf(&b, "10000;chunk-signature=%s\r\n", sig1);
    for (int i = 0; i < 65536; i++)
        s3_buf_addc(&b, 'a');
    s3_buf_addf(&b, "\r\n400;chunk-signature=%s\r\n", sig2);
    for (int i = 0; i < 1024; i++)
        s3_buf_addc(&b, 'a');
    s3_buf_addf(&b, "\r\n0;chunk-signature=%s\r\n\r\n", sig3);
    return b;
}

#define SIG1 "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
#define SIG2 "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
#define TSIG1 "7ca2bb6b96869a322ee00fa7347cadb82c8801d9e36e87e71086051b27939767"
#define TSIG2 "65ef73b8210158bc1059af76e2c4768ca752fadcda0eac914e4b951213af61f7"
#define TSIG3 "caacfa3eeef4177f9dfd2bc2b60f0f39da9c402a820a4864f8bd732898f0fc72"
#define SIG3 "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"

static void test_chunked_seed(void **st)
{
    (void)st;
    /* the seed signature of the S3 aws-chunked example request */
    struct s3_hdr h[] = {
        H("Host", "s3.amazonaws.com"),
        H("x-amz-date", "20130524T000000Z"),
        H("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        H("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"),
        H("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
        H("Content-Encoding", "aws-chunked"),
        H("x-amz-decoded-content-length", "66560"),
        H("Content-Length", "66824"),
    };
    struct s3_reqview rq = view("PUT", "/examplebucket/chunkObject.txt", h, 8);
    struct s3_sigv4 sv;
    assert_int_equal(s3_sigv4_parse(&rq, &sv), S3E_OK);
    assert_int_equal(sv.payload, S3_PL_STREAMING_SIGNED);
    uint8_t key[32], want[32];
    assert_int_equal(s3_sigv4_verify(&rq, &sv, S3SECRET, sv.t, NULL, NULL, key), S3E_OK);
    example_key(want);
    assert_memory_equal(key, want, 32);
}

static void run_chunked(const struct s3_buf *body, size_t step, enum s3_payload mode,
                        enum s3_err want, size_t want_len)
{
    uint8_t key[32];
    example_key(key);
    struct s3_chunked c;
    assert_int_equal(s3_chunked_init(&c, mode, key, "20130524T000000Z",
                                     "20130524/us-east-1/s3/aws4_request", SEED),
                     0);
    struct sink s;
    s3_buf_init(&s.b, 0);
    size_t off = 0;
    enum s3_err got = S3E_OK;
    while (off < body->len) {
        size_t n = body->len - off < step ? body->len - off : step;
        ssize_t r = s3_chunked_feed(&c, (const uint8_t *)body->p + off, n, sink_fn, &s);
        if (r < 0) {
            got = c.err;
            break;
        }
        off += (size_t)r;
        if (s3_chunked_done(&c))
            break;
    }
    if (got == S3E_OK && s3_chunked_finish(&c) < 0)
        got = c.err;
    assert_int_equal(got, want);
    if (want == S3E_OK) {
        assert_int_equal(s.b.len, want_len);
        assert_int_equal(off, body->len);
    }
    s3_buf_free(&s.b);
    s3_chunked_free(&c);
}

static void test_chunked_signed(void **st)
{
    (void)st;
    struct s3_buf b = example_body(SIG1, SIG2, SIG3);
    assert_int_equal(b.len, 66824); /* the example's Content-Length */
    static const size_t steps[] = {1, 7, 100, 4096, 1 << 20};
    for (size_t i = 0; i < 5; i++)
        run_chunked(&b, steps[i], S3_PL_STREAMING_SIGNED, S3E_OK, 66560);
    /* a flipped data byte fails that chunk's signature */
    b.p[200] = 'b';
    run_chunked(&b, 4096, S3_PL_STREAMING_SIGNED, S3E_SignatureDoesNotMatch, 0);
    s3_buf_free(&b);
    /* chunks replayed out of order */
    b = example_body(SIG2, SIG1, SIG3);
    run_chunked(&b, 4096, S3_PL_STREAMING_SIGNED, S3E_SignatureDoesNotMatch, 0);
    s3_buf_free(&b);
    /* truncated: no final chunk */
    b = example_body(SIG1, SIG2, SIG3);
    b.len -= 90;
    run_chunked(&b, 4096, S3_PL_STREAMING_SIGNED, S3E_IncompleteBody, 0);
    s3_buf_free(&b);
    /* garbage header, oversize header */
    s3_buf_init(&b, 0);
    s3_buf_adds(&b, "zz;chunk-signature=" SIG1 "\r\n");
    run_chunked(&b, 10, S3_PL_STREAMING_SIGNED, S3E_IncompleteBody, 0);
    s3_buf_reset(&b);
    for (int i = 0; i < 5000; i++)
        s3_buf_addc(&b, '1');
    run_chunked(&b, 100, S3_PL_STREAMING_SIGNED, S3E_InvalidArgument, 0);
    s3_buf_reset(&b);
    s3_buf_adds(&b, "fffffffffffffffff;chunk-signature=" SIG1 "\r\n");
    run_chunked(&b, 100, S3_PL_STREAMING_SIGNED, S3E_IncompleteBody, 0);
    s3_buf_free(&b);
}

static void test_chunked_unsigned_trailer(void **st)
{
    (void)st;
    struct s3_buf b;
    s3_buf_init(&b, 0);
    /* as botocore sends it: crc32 of "hello world" = 0x0d4a1185 -> DUoRhQ== */
    s3_buf_adds(&b, "5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n");
    run_chunked(&b, 3, S3_PL_STREAMING_UNSIGNED_TRAILER, S3E_OK, 11);
    uint32_t crc = s3_crc32(0, "hello world", 11);
    assert_int_equal(crc, 0x0d4a1185);
    /* without the final empty line (accepted at end of body) */
    b.len -= 2;
    run_chunked(&b, 64, S3_PL_STREAMING_UNSIGNED_TRAILER, S3E_OK, 11);
    /* truncated in the data */
    b.len = 10;
    run_chunked(&b, 64, S3_PL_STREAMING_UNSIGNED_TRAILER, S3E_IncompleteBody, 0);
    s3_buf_reset(&b);
    s3_buf_adds(&b, "5\r\nhello\r\n0\r\nx-evil:1\r\n\r\n");
    run_chunked(&b, 64, S3_PL_STREAMING_UNSIGNED_TRAILER, S3E_InvalidArgument, 0);
    s3_buf_free(&b);
}

static void test_chunked_signed_trailer(void **st)
{
    (void)st;
    /* computed independently with Python hmac/hashlib (tests/s3/gen_vectors.py) */
    struct s3_buf b;
    s3_buf_init(&b, 0);
    s3_buf_adds(&b, "5;chunk-signature=" TSIG1 "\r\nhello\r\n"
                    "0;chunk-signature=" TSIG2 "\r\n"
                    "x-amz-checksum-crc32:NhCmhg==\r\n"
                    "x-amz-trailer-signature:" TSIG3 "\r\n\r\n");
    run_chunked(&b, 5, S3_PL_STREAMING_SIGNED_TRAILER, S3E_OK, 5);
    /* a forged trailer value */
    char *v = strstr(b.p, "NhCmhg==");
    v[0] = 'M';
    run_chunked(&b, 5, S3_PL_STREAMING_SIGNED_TRAILER, S3E_SignatureDoesNotMatch, 0);
    s3_buf_free(&b);
}

static void test_checksums(void **st)
{
    (void)st;
    const char *nine = "123456789";
    assert_int_equal(s3_crc32(0, nine, 9), 0xCBF43926u);
    assert_int_equal(s3_crc32c(0, nine, 9), 0xE3069283u);
    assert_true(s3_crc64nvme(0, nine, 9) == 0xAE8B14860A799888ull);
    /* incremental == one-shot over a long odd-sized buffer */
    static uint8_t big[100003];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 31 + 7);
    uint32_t a = 0;
    uint64_t c = 0;
    for (size_t i = 0; i < sizeof(big); i += 997) {
        size_t n = sizeof(big) - i < 997 ? sizeof(big) - i : 997;
        a = s3_crc32c(a, big + i, n);
        c = s3_crc64nvme(c, big + i, n);
    }
    assert_int_equal(a, s3_crc32c(0, big, sizeof(big)));
    assert_true(c == s3_crc64nvme(0, big, sizeof(big)));
    /* streaming API and wire (base64) forms; values from Python zlib/hashlib */
    static const struct {
        enum s3_ck_alg alg;
        const char *b64;
    } v[] = {
        {S3_CK_CRC32, "DUoRhQ=="},
        {S3_CK_CRC32C, "yZRlqg=="},
        {S3_CK_SHA1, "Kq5sNclPz7QV2+lfQIuc6R7oRu0="},
        {S3_CK_SHA256, "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="},
        {S3_CK_MD5, "XrY7u+Ae7tCTyyK7j1rNww=="},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        struct s3_ck ck;
        char out[S3_CK_B64_MAX];
        assert_int_equal(s3_ck_init(&ck, v[i].alg), 0);
        s3_ck_update(&ck, "hello ", 6);
        s3_ck_update(&ck, "world", 5);
        s3_ck_final_b64(&ck, out);
        assert_string_equal(out, v[i].b64);
    }
    assert_int_equal(s3_ck_from_name("x-amz-checksum-CRC64NVME", 24), S3_CK_CRC64NVME);
    assert_int_equal(s3_ck_from_name("crc32c", 6), S3_CK_CRC32C);
    assert_int_equal(s3_ck_from_name("md5", 3), S3_CK_NONE);
}

static void test_encoding(void **st)
{
    (void)st;
    uint8_t out[64];
    assert_int_equal(s3_b64_dec("DUoRhQ==", 8, out, sizeof(out)), 4);
    assert_int_equal(out[0], 0x0d);
    assert_int_equal(s3_b64_dec("DUoRh===", 8, out, sizeof(out)), -1);
    assert_int_equal(s3_b64_dec("DUo", 3, out, sizeof(out)), -1);
    assert_int_equal(s3_b64_dec("D=oR", 4, out, sizeof(out)), -1);
    assert_int_equal(s3_b64_dec("aGk=", 4, out, sizeof(out)), 2);
    char e[16];
    s3_b64_enc((const uint8_t *)"hi", 2, e);
    assert_string_equal(e, "aGk=");
    char d[32];
    assert_int_equal(s3_uri_decode("a%2Fb+c", 7, d, sizeof(d), true), 5);
    assert_string_equal(d, "a/b c");
    assert_int_equal(s3_uri_decode("a%2", 3, d, sizeof(d), false), -1);
    assert_int_equal(s3_uri_decode("a%00", 4, d, sizeof(d), false), -1);
    assert_int_equal(s3_uri_decode("%zz", 3, d, sizeof(d), false), -1);
    struct s3_buf b;
    s3_buf_init(&b, 0);
    s3_uri_encode(&b, "a b/c~é", strlen("a b/c~é"), true);
    assert_string_equal(s3_buf_cstr(&b), "a%20b/c~%C3%A9");
    s3_buf_free(&b);
    int64_t t;
    assert_int_equal(s3_parse_http_date("Wed, 25 Nov 2026 01:02:03 GMT", 29, &t), 0);
    char f[64];
    s3_fmt_http_date(t, f);
    assert_string_equal(f, "Wed, 25 Nov 2026 01:02:03 GMT");
    assert_int_equal(s3_parse_amz_date("20261125T010203Z", 16, &t), 0);
    s3_fmt_iso8601(t, 0, f);
    assert_string_equal(f, "2026-11-25T01:02:03.000Z");
    assert_int_equal(s3_parse_amz_date("20261325T010203Z", 16, &t), -1);
    uint64_t u;
    assert_int_equal(s3_parse_u64("18446744073709551616", 20, &u), -1);
    assert_int_equal(s3_parse_u64("-1", 2, &u), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_vanilla),
        cmocka_unit_test(test_s3_get_range),
        cmocka_unit_test(test_presigned),
        cmocka_unit_test(test_botocore_vectors),
        cmocka_unit_test(test_sigv2),
        cmocka_unit_test(test_malformed_auth),
        cmocka_unit_test(test_chunked_seed),
        cmocka_unit_test(test_chunked_signed),
        cmocka_unit_test(test_chunked_unsigned_trailer),
        cmocka_unit_test(test_chunked_signed_trailer),
        cmocka_unit_test(test_checksums),
        cmocka_unit_test(test_encoding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
