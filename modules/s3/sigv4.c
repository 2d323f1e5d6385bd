/*
 * modules/s3/sigv4.c - AWS Signature Version 4 as S3 uses it (header and presigned query
 * authentication) and the aws-chunked body decoder with chunk and trailer signatures.
 *
 * S3 canonicalisation differs from the generic SigV4 rules: the path is not normalised
 * (no dot-segment removal, no slash merging) and is encoded once. We decode what the
 * client sent and encode it again with the SigV4 rules, which gives the client's
 * canonical form whatever subset of characters it chose to escape.
 */
#include "sigv4.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define ALGO "AWS4-HMAC-SHA256"
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define S3_MAX_QUERY_PAIRS 256
#define S3_MAX_PARAM 4096

/* ---- small string helpers ---- */

static bool span_eq(const char *s, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n == l && memcmp(s, lit, l) == 0;
}

static int copy_span(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        return -1;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

static bool is_hex64(const char *s, size_t n)
{
    if (n != 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

/* Find query parameter `name` (exact, case-sensitive, after decoding the key). */
static const char *query_find(const char *q, size_t qlen, const char *name, size_t *vlen)
{
    if (!q)
        return NULL;
    size_t i = 0;
    char key[128];
    while (i <= qlen) {
        size_t j = i;
        while (j < qlen && q[j] != '&')
            j++;
        const char *eq = memchr(q + i, '=', j - i);
        size_t klen = eq ? (size_t)(eq - (q + i)) : j - i;
        if (s3_uri_decode(q + i, klen, key, sizeof(key), true) >= 0 && strcmp(key, name) == 0) {
            if (eq) {
                *vlen = (size_t)(q + j - (eq + 1));
                return eq + 1;
            }
            *vlen = 0;
            return q + j;
        }
        i = j + 1;
    }
    return NULL;
}

/* Decoded query parameter into out; -1 when absent or invalid. */
static int query_get(const struct s3_reqview *rq, const char *name, char *out, size_t cap)
{
    size_t vlen;
    const char *v = query_find(rq->query, rq->query_len, name, &vlen);
    if (!v)
        return -1;
    return s3_uri_decode(v, vlen, out, cap, true) < 0 ? -2 : 0;
}

/* "AKID/20150830/us-east-1/s3/aws4_request" */
static int parse_credential(const char *s, size_t n, struct s3_sigv4 *sv)
{
    const char *slash[4];
    int k = 0;
    for (size_t i = n; i-- > 0 && k < 4;)
        if (s[i] == '/')
            slash[k++] = s + i;
    if (k < 4)
        return -1;
    /* slash[3] is the first of the last four */
    const char *ak = s, *d = slash[3] + 1, *r = slash[2] + 1, *svc = slash[1] + 1,
               *term = slash[0] + 1;
    if (copy_span(sv->access_key, sizeof(sv->access_key), ak, (size_t)(slash[3] - ak)) < 0 ||
        sv->access_key[0] == '\0')
        return -1;
    if ((size_t)(slash[2] - d) != 8 ||
        copy_span(sv->date, sizeof(sv->date), d, 8) < 0)
        return -1;
    if (copy_span(sv->region, sizeof(sv->region), r, (size_t)(slash[1] - r)) < 0 ||
        copy_span(sv->service, sizeof(sv->service), svc, (size_t)(slash[0] - svc)) < 0)
        return -1;
    if (!span_eq(term, (size_t)(s + n - term), "aws4_request"))
        return -1;
    size_t sl = (size_t)(s + n - d);
    if (copy_span(sv->scope, sizeof(sv->scope), d, sl) < 0)
        return -1;
    return 0;
}

static int check_signed_headers(const char *s)
{
    /* lowercase names separated by ';' */
    if (!*s)
        return -1;
    int n = 1;
    for (const char *p = s; *p; p++) {
        if (*p == ';') {
            if (p[1] == '\0' || p[1] == ';' || ++n > S3_SIGV4_MAX_SIGNED_HEADERS)
                return -1;
        } else if ((unsigned char)*p <= ' ' || *p == ':' || (*p >= 'A' && *p <= 'Z')) {
            return -1;
        }
    }
    return s[0] == ';' ? -1 : 0;
}

static enum s3_err parse_payload(const struct s3_reqview *rq, struct s3_sigv4 *sv)
{
    const struct s3_hdr *h = s3_hdr_find(rq->hdrs, rq->nhdrs, "x-amz-content-sha256");
    char qv[80];
    const char *v = NULL;
    size_t n = 0;
    if (h) {
        v = h->val;
        n = h->vlen;
    } else if (sv->kind == S3_AUTH_QUERY &&
               query_get(rq, "X-Amz-Content-Sha256", qv, sizeof(qv)) == 0) {
        v = qv;
        n = strlen(qv);
    }
    if (!v) {
        if (sv->kind == S3_AUTH_QUERY) {
            sv->payload = S3_PL_UNSIGNED;
        } else {
            sv->payload = S3_PL_HASH;
            memcpy(sv->payload_hash, EMPTY_SHA256, 65);
        }
        return S3E_OK;
    }
    if (span_eq(v, n, "UNSIGNED-PAYLOAD"))
        sv->payload = S3_PL_UNSIGNED;
    else if (span_eq(v, n, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"))
        sv->payload = S3_PL_STREAMING_SIGNED;
    else if (span_eq(v, n, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"))
        sv->payload = S3_PL_STREAMING_SIGNED_TRAILER;
    else if (span_eq(v, n, "STREAMING-UNSIGNED-PAYLOAD-TRAILER"))
        sv->payload = S3_PL_STREAMING_UNSIGNED_TRAILER;
    else if (is_hex64(v, n)) {
        sv->payload = S3_PL_HASH;
        memcpy(sv->payload_hash, v, 64);
        sv->payload_hash[64] = '\0';
    } else {
        sv->detail = "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-* or a hex SHA-256";
        return S3E_InvalidArgument;
    }
    return S3E_OK;
}

static void skip_ws(const char **p, const char *end)
{
    while (*p < end && (**p == ' ' || **p == '\t'))
        (*p)++;
}

static enum s3_err parse_header_auth(const char *a, size_t n, struct s3_sigv4 *sv)
{
    const char *p = a, *end = a + n;
    size_t al = sizeof(ALGO) - 1;
    if (n < al + 1 || memcmp(p, ALGO, al) != 0 || (p[al] != ' ' && p[al] != '\t')) {
        sv->detail = "unsupported authorization type (only AWS4-HMAC-SHA256 is accepted)";
        return S3E_AuthorizationHeaderMalformed;
    }
    p += al;
    bool have_c = false, have_h = false, have_s = false;
    while (p < end) {
        skip_ws(&p, end);
        const char *k = p;
        while (p < end && *p != '=' && *p != ',')
            p++;
        if (p >= end || *p != '=')
            goto bad;
        size_t klen = (size_t)(p - k);
        const char *v = ++p;
        while (p < end && *p != ',')
            p++;
        size_t vlen = (size_t)(p - v);
        while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
            vlen--;
        if (p < end)
            p++; /* ',' */
        if (span_eq(k, klen, "Credential")) {
            if (parse_credential(v, vlen, sv) < 0)
                goto bad;
            have_c = true;
        } else if (span_eq(k, klen, "SignedHeaders")) {
            if (copy_span(sv->signed_headers, sizeof(sv->signed_headers), v, vlen) < 0 ||
                check_signed_headers(sv->signed_headers) < 0)
                goto bad;
            have_h = true;
        } else if (span_eq(k, klen, "Signature")) {
            if (!is_hex64(v, vlen))
                goto bad;
            memcpy(sv->signature, v, 64);
            sv->signature[64] = '\0';
            have_s = true;
        } else {
            goto bad;
        }
    }
    if (!have_c || !have_h || !have_s)
        goto bad;
    return S3E_OK;
bad:
    sv->detail = "the Authorization header is malformed";
    return S3E_AuthorizationHeaderMalformed;
}

static enum s3_err parse_query_auth(const struct s3_reqview *rq, struct s3_sigv4 *sv)
{
    char v[S3_MAX_PARAM];
    if (query_get(rq, "X-Amz-Algorithm", v, sizeof(v)) != 0 || strcmp(v, ALGO) != 0)
        goto bad;
    if (query_get(rq, "X-Amz-Credential", v, sizeof(v)) != 0 ||
        parse_credential(v, strlen(v), sv) < 0)
        goto bad;
    if (query_get(rq, "X-Amz-Date", v, sizeof(v)) != 0 ||
        copy_span(sv->amz_date, sizeof(sv->amz_date), v, strlen(v)) < 0 ||
        s3_parse_amz_date(sv->amz_date, strlen(sv->amz_date), &sv->t) < 0)
        goto bad;
    uint64_t e;
    if (query_get(rq, "X-Amz-Expires", v, sizeof(v)) != 0 || s3_parse_u64(v, strlen(v), &e) < 0)
        goto bad;
    if (e > S3_SIGV4_MAX_EXPIRES) {
        sv->detail = "X-Amz-Expires must be less than a week (604800 seconds)";
        return S3E_AuthorizationQueryParametersError;
    }
    sv->expires = (int64_t)e;
    if (query_get(rq, "X-Amz-SignedHeaders", sv->signed_headers, sizeof(sv->signed_headers)) != 0 ||
        check_signed_headers(sv->signed_headers) < 0)
        goto bad;
    if (query_get(rq, "X-Amz-Signature", v, sizeof(v)) != 0 || !is_hex64(v, strlen(v)))
        goto bad;
    memcpy(sv->signature, v, 65);
    return S3E_OK;
bad:
    sv->detail = "query-string authentication requires X-Amz-Algorithm, X-Amz-Credential, "
                 "X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders and X-Amz-Signature";
    return S3E_AuthorizationQueryParametersError;
}

enum s3_err s3_sigv4_parse(const struct s3_reqview *rq, struct s3_sigv4 *sv)
{
    memset(sv, 0, sizeof(*sv));
    const struct s3_hdr *auth = s3_hdr_find(rq->hdrs, rq->nhdrs, "authorization");
    size_t vl;
    bool q = query_find(rq->query, rq->query_len, "X-Amz-Signature", &vl) != NULL ||
             query_find(rq->query, rq->query_len, "X-Amz-Credential", &vl) != NULL;
    enum s3_err e;
    if (auth && q) {
        sv->detail = "only one auth mechanism allowed";
        return S3E_InvalidArgument;
    }
    if (auth && auth->vlen > 4 && memcmp(auth->val, "AWS ", 4) == 0) {
        /* SigV2: "AWS AKID:base64(HMAC-SHA1)" */
        const char *colon = memrchr(auth->val, ':', auth->vlen);
        size_t sl = colon ? auth->vlen - (size_t)(colon + 1 - auth->val) : 0;
        if (!colon || colon == auth->val + 4 || sl == 0 || sl >= sizeof(sv->signature) ||
            copy_span(sv->access_key, sizeof(sv->access_key), auth->val + 4,
                      (size_t)(colon - auth->val - 4)) < 0) {
            sv->detail = "the Authorization header is malformed";
            return S3E_AuthorizationHeaderMalformed;
        }
        memcpy(sv->signature, colon + 1, sl);
        sv->signature[sl] = '\0';
        sv->kind = S3_AUTH_V2_HEADER;
        const struct s3_hdr *d = s3_hdr_find(rq->hdrs, rq->nhdrs, "x-amz-date");
        if (!d)
            d = s3_hdr_find(rq->hdrs, rq->nhdrs, "date");
        if (!d || (s3_parse_http_date(d->val, d->vlen, &sv->t) < 0 &&
                   s3_parse_amz_date(d->val, d->vlen, &sv->t) < 0))
            goto baddate;
        sv->payload = S3_PL_UNSIGNED;
        return S3E_OK;
    }
    if (!auth && query_find(rq->query, rq->query_len, "AWSAccessKeyId", &vl) &&
        query_find(rq->query, rq->query_len, "Signature", &vl)) {
        char v[256];
        uint64_t ex;
        sv->kind = S3_AUTH_V2_QUERY;
        if (query_get(rq, "AWSAccessKeyId", sv->access_key, sizeof(sv->access_key)) != 0 ||
            query_get(rq, "Signature", sv->signature, sizeof(sv->signature)) != 0 ||
            query_get(rq, "Expires", v, sizeof(v)) != 0 || s3_parse_u64(v, strlen(v), &ex) < 0 ||
            ex > INT64_MAX / 2) {
            sv->detail = "query-string authentication requires AWSAccessKeyId, Signature and Expires";
            return S3E_AccessDenied;
        }
        sv->expires = (int64_t)ex;
        sv->t = (int64_t)ex;
        sv->payload = S3_PL_UNSIGNED;
        return S3E_OK;
    }
    if (auth) {
        sv->kind = S3_AUTH_HEADER;
        e = parse_header_auth(auth->val, auth->vlen, sv);
        if (e)
            return e;
        const struct s3_hdr *d = s3_hdr_find(rq->hdrs, rq->nhdrs, "x-amz-date");
        if (d) {
            if (copy_span(sv->amz_date, sizeof(sv->amz_date), d->val, d->vlen) < 0 ||
                s3_parse_amz_date(d->val, d->vlen, &sv->t) < 0)
                goto baddate;
        } else {
            d = s3_hdr_find(rq->hdrs, rq->nhdrs, "date");
            if (!d || s3_parse_http_date(d->val, d->vlen, &sv->t) < 0)
                goto baddate;
            time_t tt = (time_t)sv->t;
            struct tm tm;
            gmtime_r(&tt, &tm);
            strftime(sv->amz_date, sizeof(sv->amz_date), "%Y%m%dT%H%M%SZ", &tm);
        }
    } else if (q) {
        sv->kind = S3_AUTH_QUERY;
        e = parse_query_auth(rq, sv);
        if (e)
            return e;
    } else {
        sv->kind = S3_AUTH_NONE;
    }
    return parse_payload(rq, sv);
baddate:
    sv->detail = "AWS authentication requires a valid Date or x-amz-date header";
    return S3E_AccessDenied;
}

/* ---- canonical request ---- */

struct qpair {
    char *k, *v;
};

static int qpair_cmp(const void *a, const void *b)
{
    const struct qpair *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    return c ? c : strcmp(x->v, y->v);
}

static char *encode_dup(const char *raw, size_t n)
{
    char *dec = malloc(n + 1);
    if (!dec)
        return NULL;
    if (s3_uri_decode(raw, n, dec, n + 1, true) < 0) {
        free(dec);
        return NULL;
    }
    struct s3_buf b;
    s3_buf_init(&b, 3 * n + 16);
    s3_uri_encode(&b, dec, strlen(dec), false);
    free(dec);
    if (b.err) {
        s3_buf_free(&b);
        return NULL;
    }
    if (!b.p)
        return strdup("");
    return b.p;
}

static int canonical_query(const struct s3_reqview *rq, bool presigned, struct s3_buf *out)
{
    if (!rq->query || rq->query_len == 0)
        return 0;
    struct qpair *pairs = calloc(S3_MAX_QUERY_PAIRS, sizeof(*pairs));
    size_t np = 0;
    int rc = -1;
    if (!pairs)
        return -1;
    const char *q = rq->query;
    size_t qlen = rq->query_len, i = 0;
    while (i <= qlen) {
        size_t j = i;
        while (j < qlen && q[j] != '&')
            j++;
        if (j > i) {
            const char *eq = memchr(q + i, '=', j - i);
            size_t klen = eq ? (size_t)(eq - (q + i)) : j - i;
            if (np >= S3_MAX_QUERY_PAIRS)
                goto out;
            char *k = encode_dup(q + i, klen);
            char *v = eq ? encode_dup(eq + 1, (size_t)(q + j - eq - 1)) : strdup("");
            if (!k || !v) {
                free(k);
                free(v);
                goto out;
            }
            if (presigned && strcmp(k, "X-Amz-Signature") == 0) {
                free(k);
                free(v);
            } else {
                pairs[np].k = k;
                pairs[np].v = v;
                np++;
            }
        }
        i = j + 1;
    }
    if (np > 1)
        qsort(pairs, np, sizeof(*pairs), qpair_cmp);
    for (size_t k = 0; k < np; k++) {
        if (k)
            s3_buf_addc(out, '&');
        s3_buf_adds(out, pairs[k].k);
        s3_buf_addc(out, '=');
        s3_buf_adds(out, pairs[k].v);
    }
    rc = out->err ? -1 : 0;
out:
    for (size_t k = 0; k < np; k++) {
        free(pairs[k].k);
        free(pairs[k].v);
    }
    free(pairs);
    return rc;
}

/* Append the trimmed value with inner runs of spaces collapsed. */
static void add_trimmed(struct s3_buf *out, const char *v, size_t n)
{
    size_t a = 0, b = n;
    while (a < b && (v[a] == ' ' || v[a] == '\t'))
        a++;
    while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t'))
        b--;
    bool sp = false;
    for (size_t i = a; i < b; i++) {
        if (v[i] == ' ' || v[i] == '\t') {
            sp = true;
            continue;
        }
        if (sp)
            s3_buf_addc(out, ' ');
        sp = false;
        s3_buf_addc(out, v[i]);
    }
}

int s3_sigv4_canonical(const struct s3_reqview *rq, const struct s3_sigv4 *sv,
                       struct s3_buf *out)
{
    s3_buf_adds(out, rq->method);
    s3_buf_addc(out, '\n');
    /* path: decode once, encode once; an empty path is "/" */
    if (rq->path_len == 0) {
        s3_buf_addc(out, '/');
    } else {
        char *dec = malloc(rq->path_len + 1);
        if (!dec || s3_uri_decode(rq->path, rq->path_len, dec, rq->path_len + 1, false) < 0) {
            free(dec);
            return -1;
        }
        s3_uri_encode(out, dec, strlen(dec), true);
        free(dec);
    }
    s3_buf_addc(out, '\n');
    if (canonical_query(rq, sv->kind == S3_AUTH_QUERY, out) < 0)
        return -1;
    s3_buf_addc(out, '\n');
    /* headers in the order of SignedHeaders (the client sorted them) */
    const char *sh = sv->signed_headers;
    while (*sh) {
        const char *e = strchr(sh, ';');
        size_t nl = e ? (size_t)(e - sh) : strlen(sh);
        s3_buf_add(out, sh, nl);
        s3_buf_addc(out, ':');
        bool first = true;
        for (size_t i = 0; i < rq->nhdrs; i++) {
            const struct s3_hdr *h = &rq->hdrs[i];
            if (h->nlen != nl || strncasecmp(h->name, sh, nl) != 0)
                continue;
            if (!first)
                s3_buf_addc(out, ',');
            first = false;
            add_trimmed(out, h->val, h->vlen);
        }
        s3_buf_addc(out, '\n');
        sh += nl;
        if (*sh == ';')
            sh++;
    }
    s3_buf_addc(out, '\n');
    s3_buf_adds(out, sv->signed_headers);
    s3_buf_addc(out, '\n');
    switch (sv->payload) {
    case S3_PL_HASH: s3_buf_adds(out, sv->payload_hash); break;
    case S3_PL_UNSIGNED: s3_buf_adds(out, "UNSIGNED-PAYLOAD"); break;
    case S3_PL_STREAMING_SIGNED: s3_buf_adds(out, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"); break;
    case S3_PL_STREAMING_SIGNED_TRAILER:
        s3_buf_adds(out, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER");
        break;
    case S3_PL_STREAMING_UNSIGNED_TRAILER:
        s3_buf_adds(out, "STREAMING-UNSIGNED-PAYLOAD-TRAILER");
        break;
    }
    return out->err ? -1 : 0;
}

void s3_sigv4_string_to_sign(const struct s3_sigv4 *sv, const char *creq, size_t len,
                             struct s3_buf *out)
{
    char h[65];
    s3_sha256_hex(creq, len, h);
    s3_buf_addf(out, ALGO "\n%s\n%s\n%s", sv->amz_date, sv->scope, h);
}

void s3_sigv4_signing_key(const char *secret, const char *date, const char *region,
                          const char *service, uint8_t key[32])
{
    char k0[256];
    size_t sl = strlen(secret);
    if (sl > sizeof(k0) - 5)
        sl = sizeof(k0) - 5;
    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, secret, sl);
    uint8_t a[32], b[32];
    s3_hmac_sha256(k0, 4 + sl, date, strlen(date), a);
    s3_hmac_sha256(a, 32, region, strlen(region), b);
    s3_hmac_sha256(b, 32, service, strlen(service), a);
    s3_hmac_sha256(a, 32, "aws4_request", 12, key);
    OPENSSL_cleanse(k0, sizeof(k0));
    OPENSSL_cleanse(a, sizeof(a));
    OPENSSL_cleanse(b, sizeof(b));
}

/*
 * Signing keys change once a day per (secret, region, service): each thread that verifies
 * (the loops) keeps the last few it derived instead of running the four-HMAC chain on
 * every request. Keyed by the secret itself, so a rotated secret never matches.
 */
#define SK_CACHE 4
struct sk_ent {
    bool used;
    uint8_t secret_hash[32]; /* SHA-256 of the secret: no second copy of it in memory */
    char date[16], region[64], service[16];
    uint8_t key[32];
};
static __thread struct sk_ent sk_cache[SK_CACHE];
static __thread unsigned sk_next;

static void signing_key_cached(const char *secret, const char *date, const char *region,
                               const char *service, uint8_t key[32])
{
    uint8_t h[32];
    size_t dl = strlen(date), rl = strlen(region), sl = strlen(service);
    if (dl >= sizeof(sk_cache[0].date) || rl >= sizeof(sk_cache[0].region) ||
        sl >= sizeof(sk_cache[0].service)) {
        s3_sigv4_signing_key(secret, date, region, service, key);
        return;
    }
    s3_sha256(secret, strlen(secret), h);
    for (int i = 0; i < SK_CACHE; i++) {
        struct sk_ent *e = &sk_cache[i];
        if (e->used && CRYPTO_memcmp(e->secret_hash, h, 32) == 0 && strcmp(e->date, date) == 0 &&
            strcmp(e->region, region) == 0 && strcmp(e->service, service) == 0) {
            memcpy(key, e->key, 32);
            OPENSSL_cleanse(h, sizeof(h));
            return;
        }
    }
    s3_sigv4_signing_key(secret, date, region, service, key);
    struct sk_ent *e = &sk_cache[sk_next++ % SK_CACHE];
    e->used = true;
    memcpy(e->secret_hash, h, 32);
    memcpy(e->date, date, dl + 1);
    memcpy(e->region, region, rl + 1);
    memcpy(e->service, service, sl + 1);
    memcpy(e->key, key, 32);
    OPENSSL_cleanse(h, sizeof(h));
}

void s3_sigv4_sign(const uint8_t key[32], const char *sts, size_t len, char sig[65])
{
    uint8_t d[32];
    s3_hmac_sha256(key, 32, sts, len, d);
    s3_hex(d, 32, sig);
}

/* ---- SigV2 (legacy) ---- */

static const char *const v2_subresources[] = {
    "acl", "cors", "delete", "lifecycle", "location", "logging", "notification", "partNumber",
    "policy", "requestPayment", "response-cache-control", "response-content-disposition",
    "response-content-encoding", "response-content-language", "response-content-type",
    "response-expires", "restore", "tagging", "torrent", "uploadId", "uploads", "versionId",
    "versioning", "versions", "website", NULL,
};

static int v2_sub_cmp(const void *a, const void *b)
{
    const struct qpair *x = a, *y = b;
    return strcmp(x->k, y->k);
}

int s3_sigv2_string_to_sign(const struct s3_reqview *rq, const struct s3_sigv4 *sv,
                            struct s3_buf *out)
{
    const struct s3_hdr *h;
    s3_buf_adds(out, rq->method);
    s3_buf_addc(out, '\n');
    if ((h = s3_hdr_find(rq->hdrs, rq->nhdrs, "content-md5")))
        s3_buf_add(out, h->val, h->vlen);
    s3_buf_addc(out, '\n');
    if ((h = s3_hdr_find(rq->hdrs, rq->nhdrs, "content-type")))
        s3_buf_add(out, h->val, h->vlen);
    s3_buf_addc(out, '\n');
    if (sv->kind == S3_AUTH_V2_QUERY) {
        s3_buf_addf(out, "%lld", (long long)sv->expires);
    } else if (!s3_hdr_find(rq->hdrs, rq->nhdrs, "x-amz-date") &&
               (h = s3_hdr_find(rq->hdrs, rq->nhdrs, "date"))) {
        s3_buf_add(out, h->val, h->vlen);
    }
    s3_buf_addc(out, '\n');
    /* x-amz-* headers, lowercased and sorted, values joined with ',' */
    struct qpair amz[64];
    size_t na = 0;
    for (size_t i = 0; i < rq->nhdrs && na < 64; i++) {
        const struct s3_hdr *x = &rq->hdrs[i];
        if (x->nlen < 6 || strncasecmp(x->name, "x-amz-", 6) != 0)
            continue;
        char *k = strndup(x->name, x->nlen);
        if (!k)
            break;
        for (char *p = k; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p + 32);
        size_t j;
        for (j = 0; j < na && strcmp(amz[j].k, k) != 0; j++)
            ;
        struct s3_buf v;
        s3_buf_init(&v, 8192);
        if (j < na) {
            s3_buf_adds(&v, amz[j].v);
            s3_buf_addc(&v, ',');
            free(amz[j].v);
            free(k);
        } else {
            amz[na].k = k;
            j = na++;
        }
        add_trimmed(&v, x->val, x->vlen);
        amz[j].v = v.p ? v.p : strdup("");
    }
    if (na > 1)
        qsort(amz, na, sizeof(amz[0]), v2_sub_cmp);
    for (size_t i = 0; i < na; i++) {
        s3_buf_addf(out, "%s:%s\n", amz[i].k, amz[i].v ? amz[i].v : "");
        free(amz[i].k);
        free(amz[i].v);
    }
    /* resource: the path as sent, then the sub-resources */
    if (rq->path_len)
        s3_buf_add(out, rq->path, rq->path_len);
    else
        s3_buf_addc(out, '/');
    struct qpair sub[32];
    size_t ns = 0;
    const char *q = rq->query;
    size_t qlen = q ? rq->query_len : 0, i = 0;
    while (q && i <= qlen && ns < 32) {
        size_t j = i;
        while (j < qlen && q[j] != '&')
            j++;
        const char *eq = memchr(q + i, '=', j - i);
        size_t kl = eq ? (size_t)(eq - (q + i)) : j - i;
        for (int k = 0; v2_subresources[k]; k++) {
            if (strlen(v2_subresources[k]) == kl && memcmp(q + i, v2_subresources[k], kl) == 0) {
                sub[ns].k = strndup(q + i, kl);
                sub[ns].v = NULL;
                if (eq) {
                    size_t vl = (size_t)(q + j - eq - 1);
                    sub[ns].v = malloc(vl + 1);
                    if (sub[ns].v && s3_uri_decode(eq + 1, vl, sub[ns].v, vl + 1, true) < 0) {
                        free(sub[ns].v);
                        sub[ns].v = NULL;
                    }
                }
                if (sub[ns].k)
                    ns++;
                else
                    free(sub[ns].v);
                break;
            }
        }
        i = j + 1;
    }
    if (ns > 1)
        qsort(sub, ns, sizeof(sub[0]), v2_sub_cmp);
    for (size_t k = 0; k < ns; k++) {
        s3_buf_addc(out, k ? '&' : '?');
        s3_buf_adds(out, sub[k].k);
        if (sub[k].v) {
            s3_buf_addc(out, '=');
            s3_buf_adds(out, sub[k].v);
        }
        free(sub[k].k);
        free(sub[k].v);
    }
    return out->err ? -1 : 0;
}

static enum s3_err sigv2_verify(const struct s3_reqview *rq, const struct s3_sigv4 *sv,
                                const char *secret, int64_t now, struct s3_buf *sts)
{
    if (sv->kind == S3_AUTH_V2_QUERY) {
        if (now > sv->expires)
            return S3E_AccessDenied;
    } else {
        int64_t d = now - sv->t;
        if (d > S3_SIGV4_MAX_SKEW || d < -S3_SIGV4_MAX_SKEW)
            return S3E_RequestTimeTooSkewed;
    }
    struct s3_buf b;
    s3_buf_init(&b, 1u << 16);
    if (s3_sigv2_string_to_sign(rq, sv, &b) < 0) {
        s3_buf_free(&b);
        return S3E_SignatureDoesNotMatch;
    }
    uint8_t d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    HMAC(EVP_sha1(), secret, (int)strlen(secret), (const uint8_t *)s3_buf_cstr(&b), b.len, d, &dl);
    char sig[64];
    size_t n = s3_b64_enc(d, dl, sig);
    enum s3_err e = (strlen(sv->signature) == n && CRYPTO_memcmp(sig, sv->signature, n) == 0)
                        ? S3E_OK
                        : S3E_SignatureDoesNotMatch;
    if (sts)
        s3_buf_add(sts, s3_buf_cstr(&b), b.len);
    s3_buf_free(&b);
    return e;
}

enum s3_err s3_sigv4_verify(const struct s3_reqview *rq, const struct s3_sigv4 *sv,
                            const char *secret, int64_t now, struct s3_buf *creq,
                            struct s3_buf *sts, uint8_t key[32])
{
    struct s3_buf lc, ls;
    enum s3_err e = S3E_OK;
    if (sv->kind == S3_AUTH_V2_HEADER || sv->kind == S3_AUTH_V2_QUERY)
        return sigv2_verify(rq, sv, secret, now, sts);
    s3_buf_init(&lc, 1u << 20);
    s3_buf_init(&ls, 4096);
    if (sv->kind == S3_AUTH_HEADER) {
        int64_t d = now - sv->t;
        if (d > S3_SIGV4_MAX_SKEW || d < -S3_SIGV4_MAX_SKEW) {
            e = S3E_RequestTimeTooSkewed;
            goto out;
        }
    } else if (sv->kind == S3_AUTH_QUERY) {
        if (sv->t > now + S3_SIGV4_MAX_SKEW) {
            e = S3E_AccessDenied; /* "Request is not valid yet" */
            goto out;
        }
        if (now > sv->t + sv->expires) {
            e = S3E_AccessDenied; /* "Request has expired" */
            goto out;
        }
    } else {
        e = S3E_AccessDenied;
        goto out;
    }
    if (memcmp(sv->amz_date, sv->date, 8) != 0) {
        e = S3E_SignatureDoesNotMatch;
        goto out;
    }
    if (s3_sigv4_canonical(rq, sv, &lc) < 0) {
        e = S3E_SignatureDoesNotMatch;
        goto out;
    }
    s3_sigv4_string_to_sign(sv, s3_buf_cstr(&lc), lc.len, &ls);
    uint8_t k[32];
    signing_key_cached(secret, sv->date, sv->region, sv->service, k);
    char sig[65];
    s3_sigv4_sign(k, s3_buf_cstr(&ls), ls.len, sig);
    if (CRYPTO_memcmp(sig, sv->signature, 64) != 0)
        e = S3E_SignatureDoesNotMatch;
    else if (key)
        memcpy(key, k, 32);
    OPENSSL_cleanse(k, sizeof(k));
out:
    if (creq)
        s3_buf_add(creq, lc.p ? lc.p : "", lc.len);
    if (sts)
        s3_buf_add(sts, ls.p ? ls.p : "", ls.len);
    s3_buf_free(&lc);
    s3_buf_free(&ls);
    return e;
}

/* ---- aws-chunked ---- */

int s3_chunked_init(struct s3_chunked *c, enum s3_payload mode, const uint8_t key[32],
                    const char *amz_date, const char *scope, const char *seed_sig)
{
    memset(c, 0, sizeof(*c));
    c->mode = mode;
    c->verify = mode == S3_PL_STREAMING_SIGNED || mode == S3_PL_STREAMING_SIGNED_TRAILER;
    s3_buf_init(&c->trailer_canon, S3_CHUNK_TRAILER_MAX);
    if (c->verify) {
        if (!key || !amz_date || !scope || !seed_sig)
            return -EINVAL;
        memcpy(c->key, key, 32);
        if (copy_span(c->amz_date, sizeof(c->amz_date), amz_date, strlen(amz_date)) < 0 ||
            copy_span(c->scope, sizeof(c->scope), scope, strlen(scope)) < 0 ||
            copy_span(c->prev_sig, sizeof(c->prev_sig), seed_sig, strlen(seed_sig)) < 0)
            return -EINVAL;
        c->sha = EVP_MD_CTX_new();
        if (!c->sha)
            return -ENOMEM;
    }
    return 0;
}

void s3_chunked_free(struct s3_chunked *c)
{
    if (c->sha)
        EVP_MD_CTX_free(c->sha);
    c->sha = NULL;
    s3_buf_free(&c->trailer_canon);
    OPENSSL_cleanse(c->key, sizeof(c->key));
}

static ssize_t ch_fail(struct s3_chunked *c, enum s3_err e, const char *detail)
{
    c->err = e;
    c->detail = detail;
    return -1;
}

static bool check_chunk_sig(struct s3_chunked *c, const uint8_t hash[32])
{
    char hh[65], sig[65];
    s3_hex(hash, 32, hh);
    struct s3_buf sts;
    s3_buf_init(&sts, 1024);
    s3_buf_addf(&sts, "AWS4-HMAC-SHA256-PAYLOAD\n%s\n%s\n%s\n" EMPTY_SHA256 "\n%s",
                c->amz_date, c->scope, c->prev_sig, hh);
    s3_sigv4_sign(c->key, s3_buf_cstr(&sts), sts.len, sig);
    s3_buf_free(&sts);
    if (CRYPTO_memcmp(sig, c->chunk_sig, 64) != 0)
        return false;
    memcpy(c->prev_sig, sig, 65);
    return true;
}

static int parse_chunk_header(struct s3_chunked *c, const char *l, size_t n)
{
    size_t i = 0;
    uint64_t v = 0;
    while (i < n && i < 17) {
        char ch = l[i];
        int d;
        if (ch >= '0' && ch <= '9')
            d = ch - '0';
        else if (ch >= 'a' && ch <= 'f')
            d = ch - 'a' + 10;
        else if (ch >= 'A' && ch <= 'F')
            d = ch - 'A' + 10;
        else
            break;
        v = v << 4 | (uint64_t)d;
        i++;
    }
    if (i == 0 || i > 16 || v > (1ull << 42))
        return -1;
    c->chunk_size = v;
    const char *ext = l + i;
    size_t elen = n - i;
    if (c->verify) {
        static const char pfx[] = ";chunk-signature=";
        if (elen != sizeof(pfx) - 1 + 64 || memcmp(ext, pfx, sizeof(pfx) - 1) != 0 ||
            !is_hex64(ext + sizeof(pfx) - 1, 64))
            return -1;
        memcpy(c->chunk_sig, ext + sizeof(pfx) - 1, 64);
        c->chunk_sig[64] = '\0';
    } else if (elen && ext[0] != ';') {
        return -1;
    }
    return 0;
}

/* One complete trailer line (without CRLF); empty = end of trailers. */
static ssize_t trailer_line(struct s3_chunked *c, const char *l, size_t n)
{
    if (n == 0) {
        if (c->mode == S3_PL_STREAMING_SIGNED_TRAILER) {
            if (c->trailer_alg != S3_CK_NONE || c->trailer_canon.len) {
                if (!c->trailer_sig[0])
                    return ch_fail(c, S3E_SignatureDoesNotMatch, "missing x-amz-trailer-signature");
                char hh[65], sig[65];
                s3_sha256_hex(s3_buf_cstr(&c->trailer_canon), c->trailer_canon.len, hh);
                struct s3_buf sts;
                s3_buf_init(&sts, 1024);
                s3_buf_addf(&sts, "AWS4-HMAC-SHA256-TRAILER\n%s\n%s\n%s\n%s", c->amz_date,
                            c->scope, c->prev_sig, hh);
                s3_sigv4_sign(c->key, s3_buf_cstr(&sts), sts.len, sig);
                s3_buf_free(&sts);
                if (CRYPTO_memcmp(sig, c->trailer_sig, 64) != 0)
                    return ch_fail(c, S3E_SignatureDoesNotMatch, "trailer signature mismatch");
            }
        }
        c->st = S3CH_DONE;
        return 0;
    }
    if (c->mode == S3_PL_STREAMING_SIGNED)
        return ch_fail(c, S3E_IncompleteBody, "unexpected data after the final chunk");
    const char *colon = memchr(l, ':', n);
    if (!colon || colon == l)
        return ch_fail(c, S3E_InvalidArgument, "malformed trailer");
    size_t nl = (size_t)(colon - l);
    const char *v = colon + 1;
    size_t vl = n - nl - 1;
    while (vl && (*v == ' ' || *v == '\t')) {
        v++;
        vl--;
    }
    while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        vl--;
    if (nl == 23 && strncasecmp(l, "x-amz-trailer-signature", 23) == 0) {
        if (c->mode != S3_PL_STREAMING_SIGNED_TRAILER || !is_hex64(v, vl))
            return ch_fail(c, S3E_SignatureDoesNotMatch, "bad x-amz-trailer-signature");
        memcpy(c->trailer_sig, v, 64);
        c->trailer_sig[64] = '\0';
        return 0;
    }
    enum s3_ck_alg a = s3_ck_from_name(l, nl);
    if (a == S3_CK_NONE || nl < 15 || strncasecmp(l, "x-amz-checksum-", 15) != 0)
        return ch_fail(c, S3E_InvalidArgument, "unsupported trailer");
    if (c->trailer_alg != S3_CK_NONE || vl >= sizeof(c->trailer_value))
        return ch_fail(c, S3E_InvalidArgument, "duplicate or oversized checksum trailer");
    c->trailer_alg = a;
    memcpy(c->trailer_value, v, vl);
    c->trailer_value[vl] = '\0';
    for (size_t i = 0; i < nl; i++)
        s3_buf_addc(&c->trailer_canon, (char)((l[i] >= 'A' && l[i] <= 'Z') ? l[i] + 32 : l[i]));
    s3_buf_addc(&c->trailer_canon, ':');
    s3_buf_add(&c->trailer_canon, v, vl);
    s3_buf_addc(&c->trailer_canon, '\n');
    return 0;
}

ssize_t s3_chunked_feed(struct s3_chunked *c, const uint8_t *p, size_t n,
                        s3_chunk_data_fn fn, void *arg)
{
    size_t i = 0;
    if (c->err)
        return -1;
    while (i < n && c->st != S3CH_DONE) {
        switch (c->st) {
        case S3CH_HDR:
        case S3CH_TRAILER: {
            uint8_t ch = p[i++];
            if (c->st == S3CH_TRAILER && ++c->trailer_bytes > S3_CHUNK_TRAILER_MAX)
                return ch_fail(c, S3E_InvalidArgument, "trailer section too large");
            if (ch != '\n') {
                if (c->line_len >= sizeof(c->line) - 1)
                    return ch_fail(c, S3E_InvalidArgument, "chunk header too long");
                c->line[c->line_len++] = (char)ch;
                continue;
            }
            if (c->line_len == 0 || c->line[c->line_len - 1] != '\r')
                return ch_fail(c, S3E_IncompleteBody, "chunk line not terminated by CRLF");
            size_t ll = c->line_len - 1;
            c->line_len = 0;
            if (c->st == S3CH_TRAILER) {
                if (trailer_line(c, c->line, ll) < 0)
                    return -1;
                continue;
            }
            if (parse_chunk_header(c, c->line, ll) < 0)
                return ch_fail(c, S3E_IncompleteBody, "malformed chunk header");
            c->remain = c->chunk_size;
            if (c->verify)
                EVP_DigestInit_ex(c->sha, EVP_sha256(), NULL);
            if (c->chunk_size == 0) {
                if (c->verify) {
                    uint8_t h[32];
                    unsigned int hl = 32;
                    EVP_DigestFinal_ex(c->sha, h, &hl);
                    if (!check_chunk_sig(c, h))
                        return ch_fail(c, S3E_SignatureDoesNotMatch, "chunk signature mismatch");
                }
                c->last = true;
                c->st = S3CH_TRAILER;
            } else {
                c->st = S3CH_DATA;
            }
            break;
        }
        case S3CH_DATA: {
            size_t take = n - i;
            if (take > c->remain)
                take = (size_t)c->remain;
            if (c->verify)
                EVP_DigestUpdate(c->sha, p + i, take);
            if (fn && fn(arg, p + i, take) != 0)
                return ch_fail(c, S3E_InternalError, "write failed");
            c->total += take;
            c->remain -= take;
            i += take;
            if (c->remain == 0) {
                if (c->verify) {
                    uint8_t h[32];
                    unsigned int hl = 32;
                    EVP_DigestFinal_ex(c->sha, h, &hl);
                    if (!check_chunk_sig(c, h))
                        return ch_fail(c, S3E_SignatureDoesNotMatch, "chunk signature mismatch");
                }
                c->st = S3CH_DATA_CR;
            }
            break;
        }
        case S3CH_DATA_CR:
            if (p[i++] != '\r')
                return ch_fail(c, S3E_IncompleteBody, "chunk data longer than its size");
            c->st = S3CH_DATA_LF;
            break;
        case S3CH_DATA_LF:
            if (p[i++] != '\n')
                return ch_fail(c, S3E_IncompleteBody, "chunk data not followed by CRLF");
            c->st = S3CH_HDR;
            break;
        case S3CH_DONE: break;
        }
    }
    return (ssize_t)i;
}

int s3_chunked_finish(struct s3_chunked *c)
{
    if (c->err)
        return -1;
    if (c->st == S3CH_DONE)
        return 0;
    if (c->st == S3CH_TRAILER && c->line_len == 0 && c->last &&
        c->mode != S3_PL_STREAMING_SIGNED)
        return trailer_line(c, "", 0) < 0 ? -1 : 0;
    ch_fail(c, S3E_IncompleteBody, "the aws-chunked body ended early");
    return -1;
}
