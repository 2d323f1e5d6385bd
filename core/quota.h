/*
 * core/quota.h - quotas per export and per user/group inside an export: soft and hard
 * limits for bytes and files, with a grace period after the soft limit.
 *
 * The VFS charges every operation that grows usage before doing it and gives back what
 * it frees:
 *     create/mkdir/mknod/symlink/link-less create : charge(exp, uid, gid, 0, +1)
 *     write or truncate/fallocate growing the size : charge(exp, uid, gid, +grown, 0)
 *     unlink/rmdir of the last link                : charge(exp, uid, gid, -size, -1)
 *     truncate shrinking                           : charge(exp, uid, gid, -shrunk, 0)
 *     chown/chgrp                                  : charge(new ...) then charge(old, -...)
 * where uid/gid are the object's owner (not the caller). Bytes are logical file sizes of
 * regular files; files count every object except the export root. A charge is checked
 * against the export's limits, the user's and the group's (their own limits, else the
 * export's default user/group limits, id CFS__QUOTA_DEFAULT_ID), all or nothing:
 *   - over a hard limit                        -> -EDQUOT, nothing charged;
 *   - over a soft limit: the grace period starts (the charge passes); once it has run
 *     out, any further growth                  -> -EDQUOT;
 *   - back at or under the soft limit resets the grace period.
 * Negative deltas always pass. Usage is tracked for every export registered with
 * cfs__quota_export_add (exports never registered are not tracked: charge returns 0),
 * incrementally, and recomputed on start by cfs__quota_rescan (a directory walk). The
 * clock is cfs__clock_ms() (fake in tests). Thread-safe (one mutex; calls are short).
 *
 * Metrics (per export, no per-user labels): cfs_quota_used_bytes{export},
 * cfs_quota_used_files{export}, cfs_quota_limit_bytes{export,type=soft|hard},
 * cfs_quota_limit_files{export,type}, cfs_quota_exceeded_total{export,kind=export|user|
 * group}.
 */
#ifndef CFS_QUOTA_H
#define CFS_QUOTA_H

#include <stdbool.h>
#include <stdint.h>

enum cfs__quota_kind { CFS__QUOTA_EXPORT = 0, CFS__QUOTA_USER = 1, CFS__QUOTA_GROUP = 2 };

/* As an id with CFS__QUOTA_USER/GROUP: the default limits of every user/group. */
#define CFS__QUOTA_DEFAULT_ID UINT32_MAX

struct cfs__quota_limits {
    uint64_t bytes_soft, bytes_hard; /* 0 = no limit */
    uint64_t files_soft, files_hard;
    uint64_t grace_ms;               /* 0 = default 7 days */
};

struct cfs__quota_usage {
    int64_t bytes, files;
    struct cfs__quota_limits limits; /* effective limits (own or default) */
    bool has_limits;
    uint64_t bytes_over_since;       /* cfs__clock_ms() when bytes went over soft, 0 = not */
    uint64_t files_over_since;
};

/* Track usage of export `export_id`; `name` labels its metrics (copied). Idempotent. */
int cfs__quota_export_add(uint32_t export_id, const char *name);
/* Set (lim != NULL) or remove (NULL) limits. kind EXPORT ignores id. 0, -ENOENT (export
 * not added), -EINVAL (soft > hard), -ENOMEM. */
int cfs__quota_set(uint32_t export_id, enum cfs__quota_kind kind, uint32_t id,
                   const struct cfs__quota_limits *lim);
/* Charge (or, negative, release) usage; 0 or -EDQUOT. */
int cfs__quota_charge(uint32_t export_id, uint32_t uid, uint32_t gid, int64_t dbytes,
                      int64_t dfiles);
/* The same with the amounts given back (never fails). */
void cfs__quota_release(uint32_t export_id, uint32_t uid, uint32_t gid, int64_t bytes,
                        int64_t files);
/* Usage and effective limits: 0 or -ENOENT. */
int cfs__quota_get(uint32_t export_id, enum cfs__quota_kind kind, uint32_t id,
                   struct cfs__quota_usage *out);
/*
 * Recompute the usage of export_id from the tree at `path` (lstat of every entry, not
 * crossing mount points, hard links counted once) and replace the tracked usage with it.
 * Run at start before serving: charges made during a rescan of the same export are lost.
 * 0, -ENOENT (export not added), or -errno of the walk.
 */
int cfs__quota_rescan(uint32_t export_id, const char *path);
/* Forget every export, limit and usage (tests, exit). */
void cfs__quota_reset(void);

#endif
