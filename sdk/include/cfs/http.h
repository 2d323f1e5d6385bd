/*
 * cfs/http.h - a streaming HTTP/1.1 request parser (RFC 9112) and small helpers.
 *
 * Part of cfsproto (the protocol plumbing library that modules link); used by the core's
 * admin port and by mod_s3.
 *
 * The parser never reads a socket and never buffers a body. The caller owns the input
 * bytes, hands the parser whatever it has, and gets back ONE event per call plus the
 * number of bytes that event consumed; bytes not consumed must be offered again (with
 * whatever arrived after them) on the next call. A request goes through:
 *
 *     CFS_HTTP_HEADERS_DONE          request line + headers parsed: look at the request
 *     CFS_HTTP_BODY ... (0 or more)  a piece of the decoded body, pointing INTO the
 *                                    caller's buffer (zero copy); chunk framing removed
 *     CFS_HTTP_MESSAGE_DONE          end of the request (trailers, if any, are available)
 *
 * and CFS_HTTP_NEED_MORE when every offered byte was consumed without completing an
 * event, or CFS_HTTP_ERROR (sticky until cfs_http_parser_reset) with the HTTP status the
 * server should answer; after an error the connection must be closed (the framing is
 * lost).
 *
 * Typical loop (libevent, `in` = the connection's input evbuffer, `sink` an evbuffer
 * the body goes to):
 *
 *     while (room(sink) > 0) {
 *         struct evbuffer_iovec v;
 *         size_t used, dlen, len = 0;
 *         const char *data;
 *         if (evbuffer_peek(in, -1, NULL, &v, 1) > 0)      // first contiguous segment
 *             len = v.iov_len < room(sink) ? v.iov_len : room(sink);
 *         int ev = cfs_http_feed(p, len ? v.iov_base : NULL, len, &used, &data, &dlen);
 *         switch (ev) {
 *         case CFS_HTTP_HEADERS_DONE:  route(cfs_http_request(p)); break;
 *         case CFS_HTTP_BODY:          // the piece is the last dlen of the used bytes
 *             evbuffer_drain(in, used - dlen);
 *             evbuffer_remove_buffer(in, sink, dlen);       // moved, not copied
 *             continue;
 *         case CFS_HTTP_MESSAGE_DONE:  respond(); break;
 *         case CFS_HTTP_ERROR:         reply_and_close(cfs_http_error_status(p)); return;
 *         }
 *         evbuffer_drain(in, used);
 *         if (ev == CFS_HTTP_NEED_MORE && evbuffer_get_length(in) == 0)
 *             break;
 *     }
 *
 * Back-pressure: the parser holds no body bytes and produces nothing unless called, so
 * a caller whose sink is full simply stops calling (and stops reading the socket); the
 * unconsumed input stays in its buffer. A BODY event never covers more than the bytes
 * offered, so offering at most what the sink can take (as above) bounds every piece.
 * Once a BODY event is returned its bytes count as consumed: never offer them again;
 * a caller that cannot write them at once keeps them (moved out of its input, or left
 * at the front of it and skipped) until it can. The piece is valid as long as the
 * caller's buffer holds those bytes.
 *
 * Pipelining: the parser stops after MESSAGE_DONE; `consumed` tells where the next
 * request starts. The next cfs_http_feed() call begins a new request (the previous
 * request's data are released at that moment), so a server can finish answering the
 * current request first, then feed the rest of its input.
 *
 * A request without a body (no Content-Length/Transfer-Encoding, or Content-Length: 0)
 * gives HEADERS_DONE then MESSAGE_DONE; the second can come from a call with len == 0.
 *
 * 100-continue: when request->expect_continue is set, the server decides at
 * HEADERS_DONE whether to send "HTTP/1.1 100 Continue" (and read the body) or a final
 * status (and then close, or read and discard the body, since the client may send it
 * anyway).
 *
 * Strictness (request smuggling is the threat): obs-fold, whitespace before the colon,
 * control characters, bare CR, NUL, Transfer-Encoding together with Content-Length,
 * conflicting Content-Length values, Transfer-Encoding in HTTP/1.0, a missing or
 * repeated Host in HTTP/1.1 are all errors. A bare LF ending a line is accepted.
 *
 * Threads: a parser is used by one thread at a time; the helpers are reentrant.
 */
#ifndef CFS_HTTP_H
#define CFS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- limits --------------------------------------------------------------------- */

/* Zero in any field means "the default" (in brackets). */
struct cfs_http_limits {
    size_t max_request_line; /* bytes of the request line [8192]; over it: 414 */
    size_t max_header_bytes; /* bytes of all header lines with their CRLFs [32768]: 431;
                                the trailer section has its own budget of the same size */
    unsigned max_headers;    /* header fields [100]: 431; same budget for trailers */
    uint64_t max_body;       /* Content-Length above it: 413 [0 = no limit]; a chunked
                                body above it fails with 413 when it gets there */
};

/* ---- the request ---------------------------------------------------------------- */

/* One field: NUL-terminated, name as received (compare case-insensitively), value with
 * leading and trailing whitespace removed. */
struct cfs_http_header {
    const char *name;
    const char *value;
    size_t name_len;
    size_t value_len;
};

enum cfs_http_framing {
    CFS_HTTP_FRAMING_NONE = 0, /* no body (also Content-Length: 0) */
    CFS_HTTP_FRAMING_LENGTH,   /* Content-Length: content_length bytes */
    CFS_HTTP_FRAMING_CHUNKED,  /* Transfer-Encoding: chunked; length unknown */
};

/*
 * Valid from HEADERS_DONE until the next cfs_http_feed() after MESSAGE_DONE (or
 * cfs_http_parser_reset/free). Every pointer points into the parser's own storage, so
 * the caller may drain its input buffer meanwhile. Trailers appear at MESSAGE_DONE.
 */
struct cfs_http_request {
    const char *method;      /* token as received, e.g. "GET" (methods are case-sensitive) */
    const char *target;      /* request-target as received, e.g. "/b/k%20x?uploads" */
    int version_major;       /* 1 */
    int version_minor;       /* 0 or 1 */
    const struct cfs_http_header *headers;
    size_t nheaders;
    const struct cfs_http_header *trailers;
    size_t ntrailers;
    enum cfs_http_framing framing;
    uint64_t content_length; /* with CFS_HTTP_FRAMING_LENGTH */
    uint64_t body_received;  /* decoded body bytes handed out so far */
    bool keep_alive;         /* the connection may carry another request after this one
                                (HTTP/1.1 without "Connection: close", or HTTP/1.0 with
                                "Connection: keep-alive") */
    bool expect_continue;    /* "Expect: 100-continue" on HTTP/1.1 */
};

/* ---- the parser ----------------------------------------------------------------- */

struct cfs_http_parser; /* opaque; one per connection */

enum cfs_http_event {
    CFS_HTTP_NEED_MORE = 0,  /* all offered bytes consumed; call again with more */
    CFS_HTTP_HEADERS_DONE,   /* cfs_http_request() is complete (but trailers) */
    CFS_HTTP_BODY,           /* *data / *data_len: a piece of the decoded body */
    CFS_HTTP_MESSAGE_DONE,   /* the request is complete */
    CFS_HTTP_ERROR,          /* cfs_http_error_status() / cfs_http_error_text() */
};

/* A new parser (limits NULL = defaults; copied). NULL when memory is short. */
struct cfs_http_parser *cfs_http_parser_new(const struct cfs_http_limits *limits);
void cfs_http_parser_free(struct cfs_http_parser *p);
/* Forget everything (also a sticky error): the next byte starts a request. */
void cfs_http_parser_reset(struct cfs_http_parser *p);

/*
 * Offer `len` bytes at `buf` (buf may be NULL when len is 0). Returns one
 * enum cfs_http_event. *consumed (always set) is how many of the offered bytes the
 * call used: drop exactly that many from the front of the input and offer the rest (and
 * anything new) next time. For CFS_HTTP_BODY, *data and *data_len give the body piece,
 * which is the LAST *data_len bytes of the consumed ones (*data + *data_len ==
 * buf + *consumed; chunk framing before it may be consumed by the same call); for other
 * events they are NULL and 0. `data` and `data_len` may be NULL pointers when the
 * caller discards the body.
 * Calling again after CFS_HTTP_ERROR returns CFS_HTTP_ERROR and consumes nothing.
 */
int cfs_http_feed(struct cfs_http_parser *p, const char *buf, size_t len, size_t *consumed,
                  const char **data, size_t *data_len);

/* The request being parsed (see struct cfs_http_request for validity). */
const struct cfs_http_request *cfs_http_request(const struct cfs_http_parser *p);
/* True when no byte of a next request has been consumed: between requests (after
 * MESSAGE_DONE or before the first byte). A server closing an idle connection on
 * timeout answers nothing; one closing it mid-request may answer 408. */
bool cfs_http_parser_idle(const struct cfs_http_parser *p);
/* After CFS_HTTP_ERROR: the status to answer (400, 413, 414, 417, 431, 501, 505). */
int cfs_http_error_status(const struct cfs_http_parser *p);
/* After CFS_HTTP_ERROR: a short static text saying what was wrong (for logs). */
const char *cfs_http_error_text(const struct cfs_http_parser *p);

/* ---- helpers -------------------------------------------------------------------- */

/* The first value of header `name` (case-insensitive), or NULL. */
const char *cfs_http_header_get(const struct cfs_http_request *r, const char *name);
/* How many fields named `name` the request has. */
size_t cfs_http_header_count(const struct cfs_http_request *r, const char *name);
/* Does the comma-separated list `value` hold `token` (case-insensitive, OWS ignored)? */
bool cfs_http_token_list_has(const char *value, const char *token);

/* Split a request target at the first '?': path [path, path+path_len), query after the
 * '?' (query NULL, query_len 0 when there is none). */
void cfs_http_target_split(const char *target, const char **path, size_t *path_len,
                           const char **query, size_t *query_len);

#define CFS_HTTP_PCT_PLUS_SPACE 0x1u /* '+' decodes to ' ' (HTML form style) */
/*
 * Percent-decode in[0..inlen) into out (outcap bytes; always NUL-terminated on success;
 * outcap >= inlen + 1 is always enough; in place, out == in, is allowed). Returns the
 * decoded length, -EINVAL for a malformed escape ("%4", "%G0") or an escape of NUL
 * ("%00"), -ENOSPC when out is too small.
 */
long cfs_http_pct_decode(const char *in, size_t inlen, char *out, size_t outcap,
                         unsigned flags);

/* One key=value of a query string, still percent-encoded (decode with the above). */
struct cfs_http_qparam {
    const char *key;
    size_t key_len;
    const char *value;  /* NULL when there was no '=' ("?uploads") */
    size_t value_len;
};
/*
 * Iterate over a query string [*pos, end) split at '&' (empty items are skipped):
 *     const char *pos = query;  struct cfs_http_qparam q;
 *     while (cfs_http_query_next(&pos, query + query_len, &q)) ...
 * Returns 1 with *out filled and *pos advanced, 0 at the end.
 */
int cfs_http_query_next(const char **pos, const char *end, struct cfs_http_qparam *out);

/* The reason phrase of a status code ("Not Found"); "Unknown" for others. */
const char *cfs_http_reason(int status);

#ifdef __cplusplus
}
#endif
#endif
