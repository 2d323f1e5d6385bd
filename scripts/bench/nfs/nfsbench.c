/*
 * scripts/bench/nfs/nfsbench.c - the libnfs client used by scripts/bench/nfs.sh to drive
 * NFS-Ganesha and cfs-gateway the same way. One workload per run; prints
 * "<workload> <seconds> <detail>" on success.
 *
 *   nfsbench URL write FILE MIB     sequential 1 MiB WRITEs, then COMMIT (fsync)
 *   nfsbench URL read FILE          sequential 1 MiB READs to EOF
 *   nfsbench URL small DIR N        N x (CREATE, WRITE 4 KiB, COMMIT via close)
 *   nfsbench URL creates DIR N      N x empty CREATE
 *   nfsbench URL readdir DIR        READDIRPLUS of DIR (counts entries)
 *
 * URL: nfs://127.0.0.1/export?nfsport=P&mountport=Q&version=3
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nfsc/libnfs.h>

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long parse_count(const char *s)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);

    return (end == s || *end != '\0' || v < 0) ? -1 : v;
}

int main(int argc, char **argv)
{
    struct nfs_context *nfs;
    struct nfs_url *u;
    struct nfsfh *f = NULL;
    const size_t chunk = 1u << 20;
    char *buf = NULL, path[512];
    double t0, t;
    int rc = 1;

    if (argc < 4) {
        fprintf(stderr, "usage: %s URL write|read|small|creates|readdir PATH [N]\n", argv[0]);
        return 2;
    }
    nfs = nfs_init_context();
    u = nfs ? nfs_parse_url_dir(nfs, argv[1]) : NULL;
    if (u == NULL || nfs_mount(nfs, u->server, u->path) != 0) {
        fprintf(stderr, "mount %s: %s\n", argv[1], nfs ? nfs_get_error(nfs) : "no memory");
        return 1;
    }
    buf = malloc(chunk);
    if (buf == NULL)
        goto out;
    memset(buf, 'x', chunk);
    t0 = now_s();
    if (strcmp(argv[2], "write") == 0 && argc > 4) {
        long mib = parse_count(argv[4]);

        if (mib < 0 || nfs_open(nfs, argv[3], O_WRONLY | O_CREAT | O_TRUNC, &f) != 0)
            goto err;
        for (long i = 0; i < mib; i++)
            if (nfs_pwrite(nfs, f, (uint64_t)i * chunk, chunk, buf) != (int)chunk)
                goto err;
        if (nfs_fsync(nfs, f) != 0)
            goto err;
        nfs_close(nfs, f);
        t = now_s() - t0;
        printf("write %.3f %.1f MiB/s\n", t, (double)mib / t);
    } else if (strcmp(argv[2], "read") == 0) {
        uint64_t off = 0;
        int n;

        if (nfs_open(nfs, argv[3], O_RDONLY, &f) != 0)
            goto err;
        while ((n = nfs_pread(nfs, f, off, chunk, buf)) > 0)
            off += (uint64_t)n;
        nfs_close(nfs, f);
        if (n < 0)
            goto err;
        t = now_s() - t0;
        printf("read %.3f %.1f MiB/s\n", t, (double)off / (1 << 20) / t);
    } else if ((strcmp(argv[2], "small") == 0 || strcmp(argv[2], "creates") == 0) &&
               argc > 4) {
        long n = parse_count(argv[4]);
        bool small = argv[2][0] == 's';

        if (n < 0)
            goto err;
        nfs_mkdir(nfs, argv[3]);
        t0 = now_s();
        for (long i = 0; i < n; i++) {
            snprintf(path, sizeof(path), "%s/f%06ld", argv[3], i);
            if (nfs_creat(nfs, path, 0644, &f) != 0)
                goto err;
            if (small && nfs_pwrite(nfs, f, 0, 4096, buf) != 4096)
                goto err;
            nfs_close(nfs, f);
        }
        t = now_s() - t0;
        printf("%s %.3f %.0f files/s\n", argv[2], t, (double)n / t);
    } else if (strcmp(argv[2], "readdir") == 0) {
        struct nfsdir *d = NULL;
        long n = 0;

        if (nfs_opendir(nfs, argv[3], &d) != 0)
            goto err;
        while (nfs_readdir(nfs, d) != NULL)
            n++;
        nfs_closedir(nfs, d);
        t = now_s() - t0;
        printf("readdir %.3f %ld entries\n", t, n);
    } else {
        fprintf(stderr, "unknown workload %s\n", argv[2]);
        goto out;
    }
    rc = 0;
    goto out;
err:
    fprintf(stderr, "%s: %s\n", argv[2], nfs_get_error(nfs));
out:
    free(buf);
    nfs_umount(nfs);
    nfs_destroy_url(u);
    nfs_destroy_context(nfs);
    return rc;
}
