/*
 * core/listen.c - listening sockets: bind, accept on the main loop, hand each accepted
 * fd to the next worker loop, and carry fds with unchanged addresses across a reload.
 */
#include <arpa/inet.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"
#include "listen.h"

#define TAG "listen"

struct cfs_listener {
    char *module;
    char *addr;
    enum cfs_listen_kind kind;
    int fd;
    int port;
    struct evconnlistener *evl;
    cfs_accept_fn cb;
    void *arg;
    atomic_int refs;
    atomic_bool closed;
    bool parked;
    struct cfs_listener *next;
};

struct accepted {
    cfs_listener *l;
    int fd;
    struct sockaddr_storage peer;
    socklen_t peerlen;
};

static struct {
    struct event_base *base;
    pthread_mutex_t lock;
    cfs_listener *all;
    bool parking;
} LS = { .lock = PTHREAD_MUTEX_INITIALIZER };

void cfs__listen_init(struct event_base *main_base)
{
    LS.base = main_base;
}

int cfs__parse_hostport(const char *addr, char *host, size_t hostlen, char *port,
                        size_t portlen)
{
    const char *colon;
    size_t hl;

    if (!addr || !*addr)
        return -EINVAL;
    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');
        if (!end || end[1] != ':')
            return -EINVAL;
        hl = (size_t)(end - addr - 1);
        if (hl >= hostlen)
            return -EINVAL;
        memcpy(host, addr + 1, hl);
        host[hl] = '\0';
        colon = end + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon) {
            host[0] = '\0';
            colon = addr - 1; /* "9000" */
        } else {
            hl = (size_t)(colon - addr);
            if (hl >= hostlen)
                return -EINVAL;
            memcpy(host, addr, hl);
            host[hl] = '\0';
        }
    }
    colon++;
    if (!*colon || strlen(colon) >= portlen || strspn(colon, "0123456789") != strlen(colon))
        return -EINVAL;
    if (strtol(colon, NULL, 10) > 65535)
        return -EINVAL;
    snprintf(port, portlen, "%s", colon);
    return 0;
}

static void unref(cfs_listener *l)
{
    if (atomic_fetch_sub(&l->refs, 1) == 1) {
        if (l->fd >= 0)
            close(l->fd);
        free(l->module);
        free(l->addr);
        free(l);
    }
}

static void deliver(void *arg)
{
    struct accepted *a = arg;
    cfs_listener *l = a->l;

    if (atomic_load(&l->closed)) {
        if (l->kind == CFS_LISTEN_TCP)
            close(a->fd);
    } else {
        l->cb(cfs__loop_current(), a->fd,
              a->peerlen ? (struct sockaddr *)&a->peer : NULL, a->peerlen, l->arg);
    }
    unref(l);
    free(a);
}

static void on_accept(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    cfs_listener *l = arg;
    struct accepted *a = calloc(1, sizeof(*a));
    int one = 1;

    if (!a) {
        close(fd);
        return;
    }
    if (sa && sa->sa_family != AF_UNIX)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    evutil_make_socket_nonblocking(fd);
    a->l = l;
    a->fd = fd;
    if (salen > 0 && (size_t)salen <= sizeof(a->peer)) {
        memcpy(&a->peer, sa, (size_t)salen);
        a->peerlen = (socklen_t)salen;
    }
    atomic_fetch_add(&l->refs, 1);
    if (cfs__loop_post(cfs__loop_next(), deliver, a) != 0) {
        close(fd);
        unref(l);
        free(a);
    }
}

static void on_accept_error(struct evconnlistener *evl, void *arg)
{
    cfs_listener *l = arg;
    int e = EVUTIL_SOCKET_ERROR();

    CFS_LOG_W(TAG, "%s: accept on %s: %s", l->module, l->addr, evutil_socket_error_to_string(e));
}

static int bind_socket(const char *addr, enum cfs_listen_kind kind, char *err, size_t errlen)
{
    char host[256], port[16];
    struct addrinfo hints = { 0 }, *res = NULL, *ai;
    int fd = -1, one = 1, rc;

    if (cfs__parse_hostport(addr, host, sizeof(host), port, sizeof(port)) != 0) {
        snprintf(err, errlen, "bad address '%s': expected host:port, :port or [v6]:port", addr);
        return -EINVAL;
    }
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = kind == CFS_LISTEN_UDP ? SOCK_DGRAM : SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(*host ? host : NULL, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "address '%s': %s", addr, gai_strerror(rc));
        return -EINVAL;
    }
    /* Prefer IPv4 for the wildcard so ":port" works where IPv6 is off. */
    for (ai = res; ai; ai = ai->ai_next)
        if (ai->ai_family == AF_INET)
            break;
    if (!ai)
        ai = res;
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket for '%s': %s", addr, strerror(errno));
        rc = -errno;
        goto out;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
        (kind == CFS_LISTEN_TCP && listen(fd, 1024) != 0)) {
        rc = -errno;
        snprintf(err, errlen, "bind %s: %s", addr, strerror(errno));
        close(fd);
        fd = -1;
        goto out;
    }
    rc = fd;
out:
    freeaddrinfo(res);
    return rc;
}

static int bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

static int activate(cfs_listener *l, char *err, size_t errlen)
{
    if (l->kind == CFS_LISTEN_TCP) {
        l->evl = evconnlistener_new(LS.base, on_accept, l, LEV_OPT_CLOSE_ON_EXEC, -1, l->fd);
        if (!l->evl) {
            snprintf(err, errlen, "cannot watch %s", l->addr);
            return -ENOMEM;
        }
        evconnlistener_set_error_cb(l->evl, on_accept_error);
        return 0;
    }
    /* UDP: the module reads the socket itself, on loop 0. */
    struct accepted *a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    a->l = l;
    a->fd = l->fd;
    atomic_fetch_add(&l->refs, 1);
    if (cfs__loop_post(cfs__loop_get(0), deliver, a) != 0) {
        unref(l);
        free(a);
        snprintf(err, errlen, "no loop for %s", l->addr);
        return -ESHUTDOWN;
    }
    return 0;
}

cfs_listener *cfs__listen(const char *module, const char *addr, enum cfs_listen_kind kind,
                          cfs_accept_fn cb, void *arg, char *err, size_t errlen)
{
    cfs_listener *l;
    char dummy[8];

    if (!err) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    if (!module || !addr || !cb || (kind != CFS_LISTEN_TCP && kind != CFS_LISTEN_UDP)) {
        snprintf(err, errlen, "bad listen arguments");
        return NULL;
    }
    pthread_mutex_lock(&LS.lock);
    /* A parked listener with the same address and kind: take its fd back. */
    for (l = LS.all; l; l = l->next) {
        if (l->parked && l->kind == kind && strcmp(l->addr, addr) == 0) {
            l->parked = false;
            atomic_store(&l->closed, false);
            free(l->module);
            l->module = strdup(module);
            l->cb = cb;
            l->arg = arg;
            pthread_mutex_unlock(&LS.lock);
            if (activate(l, err, errlen) != 0) {
                cfs__listener_close(l);
                return NULL;
            }
            CFS_LOG_N(TAG, "%s: %s kept across reload (fd %d)", module, addr, l->fd);
            return l;
        }
    }
    pthread_mutex_unlock(&LS.lock);

    int fd = bind_socket(addr, kind, err, errlen);
    if (fd < 0) {
        CFS_LOG_E(TAG, "%s: %s", module, err);
        return NULL;
    }
    l = calloc(1, sizeof(*l));
    if (!l || !(l->module = strdup(module)) || !(l->addr = strdup(addr))) {
        close(fd);
        if (l) {
            free(l->module);
            free(l);
        }
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->kind = kind;
    l->fd = fd;
    l->port = bound_port(fd);
    l->cb = cb;
    l->arg = arg;
    atomic_init(&l->refs, 1);
    if (activate(l, err, errlen) != 0) {
        unref(l);
        return NULL;
    }
    pthread_mutex_lock(&LS.lock);
    l->next = LS.all;
    LS.all = l;
    pthread_mutex_unlock(&LS.lock);
    CFS_LOG_N(TAG, "%s: listening on %s (%s port %d)", module, addr,
              kind == CFS_LISTEN_UDP ? "udp" : "tcp", l->port);
    return l;
}

static void unlink_listener(cfs_listener *l)
{
    for (cfs_listener **pp = &LS.all; *pp; pp = &(*pp)->next) {
        if (*pp == l) {
            *pp = l->next;
            return;
        }
    }
}

void cfs__listener_close(cfs_listener *l)
{
    if (!l)
        return;
    atomic_store(&l->closed, true);
    if (l->evl) {
        evconnlistener_free(l->evl); /* the fd stays open: it is ours */
        l->evl = NULL;
    }
    pthread_mutex_lock(&LS.lock);
    if (LS.parking) {
        l->parked = true;
        pthread_mutex_unlock(&LS.lock);
        return;
    }
    unlink_listener(l);
    pthread_mutex_unlock(&LS.lock);
    unref(l);
}

int cfs__listener_port(cfs_listener *l)
{
    return l ? l->port : -1;
}

void cfs__listen_park_begin(void)
{
    pthread_mutex_lock(&LS.lock);
    LS.parking = true;
    pthread_mutex_unlock(&LS.lock);
}

void cfs__listen_park_end(void)
{
    cfs_listener *gone = NULL;

    pthread_mutex_lock(&LS.lock);
    LS.parking = false;
    for (cfs_listener **pp = &LS.all; *pp;) {
        cfs_listener *l = *pp;
        if (l->parked) {
            *pp = l->next;
            l->next = gone;
            gone = l;
        } else {
            pp = &l->next;
        }
    }
    pthread_mutex_unlock(&LS.lock);
    while (gone) {
        cfs_listener *next = gone->next;
        CFS_LOG_N(TAG, "%s: %s closed", gone->module, gone->addr);
        unref(gone);
        gone = next;
    }
}

void cfs__listen_close_all(void)
{
    pthread_mutex_lock(&LS.lock);
    cfs_listener *all = LS.all;
    LS.all = NULL;
    LS.parking = false;
    pthread_mutex_unlock(&LS.lock);
    while (all) {
        cfs_listener *next = all->next;
        atomic_store(&all->closed, true);
        if (all->evl)
            evconnlistener_free(all->evl);
        all->evl = NULL;
        unref(all);
        all = next;
    }
}
