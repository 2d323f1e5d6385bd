/*
 * modules/s3/s3util.c - the S3 module's small helpers: bounded buffers, the error table,
 * header lookup, SigV4 URI encoding, hex/base64 and date parsing and formatting.
 */
#include "s3util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cfs/errors.h>

#define S3_BUF_DEFAULT_MAX (64u << 20)

void s3_buf_init(struct s3_buf *b, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max ? max : S3_BUF_DEFAULT_MAX;
}

void s3_buf_free(struct s3_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->err = false;
}

void s3_buf_reset(struct s3_buf *b)
{
    b->len = 0;
    b->err = false;
}

static int buf_reserve(struct s3_buf *b, size_t extra)
{
    if (b->err)
        return -1;
    if (extra > b->max || b->len + extra + 1 > b->max) {
        b->err = true;
        return -1;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < need)
        ncap *= 2;
    if (ncap > b->max)
        ncap = b->max;
    char *np = realloc(b->p, ncap);
    if (!np) {
        b->err = true;
        return -1;
    }
    b->p = np;
    b->cap = ncap;
    return 0;
}

int s3_buf_add(struct s3_buf *b, const void *p, size_t n)
{
    if (buf_reserve(b, n) < 0)
        return -1;
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int s3_buf_adds(struct s3_buf *b, const char *s)
{
    return s3_buf_add(b, s, strlen(s));
}

int s3_buf_addc(struct s3_buf *b, char c)
{
    return s3_buf_add(b, &c, 1);
}

int s3_buf_addf(struct s3_buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->err = true;
        return -1;
    }
    if ((size_t)n < sizeof(small))
        return s3_buf_add(b, small, (size_t)n);
    if (buf_reserve(b, (size_t)n) < 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

const char *s3_buf_cstr(struct s3_buf *b)
{
    return b->p ? b->p : "";
}

/* ---- errors ---- */

static const struct {
    const char *code;
    int status;
    const char *msg;
} s3_errs[S3E__COUNT] = {
    [S3E_OK] = {"OK", 200, "OK"},
    [S3E_AccessDenied] = {"AccessDenied", 403, "Access Denied."},
    [S3E_AuthorizationHeaderMalformed] = {"AuthorizationHeaderMalformed", 400,
                                          "The authorization header is malformed."},
    [S3E_AuthorizationQueryParametersError] = {"AuthorizationQueryParametersError", 400,
                                               "Error parsing the X-Amz-Credential parameter."},
    [S3E_BadDigest] = {"BadDigest", 400,
                       "The Content-MD5 or checksum you specified did not match what we received."},
    [S3E_BucketAlreadyExists] = {"BucketAlreadyExists", 409,
                                 "The requested bucket name is not available."},
    [S3E_BucketAlreadyOwnedByYou] = {"BucketAlreadyOwnedByYou", 409,
                                     "Your previous request to create the named bucket succeeded and you already own it."},
    [S3E_BucketNotEmpty] = {"BucketNotEmpty", 409, "The bucket you tried to delete is not empty."},
    [S3E_EntityTooLarge] = {"EntityTooLarge", 400,
                            "Your proposed upload exceeds the maximum allowed object size."},
    [S3E_EntityTooSmall] = {"EntityTooSmall", 400,
                            "Your proposed upload is smaller than the minimum allowed object size."},
    [S3E_IncompleteBody] = {"IncompleteBody", 400,
                            "You did not provide the number of bytes specified by the Content-Length HTTP header."},
    [S3E_InternalError] = {"InternalError", 500,
                           "We encountered an internal error. Please try again."},
    [S3E_InvalidAccessKeyId] = {"InvalidAccessKeyId", 403,
                                "The AWS access key ID you provided does not exist in our records."},
    [S3E_InvalidArgument] = {"InvalidArgument", 400, "Invalid Argument."},
    [S3E_InvalidBucketName] = {"InvalidBucketName", 400, "The specified bucket is not valid."},
    [S3E_InvalidChunkSizeError] = {"InvalidChunkSizeError", 403,
                                   "Only the last chunk is allowed to have a size less than 8192 bytes."},
    [S3E_InvalidDigest] = {"InvalidDigest", 400, "The Content-MD5 you specified is not valid."},
    [S3E_InvalidPart] = {"InvalidPart", 400,
                         "One or more of the specified parts could not be found."},
    [S3E_InvalidPartOrder] = {"InvalidPartOrder", 400,
                              "The list of parts was not in ascending order."},
    [S3E_InvalidRange] = {"InvalidRange", 416, "The requested range is not satisfiable."},
    [S3E_InvalidRequest] = {"InvalidRequest", 400, "Invalid Request."},
    [S3E_KeyTooLongError] = {"KeyTooLongError", 400, "Your key is too long."},
    [S3E_MalformedXML] = {"MalformedXML", 400,
                          "The XML you provided was not well-formed or did not validate against our published schema."},
    [S3E_MetadataTooLarge] = {"MetadataTooLarge", 400,
                              "Your metadata headers exceed the maximum allowed metadata size."},
    [S3E_MethodNotAllowed] = {"MethodNotAllowed", 405,
                              "The specified method is not allowed against this resource."},
    [S3E_MissingContentLength] = {"MissingContentLength", 411,
                                  "You must provide the Content-Length HTTP header."},
    [S3E_MissingSecurityHeader] = {"MissingSecurityHeader", 400,
                                   "Your request is missing a required header."},
    [S3E_NoSuchBucket] = {"NoSuchBucket", 404, "The specified bucket does not exist."},
    [S3E_NoSuchKey] = {"NoSuchKey", 404, "The specified key does not exist."},
    [S3E_NoSuchUpload] = {"NoSuchUpload", 404, "The specified multipart upload does not exist."},
    [S3E_NoSuchVersion] = {"NoSuchVersion", 404, "The specified version does not exist."},
    [S3E_NotImplemented] = {"NotImplemented", 501,
                            "A header or query you provided implies functionality that is not implemented."},
    [S3E_NotModified] = {"NotModified", 304, "Not Modified."},
    [S3E_PreconditionFailed] = {"PreconditionFailed", 412,
                                "At least one of the preconditions you specified did not hold."},
    [S3E_RequestHeaderSectionTooLarge] = {"RequestHeaderSectionTooLarge", 400,
                                          "Your request header section exceeds the maximum allowed size."},
    [S3E_RequestTimeout] = {"RequestTimeout", 400,
                            "Your socket connection to the server was not read from or written to within the timeout period."},
    [S3E_RequestTimeTooSkewed] = {"RequestTimeTooSkewed", 403,
                                  "The difference between the request time and the server's time is too large."},
    [S3E_SignatureDoesNotMatch] = {"SignatureDoesNotMatch", 403,
                                   "The request signature we calculated does not match the signature you provided. Check your key and signing method."},
    [S3E_SlowDown] = {"SlowDown", 503, "Please reduce your request rate."},
    [S3E_XAmzContentSHA256Mismatch] = {"XAmzContentSHA256Mismatch", 400,
                                       "The provided 'x-amz-content-sha256' header does not match what was computed."},
    [S3E_InvalidObjectName] = {"InvalidObjectName", 400,
                               "Object name contains a '..' or empty path segment, or names a directory."},
    [S3E_ServiceUnavailable] = {"ServiceUnavailable", 503, "The service is unavailable. Please retry."},
    [S3E_InvalidBucketState] = {"InvalidBucketState", 409,
                                "The request is not valid with the current state of the bucket."},
    [S3E_MalformedPolicy] = {"MalformedPolicy", 400, "Policies must be valid JSON."},
    [S3E_NoSuchBucketPolicy] = {"NoSuchBucketPolicy", 404, "The bucket policy does not exist."},
};

const char *s3_err_code(enum s3_err e)
{
    return (unsigned)e < S3E__COUNT && s3_errs[e].code ? s3_errs[e].code : "InternalError";
}

int s3_err_status(enum s3_err e)
{
    return (unsigned)e < S3E__COUNT && s3_errs[e].code ? s3_errs[e].status : 500;
}

const char *s3_err_message(enum s3_err e)
{
    return (unsigned)e < S3E__COUNT && s3_errs[e].code ? s3_errs[e].msg : "Internal error.";
}

/* The last retry-later errno mapped on this thread (for the warning s3_req_error logs). */
static __thread int tl_retry_err;

int s3_err_take_retry(void)
{
    int e = tl_retry_err;
    tl_retry_err = 0;
    return e;
}

enum s3_err s3_err_from_errno(int err, bool bucket)
{
    switch (err) {
    case 0: return S3E_OK;
    case -ENOENT:
    case -ESTALE: return bucket ? S3E_NoSuchBucket : S3E_NoSuchKey;
    case -EACCES:
    case -EPERM:
    case -EROFS: return S3E_AccessDenied;
    case -EEXIST: return bucket ? S3E_BucketAlreadyOwnedByYou : S3E_InvalidObjectName;
    case -ENOTEMPTY: return bucket ? S3E_BucketNotEmpty : S3E_InvalidObjectName;
    case -ENOTDIR:
    case -EISDIR:
    case -ENAMETOOLONG: return S3E_InvalidObjectName;
    case -EFBIG:
    case -ENOSPC:
    case -EDQUOT: return S3E_EntityTooLarge;
    case -EINVAL: return S3E_InvalidArgument;
    case CFS_ERETRY:
    case -EAGAIN:
    case -EBUSY: tl_retry_err = err; return S3E_SlowDown;
    case CFS_ETIMEDOUT: return S3E_ServiceUnavailable;
    default: return S3E_InternalError;
    }
}

/* ---- headers ---- */

const struct s3_hdr *s3_hdr_find(const struct s3_hdr *h, size_t n, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < n; i++)
        if (h[i].nlen == len && strncasecmp(h[i].name, name, len) == 0)
            return &h[i];
    return NULL;
}

/* ---- encoding ---- */

static const char hexd[] = "0123456789ABCDEF";
static const char hexl[] = "0123456789abcdef";

int s3_uri_encode(struct s3_buf *b, const char *s, size_t n, bool keep_slash)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~' || (c == '/' && keep_slash)) {
            if (s3_buf_addc(b, (char)c) < 0)
                return -1;
        } else {
            char e[3] = {'%', hexd[c >> 4], hexd[c & 15]};
            if (s3_buf_add(b, e, 3) < 0)
                return -1;
        }
    }
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

ssize_t s3_uri_decode(const char *s, size_t n, char *out, size_t outcap, bool plus_space)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
            if (h < 0 || l < 0)
                return -1;
            c = (char)(h << 4 | l);
            i += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        }
        if (c == '\0' || o + 1 >= outcap)
            return -1;
        out[o++] = c;
    }
    if (o >= outcap)
        return -1;
    out[o] = '\0';
    return (ssize_t)o;
}

void s3_hex(const uint8_t *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexl[in[i] >> 4];
        out[2 * i + 1] = hexl[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int s3_unhex(const char *s, size_t n, uint8_t *out)
{
    if (n % 2)
        return -1;
    for (size_t i = 0; i < n; i += 2) {
        int h = hexval(s[i]), l = hexval(s[i + 1]);
        if (h < 0 || l < 0)
            return -1;
        out[i / 2] = (uint8_t)(h << 4 | l);
    }
    return 0;
}

static const char b64a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t s3_b64_enc(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64a[v >> 18];
        out[o++] = b64a[(v >> 12) & 63];
        out[o++] = b64a[(v >> 6) & 63];
        out[o++] = b64a[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = b64a[v >> 18];
        out[o++] = b64a[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64a[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

ssize_t s3_b64_dec(const char *in, size_t n, uint8_t *out, size_t outcap)
{
    if (n % 4)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            if (in[i + k] == '=') {
                if (i + 4 != n || k < 2)
                    return -1;
                v[k] = 0;
                pad++;
            } else {
                if (pad)
                    return -1;
                v[k] = b64val(in[i + k]);
                if (v[k] < 0)
                    return -1;
            }
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
                     (uint32_t)v[3];
        size_t take = 3 - (size_t)pad;
        if (o + take > outcap)
            return -1;
        out[o++] = (uint8_t)(w >> 16);
        if (take > 1)
            out[o++] = (uint8_t)(w >> 8);
        if (take > 2)
            out[o++] = (uint8_t)w;
    }
    return (ssize_t)o;
}

bool s3_ct_equal(const char *a, const char *b, size_t n)
{
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

int s3_parse_u64(const char *s, size_t n, uint64_t *out)
{
    if (n == 0 || n > 20)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int s3_parse_amz_date(const char *s, size_t n, int64_t *out)
{
    /* 20130524T000000Z */
    if (n != 16 || s[8] != 'T' || s[15] != 'Z')
        return -1;
    int y = digits(s, 4), mo = digits(s + 4, 2), d = digits(s + 6, 2);
    int h = digits(s + 9, 2), mi = digits(s + 11, 2), se = digits(s + 13, 2);
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 ||
        mi > 59 || se < 0 || se > 60)
        return -1;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    *out = (int64_t)timegm(&tm);
    return 0;
}

int s3_parse_http_date(const char *s, size_t n, int64_t *out)
{
    char tmp[64];
    if (n == 0 || n >= sizeof(tmp))
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    static const char *const fmts[] = {
        "%a, %d %b %Y %H:%M:%S GMT", /* RFC 1123 */
        "%A, %d-%b-%y %H:%M:%S GMT", /* RFC 850 */
        "%a %b %e %H:%M:%S %Y",      /* asctime */
        "%Y-%m-%dT%H:%M:%SZ",        /* ISO 8601 (some clients) */
    };
    for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
        struct tm tm = {0};
        const char *end = strptime(tmp, fmts[i], &tm);
        if (end && *end == '\0') {
            *out = (int64_t)timegm(&tm);
            return 0;
        }
    }
    return -1;
}

void s3_fmt_http_date(int64_t t, char out[64])
{
    static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const mn[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    snprintf(out, 64, "%s, %02d %s %04d %02d:%02d:%02d GMT", wd[tm.tm_wday % 7], tm.tm_mday,
             mn[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void s3_fmt_iso8601(int64_t sec, long nsec, char out[64])
{
    time_t tt = (time_t)sec;
    struct tm tm;
    gmtime_r(&tt, &tm);
    snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)((nsec / 1000000) % 1000));
}
