/*
 * tests/fuzz/fuzz_http.c - libFuzzer target for the streaming HTTP/1.1 request parser
 * (cfs/http.h). The input is parsed as a stream of pipelined requests twice: offered
 * whole, and offered in pseudo-random pieces (seeded from the input) the way a socket
 * delivers it; both runs must tell the same story (same requests, bodies, trailers,
 * errors and consumed bytes). Small limits are used for some inputs so the limit paths
 * run too. The helpers (header lookup, token lists, target split, percent-decoding,
 * query splitting) run on every parsed request.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cfs/http.h>

#define TRANSCRIPT 8192

struct transcript {
    char s[TRANSCRIPT];
    size_t len;
};

static void put(struct transcript *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct transcript *t, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (t->len >= sizeof(t->s) - 1)
        return;
    va_start(ap, fmt);
    n = vsnprintf(t->s + t->len, sizeof(t->s) - t->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        t->len += (size_t)n < sizeof(t->s) - t->len ? (size_t)n : sizeof(t->s) - 1 - t->len;
}

static uint64_t fnv(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static void exercise_helpers(const struct cfs_http_request *r)
{
    const char *path, *query;
    size_t plen, qlen;
    char out[512];

    cfs_http_target_split(r->target, &path, &plen, &query, &qlen);
    if (plen < sizeof(out))
        (void)cfs_http_pct_decode(path, plen, out, sizeof(out), 0);
    if (query != NULL) {
        const char *pos = query;
        struct cfs_http_qparam q;
        while (cfs_http_query_next(&pos, query + qlen, &q)) {
            if (q.key_len > 0)
                (void)cfs_http_pct_decode(q.key, q.key_len, out, sizeof(out),
                                          CFS_HTTP_PCT_PLUS_SPACE);
            if (q.value != NULL)
                (void)cfs_http_pct_decode(q.value, q.value_len, out, 8, 0);
        }
    }
    for (size_t i = 0; i < r->nheaders; i++) {
        if (strlen(r->headers[i].name) != r->headers[i].name_len ||
            strlen(r->headers[i].value) != r->headers[i].value_len)
            abort();
        (void)cfs_http_token_list_has(r->headers[i].value, "close");
        if (cfs_http_header_get(r, r->headers[i].name) == NULL)
            abort();
    }
}

/* Parse data[0..len) as pipelined requests, offering `piece`-sized growth (0 = all). */
static void run(const uint8_t *data, size_t len, const struct cfs_http_limits *lim,
                uint64_t seed, struct transcript *t)
{
    struct cfs_http_parser *p = cfs_http_parser_new(lim);
    const char *buf = (const char *)data;
    size_t off = 0, avail;
    uint64_t body_hash = 1469598103934665603ull, body_len = 0;

    if (p == NULL)
        abort();
    avail = seed ? 0 : len;
    for (;;) {
        size_t used, dlen;
        const char *d;
        int ev;

        if (seed && avail < len && off == avail) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            size_t step = 1 + (size_t)(seed % 17 == 0 ? seed % 4096 : seed % 16);
            avail = avail + step < len ? avail + step : len;
        }
        ev = cfs_http_feed(p, buf + off, avail - off, &used, &d, &dlen);
        if (used > avail - off)
            abort();
        if (ev == CFS_HTTP_BODY) {
            if (d < buf + off || d + dlen != buf + off + used || dlen == 0)
                abort();
            body_hash = fnv(body_hash, d, dlen);
            body_len += dlen;
        }
        off += used;
        if (ev == CFS_HTTP_HEADERS_DONE) {
            const struct cfs_http_request *r = cfs_http_request(p);
            put(t, "H%s %s %d.%d f%d cl%llu ka%d ec%d n%zu|", r->method, r->target,
                r->version_major, r->version_minor, (int)r->framing,
                (unsigned long long)r->content_length, r->keep_alive, r->expect_continue,
                r->nheaders);
            exercise_helpers(r);
        } else if (ev == CFS_HTTP_MESSAGE_DONE) {
            const struct cfs_http_request *r = cfs_http_request(p);
            if (r->body_received != body_len)
                abort();
            put(t, "M%llu:%llx t%zu|", (unsigned long long)body_len,
                (unsigned long long)body_hash, r->ntrailers);
            body_hash = 1469598103934665603ull;
            body_len = 0;
        } else if (ev == CFS_HTTP_ERROR) {
            /* where in the input the error was noticed depends on the pieces */
            put(t, "E%d", cfs_http_error_status(p));
            cfs_http_parser_free(p);
            return;
        } else if (ev == CFS_HTTP_NEED_MORE) {
            if (off != avail)
                abort();
            if (avail == len)
                break;
        }
    }
    put(t, "C%zu idle%d", off, cfs_http_parser_idle(p));
    cfs_http_parser_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct transcript a, b;
    struct cfs_http_limits lim = {0};
    uint64_t seed = 0x9e3779b97f4a7c15ull;

    for (size_t i = 0; i < size && i < 8; i++)
        seed = (seed ^ data[i]) * 1099511628211ull;
    if (seed == 0)
        seed = 1;
    if (size > 0 && data[0] == 'X') {
        /* small limits for inputs starting with 'X' (the request follows) */
        lim.max_request_line = 40;
        lim.max_header_bytes = 80;
        lim.max_headers = 4;
        lim.max_body = 64;
        data++;
        size--;
    }
    a.len = b.len = 0;
    run(data, size, &lim, 0, &a);
    run(data, size, &lim, seed, &b);
    if (a.len != b.len || memcmp(a.s, b.s, a.len) != 0) {
        fprintf(stderr, "whole:  %.*s\npieces: %.*s\n", (int)a.len, a.s, (int)b.len, b.s);
        abort();
    }
    return 0;
}
