/*
 * scripts/bench/nfs/nfsbench.c - the libnfs (NFSv3) client used by scripts/bench/nfs.sh to
 * drive NFS-Ganesha and cfs-gateway the same way. It uses libnfs's asynchronous API with
 * up to DEPTH requests in flight on one TCP connection (a real client pipelines too), and
 * runs one workload per process; on success it prints one line:
 *   "<workload> <seconds> <detail>"
 *
 *   nfsbench [-d DEPTH] URL write FILE MIB   MIB x 1 MiB UNSTABLE WRITEs, then COMMIT
 *   nfsbench [-d DEPTH] URL read FILE        1 MiB READs of the whole file
 *   nfsbench [-d DEPTH] URL small DIR N      mkdir DIR, then N x (CREATE, 4 KiB WRITE)
 *   nfsbench [-d DEPTH] URL creates DIR N    mkdir DIR, then N x empty CREATE
 *   nfsbench [-d DEPTH] URL readdir DIR      READDIRPLUS of DIR to the end (one listing)
 *
 * URL: nfs://127.0.0.1/export?nfsport=P&mountport=Q&version=3. DEPTH defaults to 16
 * (1..256). The time covers the workload only (not MOUNT, not the mkdir); write includes
 * the COMMIT; small and creates include each file's close, where libnfs 4 sends a COMMIT
 * after unstable writes (so small = CREATE, WRITE, COMMIT per file, like a kernel client's
 * close-to-open flush). Buffers are touched before the clock starts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nfsc/libnfs.h>

#define CHUNK (1u << 20)
#define SMALL_SIZE 4096u
#define MAX_DEPTH 256

struct bench;

/* One pipeline slot: a chunk of a big file or one small file in progress. */
struct slot {
    struct bench *b;
    struct nfsfh *fh;
    long idx;
};

struct bench {
    struct nfs_context *nfs;
    struct nfsfh *fh;      /* write/read: the big file */
    const char *dir;       /* small/creates: the directory */
    char *buf;             /* CHUNK bytes of payload */
    bool small;            /* small: write 4 KiB into each file */
    bool writing;          /* big file: WRITE (else READ) */
    long next;             /* next chunk/file to start */
    long total;            /* chunks/files to do */
    long done;             /* chunks/files finished */
    int inflight;          /* slots with a request outstanding */
    int err;               /* first error (negative errno), 0 if none */
    uint64_t bytes;        /* bytes moved (read: what the server returned) */
    struct slot slots[MAX_DEPTH];
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long parse_count(const char *s, long max)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0 || v > max)
        return -1;
    return v;
}

static void fail(struct bench *b, int err, const void *data)
{
    if (b->err == 0) {
        b->err = err < 0 ? err : -EIO;
        fprintf(stderr, "nfsbench: %s\n", data ? (const char *)data : nfs_get_error(b->nfs));
    }
}

/* Runs the event loop until nothing is in flight. */
static int pump(struct bench *b)
{
    while (b->inflight > 0) {
        struct pollfd p = {.fd = nfs_get_fd(b->nfs), .events = (short)nfs_which_events(b->nfs)};

        if (poll(&p, 1, 1000) < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (nfs_service(b->nfs, p.revents) < 0) {
            fprintf(stderr, "nfsbench: service: %s\n", nfs_get_error(b->nfs));
            return -EIO;
        }
    }
    return b->err;
}

/* ---- big file: write and read ---- */

static void chunk_start(struct slot *s);

static void chunk_done(int status, struct nfs_context *nfs, void *data, void *priv)
{
    struct slot *s = priv;
    struct bench *b = s->b;

    (void)nfs;
    b->inflight--;
    if (status < 0) {
        fail(b, status, data);
        return;
    }
    b->bytes += (uint64_t)status;
    b->done++;
    chunk_start(s);
}

static void chunk_start(struct slot *s)
{
    struct bench *b = s->b;
    uint64_t off;
    int rc;

    if (b->err != 0 || b->next >= b->total)
        return;
    s->idx = b->next++;
    off = (uint64_t)s->idx * CHUNK;
    if (b->writing)
        rc = nfs_pwrite_async(b->nfs, b->fh, off, CHUNK, b->buf, chunk_done, s);
    else
        rc = nfs_pread_async(b->nfs, b->fh, off, CHUNK, chunk_done, s);
    if (rc != 0) {
        fail(b, -EIO, NULL);
        return;
    }
    b->inflight++;
}

/* ---- many files: small and creates ---- */

static void file_start(struct slot *s);

static void file_closed(int status, struct nfs_context *nfs, void *data, void *priv)
{
    struct slot *s = priv;

    (void)nfs;
    s->b->inflight--;
    if (status < 0) {
        fail(s->b, status, data);
        return;
    }
    s->b->done++;
    file_start(s);
}

static void file_close(struct slot *s)
{
    struct nfsfh *fh = s->fh;

    s->fh = NULL;
    if (nfs_close_async(s->b->nfs, fh, file_closed, s) != 0) {
        fail(s->b, -EIO, NULL);
        return;
    }
    s->b->inflight++;
}

static void file_written(int status, struct nfs_context *nfs, void *data, void *priv)
{
    struct slot *s = priv;

    (void)nfs;
    s->b->inflight--;
    if (status < 0 || status != (int)SMALL_SIZE) {
        fail(s->b, status < 0 ? status : -EIO, status < 0 ? data : "short write");
        return;
    }
    s->b->bytes += (uint64_t)status;
    file_close(s);
}

static void file_created(int status, struct nfs_context *nfs, void *data, void *priv)
{
    struct slot *s = priv;
    struct bench *b = s->b;

    (void)nfs;
    b->inflight--;
    if (status < 0) {
        fail(b, status, data);
        return;
    }
    s->fh = data;
    if (!b->small) {
        file_close(s);
        return;
    }
    if (nfs_pwrite_async(b->nfs, s->fh, 0, SMALL_SIZE, b->buf, file_written, s) != 0) {
        fail(b, -EIO, NULL);
        return;
    }
    b->inflight++;
}

static void file_start(struct slot *s)
{
    struct bench *b = s->b;
    char path[512];
    int n;

    if (b->err != 0 || b->next >= b->total)
        return;
    s->idx = b->next++;
    n = snprintf(path, sizeof(path), "%s/f%06ld", b->dir, s->idx);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        fail(b, -ENAMETOOLONG, "path too long");
        return;
    }
    if (nfs_creat_async(b->nfs, path, 0644, file_created, s) != 0) {
        fail(b, -EIO, NULL);
        return;
    }
    b->inflight++;
}

/* ---- main ---- */

static void usage(const char *me)
{
    fprintf(stderr,
            "usage: %s [-d DEPTH] URL write FILE MIB | read FILE | small DIR N |"
            " creates DIR N | readdir DIR\n",
            me);
}

int main(int argc, char **argv)
{
    struct bench *b = NULL;
    struct nfs_context *nfs = NULL;
    struct nfs_url *u = NULL;
    long depth = 16;
    const char *wl, *path;
    double t0 = 0, t, tc;
    int rc = 1, a = 1;

    if (argc > 2 && strcmp(argv[1], "-d") == 0) {
        depth = parse_count(argv[2], MAX_DEPTH);
        if (depth < 1) {
            usage(argv[0]);
            return 2;
        }
        a = 3;
    }
    if (argc - a < 3) {
        usage(argv[0]);
        return 2;
    }
    wl = argv[a + 1];
    path = argv[a + 2];
    b = calloc(1, sizeof(*b));
    nfs = nfs_init_context();
    if (b == NULL || nfs == NULL || posix_memalign((void **)&b->buf, 4096, CHUNK) != 0) {
        fprintf(stderr, "nfsbench: out of memory\n");
        goto out;
    }
    b->nfs = nfs;
    memset(b->buf, 'x', CHUNK); /* touch the payload before timing */
    for (int i = 0; i < MAX_DEPTH; i++)
        b->slots[i].b = b;
    nfs_set_dircache(nfs, 0);
    u = nfs_parse_url_dir(nfs, argv[a]);
    if (u == NULL || nfs_mount(nfs, u->server, u->path) != 0) {
        fprintf(stderr, "nfsbench: mount %s: %s\n", argv[a], nfs_get_error(nfs));
        goto out;
    }

    if (strcmp(wl, "write") == 0 && argc - a > 3) {
        long mib = parse_count(argv[a + 3], 1L << 30);

        if (mib < 0) {
            usage(argv[0]);
            goto out;
        }
        if (nfs_open(nfs, path, O_WRONLY | O_CREAT | O_TRUNC, &b->fh) != 0)
            goto nfserr;
        b->writing = true;
        b->total = mib;
        t0 = now_s();
        for (long i = 0; i < depth; i++)
            chunk_start(&b->slots[i]);
        if (pump(b) != 0)
            goto out;
        tc = now_s();
        if (nfs_fsync(nfs, b->fh) != 0) /* COMMIT */
            goto nfserr;
        t = now_s() - t0;
        printf("write %.3f %.1f MiB/s (commit %.3f s, wtmax %" PRIu64 ", depth %ld)\n", t,
               (double)b->bytes / CHUNK / t, t0 + t - tc, nfs_get_writemax(nfs), depth);
    } else if (strcmp(wl, "read") == 0) {
        struct nfs_stat_64 st;

        if (nfs_open(nfs, path, O_RDONLY, &b->fh) != 0 || nfs_fstat64(nfs, b->fh, &st) != 0)
            goto nfserr;
        b->total = (long)((st.nfs_size + CHUNK - 1) / CHUNK);
        t0 = now_s();
        for (long i = 0; i < depth; i++)
            chunk_start(&b->slots[i]);
        if (pump(b) != 0)
            goto out;
        t = now_s() - t0;
        if (b->bytes != st.nfs_size) {
            fprintf(stderr, "nfsbench: read %" PRIu64 " of %" PRIu64 " bytes\n", b->bytes,
                    (uint64_t)st.nfs_size);
            goto out;
        }
        printf("read %.3f %.1f MiB/s (rtmax %" PRIu64 ", depth %ld)\n", t,
               (double)b->bytes / CHUNK / t, nfs_get_readmax(nfs), depth);
    } else if ((strcmp(wl, "small") == 0 || strcmp(wl, "creates") == 0) && argc - a > 3) {
        long n = parse_count(argv[a + 3], 10000000);

        if (n < 0) {
            usage(argv[0]);
            goto out;
        }
        if (nfs_mkdir(nfs, path) != 0 && strstr(nfs_get_error(nfs), "EXIST") == NULL)
            goto nfserr;
        b->dir = path;
        b->small = wl[0] == 's';
        b->total = n;
        t0 = now_s();
        for (long i = 0; i < depth; i++)
            file_start(&b->slots[i]);
        if (pump(b) != 0)
            goto out;
        t = now_s() - t0;
        printf("%s %.3f %.0f files/s (depth %ld)\n", wl, t, (double)b->done / t, depth);
    } else if (strcmp(wl, "readdir") == 0) {
        struct nfsdir *d = NULL;
        long n = 0;

        t0 = now_s();
        if (nfs_opendir(nfs, path, &d) != 0)
            goto nfserr;
        while (nfs_readdir(nfs, d) != NULL)
            n++;
        nfs_closedir(nfs, d);
        t = now_s() - t0;
        printf("readdir %.3f %ld entries %.0f entries/s\n", t, n, (double)n / t);
    } else {
        usage(argv[0]);
        goto out;
    }
    rc = 0;
    goto out;
nfserr:
    fprintf(stderr, "nfsbench: %s %s: %s\n", wl, path, nfs_get_error(nfs));
out:
    if (b != NULL && b->fh != NULL)
        nfs_close(nfs, b->fh);
    if (nfs != NULL) {
        if (u != NULL)
            nfs_umount(nfs);
        nfs_destroy_url(u);
        nfs_destroy_context(nfs);
    }
    if (b != NULL)
        free(b->buf);
    free(b);
    return rc;
}
