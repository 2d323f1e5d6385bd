/*
 * core/proto/http.c - streaming HTTP/1.1 request parser (RFC 9112) and helpers; the
 * contract is in sdk/include/cfs/http.h.
 *
 * Lines (request line, header and trailer fields, chunk-size lines) are gathered into
 * parser-owned buffers that grow up to the configured limits, then parsed whole, in
 * place (separators become NULs). Offsets are kept while a section grows (the buffer may
 * move) and turned into pointers when the section is complete. Body bytes are never
 * copied: a BODY event points into the caller's buffer.
 */
#include <cfs/http.h>

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEF_REQUEST_LINE 8192
#define DEF_HEADER_BYTES 32768
#define DEF_HEADERS 100
#define CHUNK_LINE_MAX 4096 /* chunk size + extensions */
#define PARSER_MAGIC 0x48545450u /* "HTTP" */

enum state {
    S_START = 0,  /* before a request line (empty lines are skipped) */
    S_HEADER,     /* header field lines */
    S_NOBODY,     /* headers done, no body: MESSAGE_DONE next */
    S_BODY_LEN,   /* Content-Length body */
    S_CHUNK_SIZE, /* chunk-size [ext] line */
    S_CHUNK_DATA,
    S_CHUNK_CRLF, /* CRLF after chunk data */
    S_TRAILER,    /* trailer field lines after the last chunk */
    S_COMPLETE,   /* MESSAGE_DONE returned; next feed starts anew */
    S_ERROR,
};

struct linebuf {
    char *p;
    size_t len;  /* bytes stored */
    size_t cap;
    size_t line; /* offset where the current line starts */
};

struct field_off {
    size_t name, name_len, value, value_len;
};

struct fields {
    struct field_off *off;
    struct cfs_http_header *pub;
    size_t n, cap;
};

struct cfs_http_parser {
    uint32_t magic;
    struct cfs_http_limits lim;
    enum state state;
    struct cfs_http_request req;
    struct linebuf hb;      /* request line + header section */
    struct linebuf tb;      /* trailer section */
    struct linebuf cb;      /* the current chunk-size line */
    struct fields hf, tf;
    size_t method_off, target_off;
    size_t hdr_start;       /* offset in hb where the header lines begin */
    size_t skipped;         /* empty lines skipped before the request line */
    uint64_t remaining;     /* of the Content-Length body or the current chunk */
    bool seen_cr;           /* S_CHUNK_CRLF */
    int err_status;
    const char *err_text;
};

/* ---- character classes ----------------------------------------------------------- */

static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* field-vchar / SP / HTAB: no CTL but HTAB, no DEL */
static bool is_field_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* ---- life cycle ------------------------------------------------------------------ */

static void fields_clear(struct fields *f)
{
    f->n = 0;
}

static void request_clear(struct cfs_http_parser *p)
{
    memset(&p->req, 0, sizeof(p->req));
    p->req.method = "";
    p->req.target = "";
    p->hb.len = p->hb.line = 0;
    p->tb.len = p->tb.line = 0;
    p->cb.len = p->cb.line = 0;
    fields_clear(&p->hf);
    fields_clear(&p->tf);
    p->hdr_start = 0;
    p->skipped = 0;
    p->remaining = 0;
    p->seen_cr = false;
}

struct cfs_http_parser *cfs_http_parser_new(const struct cfs_http_limits *limits)
{
    struct cfs_http_parser *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->magic = PARSER_MAGIC;
    if (limits != NULL)
        p->lim = *limits;
    if (p->lim.max_request_line == 0)
        p->lim.max_request_line = DEF_REQUEST_LINE;
    if (p->lim.max_header_bytes == 0)
        p->lim.max_header_bytes = DEF_HEADER_BYTES;
    if (p->lim.max_headers == 0)
        p->lim.max_headers = DEF_HEADERS;
    cfs_http_parser_reset(p);
    return p;
}

static void fields_free(struct fields *f)
{
    free(f->off);
    free(f->pub);
}

void cfs_http_parser_free(struct cfs_http_parser *p)
{
    if (p == NULL)
        return;
    assert(p->magic == PARSER_MAGIC);
    free(p->hb.p);
    free(p->tb.p);
    free(p->cb.p);
    fields_free(&p->hf);
    fields_free(&p->tf);
    p->magic = 0;
    free(p);
}

void cfs_http_parser_reset(struct cfs_http_parser *p)
{
    request_clear(p);
    p->state = S_START;
    p->err_status = 0;
    p->err_text = NULL;
}

const struct cfs_http_request *cfs_http_request(const struct cfs_http_parser *p)
{
    return &p->req;
}

bool cfs_http_parser_idle(const struct cfs_http_parser *p)
{
    return p->state == S_COMPLETE ||
           (p->state == S_START && p->hb.len == 0 && p->skipped == 0);
}

int cfs_http_error_status(const struct cfs_http_parser *p)
{
    return p->state == S_ERROR ? p->err_status : 0;
}

const char *cfs_http_error_text(const struct cfs_http_parser *p)
{
    return p->state == S_ERROR && p->err_text ? p->err_text : "no error";
}

static int fail(struct cfs_http_parser *p, int status, const char *text)
{
    p->state = S_ERROR;
    p->err_status = status;
    p->err_text = text;
    return CFS_HTTP_ERROR;
}

/* ---- line gathering -------------------------------------------------------------- */

/*
 * Append input up to and including the next LF to `lb`, never letting lb->len exceed
 * `limit`. Returns 1 when a whole line is in lb (from lb->line to lb->len), 0 when all
 * of `n` was taken without a LF, -1 when the limit would be passed. *used = bytes taken.
 */
static int take_line(struct linebuf *lb, const char *in, size_t n, size_t limit, size_t *used)
{
    const char *nl = memchr(in, '\n', n);
    size_t take = nl ? (size_t)(nl - in) + 1 : n;

    *used = 0;
    if (lb->len > limit || take > limit - lb->len)
        return -1;
    if (lb->len + take > lb->cap) {
        size_t ncap = lb->cap ? lb->cap : 512;
        char *np;
        while (ncap < lb->len + take)
            ncap *= 2;
        if (ncap > limit)
            ncap = limit;
        np = realloc(lb->p, ncap);
        if (np == NULL)
            return -2;
        lb->p = np;
        lb->cap = ncap;
    }
    memcpy(lb->p + lb->len, in, take);
    lb->len += take;
    *used = take;
    return nl != NULL;
}

/*
 * The line just completed in lb: strip LF and an optional CR before it, refuse bare CR
 * and NUL, NUL-terminate in place. Returns its length, or -1 when malformed.
 */
static long finish_line(struct linebuf *lb)
{
    char *s = lb->p + lb->line;
    size_t n = lb->len - lb->line;

    assert(n > 0 && s[n - 1] == '\n');
    n--;
    if (n > 0 && s[n - 1] == '\r')
        n--;
    s[n] = '\0';
    if (memchr(s, '\r', n) != NULL || memchr(s, '\0', n) != NULL)
        return -1;
    return (long)n;
}

/* ---- request line and fields ----------------------------------------------------- */

static int parse_request_line(struct cfs_http_parser *p, char *s, size_t n)
{
    size_t i = 0, m_end, t_start, t_end;

    while (i < n && is_tchar((unsigned char)s[i]))
        i++;
    if (i == 0 || i >= n || s[i] != ' ')
        return fail(p, 400, "malformed request line (method)");
    m_end = i++;
    t_start = i;
    while (i < n && (unsigned char)s[i] > 0x20 && (unsigned char)s[i] < 0x7f)
        i++;
    if (i == t_start || i >= n || s[i] != ' ')
        return fail(p, 400, "malformed request line (target)");
    t_end = i++;
    /* HTTP-version = "HTTP/" DIGIT "." DIGIT */
    if (n - i != 8 || memcmp(s + i, "HTTP/", 5) != 0 || s[i + 5] < '0' || s[i + 5] > '9' ||
        s[i + 6] != '.' || s[i + 7] < '0' || s[i + 7] > '9')
        return fail(p, 400, "malformed request line (version)");
    p->req.version_major = s[i + 5] - '0';
    p->req.version_minor = s[i + 7] - '0';
    if (p->req.version_major != 1)
        return fail(p, 505, "HTTP version not supported");
    s[m_end] = '\0';
    s[t_end] = '\0';
    p->method_off = (size_t)(s - p->hb.p);
    p->target_off = p->method_off + t_start;
    return CFS_HTTP_NEED_MORE;
}

/* "name: value" at lb->p + off (length n, NUL-terminated) into `f`. */
static int parse_field(struct cfs_http_parser *p, struct fields *f, struct linebuf *lb,
                       size_t off, size_t n)
{
    char *s = lb->p + off;
    size_t i = 0, vs, ve;

    if (is_ows(s[0]))
        return fail(p, 400, "obsolete line folding");
    while (i < n && is_tchar((unsigned char)s[i]))
        i++;
    if (i == 0 || i >= n || s[i] != ':')
        return fail(p, 400, "malformed header field name");
    vs = i + 1;
    while (vs < n && is_ows(s[vs]))
        vs++;
    ve = n;
    while (ve > vs && is_ows(s[ve - 1]))
        ve--;
    for (size_t k = vs; k < ve; k++)
        if (!is_field_char((unsigned char)s[k]))
            return fail(p, 400, "invalid character in header field value");
    if (f->n >= p->lim.max_headers)
        return fail(p, 431, "too many header fields");
    if (f->n == f->cap) {
        size_t ncap = f->cap ? f->cap * 2 : 16;
        struct field_off *no;
        struct cfs_http_header *np;
        if (ncap > p->lim.max_headers)
            ncap = p->lim.max_headers;
        no = realloc(f->off, ncap * sizeof(*no));
        if (no == NULL)
            return fail(p, 500, "out of memory");
        f->off = no;
        np = realloc(f->pub, ncap * sizeof(*np));
        if (np == NULL)
            return fail(p, 500, "out of memory");
        f->pub = np;
        f->cap = ncap;
    }
    s[i] = '\0';
    s[ve] = '\0';
    f->off[f->n].name = off;
    f->off[f->n].name_len = i;
    f->off[f->n].value = off + vs;
    f->off[f->n].value_len = ve - vs;
    f->n++;
    return CFS_HTTP_NEED_MORE;
}

static void fields_publish(struct fields *f, const struct linebuf *lb)
{
    for (size_t i = 0; i < f->n; i++) {
        f->pub[i].name = lb->p + f->off[i].name;
        f->pub[i].name_len = f->off[i].name_len;
        f->pub[i].value = lb->p + f->off[i].value;
        f->pub[i].value_len = f->off[i].value_len;
    }
}

/* Iterate over the comma-separated elements of `v`: returns the next non-empty element
 * (trimmed) in [*s, *s + *n), or false at the end. */
static bool list_next(const char **cur, const char **s, size_t *n)
{
    const char *c = *cur;
    for (;;) {
        const char *e;
        while (*c == ',' || is_ows(*c))
            c++;
        if (*c == '\0') {
            *cur = c;
            return false;
        }
        e = c;
        while (*e != '\0' && *e != ',')
            e++;
        *s = c;
        *n = (size_t)(e - c);
        while (*n > 0 && is_ows(c[*n - 1]))
            (*n)--;
        *cur = e;
        return true;
    }
}

static bool elem_is(const char *s, size_t n, const char *word)
{
    return strlen(word) == n && strncasecmp(s, word, n) == 0;
}

/* Decide framing, keep-alive and expectations once the header section is complete. */
static int headers_done(struct cfs_http_parser *p)
{
    struct cfs_http_request *r = &p->req;
    bool have_cl = false, have_te = false, chunked_last = false, other_coding = false;
    unsigned nchunked = 0, nhost = 0;
    uint64_t cl = 0;
    bool http11 = r->version_minor >= 1;

    fields_publish(&p->hf, &p->hb);
    r->method = p->hb.p + p->method_off;
    r->target = p->hb.p + p->target_off;
    r->headers = p->hf.pub;
    r->nheaders = p->hf.n;
    r->keep_alive = http11;

    for (size_t i = 0; i < p->hf.n; i++) {
        const struct cfs_http_header *h = &p->hf.pub[i];
        const char *cur = h->value, *e;
        size_t en;

        if (strcasecmp(h->name, "host") == 0) {
            nhost++;
        } else if (strcasecmp(h->name, "content-length") == 0) {
            /* 1*DIGIT, possibly repeated as a list of identical values */
            bool any = false;
            if (*cur == '\0')
                return fail(p, 400, "empty Content-Length");
            while (list_next(&cur, &e, &en)) {
                uint64_t v = 0;
                for (size_t k = 0; k < en; k++) {
                    if (e[k] < '0' || e[k] > '9')
                        return fail(p, 400, "malformed Content-Length");
                    if (v > (UINT64_C(0x7fffffffffffffff) - (uint64_t)(e[k] - '0')) / 10)
                        return fail(p, 400, "Content-Length overflow");
                    v = v * 10 + (uint64_t)(e[k] - '0');
                }
                if ((have_cl || any) && v != cl)
                    return fail(p, 400, "conflicting Content-Length values");
                cl = v;
                any = true;
            }
            if (!any)
                return fail(p, 400, "malformed Content-Length");
            have_cl = true;
        } else if (strcasecmp(h->name, "transfer-encoding") == 0) {
            have_te = true;
            while (list_next(&cur, &e, &en)) {
                chunked_last = elem_is(e, en, "chunked");
                if (chunked_last)
                    nchunked++;
                else
                    other_coding = true;
            }
        } else if (strcasecmp(h->name, "connection") == 0) {
            if (cfs_http_token_list_has(h->value, "close"))
                r->keep_alive = false;
            else if (!http11 && cfs_http_token_list_has(h->value, "keep-alive"))
                r->keep_alive = true;
        } else if (strcasecmp(h->name, "expect") == 0) {
            if (strcasecmp(h->value, "100-continue") != 0)
                return fail(p, 417, "unsupported expectation");
            r->expect_continue = http11;
        }
    }
    if (nhost > 1)
        return fail(p, 400, "more than one Host header");
    if (nhost == 0 && http11)
        return fail(p, 400, "missing Host header");
    if (have_te) {
        if (have_cl)
            return fail(p, 400, "both Content-Length and Transfer-Encoding");
        if (!http11)
            return fail(p, 400, "Transfer-Encoding in an HTTP/1.0 request");
        if (other_coding)
            return fail(p, 501, "unsupported transfer coding");
        if (nchunked != 1 || !chunked_last)
            return fail(p, 400, "malformed Transfer-Encoding");
        r->framing = CFS_HTTP_FRAMING_CHUNKED;
        p->state = S_CHUNK_SIZE;
        return CFS_HTTP_HEADERS_DONE;
    }
    if (have_cl && p->lim.max_body != 0 && cl > p->lim.max_body)
        return fail(p, 413, "Content-Length above the limit");
    if (have_cl && cl > 0) {
        r->framing = CFS_HTTP_FRAMING_LENGTH;
        r->content_length = cl;
        p->remaining = cl;
        p->state = S_BODY_LEN;
    } else {
        r->framing = CFS_HTTP_FRAMING_NONE;
        p->state = S_NOBODY;
    }
    return CFS_HTTP_HEADERS_DONE;
}

/* One complete line of the request head. Returns an event or NEED_MORE to go on. */
static int head_line(struct cfs_http_parser *p)
{
    long n = finish_line(&p->hb);
    char *s;

    if (n < 0)
        return fail(p, 400, "bare CR or NUL in request head");
    s = p->hb.p + p->hb.line;
    if (p->state == S_START) {
        if (n == 0) {
            /* empty line before the request line (RFC 9112 2.2): ignore */
            p->skipped += p->hb.len;
            p->hb.len = p->hb.line = 0;
            if (p->skipped > p->lim.max_request_line)
                return fail(p, 400, "too many empty lines before the request");
            return CFS_HTTP_NEED_MORE;
        }
        int rc = parse_request_line(p, s, (size_t)n);
        if (rc != CFS_HTTP_NEED_MORE)
            return rc;
        p->state = S_HEADER;
        p->hdr_start = p->hb.len;
        p->hb.line = p->hb.len;
        return CFS_HTTP_NEED_MORE;
    }
    if (n == 0)
        return headers_done(p);
    int rc = parse_field(p, &p->hf, &p->hb, p->hb.line, (size_t)n);
    p->hb.line = p->hb.len;
    return rc;
}

static int trailer_line(struct cfs_http_parser *p)
{
    long n = finish_line(&p->tb);

    if (n < 0)
        return fail(p, 400, "bare CR or NUL in trailer section");
    if (n == 0) {
        fields_publish(&p->tf, &p->tb);
        p->req.trailers = p->tf.pub;
        p->req.ntrailers = p->tf.n;
        p->state = S_COMPLETE;
        return CFS_HTTP_MESSAGE_DONE;
    }
    int rc = parse_field(p, &p->tf, &p->tb, p->tb.line, (size_t)n);
    p->tb.line = p->tb.len;
    return rc;
}

/* chunk-size [ chunk-ext ] */
static int chunk_line(struct cfs_http_parser *p)
{
    long n = finish_line(&p->cb);
    const char *s = p->cb.p;
    uint64_t v = 0;
    long i = 0;

    if (n < 0)
        return fail(p, 400, "bare CR or NUL in chunk header");
    for (; i < n && hexval((unsigned char)s[i]) >= 0; i++) {
        if (v > (UINT64_C(0x7fffffffffffffff) >> 4))
            return fail(p, 400, "chunk size overflow");
        v = (v << 4) | (uint64_t)hexval((unsigned char)s[i]);
    }
    if (i == 0)
        return fail(p, 400, "malformed chunk size");
    while (i < n && is_ows(s[i]))
        i++;
    if (i < n) {
        /* chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ): checked for
         * the leading ';' and the absence of control characters; not interpreted */
        if (s[i] != ';')
            return fail(p, 400, "malformed chunk size");
        for (; i < n; i++)
            if (!is_field_char((unsigned char)s[i]))
                return fail(p, 400, "invalid character in chunk extension");
    }
    p->cb.len = p->cb.line = 0;
    if (v == 0) {
        p->state = S_TRAILER;
        return CFS_HTTP_NEED_MORE;
    }
    if (p->lim.max_body != 0 &&
        (v > p->lim.max_body || p->req.body_received > p->lim.max_body - v))
        return fail(p, 413, "chunked body above the limit");
    p->remaining = v;
    p->state = S_CHUNK_DATA;
    return CFS_HTTP_NEED_MORE;
}

/* ---- the driver ------------------------------------------------------------------ */

int cfs_http_feed(struct cfs_http_parser *p, const char *buf, size_t len, size_t *consumed,
                  const char **data, size_t *data_len)
{
    size_t off = 0, used;
    int rc = CFS_HTTP_NEED_MORE;

    assert(p != NULL && p->magic == PARSER_MAGIC && consumed != NULL);
    if (data != NULL)
        *data = NULL;
    if (data_len != NULL)
        *data_len = 0;
    if (buf == NULL)
        len = 0;
    if (p->state == S_ERROR) {
        *consumed = 0;
        return CFS_HTTP_ERROR;
    }
    if (p->state == S_COMPLETE) {
        request_clear(p);
        p->state = S_START;
    }
    while (rc == CFS_HTTP_NEED_MORE) {
        switch (p->state) {
        case S_START:
        case S_HEADER: {
            size_t limit = p->state == S_START ? p->lim.max_request_line
                                               : p->hdr_start + p->lim.max_header_bytes;
            int t;
            if (off == len)
                goto out;
            t = take_line(&p->hb, buf + off, len - off, limit, &used);
            off += used;
            if (t == -2)
                rc = fail(p, 500, "out of memory");
            else if (t < 0 && p->state == S_START)
                rc = fail(p, 414, "request line too long");
            else if (t < 0)
                rc = fail(p, 431, "request header section too large");
            else if (t == 1)
                rc = head_line(p);
            break;
        }
        case S_NOBODY:
            p->state = S_COMPLETE;
            rc = CFS_HTTP_MESSAGE_DONE;
            break;
        case S_BODY_LEN:
        case S_CHUNK_DATA: {
            size_t n;
            if (p->remaining == 0) {
                /* only S_BODY_LEN gets here: S_CHUNK_DATA moves on below */
                p->state = S_COMPLETE;
                rc = CFS_HTTP_MESSAGE_DONE;
                break;
            }
            if (off == len)
                goto out;
            n = len - off;
            if ((uint64_t)n > p->remaining)
                n = (size_t)p->remaining;
            if (data != NULL)
                *data = buf + off;
            if (data_len != NULL)
                *data_len = n;
            off += n;
            p->remaining -= n;
            p->req.body_received += n;
            if (p->remaining == 0 && p->state == S_CHUNK_DATA) {
                p->state = S_CHUNK_CRLF;
                p->seen_cr = false;
            }
            rc = CFS_HTTP_BODY;
            break;
        }
        case S_CHUNK_SIZE: {
            int t;
            if (off == len)
                goto out;
            t = take_line(&p->cb, buf + off, len - off, CHUNK_LINE_MAX, &used);
            off += used;
            if (t == -2)
                rc = fail(p, 500, "out of memory");
            else if (t < 0)
                rc = fail(p, 400, "chunk header too long");
            else if (t == 1)
                rc = chunk_line(p);
            break;
        }
        case S_CHUNK_CRLF: {
            char c;
            if (off == len)
                goto out;
            c = buf[off++];
            if (c == '\r' && !p->seen_cr)
                p->seen_cr = true;
            else if (c == '\n')
                p->state = S_CHUNK_SIZE;
            else
                rc = fail(p, 400, "missing CRLF after chunk data");
            break;
        }
        case S_TRAILER: {
            int t;
            if (off == len)
                goto out;
            t = take_line(&p->tb, buf + off, len - off, p->lim.max_header_bytes, &used);
            off += used;
            if (t == -2)
                rc = fail(p, 500, "out of memory");
            else if (t < 0)
                rc = fail(p, 431, "trailer section too large");
            else if (t == 1)
                rc = trailer_line(p);
            break;
        }
        case S_COMPLETE:
        case S_ERROR:
            assert(!"unreachable parser state");
            rc = fail(p, 500, "internal parser error");
            break;
        }
    }
out:
    *consumed = off;
    return rc;
}

/* ---- helpers --------------------------------------------------------------------- */

const char *cfs_http_header_get(const struct cfs_http_request *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

size_t cfs_http_header_count(const struct cfs_http_request *r, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            n++;
    return n;
}

bool cfs_http_token_list_has(const char *value, const char *token)
{
    const char *cur = value, *e;
    size_t n;
    if (value == NULL || token == NULL)
        return false;
    while (list_next(&cur, &e, &n))
        if (elem_is(e, n, token))
            return true;
    return false;
}

void cfs_http_target_split(const char *target, const char **path, size_t *path_len,
                           const char **query, size_t *query_len)
{
    const char *q = strchr(target, '?');
    *path = target;
    if (q == NULL) {
        *path_len = strlen(target);
        *query = NULL;
        *query_len = 0;
        return;
    }
    *path_len = (size_t)(q - target);
    *query = q + 1;
    *query_len = strlen(q + 1);
}

long cfs_http_pct_decode(const char *in, size_t inlen, char *out, size_t outcap,
                         unsigned flags)
{
    size_t i = 0, o = 0;

    while (i < inlen) {
        char c = in[i];
        if (c == '%') {
            int hi, lo;
            if (inlen - i < 3)
                return -EINVAL;
            hi = hexval((unsigned char)in[i + 1]);
            lo = hexval((unsigned char)in[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return -EINVAL;
            c = (char)(hi << 4 | lo);
            i += 3;
        } else {
            if (c == '\0')
                return -EINVAL;
            if (c == '+' && (flags & CFS_HTTP_PCT_PLUS_SPACE))
                c = ' ';
            i++;
        }
        if (o + 1 >= outcap)
            return -ENOSPC;
        out[o++] = c;
    }
    if (o >= outcap)
        return -ENOSPC;
    out[o] = '\0';
    return (long)o;
}

int cfs_http_query_next(const char **pos, const char *end, struct cfs_http_qparam *out)
{
    const char *s = *pos;
    while (s < end && *s == '&')
        s++;
    if (s >= end) {
        *pos = end;
        return 0;
    }
    const char *amp = memchr(s, '&', (size_t)(end - s));
    const char *e = amp ? amp : end;
    const char *eq = memchr(s, '=', (size_t)(e - s));
    out->key = s;
    if (eq != NULL) {
        out->key_len = (size_t)(eq - s);
        out->value = eq + 1;
        out->value_len = (size_t)(e - eq - 1);
    } else {
        out->key_len = (size_t)(e - s);
        out->value = NULL;
        out->value_len = 0;
    }
    *pos = e;
    return 1;
}

const char *cfs_http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}
