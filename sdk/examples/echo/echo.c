/*
 * sdk/examples/echo/echo.c - mod_echo, the example out-of-tree cfs-gateway module: a
 * line-oriented echo/stat protocol on its own TCP port. Built against the installed SDK
 * alone (see CMakeLists.txt beside it and docs/MODULE_SDK.md).
 *
 * Protocol (one command per line, "\n" or "\r\n"; one answer line each):
 *   ECHO <text>   ->  <text>
 *   STAT          ->  connections=<served> active=<open> bytes_in=<n> bytes_out=<n>
 *                     uptime_ms=<n>
 *   QUIT          ->  BYE, then the server closes the connection
 *   anything else ->  ERR unknown command
 * A line longer than max_line gets "ERR line too long" and the connection is closed.
 *
 * Configuration (group "echo" in conf.d/echo.conf):
 *   echo: { enabled = true; bind = "127.0.0.1:7007"; max_line = 1024; };
 *
 * What it shows: the descriptor and ops (CFS_MODULE_HEADER), directives with defaults,
 * an immutable per-generation config, a listener owned by the core, bufferevents on the
 * worker loop that accepted the connection, metrics, a health check, reload in place
 * (connections survive; a changed bind moves the listener), drain and stop.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include <cfs/cfs.h>

#define TAG "echo"
#define MAX_LINE_LIMIT (1 << 20)

struct echo_conf {
    char *bind;       /* "host:port" */
    int64_t max_line; /* longest accepted line, bytes */
};

struct echo;

struct echo_conn {
    struct echo *e;
    cfs_loop *loop;
    struct bufferevent *bev;
    bool quitting;
    struct echo_conn *prev, *next;
};

struct echo {
    const struct cfs_host_api *api;
    pthread_mutex_t lock; /* conns, nconns, conf, listener */
    pthread_cond_t gone;  /* signalled when a connection is freed */
    struct echo_conn *conns;
    int nconns;
    int posts;            /* close_loop_conns posted and not yet run (stop) */
    struct echo_conf *conf; /* the running generation's (owned by the host) */
    cfs_listener *listener;
    atomic_bool accepting;
    atomic_int_fast64_t max_line;
    atomic_uint_fast64_t served, bytes_in, bytes_out;
    uint64_t started_ms;
    /* metrics (NULL when the registry refused them: the module works without) */
    cfs_series *m_echo, *m_stat, *m_quit, *m_err, *m_active, *m_in, *m_out;
};

static const struct cfs_directive echo_directives[] = {
    { "bind", CFS_CONF_STRING, "127.0.0.1:7007", offsetof(struct echo_conf, bind), NULL,
      "address of the echo listener (host:port, :port, [v6]:port)", NULL },
    { "max_line", CFS_CONF_INT, "1024", offsetof(struct echo_conf, max_line), NULL,
      "longest command line accepted, in bytes", NULL },
    CFS_DIRECTIVES_END,
};

/* ---- metrics ------------------------------------------------------------------- */

static void count(struct echo *e, cfs_series *s, double v)
{
    if (s != NULL)
        e->api->counter_add(s, v);
}

static void register_metrics(struct echo *e)
{
    static const char *const cmd_labels[] = { "command", NULL };
    static const char *const dir_labels[] = { "direction", NULL };
    const struct cfs_metric_desc cmds = {
        .size = sizeof(cmds), .type = CFS_METRIC_COUNTER, .name = "cfs_echo_commands_total",
        .help = "Commands served by mod_echo.", .labels = cmd_labels,
    };
    const struct cfs_metric_desc active = {
        .size = sizeof(active), .type = CFS_METRIC_GAUGE, .name = "cfs_echo_connections",
        .help = "Open mod_echo connections.",
    };
    const struct cfs_metric_desc bytes = {
        .size = sizeof(bytes), .type = CFS_METRIC_COUNTER, .name = "cfs_echo_bytes_total",
        .help = "Bytes received and sent by mod_echo.", .labels = dir_labels,
    };
    cfs_metric *m;

    if ((m = e->api->metric_register(&cmds)) != NULL) {
        e->m_echo = e->api->metric_series(m, (const char *const[]){ "echo" });
        e->m_stat = e->api->metric_series(m, (const char *const[]){ "stat" });
        e->m_quit = e->api->metric_series(m, (const char *const[]){ "quit" });
        e->m_err = e->api->metric_series(m, (const char *const[]){ "error" });
    }
    if ((m = e->api->metric_register(&active)) != NULL)
        e->m_active = e->api->metric_series(m, NULL);
    if ((m = e->api->metric_register(&bytes)) != NULL) {
        e->m_in = e->api->metric_series(m, (const char *const[]){ "in" });
        e->m_out = e->api->metric_series(m, (const char *const[]){ "out" });
    }
}

/* ---- connections (each on the loop that accepted it) --------------------------- */

static void conn_free(struct echo_conn *c)
{
    struct echo *e = c->e;

    pthread_mutex_lock(&e->lock);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        e->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    e->nconns--;
    if (e->m_active != NULL)
        e->api->gauge_set(e->m_active, e->nconns);
    pthread_cond_broadcast(&e->gone);
    pthread_mutex_unlock(&e->lock);
    bufferevent_free(c->bev); /* closes the fd */
    if (CFS_HOST_HAS(e->api, conn_closed))
        e->api->conn_closed(TAG);
    free(c);
}

static void reply(struct echo_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void reply(struct echo_conn *c, const char *fmt, ...)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    size_t before = evbuffer_get_length(out);
    va_list ap;

    va_start(ap, fmt);
    evbuffer_add_vprintf(out, fmt, ap);
    va_end(ap);
    evbuffer_add(out, "\n", 1);
    atomic_fetch_add(&c->e->bytes_out, evbuffer_get_length(out) - before);
    count(c->e, c->e->m_out, (double)(evbuffer_get_length(out) - before));
}

static void command(struct echo_conn *c, const char *line, size_t len)
{
    struct echo *e = c->e;

    if (len >= 4 && memcmp(line, "ECHO", 4) == 0 && (len == 4 || line[4] == ' ')) {
        const char *text = len > 5 ? line + 5 : "";
        size_t tlen = len > 5 ? len - 5 : 0;
        reply(c, "%.*s", (int)tlen, text);
        count(e, e->m_echo, 1);
    } else if (len == 4 && memcmp(line, "STAT", 4) == 0) {
        int active;

        pthread_mutex_lock(&e->lock);
        active = e->nconns;
        pthread_mutex_unlock(&e->lock);
        reply(c, "connections=%" PRIuFAST64 " active=%d bytes_in=%" PRIuFAST64
              " bytes_out=%" PRIuFAST64 " uptime_ms=%" PRIu64,
              atomic_load(&e->served), active, atomic_load(&e->bytes_in),
              atomic_load(&e->bytes_out), e->api->now_ms() - e->started_ms);
        count(e, e->m_stat, 1);
    } else if (len == 4 && memcmp(line, "QUIT", 4) == 0) {
        reply(c, "BYE");
        count(e, e->m_quit, 1);
        c->quitting = true;
    } else {
        reply(c, "ERR unknown command");
        count(e, e->m_err, 1);
    }
}

static void count_in(struct echo_conn *c, size_t n)
{
    atomic_fetch_add(&c->e->bytes_in, n);
    count(c->e, c->e->m_in, (double)n);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct echo_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t max = (size_t)atomic_load(&c->e->max_line);
    size_t avail, len;
    char *line;

    while (!c->quitting) {
        avail = evbuffer_get_length(in);
        line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
        if (line == NULL)
            break;
        count_in(c, avail - evbuffer_get_length(in)); /* the line and its end */
        if (len > max) {
            free(line);
            goto too_long;
        }
        command(c, line, len);
        free(line);
    }
    if (c->quitting || evbuffer_get_length(in) <= max)
        goto out;
    /* no end of line within max_line bytes */
    count_in(c, evbuffer_get_length(in));
    evbuffer_drain(in, evbuffer_get_length(in));
too_long:
    reply(c, "ERR line too long");
    count(c->e, c->e->m_err, 1);
    c->quitting = true;
out:
    if (c->quitting) {
        bufferevent_disable(bev, EV_READ);
        if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
            conn_free(c);
    }
}

static void on_write(struct bufferevent *bev, void *arg)
{
    struct echo_conn *c = arg;

    if (c->quitting) /* BYE or the error line is out: close */
        conn_free(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
        conn_free(arg);
}

static void on_accept(cfs_loop *loop, int fd, const struct sockaddr *peer, socklen_t peerlen,
                      void *arg)
{
    struct echo *e = arg;
    struct echo_conn *c;

    if (!atomic_load(&e->accepting) || (c = calloc(1, sizeof(*c))) == NULL) {
        close(fd);
        return;
    }
    c->e = e;
    c->loop = loop;
    c->bev = bufferevent_socket_new(e->api->loop_base(loop), fd, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        e->api->log(CFS_LOG_WARN, TAG, "cannot set up a connection: out of memory");
        close(fd);
        free(c);
        return;
    }
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    pthread_mutex_lock(&e->lock);
    c->next = e->conns;
    if (e->conns != NULL)
        e->conns->prev = c;
    e->conns = c;
    e->nconns++;
    if (e->m_active != NULL)
        e->api->gauge_set(e->m_active, e->nconns);
    pthread_mutex_unlock(&e->lock);
    atomic_fetch_add(&e->served, 1);
    if (CFS_HOST_HAS(e->api, conn_opened))
        e->api->conn_opened(TAG);
}

/* On one loop: close the connections that live there (stop). */
static void close_loop_conns(void *arg)
{
    struct echo *e = arg;
    cfs_loop *self = e->api->loop_current();
    struct echo_conn *c, *next;

    pthread_mutex_lock(&e->lock);
    for (c = e->conns; c != NULL; c = next) {
        next = c->next;
        if (c->loop != self && self != NULL)
            continue;
        pthread_mutex_unlock(&e->lock);
        conn_free(c); /* takes the lock; the list may change meanwhile: restart */
        pthread_mutex_lock(&e->lock);
        next = e->conns;
    }
    pthread_mutex_unlock(&e->lock);
}

/* Posted to each loop by stop: close its connections, then tell stop this loop is done. */
static void close_loop_conns_posted(void *arg)
{
    struct echo *e = arg;

    close_loop_conns(e);
    pthread_mutex_lock(&e->lock);
    e->posts--;
    pthread_cond_broadcast(&e->gone);
    pthread_mutex_unlock(&e->lock);
}

/* ---- health -------------------------------------------------------------------- */

static int echo_health(void *state, char *detail, size_t len)
{
    struct echo *e = state;
    int port = -1, n;

    pthread_mutex_lock(&e->lock);
    if (e->listener != NULL)
        port = e->api->listener_port(e->listener);
    n = e->nconns;
    pthread_mutex_unlock(&e->lock);
    if (port < 0) {
        snprintf(detail, len, "not listening");
        return CFS_HEALTH_DEGRADED;
    }
    snprintf(detail, len, "listening on port %d, %d connections", port, n);
    return CFS_HEALTH_OK;
}

/* ---- lifecycle ----------------------------------------------------------------- */

static int echo_init(const struct cfs_host_api *api, void **state)
{
    struct echo *e = calloc(1, sizeof(*e));

    if (e == NULL)
        return CFS_ENOMEM;
    e->api = api;
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->gone, NULL);
    atomic_init(&e->max_line, 1024);
    register_metrics(e);
    *state = e;
    return 0;
}

static void echo_conf_free(void *state, void *conf)
{
    struct echo *e = state;

    if (conf == NULL)
        return;
    e->api->conf_free(echo_directives, conf);
    free(conf);
}

static int echo_configure(void *state, const struct cfs_conf_node *section, void **out,
                          char *err, size_t errlen)
{
    struct echo *e = state;
    struct echo_conf *c = calloc(1, sizeof(*c));
    int rc;

    if (c == NULL)
        return CFS_ENOMEM;
    rc = e->api->conf_apply(section, echo_directives, c, err, errlen);
    if (rc != 0)
        goto out;
    if (c->max_line < 1 || c->max_line > MAX_LINE_LIMIT) {
        const struct cfs_conf_node *n =
            section ? e->api->conf_member(section, "max_line") : NULL;
        snprintf(err, errlen, "%s:%d: max_line: expected 1..%d, found %" PRId64,
                 n ? e->api->conf_file(n) : "(default)", n ? e->api->conf_line(n) : 0,
                 MAX_LINE_LIMIT, c->max_line);
        rc = CFS_EINVAL;
        goto out;
    }
    if (c->bind == NULL || c->bind[0] == '\0') {
        snprintf(err, errlen, "bind: expected host:port, found an empty string");
        rc = CFS_EINVAL;
        goto out;
    }
    *out = c;
out:
    if (rc != 0)
        echo_conf_free(e, c);
    return rc;
}

static cfs_listener *open_listener(struct echo *e, const char *bind)
{
    char err[256] = "";
    cfs_listener *l;

    l = e->api->listen(TAG, bind, CFS_LISTEN_TCP, on_accept, e, err, sizeof(err));
    if (l == NULL)
        e->api->log(CFS_LOG_ERROR, TAG, "cannot listen on %s: %s", bind, err);
    else
        e->api->log(CFS_LOG_NOTICE, TAG, "listening on %s (port %d)", bind,
                    e->api->listener_port(l));
    return l;
}

static int echo_start(void *state, void *conf)
{
    struct echo *e = state;
    struct echo_conf *c = conf;
    cfs_listener *l;

    atomic_store(&e->max_line, c->max_line);
    e->started_ms = e->api->now_ms();
    atomic_store(&e->accepting, true);
    l = open_listener(e, c->bind);
    if (l == NULL) {
        atomic_store(&e->accepting, false);
        return -EADDRNOTAVAIL;
    }
    pthread_mutex_lock(&e->lock);
    e->listener = l;
    e->conf = c;
    pthread_mutex_unlock(&e->lock);
    e->api->health_register(TAG, echo_health, e);
    return 0;
}

static int echo_reload(void *state, void *new_conf)
{
    struct echo *e = state;
    struct echo_conf *nc = new_conf, *old;
    cfs_listener *nl = NULL, *ol = NULL;

    pthread_mutex_lock(&e->lock);
    old = e->conf;
    pthread_mutex_unlock(&e->lock);
    if (old == NULL || strcmp(old->bind, nc->bind) != 0) {
        /* A new address: listen there first, so a failure changes nothing. */
        nl = open_listener(e, nc->bind);
        if (nl == NULL)
            return -EADDRNOTAVAIL;
    }
    atomic_store(&e->max_line, nc->max_line);
    pthread_mutex_lock(&e->lock);
    e->conf = nc;
    if (nl != NULL) {
        ol = e->listener;
        e->listener = nl;
    }
    pthread_mutex_unlock(&e->lock);
    if (ol != NULL)
        e->api->listener_close(ol);
    /* the host frees the old configuration once reload returned 0 */
    e->api->log(CFS_LOG_NOTICE, TAG, "reloaded in place (bind %s, max_line %" PRId64 ")",
                nc->bind, nc->max_line);
    return 0;
}

static int echo_drain(void *state, uint64_t deadline_ms)
{
    struct echo *e = state;
    cfs_listener *l;

    /* Nothing is ever in flight beyond one answer line: stop accepting is enough. */
    atomic_store(&e->accepting, false);
    pthread_mutex_lock(&e->lock);
    l = e->listener;
    e->listener = NULL;
    pthread_mutex_unlock(&e->lock);
    if (l != NULL)
        e->api->listener_close(l);
    return 0;
}

static void echo_stop(void *state)
{
    struct echo *e = state;
    struct timespec ts;
    int n;

    echo_drain(e, 0);
    e->api->health_unregister(TAG);
    pthread_mutex_lock(&e->lock);
    e->conf = NULL; /* the host frees it after stop */
    pthread_mutex_unlock(&e->lock);
    /*
     * Close every connection on its own loop, then wait until all are gone and every
     * posted call has run: after stop returns, no code of this module may run.
     */
    n = e->api->loop_count();
    for (int i = 0; i < n; i++) {
        cfs_loop *loop = e->api->loop_get(i);
        bool posted = false;

        if (loop != e->api->loop_current()) {
            pthread_mutex_lock(&e->lock);
            e->posts++;
            pthread_mutex_unlock(&e->lock);
            posted = e->api->loop_post(loop, close_loop_conns_posted, e) == 0;
            if (!posted) {
                pthread_mutex_lock(&e->lock);
                e->posts--;
                pthread_mutex_unlock(&e->lock);
            }
        }
        if (!posted)
            close_loop_conns(e); /* loops not running, or this is the loop itself */
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    pthread_mutex_lock(&e->lock);
    while (e->nconns > 0 || e->posts > 0) {
        if (pthread_cond_timedwait(&e->gone, &e->lock, &ts) != 0)
            break;
    }
    n = e->nconns;
    pthread_mutex_unlock(&e->lock);
    if (n > 0)
        e->api->log(CFS_LOG_WARN, TAG, "%d connections still open at stop", n);
}

static void echo_fini(void *state)
{
    struct echo *e = state;

    /* a loop thread may still be leaving close_loop_conns_posted's unlock */
    pthread_mutex_lock(&e->lock);
    pthread_mutex_unlock(&e->lock);
    pthread_cond_destroy(&e->gone);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

static const struct cfs_module_ops echo_ops = {
    .size = sizeof(struct cfs_module_ops),
    .init = echo_init,
    .configure = echo_configure,
    .conf_free = echo_conf_free,
    .start = echo_start,
    .reload = echo_reload,
    .drain = echo_drain,
    .stop = echo_stop,
    .fini = echo_fini,
    .health = echo_health,
};

CFS_MODULE_EXPORT const struct cfs_module cfs_module = {
    CFS_MODULE_HEADER,
    .name = "echo",
    .version = "1.0.0",
    .description = "example: line-oriented echo/stat protocol",
    .ops = &echo_ops,
    .directives = echo_directives,
};
