/*
 * core/vfs/cred.c - per-thread caller credentials for the posix backend. Linux keeps
 * fsuid, fsgid and the supplementary groups per thread at the syscall level (glibc's
 * setgroups() broadcasts to every thread, so the raw syscalls are used). A non-zero
 * fsuid also drops the filesystem capabilities (DAC override, fowner, ...) for the
 * thread, so the kernel checks every call exactly as for that user.
 */
#include <errno.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backend.h"

static __thread bool switched;

int cfs__cred_enter(const struct cfs_cred *cred)
{
    if (cred->uid == 0 && cred->gid == 0)
        return 0; /* the process's own identity: nothing to switch */
    gid_t groups[CFS_MAX_GROUPS];
    uint32_t n = cred->ngroups > CFS_MAX_GROUPS ? CFS_MAX_GROUPS : cred->ngroups;
    for (uint32_t i = 0; i < n; i++)
        groups[i] = cred->groups[i];
    if (syscall(SYS_setgroups, (size_t)n, groups) < 0)
        return -errno;
    switched = true;
    syscall(SYS_setfsgid, cred->gid);
    syscall(SYS_setfsuid, cred->uid);
    /* setfs*id cannot report failure; ask again to be sure. */
    if ((uint32_t)syscall(SYS_setfsuid, -1) != cred->uid ||
        (uint32_t)syscall(SYS_setfsgid, -1) != cred->gid) {
        cfs__cred_leave();
        return -EPERM;
    }
    return 0;
}

void cfs__cred_leave(void)
{
    if (!switched)
        return;
    syscall(SYS_setfsuid, 0);
    syscall(SYS_setfsgid, 0);
    syscall(SYS_setgroups, (size_t)0, NULL);
    switched = false;
}
