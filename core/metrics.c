/*
 * core/metrics.c - the metrics registry and the Prometheus text (0.0.4) encoder.
 *
 * Layout: a global array of families kept sorted by name (registry mutex); each family
 * has a small chained hash of its series (family rwlock: lookups share it, inserts take
 * it exclusively). Values are atomics: a counter or gauge is the bit pattern of a
 * double in an _Atomic uint64_t updated with a CAS loop; a histogram keeps one
 * non-cumulative count per bucket (+Inf last), an atomic count and an atomic sum, and
 * the scrape accumulates the buckets and derives _count from them so that
 * _count == the +Inf bucket even while observations race with the scrape.
 *
 * Series are never freed before cfs__metrics_reset(), so a cached cfs_series pointer
 * stays valid for the life of the process.
 */
#include "metrics.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core.h"

#define METRIC_MAGIC 0x4d455446u /* "METF" */
#define SERIES_MAGIC 0x4d455453u /* "METS" */
#define SERIES_HASH 128
#define NAME_MAX_LEN 200
#define HELP_MAX_LEN 1024
#define LABEL_VALUE_MAX 256
#define TAG "metrics"

const double cfs__metrics_default_buckets[] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,     10,
};
const size_t cfs__metrics_default_nbuckets =
    sizeof(cfs__metrics_default_buckets) / sizeof(cfs__metrics_default_buckets[0]);

struct cfs_series {
    uint32_t magic;
    cfs_metric *family;
    struct cfs_series *next;       /* hash chain */
    uint64_t hash;
    char *values[CFS_METRIC_MAX_LABELS]; /* point into `vbuf` */
    char *vbuf;
    _Atomic uint64_t value;        /* counter/gauge: bits of a double */
    _Atomic uint64_t hsum;         /* histogram: bits of a double */
    _Atomic uint64_t counts[];     /* histogram: nbuckets + 1 (the last is +Inf) */
};

struct cfs_metric {
    uint32_t magic;
    enum cfs_metric_type type;
    char *name;
    char *help;
    size_t nlabels;
    char *labels[CFS_METRIC_MAX_LABELS];
    size_t nbuckets;
    double *buckets;
    pthread_rwlock_t lock;         /* the series hash */
    struct cfs_series *tab[SERIES_HASH];
    size_t nseries;
    struct cfs_series *overflow;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static cfs_metric **g_fams;        /* sorted by name */
static size_t g_nfams, g_capfams;

/* ---- small helpers ------------------------------------------------------------- */

static double bits_to_d(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof(d));
    return d;
}

static uint64_t d_to_bits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof(b));
    return b;
}

static void atomic_add_double(_Atomic uint64_t *a, double v)
{
    uint64_t old = atomic_load_explicit(a, memory_order_relaxed);
    uint64_t nw;
    do {
        nw = d_to_bits(bits_to_d(old) + v);
    } while (!atomic_compare_exchange_weak_explicit(a, &old, nw, memory_order_relaxed,
                                                    memory_order_relaxed));
}

static bool valid_metric_name(const char *s)
{
    size_t n = 0;
    if (s == NULL || *s == '\0')
        return false;
    for (const char *p = s; *p; p++, n++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                  (p != s && c >= '0' && c <= '9');
        if (!ok || n >= NAME_MAX_LEN)
            return false;
    }
    return true;
}

static bool valid_label_name(const char *s)
{
    size_t n = 0;
    if (s == NULL || *s == '\0' || (s[0] == '_' && s[1] == '_'))
        return false;
    for (const char *p = s; *p; p++, n++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (p != s && c >= '0' && c <= '9');
        if (!ok || n >= NAME_MAX_LEN)
            return false;
    }
    return true;
}

/* Length of a valid UTF-8 sequence at p (at most `n` bytes), 0 if invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    size_t need;
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        need = 2;
    else if (c >= 0xe0 && c <= 0xef)
        need = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        need = 4;
    else
        return 0;
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f) ||
        (c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f))
        return 0; /* overlong, surrogate or beyond U+10FFFF */
    return need;
}

/* Copy `s` (at most `max` bytes) to `out` (max + 1 bytes) replacing invalid UTF-8 and
 * control characters other than newline and tab by '?'. Returns the length. */
static size_t sanitize_to(const char *s, size_t max, char *out)
{
    size_t n = strnlen(s, max), i = 0;
    while (i < n) {
        const unsigned char *p = (const unsigned char *)s + i;
        size_t k = utf8_seq(p, n - i);
        if (k == 0 || (k == 1 && ((*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f))) {
            out[i++] = '?';
            continue;
        }
        memcpy(out + i, p, k);
        i += k;
    }
    out[n] = '\0';
    return n;
}

static char *dup_sanitized(const char *s, size_t max)
{
    char *out = malloc(strnlen(s, max) + 1);
    if (out != NULL)
        sanitize_to(s, max, out);
    return out;
}

/* ---- string builder ------------------------------------------------------------ */

struct sbuf {
    char *p;
    size_t len, cap;
    int err;
};

static void sb_reserve(struct sbuf *b, size_t more)
{
    size_t ncap;
    char *np;
    if (b->err || b->len + more + 1 <= b->cap)
        return;
    ncap = b->cap ? b->cap : 4096;
    while (ncap < b->len + more + 1)
        ncap *= 2;
    np = realloc(b->p, ncap);
    if (np == NULL) {
        b->err = -ENOMEM;
        return;
    }
    b->p = np;
    b->cap = ncap;
}

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
    sb_reserve(b, n);
    if (b->err)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->err = -EINVAL;
        return;
    }
    assert((size_t)n < sizeof(tmp)); /* only used for numbers */
    sb_put(b, tmp, (size_t)n);
}

/* Shortest "%g" form that reads back to the same double; Prometheus spellings of the
 * special values. */
static void fmt_double(char *buf, size_t len, double v)
{
    if (isnan(v)) {
        snprintf(buf, len, "NaN");
    } else if (isinf(v)) {
        snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
    } else {
        snprintf(buf, len, "%.15g", v);
        if (strtod(buf, NULL) != v)
            snprintf(buf, len, "%.17g", v);
    }
}

static void sb_double(struct sbuf *b, double v)
{
    char tmp[40];
    fmt_double(tmp, sizeof(tmp), v);
    sb_str(b, tmp);
}

/* HELP text: escape backslash and newline; label values also escape '"'. */
static void sb_escaped(struct sbuf *b, const char *s, bool quote)
{
    const char *run = s;
    for (const char *p = s;; p++) {
        const char *rep = NULL;
        if (*p == '\\')
            rep = "\\\\";
        else if (*p == '\n')
            rep = "\\n";
        else if (quote && *p == '"')
            rep = "\\\"";
        if (rep != NULL || *p == '\0') {
            sb_put(b, run, (size_t)(p - run));
            if (*p == '\0')
                break;
            sb_str(b, rep);
            run = p + 1;
        }
    }
}

/* ---- registration -------------------------------------------------------------- */

static void family_free(cfs_metric *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < SERIES_HASH; i++) {
        struct cfs_series *s = m->tab[i];
        while (s != NULL) {
            struct cfs_series *n = s->next;
            free(s->vbuf);
            free(s);
            s = n;
        }
    }
    if (m->overflow != NULL) {
        free(m->overflow->vbuf);
        free(m->overflow);
    }
    for (size_t i = 0; i < m->nlabels; i++)
        free(m->labels[i]);
    pthread_rwlock_destroy(&m->lock);
    free(m->buckets);
    free(m->help);
    free(m->name);
    free(m);
}

static const char *type_name(enum cfs_metric_type t)
{
    switch (t) {
    case CFS_METRIC_COUNTER:
        return "counter";
    case CFS_METRIC_GAUGE:
        return "gauge";
    case CFS_METRIC_HISTOGRAM:
        return "histogram";
    }
    return "untyped";
}

/* Does family name `a` collide with the histogram samples of `h` (h_bucket etc.)? */
static bool hist_suffix_clash(const char *a, const cfs_metric *h)
{
    static const char *const suf[] = {"_bucket", "_sum", "_count"};
    size_t hl = strlen(h->name);
    if (h->type != CFS_METRIC_HISTOGRAM || strncmp(a, h->name, hl) != 0)
        return false;
    for (size_t i = 0; i < 3; i++)
        if (strcmp(a + hl, suf[i]) == 0)
            return true;
    return false;
}

/* Check a description; fill the effective bucket list. NULL or a reason. */
static const char *desc_check(const struct cfs_metric_desc *d, const double **buckets,
                              size_t *nbuckets, size_t *nlabels)
{
    size_t nl = 0;
    if (d->size < offsetof(struct cfs_metric_desc, nbuckets) + sizeof(d->nbuckets))
        return "descriptor size too small";
    if (d->type != CFS_METRIC_COUNTER && d->type != CFS_METRIC_GAUGE &&
        d->type != CFS_METRIC_HISTOGRAM)
        return "unknown metric type";
    if (!valid_metric_name(d->name))
        return "invalid metric name (expected [a-zA-Z_:][a-zA-Z0-9_:]*)";
    if (strncmp(d->name, "process_", 8) == 0)
        return "the process_ prefix is reserved for the core's process metrics";
    if (d->labels != NULL) {
        for (; d->labels[nl] != NULL; nl++) {
            if (nl >= CFS_METRIC_MAX_LABELS)
                return "too many labels";
            if (!valid_label_name(d->labels[nl]))
                return "invalid label name (expected [a-zA-Z_][a-zA-Z0-9_]*, not __*)";
            if (d->type == CFS_METRIC_HISTOGRAM && strcmp(d->labels[nl], "le") == 0)
                return "label \"le\" is reserved in a histogram";
            for (size_t j = 0; j < nl; j++)
                if (strcmp(d->labels[j], d->labels[nl]) == 0)
                    return "duplicate label name";
        }
    }
    *nlabels = nl;
    *buckets = NULL;
    *nbuckets = 0;
    if (d->type != CFS_METRIC_HISTOGRAM)
        return NULL;
    if (d->buckets == NULL || d->nbuckets == 0) {
        *buckets = cfs__metrics_default_buckets;
        *nbuckets = cfs__metrics_default_nbuckets;
        return NULL;
    }
    size_t n = d->nbuckets;
    if (isinf(d->buckets[n - 1]) && d->buckets[n - 1] > 0)
        n--; /* +Inf is implicit */
    if (n > CFS__METRICS_MAX_BUCKETS)
        return "too many histogram buckets";
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(d->buckets[i]))
            return "histogram bucket bound is not finite";
        if (i > 0 && !(d->buckets[i] > d->buckets[i - 1]))
            return "histogram buckets are not strictly ascending";
    }
    *buckets = d->buckets;
    *nbuckets = n;
    return NULL;
}

static bool same_shape(const cfs_metric *m, const struct cfs_metric_desc *d,
                       const double *buckets, size_t nbuckets, size_t nlabels)
{
    if (m->type != d->type || m->nlabels != nlabels || m->nbuckets != nbuckets)
        return false;
    for (size_t i = 0; i < nlabels; i++)
        if (strcmp(m->labels[i], d->labels[i]) != 0)
            return false;
    for (size_t i = 0; i < nbuckets; i++)
        if (m->buckets[i] != buckets[i])
            return false;
    return true;
}

cfs_metric *cfs__metric_register(const struct cfs_metric_desc *desc)
{
    const double *buckets;
    size_t nbuckets, nlabels, pos;
    const char *why;
    cfs_metric *m = NULL, *ret = NULL;

    if (desc == NULL)
        return NULL;
    why = desc_check(desc, &buckets, &nbuckets, &nlabels);
    if (why != NULL) {
        CFS_LOG_E(TAG, "metric %s: %s", desc->name ? desc->name : "(null)", why);
        return NULL;
    }

    pthread_mutex_lock(&g_lock);
    /* binary search for the insertion point */
    size_t lo = 0, hi = g_nfams;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(g_fams[mid]->name, desc->name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    pos = lo;
    if (pos < g_nfams && strcmp(g_fams[pos]->name, desc->name) == 0) {
        cfs_metric *old = g_fams[pos];
        if (same_shape(old, desc, buckets, nbuckets, nlabels))
            ret = old;
        else
            CFS_LOG_E(TAG, "metric %s: already registered as a %s with other labels or "
                      "buckets", desc->name, type_name(old->type));
        goto out;
    }
    for (size_t i = 0; i < g_nfams; i++) {
        cfs_metric tmp = {.name = (char *)desc->name, .type = desc->type};
        if (hist_suffix_clash(desc->name, g_fams[i]) || hist_suffix_clash(g_fams[i]->name, &tmp)) {
            CFS_LOG_E(TAG, "metric %s: clashes with the samples of histogram %s", desc->name,
                      g_fams[i]->type == CFS_METRIC_HISTOGRAM ? g_fams[i]->name : desc->name);
            goto out;
        }
    }
    if (g_nfams == g_capfams) {
        size_t ncap = g_capfams ? g_capfams * 2 : 32;
        cfs_metric **nf = realloc(g_fams, ncap * sizeof(*nf));
        if (nf == NULL)
            goto out;
        g_fams = nf;
        g_capfams = ncap;
    }
    m = calloc(1, sizeof(*m));
    if (m == NULL)
        goto out;
    m->magic = METRIC_MAGIC;
    m->type = desc->type;
    if (pthread_rwlock_init(&m->lock, NULL) != 0) {
        free(m);
        m = NULL;
        goto out;
    }
    m->name = strdup(desc->name);
    m->help = dup_sanitized(desc->help ? desc->help : "", HELP_MAX_LEN);
    if (m->name == NULL || m->help == NULL)
        goto out;
    for (; m->nlabels < nlabels; m->nlabels++) {
        m->labels[m->nlabels] = strdup(desc->labels[m->nlabels]);
        if (m->labels[m->nlabels] == NULL)
            goto out;
    }
    if (nbuckets > 0) {
        m->buckets = malloc(nbuckets * sizeof(double));
        if (m->buckets == NULL)
            goto out;
        memcpy(m->buckets, buckets, nbuckets * sizeof(double));
        m->nbuckets = nbuckets;
    }
    memmove(g_fams + pos + 1, g_fams + pos, (g_nfams - pos) * sizeof(*g_fams));
    g_fams[pos] = m;
    g_nfams++;
    ret = m;
    m = NULL;
out:
    pthread_mutex_unlock(&g_lock);
    family_free(m);
    /* a family without labels has exactly one series: expose it (at 0) from the start */
    if (ret != NULL && ret->nlabels == 0)
        (void)cfs__metric_series(ret, NULL);
    return ret;
}

/* ---- series -------------------------------------------------------------------- */

static uint64_t values_hash(const cfs_metric *m, const char *const *v)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < m->nlabels; i++) {
        for (const char *p = v[i] ? v[i] : ""; *p; p++) {
            h ^= (unsigned char)*p;
            h *= 1099511628211ull;
        }
        h ^= 0xff;
        h *= 1099511628211ull;
    }
    return h;
}

static bool values_equal(const cfs_metric *m, const struct cfs_series *s, const char *const *v)
{
    for (size_t i = 0; i < m->nlabels; i++)
        if (strcmp(s->values[i], v[i] ? v[i] : "") != 0)
            return false;
    return true;
}

static struct cfs_series *series_find(cfs_metric *m, uint64_t h, const char *const *v)
{
    for (struct cfs_series *s = m->tab[h % SERIES_HASH]; s != NULL; s = s->next)
        if (s->hash == h && values_equal(m, s, v))
            return s;
    return NULL;
}

static struct cfs_series *series_new(cfs_metric *m, uint64_t h, const char *const *v)
{
    size_t ncounts = m->type == CFS_METRIC_HISTOGRAM ? m->nbuckets + 1 : 0;
    struct cfs_series *s = calloc(1, sizeof(*s) + ncounts * sizeof(s->counts[0]));
    char *vals[CFS_METRIC_MAX_LABELS] = {0};
    size_t total = 0, off = 0;
    bool ok = true;

    if (s == NULL)
        return NULL;
    s->magic = SERIES_MAGIC;
    s->family = m;
    s->hash = h;
    for (size_t i = 0; i < m->nlabels; i++) {
        vals[i] = strdup(v[i]); /* already sanitized */
        if (vals[i] == NULL)
            ok = false;
        else
            total += strlen(vals[i]) + 1;
    }
    if (ok && (s->vbuf = malloc(total + 1)) == NULL)
        ok = false;
    for (size_t i = 0; i < m->nlabels; i++) {
        if (ok) {
            size_t l = strlen(vals[i]) + 1;
            memcpy(s->vbuf + off, vals[i], l);
            s->values[i] = s->vbuf + off;
            off += l;
        }
        free(vals[i]);
    }
    if (!ok) {
        free(s->vbuf);
        free(s);
        return NULL;
    }
    return s;
}

cfs_series *cfs__metric_series(cfs_metric *m, const char *const *label_values)
{
    char tmp[CFS_METRIC_MAX_LABELS][LABEL_VALUE_MAX + 1];
    const char *v[CFS_METRIC_MAX_LABELS] = {0};
    struct cfs_series *s;
    uint64_t h;

    if (m == NULL)
        return NULL;
    assert(m->magic == METRIC_MAGIC);
    /* the key is the value as it will be exposed, so that two raw values that render
     * alike share one series (a scrape must never hold the same series twice) */
    for (size_t i = 0; i < m->nlabels; i++) {
        const char *raw = label_values && label_values[i] ? label_values[i] : "";
        sanitize_to(raw, LABEL_VALUE_MAX, tmp[i]);
        v[i] = tmp[i];
    }
    h = values_hash(m, v);
    pthread_rwlock_rdlock(&m->lock);
    s = series_find(m, h, v);
    pthread_rwlock_unlock(&m->lock);
    if (s != NULL)
        return s;

    pthread_rwlock_wrlock(&m->lock);
    s = series_find(m, h, v);
    if (s != NULL)
        goto out;
    if (m->nseries >= CFS__METRICS_MAX_SERIES) {
        if (m->overflow == NULL) {
            const char *ov[CFS_METRIC_MAX_LABELS];
            for (size_t i = 0; i < CFS_METRIC_MAX_LABELS; i++)
                ov[i] = CFS__METRICS_OVERFLOW_VALUE;
            m->overflow = series_new(m, 0, ov);
            if (m->overflow != NULL)
                CFS_LOG_W(TAG, "metric %s: more than %d series; further label values are "
                          "counted in the overflow series", m->name, CFS__METRICS_MAX_SERIES);
        }
        s = m->overflow;
        goto out;
    }
    s = series_new(m, h, v);
    if (s != NULL) {
        s->next = m->tab[h % SERIES_HASH];
        m->tab[h % SERIES_HASH] = s;
        m->nseries++;
    }
out:
    pthread_rwlock_unlock(&m->lock);
    return s;
}

/* ---- updates (hot path) -------------------------------------------------------- */

void cfs__counter_add(cfs_series *s, double v)
{
    if (s == NULL || !(v >= 0))
        return;
    assert(s->magic == SERIES_MAGIC && s->family->type == CFS_METRIC_COUNTER);
    atomic_add_double(&s->value, v);
}

void cfs__gauge_set(cfs_series *s, double v)
{
    if (s == NULL)
        return;
    assert(s->magic == SERIES_MAGIC && s->family->type == CFS_METRIC_GAUGE);
    atomic_store_explicit(&s->value, d_to_bits(v), memory_order_relaxed);
}

void cfs__gauge_add(cfs_series *s, double v)
{
    if (s == NULL)
        return;
    assert(s->magic == SERIES_MAGIC && s->family->type == CFS_METRIC_GAUGE);
    atomic_add_double(&s->value, v);
}

void cfs__histogram_observe(cfs_series *s, double v)
{
    const cfs_metric *m;
    size_t lo, hi;

    if (s == NULL || isnan(v))
        return;
    m = s->family;
    assert(s->magic == SERIES_MAGIC && m->type == CFS_METRIC_HISTOGRAM);
    /* first bucket whose bound is >= v; nbuckets (the +Inf bucket) if none */
    lo = 0;
    hi = m->nbuckets;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->buckets[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    atomic_fetch_add_explicit(&s->counts[lo], 1, memory_order_relaxed);
    atomic_add_double(&s->hsum, v);
}

/* ---- rendering ----------------------------------------------------------------- */

static int series_cmp(const void *a, const void *b)
{
    const struct cfs_series *x = *(const struct cfs_series *const *)a;
    const struct cfs_series *y = *(const struct cfs_series *const *)b;
    for (size_t i = 0; i < x->family->nlabels; i++) {
        int c = strcmp(x->values[i], y->values[i]);
        if (c != 0)
            return c;
    }
    return 0;
}

/* {a="x",b="y"[,le="0.1"]} or nothing */
static void render_labels(struct sbuf *b, const struct cfs_series *s, const char *le)
{
    const cfs_metric *m = s->family;
    if (m->nlabels == 0 && le == NULL)
        return;
    sb_put(b, "{", 1);
    for (size_t i = 0; i < m->nlabels; i++) {
        if (i > 0)
            sb_put(b, ",", 1);
        sb_str(b, m->labels[i]);
        sb_put(b, "=\"", 2);
        sb_escaped(b, s->values[i], true);
        sb_put(b, "\"", 1);
    }
    if (le != NULL) {
        if (m->nlabels > 0)
            sb_put(b, ",", 1);
        sb_str(b, "le=\"");
        sb_str(b, le);
        sb_put(b, "\"", 1);
    }
    sb_put(b, "}", 1);
}

static void render_series(struct sbuf *b, const struct cfs_series *s)
{
    const cfs_metric *m = s->family;
    if (m->type != CFS_METRIC_HISTOGRAM) {
        sb_str(b, m->name);
        render_labels(b, s, NULL);
        sb_put(b, " ", 1);
        sb_double(b, bits_to_d(atomic_load_explicit(&s->value, memory_order_relaxed)));
        sb_put(b, "\n", 1);
        return;
    }
    uint64_t cum = 0;
    char le[40];
    for (size_t i = 0; i <= m->nbuckets; i++) {
        cum += atomic_load_explicit(&s->counts[i], memory_order_relaxed);
        if (i < m->nbuckets)
            fmt_double(le, sizeof(le), m->buckets[i]);
        else
            snprintf(le, sizeof(le), "+Inf");
        sb_str(b, m->name);
        sb_str(b, "_bucket");
        render_labels(b, s, le);
        sb_printf(b, " %" PRIu64 "\n", cum);
    }
    sb_str(b, m->name);
    sb_str(b, "_sum");
    render_labels(b, s, NULL);
    sb_put(b, " ", 1);
    sb_double(b, bits_to_d(atomic_load_explicit(&s->hsum, memory_order_relaxed)));
    sb_put(b, "\n", 1);
    sb_str(b, m->name);
    sb_str(b, "_count");
    render_labels(b, s, NULL);
    sb_printf(b, " %" PRIu64 "\n", cum);
}

static void render_family(struct sbuf *b, cfs_metric *m)
{
    struct cfs_series **list = NULL;
    size_t n = 0;

    pthread_rwlock_rdlock(&m->lock);
    if (m->nseries > 0) {
        list = malloc(m->nseries * sizeof(*list));
        if (list == NULL) {
            b->err = -ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < SERIES_HASH; i++)
            for (struct cfs_series *s = m->tab[i]; s != NULL; s = s->next)
                list[n++] = s;
        assert(n == m->nseries);
        qsort(list, n, sizeof(*list), series_cmp);
    }
    if (n == 0 && m->overflow == NULL)
        goto out; /* a labelled family without series yet is not exposed */
    sb_str(b, "# HELP ");
    sb_str(b, m->name);
    sb_put(b, " ", 1);
    sb_escaped(b, m->help, false);
    sb_str(b, "\n# TYPE ");
    sb_str(b, m->name);
    sb_put(b, " ", 1);
    sb_str(b, type_name(m->type));
    sb_put(b, "\n", 1);
    for (size_t i = 0; i < n; i++)
        render_series(b, list[i]);
    if (m->overflow != NULL)
        render_series(b, m->overflow);
out:
    pthread_rwlock_unlock(&m->lock);
    free(list);
}

/* Read a small /proc file into buf (NUL-terminated). Bytes read or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n, total = 0;
    if (fd < 0)
        return -errno;
    while ((size_t)total < len - 1) {
        n = read(fd, buf + total, len - 1 - (size_t)total);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        total += n;
    }
    close(fd);
    buf[total] = '\0';
    return total;
}

static void process_metric(struct sbuf *b, const char *name, const char *type,
                           const char *help, double v)
{
    sb_str(b, "# HELP ");
    sb_str(b, name);
    sb_put(b, " ", 1);
    sb_str(b, help);
    sb_str(b, "\n# TYPE ");
    sb_str(b, name);
    sb_put(b, " ", 1);
    sb_str(b, type);
    sb_put(b, "\n", 1);
    sb_str(b, name);
    sb_put(b, " ", 1);
    sb_double(b, v);
    sb_put(b, "\n", 1);
}

/* The process_* metrics, in name order (they sort before nothing registered: the
 * registry refuses the prefix, so merge order is decided by the caller). */
static void render_process(struct sbuf *b)
{
    char stat[1024], statm[256], pstat[4096];
    long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    unsigned long long utime = 0, stime = 0, start = 0, vsize = 0, btime = 0, res = 0;
    bool have_stat = false, have_start = false, have_res = false;
    struct rlimit rl;
    int nfds = -1;

    if (read_small("/proc/self/stat", stat, sizeof(stat)) > 0) {
        const char *p = strrchr(stat, ')');
        /* fields after "pid (comm)": state(3) ... utime(14) stime(15) ... starttime(22)
         * vsize(23) */
        if (p != NULL &&
            sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d "
                          "%*d %*d %*d %*d %llu %llu", &utime, &stime, &start, &vsize) == 4)
            have_stat = true;
    }
    if (read_small("/proc/self/statm", statm, sizeof(statm)) > 0 &&
        sscanf(statm, "%*u %llu", &res) == 1)
        have_res = true;
    if (read_small("/proc/stat", pstat, sizeof(pstat)) > 0) {
        const char *p = strstr(pstat, "\nbtime ");
        if (p != NULL && sscanf(p + 7, "%llu", &btime) == 1)
            have_start = true;
    }
    DIR *d = opendir("/proc/self/fd");
    if (d != NULL) {
        struct dirent *e;
        nfds = 0;
        while ((e = readdir(d)) != NULL)
            if (e->d_name[0] != '.')
                nfds++;
        nfds--; /* the directory stream itself */
        closedir(d);
    }
    if (tck <= 0)
        tck = 100;
    if (page <= 0)
        page = 4096;

    if (have_stat)
        process_metric(b, "process_cpu_seconds_total", "counter",
                       "Total user and system CPU time spent in seconds.",
                       (double)(utime + stime) / (double)tck);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        process_metric(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
                       (double)rl.rlim_cur);
    if (nfds >= 0)
        process_metric(b, "process_open_fds", "gauge", "Number of open file descriptors.",
                       (double)nfds);
    if (have_res)
        process_metric(b, "process_resident_memory_bytes", "gauge",
                       "Resident memory size in bytes.", (double)res * (double)page);
    if (have_stat && have_start)
        process_metric(b, "process_start_time_seconds", "gauge",
                       "Start time of the process since unix epoch in seconds.",
                       (double)btime + (double)start / (double)tck);
    if (have_stat)
        process_metric(b, "process_virtual_memory_bytes", "gauge",
                       "Virtual memory size in bytes.", (double)vsize);
}

int cfs__metrics_render_ex(char **out, size_t *len, unsigned flags)
{
    struct sbuf b = {0};
    bool process_done = (flags & CFS__METRICS_NO_PROCESS) != 0;

    sb_reserve(&b, 8192);
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < g_nfams; i++) {
        /* families sorted by name: the process block goes where "process_" sorts */
        if (!process_done && strcmp(g_fams[i]->name, "process_") > 0) {
            render_process(&b);
            process_done = true;
        }
        render_family(&b, g_fams[i]);
    }
    pthread_mutex_unlock(&g_lock);
    if (!process_done)
        render_process(&b);
    if (b.err == 0 && b.p == NULL)
        sb_put(&b, "", 0);
    if (b.err != 0) {
        free(b.p);
        return b.err;
    }
    *out = b.p;
    if (len != NULL)
        *len = b.len;
    return 0;
}

int cfs__metrics_render(char **out, size_t *len)
{
    return cfs__metrics_render_ex(out, len, 0);
}

void cfs__metrics_reset(void)
{
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < g_nfams; i++)
        family_free(g_fams[i]);
    free(g_fams);
    g_fams = NULL;
    g_nfams = g_capfams = 0;
    pthread_mutex_unlock(&g_lock);
}
