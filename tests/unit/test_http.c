/*
 * tests/unit/test_http.c - the streaming HTTP/1.1 request parser (cfs/http.h): a table
 * of valid and invalid requests, each parsed in one feed, byte by byte and in pieces
 * of several sizes with the same outcome; chunked bodies with extensions and trailers;
 * pipelining; limits; the helpers.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <cfs/http.h>

/* What one parse of one request produced, in a form that can be compared. */
struct outcome {
    int status;              /* 0 = MESSAGE_DONE reached; else the error status */
    int incomplete;          /* input ended before MESSAGE_DONE */
    char method[32];
    char target[256];
    int minor;
    int framing;
    uint64_t content_length;
    int keep_alive;
    int expect_continue;
    size_t nheaders, ntrailers;
    char headers[1024];      /* "name=value\n"... */
    char trailers[512];
    char body[1024];
    size_t body_len;
    size_t consumed;         /* bytes of input used up to MESSAGE_DONE / the error */
    int events_after_headers_done; /* sanity: HEADERS_DONE came exactly once */
};

static void append(char *dst, size_t cap, const char *a, const char *b)
{
    size_t l = strlen(dst);
    snprintf(dst + l, cap - l, "%s=%s\n", a, b);
}

/*
 * Parse one request from raw[0..len) the way a caller with a socket would: it offers
 * what it has received so far (growing by `piece` bytes, 0 = everything at once),
 * drops what the parser consumed and offers the rest again.
 */
static void run(struct cfs_http_parser *p, const char *raw, size_t len, size_t piece,
                struct outcome *o)
{
    size_t off = 0, avail = piece ? (piece < len ? piece : len) : len;
    int seen_headers = 0;

    memset(o, 0, sizeof(*o));
    for (;;) {
        size_t used;
        const char *data;
        size_t dlen;
        int ev = cfs_http_feed(p, raw + off, avail - off, &used, &data, &dlen);
        assert_true(used <= avail - off);
        if (ev == CFS_HTTP_BODY) {
            assert_true(data >= raw + off && data + dlen == raw + off + used);
            assert_true(dlen > 0);
            assert_true(o->body_len + dlen < sizeof(o->body));
            memcpy(o->body + o->body_len, data, dlen);
            o->body_len += dlen;
        } else {
            assert_null(data);
        }
        off += used;
        if (ev == CFS_HTTP_HEADERS_DONE) {
            const struct cfs_http_request *r = cfs_http_request(p);
            seen_headers++;
            snprintf(o->method, sizeof(o->method), "%s", r->method);
            snprintf(o->target, sizeof(o->target), "%s", r->target);
            o->minor = r->version_minor;
            o->framing = (int)r->framing;
            o->content_length = r->content_length;
            o->keep_alive = r->keep_alive;
            o->expect_continue = r->expect_continue;
            o->nheaders = r->nheaders;
            for (size_t i = 0; i < r->nheaders; i++) {
                assert_int_equal(strlen(r->headers[i].name), r->headers[i].name_len);
                assert_int_equal(strlen(r->headers[i].value), r->headers[i].value_len);
                append(o->headers, sizeof(o->headers), r->headers[i].name,
                       r->headers[i].value);
            }
        } else if (ev == CFS_HTTP_MESSAGE_DONE) {
            const struct cfs_http_request *r = cfs_http_request(p);
            assert_int_equal(seen_headers, 1);
            o->ntrailers = r->ntrailers;
            for (size_t i = 0; i < r->ntrailers; i++)
                append(o->trailers, sizeof(o->trailers), r->trailers[i].name,
                       r->trailers[i].value);
            assert_int_equal(r->body_received, o->body_len);
            /* the request stays readable after MESSAGE_DONE */
            assert_string_equal(r->method, o->method);
            o->consumed = off;
            return;
        } else if (ev == CFS_HTTP_ERROR) {
            o->status = cfs_http_error_status(p);
            assert_true(o->status >= 400);
            assert_non_null(cfs_http_error_text(p));
            o->consumed = off;
            /* sticky */
            assert_int_equal(cfs_http_feed(p, raw + off, len - off, &used, NULL, NULL),
                             CFS_HTTP_ERROR);
            assert_int_equal(used, 0);
            return;
        } else if (ev == CFS_HTTP_NEED_MORE) {
            assert_int_equal(off, avail);
            if (avail == len) {
                o->incomplete = 1;
                o->consumed = off;
                return;
            }
            avail = piece ? (avail + piece < len ? avail + piece : len) : len;
        }
    }
}

static void outcome_equal(const struct outcome *a, const struct outcome *b)
{
    assert_int_equal(a->status, b->status);
    assert_int_equal(a->incomplete, b->incomplete);
    assert_string_equal(a->method, b->method);
    assert_string_equal(a->target, b->target);
    assert_int_equal(a->minor, b->minor);
    assert_int_equal(a->framing, b->framing);
    assert_int_equal(a->content_length, b->content_length);
    assert_int_equal(a->keep_alive, b->keep_alive);
    assert_int_equal(a->expect_continue, b->expect_continue);
    assert_string_equal(a->headers, b->headers);
    assert_string_equal(a->trailers, b->trailers);
    assert_int_equal(a->body_len, b->body_len);
    assert_memory_equal(a->body, b->body, a->body_len);
    if (a->status == 0)
        assert_int_equal(a->consumed, b->consumed);
}

struct tcase {
    const char *name;
    const char *raw;
    int status;            /* expected error status, 0 = valid */
    const char *method;
    const char *target;
    int framing;
    const char *body;
    int keep_alive;
    int expect_continue;
    size_t nheaders;
    size_t ntrailers;
};

#define OK(n, raw, m, t, fr, body, ka, ec, nh, nt) {n, raw, 0, m, t, fr, body, ka, ec, nh, nt}
#define BAD(n, raw, st) {n, raw, st, NULL, NULL, 0, NULL, 0, 0, 0, 0}
#define H "Host: x\r\n"

static const struct tcase cases[] = {
    OK("simple get", "GET / HTTP/1.1\r\n" H "\r\n", "GET", "/", 0, "", 1, 0, 1, 0),
    OK("http/1.0 no host", "GET /a?b=c HTTP/1.0\r\n\r\n", "GET", "/a?b=c", 0, "", 0, 0, 0, 0),
    OK("http/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", "GET", "/", 0,
       "", 1, 0, 1, 0),
    OK("connection close", "GET / HTTP/1.1\r\n" H "Connection: foo, close\r\n\r\n", "GET", "/",
       0, "", 0, 0, 2, 0),
    OK("content-length body", "PUT /b/k HTTP/1.1\r\n" H "Content-Length: 5\r\n\r\nhello", "PUT",
       "/b/k", 1, "hello", 1, 0, 2, 0),
    OK("content-length zero", "POST /x HTTP/1.1\r\n" H "Content-Length: 0\r\n\r\n", "POST", "/x",
       0, "", 1, 0, 2, 0),
    OK("content-length list", "PUT / HTTP/1.1\r\n" H "Content-Length: 3, 3\r\n\r\nabc", "PUT",
       "/", 1, "abc", 1, 0, 2, 0),
    OK("repeated equal content-length",
       "PUT / HTTP/1.1\r\n" H "Content-Length: 3\r\ncontent-length: 3\r\n\r\nabc", "PUT", "/", 1,
       "abc", 1, 0, 3, 0),
    OK("chunked with extensions and trailers",
       "POST /up HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n"
       "5;name=val\r\nhello\r\n6 ; a;b=\"q r\"\r\n world\r\nA\r\n0123456789\r\n"
       "0;last\r\nX-Checksum: abc\r\nX-Other:  2 \r\n\r\n",
       "POST", "/up", 2, "hello world0123456789", 1, 0, 2, 2),
    OK("chunked no trailers", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: Chunked\r\n\r\n"
       "3\r\nabc\r\n0\r\n\r\n", "POST", "/", 2, "abc", 1, 0, 2, 0),
    OK("chunked upper-case hex", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n"
       "00B\r\nhello world\r\n0\r\n\r\n", "POST", "/", 2, "hello world", 1, 0, 2, 0),
    OK("expect 100-continue", "PUT /o HTTP/1.1\r\n" H "Expect: 100-Continue\r\n"
       "Content-Length: 2\r\n\r\nhi", "PUT", "/o", 1, "hi", 1, 1, 3, 0),
    OK("expect ignored in 1.0", "PUT /o HTTP/1.0\r\nExpect: 100-continue\r\n"
       "Content-Length: 2\r\n\r\nhi", "PUT", "/o", 1, "hi", 0, 0, 2, 0),
    OK("leading empty lines", "\r\n\r\nGET / HTTP/1.1\r\n" H "\r\n", "GET", "/", 0, "", 1, 0, 1,
       0),
    OK("bare LF", "GET / HTTP/1.1\n" H "X-A: b\n\n", "GET", "/", 0, "", 1, 0, 2, 0),
    OK("ows and empty value", "GET / HTTP/1.1\r\n" H "X-Empty:\r\nX-Sp: \t a b \t\r\n\r\n",
       "GET", "/", 0, "", 1, 0, 3, 0),
    OK("obs-text in value", "GET / HTTP/1.1\r\n" H "X-U: caf\xc3\xa9\r\n\r\n", "GET", "/", 0, "",
       1, 0, 2, 0),
    OK("minor version 1.2", "GET / HTTP/1.2\r\n" H "\r\n", "GET", "/", 0, "", 1, 0, 1, 0),
    OK("extension method", "MKCOL /d HTTP/1.1\r\n" H "\r\n", "MKCOL", "/d", 0, "", 1, 0, 1, 0),

    BAD("no version", "GET /\r\n\r\n", 400),
    BAD("double space", "GET  / HTTP/1.1\r\n" H "\r\n", 400),
    BAD("lower-case version", "GET / http/1.1\r\n" H "\r\n", 400),
    BAD("version garbage", "GET / HTTP/1.1x\r\n" H "\r\n", 400),
    BAD("http/2", "GET / HTTP/2.0\r\n" H "\r\n", 505),
    BAD("empty method", " / HTTP/1.1\r\n" H "\r\n", 400),
    BAD("control char in target", "GET /a\x01 HTTP/1.1\r\n" H "\r\n", 400),
    BAD("missing host", "GET / HTTP/1.1\r\n\r\n", 400),
    BAD("two hosts", "GET / HTTP/1.1\r\n" H H "\r\n", 400),
    BAD("obs-fold", "GET / HTTP/1.1\r\n" H "X-A: b\r\n c\r\n\r\n", 400),
    BAD("space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    BAD("no colon", "GET / HTTP/1.1\r\n" H "Garbage\r\n\r\n", 400),
    BAD("empty name", "GET / HTTP/1.1\r\n" H ": v\r\n\r\n", 400),
    BAD("control char in value", "GET / HTTP/1.1\r\n" H "X-A: a\x7f\r\n\r\n", 400),
    BAD("bare CR", "GET / HTTP/1.1\r\n" H "X-A: a\rb\r\n\r\n", 400),
    BAD("NUL in header", "GET / HTTP/1.1\r\n" H "X-A: a\0b\r\n\r\n", 400),
    BAD("CL and TE", "POST / HTTP/1.1\r\n" H "Content-Length: 3\r\n"
        "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400),
    BAD("CL overflow", "PUT / HTTP/1.1\r\n" H "Content-Length: 99999999999999999999\r\n\r\n",
        400),
    BAD("CL 2^63", "PUT / HTTP/1.1\r\n" H "Content-Length: 9223372036854775808\r\n\r\n", 400),
    BAD("CL negative", "PUT / HTTP/1.1\r\n" H "Content-Length: -1\r\n\r\n", 400),
    BAD("CL plus", "PUT / HTTP/1.1\r\n" H "Content-Length: +5\r\n\r\n", 400),
    BAD("CL empty", "PUT / HTTP/1.1\r\n" H "Content-Length:\r\n\r\n", 400),
    BAD("CL conflict", "PUT / HTTP/1.1\r\n" H "Content-Length: 3\r\nContent-Length: 4\r\n\r\n",
        400),
    BAD("CL list conflict", "PUT / HTTP/1.1\r\n" H "Content-Length: 3, 4\r\n\r\n", 400),
    BAD("TE gzip", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip\r\n\r\n", 501),
    BAD("TE gzip chunked", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: gzip, chunked\r\n\r\n",
        501),
    BAD("TE chunked twice", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked, chunked\r\n\r\n",
        400),
    BAD("TE empty", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: \r\n\r\n", 400),
    BAD("TE in 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    BAD("bad chunk size", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n"
        "zz\r\n", 400),
    BAD("chunk size junk", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n"
        "5 x\r\nhello\r\n0\r\n\r\n", 400),
    BAD("chunk size overflow", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n"
        "fffffffffffffffff\r\n", 400),
    BAD("chunk missing CRLF", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n"
        "3\r\nabcX\r\n0\r\n\r\n", 400),
    BAD("chunk ext control char", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n"
        "3;a=\x01\r\nabc\r\n0\r\n\r\n", 400),
    BAD("bad trailer", "POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n"
        "0\r\nbad trailer\r\n\r\n", 400),
    BAD("expect other", "PUT / HTTP/1.1\r\n" H "Expect: 200-ok\r\n\r\n", 417),
};

static void test_table(void **state)
{
    static const size_t pieces[] = {0, 1, 2, 3, 7, 64};

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct tcase *c = &cases[i];
        size_t len = strlen(c->raw);
        struct outcome first, o;

        /* "NUL in header" has an embedded NUL: measure up to the final CRLF CRLF */
        if (strcmp(c->name, "NUL in header") == 0)
            len = sizeof("GET / HTTP/1.1\r\n" H "X-A: a\0b\r\n\r\n") - 1;
        print_message("case: %s\n", c->name);
        for (size_t k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++) {
            struct cfs_http_parser *p = cfs_http_parser_new(NULL);
            assert_non_null(p);
            run(p, c->raw, len, pieces[k], k == 0 ? &first : &o);
            cfs_http_parser_free(p);
            if (k == 0) {
                assert_int_equal(first.incomplete, 0);
                assert_int_equal(first.status, c->status);
                if (c->status != 0)
                    continue;
                assert_string_equal(first.method, c->method);
                assert_string_equal(first.target, c->target);
                assert_int_equal(first.framing, c->framing);
                assert_int_equal(first.body_len, strlen(c->body));
                assert_memory_equal(first.body, c->body, first.body_len);
                assert_int_equal(first.keep_alive, c->keep_alive);
                assert_int_equal(first.expect_continue, c->expect_continue);
                assert_int_equal(first.nheaders, c->nheaders);
                assert_int_equal(first.ntrailers, c->ntrailers);
                assert_int_equal(first.consumed, len);
            } else {
                outcome_equal(&first, &o);
            }
        }
    }
}

static void test_details(void **state)
{
    static const char raw[] = "POST /up HTTP/1.1\r\nHost: example\r\n"
                              "X-Sp: \t a b \t\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "5;name=val\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n";
    struct cfs_http_parser *p = cfs_http_parser_new(NULL);
    const struct cfs_http_request *r;
    struct outcome o;

    run(p, raw, sizeof(raw) - 1, 0, &o);
    r = cfs_http_request(p);
    assert_string_equal(cfs_http_header_get(r, "x-sp"), "a b");
    assert_string_equal(cfs_http_header_get(r, "HOST"), "example");
    assert_null(cfs_http_header_get(r, "content-length"));
    assert_int_equal(cfs_http_header_count(r, "host"), 1);
    assert_string_equal(o.trailers, "X-Checksum=abc\n");
    assert_string_equal(r->trailers[0].value, "abc");
    assert_int_equal(r->version_major, 1);
    assert_int_equal(r->version_minor, 1);
    assert_true(cfs_http_parser_idle(p));
    cfs_http_parser_free(p);
}

static void test_pipelined(void **state)
{
    static const char raw[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                              "PUT /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                              "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "2\r\nxy\r\n0\r\n\r\n"
                              "GET /d HTTP/1.0\r\n\r\n";
    static const char *const targets[] = {"/a", "/b", "/c", "/d"};
    static const char *const bodies[] = {"", "abc", "xy", ""};
    static const size_t pieces[] = {0, 1, 5};

    for (size_t k = 0; k < 3; k++) {
        struct cfs_http_parser *p = cfs_http_parser_new(NULL);
        size_t off = 0;
        for (size_t i = 0; i < 4; i++) {
            struct outcome o;
            run(p, raw + off, sizeof(raw) - 1 - off, pieces[k], &o);
            assert_int_equal(o.status, 0);
            assert_int_equal(o.incomplete, 0);
            assert_string_equal(o.target, targets[i]);
            assert_int_equal(o.body_len, strlen(bodies[i]));
            assert_memory_equal(o.body, bodies[i], o.body_len);
            off += o.consumed;
        }
        assert_int_equal(off, sizeof(raw) - 1);
        /* nothing more: NEED_MORE, and the parser is idle */
        size_t used = 99;
        assert_int_equal(cfs_http_feed(p, NULL, 0, &used, NULL, NULL), CFS_HTTP_NEED_MORE);
        assert_int_equal(used, 0);
        assert_true(cfs_http_parser_idle(p));
        cfs_http_parser_free(p);
    }
}

/* The body is handed out in pieces no larger than what was offered (back-pressure). */
static void test_body_streaming(void **state)
{
    char raw[256];
    struct cfs_http_parser *p = cfs_http_parser_new(NULL);
    size_t used, dlen, total = 0;
    const char *data;
    int n = snprintf(raw, sizeof(raw), "PUT /big HTTP/1.1\r\nHost: x\r\n"
                                       "Content-Length: 100000000000\r\n\r\n");
    int ev = cfs_http_feed(p, raw, (size_t)n, &used, &data, &dlen);

    assert_int_equal(ev, CFS_HTTP_HEADERS_DONE);
    assert_int_equal(used, (size_t)n);
    assert_int_equal(cfs_http_request(p)->content_length, 100000000000ull);
    memset(raw, 'z', sizeof(raw));
    for (int i = 0; i < 1000; i++) {
        ev = cfs_http_feed(p, raw, 10, &used, &data, &dlen);
        assert_int_equal(ev, CFS_HTTP_BODY);
        assert_int_equal(used, 10);
        assert_int_equal(dlen, 10);
        assert_ptr_equal(data, raw);
        total += dlen;
    }
    assert_int_equal(cfs_http_request(p)->body_received, total);
    assert_false(cfs_http_parser_idle(p));
    /* len 0: nothing to do */
    assert_int_equal(cfs_http_feed(p, raw, 0, &used, &data, &dlen), CFS_HTTP_NEED_MORE);
    cfs_http_parser_free(p);
}

static void test_limits(void **state)
{
    struct cfs_http_limits lim = {.max_request_line = 32, .max_header_bytes = 64,
                                  .max_headers = 3, .max_body = 10};
    struct {
        const char *raw;
        int status;
    } t[] = {
        {"GET /0123456789012345678901234567890 HTTP/1.1\r\nHost: x\r\n\r\n", 414},
        {"GET / HTTP/1.1\r\nHost: x\r\nX-Long: 01234567890123456789012345678901234567890123"
         "\r\n\r\n", 431},
        {"GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 431},
        {"GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\n\r\n", 0},
        {"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n", 413},
        {"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789", 0},
        {"PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
         "5\r\n01234\r\n6\r\n", 413},
        {"PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
         "5\r\n01234\r\n5\r\n56789\r\n0\r\nT1: a\r\nT2: b\r\nT3: c\r\nT4: d\r\n\r\n", 431},
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        for (size_t piece = 0; piece < 3; piece++) {
            struct cfs_http_parser *p = cfs_http_parser_new(&lim);
            struct outcome o;
            run(p, t[i].raw, strlen(t[i].raw), piece, &o);
            print_message("limit case %zu piece %zu -> %d\n", i, piece, o.status);
            assert_int_equal(o.status, t[i].status);
            assert_int_equal(o.incomplete, 0);
            cfs_http_parser_free(p);
        }
    }
    /* the header section exactly at the limit is fine, one byte more is not */
    {
        char raw[256];
        struct cfs_http_limits l2 = {.max_header_bytes = 20};
        /* "Host: x\r\n" (9) + "X: 12345678\r\n" would be 22; "X: 123456\r\n" 11 -> 20 with
         * the final CRLF */
        struct outcome o;
        struct cfs_http_parser *p = cfs_http_parser_new(&l2);
        snprintf(raw, sizeof(raw), "GET / HTTP/1.1\r\nHost: x\r\nX: 1234\r\n\r\n");
        run(p, raw, strlen(raw), 1, &o);
        assert_int_equal(o.status, 0);
        cfs_http_parser_reset(p);
        snprintf(raw, sizeof(raw), "GET / HTTP/1.1\r\nHost: x\r\nX: 12345\r\n\r\n");
        run(p, raw, strlen(raw), 1, &o);
        assert_int_equal(o.status, 431);
        cfs_http_parser_reset(p);
        snprintf(raw, sizeof(raw), "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        run(p, raw, strlen(raw), 0, &o);
        assert_int_equal(o.status, 0);
        cfs_http_parser_free(p);
    }
}

static void test_idle(void **state)
{
    struct cfs_http_parser *p = cfs_http_parser_new(NULL);
    size_t used;
    assert_true(cfs_http_parser_idle(p));
    assert_int_equal(cfs_http_feed(p, "GE", 2, &used, NULL, NULL), CFS_HTTP_NEED_MORE);
    assert_int_equal(used, 2);
    assert_false(cfs_http_parser_idle(p));
    cfs_http_parser_reset(p);
    assert_true(cfs_http_parser_idle(p));
    assert_int_equal(cfs_http_error_status(p), 0);
    cfs_http_parser_free(p);
}

static void test_pct_decode(void **state)
{
    char out[64];
    char inplace[] = "a%2Fb%20c";

    assert_int_equal(cfs_http_pct_decode("a%20b", 5, out, sizeof(out), 0), 3);
    assert_string_equal(out, "a b");
    assert_int_equal(cfs_http_pct_decode("%e2%82%AC", 9, out, sizeof(out), 0), 3);
    assert_string_equal(out, "\xe2\x82\xac");
    assert_int_equal(cfs_http_pct_decode("a+b", 3, out, sizeof(out), 0), 3);
    assert_string_equal(out, "a+b");
    assert_int_equal(cfs_http_pct_decode("a+b", 3, out, sizeof(out), CFS_HTTP_PCT_PLUS_SPACE),
                     3);
    assert_string_equal(out, "a b");
    assert_int_equal(cfs_http_pct_decode("", 0, out, sizeof(out), 0), 0);
    assert_string_equal(out, "");
    assert_int_equal(cfs_http_pct_decode("%4", 2, out, sizeof(out), 0), -EINVAL);
    assert_int_equal(cfs_http_pct_decode("%", 1, out, sizeof(out), 0), -EINVAL);
    assert_int_equal(cfs_http_pct_decode("%G0", 3, out, sizeof(out), 0), -EINVAL);
    assert_int_equal(cfs_http_pct_decode("%0g", 3, out, sizeof(out), 0), -EINVAL);
    assert_int_equal(cfs_http_pct_decode("a%00", 4, out, sizeof(out), 0), -EINVAL);
    assert_int_equal(cfs_http_pct_decode("abc", 3, out, 3, 0), -ENOSPC);
    assert_int_equal(cfs_http_pct_decode("abc", 3, out, 4, 0), 3);
    assert_int_equal(cfs_http_pct_decode("abc", 3, out, 0, 0), -ENOSPC);
    assert_int_equal(cfs_http_pct_decode(inplace, strlen(inplace), inplace, sizeof(inplace), 0),
                     5);
    assert_string_equal(inplace, "a/b c");
}

static void test_query(void **state)
{
    static const char q[] = "a=1&&uploads&c=&d=x%20y=z&";
    const char *pos = q;
    struct cfs_http_qparam p;

    assert_int_equal(cfs_http_query_next(&pos, q + strlen(q), &p), 1);
    assert_int_equal(p.key_len, 1);
    assert_memory_equal(p.key, "a", 1);
    assert_int_equal(p.value_len, 1);
    assert_memory_equal(p.value, "1", 1);
    assert_int_equal(cfs_http_query_next(&pos, q + strlen(q), &p), 1);
    assert_int_equal(p.key_len, 7);
    assert_memory_equal(p.key, "uploads", 7);
    assert_null(p.value);
    assert_int_equal(cfs_http_query_next(&pos, q + strlen(q), &p), 1);
    assert_memory_equal(p.key, "c", 1);
    assert_non_null(p.value);
    assert_int_equal(p.value_len, 0);
    assert_int_equal(cfs_http_query_next(&pos, q + strlen(q), &p), 1);
    assert_memory_equal(p.key, "d", 1);
    assert_int_equal(p.value_len, 7);
    assert_memory_equal(p.value, "x%20y=z", 7);
    assert_int_equal(cfs_http_query_next(&pos, q + strlen(q), &p), 0);
    assert_int_equal(cfs_http_query_next(&pos, q + strlen(q), &p), 0);

    const char *path, *query;
    size_t pl, ql;
    cfs_http_target_split("/b/k?x=1", &path, &pl, &query, &ql);
    assert_int_equal(pl, 4);
    assert_string_equal(query, "x=1");
    assert_int_equal(ql, 3);
    cfs_http_target_split("/b/k", &path, &pl, &query, &ql);
    assert_int_equal(pl, 4);
    assert_null(query);
    assert_int_equal(ql, 0);
}

static void test_tokens(void **state)
{
    assert_true(cfs_http_token_list_has("keep-alive, Upgrade", "upgrade"));
    assert_true(cfs_http_token_list_has(" ,close", "close"));
    assert_false(cfs_http_token_list_has("closed", "close"));
    assert_false(cfs_http_token_list_has("", "close"));
    assert_false(cfs_http_token_list_has(NULL, "close"));
    assert_string_equal(cfs_http_reason(404), "Not Found");
    assert_string_equal(cfs_http_reason(431), "Request Header Fields Too Large");
    assert_string_equal(cfs_http_reason(799), "Unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),       cmocka_unit_test(test_details),
        cmocka_unit_test(test_pipelined),   cmocka_unit_test(test_body_streaming),
        cmocka_unit_test(test_limits),      cmocka_unit_test(test_idle),
        cmocka_unit_test(test_pct_decode),  cmocka_unit_test(test_query),
        cmocka_unit_test(test_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
