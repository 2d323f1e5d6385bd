/*
 * core/admin.c - the admin HTTP server (/health, /ready, /metrics) on plain libevent
 * (evconnlistener + bufferevent) and the streaming parser of cfs/http.h.
 *
 * One server per process, on the event_base it is started with. Every request is
 * answered at HEADERS_DONE (the admin port takes no bodies: a request that announces
 * one is answered and the connection closed after the answer). Responses are queued
 * in the bufferevent's output; while that holds more than OUT_HIGH bytes the
 * connection stops reading (pipelined requests wait in the kernel), so per-connection
 * memory stays bounded by the input watermark, the parser's limits and OUT_HIGH.
 */
#include "admin.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include <cfs/http.h>

#include "core.h"
#include "health.h"
#include "listen.h"
#include "metrics.h"

#define TAG "admin"
#define DEF_MAX_CONNS 64
#define DEF_IDLE_MS 30000
#define IN_HIGH (64 * 1024)    /* input watermark: stop reading beyond it */
#define OUT_HIGH (256 * 1024)  /* stop parsing while this much output waits */
#define ADMIN_MAGIC 0x41444d4eu /* "ADMN" */
#define LINGER_MS 2000          /* after a close: read and drop input this long ... */
#define LINGER_MAX (1024 * 1024) /* ... or this many bytes, so the answer is not lost to
                                    a reset caused by unread data (nginx lingering_close) */

struct conn {
    uint32_t magic;
    struct bufferevent *bev;
    struct cfs_http_parser *hp;
    struct conn *prev, *next;
    bool closing;  /* close once the output is flushed */
    bool paused;   /* reading stopped because of queued output */
    bool lingering; /* answer sent, write side shut: discarding input until EOF */
    size_t discarded;
    char peer[64];
};

static struct {
    bool running;
    struct event_base *base;
    struct evconnlistener *lis;
    struct event *retry;           /* re-enables accepting after an accept error */
    struct cfs__admin_hooks hooks;
    struct conn *conns;
    unsigned nconns;
    int port;
    cfs_metric *requests;
} g;

static void conn_process(struct conn *c);

/* ---- connections ----------------------------------------------------------------- */

static void conn_free(struct conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        g.conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    g.nconns--;
    bufferevent_free(c->bev);
    cfs_http_parser_free(c->hp);
    c->magic = 0;
    free(c);
}

static void count_request(const char *path, int code)
{
    char codebuf[8];
    const char *vals[3];
    snprintf(codebuf, sizeof(codebuf), "%d", code);
    vals[0] = path;
    vals[1] = codebuf;
    vals[2] = NULL;
    cfs__counter_add(cfs__metric_series(g.requests, vals), 1);
}

/* Queue a whole response. `body` may be NULL (len 0); HEAD sends the headers only. */
static void respond(struct conn *c, int status, const char *ctype, const char *extra,
                    const char *body, size_t len, bool head, bool keep_alive,
                    bool http10)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    const char *conn_hdr = !keep_alive ? "Connection: close\r\n"
                           : http10    ? "Connection: keep-alive\r\n"
                                       : "";

    evbuffer_add_printf(out,
                        "HTTP/1.1 %d %s\r\n"
                        "Content-Type: %s\r\n"
                        "Content-Length: %zu\r\n"
                        "Cache-Control: no-store\r\n"
                        "%s%s\r\n",
                        status, cfs_http_reason(status), ctype, len, extra ? extra : "",
                        conn_hdr);
    if (!head && len > 0)
        evbuffer_add(out, body, len);
    if (!keep_alive) {
        c->closing = true;
        bufferevent_disable(c->bev, EV_READ);
    }
}

static void respond_text(struct conn *c, int status, const char *extra, bool head,
                         bool keep_alive, bool http10)
{
    char body[128];
    int n = snprintf(body, sizeof(body), "%d %s\n", status, cfs_http_reason(status));
    respond(c, status, "text/plain; charset=utf-8", extra, body,
            n > 0 ? (size_t)n : 0, head, keep_alive, http10);
}

/* Answer one request (called at HEADERS_DONE). */
static void route(struct conn *c, const struct cfs_http_request *r)
{
    const char *path, *query, *label;
    size_t plen, qlen;
    bool head = strcmp(r->method, "HEAD") == 0;
    bool get = strcmp(r->method, "GET") == 0;
    bool http10 = r->version_minor == 0;
    /* the admin port takes no body: answer, then close (the body is never read) */
    bool keep = r->keep_alive && r->framing == CFS_HTTP_FRAMING_NONE;
    int status;

    cfs_http_target_split(r->target, &path, &plen, &query, &qlen);
    if (plen == 7 && memcmp(path, "/health", 7) == 0)
        label = "/health";
    else if (plen == 6 && memcmp(path, "/ready", 6) == 0)
        label = "/ready";
    else if (plen == 8 && memcmp(path, "/metrics", 8) == 0)
        label = "/metrics";
    else
        label = "other";

    if (strcmp(label, "other") == 0) {
        status = 404;
        respond_text(c, status, NULL, head, keep, http10);
    } else if (!get && !head) {
        status = 405;
        respond_text(c, status, "Allow: GET, HEAD\r\n", head, keep, http10);
    } else if (strcmp(label, "/health") == 0) {
        char *json = g.hooks.health_json ? g.hooks.health_json(g.hooks.arg)
                                         : cfs__health_json(NULL);
        if (json != NULL) {
            status = 200;
            respond(c, status, "application/json", NULL, json, strlen(json), head, keep,
                    http10);
        } else {
            status = 500;
            respond_text(c, status, NULL, head, keep, http10);
        }
        free(json);
    } else if (strcmp(label, "/ready") == 0) {
        char *json = NULL;
        int rd = g.hooks.ready ? g.hooks.ready(g.hooks.arg, &json) : 1;
        const char *body = json;
        status = rd > 0 ? 200 : 503;
        if (body == NULL)
            body = rd > 0 ? "{\"ready\":true}" : "{\"ready\":false}";
        respond(c, status, "application/json", NULL, body, strlen(body), head, keep, http10);
        free(json);
    } else {
        char *text = NULL;
        size_t len = 0;
        if (cfs__metrics_render(&text, &len) == 0) {
            status = 200;
            respond(c, status, "text/plain; version=0.0.4; charset=utf-8", NULL, text, len,
                    head, keep, http10);
        } else {
            status = 500;
            respond_text(c, status, NULL, head, keep, http10);
        }
        free(text);
    }
    count_request(label, status);
    CFS_LOG_D(TAG, "%s %s %s -> %d", c->peer, r->method, r->target, status);
}

/* Parse and answer what the input holds, as far as the output bound allows. */
static void conn_process(struct conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    struct evbuffer *out = bufferevent_get_output(c->bev);

    while (!c->closing) {
        struct evbuffer_iovec v;
        size_t used;
        int n, ev;

        if (evbuffer_get_length(out) > OUT_HIGH) {
            c->paused = true;
            bufferevent_disable(c->bev, EV_READ);
            return;
        }
        n = evbuffer_peek(in, -1, NULL, &v, 1);
        ev = cfs_http_feed(c->hp, n > 0 ? v.iov_base : NULL, n > 0 ? v.iov_len : 0, &used,
                           NULL, NULL);
        if (ev == CFS_HTTP_HEADERS_DONE) {
            route(c, cfs_http_request(c->hp));
        } else if (ev == CFS_HTTP_ERROR) {
            int st = cfs_http_error_status(c->hp);
            CFS_LOG_W(TAG, "bad request from %s: %s (answered %d, closing)", c->peer,
                      cfs_http_error_text(c->hp), st);
            respond_text(c, st, NULL, false, false, false);
            count_request("other", st);
            evbuffer_drain(in, evbuffer_get_length(in));
            return;
        }
        evbuffer_drain(in, used);
        /* NEED_MORE consumed the whole segment: go on while other segments wait */
        if (ev == CFS_HTTP_NEED_MORE && evbuffer_get_length(in) == 0)
            return;
    }
    evbuffer_drain(in, evbuffer_get_length(in));
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    if (c->lingering) {
        struct evbuffer *in = bufferevent_get_input(bev);
        c->discarded += evbuffer_get_length(in);
        evbuffer_drain(in, evbuffer_get_length(in));
        if (c->discarded > LINGER_MAX)
            conn_free(c);
        return;
    }
    conn_process(c);
}

/* The answer is out: shut our side and drain what the client still sends until it
 * closes, LINGER_MS pass or LINGER_MAX bytes came. */
static void conn_linger(struct conn *c)
{
    struct timeval tv = {LINGER_MS / 1000, (LINGER_MS % 1000) * 1000};
    evutil_socket_t fd = bufferevent_getfd(c->bev);

    if (fd < 0 || shutdown(fd, SHUT_WR) != 0) {
        conn_free(c);
        return;
    }
    c->lingering = true;
    bufferevent_set_timeouts(c->bev, &tv, NULL);
    bufferevent_disable(c->bev, EV_WRITE);
    bufferevent_enable(c->bev, EV_READ);
}

static void on_write(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    if (c->closing) {
        if (!c->lingering)
            conn_linger(c);
        return;
    }
    if (c->paused) {
        c->paused = false;
        bufferevent_enable(c->bev, EV_READ);
        conn_process(c);
    }
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;

    if (c->lingering) {
        conn_free(c);
        return;
    }
    if (what & BEV_EVENT_TIMEOUT) {
        if ((what & BEV_EVENT_READING) && !cfs_http_parser_idle(c->hp) && !c->closing) {
            /* stalled in the middle of a request */
            bufferevent_set_timeouts(c->bev, NULL, NULL);
            respond_text(c, 408, NULL, false, false, false);
            count_request("other", 408);
            bufferevent_enable(c->bev, EV_WRITE);
            return;
        }
        conn_free(c);
        return;
    }
    if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
        evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
        /* the client half-closed after its request: flush the answer first */
        c->closing = true;
        bufferevent_disable(bev, EV_READ);
        return;
    }
    conn_free(c);
}

static void peer_name(const struct sockaddr *sa, socklen_t len, char *buf, size_t buflen)
{
    char host[INET6_ADDRSTRLEN], serv[8];
    if (getnameinfo(sa, len, host, sizeof(host), serv, sizeof(serv),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(buf, buflen, "?");
        return;
    }
    if (sa->sa_family == AF_INET6)
        snprintf(buf, buflen, "[%s]:%s", host, serv);
    else
        snprintf(buf, buflen, "%s:%s", host, serv);
}

static void on_accept(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                               "Connection: close\r\n\r\n";
    struct conn *c = NULL;
    struct timeval tv;
    int one = 1;
    ssize_t wr;

    if (g.nconns >= g.hooks.max_conns) {
        wr = send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)wr;
        evutil_closesocket(fd);
        CFS_LOG_W(TAG, "too many connections (%u): refused one", g.nconns);
        count_request("other", 503);
        return;
    }
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        goto fail;
    c->magic = ADMIN_MAGIC;
    peer_name(sa, (socklen_t)salen, c->peer, sizeof(c->peer));
    c->hp = cfs_http_parser_new(NULL);
    if (c->hp == NULL)
        goto fail;
    c->bev = bufferevent_socket_new(g.base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL)
        goto fail;
    fd = -1; /* owned by the bufferevent */
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    bufferevent_setwatermark(c->bev, EV_READ, 0, IN_HIGH);
    tv.tv_sec = g.hooks.idle_timeout_ms / 1000;
    tv.tv_usec = (g.hooks.idle_timeout_ms % 1000) * 1000;
    bufferevent_set_timeouts(c->bev, &tv, &tv);
    if (bufferevent_enable(c->bev, EV_READ | EV_WRITE) != 0)
        goto fail;
    c->next = g.conns;
    if (g.conns)
        g.conns->prev = c;
    g.conns = c;
    g.nconns++;
    return;
fail:
    CFS_LOG_E(TAG, "cannot set up a connection: out of memory");
    if (c != NULL) {
        if (c->bev)
            bufferevent_free(c->bev);
        cfs_http_parser_free(c->hp);
        free(c);
    }
    if (fd >= 0)
        evutil_closesocket(fd);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    if (g.lis)
        evconnlistener_enable(g.lis);
}

static void on_accept_error(struct evconnlistener *lis, void *arg)
{
    struct timeval tv = {1, 0};
    int e = EVUTIL_SOCKET_ERROR();
    CFS_LOG_E(TAG, "accept: %s; pausing accepts for 1s", evutil_socket_error_to_string(e));
    /* EMFILE and friends are level-triggered: do not spin */
    evconnlistener_disable(lis);
    evtimer_add(g.retry, &tv);
}

/* ---- start / stop ---------------------------------------------------------------- */

int cfs__admin_start(struct event_base *base, const char *addr,
                     const struct cfs__admin_hooks *hooks, char *err, size_t errlen)
{
    static const char *const labels[] = {"path", "code", NULL};
    const struct cfs_metric_desc desc = {
        .size = sizeof(desc),
        .type = CFS_METRIC_COUNTER,
        .name = "cfs_admin_requests_total",
        .help = "Requests answered by the admin HTTP port, by path and status code.",
        .labels = labels,
    };
    char host[256], port[16];
    struct addrinfo hints, *res = NULL, *ai;
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    int rc;

    if (g.running) {
        snprintf(err, errlen, "admin server already running");
        return -EALREADY;
    }
    if (base == NULL || addr == NULL) {
        snprintf(err, errlen, "admin server: no event base or address");
        return -EINVAL;
    }
    if (cfs__parse_hostport(addr, host, sizeof(host), port, sizeof(port)) != 0) {
        snprintf(err, errlen, "admin address '%s': expected host:port, :port or [v6]:port",
                 addr);
        return -EINVAL;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(*host ? host : NULL, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "admin address '%s': %s", addr, gai_strerror(rc));
        return -EINVAL;
    }
    for (ai = res; ai; ai = ai->ai_next)
        if (ai->ai_family == AF_INET)
            break;
    if (ai == NULL)
        ai = res;

    memset(&g, 0, sizeof(g));
    if (hooks != NULL)
        g.hooks = *hooks;
    if (g.hooks.max_conns == 0)
        g.hooks.max_conns = DEF_MAX_CONNS;
    if (g.hooks.idle_timeout_ms == 0)
        g.hooks.idle_timeout_ms = DEF_IDLE_MS;
    g.base = base;
    g.requests = cfs__metric_register(&desc);
    g.retry = evtimer_new(base, on_retry, NULL);
    if (g.retry == NULL) {
        snprintf(err, errlen, "admin server: out of memory");
        rc = -ENOMEM;
        goto out;
    }
    g.lis = evconnlistener_new_bind(base, on_accept, NULL,
                                    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                                        LEV_OPT_CLOSE_ON_EXEC,
                                    128, ai->ai_addr, (int)ai->ai_addrlen);
    if (g.lis == NULL) {
        rc = -errno;
        if (rc == 0)
            rc = -EADDRNOTAVAIL;
        snprintf(err, errlen, "admin server: cannot listen on '%s': %s", addr, strerror(-rc));
        goto out;
    }
    evconnlistener_set_error_cb(g.lis, on_accept_error);
    if (getsockname(evconnlistener_get_fd(g.lis), (struct sockaddr *)&ss, &sslen) == 0)
        g.port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                : ((struct sockaddr_in *)&ss)->sin_port);
    g.running = true;
    CFS_LOG_N(TAG, "admin HTTP on %s (port %d): /health /ready /metrics", addr, g.port);
    rc = 0;
out:
    freeaddrinfo(res);
    if (rc != 0) {
        if (g.retry)
            event_free(g.retry);
        memset(&g, 0, sizeof(g));
    }
    return rc;
}

void cfs__admin_stop(void)
{
    if (!g.running)
        return;
    while (g.conns != NULL)
        conn_free(g.conns);
    evconnlistener_free(g.lis);
    event_free(g.retry);
    memset(&g, 0, sizeof(g));
}

int cfs__admin_port(void)
{
    return g.running ? g.port : -1;
}
