/*
 * tests/unit/test_admin.c - the health-check registry and the admin HTTP server: the
 * server runs on an event_base in its own thread on 127.0.0.1:0 and the tests talk to
 * it with plain blocking sockets (/health, /ready 503 then 200, /metrics, 404, 405,
 * HEAD, keep-alive and pipelining, garbage -> 400 and close, limits, idle timeout).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <jansson.h>

#include "admin.h"
#include "core.h"
#include "health.h"
#include "metrics.h"

/* ---- health registry ----------------------------------------------------------- */

static int check_ok(void *arg, char *detail, size_t len)
{
    snprintf(detail, len, "all good");
    return CFS_HEALTH_OK;
}

static int check_degraded(void *arg, char *detail, size_t len)
{
    snprintf(detail, len, "%s", (const char *)arg);
    return CFS_HEALTH_DEGRADED;
}

static int check_weird(void *arg, char *detail, size_t len)
{
    memset(detail, 'x', len); /* no NUL: the registry must cope */
    return 17;
}

static void test_health_registry(void **state)
{
    json_t *obj = NULL;

    cfs__health_reset();
    assert_int_equal(cfs__health_run(&obj), CFS_HEALTH_OK);
    assert_int_equal(json_object_size(obj), 0);
    json_decref(obj);

    assert_int_equal(cfs__health_register("backend.posix", check_ok, NULL), 0);
    assert_int_equal(cfs__health_register("backend.posix", check_ok, NULL), -EEXIST);
    assert_int_equal(cfs__health_register("", check_ok, NULL), -EINVAL);
    assert_int_equal(cfs__health_register(NULL, check_ok, NULL), -EINVAL);
    assert_int_equal(cfs__health_register("bad name", check_ok, NULL), -EINVAL);
    assert_int_equal(cfs__health_register("x", NULL, NULL), -EINVAL);
    assert_int_equal(cfs__health_register("mod/s3", check_degraded, "slow \"disk\""), 0);
    assert_int_equal(cfs__health_run(&obj), CFS_HEALTH_DEGRADED);
    assert_int_equal(json_object_size(obj), 2);
    json_t *c = json_object_get(obj, "mod/s3");
    assert_string_equal(json_string_value(json_object_get(c, "state")), "degraded");
    assert_string_equal(json_string_value(json_object_get(c, "detail")), "slow \"disk\"");
    c = json_object_get(obj, "backend.posix");
    assert_string_equal(json_string_value(json_object_get(c, "state")), "ok");
    assert_string_equal(json_string_value(json_object_get(c, "detail")), "all good");
    json_decref(obj);

    assert_int_equal(cfs__health_register("weird", check_weird, NULL), 0);
    assert_int_equal(cfs__health_run(NULL), CFS_HEALTH_FAILED);
    char *s = cfs__health_json(NULL);
    assert_non_null(s);
    json_t *doc = json_loads(s, 0, NULL);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "status")), "failed");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(doc, "checks"), "weird"), "state")),
                        "failed");
    json_decref(doc);
    free(s);

    cfs__health_unregister("weird");
    cfs__health_unregister("not-there");
    assert_int_equal(cfs__health_run(NULL), CFS_HEALTH_DEGRADED);
    cfs__health_unregister("mod/s3");
    int st = -1;
    s = cfs__health_json(&st);
    assert_int_equal(st, CFS_HEALTH_OK);
    assert_string_equal(s, "{\"checks\":{\"backend.posix\":{\"detail\":\"all good\","
                           "\"state\":\"ok\"}},\"status\":\"ok\"}");
    free(s);
    assert_string_equal(cfs__health_state_name(CFS_HEALTH_DEGRADED), "degraded");
    assert_string_equal(cfs__health_state_name(99), "failed");
    cfs__health_reset();
}

/* ---- the server ------------------------------------------------------------------ */

static struct event_base *g_base;
static pthread_t g_thread;
static atomic_int g_ready;
static atomic_int g_health_calls;

static char *hook_health(void *arg)
{
    atomic_fetch_add(&g_health_calls, 1);
    return cfs__health_json(NULL);
}

static int hook_ready(void *arg, char **json)
{
    int r = atomic_load(&g_ready);
    if (r == 2)
        return 0; /* not ready, default body */
    *json = strdup(r ? "{\"ready\":true,\"modules\":[\"s3\"]}" : "{\"ready\":false}");
    return r;
}

static atomic_int g_loop_done;

static void *loop_thread(void *arg)
{
    event_base_loop(g_base, EVLOOP_NO_EXIT_ON_EMPTY);
    atomic_store(&g_loop_done, 1);
    return NULL;
}

static void server_start(unsigned max_conns, unsigned idle_ms)
{
    struct cfs__admin_hooks hooks = {
        .health_json = hook_health, .ready = hook_ready, .arg = NULL,
        .max_conns = max_conns, .idle_timeout_ms = idle_ms,
    };
    char err[256] = "";

    g_base = event_base_new();
    assert_non_null(g_base);
    assert_int_equal(cfs__admin_start(g_base, "127.0.0.1:0", &hooks, err, sizeof(err)), 0);
    assert_true(cfs__admin_port() > 0);
    assert_int_equal(cfs__admin_start(g_base, "127.0.0.1:0", &hooks, err, sizeof(err)),
                     -EALREADY);
    atomic_store(&g_loop_done, 0);
    assert_int_equal(pthread_create(&g_thread, NULL, loop_thread, NULL), 0);
}

static void server_stop(void)
{
    /* a break sent before the loop started would be forgotten: repeat it */
    while (!atomic_load(&g_loop_done)) {
        event_base_loopbreak(g_base);
        usleep(1000);
    }
    pthread_join(g_thread, NULL);
    cfs__admin_stop();
    assert_int_equal(cfs__admin_port(), -1);
    event_base_free(g_base);
    g_base = NULL;
}

static int setup(void **state)
{
    cfs__metrics_reset();
    cfs__health_reset();
    atomic_store(&g_ready, 0);
    server_start(0, 0);
    return 0;
}

static int teardown(void **state)
{
    server_stop();
    cfs__health_reset();
    return 0;
}

static int dial(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    struct timeval tv = {5, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    sin.sin_port = htons((uint16_t)cfs__admin_port());
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    return fd;
}

static void send_all(int fd, const char *s)
{
    size_t len = strlen(s), off = 0;
    while (off < len) {
        ssize_t n = send(fd, s + off, len - off, MSG_NOSIGNAL);
        assert_true(n > 0);
        off += (size_t)n;
    }
}

/* Per-connection receive buffer so that pipelined responses can be read one by one. */
struct client {
    int fd;
    char buf[1 << 20];
    size_t len;
};

struct response {
    int status;
    char headers[4096];
    char *body;
    size_t body_len;
};

static int fill(struct client *c)
{
    ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);
    if (n > 0) {
        c->len += (size_t)n;
        c->buf[c->len] = '\0';
    }
    return (int)n;
}

/* Read one response; returns 0, or -1 when the connection closed first. */
static int read_response(struct client *c, struct response *r, int head)
{
    char *end;
    size_t hlen, clen = 0;
    const char *cl;

    memset(r, 0, sizeof(*r));
    while ((end = memmem(c->buf, c->len, "\r\n\r\n", 4)) == NULL)
        if (fill(c) <= 0)
            return -1;
    hlen = (size_t)(end - c->buf) + 4;
    assert_true(hlen < sizeof(r->headers));
    memcpy(r->headers, c->buf, hlen);
    r->headers[hlen] = '\0';
    assert_int_equal(sscanf(r->headers, "HTTP/1.1 %d ", &r->status), 1);
    cl = strcasestr(r->headers, "\r\nContent-Length: ");
    assert_non_null(cl);
    clen = strtoul(cl + 18, NULL, 10);
    if (head)
        clen = 0;
    while (c->len < hlen + clen)
        if (fill(c) <= 0)
            return -1;
    r->body = malloc(clen + 1);
    memcpy(r->body, c->buf + hlen, clen);
    r->body[clen] = '\0';
    r->body_len = clen;
    memmove(c->buf, c->buf + hlen + clen, c->len - hlen - clen);
    c->len -= hlen + clen;
    return 0;
}

static struct client *client_new(void)
{
    struct client *c = calloc(1, sizeof(*c));
    c->fd = dial();
    return c;
}

static void client_free(struct client *c)
{
    close(c->fd);
    free(c);
}

/* The connection is closed by the server (after whatever was pending). */
static void assert_closed(struct client *c)
{
    char b[64];
    assert_int_equal(c->len, 0);
    assert_int_equal(recv(c->fd, b, sizeof(b), 0), 0);
}

static void simple(const char *req, int status, struct response *r)
{
    struct client *c = client_new();
    send_all(c->fd, req);
    assert_int_equal(read_response(c, r, strncmp(req, "HEAD", 4) == 0), 0);
    assert_int_equal(r->status, status);
    client_free(c);
}

static void test_health(void **state)
{
    struct response r;
    assert_int_equal(cfs__health_register("backend", check_degraded, "slow"), 0);
    simple("GET /health HTTP/1.1\r\nHost: a\r\n\r\n", 200, &r);
    assert_non_null(strstr(r.headers, "Content-Type: application/json\r\n"));
    json_t *doc = json_loads(r.body, 0, NULL);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "status")), "degraded");
    json_decref(doc);
    free(r.body);

    simple("HEAD /health HTTP/1.1\r\nHost: a\r\n\r\n", 200, &r);
    assert_int_equal(r.body_len, 0);
    assert_null(strstr(r.headers, "Content-Length: 0\r\n"));
    free(r.body);
    assert_true(atomic_load(&g_health_calls) >= 2);
}

static void test_ready(void **state)
{
    struct response r;
    simple("GET /ready HTTP/1.1\r\nHost: a\r\n\r\n", 503, &r);
    assert_string_equal(r.body, "{\"ready\":false}");
    free(r.body);
    atomic_store(&g_ready, 1);
    simple("GET /ready HTTP/1.1\r\nHost: a\r\n\r\n", 200, &r);
    assert_string_equal(r.body, "{\"ready\":true,\"modules\":[\"s3\"]}");
    free(r.body);
    atomic_store(&g_ready, 2);
    simple("GET /ready?verbose=1 HTTP/1.1\r\nHost: a\r\n\r\n", 503, &r);
    assert_string_equal(r.body, "{\"ready\":false}");
    free(r.body);
}

static void test_metrics(void **state)
{
    struct response r;
    simple("GET /health HTTP/1.1\r\nHost: a\r\n\r\n", 200, &r);
    free(r.body);
    simple("GET /nope HTTP/1.1\r\nHost: a\r\n\r\n", 404, &r);
    free(r.body);
    simple("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n", 200, &r);
    assert_non_null(strstr(r.headers, "Content-Type: text/plain; version=0.0.4"));
    assert_non_null(strstr(r.body, "# TYPE cfs_admin_requests_total counter\n"));
    assert_non_null(strstr(r.body, "cfs_admin_requests_total{path=\"/health\",code=\"200\"} 1\n"));
    assert_non_null(strstr(r.body, "cfs_admin_requests_total{path=\"other\",code=\"404\"} 1\n"));
    assert_non_null(strstr(r.body, "\nprocess_open_fds "));
    assert_non_null(strstr(r.body, "\nprocess_cpu_seconds_total "));
    free(r.body);
}

static void test_errors(void **state)
{
    struct response r;
    simple("GET /other HTTP/1.1\r\nHost: a\r\n\r\n", 404, &r);
    free(r.body);
    simple("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n", 404, &r);
    free(r.body);
    simple("POST /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", 405, &r);
    assert_non_null(strstr(r.headers, "\r\nAllow: GET, HEAD\r\n"));
    free(r.body);
    simple("DELETE /health HTTP/1.1\r\nHost: a\r\n\r\n", 405, &r);
    free(r.body);
    simple("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, &r);
    free(r.body);
    simple("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501, &r);
    free(r.body);
}

static void test_garbage(void **state)
{
    struct response r;
    struct client *c = client_new();

    send_all(c->fd, "\x16\x03\x01 this is not http\r\n\r\n");
    assert_int_equal(read_response(c, &r, 0), 0);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.headers, "Connection: close\r\n"));
    free(r.body);
    assert_closed(c);
    client_free(c);
    /* the server still serves a next connection */
    simple("GET /health HTTP/1.1\r\nHost: a\r\n\r\n", 200, &r);
    free(r.body);
    /* a valid request then garbage on the same connection: answer, then 400 */
    c = client_new();
    send_all(c->fd, "GET /ready HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\nBad Header\r\n\r\n");
    assert_int_equal(read_response(c, &r, 0), 0);
    assert_int_equal(r.status, 503);
    free(r.body);
    assert_int_equal(read_response(c, &r, 0), 0);
    assert_int_equal(r.status, 400);
    free(r.body);
    assert_closed(c);
    client_free(c);
    /* a huge header: 431 */
    c = client_new();
    char *big = malloc(70000);
    memset(big, 'a', 69999);
    big[69999] = '\0';
    memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
    send_all(c->fd, big);
    free(big);
    assert_int_equal(read_response(c, &r, 0), 0);
    assert_int_equal(r.status, 431);
    free(r.body);
    client_free(c);
}

static void test_keepalive_pipelining(void **state)
{
    struct response r;
    struct client *c = client_new();

    /* three pipelined requests in one write, then one more later */
    send_all(c->fd, "GET /health HTTP/1.1\r\nHost: a\r\n\r\n"
                    "HEAD /ready HTTP/1.1\r\nHost: a\r\n\r\n"
                    "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(read_response(c, &r, 0), 0);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.headers, "Connection:"));
    free(r.body);
    assert_int_equal(read_response(c, &r, 1), 0);
    assert_int_equal(r.status, 503);
    free(r.body);
    assert_int_equal(read_response(c, &r, 0), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "cfs_admin_requests_total"));
    free(r.body);
    send_all(c->fd, "GET /nothing HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(read_response(c, &r, 0), 0);
    assert_int_equal(r.status, 404);
    free(r.body);
    /* byte by byte */
    const char *req = "GET /health HTTP/1.1\r\nHost: a\r\n\r\n";
    for (const char *p = req; *p; p++) {
        char one[2] = {*p, 0};
        send_all(c->fd, one);
    }
    assert_int_equal(read_response(c, &r, 0), 0);
    assert_int_equal(r.status, 200);
    free(r.body);
    /* Connection: close is honoured */
    send_all(c->fd, "GET /health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    assert_int_equal(read_response(c, &r, 0), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.headers, "Connection: close\r\n"));
    free(r.body);
    assert_closed(c);
    client_free(c);

    /* HTTP/1.0: closes by default, keeps alive on request */
    c = client_new();
    send_all(c->fd, "GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_int_equal(read_response(c, &r, 0), 0);
    assert_non_null(strstr(r.headers, "Connection: keep-alive\r\n"));
    free(r.body);
    send_all(c->fd, "GET /health HTTP/1.0\r\n\r\n");
    assert_int_equal(read_response(c, &r, 0), 0);
    assert_int_equal(r.status, 200);
    free(r.body);
    assert_closed(c);
    client_free(c);

    /* a request with a body is answered, then the connection closes */
    c = client_new();
    send_all(c->fd, "POST /health HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nabcd");
    assert_int_equal(read_response(c, &r, 0), 0);
    assert_int_equal(r.status, 405);
    free(r.body);
    assert_closed(c);
    client_free(c);

    /* half-close after the request: the answer still arrives */
    c = client_new();
    send_all(c->fd, "GET /ready HTTP/1.1\r\nHost: a\r\n\r\n");
    shutdown(c->fd, SHUT_WR);
    assert_int_equal(read_response(c, &r, 0), 0);
    assert_int_equal(r.status, 503);
    free(r.body);
    client_free(c);
}

static void test_limits(void **state)
{
    struct response r;
    struct client *a, *b, *c;

    server_stop();
    server_start(2, 300);
    a = client_new();
    b = client_new();
    usleep(100 * 1000);
    c = client_new();
    /* the third is refused at once */
    assert_int_equal(read_response(c, &r, 0), 0);
    assert_int_equal(r.status, 503);
    free(r.body);
    client_free(c);
    /* the first two still work */
    send_all(b->fd, "GET /hea");
    send_all(a->fd, "GET /health HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(read_response(a, &r, 0), 0);
    assert_int_equal(r.status, 200);
    free(r.body);
    /* idle: closed silently after 300 ms */
    assert_closed(a);
    /* stalled mid-request (since before a's request): 408 then closed */
    assert_int_equal(read_response(b, &r, 0), 0);
    assert_int_equal(r.status, 408);
    free(r.body);
    assert_closed(b);
    client_free(a);
    client_free(b);
    /* slots are free again */
    usleep(100 * 1000);
    simple("GET /health HTTP/1.1\r\nHost: a\r\n\r\n", 200, &r);
    free(r.body);
}

static void test_bad_address(void **state)
{
    struct event_base *base = event_base_new();
    char err[256] = "";
    assert_int_equal(cfs__admin_start(base, "nonsense", NULL, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "nonsense"));
    assert_int_equal(cfs__admin_start(base, "127.0.0.1:99999", NULL, err, sizeof(err)), -EINVAL);
    /* default hooks: /health from the registry, always ready */
    assert_int_equal(cfs__admin_start(base, "127.0.0.1:0", NULL, err, sizeof(err)), 0);
    cfs__admin_stop();
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_registry),
        cmocka_unit_test_setup_teardown(test_health, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ready, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keepalive_pipelining, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
        cmocka_unit_test(test_bad_address),
    };
    evthread_use_pthreads();
    cfs__log_set_level(CFS_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
