/*
 * scripts/bench/nfs/tcpstream.c - the loopback limit of one TCP connection: a child
 * process preads FILE in 1 MiB pieces and writes them to one TCP connection over
 * 127.0.0.1, the parent reads them into a 1 MiB buffer. Prints the elapsed seconds of
 * the transfer. An NFSv3 READ workload over one connection cannot beat it.
 *
 *   tcpstream FILE
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1u << 20)

static void sender(const struct sockaddr_in *a, int fd, off_t size)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    char *buf = malloc(CHUNK);

    if (s < 0 || buf == NULL || connect(s, (const void *)a, sizeof(*a)) < 0)
        _exit(1);
    for (off_t off = 0; off < size;) {
        ssize_t n = pread(fd, buf, CHUNK, off);
        if (n <= 0)
            _exit(1);
        for (ssize_t w = 0; w < n;) {
            ssize_t k = write(s, buf + w, (size_t)(n - w));
            if (k <= 0)
                _exit(1);
            w += k;
        }
        off += n;
    }
    _exit(0);
}

int main(int argc, char **argv)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof(a);
    struct timespec t0, t1;
    struct stat st;
    long long total = 0;
    int ls, fd, c, status;
    char *buf;
    ssize_t n;
    pid_t pid;

    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE\n", argv[0]);
        return 2;
    }
    fd = open(argv[1], O_RDONLY);
    ls = socket(AF_INET, SOCK_STREAM, 0);
    buf = malloc(CHUNK);
    if (fd < 0 || fstat(fd, &st) < 0 || ls < 0 || buf == NULL ||
        bind(ls, (void *)&a, sizeof(a)) < 0 || getsockname(ls, (void *)&a, &alen) < 0 ||
        listen(ls, 1) < 0) {
        perror("tcpstream");
        return 1;
    }
    pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0)
        sender(&a, fd, st.st_size);
    c = accept(ls, NULL, NULL);
    if (c < 0)
        return 1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while ((n = read(c, buf, CHUNK)) > 0)
        total += n;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
        total != (long long)st.st_size) {
        fprintf(stderr, "tcpstream: transfer failed\n");
        return 1;
    }
    printf("%.3f\n", (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    return 0;
}
