/*
 * tests/unit/test_nfs3_mount.c - mod_nfs3's MOUNT procedures and export rules against a
 * fake namespace (modules/nfs3/mount.c and nfs3_xdr.c compiled in): client networks
 * (IPv4, IPv6, v4-mapped, "*"), MNT by path, "/name" and "name", MNT3ERR_ACCES for a
 * denied client and for secure_ports from an unprivileged port, EXPORT with client rules,
 * DUMP/UMNT/UMNTALL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../modules/nfs3/nfs3_xdr.c"
#include "../../modules/nfs3/mount.c"

/* ---- stubs of the module's other files ---- */
static int finished;
void nfs3_req_finish(struct nfs3_req *r)
{
    (void)r;
    finished++;
}

/* ---- a fake namespace with two exports ---- */
static const char *const lan[] = {"10.1.0.0/16", "::1", NULL};
static struct cfs_export_info infos[2] = {
    {.size = sizeof(struct cfs_export_info), .id = 1, .name = "data", .path = "/srv/data",
     .clients = lan},
    {.size = sizeof(struct cfs_export_info), .id = 2, .name = "sec", .path = "/srv/sec/",
     .secure_ports = true},
};

static int fake_count(void) { return 2; }
static cfs_export *fake_get(int i) { return (cfs_export *)&infos[i]; }
static const struct cfs_export_info *fake_info(cfs_export *e)
{
    return (const struct cfs_export_info *)e;
}
static int fake_root(cfs_export *e, struct cfs_fh *out)
{
    out->len = 4;
    memcpy(out->data, "ROOT", 4);
    out->data[3] = (uint8_t)('0' + fake_info(e)->id);
    return 0;
}

static struct cfs_vfs_api fake_vfs = {
    .size = sizeof(struct cfs_vfs_api),
    .export_root = fake_root,
    .export_count = fake_count,
    .export_get = fake_get,
    .export_info = fake_info,
};
static struct cfs_host_api fake_api = {.size = sizeof(struct cfs_host_api)};

static struct nfs3_srv srv;
static struct nfs3_conn conn;
static struct nfs3_req req;

static void set_peer4(const char *ip, uint16_t port)
{
    struct sockaddr_in *a = (struct sockaddr_in *)&conn.peer;

    memset(&conn.peer, 0, sizeof(conn.peer));
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    inet_pton(AF_INET, ip, &a->sin_addr);
    conn.peerlen = sizeof(*a);
}

static void set_peer6(const char *ip, uint16_t port)
{
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&conn.peer;

    memset(&conn.peer, 0, sizeof(conn.peer));
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    inet_pton(AF_INET6, ip, &a->sin6_addr);
    conn.peerlen = sizeof(*a);
}

/* Run one MOUNT procedure; returns the first result word. */
static uint32_t run(uint32_t proc, const char *path)
{
    cfs_xdr_enc_free(&req.out);
    memset(&req, 0, sizeof(req));
    req.conn = &conn;
    req.handler = NFS3_H_MNT_BASE + (int)proc;
    snprintf(req.args.path, sizeof(req.args.path), "%s", path ? path : "");
    assert_int_equal(cfs_xdr_enc_init_dyn(&req.out, 64, 65536), 0);
    mnt3_proc_run(&req);
    return req.out.pos >= 4 ? cfs_xdr_get_be32(req.out.buf) : 0xffffffffu;
}

static int setup(void **state)
{
    (void)state;
    memset(&srv, 0, sizeof(srv));
    srv.api = &fake_api;
    srv.vfs = &fake_vfs;
    pthread_mutex_init(&srv.mnt_mu, NULL);
    memset(&conn, 0, sizeof(conn));
    conn.srv = &srv;
    snprintf(conn.peer_str, sizeof(conn.peer_str), "test");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cfs_xdr_enc_free(&req.out);
    mnt3_list_free(&srv);
    return 0;
}

static void test_rules(void **state)
{
    (void)state;
    set_peer4("10.1.2.3", 900);
    assert_true(nfs3_client_allowed(&infos[0], (struct sockaddr *)&conn.peer));
    set_peer4("10.2.0.1", 900);
    assert_false(nfs3_client_allowed(&infos[0], (struct sockaddr *)&conn.peer));
    set_peer6("::1", 900);
    assert_true(nfs3_client_allowed(&infos[0], (struct sockaddr *)&conn.peer));
    set_peer6("::ffff:10.1.9.9", 900);
    assert_true(nfs3_client_allowed(&infos[0], (struct sockaddr *)&conn.peer));
    set_peer6("fe80::1", 900);
    assert_false(nfs3_client_allowed(&infos[0], (struct sockaddr *)&conn.peer));
    /* no rules: everybody */
    assert_true(nfs3_client_allowed(&infos[1], (struct sockaddr *)&conn.peer));
    /* odd rules never match, never crash */
    static const char *const odd[] = {"10.0.0.0/33", "garbage", "10.0.0.0/", "1.2.3.4/8x",
                                      "", NULL};
    struct cfs_export_info i = {.clients = odd};
    set_peer4("10.0.0.1", 900);
    assert_false(nfs3_client_allowed(&i, (struct sockaddr *)&conn.peer));
    static const char *const star[] = {"*", NULL};
    i.clients = star;
    assert_true(nfs3_client_allowed(&i, (struct sockaddr *)&conn.peer));
    static const char *const host[] = {"10.0.0.1", NULL};
    i.clients = host;
    assert_true(nfs3_client_allowed(&i, (struct sockaddr *)&conn.peer));
    static const char *const zero[] = {"0.0.0.0/0", NULL};
    i.clients = zero;
    set_peer4("192.168.7.7", 900);
    assert_true(nfs3_client_allowed(&i, (struct sockaddr *)&conn.peer));
}

static void test_mnt(void **state)
{
    (void)state;
    set_peer4("10.1.2.3", 2000);
    assert_int_equal(run(MNT3_MNT, "/data"), MNT3_OK);
    /* handle, then 2 flavors: AUTH_SYS, AUTH_NONE */
    assert_int_equal(cfs_xdr_get_be32(req.out.buf + 4), 4);
    assert_memory_equal(req.out.buf + 8, "ROO1", 4);
    assert_int_equal(cfs_xdr_get_be32(req.out.buf + 12), 2);
    assert_int_equal(cfs_xdr_get_be32(req.out.buf + 16), CFS_RPC_AUTH_SYS);
    assert_int_equal(run(MNT3_MNT, "data"), MNT3_OK);
    assert_int_equal(run(MNT3_MNT, "/srv/data/"), MNT3_OK);
    assert_int_equal(run(MNT3_MNT, "/srv/sec"), MNT3ERR_ACCES); /* port 2000 */
    assert_int_equal(run(MNT3_MNT, "/nothing"), MNT3ERR_NOENT);
    assert_int_equal(run(MNT3_MNT, "/srv"), MNT3ERR_NOENT);
    set_peer4("10.2.2.3", 700);
    assert_int_equal(run(MNT3_MNT, "/data"), MNT3ERR_ACCES);
    assert_int_equal(run(MNT3_MNT, "/sec"), MNT3_OK); /* privileged port */
}

static void test_lists(void **state)
{
    (void)state;
    set_peer4("10.1.2.3", 900);
    assert_int_equal(run(MNT3_MNT, "/data"), MNT3_OK);
    assert_int_equal(run(MNT3_MNT, "/sec"), MNT3_OK);
    set_peer4("10.1.2.4", 900);
    assert_int_equal(run(MNT3_MNT, "/data"), MNT3_OK);
    assert_int_equal(srv.nmounts, 3);
    run(MNT3_EXPORT, NULL);
    /* 2 exports; the first with its 2 rules, the second open to "*" */
    assert_non_null(memmem(req.out.buf, req.out.pos, "/data", 5));
    assert_non_null(memmem(req.out.buf, req.out.pos, "10.1.0.0/16", 11));
    assert_non_null(memmem(req.out.buf, req.out.pos, "/sec", 4));
    assert_non_null(memmem(req.out.buf, req.out.pos, "*", 1));
    run(MNT3_DUMP, NULL);
    assert_non_null(memmem(req.out.buf, req.out.pos, "10.1.2.4", 8));
    set_peer4("10.1.2.3", 900);
    run(MNT3_UMNT, "/sec");
    assert_int_equal(srv.nmounts, 2);
    run(MNT3_UMNTALL, NULL);
    assert_int_equal(srv.nmounts, 1);
    run(MNT3_DUMP, NULL);
    assert_null(memmem(req.out.buf, req.out.pos, "10.1.2.3", 8));
    assert_true(finished > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mnt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lists, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
