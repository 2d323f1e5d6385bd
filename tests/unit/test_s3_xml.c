/*
 * tests/unit/test_s3_xml.c - the S3 module's XML writer and bounded parser: escaping,
 * entities and character references, DTD/entity refusal, limits, and the request body
 * decoders (CreateBucketConfiguration, Delete, CompleteMultipartUpload, Versioning).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../modules/s3/s3util.c"
#include "../../modules/s3/xml.c"

static void test_writer(void **st)
{
    (void)st;
    struct s3_buf b;
    s3_buf_init(&b, 0);
    s3_xml_open_ns(&b, "R");
    s3_xml_elem(&b, "Key", "a<b>&\"c'\x01");
    s3_xml_elem_u64(&b, "Size", 18446744073709551615ull);
    s3_xml_elem_bool(&b, "T", true);
    s3_xml_close(&b, "R");
    assert_string_equal(s3_buf_cstr(&b),
                        "<R xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                        "<Key>a&lt;b&gt;&amp;&quot;c&apos;&#x01;</Key>"
                        "<Size>18446744073709551615</Size><T>true</T></R>");
    s3_buf_free(&b);
}

static int parse(const char *s, struct s3_xdoc *d)
{
    const char *err;
    return s3_xml_parse(s, strlen(s), d, &err);
}

static void test_parser(void **st)
{
    (void)st;
    struct s3_xdoc d;
    assert_int_equal(parse("\xEF\xBB\xBF<?xml version=\"1.0\"?>\n<!-- c --><a:Root xmlns:a='x'>"
                           "<K>x &lt;&amp;&#65;&#x263A;<![CDATA[<raw&>]]></K><E/><F a=\"1\"></F>"
                           "</a:Root>\n<!-- end -->",
                           &d),
                     0);
    assert_string_equal(d.root->name, "Root");
    assert_string_equal(s3_xml_child_text(d.root, "K"), "x <&A\xE2\x98\xBA<raw&>");
    assert_non_null(s3_xml_child(d.root, "E"));
    assert_string_equal(s3_xml_child_text(d.root, "F"), "");
    assert_null(s3_xml_child(d.root, "Z"));
    s3_xml_free(&d);

    static const char *const bad[] = {
        "",
        "   ",
        "<a>",
        "<a></b>",
        "<a><b></a></b>",
        "<a>&foo;</a>",
        "<a>&#0;</a>",
        "<a>&#xD800;</a>",
        "<a>&#x110000;</a>",
        "<a>&amp</a>",
        "<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
        "<a><!ENTITY x \"y\"></a>",
        "<a></a><b></b>",
        "text<a></a>",
        "<a></a>trailing",
        "<a b></a>",
        "<a b=c></a>",
        "<a b=\"<\"></a>",
        "<a><![CDATA[x</a>",
        "<a><!-- x </a>",
        "<?xml",
        "<>",
        "<:>",
        "</a>",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse(bad[i], &d), -1);
        s3_xml_free(&d);
    }
    /* depth limit */
    struct s3_buf b;
    s3_buf_init(&b, 0);
    for (int i = 0; i < 40; i++)
        s3_buf_adds(&b, "<a>");
    for (int i = 0; i < 40; i++)
        s3_buf_adds(&b, "</a>");
    assert_int_equal(parse(s3_buf_cstr(&b), &d), -1);
    s3_xml_free(&d);
    /* node limit */
    s3_buf_reset(&b);
    s3_buf_adds(&b, "<a>");
    for (int i = 0; i < S3_XML_MAX_NODES + 5; i++)
        s3_buf_adds(&b, "<b/>");
    s3_buf_adds(&b, "</a>");
    assert_int_equal(parse(s3_buf_cstr(&b), &d), -1);
    s3_xml_free(&d);
    s3_buf_free(&b);
}

static void test_bodies(void **st)
{
    (void)st;
    char region[64];
    const char *cb = "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                     "<LocationConstraint> eu-west-1 </LocationConstraint></CreateBucketConfiguration>";
    assert_int_equal(s3_body_create_bucket(cb, strlen(cb), region, sizeof(region)), S3E_OK);
    assert_string_equal(region, "eu-west-1");
    assert_int_equal(s3_body_create_bucket("", 0, region, sizeof(region)), S3E_OK);
    assert_string_equal(region, "");
    assert_int_equal(s3_body_create_bucket("<Foo/>", 6, region, sizeof(region)), S3E_MalformedXML);

    const char *del = "<Delete><Quiet>true</Quiet><Object><Key> sp ace </Key></Object>"
                      "<Object><Key>a&amp;b</Key><VersionId>v1</VersionId></Object></Delete>";
    struct s3_delete_req dr;
    assert_int_equal(s3_body_delete(del, strlen(del), &dr), S3E_OK);
    assert_true(dr.quiet);
    assert_int_equal(dr.n, 2);
    assert_string_equal(dr.objs[0].key, " sp ace "); /* keys are not trimmed */
    assert_null(dr.objs[0].version_id);
    assert_string_equal(dr.objs[1].key, "a&b");
    assert_string_equal(dr.objs[1].version_id, "v1");
    s3_delete_req_free(&dr);
    assert_int_equal(s3_body_delete("<Delete></Delete>", 17, &dr), S3E_MalformedXML);
    assert_int_equal(s3_body_delete("<Delete><Object></Object></Delete>", 34, &dr), S3E_MalformedXML);
    assert_int_equal(s3_body_delete("<Delete><Object><Key>x</Key>", 28, &dr), S3E_MalformedXML);

    const char *cm = "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>"
                     "<ETag>&quot;abc&quot;</ETag></Part><Part><ETag>\"def\"</ETag>"
                     "<PartNumber> 2 </PartNumber></Part></CompleteMultipartUpload>";
    struct s3_complete_req cr;
    assert_int_equal(s3_body_complete(cm, strlen(cm), &cr), S3E_OK);
    assert_int_equal(cr.n, 2);
    assert_int_equal(cr.parts[0].number, 1);
    assert_string_equal(cr.parts[0].etag, "abc");
    assert_int_equal(cr.parts[1].number, 2);
    assert_string_equal(cr.parts[1].etag, "def");
    s3_complete_req_free(&cr);
    const char *cm2 = "<CompleteMultipartUpload><Part><PartNumber>0</PartNumber><ETag>x</ETag>"
                      "</Part></CompleteMultipartUpload>";
    assert_int_equal(s3_body_complete(cm2, strlen(cm2), &cr), S3E_MalformedXML);

    bool en = false;
    const char *vc = "<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>";
    assert_int_equal(s3_body_versioning(vc, strlen(vc), &en), S3E_OK);
    assert_true(en);
    const char *vs = "<VersioningConfiguration><Status>Suspended</Status></VersioningConfiguration>";
    assert_int_equal(s3_body_versioning(vs, strlen(vs), &en), S3E_OK);
    assert_false(en);
    const char *vb = "<VersioningConfiguration><Status>On</Status></VersioningConfiguration>";
    assert_int_equal(s3_body_versioning(vb, strlen(vb), &en), S3E_MalformedXML);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writer),
        cmocka_unit_test(test_parser),
        cmocka_unit_test(test_bodies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
