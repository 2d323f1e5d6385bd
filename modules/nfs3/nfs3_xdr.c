/*
 * modules/nfs3/nfs3_xdr.c - NFSv3 (RFC 1813) and MOUNTv3 argument decoders and the
 * attribute encoders. Pure XDR over cfs/xdr.h: no libevent, no VFS calls, so the fuzz
 * target (tests/fuzz/fuzz_nfs3.c) compiles this file as is.
 */
#include <errno.h>
#include <string.h>

#include "nfs3.h"

static const char *const nfs3_names[NFS3_NPROCS] = {
    "NULL", "GETATTR", "SETATTR", "LOOKUP", "ACCESS", "READLINK", "READ", "WRITE",
    "CREATE", "MKDIR", "SYMLINK", "MKNOD", "REMOVE", "RMDIR", "RENAME", "LINK", "READDIR",
    "READDIRPLUS", "FSSTAT", "FSINFO", "PATHCONF", "COMMIT",
};
static const char *const mnt3_names[MNT3_NPROCS] = {
    "MNT_NULL", "MNT", "DUMP", "UMNT", "UMNTALL", "EXPORT",
};

const char *nfs3_proc_name(uint32_t proc)
{
    return proc < NFS3_NPROCS ? nfs3_names[proc] : "UNKNOWN";
}

const char *mnt3_proc_name(uint32_t proc)
{
    return proc < MNT3_NPROCS ? mnt3_names[proc] : "UNKNOWN";
}

/* ---- decoders ---- */

static void dec_fh(struct cfs_xdr *x, struct cfs_fh *fh)
{
    uint32_t n = 0;

    memset(fh, 0, sizeof(*fh));
    if (cfs_xdr_dec_opaque(x, fh->data, &n, CFS_FH_MAX) == 0)
        fh->len = (uint8_t)n;
}

static void dec_diropargs(struct cfs_xdr *x, struct cfs_fh *fh, char *name, size_t len)
{
    dec_fh(x, fh);
    cfs_xdr_dec_string(x, name, len, NFS3_WIRE_NAME_MAX);
}

static void dec_time(struct cfs_xdr *x, struct timespec *ts)
{
    uint32_t s = 0, ns = 0;

    cfs_xdr_dec_u32(x, &s);
    cfs_xdr_dec_u32(x, &ns);
    if (ns >= 1000000000u && x->err == 0)
        x->err = -EBADMSG;
    ts->tv_sec = (time_t)s;
    ts->tv_nsec = (long)ns;
}

static void dec_settime(struct cfs_xdr *x, struct cfs_sattr *s, uint32_t now_bit,
                        uint32_t set_bit, struct timespec *ts)
{
    uint32_t how = 0;

    if (cfs_xdr_dec_enum(x, &how, 2))
        return;
    if (how == 1) {
        s->mask |= now_bit;
    } else if (how == 2) {
        dec_time(x, ts);
        s->mask |= set_bit;
    }
}

static void dec_sattr(struct cfs_xdr *x, struct cfs_sattr *s)
{
    bool set = false;

    memset(s, 0, sizeof(*s));
    if (cfs_xdr_dec_bool(x, &set) == 0 && set) {
        cfs_xdr_dec_u32(x, &s->mode);
        s->mode &= 07777u;
        s->mask |= CFS_SET_MODE;
    }
    if (cfs_xdr_dec_bool(x, &set) == 0 && set) {
        cfs_xdr_dec_u32(x, &s->uid);
        s->mask |= CFS_SET_UID;
    }
    if (cfs_xdr_dec_bool(x, &set) == 0 && set) {
        cfs_xdr_dec_u32(x, &s->gid);
        s->mask |= CFS_SET_GID;
    }
    if (cfs_xdr_dec_bool(x, &set) == 0 && set) {
        cfs_xdr_dec_u64(x, &s->size);
        s->mask |= CFS_SET_SIZE;
    }
    dec_settime(x, s, CFS_SET_ATIME_NOW, CFS_SET_ATIME, &s->atime);
    dec_settime(x, s, CFS_SET_MTIME_NOW, CFS_SET_MTIME, &s->mtime);
}

int nfs3_decode_args(uint32_t proc, const uint8_t *p, size_t len, struct nfs3_args *a)
{
    struct cfs_xdr x;

    cfs_xdr_dec_init(&x, p, len);
    a->data = NULL;
    a->data_len = 0;
    a->name[0] = a->name2[0] = a->path[0] = '\0';
    a->fh.len = a->fh2.len = 0;
    switch (proc) {
    case NFS3_NULL:
        break;
    case NFS3_GETATTR: case NFS3_READLINK: case NFS3_FSSTAT: case NFS3_FSINFO:
    case NFS3_PATHCONF:
        dec_fh(&x, &a->fh);
        break;
    case NFS3_SETATTR:
        dec_fh(&x, &a->fh);
        dec_sattr(&x, &a->sattr);
        a->guard = false;
        if (cfs_xdr_dec_bool(&x, &a->guard) == 0 && a->guard)
            dec_time(&x, &a->guard_ctime);
        break;
    case NFS3_LOOKUP: case NFS3_REMOVE: case NFS3_RMDIR:
        dec_diropargs(&x, &a->fh, a->name, sizeof(a->name));
        break;
    case NFS3_ACCESS:
        dec_fh(&x, &a->fh);
        cfs_xdr_dec_u32(&x, &a->access);
        break;
    case NFS3_READ: case NFS3_COMMIT:
        dec_fh(&x, &a->fh);
        cfs_xdr_dec_u64(&x, &a->offset);
        cfs_xdr_dec_u32(&x, &a->count);
        break;
    case NFS3_WRITE:
        dec_fh(&x, &a->fh);
        cfs_xdr_dec_u64(&x, &a->offset);
        cfs_xdr_dec_u32(&x, &a->count);
        cfs_xdr_dec_enum(&x, &a->stable, 2);
        /* The payload stays in the record: no copy. */
        cfs_xdr_dec_opaque_ref(&x, &a->data, &a->data_len, UINT32_MAX);
        if (x.err == 0 && a->count > a->data_len)
            x.err = -EBADMSG;
        break;
    case NFS3_CREATE:
        dec_diropargs(&x, &a->fh, a->name, sizeof(a->name));
        if (cfs_xdr_dec_enum(&x, &a->how, 2))
            break;
        if (a->how == 2)
            cfs_xdr_dec_fixed(&x, a->verf, CFS_VERF_SIZE);
        else
            dec_sattr(&x, &a->sattr);
        break;
    case NFS3_MKDIR:
        dec_diropargs(&x, &a->fh, a->name, sizeof(a->name));
        dec_sattr(&x, &a->sattr);
        break;
    case NFS3_SYMLINK:
        dec_diropargs(&x, &a->fh, a->name, sizeof(a->name));
        dec_sattr(&x, &a->sattr);
        cfs_xdr_dec_string(&x, a->path, sizeof(a->path), NFS3_PATH_MAX);
        break;
    case NFS3_MKNOD:
        dec_diropargs(&x, &a->fh, a->name, sizeof(a->name));
        if (cfs_xdr_dec_u32(&x, &a->ftype))
            break;
        memset(&a->sattr, 0, sizeof(a->sattr));
        a->rdev_major = a->rdev_minor = 0;
        if (a->ftype == NF3CHR || a->ftype == NF3BLK) {
            dec_sattr(&x, &a->sattr);
            cfs_xdr_dec_u32(&x, &a->rdev_major);
            cfs_xdr_dec_u32(&x, &a->rdev_minor);
        } else if (a->ftype == NF3SOCK || a->ftype == NF3FIFO) {
            dec_sattr(&x, &a->sattr);
        } else if (a->ftype < NF3REG || a->ftype > NF3FIFO) {
            x.err = -EBADMSG;
        }
        break;
    case NFS3_RENAME:
        dec_diropargs(&x, &a->fh, a->name, sizeof(a->name));
        dec_diropargs(&x, &a->fh2, a->name2, sizeof(a->name2));
        break;
    case NFS3_LINK:
        dec_fh(&x, &a->fh);
        dec_diropargs(&x, &a->fh2, a->name2, sizeof(a->name2));
        break;
    case NFS3_READDIR:
        dec_fh(&x, &a->fh);
        cfs_xdr_dec_u64(&x, &a->cookie);
        cfs_xdr_dec_fixed(&x, a->verf, CFS_VERF_SIZE);
        cfs_xdr_dec_u32(&x, &a->count);
        a->dircount = a->maxcount = a->count;
        break;
    case NFS3_READDIRPLUS:
        dec_fh(&x, &a->fh);
        cfs_xdr_dec_u64(&x, &a->cookie);
        cfs_xdr_dec_fixed(&x, a->verf, CFS_VERF_SIZE);
        cfs_xdr_dec_u32(&x, &a->dircount);
        cfs_xdr_dec_u32(&x, &a->maxcount);
        break;
    default:
        return -EINVAL;
    }
    /* Bytes after the arguments are garbage too. */
    if (x.err == 0 && cfs_xdr_remaining(&x) != 0)
        return -EBADMSG;
    return x.err ? -EBADMSG : 0;
}

int mnt3_decode_args(uint32_t proc, const uint8_t *p, size_t len, struct nfs3_args *a)
{
    struct cfs_xdr x;

    cfs_xdr_dec_init(&x, p, len);
    a->path[0] = '\0';
    switch (proc) {
    case MNT3_NULL: case MNT3_DUMP: case MNT3_UMNTALL: case MNT3_EXPORT:
        break;
    case MNT3_MNT: case MNT3_UMNT:
        cfs_xdr_dec_string(&x, a->path, sizeof(a->path), NFS3_PATH_MAX);
        break;
    default:
        return -EINVAL;
    }
    if (x.err == 0 && cfs_xdr_remaining(&x) != 0)
        return -EBADMSG;
    return x.err ? -EBADMSG : 0;
}

/* ---- NLM4 / NSM ---- */

/* caller_name, fh, oh: the start of nlm4_lock and of nlm4_share */
static void dec_nlm4_who(struct cfs_xdr *x, struct nlm4_args *n)
{
    const uint8_t *fh;
    uint32_t fhlen = 0;

    cfs_xdr_dec_string(x, n->caller, sizeof(n->caller), NLM_MAXSTR);
    memset(&n->fh, 0, sizeof(n->fh));
    n->fh_too_long = false;
    if (cfs_xdr_dec_opaque_ref(x, &fh, &fhlen, NLM_MAXNETOBJ) == 0) {
        if (fhlen > CFS_FH_MAX) {
            n->fh_too_long = true;
        } else {
            memcpy(n->fh.data, fh, fhlen);
            n->fh.len = (uint8_t)fhlen;
        }
    }
    cfs_xdr_dec_opaque_ref(x, &n->oh, &n->oh_len, NLM_MAXNETOBJ);
}

static void dec_nlm4_lock(struct cfs_xdr *x, struct nlm4_args *n)
{
    dec_nlm4_who(x, n);
    cfs_xdr_dec_i32(x, &n->svid);
    cfs_xdr_dec_u64(x, &n->offset);
    cfs_xdr_dec_u64(x, &n->len);
}

int nlm4_decode_args(uint32_t proc, const uint8_t *p, size_t len, struct nfs3_args *a)
{
    struct nlm4_args *n = &a->nlm;
    struct cfs_xdr x;

    cfs_xdr_dec_init(&x, p, len);
    n->cookie = n->oh = NULL;
    n->cookie_len = n->oh_len = 0;
    n->block = n->exclusive = n->reclaim = false;
    n->state = n->svid = 0;
    n->share_mode = n->share_access = 0;
    n->caller[0] = '\0';
    if (NLM4_IS_MSG(proc))
        proc -= NLM4_MSG_OFFSET; /* the same arguments as the synchronous twin */
    switch (proc) {
    case NLM4_NULL:
        break;
    case NLM4_TEST:
        cfs_xdr_dec_opaque_ref(&x, &n->cookie, &n->cookie_len, NLM_MAXNETOBJ);
        cfs_xdr_dec_bool(&x, &n->exclusive);
        dec_nlm4_lock(&x, n);
        break;
    case NLM4_LOCK: case NLM4_NM_LOCK:
        cfs_xdr_dec_opaque_ref(&x, &n->cookie, &n->cookie_len, NLM_MAXNETOBJ);
        cfs_xdr_dec_bool(&x, &n->block);
        cfs_xdr_dec_bool(&x, &n->exclusive);
        dec_nlm4_lock(&x, n);
        cfs_xdr_dec_bool(&x, &n->reclaim);
        cfs_xdr_dec_i32(&x, &n->state);
        break;
    case NLM4_CANCEL:
        cfs_xdr_dec_opaque_ref(&x, &n->cookie, &n->cookie_len, NLM_MAXNETOBJ);
        cfs_xdr_dec_bool(&x, &n->block);
        cfs_xdr_dec_bool(&x, &n->exclusive);
        dec_nlm4_lock(&x, n);
        break;
    case NLM4_UNLOCK:
        cfs_xdr_dec_opaque_ref(&x, &n->cookie, &n->cookie_len, NLM_MAXNETOBJ);
        dec_nlm4_lock(&x, n);
        break;
    case NLM4_SHARE: case NLM4_UNSHARE:
        cfs_xdr_dec_opaque_ref(&x, &n->cookie, &n->cookie_len, NLM_MAXNETOBJ);
        dec_nlm4_who(&x, n);
        cfs_xdr_dec_u32(&x, &n->share_mode);
        cfs_xdr_dec_u32(&x, &n->share_access);
        cfs_xdr_dec_bool(&x, &n->reclaim);
        break;
    case NLM4_FREE_ALL:
        cfs_xdr_dec_string(&x, n->caller, sizeof(n->caller), NLM_MAXSTR);
        cfs_xdr_dec_i32(&x, &n->state);
        break;
    default:
        return -EINVAL;
    }
    if (x.err == 0 && cfs_xdr_remaining(&x) != 0)
        return -EBADMSG;
    return x.err ? -EBADMSG : 0;
}

int nsm_decode_args(uint32_t proc, const uint8_t *p, size_t len, struct nfs3_args *a)
{
    struct nlm4_args *n = &a->nlm;
    struct cfs_xdr x;
    char my_name[NLM_MAXSTR + 1];
    uint32_t u;

    cfs_xdr_dec_init(&x, p, len);
    n->caller[0] = '\0';
    n->state = 0;
    switch (proc) {
    case NSM_NULL: case NSM_SIMU_CRASH:
        break;
    case NSM_STAT:
        cfs_xdr_dec_string(&x, n->caller, sizeof(n->caller), NLM_MAXSTR);
        break;
    case NSM_MON: case NSM_UNMON:
        cfs_xdr_dec_string(&x, n->caller, sizeof(n->caller), NLM_MAXSTR); /* mon_name */
        cfs_xdr_dec_string(&x, my_name, sizeof(my_name), NLM_MAXSTR);
        cfs_xdr_dec_u32(&x, &u);
        cfs_xdr_dec_u32(&x, &u);
        cfs_xdr_dec_u32(&x, &u);
        if (proc == NSM_MON)
            cfs_xdr_dec_skip(&x, 16); /* priv */
        break;
    case NSM_UNMON_ALL:
        cfs_xdr_dec_string(&x, my_name, sizeof(my_name), NLM_MAXSTR);
        cfs_xdr_dec_u32(&x, &u);
        cfs_xdr_dec_u32(&x, &u);
        cfs_xdr_dec_u32(&x, &u);
        break;
    case NSM_NOTIFY:
        cfs_xdr_dec_string(&x, n->caller, sizeof(n->caller), NLM_MAXSTR);
        cfs_xdr_dec_i32(&x, &n->state);
        break;
    default:
        return -EINVAL;
    }
    if (x.err == 0 && cfs_xdr_remaining(&x) != 0)
        return -EBADMSG;
    return x.err ? -EBADMSG : 0;
}

/* ---- encoders ---- */

static uint32_t ftype3(enum cfs_ftype t)
{
    switch (t) {
    case CFS_FT_REG: return NF3REG;
    case CFS_FT_DIR: return NF3DIR;
    case CFS_FT_BLK: return NF3BLK;
    case CFS_FT_CHR: return NF3CHR;
    case CFS_FT_LNK: return NF3LNK;
    case CFS_FT_SOCK: return NF3SOCK;
    case CFS_FT_FIFO: return NF3FIFO;
    }
    return NF3REG;
}

static void enc_time(struct cfs_xdr *x, const struct timespec *ts)
{
    cfs_xdr_enc_u32(x, (uint32_t)ts->tv_sec);
    cfs_xdr_enc_u32(x, (uint32_t)ts->tv_nsec);
}

void nfs3_enc_fattr(struct cfs_xdr *x, const struct cfs_attr *a)
{
    cfs_xdr_enc_u32(x, ftype3(a->type));
    cfs_xdr_enc_u32(x, a->mode & 07777u);
    cfs_xdr_enc_u32(x, a->nlink);
    cfs_xdr_enc_u32(x, a->uid);
    cfs_xdr_enc_u32(x, a->gid);
    cfs_xdr_enc_u64(x, a->size);
    cfs_xdr_enc_u64(x, a->used);
    cfs_xdr_enc_u32(x, a->rdev_major);
    cfs_xdr_enc_u32(x, a->rdev_minor);
    cfs_xdr_enc_u64(x, a->fsid);
    cfs_xdr_enc_u64(x, a->fileid);
    enc_time(x, &a->atime);
    enc_time(x, &a->mtime);
    enc_time(x, &a->ctime);
}

void nfs3_enc_post_attr(struct cfs_xdr *x, bool has, const struct cfs_attr *a)
{
    cfs_xdr_enc_bool(x, has);
    if (has)
        nfs3_enc_fattr(x, a);
}

void nfs3_enc_pre_attr(struct cfs_xdr *x, bool has, const struct cfs_attr *a)
{
    cfs_xdr_enc_bool(x, has);
    if (has) {
        cfs_xdr_enc_u64(x, a->size);
        enc_time(x, &a->mtime);
        enc_time(x, &a->ctime);
    }
}

void nfs3_enc_wcc(struct cfs_xdr *x, bool has_pre, const struct cfs_attr *pre, bool has_post,
                  const struct cfs_attr *post)
{
    nfs3_enc_pre_attr(x, has_pre, pre);
    nfs3_enc_post_attr(x, has_post, post);
}

void nfs3_enc_fh(struct cfs_xdr *x, const struct cfs_fh *fh)
{
    cfs_xdr_enc_opaque(x, fh->data, fh->len);
}

void nfs3_enc_post_fh(struct cfs_xdr *x, bool has, const struct cfs_fh *fh)
{
    cfs_xdr_enc_bool(x, has);
    if (has)
        nfs3_enc_fh(x, fh);
}
