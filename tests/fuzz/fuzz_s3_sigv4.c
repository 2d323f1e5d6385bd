/*
 * tests/fuzz/fuzz_s3_sigv4.c - libFuzzer target for SigV4 parsing and canonicalisation:
 * the input is "METHOD target\nName: value\n..." (a request head); the target's path and
 * query, the Authorization header and presigned parameters go through parse, canonical
 * request and verify.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../modules/s3/cksum.c"
#include "../../modules/s3/s3util.c"
#include "../../modules/s3/sigv4.c"

#define MAXH 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *line = buf, *nl = memchr(buf, '\n', size);
    size_t llen = nl ? (size_t)(nl - buf) : size;
    char *sp = memchr(line, ' ', llen);
    struct s3_hdr h[MAXH];
    size_t nh = 0;
    if (!sp)
        goto out;
    *sp = '\0';
    const char *target = sp + 1;
    size_t tlen = llen - (size_t)(sp + 1 - line);
    char *p = nl ? nl + 1 : buf + size;
    while (p < buf + size && nh < MAXH) {
        char *e = memchr(p, '\n', (size_t)(buf + size - p));
        size_t l = e ? (size_t)(e - p) : (size_t)(buf + size - p);
        char *colon = memchr(p, ':', l);
        if (colon) {
            h[nh].name = p;
            h[nh].nlen = (size_t)(colon - p);
            h[nh].val = colon + 1;
            h[nh].vlen = l - h[nh].nlen - 1;
            nh++;
        }
        p += l + 1;
    }
    struct s3_reqview rq = {.method = line, .hdrs = h, .nhdrs = nh};
    const char *q = memchr(target, '?', tlen);
    rq.path = target;
    rq.path_len = q ? (size_t)(q - target) : tlen;
    rq.query = q ? q + 1 : NULL;
    rq.query_len = q ? tlen - rq.path_len - 1 : 0;
    struct s3_sigv4 sv;
    if (s3_sigv4_parse(&rq, &sv) == S3E_OK) {
        struct s3_buf c, s;
        s3_buf_init(&c, 0);
        s3_buf_init(&s, 0);
        s3_sigv4_canonical(&rq, &sv, &c);
        s3_sigv4_verify(&rq, &sv, "secret", sv.t, &c, &s, NULL);
        s3_buf_free(&c);
        s3_buf_free(&s);
    }
out:
    free(buf);
    return 0;
}
