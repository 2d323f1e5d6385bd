/*
 * core/metrics.h - the metrics registry (Prometheus data model) and its text encoder.
 *
 * Families are registered once (modules call metric_register from init; a module
 * reloaded in place registers again and gets the same family back) and live until exit
 * or cfs__metrics_reset(). A series is looked up once by its label values and cached by
 * the caller; updating it (counter_add, gauge_set, gauge_add, histogram_observe) is a
 * few lock-free atomic operations and may happen on any thread.
 *
 * The scrape (cfs__metrics_render) renders the text exposition format 0.0.4, families
 * sorted by name, plus process_* metrics read from /proc at scrape time.
 */
#ifndef CFS_METRICS_H
#define CFS_METRICS_H

#include <stddef.h>

#include <cfs/host.h>

/* Series per family beyond which metric_series returns the family's overflow series,
 * whose every label value is CFS__METRICS_OVERFLOW_VALUE. */
#define CFS__METRICS_MAX_SERIES 1000
#define CFS__METRICS_OVERFLOW_VALUE "__overflow__"
/* Upper bound on the buckets of one histogram (+Inf excluded). */
#define CFS__METRICS_MAX_BUCKETS 64

/*
 * Register a family. Returns the family, the existing one when a family of that name
 * with the same type, labels (and buckets for histograms) exists, or NULL (with a log
 * line) when the description is invalid or conflicts with an existing family.
 */
cfs_metric *cfs__metric_register(const struct cfs_metric_desc *desc);
/*
 * The series of `m` for these label values (exactly as many as the family has labels;
 * NULL is allowed when the family has none; a NULL value is ""). The same values always
 * give the same pointer. Invalid UTF-8 bytes in values are replaced by '?'. Returns NULL
 * only when `m` is NULL or memory is short; the update functions accept NULL (no-op).
 */
cfs_series *cfs__metric_series(cfs_metric *m, const char *const *label_values);
/* Counters only go up: a negative or NaN `v` is ignored. */
void cfs__counter_add(cfs_series *s, double v);
void cfs__gauge_set(cfs_series *s, double v);
void cfs__gauge_add(cfs_series *s, double v);
void cfs__histogram_observe(cfs_series *s, double v);

/* Render every family and the process metrics. *out is malloc'd and NUL-terminated
 * (free() it); *len excludes the NUL. 0 or -ENOMEM. */
int cfs__metrics_render(char **out, size_t *len);

#define CFS__METRICS_NO_PROCESS 0x1u /* leave out the process_* metrics */
int cfs__metrics_render_ex(char **out, size_t *len, unsigned flags);

/* Free every family and series (tests; nothing may use them any more). */
void cfs__metrics_reset(void);

/* The default histogram buckets (latency in seconds, 0.0001 .. 10). */
extern const double cfs__metrics_default_buckets[];
extern const size_t cfs__metrics_default_nbuckets;

#endif
