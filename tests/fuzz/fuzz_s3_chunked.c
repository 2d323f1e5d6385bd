/*
 * tests/fuzz/fuzz_s3_chunked.c - libFuzzer target for the S3 aws-chunked body decoder.
 * First byte picks the mode (signed, signed trailer, unsigned trailer) and the feed
 * step; the rest is the body, fed in pieces as a socket would deliver it.
 */
#include <stddef.h>
#include <stdint.h>

#include "../../modules/s3/cksum.c"
#include "../../modules/s3/s3util.c"
#include "../../modules/s3/sigv4.c"

static int sink(void *arg, const uint8_t *p, size_t n)
{
    size_t *total = arg;
    *total += n;
    (void)p;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const enum s3_payload modes[] = {S3_PL_STREAMING_SIGNED, S3_PL_STREAMING_SIGNED_TRAILER,
                                            S3_PL_STREAMING_UNSIGNED_TRAILER};
    enum s3_payload mode = modes[(data[0] & 3) % 3];
    size_t step = (size_t)(data[0] >> 2) + 1;
    data++;
    size--;
    uint8_t key[32];
    s3_sigv4_signing_key("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20130524", "us-east-1",
                         "s3", key);
    struct s3_chunked c;
    if (s3_chunked_init(&c, mode, key, "20130524T000000Z", "20130524/us-east-1/s3/aws4_request",
                        "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9") < 0)
        return 0;
    size_t off = 0, total = 0;
    while (off < size) {
        size_t n = size - off < step ? size - off : step;
        ssize_t r = s3_chunked_feed(&c, data + off, n, sink, &total);
        if (r < 0 || (size_t)r > n)
            break;
        off += (size_t)r;
        if (s3_chunked_done(&c))
            break;
    }
    (void)s3_chunked_finish(&c);
    if (total > size)
        __builtin_trap();
    s3_chunked_free(&c);
    return 0;
}
