/*
 * core/identity.h - the users table (one identity for S3, SMB and NFS) and the squash
 * rules of exports.
 *
 * The table comes from the core configuration's `users` list (libconfig):
 *
 *   users = (
 *     { name = "alice"; uid = 1000; gid = 1000; groups = [ 1000, 27 ];
 *       s3_access_key = "AKIAALICE0000001"; s3_secret_key = "wJalrXUt...";
 *       smb_nt_hash = "8846F7EAEE8FB117AD06BDD830B7586C"; }
 *   );
 *
 *   name           required; 1..64 of [A-Za-z0-9._@-], not starting with '-'; unique
 *   uid, gid       required; 0..4294967294
 *   groups         optional supplementary gids (array or list of ints), at most 32
 *   s3_access_key  optional; 3..128 of [A-Za-z0-9._-]; unique; needs s3_secret_key
 *   s3_secret_key  optional; 1..128 printable ASCII characters (no space)
 *   smb_nt_hash    optional; the NT hash: 32 hex digits of MD4(UTF-16LE(password))
 *
 * Unknown keys are errors (typos would otherwise pass silently). Errors name the file,
 * line, user and key, and what was expected and found.
 *
 * Lookups copy the user out (the table may be replaced by a reload at any time); they
 * are thread-safe (a read-write lock) and cheap enough for every request.
 */
#ifndef CFS_CORE_IDENTITY_H
#define CFS_CORE_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libconfig.h>

#include <cfs/vfs.h>

#define CFS__USER_NAME_MAX 64
#define CFS__S3_KEY_MAX 128
#define CFS__NT_HASH_LEN 16

struct cfs__user {
    char name[CFS__USER_NAME_MAX + 1];
    uint32_t uid, gid;
    uint32_t ngroups;
    uint32_t groups[CFS_MAX_GROUPS];
    char access_key[CFS__S3_KEY_MAX + 1]; /* "" = none */
    char secret_key[CFS__S3_KEY_MAX + 1];
    bool has_nt_hash;
    uint8_t nt_hash[CFS__NT_HASH_LEN];
};

/*
 * Parse `users` (a list of groups; NULL = no users) and, if valid, replace the table.
 * On error the table is unchanged: the message goes to err and a negative code
 * (-EINVAL, -ENOMEM) is returned.
 */
int cfs__identity_load(const config_setting_t *users, char *err, size_t errlen);
/* Validate only (validate-config, reload's parse-first step). */
int cfs__identity_check(const config_setting_t *users, char *err, size_t errlen);
/* Drop every user (tests, exit). */
void cfs__identity_clear(void);
size_t cfs__identity_count(void);

/* Lookups: 0 and *out, or -ENOENT. by_uid returns the first user with that uid. */
int cfs__identity_by_name(const char *name, struct cfs__user *out);
int cfs__identity_by_access_key(const char *access_key, struct cfs__user *out);
int cfs__identity_by_uid(uint32_t uid, struct cfs__user *out);

/* The credentials of a user (uid, gid, supplementary groups). */
void cfs__identity_to_cred(const struct cfs__user *u, struct cfs_cred *cred);

/* Squash rules of an export (Linux exports(5) semantics). */
struct cfs__squash {
    bool root_squash; /* uid 0 -> anon_uid, gid 0 -> anon_gid, group 0 -> anon_gid */
    bool all_squash;  /* everybody -> anon_uid/anon_gid, no supplementary groups */
    uint32_t anon_uid; /* usually 65534 (nobody) */
    uint32_t anon_gid;
};

/* Apply `rules` to `cred` in place (rules NULL = no change). */
void cfs__identity_squash(const struct cfs__squash *rules, struct cfs_cred *cred);

#endif
