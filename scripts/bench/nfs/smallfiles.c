/*
 * scripts/bench/nfs/smallfiles.c - the local limit of the small-files workload: THREADS
 * threads create N files in DIR, each with one 4 KiB write, fdatasync and close (what an
 * NFS server does for CREATE, WRITE, COMMIT), as many at once as the NFS client keeps in
 * flight. Prints the elapsed seconds.
 *
 *   smallfiles DIR N THREADS
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *dir;
static int nfiles;
static atomic_int next, failed;

static void *worker(void *arg)
{
    char buf[4096], path[4096];

    (void)arg;
    memset(buf, 'x', sizeof(buf));
    for (int i; (i = atomic_fetch_add(&next, 1)) < nfiles;) {
        snprintf(path, sizeof(path), "%s/f%d", dir, i);
        int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
        if (fd < 0 || pwrite(fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf) ||
            fdatasync(fd) < 0)
            atomic_fetch_add(&failed, 1);
        if (fd >= 0)
            close(fd);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    pthread_t th[256];
    struct timespec t0, t1;
    int nt;

    if (argc != 4 || (nfiles = atoi(argv[2])) <= 0 || (nt = atoi(argv[3])) <= 0 || nt > 256) {
        fprintf(stderr, "usage: %s DIR N THREADS\n", argv[0]);
        return 2;
    }
    dir = argv[1];
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < nt; i++)
        if (pthread_create(&th[i], NULL, worker, NULL) != 0)
            return 1;
    for (int i = 0; i < nt; i++)
        pthread_join(th[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (atomic_load(&failed)) {
        fprintf(stderr, "smallfiles: %d files failed\n", atomic_load(&failed));
        return 1;
    }
    printf("%.3f\n", (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    return 0;
}
