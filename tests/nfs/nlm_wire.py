#!/usr/bin/env python3
"""tests/nfs/nlm_wire.py - NLM4 + NSM against a running cfs-gateway (NLM is served on the
NFS port): lock conflicts between two clients, TEST holders, blocking answers, unlock,
FREE_ALL, SM_NOTIFY, and (phase "grace") the grace period after a restart.

usage: nlm_wire.py locks|grace HOST NFS_PORT MOUNT_PORT EXPORT FILE
"""
import socket
import struct
import sys

from rpcwire import check, nlm_stat, opaque, rpc, summary, u32, u64

PHASE, HOST, PORT, MPORT, EXPORT, FILE = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
    int(sys.argv[4]), sys.argv[5], sys.argv[6]
NLM, NSM, MNT, NFS = 100021, 100024, 100005, 100003
GRANTED, DENIED, BLOCKED, GRACE = 0, 1, 3, 4


def lock_obj(caller, fh, svid, off, ln, oh=None):
    return opaque(caller) + opaque(fh) + opaque(oh or caller + b"-oh") + u32(svid) + \
        u64(off) + u64(ln)


def main():
    m = socket.create_connection((HOST, MPORT), timeout=5)
    _, r = rpc(m, MNT, 3, 1, opaque(EXPORT.encode()))
    root = r[8:8 + struct.unpack(">I", r[4:8])[0]]
    m.close()
    s = socket.create_connection((HOST, PORT), timeout=5)
    _, r = rpc(s, NFS, 3, 3, opaque(root) + opaque(FILE.encode()))  # LOOKUP
    fh = r[8:8 + struct.unpack(">I", r[4:8])[0]] if r[:4] == u32(0) else b""
    check(len(fh) > 0, "LOOKUP %s for its handle" % FILE)
    A, B = b"client-a", b"client-b"

    def lock(who, svid, off, ln, excl=True, block=False, reclaim=False):
        args = opaque(b"ck") + u32(block) + u32(excl) + lock_obj(who, fh, svid, off, ln) + \
            u32(reclaim) + u32(3)
        a, rest = rpc(s, NLM, 4, 2, args)
        return nlm_stat(rest)[0] if a == 0 else -a

    def unlock(who, svid, off, ln):
        a, rest = rpc(s, NLM, 4, 4, opaque(b"ck") + lock_obj(who, fh, svid, off, ln))
        return nlm_stat(rest)[0] if a == 0 else -a

    def test(who, svid, off, ln, excl=True):
        a, rest = rpc(s, NLM, 4, 1, opaque(b"ck") + u32(excl) + lock_obj(who, fh, svid, off, ln))
        return nlm_stat(rest) if a == 0 else (-a, b"")

    if PHASE == "locks":
        a, _ = rpc(s, NLM, 4, 0)
        check(a == 0, "NLM NULL")
        a, _ = rpc(s, NLM, 1, 0)
        check(a == 2, "NLM version 1 -> PROG_MISMATCH (%d)" % a)
        check(lock(A, 11, 0, 100) == GRANTED, "client A: exclusive LOCK [0,100) granted")
        st, holder = test(B, 22, 50, 10)
        svid = struct.unpack(">i", holder[4:8])[0] if st == DENIED else -1
        check(st == DENIED and svid == 11, "client B: TEST [50,60) denied, holder svid %d" % svid)
        check(lock(B, 22, 50, 10) == DENIED, "client B: LOCK [50,60) -> DENIED")
        check(lock(B, 22, 50, 10, block=True) == BLOCKED, "client B: blocking LOCK -> BLOCKED")
        check(lock(B, 22, 200, 10, excl=False) == GRANTED, "client B: shared LOCK [200,210)")
        check(lock(A, 11, 205, 0, excl=False) == GRANTED,
              "client A: shared LOCK [205,EOF) next to B's shared lock")
        check(lock(A, 11, 0, 100) == GRANTED, "client A: LOCK again (its own) granted")
        check(unlock(A, 11, 0, 100) == GRANTED, "client A: UNLOCK [0,100)")
        check(lock(B, 22, 50, 10) == GRANTED, "client B: LOCK [50,60) after A's unlock")
        st, _ = test(A, 11, 55, 1)
        check(st == DENIED, "client A: TEST [55,56) now denied by B")
        a, _ = rpc(s, NLM, 4, 23, opaque(B) + u32(5))  # FREE_ALL
        check(a == 0, "FREE_ALL for client B")
        check(lock(A, 11, 50, 10) == GRANTED, "client A: LOCK [50,60) after B's FREE_ALL")
        a, rest = rpc(s, NSM, 1, 1, opaque(b"client-a"))  # SM_STAT
        state = struct.unpack(">I", rest[4:8])[0] if a == 0 else 0
        check(a == 0 and state % 2 == 1, "NSM STAT: state %d (odd: up)" % state)
        a, _ = rpc(s, NSM, 1, 6, opaque(A) + u32(7))  # SM_NOTIFY: A rebooted
        check(a == 0 and test(B, 22, 50, 10)[0] == GRANTED,
              "SM_NOTIFY from client A released its locks")
        # leave one lock held so the restart has a client to wait for
        check(lock(A, 11, 0, 1) == GRANTED, "client A: LOCK [0,1) held across the restart")
    else:
        check(lock(B, 22, 500, 1) == GRACE, "after restart: new LOCK -> DENIED_GRACE_PERIOD")
        check(lock(A, 11, 0, 1, reclaim=True) == GRANTED, "after restart: reclaim LOCK granted")
    s.close()
    return summary()


if __name__ == "__main__":
    sys.exit(main())
