/*
 * cfs/xdr.h - bounds-checked XDR (RFC 4506) encoding and decoding, shared by the ONC RPC
 * protocols (mod_nfs3, mod_nfs4, mod_pnfs_flex). Implemented in cfsproto (core/proto/xdr.c).
 *
 * A struct cfs_xdr is a cursor over one buffer. Every call checks the bounds; the first
 * failure is sticky (x->err), so a decoder may run a sequence of calls and test the error
 * once at the end. Decoders never allocate: variable-length opaque data and strings are
 * either copied into a caller buffer of a given size or returned as a pointer into the
 * decoded buffer (the *_ref calls), which is how WRITE payloads avoid a copy.
 *
 * Encoders write into a fixed caller buffer, or into a growable heap buffer with a hard
 * maximum (cfs_xdr_enc_init_dyn); overflowing either sets x->err = -ENOSPC.
 */
#ifndef CFS_XDR_H
#define CFS_XDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CFS_XDR_UNIT 4u
/* Bytes of padding after `n` bytes of opaque data. */
#define CFS_XDR_PAD(n) ((4u - ((uint32_t)(n) & 3u)) & 3u)
/* `n` rounded up to a whole number of XDR units. */
#define CFS_XDR_ROUNDUP(n) (((size_t)(n) + 3u) & ~(size_t)3u)

struct cfs_xdr {
    uint8_t *buf;      /* encode: the output; decode: the input (never written) */
    size_t len;        /* decode: bytes of input; encode: capacity of buf */
    size_t pos;        /* cursor */
    size_t max;        /* encode, dynamic: the capacity may grow up to this */
    int err;           /* 0, or the first error: -EBADMSG (decode), -ENOSPC (encode), -ENOMEM */
    bool dyn;          /* buf is heap memory owned by the cursor (cfs_xdr_enc_free) */
};

/* ---- set-up ---- */
void cfs_xdr_dec_init(struct cfs_xdr *x, const void *buf, size_t len);
void cfs_xdr_enc_init(struct cfs_xdr *x, void *buf, size_t cap);
/* A growable output buffer: `initial` bytes now, never more than `max`. */
int cfs_xdr_enc_init_dyn(struct cfs_xdr *x, size_t initial, size_t max);
/* Free a dynamic buffer (no-op for fixed ones). */
void cfs_xdr_enc_free(struct cfs_xdr *x);
/* Take ownership of a dynamic buffer (the caller frees it with free()); returns NULL on error. */
uint8_t *cfs_xdr_enc_take(struct cfs_xdr *x, size_t *len);

static inline size_t cfs_xdr_remaining(const struct cfs_xdr *x)
{
    return x->err ? 0 : x->len - x->pos;
}
static inline const uint8_t *cfs_xdr_cursor(const struct cfs_xdr *x) { return x->buf + x->pos; }

/* ---- decoding: 0 or the sticky negative error ---- */
int cfs_xdr_dec_u32(struct cfs_xdr *x, uint32_t *v);
int cfs_xdr_dec_i32(struct cfs_xdr *x, int32_t *v);
int cfs_xdr_dec_u64(struct cfs_xdr *x, uint64_t *v);
/* A bool must be 0 or 1 on the wire; anything else is -EBADMSG. */
int cfs_xdr_dec_bool(struct cfs_xdr *x, bool *v);
/* An enum value checked against [0, max_value]. */
int cfs_xdr_dec_enum(struct cfs_xdr *x, uint32_t *v, uint32_t max_value);
/* Fixed-length opaque: `n` bytes plus padding. */
int cfs_xdr_dec_fixed(struct cfs_xdr *x, void *out, size_t n);
/* Skip `n` bytes plus padding. */
int cfs_xdr_dec_skip(struct cfs_xdr *x, size_t n);
/* Variable-length opaque<max> copied into out (room for `max` bytes). */
int cfs_xdr_dec_opaque(struct cfs_xdr *x, void *out, uint32_t *n, uint32_t max);
/* Variable-length opaque<max> by reference: *p points into the decoded buffer. */
int cfs_xdr_dec_opaque_ref(struct cfs_xdr *x, const uint8_t **p, uint32_t *n, uint32_t max);
/*
 * string<max> copied into out[outlen] and NUL-terminated (outlen must be > max). A string
 * holding a NUL byte is -EBADMSG.
 */
int cfs_xdr_dec_string(struct cfs_xdr *x, char *out, size_t outlen, uint32_t max);
/* An optional-data pointer (*T): reads the "value follows" bool. */
static inline int cfs_xdr_dec_optional(struct cfs_xdr *x, bool *present)
{
    return cfs_xdr_dec_bool(x, present);
}

/* ---- encoding: 0 or the sticky negative error ---- */
int cfs_xdr_enc_u32(struct cfs_xdr *x, uint32_t v);
int cfs_xdr_enc_i32(struct cfs_xdr *x, int32_t v);
int cfs_xdr_enc_u64(struct cfs_xdr *x, uint64_t v);
int cfs_xdr_enc_bool(struct cfs_xdr *x, bool v);
int cfs_xdr_enc_fixed(struct cfs_xdr *x, const void *p, size_t n);
int cfs_xdr_enc_opaque(struct cfs_xdr *x, const void *p, uint32_t n);
/* string: strlen(s) bytes (NULL = empty). */
int cfs_xdr_enc_string(struct cfs_xdr *x, const char *s);
int cfs_xdr_enc_string_n(struct cfs_xdr *x, const char *s, uint32_t n);
static inline int cfs_xdr_enc_optional(struct cfs_xdr *x, bool present)
{
    return cfs_xdr_enc_bool(x, present);
}
/*
 * Reserve `n` bytes (a multiple of 4) and return where they start, to be filled later
 * (length prefixes, record marks); NULL on error. The pointer is valid until the next
 * encode call on a dynamic buffer: keep the offset (x->pos before the call) instead.
 */
uint8_t *cfs_xdr_enc_reserve(struct cfs_xdr *x, size_t n);
/* Store a big-endian u32 at byte offset `off` already written. */
void cfs_xdr_put_u32_at(struct cfs_xdr *x, size_t off, uint32_t v);

/* Raw big-endian helpers. */
static inline uint32_t cfs_xdr_get_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void cfs_xdr_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

#ifdef __cplusplus
}
#endif
#endif
