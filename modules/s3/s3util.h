/*
 * modules/s3/s3util.h - small pieces shared by the S3 module's files: a bounded growable
 * byte buffer, the S3 error table, header views, URI encoding, hex and base64.
 */
#ifndef CFS_S3_UTIL_H
#define CFS_S3_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- growable buffer with a hard cap ---- */
struct s3_buf {
    char *p;
    size_t len, cap;
    size_t max;  /* 0 = 64 MiB */
    bool err;    /* an append failed (out of memory or over max); content truncated */
};

void s3_buf_init(struct s3_buf *b, size_t max);
void s3_buf_free(struct s3_buf *b);
void s3_buf_reset(struct s3_buf *b);
int s3_buf_add(struct s3_buf *b, const void *p, size_t n);
int s3_buf_adds(struct s3_buf *b, const char *s);
int s3_buf_addc(struct s3_buf *b, char c);
int s3_buf_addf(struct s3_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *s3_buf_cstr(struct s3_buf *b); /* NUL-terminated view ("" when empty) */

/* ---- S3 error codes ---- */
enum s3_err {
    S3E_OK = 0,
    S3E_AccessDenied,
    S3E_AuthorizationHeaderMalformed,
    S3E_AuthorizationQueryParametersError,
    S3E_BadDigest,
    S3E_BucketAlreadyExists,
    S3E_BucketAlreadyOwnedByYou,
    S3E_BucketNotEmpty,
    S3E_EntityTooLarge,
    S3E_EntityTooSmall,
    S3E_IncompleteBody,
    S3E_InternalError,
    S3E_InvalidAccessKeyId,
    S3E_InvalidArgument,
    S3E_InvalidBucketName,
    S3E_InvalidChunkSizeError,
    S3E_InvalidDigest,
    S3E_InvalidPart,
    S3E_InvalidPartOrder,
    S3E_InvalidRange,
    S3E_InvalidRequest,
    S3E_KeyTooLongError,
    S3E_MalformedXML,
    S3E_MetadataTooLarge,
    S3E_MethodNotAllowed,
    S3E_MissingContentLength,
    S3E_MissingSecurityHeader,
    S3E_NoSuchBucket,
    S3E_NoSuchKey,
    S3E_NoSuchUpload,
    S3E_NoSuchVersion,
    S3E_NotImplemented,
    S3E_NotModified,
    S3E_PreconditionFailed,
    S3E_RequestHeaderSectionTooLarge,
    S3E_RequestTimeout,
    S3E_RequestTimeTooSkewed,
    S3E_SignatureDoesNotMatch,
    S3E_SlowDown,
    S3E_XAmzContentSHA256Mismatch,
    S3E_InvalidObjectName,
    S3E_ServiceUnavailable,
    S3E_InvalidBucketState,
    S3E_MalformedPolicy,
    S3E_NoSuchBucketPolicy,
    S3E__COUNT
};

const char *s3_err_code(enum s3_err e);    /* "NoSuchKey" */
int s3_err_status(enum s3_err e);          /* 404 */
const char *s3_err_message(enum s3_err e); /* default human message */
/* Map a negative errno / CFS_E* to an S3 error (for objects: ENOENT -> NoSuchKey). */
enum s3_err s3_err_from_errno(int err, bool bucket);
/* The errno behind the last SlowDown s3_err_from_errno gave on this thread (0: none); clears it. */
int s3_err_take_retry(void);

/* ---- request header view ---- */
struct s3_hdr {
    const char *name;
    size_t nlen;
    const char *val;
    size_t vlen;
};

/* Case-insensitive lookup; the first match or NULL. */
const struct s3_hdr *s3_hdr_find(const struct s3_hdr *h, size_t n, const char *name);

/* ---- encoding ---- */
/* S3/SigV4 URI encoding: unreserved A-Za-z0-9-._~ kept, '/' kept when keep_slash. */
int s3_uri_encode(struct s3_buf *b, const char *s, size_t n, bool keep_slash);
/*
 * Percent-decode s[0..n) into out (capacity outcap, NUL-terminated). plus_space: '+' is a
 * space (query strings). Fails (-1) on a bad escape, an embedded NUL or no room.
 */
ssize_t s3_uri_decode(const char *s, size_t n, char *out, size_t outcap, bool plus_space);

void s3_hex(const uint8_t *in, size_t n, char *out); /* out: 2n+1 */
int s3_unhex(const char *s, size_t n, uint8_t *out);  /* n even; -1 on bad digit */
/* Base64 (standard alphabet, padded). enc: out has 4*((n+2)/3)+1. dec: -1 on bad input. */
size_t s3_b64_enc(const uint8_t *in, size_t n, char *out);
ssize_t s3_b64_dec(const char *in, size_t n, uint8_t *out, size_t outcap);

/* Constant-time compare of equal-length strings. */
bool s3_ct_equal(const char *a, const char *b, size_t n);

/* Parse an unsigned decimal integer; whole string; no sign; -1 on overflow/garbage. */
int s3_parse_u64(const char *s, size_t n, uint64_t *out);

/* Times: ISO8601 basic "20130524T000000Z" and RFC 1123 / RFC 850 / asctime http-dates. */
int s3_parse_amz_date(const char *s, size_t n, int64_t *out);
int s3_parse_http_date(const char *s, size_t n, int64_t *out);
void s3_fmt_http_date(int64_t t, char out[64]);      /* "Wed, 25 Nov 2026 00:00:00 GMT" */
void s3_fmt_iso8601(int64_t sec, long nsec, char out[64]); /* "2026-11-25T00:00:00.000Z" */

#endif
