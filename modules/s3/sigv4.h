/*
 * modules/s3/sigv4.h - AWS Signature Version 4 for S3: parsing of the Authorization
 * header and of presigned query parameters, the canonical request and string to sign,
 * verification with skew/expiry checks, and the aws-chunked body decoder with per-chunk
 * and trailer signatures (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER],
 * STREAMING-UNSIGNED-PAYLOAD-TRAILER).
 */
#ifndef CFS_S3_SIGV4_H
#define CFS_S3_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cksum.h"
#include "s3util.h"

#define S3_SIGV4_MAX_SKEW 900           /* seconds (15 minutes) */
#define S3_SIGV4_MAX_EXPIRES 604800     /* presigned URLs: 7 days */
#define S3_SIGV4_MAX_SIGNED_HEADERS 64

/* The request as the signer sees it. */
struct s3_reqview {
    const char *method;
    const char *path;     /* raw path as received (percent-encoded), no query */
    size_t path_len;
    const char *query;    /* raw query without '?'; may be NULL */
    size_t query_len;
    const struct s3_hdr *hdrs;
    size_t nhdrs;
};

enum s3_auth_kind {
    S3_AUTH_NONE = 0,
    S3_AUTH_HEADER,    /* SigV4 Authorization header */
    S3_AUTH_QUERY,     /* SigV4 presigned */
    S3_AUTH_V2_HEADER, /* legacy "AWS AKID:sig" (HMAC-SHA1) */
    S3_AUTH_V2_QUERY,  /* legacy presigned: AWSAccessKeyId, Signature, Expires */
};

enum s3_payload {
    S3_PL_HASH = 0,                 /* x-amz-content-sha256 is a hex SHA-256 of the body */
    S3_PL_UNSIGNED,                 /* UNSIGNED-PAYLOAD */
    S3_PL_STREAMING_SIGNED,         /* STREAMING-AWS4-HMAC-SHA256-PAYLOAD */
    S3_PL_STREAMING_SIGNED_TRAILER, /* STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER */
    S3_PL_STREAMING_UNSIGNED_TRAILER, /* STREAMING-UNSIGNED-PAYLOAD-TRAILER */
};

struct s3_sigv4 {
    enum s3_auth_kind kind;
    char access_key[129];
    char date[9];        /* credential scope date yyyymmdd */
    char region[64];
    char service[32];
    char scope[256];     /* date/region/service/aws4_request */
    char amz_date[17];   /* yyyymmddThhmmssZ */
    int64_t t;           /* amz_date as unix time */
    int64_t expires;     /* presigned: X-Amz-Expires seconds */
    char signed_headers[1024];
    char signature[65];
    enum s3_payload payload;
    char payload_hash[65]; /* S3_PL_HASH: lowercase hex from the client */
    const char *detail;  /* static text explaining a parse failure */
};

/* Parse Authorization or X-Amz-* (or SigV2) query parameters. S3E_OK with kind NONE = anonymous. */
enum s3_err s3_sigv4_parse(const struct s3_reqview *rq, struct s3_sigv4 *sv);

/* The canonical request (S3 rules: path decoded once and re-encoded, never normalised). */
int s3_sigv4_canonical(const struct s3_reqview *rq, const struct s3_sigv4 *sv,
                       struct s3_buf *out);
void s3_sigv4_string_to_sign(const struct s3_sigv4 *sv, const char *creq, size_t len,
                             struct s3_buf *out);
void s3_sigv4_signing_key(const char *secret, const char *date, const char *region,
                          const char *service, uint8_t key[32]);
/* hex HMAC-SHA256(key, sts) */
void s3_sigv4_sign(const uint8_t key[32], const char *sts, size_t len, char sig[65]);
/* SigV2 string to sign (legacy presigned URLs of boto3 and old clients). */
int s3_sigv2_string_to_sign(const struct s3_reqview *rq, const struct s3_sigv4 *sv,
                            struct s3_buf *out);

/*
 * Verify sv against secret at time `now`. On S3E_SignatureDoesNotMatch, creq and sts
 * (when not NULL) hold the canonical request and string to sign for the error body.
 * On success key (when not NULL) holds the signing key (for chunk signatures).
 */
enum s3_err s3_sigv4_verify(const struct s3_reqview *rq, const struct s3_sigv4 *sv,
                            const char *secret, int64_t now, struct s3_buf *creq,
                            struct s3_buf *sts, uint8_t key[32]);

/* ---- aws-chunked decoder ---- */

#define S3_CHUNK_HDR_MAX 4096   /* one chunk header line */
#define S3_CHUNK_TRAILER_MAX 4096

enum s3_chunk_state { S3CH_HDR = 0, S3CH_DATA, S3CH_DATA_CR, S3CH_DATA_LF, S3CH_TRAILER, S3CH_DONE };

struct s3_chunked {
    enum s3_payload mode;
    enum s3_chunk_state st;
    bool verify;              /* signed chunks */
    uint8_t key[32];
    char amz_date[17];
    char scope[256];
    char prev_sig[65];        /* seed signature, then the previous chunk's */
    char chunk_sig[65];       /* the current chunk's claimed signature */
    uint64_t remain;          /* data bytes left in the current chunk */
    uint64_t chunk_size;
    uint64_t total;           /* decoded bytes so far */
    bool last;                /* zero-size chunk seen */
    void *sha;                /* EVP_MD_CTX of the current chunk's data */
    char line[S3_CHUNK_HDR_MAX];
    size_t line_len;
    size_t trailer_bytes;
    /* trailers */
    enum s3_ck_alg trailer_alg;
    char trailer_value[S3_CK_B64_MAX + 8];
    char trailer_sig[65];
    struct s3_buf trailer_canon; /* "name:value\n" for the trailer signature */
    enum s3_err err;
    const char *detail;
};

typedef int (*s3_chunk_data_fn)(void *arg, const uint8_t *p, size_t n);

/*
 * mode: the payload kind from s3_sigv4_parse; for signed modes key/amz_date/scope/seed
 * come from the verified request. Returns 0 or -ENOMEM.
 */
int s3_chunked_init(struct s3_chunked *c, enum s3_payload mode, const uint8_t key[32],
                    const char *amz_date, const char *scope, const char *seed_sig);
void s3_chunked_free(struct s3_chunked *c);
/*
 * Feed encoded bytes; decoded data goes to fn. Returns the bytes consumed (less than n
 * only once the body is complete: st == S3CH_DONE) or -1 with c->err set. fn returning
 * non-zero stops with S3E_InternalError.
 */
ssize_t s3_chunked_feed(struct s3_chunked *c, const uint8_t *p, size_t n,
                        s3_chunk_data_fn fn, void *arg);
/*
 * The body ended (Content-Length reached). Accepts a trailer section that lacks its final
 * empty line (some SDKs); returns 0 when the body is complete, -1 with c->err otherwise.
 */
int s3_chunked_finish(struct s3_chunked *c);
static inline bool s3_chunked_done(const struct s3_chunked *c)
{
    return c->st == S3CH_DONE;
}

#endif
