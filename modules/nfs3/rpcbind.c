/*
 * modules/nfs3/rpcbind.c - best-effort registration of NFS and MOUNT with a local
 * rpcbind/portmapper (PMAP v2 SET/UNSET on 127.0.0.1:111 over TCP). Clients that give
 * explicit ports work without it; when no rpcbind answers within a short timeout we
 * log once at debug level and go on. Runs from start/stop (not on a loop thread).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "nfs3_srv.h"

#define PMAP_VERS 2u
#define PMAPPROC_SET 1u
#define PMAPPROC_UNSET 2u
#define IPPROTO_TCP_NUM 6u
#define IPPROTO_UDP_NUM 17u
#define RPCBIND_TIMEOUT_MS 300

static int wait_fd(int fd, short ev)
{
    struct pollfd p = {.fd = fd, .events = ev};
    int n = poll(&p, 1, RPCBIND_TIMEOUT_MS);

    if (n <= 0)
        return n == 0 ? -ETIMEDOUT : -errno;
    return (p.revents & (POLLERR | POLLHUP)) && !(p.revents & ev) ? -ECONNRESET : 0;
}

static int connect_local(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(PMAP_PORT)};
    int fd, err = 0;
    socklen_t el = sizeof(err);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS)
        goto fail;
    if (wait_fd(fd, POLLOUT) < 0)
        goto fail;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err != 0)
        goto fail;
    return fd;
fail:
    close(fd);
    return -ECONNREFUSED;
}

/* One PMAP call on fd; returns the bool result (1/0) or a negative error. */
static int pmap_call(int fd, uint32_t xid, uint32_t proc, uint32_t prog, uint32_t vers,
                     uint32_t prot, uint32_t port)
{
    uint8_t buf[256], in[256];
    struct cfs_xdr x;
    struct cfs_rpc_reply rep;
    size_t have = 0, need = 0;
    ssize_t n;
    uint32_t res = 0;

    cfs_xdr_enc_init(&x, buf, sizeof(buf));
    cfs_xdr_enc_u32(&x, 0); /* record mark */
    cfs_rpc_enc_call(&x, xid, PMAP_PROG, PMAP_VERS, proc, NULL);
    cfs_xdr_enc_u32(&x, prog);
    cfs_xdr_enc_u32(&x, vers);
    cfs_xdr_enc_u32(&x, prot);
    cfs_xdr_enc_u32(&x, port);
    if (x.err)
        return x.err;
    cfs_rpc_rm_mark(buf, (uint32_t)(x.pos - 4));
    if (send(fd, buf, x.pos, MSG_NOSIGNAL) != (ssize_t)x.pos)
        return -EIO;
    for (;;) {
        if (wait_fd(fd, POLLIN) < 0)
            return -ETIMEDOUT;
        n = recv(fd, in + have, sizeof(in) - have, 0);
        if (n <= 0)
            return -EIO;
        have += (size_t)n;
        if (have >= 4 && need == 0)
            need = 4 + (cfs_xdr_get_be32(in) & CFS_RPC_RM_LEN);
        if (need > sizeof(in))
            return -EMSGSIZE;
        if (need && have >= need)
            break;
    }
    if (cfs_rpc_decode_reply(in + 4, need - 4, &rep) < 0 || rep.xid != xid ||
        rep.reply_stat != CFS_RPC_MSG_ACCEPTED || rep.accept_stat != CFS_RPC_SUCCESS)
        return -EPROTO;
    cfs_xdr_dec_init(&x, rep.results, rep.results_len);
    if (cfs_xdr_dec_u32(&x, &res))
        return -EPROTO;
    return res ? 1 : 0;
}

void nfs3_rpcbind_register(struct nfs3_srv *s, bool set)
{
    const struct nfs3_conf *cf = nfs3_conf_get(s);
    struct {
        uint32_t prog, vers, prot;
        int port;
    } maps[8];
    int nmaps = 0, fd, ok = 0;
    uint32_t xid = (uint32_t)getpid() << 8;

    if (!cf->rpcbind || (!set && !s->registered))
        return;
    fd = connect_local();
    if (fd < 0) {
        if (s->api->log_enabled && s->api->log_enabled(CFS_LOG_DEBUG))
            s->api->log(CFS_LOG_DEBUG, NFS3_TAG, "no rpcbind on 127.0.0.1:111: not registered");
        return;
    }
    if (s->nfs_port > 0) {
        maps[nmaps++] = (typeof(maps[0])){NFS3_PROG, NFS3_VERS, IPPROTO_TCP_NUM, s->nfs_port};
        maps[nmaps++] = (typeof(maps[0])){MNT3_PROG, MNT3_VERS, IPPROTO_TCP_NUM,
                                          s->mnt_port > 0 ? s->mnt_port : s->nfs_port};
        if (cf->nlm) {
            maps[nmaps++] = (typeof(maps[0])){NLM_PROG, NLM4_VERS, IPPROTO_TCP_NUM, s->nfs_port};
            maps[nmaps++] = (typeof(maps[0])){NSM_PROG, NSM_VERS, IPPROTO_TCP_NUM, s->nfs_port};
        }
        if (cf->udp) {
            maps[nmaps++] = (typeof(maps[0])){NFS3_PROG, NFS3_VERS, IPPROTO_UDP_NUM,
                                              s->nfs_port};
            maps[nmaps++] = (typeof(maps[0])){MNT3_PROG, MNT3_VERS, IPPROTO_UDP_NUM,
                                              s->mnt_port > 0 ? s->mnt_port : s->nfs_port};
        }
    }
    for (int i = 0; i < nmaps; i++) {
        /* SET fails when a mapping exists: clear ours first. */
        if (pmap_call(fd, xid++, PMAPPROC_UNSET, maps[i].prog, maps[i].vers, maps[i].prot,
                      0) < 0)
            break;
        if (set && pmap_call(fd, xid++, PMAPPROC_SET, maps[i].prog, maps[i].vers,
                             maps[i].prot, (uint32_t)maps[i].port) == 1)
            ok++;
    }
    close(fd);
    s->registered = set && ok > 0;
    if (set && s->api->log)
        s->api->log(CFS_LOG_INFO, NFS3_TAG, "rpcbind: %d of %d mappings registered", ok,
                    nmaps);
}
