/*
 * modules/s3/cksum.h - the object checksums S3 knows: Content-MD5, CRC32, CRC32C,
 * CRC64NVME (table-driven, slicing by 8), SHA-1 and SHA-256 (OpenSSL), computed while a
 * body streams, and their base64 wire forms.
 */
#ifndef CFS_S3_CKSUM_H
#define CFS_S3_CKSUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum s3_ck_alg {
    S3_CK_NONE = 0,
    S3_CK_CRC32,
    S3_CK_CRC32C,
    S3_CK_CRC64NVME,
    S3_CK_SHA1,
    S3_CK_SHA256,
    S3_CK_MD5, /* Content-MD5 / ETag; not an x-amz-checksum-* algorithm */
    S3_CK__COUNT
};

#define S3_CK_MAX_DIGEST 32
#define S3_CK_B64_MAX 48

uint32_t s3_crc32(uint32_t crc, const void *p, size_t n);     /* start with 0 */
uint32_t s3_crc32c(uint32_t crc, const void *p, size_t n);    /* start with 0 */
uint64_t s3_crc64nvme(uint64_t crc, const void *p, size_t n); /* start with 0 */

/* "crc32" / "CRC32" / "x-amz-checksum-crc32" -> alg; S3_CK_NONE if unknown. */
enum s3_ck_alg s3_ck_from_name(const char *s, size_t n);
const char *s3_ck_name(enum s3_ck_alg a);    /* "crc32" */
const char *s3_ck_header(enum s3_ck_alg a);  /* "x-amz-checksum-crc32" */
const char *s3_ck_xml_name(enum s3_ck_alg a); /* "ChecksumCRC32" */
size_t s3_ck_size(enum s3_ck_alg a);         /* digest bytes */

struct s3_ck {
    enum s3_ck_alg alg;
    uint64_t crc;
    void *md; /* EVP_MD_CTX for sha1/sha256/md5 */
};

int s3_ck_init(struct s3_ck *c, enum s3_ck_alg alg); /* 0 or -ENOMEM */
void s3_ck_update(struct s3_ck *c, const void *p, size_t n);
/* Final digest into out (s3_ck_size bytes); returns its size. Frees the context. */
size_t s3_ck_final(struct s3_ck *c, uint8_t *out);
/* Final digest as base64 (out: S3_CK_B64_MAX). */
void s3_ck_final_b64(struct s3_ck *c, char *out);
void s3_ck_free(struct s3_ck *c);

/* One-shot helpers. */
void s3_sha256(const void *p, size_t n, uint8_t out[32]);
void s3_sha256_hex(const void *p, size_t n, char out[65]);
void s3_md5(const void *p, size_t n, uint8_t out[16]);
void s3_hmac_sha256(const void *key, size_t klen, const void *p, size_t n, uint8_t out[32]);

#endif
