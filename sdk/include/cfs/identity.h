/*
 * cfs/identity.h - one user of the gateway's users table (the core configuration's
 * `users` list), as modules see it: the S3 module finds a request's signer by access
 * key, SMB a session's user by name (NTLM with the NT hash), and both map it to NFS-style
 * credentials for the namespace.
 *
 * Lookups go through the host API (cfs/host.h, appended in ABI 1.0):
 *
 *     struct cfs_identity_info u = { .size = sizeof(u) };
 *     if (CFS_HOST_HAS(api, identity_by_access_key) &&
 *         api->identity_by_access_key(key, &u) == 0) { ... }
 *
 * The host copies the user out (the table may be replaced by a reload at any moment)
 * and fills only the first `size` bytes of the struct, so a module built against an
 * older, shorter struct stays safe. Wipe secrets (secret_key, nt_hash) after use.
 */
#ifndef CFS_IDENTITY_H
#define CFS_IDENTITY_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "vfs.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CFS_IDENTITY_NAME_MAX 64    /* bytes of a user name, NUL excluded */
#define CFS_IDENTITY_KEY_MAX 128    /* bytes of an S3 access or secret key, NUL excluded */
#define CFS_IDENTITY_NT_HASH_LEN 16 /* MD4(UTF-16LE(password)) */

struct cfs_identity_info {
    uint32_t size;                  /* set by the caller: sizeof(struct cfs_identity_info) */
    uint32_t uid, gid;
    uint32_t ngroups;               /* supplementary groups, at most CFS_MAX_GROUPS */
    uint32_t groups[CFS_MAX_GROUPS];
    char name[CFS_IDENTITY_NAME_MAX + 1];
    char access_key[CFS_IDENTITY_KEY_MAX + 1]; /* "" = none */
    char secret_key[CFS_IDENTITY_KEY_MAX + 1]; /* "" = none */
    bool has_nt_hash;
    uint8_t nt_hash[CFS_IDENTITY_NT_HASH_LEN];
    uint64_t reserved[4];           /* zero */
};

/* The namespace credentials of a user (uid, gid, supplementary groups). */
static inline void cfs_identity_cred(const struct cfs_identity_info *u, struct cfs_cred *cred)
{
    memset(cred, 0, sizeof(*cred));
    cred->uid = u->uid;
    cred->gid = u->gid;
    cred->ngroups = u->ngroups <= CFS_MAX_GROUPS ? u->ngroups : CFS_MAX_GROUPS;
    memcpy(cred->groups, u->groups, cred->ngroups * sizeof(cred->groups[0]));
}

#ifdef __cplusplus
}
#endif
#endif
