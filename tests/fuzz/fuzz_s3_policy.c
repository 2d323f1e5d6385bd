/*
 * tests/fuzz/fuzz_s3_policy.c - libFuzzer target for mod_s3's bucket policy handling
 * (JSON validation and the anonymous verdict, modules/s3/s3pol.c) and the
 * AccessControlPolicy body decoder. The pool-side helpers s3pol.c calls are stubbed.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../unit/s3pol_stubs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    json_error_t je;
    json_t *doc = json_loadb(in, size, JSON_REJECT_DUPLICATES, &je);
    if (doc) {
        const char *detail = NULL;
        policy_validate("pub", doc, &detail);
        json_decref(doc);
    }
    static const char *const act[] = {"s3:GetObject", "s3:ListBucket", "s3:GetObjectVersion"};
    static const char *const res[] = {"arn:aws:s3:::pub/a/b", "arn:aws:s3:::pub", ""};
    for (int i = 0; i < 3; i++)
        (void)policy_eval(in, size, act[i], res[i]);
    const char *acl;
    (void)acl_from_body(in, size, &acl);
    char pat[64], str[64];
    size_t h = size / 2;
    if (h < sizeof(pat) && size - h < sizeof(str)) {
        memcpy(pat, in, h);
        pat[h] = '\0';
        memcpy(str, in + h, size - h);
        str[size - h] = '\0';
        (void)glob_match(pat, str, size & 1);
    }
    return 0;
}
