/*
 * modules/s3/s3http.c - mod_s3's HTTP/1.1 side: one bufferevent per connection on the
 * loop that accepted it (on plain TCP it only writes: the module reads the socket itself
 * with large readv calls and SO_RCVLOWAT, see on_readable), the shared streaming request
 * parser (cfs/http.h), SigV4 authentication, routing to an operation, request bodies
 * (buffered for XML operations, streamed for PUT/UploadPart through a bounded staging
 * buffer written by pool jobs, with aws-chunked decoding), responses (XML, a small object
 * read with the headers, or a larger object's file by reference so the socket layer can
 * sendfile it), keep-alive, pipelining, 100-continue, timeouts and lingering
 * close after an early error.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include <openssl/ssl.h>

#include "s3.h"
#include "xml.h"

#define S3_CONN_MAGIC 0x5333434eu
#define S3_IN_HIGH (4u << 20)      /* stop reading the socket beyond this much input */
#define S3_STAGE_MAX (8u << 20)    /* staged upload bytes before the parser pauses */
#define S3_WRITE_CHUNK (1u << 20)  /* bytes per pool write job */
#define S3_FEED_MAX (1u << 20)     /* bytes offered to the parser per call */
#define S3_BODY_BUF_MAX (4u << 20) /* XML request bodies */
#define S3_DISCARD_MAX (1u << 20)  /* read and drop this much body after an early error */
#define S3_MAX_OBJECT (5ull << 30) /* single PUT limit */
#define S3_IDLE_SECS 120
#define S3_LINGER_SECS 2
#define S3_READ_MAX (1u << 20)     /* bytes per readv on a plain-TCP connection */
#define S3_RCVLOWAT_MAX (128 * 1024) /* wake-up threshold while a large body arrives */

enum bmode { B_DISCARD = 0, B_BUFFER, B_STREAM };
enum jobkind { J_NONE = 0, J_OP, J_OPEN, J_WRITE, J_COMMIT, J_ABORT, J_WHOLE };

struct s3_creq;

struct s3_conn {
    uint32_t magic;
    struct s3_server *srv;
    cfs_loop *loop;
    int loop_idx;
    int fd;
    struct bufferevent *bev;
    struct cfs_http_parser *hp;
    struct s3_conn *next, *prev;
    struct s3_creq *cur;
    bool closing;   /* no more requests: close once the output is flushed */
    bool lingering; /* write side shut, draining what the client still sends */
    bool in_process;
    bool tls;
    struct event *hdr_timer; /* the header section's deadline (header_timeout_ms) */
    bool hdr_armed;
    /* plain TCP: we read the socket ourselves (see on_readable); the bufferevent writes */
    struct event *rev;
    bool rd_on;
    int rcvlowat;
};

struct s3_creq {
    struct s3_req r;
    struct s3_conn *c;     /* NULL once the connection is gone */
    cfs_loop *loop;
    uint64_t t0_us;
    enum bmode bmode;
    enum jobkind job;      /* the pool job in flight */
    int jobrc;
    bool aws_chunked;
    struct s3_chunked ch;
    bool ch_init;
    bool body_done;
    bool failed;
    bool close_after;
    bool opened;
    bool whole;            /* small body: open, write and commit in one pool job */
    bool has_decoded;
    uint64_t decoded_len;
    uint64_t discarded;
    uint64_t body_seen;    /* body bytes the parser has passed on */
    struct s3_ck body_sha; /* buffered bodies with a signed payload hash */
    bool body_sha_on;
    enum s3_err pend_err;  /* a failure seen on the loop while a pool job ran */
    char pend_detail[128];
    struct evbuffer *stage;
    struct evbuffer *wbuf;
    struct iovec *wiov;    /* J_WRITE: wbuf's pieces, hashed and written by two pool jobs */
    int nwiov;
    int njobs;             /* pool jobs of q->job still out (J_WRITE: 2) */
    bool hash_lost;        /* a batch's digest job could not be queued: the upload fails */
    struct s3_put put;
};

static void process_input(struct s3_conn *c);
static void conn_free(struct s3_conn *c);
static void respond(struct s3_creq *q);
static void pump(struct s3_creq *q);
static void linger_event_cb(struct bufferevent *bev, short what, void *arg);
static void rd_set(struct s3_conn *c, bool on);
static void rd_update(struct s3_conn *c);
static void rcvlowat_set(struct s3_conn *c, int want);

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- request objects ---- */

static void creq_free(struct s3_creq *q)
{
    struct s3_req *r = &q->r;
    free(r->bucket);
    free(r->key);
    free(r->path);
    free(r->query);
    free(r->hdrs);
    free(r->hdr_arena);
    s3_buf_free(&r->body);
    s3_buf_free(&r->rhdr);
    s3_buf_free(&r->rbody);
    s3_buf_free(&r->sig_creq);
    s3_buf_free(&r->sig_sts);
    if (r->file_fd >= 0)
        close(r->file_fd);
    if (q->ch_init)
        s3_chunked_free(&q->ch);
    s3_ck_free(&q->body_sha);
    s3_ck_free(&q->put.md5);
    s3_ck_free(&q->put.sha256);
    s3_ck_free(&q->put.ck);
    if (q->put.fd >= 0)
        close(q->put.fd);
    if (q->stage)
        evbuffer_free(q->stage);
    if (q->wbuf)
        evbuffer_free(q->wbuf);
    free(q->wiov);
    free(q);
}

/* ---- pool jobs ---- */

static void write_wbuf(struct s3_creq *q)
{
    int n = evbuffer_peek(q->wbuf, -1, NULL, NULL, 0);
    if (n <= 0)
        return;
    struct evbuffer_iovec *v = calloc((size_t)n, sizeof(*v));
    if (!v) {
        q->put.werr = -ENOMEM;
        return;
    }
    evbuffer_peek(q->wbuf, -1, NULL, v, n);
    struct iovec *iov = (struct iovec *)v; /* same layout: iov_base, iov_len */
    s3_put_write(&q->r, iov, n);
    free(v);
}

static void job_work(void *arg)
{
    struct s3_creq *q = arg;
    s3_cred_set(q->r.has_cred ? &q->r.cred : NULL);
    switch (q->job) {
    case J_OP: s3_run_op(&q->r); break;
    case J_OPEN: q->jobrc = s3_put_open(&q->r); break;
    case J_WRITE: s3_put_pwrite(&q->r, q->wiov, q->nwiov); break;
    case J_WHOLE:
        q->jobrc = s3_put_open(&q->r);
        if (q->jobrc == 0) {
            write_wbuf(q);
            s3_put_commit(&q->r);
        }
        break;
    case J_COMMIT: s3_put_commit(&q->r); break;
    case J_ABORT: s3_put_abort(q->r.srv, &q->put); break;
    case J_NONE: break;
    }
    s3_cred_set(NULL);
}

/* J_WRITE's other half, on another pool thread at the same time: the digests. */
static void job_hash(void *arg)
{
    struct s3_creq *q = arg;
    s3_put_hash(&q->r, q->wiov, q->nwiov);
}

static void job_done(void *arg, int status);

static int submit(struct s3_creq *q, enum jobkind k)
{
    q->job = k;
    q->njobs = 1;
    int r = q->r.srv->api->work_submit(q->loop, job_work, job_done, q);
    if (r < 0) {
        q->job = J_NONE;
        q->njobs = 0;
    }
    return r;
}

/*
 * A staged batch: MD5 (and SHA-256, a checksum) on one pool thread while another writes it
 * to the staging file, so a single stream is not held to the sum of both. job_done goes on
 * once both are back.
 */
static int submit_write(struct s3_creq *q)
{
    int n = evbuffer_peek(q->wbuf, -1, NULL, NULL, 0);
    free(q->wiov);
    q->wiov = NULL;
    q->nwiov = 0;
    if (n > 0) {
        struct evbuffer_iovec *v = calloc((size_t)n, sizeof(*v));
        q->wiov = calloc((size_t)n, sizeof(*q->wiov));
        if (!v || !q->wiov) {
            free(v);
            return -ENOMEM;
        }
        evbuffer_peek(q->wbuf, -1, NULL, v, n);
        for (int i = 0; i < n; i++) {
            q->wiov[i].iov_base = v[i].iov_base;
            q->wiov[i].iov_len = v[i].iov_len;
        }
        free(v);
        q->nwiov = n;
    }
    int r = submit(q, J_WRITE);
    if (r < 0)
        return r;
    if (q->r.srv->api->work_submit(q->loop, job_hash, job_done, q) == 0)
        q->njobs = 2;
    else
        q->hash_lost = true; /* the digests would miss this batch: fail the upload */
    return 0;
}

/* Connection gone: drop the temp file if any, then free. */
static void orphan_cleanup(struct s3_creq *q)
{
    if (q->put.tmpname[0] || q->put.fd >= 0) {
        if (submit(q, J_ABORT) == 0)
            return;
    }
    creq_free(q);
}

static void fail(struct s3_creq *q, enum s3_err e, const char *detail)
{
    if (!q->body_done)
        q->close_after = true;
    if (q->job != J_NONE) {
        /* the pool owns q->r until job_done: keep the error aside */
        if (!q->failed && !q->pend_err) {
            q->pend_err = e;
            snprintf(q->pend_detail, sizeof(q->pend_detail), "%s", detail ? detail : "");
        }
        q->failed = true;
        return; /* job_done finishes */
    }
    if (q->r.err == S3E_OK)
        s3_req_error(&q->r, e, detail);
    q->failed = true;
    if (q->put.tmpname[0] || q->put.fd >= 0) {
        if (submit(q, J_ABORT) == 0)
            return;
    }
    respond(q);
}

static void job_done(void *arg, int status)
{
    struct s3_creq *q = arg;
    (void)status;
    if (--q->njobs > 0)
        return; /* the other half of a J_WRITE is still out */
    enum jobkind k = q->job;
    q->job = J_NONE;
    if (!q->c) {
        if (k == J_ABORT)
            creq_free(q);
        else
            orphan_cleanup(q);
        return;
    }
    struct s3_conn *c = q->c;
    if (q->pend_err && q->r.err == S3E_OK)
        s3_req_error(&q->r, q->pend_err, q->pend_detail[0] ? q->pend_detail : NULL);
    switch (k) {
    case J_OP:
    case J_COMMIT:
        respond(q);
        break;
    case J_WHOLE:
        evbuffer_free(q->wbuf);
        q->wbuf = NULL;
        if (q->jobrc < 0 && q->r.err == S3E_OK)
            s3_req_error(&q->r, S3E_InternalError, NULL);
        respond(q);
        break;
    case J_ABORT:
        respond(q);
        break;
    case J_OPEN:
        if (q->jobrc < 0 || q->r.err) {
            fail(q, q->r.err ? q->r.err : S3E_InternalError, NULL);
            break;
        }
        if (q->failed) {
            fail(q, q->r.err, NULL);
            break;
        }
        q->opened = true;
        pump(q);
        break;
    case J_WRITE:
        evbuffer_free(q->wbuf);
        q->wbuf = NULL;
        if (q->put.werr || q->hash_lost) {
            fail(q, q->put.werr ? s3_err_from_errno(q->put.werr, false) : S3E_InternalError,
                 "write failed");
            break;
        }
        if (q->failed) {
            fail(q, q->r.err, NULL);
            break;
        }
        pump(q);
        break;
    case J_NONE: break;
    }
    process_input(c);
}

/* Move staged bytes to the pool, or commit once everything is written. */
static bool final_checks(struct s3_creq *q);

static void pump(struct s3_creq *q)
{
    if (q->whole && q->job == J_NONE && !q->failed && q->body_done) {
        /* the whole (small) body is here: one pool job does everything */
        if (!final_checks(q))
            return;
        q->r.bytes_in += evbuffer_get_length(q->stage);
        q->wbuf = q->stage;
        q->stage = NULL;
        if (submit(q, J_WHOLE) < 0) {
            q->stage = q->wbuf;
            q->wbuf = NULL;
            fail(q, S3E_SlowDown, NULL);
        }
        return;
    }
    if (q->job != J_NONE || q->failed || !q->opened)
        return;
    size_t staged = evbuffer_get_length(q->stage);
    if (staged >= S3_WRITE_CHUNK || (q->body_done && staged > 0)) {
        q->wbuf = q->stage;
        q->stage = evbuffer_new();
        if (!q->stage) {
            q->stage = q->wbuf;
            q->wbuf = NULL;
            fail(q, S3E_InternalError, NULL);
            return;
        }
        q->r.bytes_in += staged;
        if (submit_write(q) < 0) {
            evbuffer_free(q->stage);
            q->stage = q->wbuf;
            q->wbuf = NULL;
            fail(q, S3E_SlowDown, NULL);
        }
        return;
    }
    if (!q->body_done || staged > 0)
        return;
    /* the whole body is on disk: checks that need the total, then commit */
    if (!final_checks(q))
        return;
    if (submit(q, J_COMMIT) < 0)
        fail(q, S3E_SlowDown, NULL);
}

/* Checks that need the whole body; the trailer checksum becomes the expected value. */
static bool final_checks(struct s3_creq *q)
{
    uint64_t total = q->put.written + (q->whole && q->stage ? evbuffer_get_length(q->stage) : 0);
    if (q->has_decoded && total != q->decoded_len) {
        fail(q, S3E_IncompleteBody, "x-amz-decoded-content-length differs from the body");
        return false;
    }
    if (q->aws_chunked && q->ch.trailer_alg != S3_CK_NONE) {
        if (q->put.ck_alg == S3_CK_NONE) {
            /* not announced by x-amz-trailer: nothing was computed, cannot verify */
            fail(q, S3E_InvalidRequest, "a checksum trailer must be announced by x-amz-trailer");
            return false;
        }
        if (q->put.ck_alg != q->ch.trailer_alg) {
            fail(q, S3E_InvalidRequest, "the checksum trailer differs from x-amz-trailer");
            return false;
        }
        snprintf(q->put.ck_expect, sizeof(q->put.ck_expect), "%s", q->ch.trailer_value);
    }
    return true;
}

/* ---- responses ---- */

static void error_body(struct s3_req *r)
{
    struct s3_buf *b = &r->rbody;
    s3_buf_reset(b);
    r->rbody_obj = false;
    s3_xml_decl(b);
    s3_xml_open(b, "Error");
    s3_xml_elem(b, "Code", s3_err_code(r->err));
    s3_xml_elem(b, "Message", r->err_detail[0] ? r->err_detail : s3_err_message(r->err));
    if (r->err == S3E_SignatureDoesNotMatch) {
        s3_xml_elem(b, "AWSAccessKeyId", r->sv.access_key);
        s3_xml_elem(b, "StringToSign", s3_buf_cstr(&r->sig_sts));
        s3_xml_elem(b, "SignatureProvided", r->sv.signature);
        s3_xml_elem(b, "CanonicalRequest", s3_buf_cstr(&r->sig_creq));
    }
    if (r->err == S3E_NoSuchBucket || r->err == S3E_BucketNotEmpty ||
        r->err == S3E_BucketAlreadyOwnedByYou)
        s3_xml_elem(b, "BucketName", r->bucket ? r->bucket : "");
    if (r->err == S3E_NoSuchKey && r->key)
        s3_xml_elem(b, "Key", r->key);
    s3_xml_elem(b, "Resource", r->path ? r->path : "/");
    s3_xml_elem(b, "RequestId", r->reqid);
    s3_xml_elem(b, "HostId", r->reqid);
    s3_xml_close(b, "Error");
    r->rtype = "application/xml";
}

static void respond(struct s3_creq *q)
{
    struct s3_conn *c = q->c;
    struct s3_req *r = &q->r;
    struct s3_server *s = r->srv;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    const struct cfs_http_request *hr = cfs_http_request(c->hp);
    bool head = strcmp(r->method, "HEAD") == 0;
    if (r->status == 0 && r->err == S3E_OK)
        s3_req_error(r, S3E_InternalError, "no response");
    if (r->err != S3E_OK && r->err != S3E_NotModified) {
        if (r->file_fd >= 0) {
            close(r->file_fd);
            r->file_fd = -1;
        }
        error_body(r);
    }
    if (!hr || !hr->keep_alive)
        q->close_after = true;
    if (atomic_load(&s->draining))
        q->close_after = true;
    /* the Date header changes once a second: format it once per second per loop */
    static __thread time_t date_t;
    static __thread char date[64];
    time_t now = time(NULL);
    if (now != date_t || !date[0]) {
        s3_fmt_http_date((int64_t)now, date);
        date_t = now;
    }
    evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nDate: %s\r\nServer: cfs-gateway\r\n"
                             "x-amz-request-id: %s\r\nx-amz-id-2: %s\r\n",
                        r->status, cfs_http_reason(r->status), date, r->reqid, r->reqid);
    if (q->close_after)
        evbuffer_add_printf(out, "Connection: close\r\n");
    if (r->rhdr.len)
        evbuffer_add(out, r->rhdr.p, r->rhdr.len);
    uint64_t blen = 0;
    bool file = r->file_fd >= 0 && r->err == S3E_OK;
    if (file)
        blen = r->file_len;
    else if (r->head)
        blen = r->head_len;
    else
        blen = r->rbody.len;
    /* (object data in rbody has its Content-Type among the stored headers) */
    if (!file && !r->rbody_obj && r->rbody.len && r->rtype)
        evbuffer_add_printf(out, "Content-Type: %s\r\n", r->rtype);
    else if (!file && !r->rbody_obj && r->rbody.len && !r->head)
        evbuffer_add_printf(out, "Content-Type: application/xml\r\n");
    if (r->status != 204 && r->status != 304 && !(r->status < 200))
        evbuffer_add_printf(out, "Content-Length: %" PRIu64 "\r\n",
                            head && r->err != S3E_OK ? (uint64_t)0 : blen);
    evbuffer_add(out, "\r\n", 2);
    if (!head && r->status != 304 && r->status != 204) {
        if (file) {
            if (evbuffer_add_file(out, r->file_fd, (ev_off_t)r->file_off,
                                  (ev_off_t)r->file_len) == 0) {
                r->file_fd = -1; /* owned by the evbuffer now */
                r->bytes_out = r->file_len;
            } else {
                q->close_after = true; /* framing promised bytes we cannot send */
            }
        } else if (r->rbody.len) {
            evbuffer_add(out, r->rbody.p, r->rbody.len);
            r->bytes_out = r->rbody.len;
        }
    }
    double secs = (double)(now_us() - q->t0_us) / 1e6;
    s3_metrics_observe(s, r, secs);
    if (s->api->log_enabled(CFS_LOG_DEBUG))
        s->api->log(CFS_LOG_DEBUG, S3_TAG, "%s %s %s -> %d %s (%.3f ms)", r->reqid, r->method,
                    s3_op_name(r->op), r->status, r->err ? s3_err_code(r->err) : "",
                    secs * 1000);
    bool close_after = q->close_after;
    c->cur = NULL;
    creq_free(q);
    if (close_after) {
        c->closing = true;
        rd_set(c, false);
        rcvlowat_set(c, 0);
        /* write_cb runs once the answer is flushed and closes gently */
    }
}

/* ---- routing ---- */

static enum s3_opid route(struct s3_req *r, bool *body_buffer, bool *body_stream)
{
    const char *m = r->method;
    *body_buffer = *body_stream = false;
    if (!r->bucket)
        return strcmp(m, "GET") == 0 ? S3OP_ListBuckets : S3OP_UNKNOWN;
    if (!r->key) {
        if (strcmp(m, "PUT") == 0) {
            *body_buffer = true;
            if (s3_query_has(r, "versioning"))
                return S3OP_PutBucketVersioning;
            if (s3_query_has(r, "policy"))
                return S3OP_PutBucketPolicy;
            if (s3_query_has(r, "acl"))
                return S3OP_PutBucketAcl;
            if (r->query[0] && !s3_query_has(r, "x-id"))
                return S3OP_UNKNOWN;
            return S3OP_CreateBucket;
        }
        if (strcmp(m, "DELETE") == 0) {
            if (s3_query_has(r, "policy"))
                return S3OP_DeleteBucketPolicy;
            return r->query[0] && !s3_query_has(r, "x-id") ? S3OP_UNKNOWN : S3OP_DeleteBucket;
        }
        if (strcmp(m, "HEAD") == 0)
            return S3OP_HeadBucket;
        if (strcmp(m, "POST") == 0) {
            *body_buffer = true;
            return s3_query_has(r, "delete") ? S3OP_DeleteObjects : S3OP_UNKNOWN;
        }
        if (strcmp(m, "GET") == 0) {
            if (s3_query_has(r, "location"))
                return S3OP_GetBucketLocation;
            if (s3_query_has(r, "versioning"))
                return S3OP_GetBucketVersioning;
            if (s3_query_has(r, "uploads"))
                return S3OP_ListMultipartUploads;
            if (s3_query_has(r, "versions"))
                return S3OP_ListObjectVersions;
            if (s3_query_has(r, "acl"))
                return S3OP_GetBucketAcl;
            if (s3_query_has(r, "policy"))
                return S3OP_GetBucketPolicy;
            static const char *const unsupported[] = {
                "cors", "lifecycle", "tagging", "website", "replication",
                "encryption", "object-lock", "notification", "logging", "accelerate",
                "requestPayment", "ownershipControls", "publicAccessBlock", "policyStatus",
                "intelligent-tiering", "inventory", "metrics", "analytics", NULL};
            for (int i = 0; unsupported[i]; i++)
                if (s3_query_has(r, unsupported[i]))
                    return S3OP_UNKNOWN;
            char lt[8];
            if (s3_query_get(r, "list-type", lt, sizeof(lt)) && strcmp(lt, "2") == 0)
                return S3OP_ListObjectsV2;
            return S3OP_ListObjects;
        }
        return S3OP_UNKNOWN;
    }
    if (strcmp(m, "PUT") == 0) {
        bool copy = s3_req_header(r, "x-amz-copy-source") != NULL;
        if (s3_query_has(r, "partNumber") || s3_query_has(r, "uploadId")) {
            if (copy)
                return S3OP_UploadPartCopy;
            *body_stream = true;
            return S3OP_UploadPart;
        }
        if (s3_query_has(r, "tagging") || s3_query_has(r, "acl") ||
            s3_query_has(r, "retention") || s3_query_has(r, "legal-hold"))
            return S3OP_UNKNOWN;
        if (copy)
            return S3OP_CopyObject;
        *body_stream = true;
        return S3OP_PutObject;
    }
    if (strcmp(m, "GET") == 0) {
        if (s3_query_has(r, "uploadId"))
            return S3OP_ListParts;
        if (s3_query_has(r, "acl"))
            return S3OP_GetObjectAcl;
        if (s3_query_has(r, "tagging") || s3_query_has(r, "attributes") ||
            s3_query_has(r, "retention") || s3_query_has(r, "legal-hold") ||
            s3_query_has(r, "torrent"))
            return S3OP_UNKNOWN;
        return S3OP_GetObject;
    }
    if (strcmp(m, "HEAD") == 0)
        return S3OP_HeadObject;
    if (strcmp(m, "DELETE") == 0)
        return s3_query_has(r, "uploadId") ? S3OP_AbortMultipartUpload
               : s3_query_has(r, "tagging") ? S3OP_UNKNOWN
                                            : S3OP_DeleteObject;
    if (strcmp(m, "POST") == 0) {
        *body_buffer = true;
        if (s3_query_has(r, "uploads"))
            return S3OP_CreateMultipartUpload;
        if (s3_query_has(r, "uploadId"))
            return S3OP_CompleteMultipartUpload;
        return S3OP_UNKNOWN;
    }
    return S3OP_UNKNOWN;
}

/* Copy the parser's request into q (the pool reads it while the parser moves on). */
static int copy_request(struct s3_creq *q, const struct cfs_http_request *hr)
{
    struct s3_req *r = &q->r;
    size_t need = 0;
    for (size_t i = 0; i < hr->nheaders; i++)
        need += hr->headers[i].name_len + hr->headers[i].value_len + 2;
    r->hdr_arena = malloc(need ? need : 1);
    r->hdrs = calloc(hr->nheaders ? hr->nheaders : 1, sizeof(*r->hdrs));
    if (!r->hdr_arena || !r->hdrs)
        return -ENOMEM;
    char *p = r->hdr_arena;
    for (size_t i = 0; i < hr->nheaders; i++) {
        const struct cfs_http_header *h = &hr->headers[i];
        memcpy(p, h->name, h->name_len);
        p[h->name_len] = '\0';
        r->hdrs[i].name = p;
        r->hdrs[i].nlen = h->name_len;
        p += h->name_len + 1;
        memcpy(p, h->value, h->value_len);
        p[h->value_len] = '\0';
        r->hdrs[i].val = p;
        r->hdrs[i].vlen = h->value_len;
        p += h->value_len + 1;
    }
    r->nhdrs = hr->nheaders;
    snprintf(r->method, sizeof(r->method), "%s", hr->method);
    const char *path, *query;
    size_t plen, qlen;
    cfs_http_target_split(hr->target, &path, &plen, &query, &qlen);
    r->path = strndup(path, plen);
    r->query = query ? strndup(query, qlen) : strdup("");
    return r->path && r->query ? 0 : -ENOMEM;
}

/* Bucket and key from the Host header (virtual-hosted style) or the path. */
static enum s3_err address(struct s3_creq *q)
{
    struct s3_req *r = &q->r;
    const char *dom = r->conf->domain;
    const char *host = s3_req_header(r, "host");
    char vb[64] = "";
    if (dom && *dom && host) {
        size_t hl = strcspn(host, ":"), dl = strlen(dom);
        if (hl > dl + 1 && host[hl - dl - 1] == '.' && strncasecmp(host + hl - dl, dom, dl) == 0) {
            size_t bl = hl - dl - 1;
            if (bl >= sizeof(vb))
                return S3E_InvalidBucketName;
            memcpy(vb, host, bl);
            vb[bl] = '\0';
        }
    }
    if (r->path[0] != '/')
        return S3E_InvalidRequest;
    size_t pl = strlen(r->path);
    char *dec = malloc(pl + 1);
    if (!dec)
        return S3E_InternalError;
    if (cfs_http_pct_decode(r->path, pl, dec, pl + 1, 0) < 0) {
        free(dec);
        return S3E_InvalidArgument;
    }
    const char *p = dec + 1;
    if (vb[0]) {
        r->bucket = strdup(vb);
        if (*p)
            r->key = strdup(p);
    } else if (*p) {
        const char *sl = strchr(p, '/');
        r->bucket = sl ? strndup(p, (size_t)(sl - p)) : strdup(p);
        if (sl && sl[1])
            r->key = strdup(sl + 1);
    }
    free(dec);
    if (r->key && strlen(r->key) > S3_MAX_KEY)
        return S3E_KeyTooLongError;
    return S3E_OK;
}

static enum s3_err authenticate(struct s3_creq *q, uint8_t key[32])
{
    struct s3_req *r = &q->r;
    struct s3_server *s = r->srv;
    struct s3_reqview rv = {
        .method = r->method, .path = r->path, .path_len = strlen(r->path),
        .query = r->query, .query_len = strlen(r->query), .hdrs = r->hdrs, .nhdrs = r->nhdrs,
    };
    enum s3_err e = s3_sigv4_parse(&rv, &r->sv);
    if (e) {
        if (r->sv.detail)
            snprintf(r->err_detail, sizeof(r->err_detail), "%s", r->sv.detail);
        return e;
    }
    if (r->sv.kind == S3_AUTH_NONE) {
        r->anon = true; /* judged by the bucket's policy/ACL once routed (pool side) */
        return S3E_OK;
    }
    /* the signer: a user of the core's users table, or the root key pair */
    struct cfs_identity_info u = {.size = sizeof(u)};
    const char *secret = NULL;
    if (CFS_HOST_HAS(s->api, identity_by_access_key) &&
        s->api->identity_by_access_key(r->sv.access_key, &u) == 0 && u.secret_key[0]) {
        secret = u.secret_key;
        cfs_identity_cred(&u, &r->cred);
        r->has_cred = true;
    } else if (strcmp(r->sv.access_key, s->access_key) == 0) {
        secret = s->secret_key;
    } else {
        return S3E_InvalidAccessKeyId;
    }
    s3_buf_init(&r->sig_creq, 1u << 20);
    s3_buf_init(&r->sig_sts, 4096);
    e = s3_sigv4_verify(&rv, &r->sv, secret, (int64_t)time(NULL), &r->sig_creq,
                        &r->sig_sts, key);
    OPENSSL_cleanse(&u, sizeof(u));
    if (e == S3E_AccessDenied && r->sv.kind == S3_AUTH_QUERY)
        snprintf(r->err_detail, sizeof(r->err_detail), "%s",
                 (int64_t)time(NULL) < r->sv.t ? "Request is not valid yet" : "Request has expired");
    if (e != S3E_SignatureDoesNotMatch) {
        s3_buf_free(&r->sig_creq);
        s3_buf_free(&r->sig_sts);
    }
    return e;
}

static int stage_add(void *arg, const uint8_t *p, size_t n)
{
    struct s3_creq *q = arg;
    if (q->bmode == B_STREAM)
        return evbuffer_add(q->stage, p, n);
    if (q->bmode == B_BUFFER) {
        if (q->r.body.len + n > S3_BODY_BUF_MAX)
            return -1;
        return s3_buf_add(&q->r.body, p, n);
    }
    return 0;
}

static void on_headers(struct s3_conn *c)
{
    struct s3_server *s = c->srv;
    const struct cfs_http_request *hr = cfs_http_request(c->hp);
    struct s3_creq *q = calloc(1, sizeof(*q));
    if (!q) {
        c->closing = true;
        return;
    }
    struct s3_req *r = &q->r;
    q->c = c;
    q->loop = c->loop;
    q->t0_us = now_us();
    q->put.fd = -1;
    r->file_fd = -1;
    r->srv = s;
    r->conf = atomic_load(&s->conf);
    s3_buf_init(&r->rhdr, 64 << 10);
    s3_buf_init(&r->rbody, 0);
    s3_buf_init(&r->body, S3_BODY_BUF_MAX);
    uint64_t seq = atomic_fetch_add(&s->reqseq, 1) + 1;
    snprintf(r->reqid, sizeof(r->reqid), "%016" PRIX64, (s->boot_id << 24) ^ seq);
    c->cur = q;
    q->bmode = B_DISCARD;
    if (hr->framing == CFS_HTTP_FRAMING_LENGTH) {
        r->content_length = hr->content_length;
        r->has_content_length = true;
    }
    enum s3_err e;
    uint8_t key[32];
    bool buf = false, stream = false;
    if (copy_request(q, hr) < 0) {
        e = S3E_InternalError;
        goto bad;
    }
    if ((e = address(q)) != S3E_OK)
        goto bad;
    if ((e = authenticate(q, key)) != S3E_OK)
        goto bad;
    r->op = route(r, &buf, &stream);
    if (r->anon && r->op != S3OP_GetObject && r->op != S3OP_HeadObject &&
        r->op != S3OP_ListObjects && r->op != S3OP_ListObjectsV2 &&
        r->op != S3OP_ListObjectVersions && r->op != S3OP_HeadBucket) {
        /* anonymous requests may only read from public buckets */
        e = S3E_AccessDenied;
        snprintf(r->err_detail, sizeof(r->err_detail), "%s",
                 "anonymous access is allowed only to read from a public bucket");
        goto bad;
    }
    if (r->op == S3OP_UNKNOWN) {
        e = S3E_NotImplemented;
        goto bad;
    }
    if (r->key && (e = s3_key_check(r->key)) != S3E_OK) {
        snprintf(r->err_detail, sizeof(r->err_detail), "%s",
                 "object keys must not contain empty, '.' or '..' segments");
        goto bad;
    }
    /* the body */
    enum s3_payload pl = r->sv.payload;
    if (pl == S3_PL_STREAMING_SIGNED || pl == S3_PL_STREAMING_SIGNED_TRAILER ||
        pl == S3_PL_STREAMING_UNSIGNED_TRAILER) {
        q->aws_chunked = true;
        if (s3_chunked_init(&q->ch, pl, key, r->sv.amz_date, r->sv.scope, r->sv.signature) < 0) {
            e = S3E_InternalError;
            goto bad;
        }
        q->ch_init = true;
        const char *dl = s3_req_header(r, "x-amz-decoded-content-length");
        if (dl) {
            if (s3_parse_u64(dl, strlen(dl), &q->decoded_len) < 0) {
                e = S3E_InvalidArgument;
                goto bad;
            }
            q->has_decoded = true;
        } else if (pl != S3_PL_STREAMING_UNSIGNED_TRAILER) {
            e = S3E_MissingContentLength;
            goto bad;
        }
    }
    if (hr->framing == CFS_HTTP_FRAMING_LENGTH && hr->content_length > S3_MAX_OBJECT + (64u << 20)) {
        e = S3E_EntityTooLarge;
        goto bad;
    }
    if (q->has_decoded && q->decoded_len > S3_MAX_OBJECT) {
        e = S3E_EntityTooLarge;
        goto bad;
    }
    if (buf) {
        q->bmode = B_BUFFER;
        if (pl == S3_PL_HASH && hr->framing != CFS_HTTP_FRAMING_NONE) {
            s3_ck_init(&q->body_sha, S3_CK_SHA256);
            q->body_sha_on = true;
        }
    } else if (stream) {
        q->bmode = B_STREAM;
        q->stage = evbuffer_new();
        r->put = &q->put;
        struct s3_put *p = &q->put;
        if (!q->stage || s3_ck_init(&p->md5, S3_CK_MD5) < 0) {
            e = S3E_InternalError;
            goto bad;
        }
        if (pl == S3_PL_HASH) {
            p->want_sha256 = true;
            s3_ck_init(&p->sha256, S3_CK_SHA256);
        }
        /* x-amz-checksum-<alg> header, or an announced trailer */
        for (size_t i = 0; i < r->nhdrs; i++) {
            const struct s3_hdr *h = &r->hdrs[i];
            if (h->nlen > 15 && strncasecmp(h->name, "x-amz-checksum-", 15) == 0 &&
                strcasecmp(h->name, "x-amz-checksum-algorithm") != 0 &&
                strcasecmp(h->name, "x-amz-checksum-type") != 0) {
                enum s3_ck_alg a = s3_ck_from_name(h->name, h->nlen);
                if (a == S3_CK_NONE || p->ck_alg != S3_CK_NONE || h->vlen >= sizeof(p->ck_expect)) {
                    e = S3E_InvalidRequest;
                    snprintf(r->err_detail, sizeof(r->err_detail), "%s",
                             "one x-amz-checksum-* header with a known algorithm is allowed");
                    goto bad;
                }
                p->ck_alg = a;
                memcpy(p->ck_expect, h->val, h->vlen + 1);
            }
        }
        const char *tr = s3_req_header(r, "x-amz-trailer");
        if (tr && p->ck_alg == S3_CK_NONE) {
            p->ck_alg = s3_ck_from_name(tr, strlen(tr));
            if (p->ck_alg == S3_CK_NONE) {
                e = S3E_InvalidRequest;
                goto bad;
            }
        }
        const char *sa = s3_req_header(r, "x-amz-sdk-checksum-algorithm");
        if (sa && p->ck_alg == S3_CK_NONE)
            p->ck_alg = s3_ck_from_name(sa, strlen(sa));
        if (p->ck_alg != S3_CK_NONE && s3_ck_init(&p->ck, p->ck_alg) < 0) {
            e = S3E_InternalError;
            goto bad;
        }
        if (!q->aws_chunked && hr->framing != CFS_HTTP_FRAMING_CHUNKED &&
            r->content_length <= S3_WRITE_CHUNK) {
            q->whole = true; /* small: one pool job once the body is in */
            p->one_job = true;
        } else if (submit(q, J_OPEN) < 0) {
            e = S3E_SlowDown;
            goto bad;
        }
    }
    if (hr->expect_continue)
        evbuffer_add_printf(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n");
    return;
bad:
    s3_req_error(r, e, NULL);
    q->failed = true;
    q->bmode = B_DISCARD;
    bool small = hr->framing == CFS_HTTP_FRAMING_NONE ||
                 (hr->framing == CFS_HTTP_FRAMING_LENGTH && hr->content_length <= S3_DISCARD_MAX);
    if (hr->expect_continue || !small) {
        /* answer now; the body will not be read */
        q->close_after = true;
        respond(q);
    }
    /* otherwise read and drop the body, answer at its end, keep the connection */
}

static void on_body(struct s3_creq *q, const char *data, size_t len)
{
    if (q->failed) {
        q->discarded += len;
        return;
    }
    if (q->bmode == B_DISCARD) {
        q->discarded += len;
        if (q->discarded > S3_DISCARD_MAX)
            fail(q, S3E_InvalidRequest, "this operation takes no request body");
        return;
    }
    if (q->aws_chunked) {
        ssize_t n = s3_chunked_feed(&q->ch, (const uint8_t *)data, len, stage_add, q);
        if (n < 0) {
            fail(q, q->ch.err, q->ch.detail);
            return;
        }
        if ((size_t)n < len) {
            fail(q, S3E_IncompleteBody, "data after the end of the aws-chunked body");
            return;
        }
    } else {
        if (q->bmode == B_BUFFER && q->body_sha_on)
            s3_ck_update(&q->body_sha, data, len);
        if (stage_add(q, (const uint8_t *)data, len) != 0) {
            fail(q, q->bmode == B_BUFFER ? S3E_MalformedXML : S3E_InternalError,
                 q->bmode == B_BUFFER ? "request body too large" : NULL);
            return;
        }
    }
    if (q->bmode == B_STREAM && q->has_decoded == false && !q->aws_chunked &&
        q->r.has_content_length == false) {
        /* chunked transfer without a length: bound it as S3 does */
        if (q->put.written + evbuffer_get_length(q->stage) > S3_MAX_OBJECT)
            fail(q, S3E_EntityTooLarge, NULL);
    }
    if (q->bmode == B_STREAM)
        pump(q);
}

static void on_message_done(struct s3_creq *q)
{
    q->body_done = true;
    if (q->failed) {
        if (q->job == J_NONE)
            respond(q);
        return;
    }
    if (q->aws_chunked && s3_chunked_finish(&q->ch) < 0) {
        fail(q, q->ch.err, q->ch.detail);
        return;
    }
    struct s3_req *r = &q->r;
    if (q->bmode == B_BUFFER) {
        if (q->body_sha_on) {
            char hx[65];
            uint8_t d[32];
            s3_ck_final(&q->body_sha, d);
            s3_hex(d, 32, hx);
            q->body_sha_on = false;
            if (strcmp(hx, r->sv.payload_hash) != 0) {
                fail(q, S3E_XAmzContentSHA256Mismatch, NULL);
                return;
            }
        }
        const char *cm = s3_req_header(r, "content-md5");
        if (cm) {
            uint8_t want[20], got[16];
            if (s3_b64_dec(cm, strlen(cm), want, sizeof(want)) != 16) {
                fail(q, S3E_InvalidDigest, NULL);
                return;
            }
            s3_md5(r->body.p ? r->body.p : "", r->body.len, got);
            if (memcmp(want, got, 16) != 0) {
                fail(q, S3E_BadDigest, NULL);
                return;
            }
        }
        r->bytes_in = r->body.len;
    }
    if (q->bmode == B_STREAM) {
        pump(q);
        return;
    }
    if (submit(q, J_OP) < 0)
        fail(q, S3E_SlowDown, NULL);
}

/* A request object for an answer given before the headers were complete. */
static struct s3_creq *bare_req(struct s3_conn *c)
{
    struct s3_creq *q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    q->c = c;
    q->loop = c->loop;
    q->t0_us = now_us();
    q->put.fd = -1;
    q->r.file_fd = -1;
    q->r.srv = c->srv;
    q->r.conf = atomic_load(&c->srv->conf);
    s3_buf_init(&q->r.rhdr, 4096);
    s3_buf_init(&q->r.rbody, 0);
    s3_buf_init(&q->r.body, 1);
    snprintf(q->r.method, sizeof(q->r.method), "%s", "-");
    uint64_t seq = atomic_fetch_add(&c->srv->reqseq, 1) + 1;
    snprintf(q->r.reqid, sizeof(q->r.reqid), "%016" PRIX64, (c->srv->boot_id << 24) ^ seq);
    c->cur = q;
    return q;
}

static void hdr_arm(struct s3_conn *c)
{
    const struct s3_conf *conf = atomic_load(&c->srv->conf);
    int64_t ms = conf ? conf->header_timeout_ms : 30000;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    if (c->hdr_timer && evtimer_add(c->hdr_timer, &tv) == 0)
        c->hdr_armed = true;
}

static void hdr_disarm(struct s3_conn *c)
{
    if (c->hdr_armed && c->hdr_timer)
        evtimer_del(c->hdr_timer);
    c->hdr_armed = false;
}

/* The header section did not arrive in time (a slow or stalled client): answer, close. */
static void hdr_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct s3_conn *c = arg;
    (void)fd;
    (void)what;
    c->hdr_armed = false;
    if (c->cur || c->closing || c->lingering)
        return;
    if (cfs_http_parser_idle(c->hp) && evbuffer_get_length(bufferevent_get_input(c->bev)) == 0)
        return; /* between requests: the idle timeout applies */
    struct s3_creq *q = bare_req(c);
    if (!q) {
        conn_free(c);
        return;
    }
    c->srv->api->log(CFS_LOG_INFO, S3_TAG, "closing a connection whose request header section "
                     "did not arrive within header_timeout_ms");
    q->close_after = true;
    fail(q, S3E_RequestTimeout, "Your request header section was not received within the timeout period.");
}

static void on_parse_error(struct s3_conn *c)
{
    int st = cfs_http_error_status(c->hp);
    struct s3_creq *q = c->cur;
    if (!q) {
        q = bare_req(c);
        if (!q) {
            conn_free(c);
            return;
        }
    }
    enum s3_err e;
    switch (st) {
    case 413: e = S3E_EntityTooLarge; break;
    case 414: e = S3E_KeyTooLongError; break;
    case 431: e = S3E_RequestHeaderSectionTooLarge; break;
    case 501: e = S3E_NotImplemented; break;
    default: e = q->aws_chunked || q->bmode == B_STREAM ? S3E_IncompleteBody : S3E_InvalidRequest; break;
    }
    q->close_after = true;
    fail(q, e, cfs_http_error_text(c->hp));
}

static void process_input(struct s3_conn *c)
{
    if (c->in_process)
        return;
    c->in_process = true;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    while (!c->closing) {
        struct s3_creq *q = c->cur;
        if (q && q->body_done)
            break; /* waiting for the answer before the next request */
        if (q && q->bmode == B_STREAM && !q->failed && evbuffer_get_length(q->stage) >= S3_STAGE_MAX)
            break; /* back-pressure: the pool has not caught up */
        struct evbuffer_iovec v;
        int n = evbuffer_peek(in, -1, NULL, &v, 1);
        const char *base = n > 0 ? v.iov_base : NULL;
        size_t len = n > 0 ? v.iov_len : 0;
        if (len > S3_FEED_MAX)
            len = S3_FEED_MAX;
        if (!q && !c->hdr_armed && len > 0)
            hdr_arm(c); /* the first byte of a request: its headers have a deadline */
        size_t used = 0, dlen = 0;
        const char *data = NULL;
        int ev = cfs_http_feed(c->hp, base, len, &used, &data, &dlen);
        switch (ev) {
        case CFS_HTTP_HEADERS_DONE:
            evbuffer_drain(in, used);
            hdr_disarm(c);
            on_headers(c);
            break;
        case CFS_HTTP_BODY:
            if (q)
                q->body_seen += dlen;
            if (q && q->bmode == B_STREAM && !q->aws_chunked && !q->failed && data == base &&
                dlen == used) {
                /* move the bytes, no copy */
                evbuffer_remove_buffer(in, q->stage, dlen);
                pump(q);
            } else {
                if (q)
                    on_body(q, data, dlen);
                evbuffer_drain(in, used);
            }
            break;
        case CFS_HTTP_MESSAGE_DONE:
            evbuffer_drain(in, used);
            if (q)
                on_message_done(q);
            break;
        case CFS_HTTP_ERROR:
            on_parse_error(c);
            goto out;
        default: /* NEED_MORE */
            evbuffer_drain(in, used);
            goto out;
        }
    }
out:
    c->in_process = false;
    rd_update(c);
    if (!c->closing && c->cur == NULL && cfs_http_parser_idle(c->hp) &&
        atomic_load(&c->srv->draining) && evbuffer_get_length(in) == 0) {
        c->closing = true;
        if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
            conn_free(c);
    }
}

/* ---- reading plain TCP ---- */

/* Start or stop reading: our event (with the idle timeout) on plain TCP, else the bufferevent. */
static void rd_set(struct s3_conn *c, bool on)
{
    if (!c->rev) {
        if (on)
            bufferevent_enable(c->bev, EV_READ);
        else
            bufferevent_disable(c->bev, EV_READ);
        return;
    }
    if (on == c->rd_on)
        return;
    if (on) {
        struct timeval tv = {S3_IDLE_SECS, 0};
        c->rd_on = event_add(c->rev, &tv) == 0;
    } else {
        event_del(c->rev);
        c->rd_on = false;
    }
}

static void rcvlowat_set(struct s3_conn *c, int want)
{
    if (!c->rev || want == c->rcvlowat)
        return;
    int v = want > 0 ? want : 1;
    if (setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof(v)) == 0)
        c->rcvlowat = want;
}

/*
 * After the parser has run (plain TCP): stop reading while S3_IN_HIGH bytes wait (the
 * back-pressure libevent's watermark gave), and while a large body with a known length is
 * still arriving, ask the kernel to wake us only once a good part of it is there
 * (SO_RCVLOWAT, never more than the body still owes, so it cannot stall).
 */
static void rd_update(struct s3_conn *c)
{
    if (!c->rev || c->closing || c->lingering)
        return;
    size_t inlen = evbuffer_get_length(bufferevent_get_input(c->bev));
    rd_set(c, inlen < S3_IN_HIGH);
    int want = 0;
    const struct s3_creq *q = c->cur;
    if (q && inlen == 0 && !q->body_done && q->r.has_content_length &&
        q->r.content_length > q->body_seen) {
        uint64_t left = q->r.content_length - q->body_seen;
        if (left > 16384)
            want = left > S3_RCVLOWAT_MAX ? S3_RCVLOWAT_MAX : (int)left;
    }
    rcvlowat_set(c, want);
}

/*
 * The socket is readable (plain TCP). libevent 2.1's bufferevent reads at most 4 KiB per
 * wake-up (EVBUFFER_MAX_READ), so a 1 GiB PUT took 262,144 trips through epoll; read what
 * the kernel holds (FIONREAD, up to S3_READ_MAX) into the input buffer in one readv instead.
 */
static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    struct s3_conn *c = arg;
    if (what & EV_TIMEOUT) {
        /* idle (or the linger period is over); a client waiting for a long operation stays */
        if (!c->lingering && c->cur && (c->cur->job != J_NONE || c->cur->body_done))
            return;
        conn_free(c);
        return;
    }
    struct evbuffer *in = bufferevent_get_input(c->bev);
    int avail = 0;
    if (ioctl(fd, FIONREAD, &avail) != 0 || avail < 4096)
        avail = 4096;
    if (avail > (int)S3_READ_MAX)
        avail = (int)S3_READ_MAX;
    struct evbuffer_iovec v[2];
    struct iovec iov[2];
    int nv = evbuffer_reserve_space(in, avail, v, 2);
    if (nv <= 0) {
        conn_free(c);
        return;
    }
    for (int i = 0; i < nv; i++) {
        iov[i].iov_base = v[i].iov_base;
        iov[i].iov_len = v[i].iov_len;
    }
    ssize_t n = readv(fd, iov, nv);
    if (n <= 0) {
        evbuffer_commit_space(in, v, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        conn_free(c); /* EOF or a reset, as the bufferevent's event callback did */
        return;
    }
    ssize_t left = n;
    for (int i = 0; i < nv; i++) {
        if ((size_t)left < v[i].iov_len)
            v[i].iov_len = (size_t)left;
        left -= (ssize_t)v[i].iov_len;
    }
    evbuffer_commit_space(in, v, nv);
    if (c->lingering) {
        evbuffer_drain(in, evbuffer_get_length(in));
        return;
    }
    process_input(c); /* ends with rd_update */
}

/* ---- connection ---- */

static void linger_read_cb(struct bufferevent *bev, void *arg)
{
    (void)arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    evbuffer_drain(in, evbuffer_get_length(in));
}

static void start_linger(struct s3_conn *c)
{
    c->lingering = true;
    if (!c->tls)
        shutdown(c->fd, SHUT_WR);
    struct timeval tv = {S3_LINGER_SECS, 0};
    if (c->rev) {
        /* our read event drops what arrives; EOF, an error or the timeout close */
        rcvlowat_set(c, 0);
        evbuffer_drain(bufferevent_get_input(c->bev),
                       evbuffer_get_length(bufferevent_get_input(c->bev)));
        event_del(c->rev);
        c->rd_on = event_add(c->rev, &tv) == 0;
        bufferevent_setcb(c->bev, NULL, NULL, linger_event_cb, c);
        if (!c->rd_on)
            conn_free(c);
        return;
    }
    bufferevent_set_timeouts(c->bev, &tv, NULL);
    struct evbuffer *in = bufferevent_get_input(c->bev);
    evbuffer_drain(in, evbuffer_get_length(in));
    bufferevent_setwatermark(c->bev, EV_READ, 0, 0);
    bufferevent_setcb(c->bev, linger_read_cb, NULL, linger_event_cb, c);
    bufferevent_enable(c->bev, EV_READ);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    process_input(arg);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    struct s3_conn *c = arg;
    (void)bev;
    if (c->closing && !c->lingering) {
        if (c->cur == NULL || c->cur->job == J_NONE) {
            /* a client may still be sending: close gently so it reads our answer */
            start_linger(c);
        }
    }
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct s3_conn *c = arg;
    (void)bev;
    if (what & BEV_EVENT_CONNECTED)
        return; /* the TLS handshake finished */
    if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING) && c->cur &&
        (c->cur->job != J_NONE || c->cur->body_done)) {
        /* the client waits for a long operation: keep it */
        bufferevent_enable(c->bev, EV_READ);
        return;
    }
    conn_free(c);
}

/* While lingering: EOF, error or the linger timeout end the connection. */
static void linger_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    if (what & BEV_EVENT_CONNECTED)
        return;
    conn_free(arg);
}

static void conn_free(struct s3_conn *c)
{
    struct s3_server *s = c->srv;
    if (c->cur) {
        struct s3_creq *q = c->cur;
        q->c = NULL;
        c->cur = NULL;
        if (q->job == J_NONE)
            orphan_cleanup(q);
    }
    if (c->prev)
        c->prev->next = c->next;
    else if (s->conns && c->loop_idx >= 0 && c->loop_idx < s->nloops &&
             s->conns[c->loop_idx] == c)
        s->conns[c->loop_idx] = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->hdr_timer)
        event_free(c->hdr_timer);
    if (c->rev)
        event_free(c->rev);
    bufferevent_free(c->bev);
    cfs_http_parser_free(c->hp);
    c->magic = 0;
    free(c);
    atomic_fetch_sub(&s->live_conns, 1);
    if (s->m.conns)
        s->api->gauge_add(s->api->metric_series(s->m.conns, NULL), -1);
    s->api->conn_closed("s3");
}

void s3_close_loop_conns(void *arg)
{
    struct s3_server *s = arg;
    cfs_loop *l = s->api->loop_current();
    int idx = l ? s->api->loop_index(l) : -1;
    if (idx < 0 || idx >= s->nloops || !s->conns)
        return;
    struct s3_conn *c = s->conns[idx];
    while (c) {
        struct s3_conn *n = c->next;
        conn_free(c);
        c = n;
    }
}

void s3_accept(cfs_loop *loop, int fd, const struct sockaddr *peer, socklen_t peerlen,
               void *arg)
{
    struct s3_server *s = arg;
    const struct s3_conf *conf = atomic_load(&s->conf);
    (void)peer;
    (void)peerlen;
    if (!conf || atomic_load(&s->draining) ||
        atomic_load(&s->live_conns) >= (int)conf->max_connections) {
        static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
                                   "Content-Length: 0\r\nRetry-After: 1\r\n\r\n";
        ssize_t w = write(fd, busy, sizeof(busy) - 1);
        (void)w;
        close(fd);
        return;
    }
    struct s3_conn *c = calloc(1, sizeof(*c));
    struct cfs_http_limits lim = {
        .max_header_bytes = (size_t)conf->max_header_bytes,
        .max_body = S3_MAX_OBJECT + (64u << 20),
    };
    if (!c || !(c->hp = cfs_http_parser_new(&lim))) {
        free(c);
        close(fd);
        return;
    }
    c->magic = S3_CONN_MAGIC;
    c->srv = s;
    c->loop = loop;
    c->fd = fd;
    c->loop_idx = s->api->loop_index(loop);
    if (s->ssl_ctx) {
        SSL *ssl = SSL_new(s->ssl_ctx);
        c->bev = ssl ? bufferevent_openssl_socket_new(s->api->loop_base(loop), fd, ssl,
                                                      BUFFEREVENT_SSL_ACCEPTING,
                                                      BEV_OPT_CLOSE_ON_FREE)
                     : NULL;
        if (!c->bev && ssl)
            SSL_free(ssl);
        c->tls = true;
    } else {
        c->bev = bufferevent_socket_new(s->api->loop_base(loop), fd, BEV_OPT_CLOSE_ON_FREE);
    }
    if (!c->bev) {
        cfs_http_parser_free(c->hp);
        free(c);
        close(fd);
        return;
    }
    c->hdr_timer = evtimer_new(s->api->loop_base(loop), hdr_timeout_cb, c);
    bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
    /* libevent moves 16 KiB per syscall by default: let sendfile and reads take more */
    bufferevent_set_max_single_read(c->bev, 1u << 20);
    bufferevent_set_max_single_write(c->bev, c->tls ? (1u << 20) : (64u << 20));
    struct timeval tv = {S3_IDLE_SECS, 0};
    if (c->tls) {
        bufferevent_setwatermark(c->bev, EV_READ, 0, S3_IN_HIGH);
        bufferevent_set_timeouts(c->bev, &tv, &tv);
        bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    } else {
        /* the bufferevent writes; reading is ours (on_readable), with the idle timeout */
        c->rev = event_new(s->api->loop_base(loop), fd, EV_READ | EV_PERSIST, on_readable, c);
        if (!c->rev) {
            if (c->hdr_timer)
                event_free(c->hdr_timer);
            bufferevent_free(c->bev); /* closes fd */
            cfs_http_parser_free(c->hp);
            free(c);
            return;
        }
        bufferevent_set_timeouts(c->bev, NULL, &tv);
        bufferevent_disable(c->bev, EV_READ);
        bufferevent_enable(c->bev, EV_WRITE);
        /* bufferevent_socket_new freezes the input's end for its own reads only */
        evbuffer_unfreeze(bufferevent_get_input(c->bev), 0);
        rd_set(c, true);
    }
    if (s->conns && c->loop_idx >= 0 && c->loop_idx < s->nloops) {
        c->next = s->conns[c->loop_idx];
        if (c->next)
            c->next->prev = c;
        s->conns[c->loop_idx] = c;
    } else {
        c->loop_idx = -1;
    }
    atomic_fetch_add(&s->live_conns, 1);
    if (s->m.conns)
        s->api->gauge_add(s->api->metric_series(s->m.conns, NULL), 1);
    s->api->conn_opened("s3");
}
