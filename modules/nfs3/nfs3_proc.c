/*
 * modules/nfs3/nfs3_proc.c - the 22 NFSv3 procedures (RFC 1813) over the namespace:
 * resolve the export from the handle, apply its client rules, secure-port option and
 * squash, send one asynchronous VFS op, then encode the result (wcc data, post-op
 * attributes, statuses through cfs_err_nfs3()). READ data leaves by reference.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "nfs3_srv.h"

#define NFS3_MAXFILESIZE 0x7fffffffffffffffull
#define NFS3_LINK_MAX 65000u

static bool proc_mutates(uint32_t proc)
{
    switch (proc) {
    case NFS3_SETATTR: case NFS3_WRITE: case NFS3_CREATE: case NFS3_MKDIR:
    case NFS3_SYMLINK: case NFS3_MKNOD: case NFS3_REMOVE: case NFS3_RMDIR:
    case NFS3_RENAME: case NFS3_LINK:
        return true;
    default:
        return false;
    }
}

static const struct cfs_export_info *exp_info(struct nfs3_srv *s, cfs_export *exp)
{
    if (exp == NULL || s->vfs->size < offsetof(struct cfs_vfs_api, export_info) +
                                           sizeof(s->vfs->export_info) ||
        s->vfs->export_info == NULL)
        return NULL;
    return s->vfs->export_info(exp);
}

static void put_status(struct nfs3_req *r, uint32_t st)
{
    r->status = st;
    cfs_xdr_enc_u32(&r->out, st);
}

/* The directory's attributes after a create/remove-type op. */
static bool dir_post(const struct cfs_vfs_op *op, const struct cfs_attr **a)
{
    if (op->has_dir_attr) {
        *a = &op->dir_attr;
        return true;
    }
    *a = &op->attr;
    return false;
}

/* ---- encoding a result from the finished op ---- */

static void enc_readdir(struct nfs3_req *r, bool plus)
{
    struct cfs_vfs_op *op = &r->op;
    struct cfs_xdr *x = &r->out;
    size_t start = x->pos, budget = plus ? r->args.maxcount : r->args.count;
    size_t dirbytes = 0;
    size_t n = 0;
    bool all = true;

    nfs3_enc_post_attr(x, op->has_attr, &op->attr);
    cfs_xdr_enc_fixed(x, op->verf, CFS_VERF_SIZE);
    for (size_t i = 0; i < op->nentries; i++) {
        const struct cfs_dirent *e = &op->entries[i];
        size_t nl = e->name ? strlen(e->name) : 0;
        size_t esz = 4 + 8 + 4 + CFS_XDR_ROUNDUP(nl) + 8;
        size_t dsz = 8 + 4 + CFS_XDR_ROUNDUP(nl) + 8;

        if (nl == 0 || nl > NFS3_NAME_MAX)
            continue;
        if (plus)
            esz += 4 + (e->has_attr ? NFS3_FATTR_SIZE : 0) + 4 + 4 +
                   CFS_XDR_ROUNDUP(e->fh.len);
        /* the entry, then the list end and eof (8 bytes) must fit in the budget */
        if ((x->pos - start) + 4 + esz + 8 > budget ||
            (plus && dirbytes + dsz > r->args.dircount && n > 0)) {
            all = false;
            break;
        }
        cfs_xdr_enc_bool(x, true);
        cfs_xdr_enc_u64(x, e->fileid);
        cfs_xdr_enc_string_n(x, e->name, (uint32_t)nl);
        cfs_xdr_enc_u64(x, e->cookie);
        if (plus) {
            nfs3_enc_post_attr(x, e->has_attr, &e->attr);
            nfs3_enc_post_fh(x, e->fh.len > 0, &e->fh);
        }
        dirbytes += dsz;
        n++;
    }
    if (n == 0 && !all) {
        /* not even one entry fits */
        x->pos = start - 4;
        put_status(r, CFS_NFS3ERR_TOOSMALL);
        nfs3_enc_post_attr(x, op->has_attr, &op->attr);
        return;
    }
    cfs_xdr_enc_bool(x, false);
    cfs_xdr_enc_bool(x, all && op->eof);
}

static void encode_result(struct nfs3_req *r)
{
    struct nfs3_srv *s = r->conn->srv;
    const struct nfs3_conf *cf = nfs3_conf_get(s);
    struct cfs_vfs_op *op = &r->op;
    struct cfs_xdr *x = &r->out;
    uint32_t st = op->status ? cfs_err_nfs3(op->status) : CFS_NFS3_OK;
    const struct cfs_attr *dpost;
    bool has_dpost;

    put_status(r, st);
    switch (r->handler) {
    case NFS3_GETATTR:
        if (st == CFS_NFS3_OK)
            nfs3_enc_fattr(x, &op->attr);
        break;
    case NFS3_SETATTR:
        nfs3_enc_wcc(x, op->has_pre, &op->pre, op->has_attr, &op->attr);
        break;
    case NFS3_LOOKUP:
        if (st == CFS_NFS3_OK) {
            nfs3_enc_fh(x, &op->out_fh);
            nfs3_enc_post_attr(x, op->has_attr, &op->attr);
        }
        nfs3_enc_post_attr(x, op->has_dir_attr, &op->dir_attr);
        break;
    case NFS3_ACCESS: {
        uint32_t want = r->args.access, got = 0;
        const struct cfs_export_info *info = exp_info(s, r->exp);

        nfs3_enc_post_attr(x, op->has_attr, &op->attr);
        if (st != CFS_NFS3_OK)
            break;
        if (op->access & R_OK)
            got |= ACCESS3_READ;
        if (op->access & X_OK)
            got |= ACCESS3_LOOKUP | ACCESS3_EXECUTE;
        if ((op->access & W_OK) && !(info && info->read_only))
            got |= ACCESS3_MODIFY | ACCESS3_EXTEND | ACCESS3_DELETE;
        if (op->has_attr && op->attr.type == CFS_FT_DIR)
            got &= ~ACCESS3_EXECUTE;
        else
            got &= ~(ACCESS3_LOOKUP | ACCESS3_DELETE);
        cfs_xdr_enc_u32(x, got & want);
        break;
    }
    case NFS3_READLINK:
        nfs3_enc_post_attr(x, op->has_attr, &op->attr);
        if (st == CFS_NFS3_OK)
            cfs_xdr_enc_string_n(x, r->data, (uint32_t)(op->count < NFS3_PATH_MAX
                                                             ? op->count : NFS3_PATH_MAX));
        free(r->data);
        r->data = NULL;
        break;
    case NFS3_READ:
        nfs3_enc_post_attr(x, op->has_attr, &op->attr);
        if (st != CFS_NFS3_OK) {
            free(r->data);
            r->data = NULL;
            break;
        }
        if (op->count > r->args.count)
            op->count = r->args.count;
        cfs_xdr_enc_u32(x, (uint32_t)op->count);
        cfs_xdr_enc_bool(x, op->eof);
        cfs_xdr_enc_u32(x, (uint32_t)op->count); /* opaque length; bytes follow by reference */
        r->data_len = op->count;
        if (op->fd >= 0) {
            r->data_fd = op->fd; /* the bytes follow from the file */
            op->fd = -1;
        }
        if (r->data_len == 0) {
            free(r->data);
            r->data = NULL;
        }
        if (s->m_rbytes)
            s->api->counter_add(s->m_rbytes, (double)op->count);
        break;
    case NFS3_WRITE:
        nfs3_enc_wcc(x, op->has_pre, &op->pre, op->has_attr, &op->attr);
        if (st == CFS_NFS3_OK) {
            cfs_xdr_enc_u32(x, (uint32_t)op->count);
            cfs_xdr_enc_u32(x, op->committed);
            cfs_xdr_enc_fixed(x, op->verf, CFS_VERF_SIZE);
            if (s->m_wbytes)
                s->api->counter_add(s->m_wbytes, (double)op->count);
        }
        break;
    case NFS3_CREATE: case NFS3_MKDIR: case NFS3_SYMLINK: case NFS3_MKNOD:
        if (st == CFS_NFS3_OK) {
            nfs3_enc_post_fh(x, op->out_fh.len > 0, &op->out_fh);
            nfs3_enc_post_attr(x, op->has_attr, &op->attr);
        }
        nfs3_enc_wcc(x, op->has_pre, &op->pre, op->has_dir_attr, &op->dir_attr);
        break;
    case NFS3_REMOVE: case NFS3_RMDIR:
        has_dpost = dir_post(op, &dpost);
        nfs3_enc_wcc(x, op->has_pre, &op->pre, has_dpost || op->has_attr, dpost);
        break;
    case NFS3_RENAME:
        has_dpost = dir_post(op, &dpost);
        nfs3_enc_wcc(x, op->has_pre, &op->pre, has_dpost || op->has_attr, dpost);
        nfs3_enc_wcc(x, op->has_pre2, &op->pre2, op->has_dir2_attr, &op->dir2_attr);
        break;
    case NFS3_LINK:
        nfs3_enc_post_attr(x, op->has_attr, &op->attr);
        nfs3_enc_wcc(x, op->has_pre2, &op->pre2, op->has_dir2_attr, &op->dir2_attr);
        break;
    case NFS3_READDIR: case NFS3_READDIRPLUS:
        if (st != CFS_NFS3_OK) {
            nfs3_enc_post_attr(x, op->has_attr, &op->attr);
            break;
        }
        enc_readdir(r, r->handler == NFS3_READDIRPLUS);
        break;
    case NFS3_FSSTAT:
        nfs3_enc_post_attr(x, op->has_attr, &op->attr);
        if (st == CFS_NFS3_OK) {
            cfs_xdr_enc_u64(x, op->statfs.tbytes);
            cfs_xdr_enc_u64(x, op->statfs.fbytes);
            cfs_xdr_enc_u64(x, op->statfs.abytes);
            cfs_xdr_enc_u64(x, op->statfs.tfiles);
            cfs_xdr_enc_u64(x, op->statfs.ffiles);
            cfs_xdr_enc_u64(x, op->statfs.afiles);
            cfs_xdr_enc_u32(x, 0); /* invarsec: the values may change at any time */
        }
        break;
    case NFS3_FSINFO:
        nfs3_enc_post_attr(x, op->has_attr, &op->attr);
        if (st == CFS_NFS3_OK) {
            uint32_t io = (uint32_t)cf->max_io;

            cfs_xdr_enc_u32(x, io);     /* rtmax */
            cfs_xdr_enc_u32(x, io);     /* rtpref */
            cfs_xdr_enc_u32(x, 4096);   /* rtmult */
            cfs_xdr_enc_u32(x, io);     /* wtmax */
            cfs_xdr_enc_u32(x, io);     /* wtpref */
            cfs_xdr_enc_u32(x, 4096);   /* wtmult */
            cfs_xdr_enc_u32(x, 65536);  /* dtpref */
            cfs_xdr_enc_u64(x, NFS3_MAXFILESIZE);
            cfs_xdr_enc_u32(x, 0);      /* time_delta: 1 ns */
            cfs_xdr_enc_u32(x, 1);
            cfs_xdr_enc_u32(x, FSF3_LINK | FSF3_SYMLINK | FSF3_HOMOGENEOUS | FSF3_CANSETTIME);
        }
        break;
    case NFS3_PATHCONF:
        nfs3_enc_post_attr(x, op->has_attr, &op->attr);
        if (st == CFS_NFS3_OK) {
            cfs_xdr_enc_u32(x, NFS3_LINK_MAX);
            cfs_xdr_enc_u32(x, op->statfs.namemax ? op->statfs.namemax : NFS3_NAME_MAX);
            cfs_xdr_enc_bool(x, true);  /* no_trunc */
            cfs_xdr_enc_bool(x, true);  /* chown_restricted */
            cfs_xdr_enc_bool(x, false); /* case_insensitive */
            cfs_xdr_enc_bool(x, true);  /* case_preserving */
        }
        break;
    case NFS3_COMMIT:
        nfs3_enc_wcc(x, op->has_pre, &op->pre, op->has_attr, &op->attr);
        if (st == CFS_NFS3_OK)
            cfs_xdr_enc_fixed(x, op->verf, CFS_VERF_SIZE);
        break;
    default:
        break;
    }
}

/* An error answered before any VFS call: the status and the empty result bodies. */
static void fail_early(struct nfs3_req *r, uint32_t st)
{
    struct cfs_xdr *x = &r->out;

    put_status(r, st);
    switch (r->handler) {
    case NFS3_GETATTR:
        break;
    case NFS3_SETATTR: case NFS3_WRITE: case NFS3_CREATE: case NFS3_MKDIR:
    case NFS3_SYMLINK: case NFS3_MKNOD: case NFS3_REMOVE: case NFS3_RMDIR:
    case NFS3_COMMIT:
        nfs3_enc_wcc(x, false, NULL, false, NULL);
        break;
    case NFS3_RENAME:
        nfs3_enc_wcc(x, false, NULL, false, NULL);
        nfs3_enc_wcc(x, false, NULL, false, NULL);
        break;
    case NFS3_LINK:
        nfs3_enc_post_attr(x, false, NULL);
        nfs3_enc_wcc(x, false, NULL, false, NULL);
        break;
    default: /* LOOKUP, ACCESS, READLINK, READ, READDIR*, FSSTAT, FSINFO, PATHCONF */
        nfs3_enc_post_attr(x, false, NULL);
        break;
    }
    nfs3_req_finish(r);
}

static void op_done(struct cfs_vfs_op *op, void *arg)
{
    struct nfs3_req *r = arg;

    (void)op;
    r->op_live = true;
    encode_result(r);
    nfs3_req_finish(r);
}

/* Check a name for a create/lookup-type op: 0 or an nfsstat3. */
static uint32_t check_name(const char *name, bool creating)
{
    size_t n = strlen(name);

    if (n == 0)
        return creating ? CFS_NFS3ERR_INVAL : CFS_NFS3ERR_NOENT;
    if (n > NFS3_NAME_MAX)
        return CFS_NFS3ERR_NAMETOOLONG;
    if (strchr(name, '/') != NULL)
        return creating ? CFS_NFS3ERR_INVAL : CFS_NFS3ERR_NOENT;
    if (creating && (strcmp(name, ".") == 0 || strcmp(name, "..") == 0))
        return CFS_NFS3ERR_EXIST;
    return 0;
}

/*
 * The export of the handle, its client rules, secure ports and squash. Returns 0, an
 * nfsstat3, or UINT32_MAX when the call was answered with an RPC auth error.
 */
static uint32_t admit(struct nfs3_req *r, const struct cfs_fh *fh)
{
    struct nfs3_srv *s = r->conn->srv;
    struct nfs3_conn *c = r->conn;
    const struct cfs_export_info *info;
    const struct sockaddr *peer = nfs3_req_peer(r, NULL);

    if (fh->len == 0)
        return CFS_NFS3ERR_BADHANDLE;
    r->exp = s->vfs->export_from_fh(fh);
    if (r->exp == NULL)
        return CFS_NFS3ERR_STALE;
    info = exp_info(s, r->exp);
    if (info != NULL) {
        bool priv = c->peer_priv;

        if (r->peerlen) {
            const struct sockaddr_in *a = (const struct sockaddr_in *)&r->peer;

            priv = (r->peer.ss_family == AF_INET || r->peer.ss_family == AF_INET6) &&
                   ntohs(a->sin_port) < 1024; /* same offset for sin6_port */
        }
        if (info->secure_ports && !priv) {
            r->out.pos = 4;
            cfs_rpc_enc_auth_error(&r->out, r->call.xid, CFS_RPC_AUTH_TOOWEAK);
            r->status = CFS_NFS3ERR_ACCES;
            nfs3_req_finish(r);
            return UINT32_MAX;
        }
        if (info->clients && !nfs3_client_allowed(info, peer))
            return CFS_NFS3ERR_ACCES;
        if (r->call.cred_flavor != CFS_RPC_AUTH_SYS) {
            r->cred.uid = info->anon_uid;
            r->cred.gid = info->anon_gid;
            r->cred.ngroups = 0;
        }
        if (info->read_only && proc_mutates(r->handler))
            return CFS_NFS3ERR_ROFS;
    }
    if (s->vfs->size >= offsetof(struct cfs_vfs_api, squash) + sizeof(s->vfs->squash) &&
        s->vfs->squash)
        s->vfs->squash(r->exp, &r->cred);
    return 0;
}

static enum cfs_ftype mknod_type(uint32_t t)
{
    switch (t) {
    case NF3CHR: return CFS_FT_CHR;
    case NF3BLK: return CFS_FT_BLK;
    case NF3SOCK: return CFS_FT_SOCK;
    case NF3FIFO: return CFS_FT_FIFO;
    default: return 0;
    }
}

void nfs3_proc_run(struct nfs3_req *r)
{
    struct nfs3_srv *s = r->conn->srv;
    const struct nfs3_conf *cf = nfs3_conf_get(s);
    struct nfs3_args *a = &r->args;
    struct cfs_vfs_op *op = &r->op;
    enum cfs_vfs_opcode code;
    uint32_t st;
    int rc;

    if (r->handler == NFS3_NULL) {
        r->status = 0;
        nfs3_req_finish(r);
        return;
    }
    st = admit(r, &a->fh);
    if (st == UINT32_MAX)
        return;
    if (st) {
        fail_early(r, st);
        return;
    }
    switch (r->handler) {
    case NFS3_GETATTR: code = CFS_VOP_GETATTR; break;
    case NFS3_SETATTR: code = CFS_VOP_SETATTR; break;
    case NFS3_LOOKUP: code = CFS_VOP_LOOKUP; break;
    case NFS3_ACCESS: code = CFS_VOP_ACCESS; break;
    case NFS3_READLINK: code = CFS_VOP_READLINK; break;
    case NFS3_READ: code = CFS_VOP_READ; break;
    case NFS3_WRITE: code = CFS_VOP_WRITE; break;
    case NFS3_CREATE: code = CFS_VOP_CREATE; break;
    case NFS3_MKDIR: code = CFS_VOP_MKDIR; break;
    case NFS3_SYMLINK: code = CFS_VOP_SYMLINK; break;
    case NFS3_MKNOD: code = CFS_VOP_MKNOD; break;
    case NFS3_REMOVE: code = CFS_VOP_UNLINK; break;
    case NFS3_RMDIR: code = CFS_VOP_RMDIR; break;
    case NFS3_RENAME: code = CFS_VOP_RENAME; break;
    case NFS3_LINK: code = CFS_VOP_LINK; break;
    case NFS3_READDIR: case NFS3_READDIRPLUS: code = CFS_VOP_READDIR; break;
    case NFS3_FSSTAT: case NFS3_PATHCONF: code = CFS_VOP_STATFS; break;
    case NFS3_FSINFO: code = CFS_VOP_GETATTR; break;
    case NFS3_COMMIT: code = CFS_VOP_COMMIT; break;
    default:
        fail_early(r, CFS_NFS3ERR_NOTSUPP);
        return;
    }
    cfs_vfs_op_init(op, code, &r->cred, r->exp);
    op->fh = a->fh;
    switch (r->handler) {
    case NFS3_SETATTR:
        op->sattr = a->sattr;
        op->use_guard = a->guard;
        op->guard_ctime = a->guard_ctime;
        break;
    case NFS3_LOOKUP:
        st = check_name(a->name, false);
        op->name = a->name;
        break;
    case NFS3_ACCESS:
        if (a->access & ACCESS3_READ)
            op->access |= R_OK;
        if (a->access & (ACCESS3_LOOKUP | ACCESS3_EXECUTE))
            op->access |= X_OK;
        if (a->access & (ACCESS3_MODIFY | ACCESS3_EXTEND | ACCESS3_DELETE))
            op->access |= W_OK;
        break;
    case NFS3_READLINK:
        r->data = malloc(NFS3_PATH_MAX + 1);
        if (r->data == NULL) {
            st = CFS_NFS3ERR_SERVERFAULT;
            break;
        }
        op->rbuf = r->data;
        op->length = NFS3_PATH_MAX;
        break;
    case NFS3_READ:
        if (a->count > (uint64_t)cf->max_io)
            a->count = (uint32_t)cf->max_io;
        op->offset = a->offset;
        op->length = a->count;
        if (a->count) {
            r->data = malloc(a->count);
            if (r->data == NULL) {
                st = CFS_NFS3ERR_SERVERFAULT;
                break;
            }
        }
        op->rbuf = r->data;
        /* TCP with nfs3.sendfile: the data leaves by sendfile when it is cached. Off
         * by default: on loopback it halves read throughput here (the receiver copies
         * out of page-sized fragments), see docs/PERFORMANCE.md */
        if (r->conn->udp_fd < 0 && cf->sendfile)
            op->flags |= CFS_READ_FD;
        break;
    case NFS3_WRITE:
        op->offset = a->offset;
        op->length = a->count;
        op->wbuf = a->data; /* into the call record: no copy */
        op->stable = (enum cfs_stable)a->stable;
        break;
    case NFS3_CREATE:
        st = check_name(a->name, true);
        op->name = a->name;
        op->how = (enum cfs_createhow)a->how;
        op->sattr = a->sattr;
        memcpy(op->verf_in, a->verf, CFS_VERF_SIZE);
        break;
    case NFS3_MKDIR:
        st = check_name(a->name, true);
        op->name = a->name;
        op->sattr = a->sattr;
        break;
    case NFS3_SYMLINK:
        st = check_name(a->name, true);
        op->name = a->name;
        op->target = a->path;
        op->sattr = a->sattr;
        break;
    case NFS3_MKNOD:
        st = check_name(a->name, true);
        op->name = a->name;
        op->sattr = a->sattr;
        op->ftype = mknod_type(a->ftype);
        op->rdev_major = a->rdev_major;
        op->rdev_minor = a->rdev_minor;
        if (st == 0 && op->ftype == 0)
            st = CFS_NFS3ERR_BADTYPE;
        break;
    case NFS3_REMOVE: case NFS3_RMDIR:
        st = check_name(a->name, false);
        if (st == 0 && (strcmp(a->name, ".") == 0 || strcmp(a->name, "..") == 0))
            st = r->handler == NFS3_RMDIR ? CFS_NFS3ERR_INVAL : CFS_NFS3ERR_ACCES;
        op->name = a->name;
        break;
    case NFS3_RENAME: case NFS3_LINK:
        if (r->handler == NFS3_RENAME) {
            st = check_name(a->name, false);
            op->name = a->name;
        }
        if (st == 0)
            st = check_name(a->name2, true);
        op->fh2 = a->fh2;
        op->name2 = a->name2;
        if (st == 0 && s->vfs->export_from_fh(&a->fh2) != r->exp)
            st = CFS_NFS3ERR_XDEV;
        break;
    case NFS3_READDIR: case NFS3_READDIRPLUS: {
        bool plus = r->handler == NFS3_READDIRPLUS;
        uint32_t budget = plus ? a->maxcount : a->count;
        /* entries the reply can hold: ~144 bytes with attributes and handle, ~24 without */
        uint64_t max = plus ? budget / 144u + 1 : budget / 24u + 1;

        if (budget > (uint32_t)cf->max_io) {
            if (plus)
                a->maxcount = (uint32_t)cf->max_io;
            else
                a->count = (uint32_t)cf->max_io;
        }
        if (max > 4096)
            max = 4096;
        op->cookie = a->cookie;
        memcpy(op->cookieverf, a->verf, CFS_VERF_SIZE);
        op->length = max;
        op->plus = plus;
        break;
    }
    case NFS3_COMMIT:
        op->offset = a->offset;
        op->length = a->count;
        break;
    default:
        break;
    }
    if (st) {
        fail_early(r, st);
        return;
    }
    rc = s->vfs->submit(r->conn->loop, op, op_done, r);
    if (rc < 0) {
        op->status = rc;
        encode_result(r);
        nfs3_req_finish(r);
    }
}
