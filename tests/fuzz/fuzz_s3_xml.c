/*
 * tests/fuzz/fuzz_s3_xml.c - libFuzzer target for the S3 module's XML parser and the
 * request body decoders built on it; the parsed tree is written back with the escaping
 * writer.
 */
#include <stddef.h>
#include <stdint.h>

#include "../../modules/s3/s3util.c"
#include "../../modules/s3/xml.c"

static void dump(struct s3_buf *b, const struct s3_xnode *n)
{
    for (; n; n = n->next) {
        s3_xml_open(b, n->name);
        if (n->text)
            s3_xml_escape(b, n->text, n->text_len);
        dump(b, n->child);
        s3_xml_close(b, n->name);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    struct s3_xdoc d;
    const char *err;
    if (s3_xml_parse(in, size, &d, &err) == 0) {
        struct s3_buf b;
        s3_buf_init(&b, 0);
        dump(&b, d.root);
        s3_buf_free(&b);
    }
    s3_xml_free(&d);
    char region[64];
    s3_body_create_bucket(in, size, region, sizeof(region));
    struct s3_delete_req dr;
    if (s3_body_delete(in, size, &dr) == S3E_OK)
        s3_delete_req_free(&dr);
    struct s3_complete_req cr;
    if (s3_body_complete(in, size, &cr) == S3E_OK)
        s3_complete_req_free(&cr);
    bool en;
    s3_body_versioning(in, size, &en);
    return 0;
}
