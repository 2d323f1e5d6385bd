/*
 * tests/reload/rltest.c - a test module that records every lifecycle call in a trace
 * file and serves a tiny line protocol, for the reload state-transition tests
 * (tests/unit/test_reload.c) and the reload-with-clients test
 * (tests/integration/test_reload.sh).
 *
 * Directives: value (int), trace (file), fail_configure (bool), reload_mode
 * ("inplace" | "restart" | "fail"), bind (address; "" = no listener).
 * Protocol: "GET\n" -> "<value>\n"; connections stay open across in-place reloads.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cfs/cfs.h>

#ifndef RL_NAME
#define RL_NAME "rltest"
#endif

struct rl_conf {
    int64_t value;
    char *trace;
    bool fail_configure;
    char *reload_mode;
    char *bind;
};

static const struct cfs_directive rl_directives[] = {
    { "value", CFS_CONF_INT, "0", offsetof(struct rl_conf, value), NULL, "value served", NULL },
    { "trace", CFS_CONF_STRING, "", offsetof(struct rl_conf, trace), NULL, "trace file", NULL },
    { "fail_configure", CFS_CONF_BOOL, "false", offsetof(struct rl_conf, fail_configure), NULL, NULL, NULL },
    { "reload_mode", CFS_CONF_STRING, "inplace", offsetof(struct rl_conf, reload_mode), NULL, NULL, NULL },
    { "bind", CFS_CONF_STRING, "", offsetof(struct rl_conf, bind), NULL, "listen address", NULL },
    CFS_DIRECTIVES_END
};

struct rl_state;
struct rl_conn {
    struct rl_conn *next, *prev;
    struct bufferevent *bev;
    cfs_loop *loop;
    struct rl_state *s;
};

struct rl_state {
    const struct cfs_host_api *api;
    pthread_mutex_t lock;
    struct rl_conn conns;   /* list head: every open connection */
    pthread_cond_t cond;
    int pending;            /* loops still closing connections at stop */
    struct rl_conf *conf; /* current */
    cfs_listener *l;
    char trace[512];
};

static void trace(struct rl_state *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void trace(struct rl_state *s, const char *fmt, ...)
{
    va_list ap;
    FILE *f;

    if (!s->trace[0] || !(f = fopen(s->trace, "a")))
        return;
    fprintf(f, "%s ", RL_NAME);
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fclose(f);
}

static int rl_init(const struct cfs_host_api *api, void **state)
{
    struct rl_state *s = calloc(1, sizeof(*s));

    if (!s)
        return CFS_ENOMEM;
    s->api = api;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    s->conns.next = s->conns.prev = &s->conns;
    *state = s;
    return 0;
}

static int rl_configure(void *state, const struct cfs_conf_node *sec, void **out, char *err,
                        size_t errlen)
{
    struct rl_state *s = state;
    struct rl_conf *c = calloc(1, sizeof(*c));
    int rc;

    if (!c)
        return CFS_ENOMEM;
    rc = s->api->conf_apply(sec, rl_directives, c, err, errlen);
    if (rc == 0 && c->trace[0])
        snprintf(s->trace, sizeof(s->trace), "%s", c->trace);
    trace(s, "configure %lld", (long long)c->value);
    if (rc == 0 && c->fail_configure) {
        snprintf(err, errlen, "fail_configure is set");
        rc = CFS_EINVAL;
    }
    if (rc != 0) {
        s->api->conf_free(rl_directives, c);
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

static void rl_conf_free(void *state, void *conf)
{
    struct rl_state *s = state;
    struct rl_conf *c = conf;

    trace(s, "conf_free %lld", (long long)c->value);
    s->api->conf_free(rl_directives, c);
    free(c);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct rl_conn *c = arg;
    struct rl_state *s = c->s;
    struct evbuffer *in = bufferevent_get_input(bev);
    char *line;

    while ((line = evbuffer_readln(in, NULL, EVBUFFER_EOL_LF)) != NULL) {
        if (strcmp(line, "GET") == 0)
            evbuffer_add_printf(bufferevent_get_output(bev), "%lld\n",
                                (long long)(s->conf ? s->conf->value : -1));
        else
            evbuffer_add_printf(bufferevent_get_output(bev), "ERR\n");
        free(line);
    }
}

static void conn_close(struct rl_conn *c)
{
    struct rl_state *s = c->s;

    pthread_mutex_lock(&s->lock);
    c->prev->next = c->next;
    c->next->prev = c->prev;
    pthread_mutex_unlock(&s->lock);
    bufferevent_free(c->bev);
    s->api->conn_closed(RL_NAME);
    free(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        conn_close(arg);
}

static void on_accept(cfs_loop *loop, int fd, const struct sockaddr *peer, socklen_t len,
                      void *arg)
{
    struct rl_state *s = arg;
    struct rl_conn *c = calloc(1, sizeof(*c));

    if (!c || !(c->bev = bufferevent_socket_new(s->api->loop_base(loop), fd,
                                                BEV_OPT_CLOSE_ON_FREE))) {
        free(c);
        close(fd);
        return;
    }
    c->loop = loop;
    c->s = s;
    pthread_mutex_lock(&s->lock);
    c->next = s->conns.next;
    c->prev = &s->conns;
    s->conns.next->prev = c;
    s->conns.next = c;
    pthread_mutex_unlock(&s->lock);
    s->api->conn_opened(RL_NAME);
    bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
    bufferevent_enable(c->bev, EV_READ);
}

/* On one loop: close the connections living there; the last loop wakes stop(). */
static void close_on_loop(void *arg)
{
    struct rl_state *s = arg;
    cfs_loop *me = s->api->loop_current();

    for (;;) {
        struct rl_conn *c, *found = NULL;
        pthread_mutex_lock(&s->lock);
        for (c = s->conns.next; c != &s->conns; c = c->next)
            if (c->loop == me) {
                found = c;
                break;
            }
        pthread_mutex_unlock(&s->lock);
        if (!found)
            break;
        conn_close(found);
    }
    pthread_mutex_lock(&s->lock);
    if (--s->pending == 0)
        pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static void close_all(struct rl_state *s)
{
    int n = s->api->loop_count();

    pthread_mutex_lock(&s->lock);
    s->pending = n;
    pthread_mutex_unlock(&s->lock);
    for (int i = 0; i < n; i++)
        if (s->api->loop_post(s->api->loop_get(i), close_on_loop, s) != 0) {
            pthread_mutex_lock(&s->lock);
            s->pending--;
            pthread_mutex_unlock(&s->lock);
        }
    pthread_mutex_lock(&s->lock);
    while (s->pending > 0)
        pthread_cond_wait(&s->cond, &s->lock);
    pthread_mutex_unlock(&s->lock);
}

static int open_listener(struct rl_state *s, struct rl_conf *c)
{
    char err[256];

    if (!c->bind[0])
        return 0;
    s->l = s->api->listen(RL_NAME, c->bind, CFS_LISTEN_TCP, on_accept, s, err, sizeof(err));
    return s->l ? 0 : CFS_EINVAL;
}

static int rl_start(void *state, void *conf)
{
    struct rl_state *s = state;
    struct rl_conf *c = conf;

    trace(s, "start %lld", (long long)c->value);
    s->conf = c;
    return open_listener(s, c);
}

static int rl_reload(void *state, void *conf)
{
    struct rl_state *s = state;
    struct rl_conf *c = conf;

    if (strcmp(c->reload_mode, "restart") == 0) {
        trace(s, "reload %lld -> restart", (long long)c->value);
        return CFS_ENOTSUP;
    }
    if (strcmp(c->reload_mode, "fail") == 0) {
        trace(s, "reload %lld -> fail", (long long)c->value);
        return CFS_EINVAL;
    }
    trace(s, "reload %lld", (long long)c->value);
    if (strcmp(c->bind, s->conf->bind) != 0) {
        s->api->listener_close(s->l);
        s->l = NULL;
        if (open_listener(s, c) != 0)
            return CFS_EINVAL;
    }
    s->conf = c;
    return 0;
}

static int rl_drain(void *state, uint64_t deadline)
{
    struct rl_state *s = state;

    trace(s, "drain");
    s->api->listener_close(s->l);
    s->l = NULL;
    return 0;
}

static void rl_stop(void *state)
{
    struct rl_state *s = state;

    trace(s, "stop");
    s->api->listener_close(s->l);
    s->l = NULL;
    s->conf = NULL;
    close_all(s); /* no callback of ours may run after stop */
}

static void rl_fini(void *state)
{
    struct rl_state *s = state;

    trace(s, "fini");
    free(s);
}

static const struct cfs_module_ops rl_ops = {
    .size = sizeof(struct cfs_module_ops),
    .init = rl_init,
    .configure = rl_configure,
    .conf_free = rl_conf_free,
    .start = rl_start,
    .reload = rl_reload,
    .drain = rl_drain,
    .stop = rl_stop,
    .fini = rl_fini,
};

CFS_MODULE_EXPORT const struct cfs_module cfs_module = {
    CFS_MODULE_HEADER,
    .name = RL_NAME,
    .version = "1.0",
    .description = "reload test module",
    .ops = &rl_ops,
    .directives = rl_directives,
};
