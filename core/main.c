/*
 * core/main.c - the cfs-gateway command line: start (with the nfs/s3 shortcuts),
 * validate-config, metrics, modules, --version, --help; signal handling (SIGHUP reload,
 * SIGTERM/SIGINT drain and exit) on the main thread's event loop, which also serves the
 * admin HTTP port.
 */
#include <arpa/inet.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin.h"
#include "config.h"
#include "core.h"
#include "gateway.h"
#include "listen.h"
#include "loader.h"
#include "metrics.h"

#define TAG "main"
#define MAX_MODULE_DIRS 8
#define MAX_ONLY 16

struct cli {
    const char *config;
    const char *admin;
    const char *state_dir;
    const char *log_level;
    const char *module_dirs[MAX_MODULE_DIRS];
    int nmodule_dirs;
    char *only_buf;
    const char *only[MAX_ONLY + 1];
    int workers;
    bool daemonize;
    const char *pid_file;
    /* shortcuts */
    const char *shortcut; /* "nfs", "s3" or NULL */
    const char *export_dir;
    const char *bind;
    const char *mount_bind;
    bool no_root_squash;
    bool read_only;
    /* metrics */
    bool raw;
    bool modules_given; /* --modules seen ("" = no modules at all) */
    bool verbose;
};

static struct event_base *main_base;
static struct cli *main_cli;

static void usage(FILE *f)
{
    fputs("usage: cfs-gateway <command> [options]\n"
          "\n"
          "commands:\n"
          "  start [--config F] [--modules a,b]   run the gateway in the foreground\n"
          "  start nfs --export DIR [--bind ADDR] [--mount-bind ADDR]\n"
          "                                       serve DIR over NFSv3 (+MOUNT)\n"
          "  start s3 [--bind ADDR:PORT] [--data DIR]\n"
          "                                       serve DIR (buckets) over S3\n"
          "  validate-config [--config F]         check the configuration, exit 1 on errors\n"
          "  metrics [--admin ADDR] [--raw]       summary of a running gateway's /metrics\n"
          "  modules [--module-path DIR] [-v]     list the modules found on the module path\n"
          "  --version, --help\n"
          "\n"
          "options of start:\n"
          "  --config F          gateway.conf file or a conf.d directory (default: ./conf.d,\n"
          "                      then /etc/cfs-gateway)\n"
          "  --modules a,b       run exactly these modules (default: the enabled ones;\n"
          "                      \"\" = none)\n"
          "  --admin ADDR:PORT   admin HTTP address (default 127.0.0.1:8080; \"off\")\n"
          "  --module-path DIR   look for modules in DIR first (repeatable)\n"
          "  --state-dir DIR     persistent state (handles key, credentials)\n"
          "  --log-level L       error|warn|notice|info|debug\n"
          "  --workers N         worker loops (default: one per core)\n"
          "  --daemon            detach from the terminal (logs: log_file)\n"
          "  --pid-file F        write the process id to F\n"
          "  --no-root-squash, --read-only   export options of the shortcuts\n",
          f);
}

enum {
    OPT_CONFIG = 256, OPT_MODULES, OPT_ADMIN, OPT_MODULE_PATH, OPT_STATE_DIR, OPT_LOG_LEVEL,
    OPT_WORKERS, OPT_DAEMON, OPT_PID_FILE, OPT_EXPORT, OPT_BIND, OPT_MOUNT_BIND, OPT_DATA,
    OPT_NO_ROOT_SQUASH, OPT_READ_ONLY, OPT_RAW, OPT_HELP, OPT_NFS_PORT, OPT_MOUNT_PORT,
};

static const struct option long_opts[] = {
    { "config", required_argument, NULL, OPT_CONFIG },
    { "modules", required_argument, NULL, OPT_MODULES },
    { "admin", required_argument, NULL, OPT_ADMIN },
    { "module-path", required_argument, NULL, OPT_MODULE_PATH },
    { "state-dir", required_argument, NULL, OPT_STATE_DIR },
    { "log-level", required_argument, NULL, OPT_LOG_LEVEL },
    { "workers", required_argument, NULL, OPT_WORKERS },
    { "daemon", no_argument, NULL, OPT_DAEMON },
    { "pid-file", required_argument, NULL, OPT_PID_FILE },
    { "export", required_argument, NULL, OPT_EXPORT },
    { "data", required_argument, NULL, OPT_DATA },
    { "bind", required_argument, NULL, OPT_BIND },
    { "mount-bind", required_argument, NULL, OPT_MOUNT_BIND },
    { "nfs-port", required_argument, NULL, OPT_NFS_PORT },
    { "mount-port", required_argument, NULL, OPT_MOUNT_PORT },
    { "no-root-squash", no_argument, NULL, OPT_NO_ROOT_SQUASH },
    { "read-only", no_argument, NULL, OPT_READ_ONLY },
    { "raw", no_argument, NULL, OPT_RAW },
    { "help", no_argument, NULL, OPT_HELP },
    { NULL, 0, NULL, 0 },
};

static char port_buf[2][32];

static int parse_args(int argc, char **argv, struct cli *c)
{
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "v", long_opts, NULL)) != -1) {
        switch (opt) {
        case OPT_CONFIG: c->config = optarg; break;
        case OPT_MODULES: {
            int n = 0;
            c->modules_given = true;
            free(c->only_buf);
            c->only_buf = strdup(optarg);
            for (char *save = NULL, *t = strtok_r(c->only_buf, ",", &save); t && n < MAX_ONLY;
                 t = strtok_r(NULL, ",", &save))
                c->only[n++] = t;
            c->only[n] = NULL;
            break;
        }
        case OPT_ADMIN: c->admin = optarg; break;
        case OPT_MODULE_PATH:
            if (c->nmodule_dirs == MAX_MODULE_DIRS) {
                fprintf(stderr, "cfs-gateway: at most %d --module-path\n", MAX_MODULE_DIRS);
                return -1;
            }
            c->module_dirs[c->nmodule_dirs++] = optarg;
            break;
        case OPT_STATE_DIR: c->state_dir = optarg; break;
        case OPT_LOG_LEVEL:
            if (cfs__log_parse_level(optarg) < 0) {
                fprintf(stderr, "cfs-gateway: --log-level: expected error|warn|notice|info|debug, found '%s'\n", optarg);
                return -1;
            }
            c->log_level = optarg;
            break;
        case OPT_WORKERS: {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 0 || v > 256) {
                fprintf(stderr, "cfs-gateway: --workers: expected 0..256, found '%s'\n", optarg);
                return -1;
            }
            c->workers = (int)v;
            break;
        }
        case OPT_DAEMON: c->daemonize = true; break;
        case OPT_PID_FILE: c->pid_file = optarg; break;
        case OPT_EXPORT:
        case OPT_DATA: c->export_dir = optarg; break;
        case OPT_BIND: c->bind = optarg; break;
        case OPT_MOUNT_BIND: c->mount_bind = optarg; break;
        case OPT_NFS_PORT:
            snprintf(port_buf[0], sizeof(port_buf[0]), "127.0.0.1:%s", optarg);
            c->bind = port_buf[0];
            break;
        case OPT_MOUNT_PORT:
            snprintf(port_buf[1], sizeof(port_buf[1]), "127.0.0.1:%s", optarg);
            c->mount_bind = port_buf[1];
            break;
        case OPT_NO_ROOT_SQUASH: c->no_root_squash = true; break;
        case OPT_READ_ONLY: c->read_only = true; break;
        case OPT_RAW: c->raw = true; break;
        case 'v': c->verbose = true; break;
        case OPT_HELP: usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    return 0;
}

/* Append a libconfig string literal (escaped) to buf. */
static void conf_str(char *buf, size_t len, const char *s)
{
    size_t n = strlen(buf);

    if (n + 2 >= len)
        return;
    buf[n++] = '"';
    for (; *s && n + 3 < len; s++) {
        if (*s == '"' || *s == '\\')
            buf[n++] = '\\';
        buf[n++] = *s;
    }
    buf[n++] = '"';
    buf[n] = '\0';
}

static void cat(char *buf, size_t len, const char *s)
{
    size_t n = strlen(buf);
    snprintf(buf + n, len - n, "%s", s);
}

/* The in-memory configuration of `start nfs` / `start s3`. */
static char *shortcut_text(const struct cli *c)
{
    size_t len = 8192;
    char *t = calloc(1, len);
    char abs[PATH_MAX];
    const char *dir = c->export_dir;

    if (!t)
        return NULL;
    if (!dir)
        dir = strcmp(c->shortcut, "s3") == 0 ? "./var/s3" : NULL;
    if (!dir) {
        free(t);
        fprintf(stderr, "cfs-gateway: start nfs needs --export DIR\n");
        return NULL;
    }
    if (realpath(dir, abs) == NULL) {
        if (mkdir(dir, 0755) != 0 || realpath(dir, abs) == NULL) {
            fprintf(stderr, "cfs-gateway: %s: %s\n", dir, strerror(errno));
            free(t);
            return NULL;
        }
    }
    cat(t, len, "exports = ( { name = ");
    conf_str(t, len, strcmp(c->shortcut, "s3") == 0 ? "s3" : "export");
    cat(t, len, "; path = ");
    conf_str(t, len, abs);
    /* NFS keeps the seed's root_squash default; the S3 root user owns its data, as
     * MinIO's does, so `start s3` does not squash it. */
    cat(t, len, c->no_root_squash || strcmp(c->shortcut, "s3") == 0 ? "; root_squash = false"
                                                                    : "; root_squash = true");
    cat(t, len, c->read_only ? "; read_only = true; } );\n" : "; read_only = false; } );\n");
    if (strcmp(c->shortcut, "nfs") == 0) {
        cat(t, len, "nfs3 = { enabled = true;");
        if (c->bind) {
            cat(t, len, " bind = ");
            conf_str(t, len, c->bind);
            cat(t, len, ";");
        }
        if (c->mount_bind) {
            cat(t, len, " mount_bind = ");
            conf_str(t, len, c->mount_bind);
            cat(t, len, ";");
        }
        cat(t, len, " };\n");
    } else {
        cat(t, len, "s3 = { enabled = true; export = \"s3\";");
        if (c->bind) {
            cat(t, len, " bind = ");
            conf_str(t, len, c->bind);
            cat(t, len, ";");
        }
        cat(t, len, " };\n");
    }
    return t;
}

static const char *default_config(void)
{
    if (access("conf.d/gateway.conf", R_OK) == 0)
        return "conf.d";
    if (access("/etc/cfs-gateway/gateway.conf", R_OK) == 0)
        return "/etc/cfs-gateway";
    return NULL;
}

/* Load the configuration the command line describes; overrides from flags applied. */
static int load_config(const struct cli *c, struct cfs__config **out)
{
    char *extra = NULL;
    const char *path = c->config;
    int errors;

    if (c->shortcut) {
        extra = shortcut_text(c);
        if (!extra)
            return 1;
    } else if (!path) {
        path = default_config();
        if (!path) {
            CFS_LOG_E(TAG, "no configuration: give --config F (no ./conf.d/gateway.conf or "
                      "/etc/cfs-gateway/gateway.conf)");
            return 1;
        }
    }
    errors = cfs__config_load(path, extra, out);
    free(extra);
    if (errors)
        return errors;
    struct cfs__core_conf *k = &(*out)->core;
    if (c->admin) {
        free(k->admin);
        k->admin = strdup(c->admin);
    }
    if (c->state_dir) {
        free(k->state_dir);
        k->state_dir = strdup(c->state_dir);
    } else if (c->shortcut && !c->config) {
        free(k->state_dir);
        k->state_dir = strdup(geteuid() == 0 ? "/var/lib/cfs-gateway" : "./var/state");
    }
    if (c->log_level) {
        free(k->log_level);
        k->log_level = strdup(c->log_level);
    }
    if (c->workers)
        k->workers = c->workers;
    return 0;
}

static int setup_loader(const struct cli *c)
{
    int rc = cfs__loader_init();

    if (rc == 0)
        rc = cfs__loader_set_path(c->module_dirs, c->nmodule_dirs);
    if (rc != 0)
        fprintf(stderr, "cfs-gateway: module loader: %s\n", strerror(-rc));
    return rc;
}

/* ---- start ---- */

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    if (sig == SIGHUP) {
        struct cfs__config *conf = NULL;
        CFS_LOG_N(TAG, "SIGHUP: reloading the configuration");
        if (load_config(main_cli, &conf) != 0)
            conf = NULL;
        cfs__gateway_reload(conf);
        return;
    }
    CFS_LOG_N(TAG, "%s: draining and stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    event_base_loopbreak(main_base);
}

static char *admin_health(void *arg)
{
    (void)arg;
    return cfs__gateway_health_json();
}

static int admin_ready(void *arg, char **json)
{
    (void)arg;
    return cfs__gateway_ready(json) ? 1 : 0;
}

static int write_pid(const char *path)
{
    char buf[32];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int n;

    if (fd < 0)
        return -errno;
    n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
    if (write(fd, buf, (size_t)n) != n) {
        close(fd);
        return -EIO;
    }
    close(fd);
    return 0;
}

static int cmd_start(struct cli *c)
{
    struct cfs__config *conf = NULL;
    struct cfs__gateway_opts opts = { .only_modules = c->modules_given ? c->only : NULL };
    struct event *sigs[3] = { NULL };
    const int signums[3] = { SIGHUP, SIGTERM, SIGINT };
    int rc = 1;

    main_cli = c;
    if (c->log_level)
        cfs__log_set_level(cfs__log_parse_level(c->log_level));
    if (setup_loader(c) != 0)
        return 1;
    if (load_config(c, &conf) != 0) {
        CFS_LOG_E(TAG, "the configuration has errors; not starting");
        return 1;
    }
    if (c->daemonize && daemon(1, 0) != 0) {
        CFS_LOG_E(TAG, "daemon: %s", strerror(errno));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    main_base = event_base_new();
    if (!main_base)
        return 1;
    cfs__listen_init(main_base);
    if (cfs__loops_start((int)conf->core.workers, (int)conf->core.pool_threads) != 0) {
        CFS_LOG_E(TAG, "cannot start the worker loops");
        return 1;
    }
    if (strcmp(conf->core.admin, "off") != 0 && conf->core.admin[0]) {
        struct cfs__admin_hooks hooks = { .health_json = admin_health, .ready = admin_ready };
        char err[256];
        if (cfs__admin_start(main_base, conf->core.admin, &hooks, err, sizeof(err)) != 0) {
            CFS_LOG_E(TAG, "admin %s: %s", conf->core.admin, err);
            goto out;
        }
    }
    if (cfs__gateway_start(conf, &opts) != 0) {
        CFS_LOG_E(TAG, "start failed");
        conf = NULL; /* freed by the gateway */
        goto out;
    }
    conf = NULL;
    if (c->pid_file && write_pid(c->pid_file) != 0)
        CFS_LOG_W(TAG, "pid file %s: %s", c->pid_file, strerror(errno));
    for (int i = 0; i < 3; i++) {
        sigs[i] = evsignal_new(main_base, signums[i], on_signal, NULL);
        if (sigs[i])
            event_add(sigs[i], NULL);
    }
    CFS_LOG_N(TAG, "cfs-gateway %s ready (pid %ld)", CFS_VERSION, (long)getpid());
    event_base_dispatch(main_base);
    rc = 0;
    cfs__gateway_stop();
out:
    cfs__admin_stop();
    cfs__listen_close_all();
    cfs__loops_stop();
    cfs__gateway_fini();
    for (int i = 0; i < 3; i++)
        if (sigs[i])
            event_free(sigs[i]);
    cfs__config_free(conf);
    event_base_free(main_base);
    cfs__loader_fini();
    if (c->pid_file)
        unlink(c->pid_file);
    CFS_LOG_N(TAG, "stopped");
    return rc;
}

static int cmd_validate(struct cli *c)
{
    struct cfs__config *conf = NULL;
    struct cfs__gateway_opts opts = { .only_modules = c->modules_given ? c->only : NULL,
                                      .validate_only = true };
    int errors;

    if (setup_loader(c) != 0)
        return 1;
    errors = load_config(c, &conf);
    if (errors == 0)
        errors = cfs__gateway_validate(conf, &opts);
    cfs__config_free(conf);
    cfs__loader_fini();
    if (errors) {
        fprintf(stderr, "cfs-gateway: configuration has %d error%s\n", errors, errors == 1 ? "" : "s");
        return 1;
    }
    printf("configuration OK\n");
    return 0;
}

/* ---- modules ---- */

static void print_module(const char *path, const struct cfs_module *d, const char *err, void *arg)
{
    bool verbose = *(bool *)arg;

    if (!d) {
        printf("%-12s %-10s %s\n    refused: %s\n", "-", "-", path, err);
        return;
    }
    printf("%-12s %-10s ABI %u.%u  %s\n", d->name, d->version ? d->version : "?",
           d->abi_major, d->abi_minor, path);
    if (verbose && d->description)
        printf("    %s\n", d->description);
    for (const struct cfs_directive *x = d->directives; verbose && x && x->name; x++)
        printf("    %-20s default %-16s %s\n", x->name, x->default_value ? x->default_value : "-",
               x->help ? x->help : "");
}

static int cmd_modules(struct cli *c)
{
    char path[4096];
    int n;

    if (setup_loader(c) != 0)
        return 1;
    cfs__loader_path_str(path, sizeof(path));
    printf("host ABI %d.%d, module path %s\n", CFS_ABI_MAJOR, CFS_ABI_MINOR, path);
    n = cfs__module_scan(print_module, &c->verbose);
    cfs__loader_fini();
    if (n < 0) {
        fprintf(stderr, "cfs-gateway: scan: %s\n", strerror(-n));
        return 1;
    }
    if (n == 0)
        printf("(no modules found)\n");
    return 0;
}

/* ---- metrics ---- */

static int http_get(const char *addr, const char *path, char **body)
{
    char host[256], port[16], req[512];
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
    size_t cap = 65536, len = 0;
    char *buf;
    int fd, rc;

    if (cfs__parse_hostport(addr, host, sizeof(host), port, sizeof(port)) != 0)
        return -EINVAL;
    if (getaddrinfo(*host ? host : "127.0.0.1", port, &hints, &res) != 0)
        return -EHOSTUNREACH;
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        rc = -errno;
        freeaddrinfo(res);
        if (fd >= 0)
            close(fd);
        return rc;
    }
    freeaddrinfo(res);
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, addr);
    if (write(fd, req, strlen(req)) < 0) {
        close(fd);
        return -errno;
    }
    buf = malloc(cap);
    for (;;) {
        ssize_t r;
        if (!buf) {
            close(fd);
            return -ENOMEM;
        }
        if (len + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                close(fd);
                return -ENOMEM;
            }
            buf = nb;
            cap *= 2;
        }
        r = read(fd, buf + len, cap - len - 1);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    if (strncmp(buf, "HTTP/1.1 200", 12) != 0) {
        free(buf);
        return -EPROTO;
    }
    char *b = strstr(buf, "\r\n\r\n");
    *body = strdup(b ? b + 4 : "");
    free(buf);
    return 0;
}

static int cmd_metrics(struct cli *c)
{
    const char *addr = c->admin ? c->admin : "127.0.0.1:8080";
    char *body = NULL, *save = NULL;
    int rc = http_get(addr, "/metrics", &body);

    if (rc != 0) {
        fprintf(stderr, "cfs-gateway: cannot read http://%s/metrics: %s\n", addr, strerror(-rc));
        return 1;
    }
    if (c->raw) {
        fputs(body, stdout);
        free(body);
        return 0;
    }
    /* A readable summary: counters and gauges as name{labels} value; histograms as
     * count and mean. */
    for (char *line = strtok_r(body, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *sp;
        if (line[0] == '#') {
            if (strncmp(line, "# HELP ", 7) == 0)
                printf("\n%s\n", line + 7);
            continue;
        }
        sp = strrchr(line, ' ');
        if (!sp)
            continue;
        *sp = '\0';
        if (strstr(line, "_bucket{") || strstr(line, "_bucket "))
            continue;
        printf("  %-70s %s\n", line, sp + 1);
    }
    free(body);
    return 0;
}

/*
 * The I/O paths allocate and free buffers of up to a few MiB at a high rate (an NFS
 * WRITE record, a READ reply, an S3 body chunk). glibc would hand each one out as a
 * fresh mmap and trim the heap back after it, so every MiB moved cost ~60 page faults
 * on the next touch; keep such buffers on the heap and keep the heap's free memory.
 */
static void malloc_tune(void)
{
    (void)mallopt(M_MMAP_THRESHOLD, 8 << 20);
    (void)mallopt(M_TRIM_THRESHOLD, 128 << 20);
}

int main(int argc, char **argv)
{
    static struct cli c;
    const char *cmd;

    malloc_tune();
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("cfs-gateway %s (module ABI %d.%d)\n", CFS_VERSION, CFS_ABI_MAJOR, CFS_ABI_MINOR);
        return 0;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    argc--;
    argv++;
    if (strcmp(cmd, "start") == 0 && argc > 1 &&
        (strcmp(argv[1], "nfs") == 0 || strcmp(argv[1], "s3") == 0)) {
        c.shortcut = argv[1];
        argc--;
        argv++;
    }
    if (parse_args(argc, argv, &c) != 0)
        return 2;
    if (optind < argc) {
        fprintf(stderr, "cfs-gateway: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (strcmp(cmd, "start") == 0)
        return cmd_start(&c);
    if (strcmp(cmd, "validate-config") == 0)
        return cmd_validate(&c);
    if (strcmp(cmd, "metrics") == 0)
        return cmd_metrics(&c);
    if (strcmp(cmd, "modules") == 0)
        return cmd_modules(&c);
    fprintf(stderr, "cfs-gateway: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
