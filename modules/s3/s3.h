/*
 * modules/s3/s3.h - mod_s3 internals shared by its files: configuration, the server
 * state, connections and requests, the operation table and the pool-side operations.
 *
 * Threads: a connection lives on one loop (s3http.c). Every filesystem step of an
 * operation runs on a pool thread (s3ops.c, s3list.c, s3mpu.c) with synchronous vfs
 * calls, then the response is written back on the connection's loop.
 */
#ifndef CFS_S3_H
#define CFS_S3_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/uio.h>
#include <stdbool.h>
#include <stdint.h>

#include <cfs/cfs.h>
#include <cfs/http.h>

#include "cksum.h"
#include "s3util.h"
#include "sigv4.h"

#define S3_TAG "s3"
#define S3_STAGE_DIR ".cfs-s3"       /* hidden staging area at the export root */
#define S3_MAX_KEY 1024
#define S3_MAX_META 2048             /* bytes of x-amz-meta-* */
#define S3_MIN_PART (5u << 20)
#define S3_MAX_PARTS 10000
#define S3_XATTR_HDR "user.cfs.h."   /* + stored response header (content-encoding...) */
#define S3_XATTR_MPU "user.cfs.mpu." /* + bucket / key (on an upload's directory) */
#define S3_XATTR_VERSIONING "user.cfs.versioning"
#define S3_XATTR_REGION "user.cfs.region"
#define S3_XATTR_VSEQ "user.cfs.vseq"       /* a version's order stamp (ns, 20 digits) */
#define S3_XATTR_DMARKER "user.cfs.dmarker" /* "1" on a delete marker */
#define S3_XATTR_POLICY "user.cfs.s3.policy" /* bucket policy JSON, as put */
#define S3_XATTR_ACL "user.cfs.s3.acl"       /* canned bucket ACL: "public-read" */
#define S3_VERSIONS_DIR "versions"  /* <root>/.cfs-s3/versions/<bucket>/<key>/<version-id> */
#define S3_VID_MAX 40               /* version id buffer ("null" or 32 URL-safe chars) */
#define S3_MAX_POLICY 16384
#define S3_TMP_SHARDS 8 /* staging subdirectories (spread create/unlink over directory locks) */
#define S3_INLINE_BODY (64u << 10) /* GET bodies up to this size go out with the headers */

struct s3_conf {
    bool enabled;
    char *bind;
    char *region;
    bool enable_versioning;
    char *export_name;
    char *domain;
    char *tls_cert;
    char *tls_key;
    int64_t max_header_bytes;
    int64_t multipart_max_age;  /* seconds */
    int64_t uid, gid;           /* identity for the namespace; -1 = export root's owner */
    int64_t max_connections;
    int64_t header_timeout_ms;  /* deadline for a request's header section */
    struct s3_conf *retired_next; /* replaced by a reload; freed at fini */
};

enum s3_opid {
    S3OP_UNKNOWN = 0,
    S3OP_ListBuckets,
    S3OP_CreateBucket,
    S3OP_DeleteBucket,
    S3OP_HeadBucket,
    S3OP_GetBucketLocation,
    S3OP_GetBucketVersioning,
    S3OP_PutBucketVersioning,
    S3OP_ListObjects,
    S3OP_ListObjectsV2,
    S3OP_ListObjectVersions,
    S3OP_DeleteObjects,
    S3OP_PutObject,
    S3OP_CopyObject,
    S3OP_GetObject,
    S3OP_HeadObject,
    S3OP_DeleteObject,
    S3OP_CreateMultipartUpload,
    S3OP_UploadPart,
    S3OP_UploadPartCopy,
    S3OP_CompleteMultipartUpload,
    S3OP_AbortMultipartUpload,
    S3OP_ListParts,
    S3OP_ListMultipartUploads,
    S3OP_GetBucketAcl,
    S3OP_GetObjectAcl,
    S3OP_PutBucketAcl,
    S3OP_GetBucketPolicy,
    S3OP_PutBucketPolicy,
    S3OP_DeleteBucketPolicy,
    S3OP__COUNT
};
const char *s3_op_name(enum s3_opid op);

struct s3_conn;

struct s3_metrics {
    cfs_metric *requests, *errors, *latency, *bytes_in, *bytes_out, *conns;
    /* series looked up once (a lookup takes the family's lock): by op, and status class */
    _Atomic(cfs_series *) s_req[S3OP__COUNT][6];
    _Atomic(cfs_series *) s_lat[S3OP__COUNT], s_in[S3OP__COUNT], s_out[S3OP__COUNT];
};

struct s3_server {
    uint32_t magic;
    const struct cfs_host_api *api;
    _Atomic(struct s3_conf *) conf;
    cfs_listener *lst;
    char bind[256];
    cfs_export *exp;
    struct cfs_fh root;         /* export root */
    struct cfs_fh stage;        /* <root>/.cfs-s3 */
    struct cfs_fh tmp;          /* <root>/.cfs-s3/tmp */
    struct cfs_fh tmpsh[S3_TMP_SHARDS]; /* <root>/.cfs-s3/tmp/s<N>: staging, one per pool thread */
    struct cfs_fh uploads;      /* <root>/.cfs-s3/uploads */
    struct cfs_fh versions;     /* <root>/.cfs-s3/versions */
    struct cfs_cred cred;
    char access_key[129];
    char secret_key[129];
    struct s3_metrics m;
    atomic_uint_fast64_t reqseq;
    atomic_int live_conns;
    atomic_bool draining;
    cfs_timer *gc_timer;
    atomic_bool gc_running;
    uint64_t boot_id;
    struct s3_conf *retired;
    int nloops;
    struct s3_conn **conns;     /* per loop: connections owned by that loop */
    pthread_mutex_t init_mu;
    void *ssl_ctx;              /* SSL_CTX when tls_cert is set */
    bool ready;                 /* cred and staging directories set up */
};
#define S3_SERVER_MAGIC 0x53335356u

/* One request's view for the pool side: everything copied out of the parser. */
struct s3_req {
    struct s3_server *srv;
    const struct s3_conf *conf;
    enum s3_opid op;
    char method[12];
    char *bucket;      /* decoded; NULL for the service */
    char *key;         /* decoded; NULL for bucket operations */
    char *path;        /* raw path */
    char *query;       /* raw query (without '?'), "" when none */
    struct s3_hdr *hdrs;
    size_t nhdrs;
    char *hdr_arena;
    char reqid[24];
    struct s3_sigv4 sv;
    uint64_t content_length;
    bool has_content_length;
    struct cfs_cred cred;  /* the signer's identity (users table); else the server's */
    bool has_cred;
    bool anon;             /* no signature: allowed only where the bucket is public */

    /* request body as buffered (XML operations) */
    struct s3_buf body;

    /* streaming upload state (PutObject, UploadPart) */
    struct s3_put *put;

    /* the response, built on the pool or the loop */
    int status;
    enum s3_err err;
    char err_detail[256];
    struct s3_buf rhdr;   /* extra header lines "Name: value\r\n" */
    struct s3_buf rbody;  /* response body (XML) */
    const char *rtype;    /* Content-Type of rbody */
    bool rbody_obj;       /* rbody holds object data (a small GET), not an XML document */
    int file_fd;          /* GET: serve [file_off, file_off+file_len) of this fd */
    uint64_t file_off, file_len;
    bool head;            /* HEAD: headers only (Content-Length of the object) */
    uint64_t head_len;
    uint64_t bytes_in, bytes_out;
    struct s3_buf sig_creq, sig_sts; /* SignatureDoesNotMatch details */
};

/* A streaming upload: body pieces staged on the loop, written by pool jobs. */
struct s3_put {
    int fd;                      /* temp file, -1 until opened */
    char tmpname[64];            /* in <stage>/tmp */
    struct cfs_fh tmpfh;
    uint64_t written;
    struct s3_ck md5, sha256, ck;
    bool want_sha256;
    enum s3_ck_alg ck_alg;       /* x-amz-checksum-* header, trailer or sdk-checksum-algorithm */
    char ck_expect[S3_CK_B64_MAX + 8];
    int werr;                    /* first write error (negative errno) */
    bool one_job;                /* open, write and commit run in one pool job ... */
    bool has_bfh;                /* ... so commit reuses the bucket open looked up */
    struct cfs_fh bfh;
    /* the multipart target when UploadPart */
    char upload_id[40];
    uint32_t part_number;
};

/* ---- s3mod.c ---- */
void s3_metrics_observe(struct s3_server *s, const struct s3_req *r, double seconds);

/* ---- s3http.c ---- */
void s3_accept(cfs_loop *loop, int fd, const struct sockaddr *peer, socklen_t peerlen,
               void *arg);
void s3_close_loop_conns(void *arg);

/* ---- s3ops.c: run on a pool thread ---- */
void s3_req_error(struct s3_req *r, enum s3_err e, const char *detail);
void s3_run_op(struct s3_req *r);                  /* every non-streaming operation */
int s3_put_open(struct s3_req *r);                 /* create the temp file (pool) */
void s3_put_write(struct s3_req *r, const struct iovec *iov, int n); /* (pool) */
/* The two halves of s3_put_write; they may run at once on two pool threads (one batch). */
void s3_put_hash(struct s3_req *r, const struct iovec *iov, int n);
void s3_put_pwrite(struct s3_req *r, const struct iovec *iov, int n);
void s3_put_commit(struct s3_req *r);              /* verify + rename (pool) */
void s3_put_abort(struct s3_server *s, struct s3_put *p); /* drop the temp file (pool) */
int s3_stage_init(struct s3_server *s);            /* create .cfs-s3/{tmp,uploads} */
void s3_gc(struct s3_server *s, int64_t max_age);  /* abandoned uploads and temp files */

/* The credentials of the request running on this pool thread (the server's by default). */
const struct cfs_cred *s3_cred(struct s3_server *s);
void s3_cred_set(const struct cfs_cred *c);

/* helpers shared by the pool-side files */
int s3_lookup(struct s3_server *s, const struct cfs_fh *dir, const char *name,
              struct cfs_fh *out, struct cfs_attr *attr);
int s3_lookup_path(struct s3_server *s, const struct cfs_fh *dir, const char *path,
                   struct cfs_fh *out, struct cfs_attr *attr);
int s3_bucket_fh(struct s3_req *r, struct cfs_fh *out);
int s3_meta_get_str(struct s3_server *s, const struct cfs_fh *fh, const char *name, char *buf,
                    size_t len);
int s3_meta_set_str(struct s3_server *s, const struct cfs_fh *fh, const char *name,
                    const char *val);
int s3_object_etag(struct s3_server *s, const struct cfs_fh *fh, const struct cfs_attr *a,
                   bool compute, char out[80]);
int s3_rm_tree(struct s3_server *s, const struct cfs_fh *parent, const char *name);
const char *s3_req_header(const struct s3_req *r, const char *name);
bool s3_query_get(const struct s3_req *r, const char *name, char *out, size_t cap);
bool s3_query_has(const struct s3_req *r, const char *name);
void s3_add_hdr(struct s3_req *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

int s3_getattr(struct s3_server *s, const struct cfs_fh *fh, struct cfs_attr *a);
int s3_mkdir(struct s3_server *s, const struct cfs_fh *dir, const char *name, struct cfs_fh *out);
int s3_mkdir_p(struct s3_server *s, const struct cfs_fh *base, const char *path, struct cfs_fh *out);
int s3_remove(struct s3_server *s, const struct cfs_fh *dir, const char *name, bool isdir);
int s3_rename(struct s3_server *s, const struct cfs_fh *d1, const char *n1, const struct cfs_fh *d2,
              const char *n2);
void s3_store_etag(struct s3_server *s, const struct cfs_fh *fh, const char *etag);
void s3_split_key(const char *key, char *parent, size_t plen, const char **base);
enum s3_err s3_meta_from_request(struct s3_req *r, const struct cfs_fh *fh);
void s3_meta_copy(struct s3_server *s, const struct cfs_fh *src, const struct cfs_fh *dst,
                  bool only_content);
int s3_tmp_create(struct s3_server *s, char name[64], struct cfs_fh *fh, int *fd);
/* The staging directory a name from s3_tmp_create lives in. */
const struct cfs_fh *s3_tmp_dir(struct s3_server *s, const char *name);
enum s3_err s3_key_check(const char *key);
int s3_read_through(struct s3_server *s, const struct cfs_fh *fh, uint64_t off, uint64_t len,
                    struct s3_ck *md5, int dst, uint64_t dst_off);
int s3_vcall(struct s3_server *s, struct cfs_vfs_op *op);
bool s3_bucket_name_ok(const char *b);
enum s3_err s3_check_conditions(const struct s3_req *r, const char *pfx, const char *etag,
                                int64_t mtime);
int s3_parse_range(const char *h, uint64_t size, uint64_t *off, uint64_t *len);

/* ---- s3ver.c: versioning (pool side) ---- */
enum s3_vstate { S3V_OFF = 0, S3V_ENABLED, S3V_SUSPENDED };
enum s3_vstate s3_ver_state(struct s3_server *s, const struct cfs_fh *bucket);
bool s3_ver_id_ok(const char *vid);
/* The version id of a visible object ("null" when it carries none). */
void s3_ver_of(struct s3_server *s, const struct cfs_fh *fh, char vid[S3_VID_MAX]);
/*
 * Install the staged file <stage>/tmp/tmpname (tmpfh) as key's current object at dir/base.
 * Versioned buckets: the new object gets a version id (vid, "null" when suspended) and
 * the previous current one is kept under <stage>/versions/<bucket>/<key>/ (a suspended
 * bucket drops the old null version instead). vid is "" for unversioned buckets.
 * Returns 0 or the rename's negative errno.
 */
/* Give a staged file the version id its bucket's state calls for (vid "" when off). */
void s3_ver_stamp(struct s3_req *r, const struct cfs_fh *bfh, const struct cfs_fh *tmpfh,
                  char vid[S3_VID_MAX]);
int s3_ver_install(struct s3_req *r, const struct cfs_fh *bfh, const struct cfs_fh *tmpfh,
                   const char *tmpname,
                   const struct cfs_fh *dir, const char *base, char vid[S3_VID_MAX]);
/* Resolve ?versionId= (or the latest when vid is NULL) for GET/HEAD/copy sources. */
struct s3_vref {
    struct cfs_fh fh;
    struct cfs_attr attr;
    char vid[S3_VID_MAX];
    bool dmarker;   /* the version is a delete marker */
    bool current;   /* the visible object */
};
/* 0, -ENOENT (no such key or version) or another negative errno. */
int s3_ver_resolve(struct s3_server *s, const char *bucket, const struct cfs_fh *bfh,
                   const char *key, const char *vid, struct s3_vref *out);
/* DeleteObject / DeleteObjects entry in a versioned bucket (or with a versionId). */
struct s3_vdel {
    char vid[S3_VID_MAX];   /* version removed, or of the new delete marker */
    bool dmarker;           /* a delete marker was created or removed */
};
enum s3_err s3_ver_delete(struct s3_req *r, const struct cfs_fh *bfh, const char *key,
                          const char *vid, struct s3_vdel *out);
/* Whether <stage>/versions/<bucket> holds any version; removes it when it holds none. */
int s3_ver_bucket_empty(struct s3_server *s, const char *bucket);
void s3_op_list_versions(struct s3_req *r);
void s3_remove_empty_parents(struct s3_server *s, const struct cfs_fh *base, char *parent);

/* ---- s3pol.c: bucket policy and ACL, anonymous access ---- */
void s3_op_put_policy(struct s3_req *r);
void s3_op_get_policy(struct s3_req *r);
void s3_op_delete_policy(struct s3_req *r);
void s3_op_put_bucket_acl(struct s3_req *r);
bool s3_bucket_public_read(struct s3_server *s, const struct cfs_fh *bfh);
/* Anonymous request: S3E_OK when the bucket's policy or ACL allows r->op on r->key. */
enum s3_err s3_anon_allowed(struct s3_req *r);
bool s3_anon_can_list(struct s3_req *r); /* may see which keys are missing (404, not 403) */
/* Canned ACL header on CreateBucket/PutBucketAcl: stored value or NULL; *bad on unknown. */
const char *s3_canned_acl(const char *v, bool *bad);

/* ---- s3list.c: shared directory reader ---- */
struct s3_lent {
    char *sname; /* name, plus '/' for directories */
    bool dir;
    struct cfs_fh fh;
    struct cfs_attr attr;
};
/* Regular files and directories of dir, sorted by sname (S3 key order). */
int s3_read_dir_sorted(struct s3_server *s, const struct cfs_fh *dir, struct s3_lent **out,
                       size_t *n);
void s3_lent_free(struct s3_lent *v, size_t n);

/* ---- s3copy.c ---- */
void s3_op_copy_object(struct s3_req *r);
int s3__copy_range(struct s3_req *r, const struct cfs_fh *dst_dir, const char *dst_name,
                   char etag_out[40], char lm_out[64]);

/* ---- s3list.c ---- */
void s3_op_list_objects(struct s3_req *r, int version); /* 1 or 2 */
void s3_op_list_buckets(struct s3_req *r);

/* ---- s3mpu.c ---- */
void s3_op_mpu_create(struct s3_req *r);
void s3_op_mpu_complete(struct s3_req *r);
void s3_op_mpu_abort(struct s3_req *r);
void s3_op_mpu_list_parts(struct s3_req *r);
void s3_op_mpu_list_uploads(struct s3_req *r);
void s3_op_upload_part_copy(struct s3_req *r);
int s3_mpu_part_target(struct s3_req *r, struct cfs_fh *updir); /* UploadPart: check id */

#endif
