/*
 * modules/s3/xml.c - XML for S3: an escaping writer and a bounded recursive-descent
 * parser (depth, node count and size limits; DOCTYPE/ENTITY declarations refused, so no
 * entity expansion attacks), and the S3 request body decoders built on it.
 */
#include "xml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- writer ---- */

void s3_xml_decl(struct s3_buf *b)
{
    s3_buf_adds(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
}

void s3_xml_escape(struct s3_buf *b, const char *s, size_t n)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *rep = NULL;
        char num[8];
        switch (c) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&apos;"; break;
        default:
            if (c < 0x20 || c == 0x7f) {
                static const char hx[] = "0123456789ABCDEF";
                num[0] = '&';
                num[1] = '#';
                num[2] = 'x';
                num[3] = hx[c >> 4];
                num[4] = hx[c & 15];
                num[5] = ';';
                num[6] = '\0';
                rep = num;
            }
            break;
        }
        if (rep) {
            s3_buf_add(b, s + i - run, run);
            run = 0;
            s3_buf_adds(b, rep);
        } else {
            run++;
        }
    }
    s3_buf_add(b, s + n - run, run);
}

void s3_xml_open(struct s3_buf *b, const char *tag)
{
    s3_buf_addc(b, '<');
    s3_buf_adds(b, tag);
    s3_buf_addc(b, '>');
}

void s3_xml_open_ns(struct s3_buf *b, const char *tag)
{
    s3_buf_addf(b, "<%s xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">", tag);
}

void s3_xml_close(struct s3_buf *b, const char *tag)
{
    s3_buf_adds(b, "</");
    s3_buf_adds(b, tag);
    s3_buf_addc(b, '>');
}

void s3_xml_elemn(struct s3_buf *b, const char *tag, const char *text, size_t n)
{
    s3_xml_open(b, tag);
    s3_xml_escape(b, text, n);
    s3_xml_close(b, tag);
}

void s3_xml_elem(struct s3_buf *b, const char *tag, const char *text)
{
    s3_xml_elemn(b, tag, text ? text : "", text ? strlen(text) : 0);
}

void s3_xml_elem_u64(struct s3_buf *b, const char *tag, uint64_t v)
{
    s3_buf_addf(b, "<%s>%llu</%s>", tag, (unsigned long long)v, tag);
}

void s3_xml_elem_bool(struct s3_buf *b, const char *tag, bool v)
{
    s3_xml_elem(b, tag, v ? "true" : "false");
}

/* ---- parser ---- */

struct xp {
    const char *p, *end;
    struct s3_xdoc *doc;
    const char *err;
};

static bool xp_fail(struct xp *x, const char *msg)
{
    if (!x->err)
        x->err = msg;
    return false;
}

static bool starts(struct xp *x, const char *lit)
{
    size_t l = strlen(lit);
    return (size_t)(x->end - x->p) >= l && memcmp(x->p, lit, l) == 0;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void skip_ws(struct xp *x)
{
    while (x->p < x->end && is_ws(*x->p))
        x->p++;
}

static bool name_char(char c)
{
    return !(is_ws(c) || c == '>' || c == '/' || c == '=' || c == '<' || c == '"' ||
             c == '\'' || c == '&' || c == '!' || c == '?');
}

/* Skip <?...?>, <!--...-->; refuse <!DOCTYPE, <!ENTITY and any other declaration. */
static bool skip_misc(struct xp *x, bool *did)
{
    *did = false;
    if (starts(x, "<?")) {
        const char *e = memmem(x->p + 2, (size_t)(x->end - x->p - 2), "?>", 2);
        if (!e)
            return xp_fail(x, "unterminated processing instruction");
        x->p = e + 2;
        *did = true;
    } else if (starts(x, "<!--")) {
        const char *e = memmem(x->p + 4, (size_t)(x->end - x->p - 4), "-->", 3);
        if (!e)
            return xp_fail(x, "unterminated comment");
        x->p = e + 3;
        *did = true;
    } else if (starts(x, "<!") && !starts(x, "<![CDATA[")) {
        return xp_fail(x, "DTDs and entity declarations are not accepted");
    }
    return true;
}

static int add_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 63));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 63));
        o[2] = (char)(0x80 | (cp & 63));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 63));
    o[2] = (char)(0x80 | ((cp >> 6) & 63));
    o[3] = (char)(0x80 | (cp & 63));
    return 4;
}

/* Append decoded text [s, e) to node n. */
static bool add_text(struct xp *x, struct s3_xnode *n, const char *s, const char *e, bool raw)
{
    size_t len = (size_t)(e - s);
    if (len == 0)
        return true;
    char *t = realloc(n->text, n->text_len + len + 1);
    if (!t)
        return xp_fail(x, "out of memory");
    n->text = t;
    char *o = t + n->text_len;
    for (const char *p = s; p < e;) {
        if (raw || *p != '&') {
            if (*p == '\0')
                return xp_fail(x, "NUL in text");
            *o++ = *p++;
            continue;
        }
        const char *semi = memchr(p, ';', (size_t)(e - p));
        if (!semi || semi - p > 12)
            return xp_fail(x, "bad entity reference");
        size_t el = (size_t)(semi - p - 1);
        const char *en = p + 1;
        if (el == 2 && memcmp(en, "lt", 2) == 0)
            *o++ = '<';
        else if (el == 2 && memcmp(en, "gt", 2) == 0)
            *o++ = '>';
        else if (el == 3 && memcmp(en, "amp", 3) == 0)
            *o++ = '&';
        else if (el == 4 && memcmp(en, "quot", 4) == 0)
            *o++ = '"';
        else if (el == 4 && memcmp(en, "apos", 4) == 0)
            *o++ = '\'';
        else if (el >= 2 && en[0] == '#') {
            uint32_t cp = 0;
            bool hex = en[1] == 'x';
            size_t i = hex ? 2 : 1;
            if (i >= el)
                return xp_fail(x, "bad character reference");
            for (; i < el; i++) {
                char c = en[i];
                int d;
                if (c >= '0' && c <= '9')
                    d = c - '0';
                else if (hex && c >= 'a' && c <= 'f')
                    d = c - 'a' + 10;
                else if (hex && c >= 'A' && c <= 'F')
                    d = c - 'A' + 10;
                else
                    return xp_fail(x, "bad character reference");
                cp = cp * (hex ? 16u : 10u) + (uint32_t)d;
                if (cp > 0x10FFFF)
                    return xp_fail(x, "bad character reference");
            }
            if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF))
                return xp_fail(x, "bad character reference");
            /* a reference (<= 12 bytes) always decodes to <= 4 bytes: room is there */
            o += add_utf8(o, cp);
        } else {
            return xp_fail(x, "undefined entity");
        }
        p = semi + 1;
    }
    n->text_len = (size_t)(o - t);
    t[n->text_len] = '\0';
    return true;
}

static struct s3_xnode *new_node(struct xp *x, struct s3_xnode *parent, const char *name,
                                 size_t nlen)
{
    if (++x->doc->nnodes > S3_XML_MAX_NODES) {
        xp_fail(x, "too many elements");
        return NULL;
    }
    struct s3_xnode *n = calloc(1, sizeof(*n));
    if (!n || !(n->name = malloc(nlen + 1))) {
        free(n);
        xp_fail(x, "out of memory");
        return NULL;
    }
    memcpy(n->name, name, nlen);
    n->name[nlen] = '\0';
    n->parent = parent;
    if (parent) {
        if (parent->last)
            parent->last->next = n;
        else
            parent->child = n;
        parent->last = n;
    }
    return n;
}

/* At '<' of a start tag: parse the element and its content. */
static bool parse_element(struct xp *x, struct s3_xnode *parent, int depth,
                          struct s3_xnode **out)
{
    if (depth > S3_XML_MAX_DEPTH)
        return xp_fail(x, "nesting too deep");
    x->p++; /* '<' */
    const char *ns = x->p;
    while (x->p < x->end && name_char(*x->p))
        x->p++;
    size_t nlen = (size_t)(x->p - ns);
    if (nlen == 0)
        return xp_fail(x, "bad element name");
    const char *colon = memchr(ns, ':', nlen);
    const char *local = colon ? colon + 1 : ns;
    size_t llen = nlen - (size_t)(local - ns);
    if (llen == 0)
        return xp_fail(x, "bad element name");
    struct s3_xnode *n = new_node(x, parent, local, llen);
    if (!n)
        return false;
    if (out)
        *out = n;
    /* attributes: name="value" | name='value'; ignored */
    for (;;) {
        skip_ws(x);
        if (x->p >= x->end)
            return xp_fail(x, "unterminated start tag");
        if (*x->p == '>') {
            x->p++;
            break;
        }
        if (starts(x, "/>")) {
            x->p += 2;
            return true;
        }
        const char *an = x->p;
        while (x->p < x->end && name_char(*x->p))
            x->p++;
        if (x->p == an)
            return xp_fail(x, "bad attribute");
        skip_ws(x);
        if (x->p >= x->end || *x->p != '=')
            return xp_fail(x, "attribute without value");
        x->p++;
        skip_ws(x);
        if (x->p >= x->end || (*x->p != '"' && *x->p != '\''))
            return xp_fail(x, "unquoted attribute value");
        char q = *x->p++;
        const char *ve = memchr(x->p, q, (size_t)(x->end - x->p));
        if (!ve || memchr(x->p, '<', (size_t)(ve - x->p)))
            return xp_fail(x, "bad attribute value");
        x->p = ve + 1;
    }
    /* content */
    for (;;) {
        const char *ts = x->p;
        while (x->p < x->end && *x->p != '<')
            x->p++;
        if (!add_text(x, n, ts, x->p, false))
            return false;
        if (x->p >= x->end)
            return xp_fail(x, "unterminated element");
        if (starts(x, "</")) {
            x->p += 2;
            const char *es = x->p;
            while (x->p < x->end && name_char(*x->p))
                x->p++;
            if ((size_t)(x->p - es) != nlen || memcmp(es, ns, nlen) != 0)
                return xp_fail(x, "mismatched end tag");
            skip_ws(x);
            if (x->p >= x->end || *x->p != '>')
                return xp_fail(x, "bad end tag");
            x->p++;
            return true;
        }
        if (starts(x, "<![CDATA[")) {
            const char *cs = x->p + 9;
            const char *ce = memmem(cs, (size_t)(x->end - cs), "]]>", 3);
            if (!ce)
                return xp_fail(x, "unterminated CDATA");
            if (!add_text(x, n, cs, ce, true))
                return false;
            x->p = ce + 3;
            continue;
        }
        bool did;
        if (!skip_misc(x, &did))
            return false;
        if (did)
            continue;
        if (!parse_element(x, n, depth + 1, NULL))
            return false;
    }
}

int s3_xml_parse(const char *in, size_t n, struct s3_xdoc *doc, const char **err)
{
    memset(doc, 0, sizeof(*doc));
    struct xp x = {.p = in, .end = in + n, .doc = doc};
    if (n > S3_XML_MAX_BODY) {
        *err = "body too large";
        return -1;
    }
    if (n >= 3 && memcmp(in, "\xEF\xBB\xBF", 3) == 0)
        x.p += 3;
    for (;;) {
        skip_ws(&x);
        if (x.p >= x.end)
            break;
        bool did;
        if (!skip_misc(&x, &did))
            goto bad;
        if (did)
            continue;
        if (*x.p != '<' || doc->root) {
            xp_fail(&x, doc->root ? "content after the root element" : "text outside the root element");
            goto bad;
        }
        if (!parse_element(&x, NULL, 1, &doc->root))
            goto bad;
    }
    if (!doc->root) {
        *err = "no root element";
        return -1;
    }
    return 0;
bad:
    *err = x.err ? x.err : "malformed XML";
    return -1;
}

static void free_node(struct s3_xnode *n)
{
    while (n) {
        struct s3_xnode *next = n->next;
        free_node(n->child);
        free(n->name);
        free(n->text);
        free(n);
        n = next;
    }
}

void s3_xml_free(struct s3_xdoc *doc)
{
    free_node(doc->root);
    doc->root = NULL;
}

const struct s3_xnode *s3_xml_child(const struct s3_xnode *n, const char *name)
{
    for (const struct s3_xnode *c = n ? n->child : NULL; c; c = c->next)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

static const char *trim_text(const struct s3_xnode *c, size_t *len)
{
    static const char empty[] = "";
    if (!c->text) {
        *len = 0;
        return empty;
    }
    const char *s = c->text, *e = c->text + c->text_len;
    while (s < e && is_ws(*s))
        s++;
    while (e > s && is_ws(e[-1]))
        e--;
    *len = (size_t)(e - s);
    return s;
}

const char *s3_xml_child_text(const struct s3_xnode *n, const char *name)
{
    const struct s3_xnode *c = s3_xml_child(n, name);
    if (!c)
        return NULL;
    size_t len;
    const char *s = trim_text(c, &len);
    /* trim in place: the node owns its text */
    if (c->text && len < c->text_len) {
        memmove(c->text, s, len);
        c->text[len] = '\0';
        ((struct s3_xnode *)c)->text_len = len;
    }
    return c->text ? c->text : "";
}

/* ---- S3 bodies ---- */

static enum s3_err parse_root(const char *in, size_t n, struct s3_xdoc *doc, const char *root)
{
    const char *err;
    if (s3_xml_parse(in, n, doc, &err) < 0 || strcmp(doc->root->name, root) != 0)
        return S3E_MalformedXML;
    return S3E_OK;
}

enum s3_err s3_body_create_bucket(const char *in, size_t n, char *region, size_t cap)
{
    region[0] = '\0';
    if (n == 0)
        return S3E_OK;
    struct s3_xdoc doc;
    enum s3_err e = parse_root(in, n, &doc, "CreateBucketConfiguration");
    if (e == S3E_OK) {
        const char *lc = s3_xml_child_text(doc.root, "LocationConstraint");
        if (lc) {
            size_t l = strlen(lc);
            if (l >= cap)
                e = S3E_InvalidArgument;
            else
                memcpy(region, lc, l + 1);
        }
    }
    s3_xml_free(&doc);
    return e;
}

void s3_delete_req_free(struct s3_delete_req *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->objs[i].key);
        free(r->objs[i].version_id);
    }
    free(r->objs);
    memset(r, 0, sizeof(*r));
}

enum s3_err s3_body_delete(const char *in, size_t n, struct s3_delete_req *out)
{
    memset(out, 0, sizeof(*out));
    struct s3_xdoc doc;
    enum s3_err e = parse_root(in, n, &doc, "Delete");
    if (e)
        goto out;
    const char *q = s3_xml_child_text(doc.root, "Quiet");
    out->quiet = q && strcmp(q, "true") == 0;
    size_t cnt = 0;
    for (const struct s3_xnode *c = doc.root->child; c; c = c->next)
        if (strcmp(c->name, "Object") == 0)
            cnt++;
    if (cnt == 0 || cnt > 1000) {
        e = S3E_MalformedXML;
        goto out;
    }
    out->objs = calloc(cnt, sizeof(*out->objs));
    if (!out->objs) {
        e = S3E_InternalError;
        goto out;
    }
    for (const struct s3_xnode *c = doc.root->child; c; c = c->next) {
        if (strcmp(c->name, "Object") != 0)
            continue;
        const struct s3_xnode *k = s3_xml_child(c, "Key");
        if (!k || !k->text || k->text_len == 0) {
            e = S3E_MalformedXML;
            goto out;
        }
        struct s3_del_obj *o = &out->objs[out->n++];
        o->key = strdup(k->text);
        const char *v = s3_xml_child_text(c, "VersionId");
        o->version_id = v ? strdup(v) : NULL;
        if (!o->key || (v && !o->version_id)) {
            e = S3E_InternalError;
            goto out;
        }
    }
out:
    s3_xml_free(&doc);
    if (e)
        s3_delete_req_free(out);
    return e;
}

void s3_complete_req_free(struct s3_complete_req *r)
{
    free(r->parts);
    memset(r, 0, sizeof(*r));
}

enum s3_err s3_body_complete(const char *in, size_t n, struct s3_complete_req *out)
{
    memset(out, 0, sizeof(*out));
    struct s3_xdoc doc;
    enum s3_err e = parse_root(in, n, &doc, "CompleteMultipartUpload");
    if (e)
        goto out;
    size_t cnt = 0;
    for (const struct s3_xnode *c = doc.root->child; c; c = c->next)
        if (strcmp(c->name, "Part") == 0)
            cnt++;
    if (cnt == 0 || cnt > 10000) {
        e = S3E_MalformedXML;
        goto out;
    }
    out->parts = calloc(cnt, sizeof(*out->parts));
    if (!out->parts) {
        e = S3E_InternalError;
        goto out;
    }
    for (const struct s3_xnode *c = doc.root->child; c; c = c->next) {
        if (strcmp(c->name, "Part") != 0)
            continue;
        const char *pn = s3_xml_child_text(c, "PartNumber");
        const char *et = s3_xml_child_text(c, "ETag");
        uint64_t v;
        if (!pn || !et || s3_parse_u64(pn, strlen(pn), &v) < 0 || v < 1 || v > 10000) {
            e = S3E_MalformedXML;
            goto out;
        }
        struct s3_part_ref *p = &out->parts[out->n++];
        p->number = (uint32_t)v;
        size_t l = strlen(et);
        /* ETag may come quoted, or with &quot; entities already decoded */
        if (l >= 2 && et[0] == '"' && et[l - 1] == '"') {
            et++;
            l -= 2;
        }
        if (l >= sizeof(p->etag)) {
            e = S3E_InvalidPart;
            goto out;
        }
        memcpy(p->etag, et, l);
        p->etag[l] = '\0';
    }
out:
    s3_xml_free(&doc);
    if (e)
        s3_complete_req_free(out);
    return e;
}

enum s3_err s3_body_versioning(const char *in, size_t n, bool *enabled)
{
    struct s3_xdoc doc;
    enum s3_err e = parse_root(in, n, &doc, "VersioningConfiguration");
    if (e == S3E_OK) {
        const char *s = s3_xml_child_text(doc.root, "Status");
        if (s && strcmp(s, "Enabled") == 0)
            *enabled = true;
        else if (s && strcmp(s, "Suspended") == 0)
            *enabled = false;
        else
            e = S3E_MalformedXML;
    }
    s3_xml_free(&doc);
    return e;
}
