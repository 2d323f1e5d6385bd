/*
 * cfs/lock.h - the lock and lease manager shared by every protocol (NFSv4, NLM, SMB3,
 * S3): byte-range locks, share reservations (deny modes) and leases/delegations, kept by
 * the core for the whole namespace so that a conflicting access from any protocol is seen
 * by all. The host puts a `const struct cfs_lock_api *` in api->locks.
 *
 * Objects are named by a struct cfs_lock_key. Every protocol must name one object the
 * same way: use cfs_lock_key_from_attr() (fsid + fileid from the VFS attributes).
 *
 * Owners are opaque bytes plus a protocol tag (proto + data is the identity, compared
 * bytewise), and a `client` number used only for bulk release (release_client) and for
 * telling "another client" apart in lease grants:
 *   NFSv4 lock/open owner : proto NFS4, data = clientid (8 bytes) + owner opaque,
 *                           client = clientid
 *   NLM                   : proto NLM, data = caller name + svid + oh, client = host id
 *   SMB byte-range locks  : proto SMB, data = the open's FileId (locks belong to an open)
 *   SMB leases            : proto SMB, data = ClientGuid + LeaseKey, client = session id
 *   NFSv4 delegations     : proto NFS4, data = clientid, flags CFS_LEASE_F_RECALL
 *
 * Return codes: 0 on success; -EAGAIN lock conflict (NFS4ERR_DENIED, NLM4_DENIED,
 * STATUS_LOCK_NOT_GRANTED / FILE_LOCK_CONFLICT); -EBUSY share conflict
 * (NFS4ERR_SHARE_DENIED, STATUS_SHARING_VIOLATION); CFS_ERETRY a lease break is in
 * progress (NFS4ERR_DELAY, NFS3ERR_JUKEBOX, STATUS_PENDING + wait, S3 503 SlowDown);
 * -ENOLCK Windows unlock of a range not locked (STATUS_RANGE_NOT_LOCKED) or the manager's
 * table is full; -ENOENT unknown share/lease id; -EINVAL bad arguments; -ENOMEM.
 *
 * Threads: every entry is thread-safe (one mutex per bucket of objects) and never blocks
 * on I/O: call it from a loop. Callbacks (wake, lease break) run with no manager lock
 * held, on the thread that caused them (the conflicting caller, the unlocker, or the
 * core's timer for timeouts); they must not block (post to your loop) but may call back
 * into this API.
 */
#ifndef CFS_LOCK_H
#define CFS_LOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "vfs.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CFS_LOCK_API_VERSION 1

/* ---- object keys ----------------------------------------------------------------- */
#define CFS_LOCK_KEY_MAX 64
struct cfs_lock_key {
    uint8_t len;                     /* 1..CFS_LOCK_KEY_MAX */
    uint8_t data[CFS_LOCK_KEY_MAX];
};

/* The recommended key: 'I' + fsid + fileid, big-endian (17 bytes). */
static inline void cfs_lock_key_from_ids(struct cfs_lock_key *k, uint64_t fsid, uint64_t fileid)
{
    k->len = 17;
    k->data[0] = 'I';
    for (int i = 0; i < 8; i++) {
        k->data[1 + i] = (uint8_t)(fsid >> (56 - 8 * i));
        k->data[9 + i] = (uint8_t)(fileid >> (56 - 8 * i));
    }
}

static inline void cfs_lock_key_from_attr(struct cfs_lock_key *k, const struct cfs_attr *a)
{
    cfs_lock_key_from_ids(k, a->fsid, a->fileid);
}

/* A key made of a file handle's bytes (only when every protocol uses handles). */
static inline void cfs_lock_key_from_fh(struct cfs_lock_key *k, const struct cfs_fh *fh)
{
    k->len = fh->len <= CFS_LOCK_KEY_MAX ? fh->len : CFS_LOCK_KEY_MAX;
    memcpy(k->data, fh->data, k->len);
}

/* ---- owners ----------------------------------------------------------------------- */
enum cfs_lock_proto {
    CFS_LOCK_PROTO_LOCAL = 0, /* the gateway itself, tests */
    CFS_LOCK_PROTO_NLM = 1,
    CFS_LOCK_PROTO_NFS4 = 2,
    CFS_LOCK_PROTO_SMB = 3,
    CFS_LOCK_PROTO_S3 = 4,
};

#define CFS_LOCK_OWNER_MAX 1040 /* NFSv4 owner opaque (1024) + clientid + margin */
struct cfs_lock_owner {
    uint32_t proto;   /* enum cfs_lock_proto */
    uint32_t len;     /* bytes at data, 1..CFS_LOCK_OWNER_MAX */
    const void *data; /* copied by the manager */
    uint64_t client;  /* client identity for release_client and grants; 0 = unknown */
};

/* ---- byte-range locks --------------------------------------------------------------- */
enum cfs_lock_type { CFS_LOCK_READ = 1 /* shared */, CFS_LOCK_WRITE = 2 /* exclusive */ };

/* length meaning "to the end of the file and beyond" (NFSv4 all ones; NLM/fcntl 0). */
#define CFS_LOCK_EOF UINT64_MAX

/*
 * lock flags. Default: POSIX semantics (NLM, NFSv4): an owner never conflicts with
 * itself; a new lock replaces the owner's locks on that range (upgrade/downgrade), merges
 * with its adjacent or overlapping locks of the same type; unlock of a sub-range splits.
 * CFS_LOCK_F_WINDOWS (SMB): locks stack and never merge; the same owner's exclusive lock
 * conflicts with its own overlapping locks (a shared lock may stack on its own exclusive
 * one); unlock must name exactly the offset and length of one lock; a zero-length lock
 * is allowed and conflicts only with locks strictly containing its offset.
 */
#define CFS_LOCK_F_WINDOWS 0x1u

/* Who holds the lock that conflicts (LOCK4denied, nlm4_holder). */
struct cfs_lock_conflict {
    enum cfs_lock_type type;
    uint64_t offset, length;         /* length CFS_LOCK_EOF = to the end */
    uint32_t proto;
    uint32_t owner_len;
    uint64_t client;
    uint8_t owner[CFS_LOCK_OWNER_MAX];
};

/* Called once when something that may let the caller proceed happened (an unlock, a
 * lease break acknowledged, returned or timed out): retry the operation. */
typedef void (*cfs_lock_wake_fn)(void *arg);

/* ---- share reservations (OPEN share_access/share_deny, SMB ShareAccess) --------------- */
#define CFS_SHARE_READ 0x1u   /* as access: reads; as deny: deny others' reads */
#define CFS_SHARE_WRITE 0x2u
#define CFS_SHARE_DELETE 0x4u /* SMB only */
/* A new open conflicts with an existing one (any owner, including its own: every open is
 * its own entry) when new.access & old.deny or new.deny & old.access. SMB passes
 * deny = ~ShareAccess & 7 and access from DesiredAccess (data access bits only). */

/* ---- leases / delegations ---------------------------------------------------------- */
#define CFS_LEASE_READ 0x1u   /* SMB R, NFSv4 read delegation */
#define CFS_LEASE_WRITE 0x2u  /* SMB W, NFSv4 write delegation (with READ) */
#define CFS_LEASE_HANDLE 0x4u /* SMB H */
/* lease flags */
#define CFS_LEASE_F_RECALL 0x1u /* delegation: any break is a full recall (to 0), the lease
                                   ends when acked with 0 or returned, is removed when the
                                   break times out; acks are always required */

/* What the conflicting caller is doing (break_leases `what`, OR of): */
#define CFS_BREAK_READ 0x1u   /* open for reading: breaks others' WRITE (RWH -> RH) */
#define CFS_BREAK_WRITE 0x2u  /* open for writing, write, truncate, setattr size or
                                 times: breaks others' READ and WRITE (-> H or none) */
#define CFS_BREAK_HANDLE 0x4u /* rename, delete, link of the object or a sharing
                                 violation on it: breaks others' HANDLE */

/* break callback flags */
#define CFS_LEASE_BREAK_ACK_REQUIRED 0x1u /* answer with lease_ack (or lease_return) */
#define CFS_LEASE_BREAK_REVOKED 0x2u      /* no ack came in time: the manager moved the
                                             lease to `to` (or removed it: RECALL) */
typedef void (*cfs_lease_break_fn)(void *arg, uint64_t lease_id, uint32_t from, uint32_t to,
                                   uint32_t flags);

struct cfs_lock_api {
    uint32_t size;    /* sizeof(struct cfs_lock_api) of the host */
    uint32_t version; /* CFS_LOCK_API_VERSION */

    /* -- byte-range locks -- */
    /*
     * Take a lock; 0 or -EAGAIN with *conflict filled (conflict may be NULL). On -EAGAIN
     * with wake != NULL, wake(arg) is registered atomically and called once at the next
     * unlock/release on the object (blocking locks: NLM GRANTED, SMB, NFSv4 polling).
     * Errors: -EINVAL (type, offset+length overflow, zero length without WINDOWS),
     * -ENOLCK (table full), -ENOMEM.
     */
    int (*lock)(const struct cfs_lock_key *key, const struct cfs_lock_owner *owner,
                enum cfs_lock_type type, uint64_t offset, uint64_t length, uint32_t flags,
                struct cfs_lock_conflict *conflict, cfs_lock_wake_fn wake, void *arg);
    /* Unlock: POSIX (flags 0) removes the owner's locks on the range, splitting (never an
     * error); WINDOWS removes one lock with exactly that range (-ENOLCK if none). */
    int (*unlock)(const struct cfs_lock_key *key, const struct cfs_lock_owner *owner,
                  uint64_t offset, uint64_t length, uint32_t flags);
    /* Would this lock be granted? 0 or -EAGAIN with *conflict (NLM TEST, NFSv4 LOCKT).
     * owner may be NULL (conflicts with every holder). */
    int (*test)(const struct cfs_lock_key *key, const struct cfs_lock_owner *owner,
                enum cfs_lock_type type, uint64_t offset, uint64_t length, uint32_t flags,
                struct cfs_lock_conflict *conflict);
    /* Cancel a wake registered by lock or break_leases: 0, or -ENOENT (already fired). */
    int (*wait_cancel)(const struct cfs_lock_key *key, cfs_lock_wake_fn wake, void *arg);

    /* -- share reservations -- */
    /* Add an open with access/deny bits; 0 and *share_id, or -EBUSY. */
    int (*share_add)(const struct cfs_lock_key *key, const struct cfs_lock_owner *owner,
                     uint32_t access, uint32_t deny, uint64_t *share_id);
    /* Change an open's bits (NFSv4 OPEN upgrade, OPEN_DOWNGRADE): 0, -EBUSY, -ENOENT. */
    int (*share_update)(const struct cfs_lock_key *key, uint64_t share_id, uint32_t access,
                        uint32_t deny);
    int (*share_remove)(const struct cfs_lock_key *key, uint64_t share_id);

    /* -- leases / delegations -- */
    /*
     * Grant a lease of `state` (CFS_LEASE_* bits) to `owner`; `on_break` is called when
     * another owner's access conflicts. Refused with -EAGAIN when another owner holds a
     * conflicting lease (WRITE vs anything, READ vs WRITE), when a break is in progress,
     * or when another client (proto+client) has an open that conflicts (WRITE lease vs
     * any open, READ lease vs an open with WRITE access). An owner asking again gets its
     * existing lease upgraded (same id). 0 and *lease_id.
     */
    int (*lease_grant)(const struct cfs_lock_key *key, const struct cfs_lock_owner *owner,
                       uint32_t state, uint32_t flags, cfs_lease_break_fn on_break,
                       void *arg, uint64_t *lease_id);
    /* Acknowledge a break with the state kept (a subset of the break's `to`): 0,
     * -ENOENT, -EINVAL (no break in progress, or new_state not allowed). */
    int (*lease_ack)(const struct cfs_lock_key *key, uint64_t lease_id, uint32_t new_state);
    /* Give a lease back (DELEGRETURN, last open of an SMB lease closed): 0 or -ENOENT. */
    int (*lease_return)(const struct cfs_lock_key *key, uint64_t lease_id);
    /* Current state of a lease: 0 or -ENOENT. *breaking and *break_to may be NULL. */
    int (*lease_get)(const struct cfs_lock_key *key, uint64_t lease_id, uint32_t *state,
                     bool *breaking, uint32_t *break_to);
    /*
     * Before an open, write, truncate, rename or delete: break the leases of every owner
     * other than `who` (NULL = break all) that conflict with `what` (CFS_BREAK_*).
     * Returns 0 when nothing conflicts (or only breaks that need no ack: R -> none), or
     * CFS_ERETRY when a break is in progress; then, if wake != NULL, wake(arg) is called
     * once when a break on this object completes (ack, return or timeout): retry then.
     */
    int (*break_leases)(const struct cfs_lock_key *key, const struct cfs_lock_owner *who,
                        uint32_t what, cfs_lock_wake_fn wake, void *arg);

    /* -- bulk release -- */
    /* Drop every lock, share and lease of `owner` on `key` (NULL = on every object). */
    void (*release_owner)(const struct cfs_lock_key *key, const struct cfs_lock_owner *owner);
    /* Drop everything held by (proto, client) (client != 0): lease expiry, NLM FREE_ALL,
     * SMB logoff. */
    void (*release_client)(uint32_t proto, uint64_t client);
};

#ifdef __cplusplus
}
#endif
#endif
