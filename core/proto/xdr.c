/*
 * core/proto/xdr.c - bounds-checked XDR (RFC 4506) primitives for the ONC RPC protocols.
 * Every accessor checks the remaining length first; the first error sticks in x->err.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cfs/xdr.h>

static const uint8_t xdr_zero[4];

void cfs_xdr_dec_init(struct cfs_xdr *x, const void *buf, size_t len)
{
    memset(x, 0, sizeof(*x));
    x->buf = (uint8_t *)(uintptr_t)buf; /* never written through in decode mode */
    x->len = buf ? len : 0;
}

void cfs_xdr_enc_init(struct cfs_xdr *x, void *buf, size_t cap)
{
    memset(x, 0, sizeof(*x));
    x->buf = buf;
    x->len = buf ? cap : 0;
    x->max = x->len;
}

int cfs_xdr_enc_init_dyn(struct cfs_xdr *x, size_t initial, size_t max)
{
    memset(x, 0, sizeof(*x));
    if (initial < 64)
        initial = 64;
    if (initial > max)
        initial = max;
    x->buf = malloc(initial ? initial : 1);
    if (x->buf == NULL) {
        x->err = -ENOMEM;
        return -ENOMEM;
    }
    x->len = initial;
    x->max = max;
    x->dyn = true;
    return 0;
}

void cfs_xdr_enc_free(struct cfs_xdr *x)
{
    if (x->dyn)
        free(x->buf);
    x->buf = NULL;
    x->len = x->pos = 0;
    x->dyn = false;
}

uint8_t *cfs_xdr_enc_take(struct cfs_xdr *x, size_t *len)
{
    uint8_t *p;

    if (x->err || !x->dyn) {
        cfs_xdr_enc_free(x);
        return NULL;
    }
    p = x->buf;
    *len = x->pos;
    x->buf = NULL;
    x->len = x->pos = 0;
    x->dyn = false;
    return p;
}

/* ---- decoding ---- */

static int dec_fail(struct cfs_xdr *x)
{
    if (x->err == 0)
        x->err = -EBADMSG;
    return x->err;
}

/* Is there room for `n` more input bytes? */
static inline bool dec_has(const struct cfs_xdr *x, size_t n)
{
    return x->err == 0 && n <= x->len - x->pos;
}

int cfs_xdr_dec_u32(struct cfs_xdr *x, uint32_t *v)
{
    if (!dec_has(x, 4))
        return dec_fail(x);
    *v = cfs_xdr_get_be32(x->buf + x->pos);
    x->pos += 4;
    return 0;
}

int cfs_xdr_dec_i32(struct cfs_xdr *x, int32_t *v)
{
    uint32_t u;
    int rc = cfs_xdr_dec_u32(x, &u);

    if (rc == 0)
        *v = (int32_t)u;
    return rc;
}

int cfs_xdr_dec_u64(struct cfs_xdr *x, uint64_t *v)
{
    if (!dec_has(x, 8))
        return dec_fail(x);
    *v = ((uint64_t)cfs_xdr_get_be32(x->buf + x->pos) << 32) |
         cfs_xdr_get_be32(x->buf + x->pos + 4);
    x->pos += 8;
    return 0;
}

int cfs_xdr_dec_bool(struct cfs_xdr *x, bool *v)
{
    uint32_t u;

    if (cfs_xdr_dec_u32(x, &u))
        return x->err;
    if (u > 1)
        return dec_fail(x);
    *v = u != 0;
    return 0;
}

int cfs_xdr_dec_enum(struct cfs_xdr *x, uint32_t *v, uint32_t max_value)
{
    uint32_t u;

    if (cfs_xdr_dec_u32(x, &u))
        return x->err;
    if (u > max_value)
        return dec_fail(x);
    *v = u;
    return 0;
}

int cfs_xdr_dec_skip(struct cfs_xdr *x, size_t n)
{
    size_t padded;

    if (n > SIZE_MAX - 3)
        return dec_fail(x);
    padded = CFS_XDR_ROUNDUP(n);
    if (!dec_has(x, padded))
        return dec_fail(x);
    x->pos += padded;
    return 0;
}

int cfs_xdr_dec_fixed(struct cfs_xdr *x, void *out, size_t n)
{
    const uint8_t *p;

    if (n > SIZE_MAX - 3 || !dec_has(x, CFS_XDR_ROUNDUP(n)))
        return dec_fail(x);
    p = x->buf + x->pos;
    if (n)
        memcpy(out, p, n);
    x->pos += CFS_XDR_ROUNDUP(n);
    return 0;
}

int cfs_xdr_dec_opaque_ref(struct cfs_xdr *x, const uint8_t **p, uint32_t *n, uint32_t max)
{
    uint32_t len;

    if (cfs_xdr_dec_u32(x, &len))
        return x->err;
    if (len > max || !dec_has(x, CFS_XDR_ROUNDUP(len)))
        return dec_fail(x);
    *p = x->buf + x->pos;
    *n = len;
    x->pos += CFS_XDR_ROUNDUP(len);
    return 0;
}

int cfs_xdr_dec_opaque(struct cfs_xdr *x, void *out, uint32_t *n, uint32_t max)
{
    const uint8_t *p;
    uint32_t len;

    if (cfs_xdr_dec_opaque_ref(x, &p, &len, max))
        return x->err;
    if (len)
        memcpy(out, p, len);
    *n = len;
    return 0;
}

int cfs_xdr_dec_string(struct cfs_xdr *x, char *out, size_t outlen, uint32_t max)
{
    const uint8_t *p;
    uint32_t len;

    if (outlen == 0)
        return dec_fail(x);
    if ((size_t)max > outlen - 1)
        max = (uint32_t)(outlen - 1); /* smaller than a uint32_t here */
    if (cfs_xdr_dec_opaque_ref(x, &p, &len, max))
        return x->err;
    if (len && memchr(p, 0, len) != NULL)
        return dec_fail(x);
    if (len)
        memcpy(out, p, len);
    out[len] = '\0';
    return 0;
}

/* ---- encoding ---- */

/* Make room for `n` more output bytes, growing a dynamic buffer up to its max. */
static bool enc_room(struct cfs_xdr *x, size_t n)
{
    size_t need, cap;
    uint8_t *nb;

    if (x->err)
        return false;
    if (n <= x->len - x->pos)
        return true;
    if (!x->dyn || n > x->max - x->pos) {
        x->err = -ENOSPC;
        return false;
    }
    need = x->pos + n;
    cap = x->len ? x->len : 64;
    while (cap < need)
        cap = cap > x->max / 2 ? x->max : cap * 2;
    nb = realloc(x->buf, cap);
    if (nb == NULL) {
        x->err = -ENOMEM;
        return false;
    }
    x->buf = nb;
    x->len = cap;
    return true;
}

int cfs_xdr_enc_u32(struct cfs_xdr *x, uint32_t v)
{
    if (!enc_room(x, 4))
        return x->err;
    cfs_xdr_put_be32(x->buf + x->pos, v);
    x->pos += 4;
    return 0;
}

int cfs_xdr_enc_i32(struct cfs_xdr *x, int32_t v)
{
    return cfs_xdr_enc_u32(x, (uint32_t)v);
}

int cfs_xdr_enc_u64(struct cfs_xdr *x, uint64_t v)
{
    if (!enc_room(x, 8))
        return x->err;
    cfs_xdr_put_be32(x->buf + x->pos, (uint32_t)(v >> 32));
    cfs_xdr_put_be32(x->buf + x->pos + 4, (uint32_t)v);
    x->pos += 8;
    return 0;
}

int cfs_xdr_enc_bool(struct cfs_xdr *x, bool v)
{
    return cfs_xdr_enc_u32(x, v ? 1 : 0);
}

int cfs_xdr_enc_fixed(struct cfs_xdr *x, const void *p, size_t n)
{
    uint32_t pad = CFS_XDR_PAD(n);

    if (n > SIZE_MAX - 3 || !enc_room(x, n + pad))
        return x->err ? x->err : (x->err = -ENOSPC);
    if (n)
        memcpy(x->buf + x->pos, p, n);
    if (pad)
        memcpy(x->buf + x->pos + n, xdr_zero, pad);
    x->pos += n + pad;
    return 0;
}

int cfs_xdr_enc_opaque(struct cfs_xdr *x, const void *p, uint32_t n)
{
    if (cfs_xdr_enc_u32(x, n))
        return x->err;
    return cfs_xdr_enc_fixed(x, p, n);
}

int cfs_xdr_enc_string_n(struct cfs_xdr *x, const char *s, uint32_t n)
{
    return cfs_xdr_enc_opaque(x, s, s ? n : 0);
}

int cfs_xdr_enc_string(struct cfs_xdr *x, const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n > UINT32_MAX) {
        x->err = -ENOSPC;
        return x->err;
    }
    return cfs_xdr_enc_string_n(x, s, (uint32_t)n);
}

uint8_t *cfs_xdr_enc_reserve(struct cfs_xdr *x, size_t n)
{
    uint8_t *p;

    if ((n & 3u) != 0) {
        if (x->err == 0)
            x->err = -EINVAL;
        return NULL;
    }
    if (!enc_room(x, n))
        return NULL;
    p = x->buf + x->pos;
    memset(p, 0, n);
    x->pos += n;
    return p;
}

void cfs_xdr_put_u32_at(struct cfs_xdr *x, size_t off, uint32_t v)
{
    if (x->err || off > x->pos || x->pos - off < 4)
        return;
    cfs_xdr_put_be32(x->buf + off, v);
}
