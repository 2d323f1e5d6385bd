/*
 * core/log.c - the gateway's log: one line per call, "time level [tag] message", to
 * stderr or a file; the level is a process-wide atomic so a reload can change it.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core.h"

static atomic_int log_level = CFS_LOG_NOTICE;
static atomic_int log_fd = STDERR_FILENO;

static const char *const level_names[] = { "error", "warn", "notice", "info", "debug" };

bool cfs__log_enabled(int level)
{
    return level <= atomic_load_explicit(&log_level, memory_order_relaxed);
}

void cfs__log_set_level(int level)
{
    if (level < CFS_LOG_ERROR)
        level = CFS_LOG_ERROR;
    if (level > CFS_LOG_DEBUG)
        level = CFS_LOG_DEBUG;
    atomic_store(&log_level, level);
}

int cfs__log_level(void)
{
    return atomic_load(&log_level);
}

int cfs__log_parse_level(const char *s)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
        if (s && strcasecmp(s, level_names[i]) == 0)
            return (int)i;
    if (s && strcasecmp(s, "warning") == 0)
        return CFS_LOG_WARN;
    return -1;
}

int cfs__log_set_file(const char *path)
{
    int fd = STDERR_FILENO;

    if (path && *path && strcmp(path, "stderr") != 0) {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (fd < 0)
            return -errno;
    }
    int old = atomic_exchange(&log_fd, fd);
    if (old != STDERR_FILENO)
        close(old);
    return 0;
}

void cfs__vlog(int level, const char *tag, const char *fmt, va_list ap)
{
    char line[2048];
    struct timeval tv;
    struct tm tm;
    size_t n;
    int r;

    if (!cfs__log_enabled(level))
        return;
    if (level < 0 || level > CFS_LOG_DEBUG)
        level = CFS_LOG_ERROR;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    r = snprintf(line + n, sizeof(line) - n, ".%03ldZ %-6s [%s] ", (long)(tv.tv_usec / 1000),
                 level_names[level], tag ? tag : "core");
    if (r > 0)
        n += (size_t)r < sizeof(line) - n ? (size_t)r : sizeof(line) - n - 1;
    r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    if (r > 0)
        n += (size_t)r < sizeof(line) - n ? (size_t)r : sizeof(line) - n - 1;
    /* One write per line, so lines from different threads never interleave. */
    for (size_t i = 0; i < n; i++)
        if (line[i] == '\n')
            line[i] = ' ';
    if (n >= sizeof(line) - 1)
        n = sizeof(line) - 2;
    line[n++] = '\n';
    ssize_t w = write(atomic_load(&log_fd), line, n);
    (void)w;
}

void cfs__log(int level, const char *tag, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    cfs__vlog(level, tag, fmt, ap);
    va_end(ap);
}
