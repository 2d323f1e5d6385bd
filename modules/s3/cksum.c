/*
 * modules/s3/cksum.c - CRC32 (IEEE), CRC32C (Castagnoli) and CRC64NVME, table-driven with
 * slicing by 8 (tables built once), plus the OpenSSL digests (MD5, SHA-1, SHA-256) behind
 * one streaming interface.
 */
#include "cksum.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "s3util.h"

static uint32_t t32[8][256], t32c[8][256];
static uint64_t t64[8][256];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void build32(uint32_t t[8][256], uint32_t poly)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ poly : c >> 1;
        t[0][i] = c;
    }
    for (int s = 1; s < 8; s++)
        for (int i = 0; i < 256; i++)
            t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
}

static void build_tables(void)
{
    build32(t32, 0xEDB88320u);
    build32(t32c, 0x82F63B78u);
    for (uint64_t i = 0; i < 256; i++) {
        uint64_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x9A6C9329AC4BC9B5ull : c >> 1;
        t64[0][i] = c;
    }
    for (int s = 1; s < 8; s++)
        for (int i = 0; i < 256; i++)
            t64[s][i] = (t64[s - 1][i] >> 8) ^ t64[0][t64[s - 1][i] & 0xff];
}

static inline uint32_t ld32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t crc32_slice8(uint32_t t[8][256], uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    while (n >= 8) {
        uint32_t lo = crc ^ ld32(p), hi = ld32(p + 4);
        crc = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^
              t[4][lo >> 24] ^ t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^
              t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--)
        crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xff];
    return ~crc;
}

uint32_t s3_crc32(uint32_t crc, const void *p, size_t n)
{
    pthread_once(&tables_once, build_tables);
    return crc32_slice8(t32, crc, p, n);
}

uint32_t s3_crc32c(uint32_t crc, const void *p, size_t n)
{
    pthread_once(&tables_once, build_tables);
    return crc32_slice8(t32c, crc, p, n);
}

uint64_t s3_crc64nvme(uint64_t crc, const void *vp, size_t n)
{
    pthread_once(&tables_once, build_tables);
    const uint8_t *p = vp;
    crc = ~crc;
    while (n >= 8) {
        uint64_t v = crc ^ ((uint64_t)ld32(p) | (uint64_t)ld32(p + 4) << 32);
        crc = t64[7][v & 0xff] ^ t64[6][(v >> 8) & 0xff] ^ t64[5][(v >> 16) & 0xff] ^
              t64[4][(v >> 24) & 0xff] ^ t64[3][(v >> 32) & 0xff] ^
              t64[2][(v >> 40) & 0xff] ^ t64[1][(v >> 48) & 0xff] ^ t64[0][v >> 56];
        p += 8;
        n -= 8;
    }
    while (n--)
        crc = (crc >> 8) ^ t64[0][(crc ^ *p++) & 0xff];
    return ~crc;
}

static const struct {
    const char *name, *header, *xml;
    size_t size;
} ck_info[S3_CK__COUNT] = {
    [S3_CK_NONE] = {"", "", "", 0},
    [S3_CK_CRC32] = {"crc32", "x-amz-checksum-crc32", "ChecksumCRC32", 4},
    [S3_CK_CRC32C] = {"crc32c", "x-amz-checksum-crc32c", "ChecksumCRC32C", 4},
    [S3_CK_CRC64NVME] = {"crc64nvme", "x-amz-checksum-crc64nvme", "ChecksumCRC64NVME", 8},
    [S3_CK_SHA1] = {"sha1", "x-amz-checksum-sha1", "ChecksumSHA1", 20},
    [S3_CK_SHA256] = {"sha256", "x-amz-checksum-sha256", "ChecksumSHA256", 32},
    [S3_CK_MD5] = {"md5", "content-md5", "", 16},
};

enum s3_ck_alg s3_ck_from_name(const char *s, size_t n)
{
    static const char pfx[] = "x-amz-checksum-";
    if (n > sizeof(pfx) - 1 && strncasecmp(s, pfx, sizeof(pfx) - 1) == 0) {
        s += sizeof(pfx) - 1;
        n -= sizeof(pfx) - 1;
    }
    for (int a = S3_CK_CRC32; a <= S3_CK_SHA256; a++)
        if (strlen(ck_info[a].name) == n && strncasecmp(ck_info[a].name, s, n) == 0)
            return (enum s3_ck_alg)a;
    return S3_CK_NONE;
}

const char *s3_ck_name(enum s3_ck_alg a)
{
    return (unsigned)a < S3_CK__COUNT ? ck_info[a].name : "";
}

const char *s3_ck_header(enum s3_ck_alg a)
{
    return (unsigned)a < S3_CK__COUNT ? ck_info[a].header : "";
}

const char *s3_ck_xml_name(enum s3_ck_alg a)
{
    return (unsigned)a < S3_CK__COUNT ? ck_info[a].xml : "";
}

size_t s3_ck_size(enum s3_ck_alg a)
{
    return (unsigned)a < S3_CK__COUNT ? ck_info[a].size : 0;
}

/*
 * OpenSSL 3 looks a digest up in its provider store (under a lock shared by every thread)
 * each time EVP_DigestInit_ex is handed EVP_sha256() and friends; fetch each once instead.
 */
static const EVP_MD *md_sha1, *md_sha256, *md_md5;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
static EVP_MD *md_fetched[3]; /* ours to free when the module is unloaded */
#endif

static void md_fetch(void)
{
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    md_sha1 = md_fetched[0] = EVP_MD_fetch(NULL, "SHA1", NULL);
    md_sha256 = md_fetched[1] = EVP_MD_fetch(NULL, "SHA256", NULL);
    md_md5 = md_fetched[2] = EVP_MD_fetch(NULL, "MD5", NULL);
#endif
    if (!md_sha1)
        md_sha1 = EVP_sha1();
    if (!md_sha256)
        md_sha256 = EVP_sha256();
    if (!md_md5)
        md_md5 = EVP_md5();
}

#if OPENSSL_VERSION_NUMBER >= 0x30000000L
/* dlclose of mod_s3 (after stop: no request runs): give the fetched digests back. */
__attribute__((destructor)) static void md_release(void)
{
    for (size_t i = 0; i < sizeof(md_fetched) / sizeof(md_fetched[0]); i++) {
        EVP_MD_free(md_fetched[i]);
        md_fetched[i] = NULL;
    }
}
#endif

static const EVP_MD *ck_md(enum s3_ck_alg a)
{
    pthread_once(&md_once, md_fetch);
    switch (a) {
    case S3_CK_SHA1: return md_sha1;
    case S3_CK_SHA256: return md_sha256;
    case S3_CK_MD5: return md_md5;
    default: return NULL;
    }
}

int s3_ck_init(struct s3_ck *c, enum s3_ck_alg alg)
{
    memset(c, 0, sizeof(*c));
    c->alg = alg;
    const EVP_MD *md = ck_md(alg);
    if (md) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        if (!ctx || EVP_DigestInit_ex(ctx, md, NULL) != 1) {
            EVP_MD_CTX_free(ctx);
            c->alg = S3_CK_NONE;
            return -ENOMEM;
        }
        c->md = ctx;
    }
    return 0;
}

void s3_ck_update(struct s3_ck *c, const void *p, size_t n)
{
    switch (c->alg) {
    case S3_CK_CRC32: c->crc = s3_crc32((uint32_t)c->crc, p, n); break;
    case S3_CK_CRC32C: c->crc = s3_crc32c((uint32_t)c->crc, p, n); break;
    case S3_CK_CRC64NVME: c->crc = s3_crc64nvme(c->crc, p, n); break;
    case S3_CK_SHA1:
    case S3_CK_SHA256:
    case S3_CK_MD5:
        if (c->md)
            EVP_DigestUpdate(c->md, p, n);
        break;
    default: break;
    }
}

size_t s3_ck_final(struct s3_ck *c, uint8_t *out)
{
    size_t n = s3_ck_size(c->alg);
    switch (c->alg) {
    case S3_CK_CRC32:
    case S3_CK_CRC32C:
        for (int i = 0; i < 4; i++)
            out[i] = (uint8_t)(c->crc >> (24 - 8 * i));
        break;
    case S3_CK_CRC64NVME:
        for (int i = 0; i < 8; i++)
            out[i] = (uint8_t)(c->crc >> (56 - 8 * i));
        break;
    case S3_CK_SHA1:
    case S3_CK_SHA256:
    case S3_CK_MD5: {
        unsigned int len = 0;
        if (!c->md || EVP_DigestFinal_ex(c->md, out, &len) != 1)
            memset(out, 0, n);
        break;
    }
    default: n = 0; break;
    }
    s3_ck_free(c);
    return n;
}

void s3_ck_final_b64(struct s3_ck *c, char *out)
{
    uint8_t d[S3_CK_MAX_DIGEST];
    size_t n = s3_ck_final(c, d);
    s3_b64_enc(d, n, out);
}

void s3_ck_free(struct s3_ck *c)
{
    if (c->md)
        EVP_MD_CTX_free(c->md);
    c->md = NULL;
}

void s3_sha256(const void *p, size_t n, uint8_t out[32])
{
    unsigned int len = 32;
    EVP_Digest(p, n, out, &len, ck_md(S3_CK_SHA256), NULL);
}

void s3_sha256_hex(const void *p, size_t n, char out[65])
{
    uint8_t d[32];
    s3_sha256(p, n, d);
    s3_hex(d, 32, out);
}

void s3_md5(const void *p, size_t n, uint8_t out[16])
{
    unsigned int len = 16;
    EVP_Digest(p, n, out, &len, ck_md(S3_CK_MD5), NULL);
}

/* HMAC-SHA-256 (RFC 2104) on the fetched digest: no MAC lookup per call. */
void s3_hmac_sha256(const void *key, size_t klen, const void *p, size_t n, uint8_t out[32])
{
    uint8_t k0[64] = {0}, pad[64], inner[32];
    unsigned int len = 32;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    const EVP_MD *md = ck_md(S3_CK_SHA256);
    if (!ctx) {
        HMAC(EVP_sha256(), key, (int)klen, p, n, out, &len);
        return;
    }
    if (klen > sizeof(k0))
        EVP_Digest(key, klen, k0, &len, md, NULL);
    else if (klen)
        memcpy(k0, key, klen);
    for (int i = 0; i < 64; i++)
        pad[i] = k0[i] ^ 0x36;
    EVP_DigestInit_ex(ctx, md, NULL);
    EVP_DigestUpdate(ctx, pad, sizeof(pad));
    EVP_DigestUpdate(ctx, p, n);
    EVP_DigestFinal_ex(ctx, inner, &len);
    for (int i = 0; i < 64; i++)
        pad[i] = k0[i] ^ 0x5c;
    EVP_DigestInit_ex(ctx, md, NULL);
    EVP_DigestUpdate(ctx, pad, sizeof(pad));
    EVP_DigestUpdate(ctx, inner, sizeof(inner));
    EVP_DigestFinal_ex(ctx, out, &len);
    EVP_MD_CTX_free(ctx);
    OPENSSL_cleanse(k0, sizeof(k0));
    OPENSSL_cleanse(pad, sizeof(pad));
}
