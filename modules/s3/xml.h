/*
 * modules/s3/xml.h - the little XML S3 needs: a writer for response bodies (escaping) and
 * a small, bounded, non-validating parser for request bodies (no DTD, no entities beyond
 * the five predefined and character references), plus decoders for the request bodies
 * S3 defines: CreateBucketConfiguration, Delete, CompleteMultipartUpload and
 * VersioningConfiguration.
 */
#ifndef CFS_S3_XML_H
#define CFS_S3_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "s3util.h"

#define S3_XML_MAX_BODY (4u << 20)
#define S3_XML_MAX_DEPTH 16
#define S3_XML_MAX_NODES 60000

/* ---- writer ---- */
void s3_xml_decl(struct s3_buf *b); /* <?xml version="1.0" encoding="UTF-8"?> */
void s3_xml_escape(struct s3_buf *b, const char *s, size_t n);
void s3_xml_open(struct s3_buf *b, const char *tag);
/* <tag xmlns="http://s3.amazonaws.com/doc/2006-03-01/"> */
void s3_xml_open_ns(struct s3_buf *b, const char *tag);
void s3_xml_close(struct s3_buf *b, const char *tag);
void s3_xml_elem(struct s3_buf *b, const char *tag, const char *text);
void s3_xml_elemn(struct s3_buf *b, const char *tag, const char *text, size_t n);
void s3_xml_elem_u64(struct s3_buf *b, const char *tag, uint64_t v);
void s3_xml_elem_bool(struct s3_buf *b, const char *tag, bool v);

/* ---- parser ---- */
struct s3_xnode {
    char *name;          /* local name (namespace prefix removed) */
    char *text;          /* decoded character data directly inside this element */
    size_t text_len;
    struct s3_xnode *parent, *child, *last, *next;
};

struct s3_xdoc {
    struct s3_xnode *root;
    size_t nnodes;
};

/* 0 or -1 with *err a static message. doc must be freed with s3_xml_free either way. */
int s3_xml_parse(const char *in, size_t n, struct s3_xdoc *doc, const char **err);
void s3_xml_free(struct s3_xdoc *doc);
const struct s3_xnode *s3_xml_child(const struct s3_xnode *n, const char *name);
/* Text of child `name` with surrounding whitespace trimmed; NULL if no such child. */
const char *s3_xml_child_text(const struct s3_xnode *n, const char *name);

/* ---- S3 request bodies ---- */
/* CreateBucketConfiguration: LocationConstraint (empty string when absent). */
enum s3_err s3_body_create_bucket(const char *in, size_t n, char *region, size_t cap);

struct s3_del_obj {
    char *key;
    char *version_id; /* may be NULL */
};
struct s3_delete_req {
    bool quiet;
    size_t n;
    struct s3_del_obj *objs;
};
enum s3_err s3_body_delete(const char *in, size_t n, struct s3_delete_req *out);
void s3_delete_req_free(struct s3_delete_req *r);

struct s3_part_ref {
    uint32_t number;
    char etag[80];    /* without quotes */
};
struct s3_complete_req {
    size_t n;
    struct s3_part_ref *parts;
};
enum s3_err s3_body_complete(const char *in, size_t n, struct s3_complete_req *out);
void s3_complete_req_free(struct s3_complete_req *r);

/* VersioningConfiguration: *enabled true = Enabled, false = Suspended. */
enum s3_err s3_body_versioning(const char *in, size_t n, bool *enabled);

#endif
