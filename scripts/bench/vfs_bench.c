/*
 * scripts/bench/vfs_bench.c - VFS micro-benchmark: ops/s of getattr, 4 KiB write,
 * create+unlink and a readdir of 10k entries, done (1) with the bare syscalls in a loop,
 * (2) through vfs->call on the same thread and (3) through the async path (vfs->submit:
 * pool thread, completion on a loop) at queue depth 1 and 32. Prints the median of
 * --runs runs and the cost ratios bare/VFS (goal: < 1.5x for getattr and 4 KiB write).
 *
 *   vfs_bench [--dir DIR] [--runs 5] [--scale 1.0] [--workers 4]
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cfs/vfs.h>

#include "core.h"
#include "vfs/namespace.h"

enum wl { W_GETATTR, W_WRITE, W_CREATE, W_READDIR, W__N };
static const char *const wl_name[W__N] = { "getattr", "write4k", "create+unlink",
                                           "readdir10k" };
static const struct cfs_cred ROOT = { 0, 0, 0, { 0 } };
static const struct cfs_vfs_api *V;
static cfs_export *E;
static struct cfs_fh root_fh, file_fh, dir_fh;
static char dir[256], expdir[300];
static int file_fd, dir_fd;
static char block[4096];
static long iters[W__N] = { 400000, 100000, 20000, 40 };

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st; (void)flag; (void)f;
    return remove(p);
}

/* ---- bare syscalls ---- */
static void bare(enum wl w, long n)
{
    struct stat st;
    char name[32], buf[32768];
    for (long i = 0; i < n; i++) {
        switch (w) {
        case W_GETATTR:
            fstat(file_fd, &st);
            break;
        case W_WRITE:
            if (pwrite(file_fd, block, sizeof(block), (off_t)((i % 16384) * 4096)) < 0)
                abort();
            break;
        case W_CREATE: {
            snprintf(name, sizeof(name), "c%ld", i);
            int fd = openat(dir_fd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
            if (fd < 0)
                abort();
            close(fd);
            unlinkat(dir_fd, name, 0);
            break;
        }
        case W_READDIR: {
            int fd = openat(dir_fd, "big", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            while (syscall(SYS_getdents64, fd, buf, sizeof(buf)) > 0)
                ;
            close(fd);
            break;
        }
        default:
            break;
        }
    }
}

/* ---- one VFS step of a workload; returns true when the iteration is complete ---- */
struct job {
    struct cfs_vfs_op op;
    enum wl w;
    long i;        /* iteration */
    int phase;     /* create+unlink: 0 create, 1 unlink; readdir: pages */
    uint64_t cookie;
    char name[32];
};

static void job_prepare(struct job *j)
{
    switch (j->w) {
    case W_GETATTR:
        cfs_vfs_op_init(&j->op, CFS_VOP_GETATTR, &ROOT, E);
        j->op.fh = file_fh;
        break;
    case W_WRITE:
        cfs_vfs_op_init(&j->op, CFS_VOP_WRITE, &ROOT, E);
        j->op.fh = file_fh;
        j->op.wbuf = block;
        j->op.length = sizeof(block);
        j->op.offset = (uint64_t)(j->i % 16384) * 4096;
        break;
    case W_CREATE:
        cfs_vfs_op_init(&j->op, j->phase ? CFS_VOP_UNLINK : CFS_VOP_CREATE, &ROOT, E);
        j->op.fh = root_fh;
        snprintf(j->name, sizeof(j->name), "v%p-%ld", (void *)j, j->i);
        j->op.name = j->name;
        j->op.how = CFS_CREATE_GUARDED;
        break;
    case W_READDIR:
        cfs_vfs_op_init(&j->op, CFS_VOP_READDIR, &ROOT, E);
        j->op.fh = dir_fh;
        j->op.cookie = j->cookie;
        j->op.length = 2048;
        break;
    default:
        break;
    }
}

/* After op completed: advance; true = one iteration finished. */
static bool job_advance(struct job *j)
{
    if (j->op.status != 0) {
        fprintf(stderr, "vfs_bench: %s failed: %s\n", wl_name[j->w], strerror(-j->op.status));
        abort();
    }
    switch (j->w) {
    case W_CREATE:
        if (j->phase == 0) {
            j->phase = 1;
            return false;
        }
        j->phase = 0;
        return true;
    case W_READDIR: {
        bool eof = j->op.eof;
        if (j->op.nentries)
            j->cookie = j->op.entries[j->op.nentries - 1].cookie;
        V->op_release(&j->op);
        if (!eof)
            return false;
        j->cookie = 0;
        return true;
    }
    default:
        return true;
    }
}

static void vfs_sync(enum wl w, long n)
{
    struct job j = { .w = w };
    for (j.i = 0; j.i < n;) {
        job_prepare(&j);
        V->call(&j.op);
        if (job_advance(&j))
            j.i++;
    }
}

/* ---- async: each job resubmits itself from its completion on the loop ---- */
static pthread_mutex_t am = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ac = PTHREAD_COND_INITIALIZER;
static long a_next, a_total, a_done_iters;
static int a_active;
static cfs_loop *a_loop;

static void a_done(struct cfs_vfs_op *op, void *arg);

static void a_submit(struct job *j)
{
    job_prepare(j);
    if (V->submit(a_loop, &j->op, a_done, j) < 0)
        abort();
}

static void a_done(struct cfs_vfs_op *op, void *arg)
{
    struct job *j = arg;
    (void)op;
    if (!job_advance(j)) {
        a_submit(j);
        return;
    }
    /* only this loop thread touches a_next/a_done_iters */
    a_done_iters++;
    if (a_next < a_total) {
        j->i = a_next++;
        a_submit(j);
        return;
    }
    pthread_mutex_lock(&am);
    if (--a_active == 0)
        pthread_cond_signal(&ac);
    pthread_mutex_unlock(&am);
}

struct a_start {
    struct job *jobs;
    int depth;
};

static void a_kick(void *arg)
{
    struct a_start *s = arg;
    for (int k = 0; k < s->depth; k++) {
        s->jobs[k].i = a_next++;
        a_submit(&s->jobs[k]);
    }
}

static void vfs_async(enum wl w, long n, int depth)
{
    static struct job jobs[64];
    struct a_start s = { jobs, depth };
    memset(jobs, 0, sizeof(jobs));
    for (int k = 0; k < depth; k++)
        jobs[k].w = w;
    a_next = 0;
    a_total = n;
    a_done_iters = 0;
    a_active = depth;
    a_loop = cfs__loop_get(0);
    cfs__loop_post(a_loop, a_kick, &s);
    pthread_mutex_lock(&am);
    while (a_active > 0)
        pthread_cond_wait(&ac, &am);
    pthread_mutex_unlock(&am);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

enum mode { M_BARE, M_CALL, M_ASYNC1, M_ASYNC32, M__N };

static double run_once(enum wl w, enum mode m, long n)
{
    double t0 = now_s();
    switch (m) {
    case M_BARE: bare(w, n); break;
    case M_CALL: vfs_sync(w, n); break;
    case M_ASYNC1: vfs_async(w, n, 1); break;
    case M_ASYNC32: vfs_async(w, n, 32); break;
    default: break;
    }
    return (double)n / (now_s() - t0);
}

static int setup(const char *base, int workers)
{
    char p[400], name[32];
    snprintf(dir, sizeof(dir), "%s/vfsbench.XXXXXX", base);
    if (!mkdtemp(dir))
        return -errno;
    snprintf(expdir, sizeof(expdir), "%s/export", dir);
    snprintf(p, sizeof(p), "%s/state", dir);
    if (mkdir(expdir, 0755) < 0 || mkdir(p, 0700) < 0)
        return -errno;
    int r = cfs__vfs_init(p);
    if (r < 0 || (r = cfs__vfs_export_add("bench", expdir, 1, NULL)) < 0)
        return r;
    V = cfs__vfs_api();
    E = V->export_find("bench");
    V->export_root(E, &root_fh);
    dir_fd = open(expdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    snprintf(p, sizeof(p), "%s/file", expdir);
    file_fd = open(p, O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    snprintf(p, sizeof(p), "%s/big", expdir);
    if (dir_fd < 0 || file_fd < 0 || mkdir(p, 0755) < 0)
        return -errno;
    int bfd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (int i = 0; i < 10000; i++) {
        snprintf(name, sizeof(name), "entry-%05d", i);
        int fd = openat(bfd, name, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        if (fd < 0)
            return -errno;
        close(fd);
    }
    close(bfd);
    struct cfs_vfs_op op;
    cfs_vfs_op_init(&op, CFS_VOP_LOOKUP, &ROOT, E);
    op.fh = root_fh;
    op.name = "file";
    if ((r = V->call(&op)) < 0)
        return r;
    file_fh = op.out_fh;
    op.name = "big";
    if ((r = V->call(&op)) < 0)
        return r;
    dir_fh = op.out_fh;
    memset(block, 'b', sizeof(block));
    return cfs__loops_start(1, workers);
}

int main(int argc, char **argv)
{
    const char *base = "/tmp";
    long runs = 5, workers = 4;
    double scale = 1.0;
    for (int i = 1; i + 1 < argc; i += 2) {
        char *end = NULL;
        if (strcmp(argv[i], "--dir") == 0) {
            base = argv[i + 1];
        } else if (strcmp(argv[i], "--runs") == 0) {
            runs = strtol(argv[i + 1], &end, 10);
        } else if (strcmp(argv[i], "--scale") == 0) {
            scale = strtod(argv[i + 1], &end);
        } else if (strcmp(argv[i], "--workers") == 0) {
            workers = strtol(argv[i + 1], &end, 10);
        } else {
            fprintf(stderr, "usage: %s [--dir DIR] [--runs N] [--scale X] [--workers N]\n",
                    argv[0]);
            return 2;
        }
        if (end && *end) {
            fprintf(stderr, "vfs_bench: %s: expected a number, found '%s'\n", argv[i],
                    argv[i + 1]);
            return 2;
        }
    }
    if (runs < 1 || runs > 99 || scale <= 0 || scale > 100 || workers < 1 || workers > 256) {
        fprintf(stderr, "vfs_bench: expected --runs 1..99, --scale (0,100], --workers 1..256\n");
        return 2;
    }
    cfs__log_set_level(CFS_LOG_WARN);
    int r = setup(base, (int)workers);
    if (r < 0) {
        fprintf(stderr, "vfs_bench: setup in %s failed: %s\n", base, strerror(-r));
        return 1;
    }
    printf("# vfs_bench: median of %ld runs, ops/s (readdir10k: full listings/s), %ld pool "
           "threads\n", runs, workers);
    printf("%-14s %12s %12s %12s %12s %9s %9s %9s\n", "workload", "bare", "vfs-call",
           "async-d1", "async-d32", "x call", "x d1", "x d32");
    for (int w = 0; w < W__N; w++) {
        double med[M__N];
        long n = (long)((double)iters[w] * scale);
        if (n < 1)
            n = 1;
        for (int m = 0; m < M__N; m++) {
            double v[99];
            if (m == M_ASYNC1 && w != W_READDIR)
                n = n / 4 > 0 ? n / 4 : 1; /* depth 1 is latency bound: fewer iterations */
            for (long k = 0; k < runs; k++)
                v[k] = run_once((enum wl)w, (enum mode)m, n);
            if (m == M_ASYNC1 && w != W_READDIR)
                n *= 4;
            qsort(v, (size_t)runs, sizeof(double), cmp_d);
            med[m] = v[runs / 2];
        }
        printf("%-14s %12.0f %12.0f %12.0f %12.0f %8.2fx %8.2fx %8.2fx\n", wl_name[w],
               med[M_BARE], med[M_CALL], med[M_ASYNC1], med[M_ASYNC32], med[M_BARE] / med[M_CALL],
               med[M_BARE] / med[M_ASYNC1], med[M_BARE] / med[M_ASYNC32]);
        fflush(stdout);
    }
    printf("# x = bare ops/s divided by VFS ops/s (cost factor; 1.0 = no overhead)\n");
    struct cfs__vfs_stats st;
    cfs__vfs_stats(&st);
    printf("# attr cache: %llu hits, %llu misses; fd cache: %llu hits, %llu misses\n",
           (unsigned long long)st.attr_hits, (unsigned long long)st.attr_misses,
           (unsigned long long)st.fd_hits, (unsigned long long)st.fd_misses);
    cfs__loops_stop();
    close(file_fd);
    close(dir_fd);
    cfs__vfs_shutdown();
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
