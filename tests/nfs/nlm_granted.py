#!/usr/bin/env python3
"""tests/nfs/nlm_granted.py - blocking NLM4 locks and the NLM4_GRANTED callback against a
running cfs-gateway. The script plays two lock clients over TCP and, for client B, the
client side of the callback: a small rpcbind (UDP, on the port the gateway was told with
nfs3.nlm_callback_rpcbind_port) that maps NLM v4/UDP to its own NLM service (UDP), which
records each GRANTED call and answers it as the case wants.

Cases: a blocked LOCK is granted by callback when the holder unlocks (cookie of the last
re-sent LOCK, the lock's fields echoed) and is then held; CANCEL stops the wait; a client
that declines the GRANTED call, or has no NLM service, gets the lock released; FREE_ALL
drops the waiter; the asynchronous TEST_MSG, LOCK_MSG, UNLOCK_MSG and CANCEL_MSG get an
empty reply and their results come back as TEST_RES, LOCK_RES, UNLOCK_RES and CANCEL_RES
calls to the client's NLM service (cookie and status; the holder for a denied TEST); DOS
share reservations (SHARE/UNSHARE: deny modes against access, a SHARE again replacing the
owner's share, UNSHARE keeping the owner's byte-range locks, FREE_ALL dropping shares);
the gateway still answers NULL.

usage: nlm_granted.py HOST NFS_PORT MOUNT_PORT EXPORT FILE RPCBIND_PORT
"""
import socket
import struct
import sys
import threading
import time

from rpcwire import (auth_sys, check, nlm_stat, opaque, read_reply, rpc, serve_udp, summary,
                     u32, u64)

HOST, PORT, MPORT, EXPORT, FILE, RBPORT = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    sys.argv[4], sys.argv[5], int(sys.argv[6])
NLM, MNT, NFS, PMAP = 100021, 100005, 100003, 100000
GRANTED, DENIED, BLOCKED = 0, 1, 3


# ---- client B's side of the callback ----
class Callback:
    def __init__(self):
        self.nlm = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.nlm.bind(("127.0.0.1", 0))
        self.rb = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rb.bind(("127.0.0.1", RBPORT))
        self.answer = GRANTED      # what the NLM service answers to GRANTED
        self.registered = True     # whether rpcbind knows the NLM service
        self.silent = False        # rpcbind answers nothing at all
        self.calls = []            # decoded GRANTED calls
        self.res = []              # decoded _RES calls (results of _MSG calls)
        self.getports = 0
        self.lock = threading.Lock()
        self.stop = False
        for sock, fn in ((self.nlm, self.on_nlm), (self.rb, self.on_rpcbind)):
            threading.Thread(target=serve_udp, args=(sock, fn, lambda: self.stop),
                             daemon=True).start()

    def on_rpcbind(self, prog, vers, proc, d, _peer):
        if prog != PMAP or vers != 2 or proc != 3:
            return None
        if self.silent:
            return None
        p, v, prot = d.u32(), d.u32(), d.u32()
        with self.lock:
            self.getports += 1
        ok = self.registered and p == NLM and v == 4 and prot == 17
        return u32(self.nlm.getsockname()[1] if ok else 0)

    def on_nlm(self, prog, vers, proc, d, _peer):
        if prog == NLM and vers == 4 and 11 <= proc <= 14:  # TEST_RES .. UNLOCK_RES
            r = {"proc": proc, "cookie": d.opaque(), "stat": d.u32()}
            if proc == 11 and r["stat"] == DENIED:
                r["exclusive"], r["svid"] = d.u32(), d.u32()
            with self.lock:
                self.res.append(r)
            return None  # like lockd: a _RES call is not answered
        if prog != NLM or vers != 4 or proc != 5:
            return None
        c = {"cookie": d.opaque(), "exclusive": d.u32(), "caller": d.opaque(),
             "fh": d.opaque(), "oh": d.opaque(), "svid": d.u32(), "offset": d.u64(),
             "len": d.u64()}
        with self.lock:
            self.calls.append(c)
            ans = self.answer
        return opaque(c["cookie"]) + u32(ans)

    def wait_res(self, cookie, secs=5):
        end = time.time() + secs
        while time.time() < end:
            with self.lock:
                for r in self.res:
                    if r["cookie"] == cookie:
                        return r
            time.sleep(0.05)
        return None

    def wait_call(self, n, secs):
        end = time.time() + secs
        while time.time() < end:
            with self.lock:
                if len(self.calls) >= n:
                    return self.calls[n - 1]
            time.sleep(0.05)
        return None


def eventually(fn, secs=5):
    """fn() became true within secs (polled): the gateway acts on a callback's answer
    on its own loop, a moment after the client saw the call."""
    end = time.time() + secs
    while True:
        if fn():
            return True
        if time.time() > end:
            return False
        time.sleep(0.1)


def main():
    cb = Callback()
    m = socket.create_connection((HOST, MPORT), timeout=5)
    _, r = rpc(m, MNT, 3, 1, opaque(EXPORT.encode()))
    root = r[8:8 + struct.unpack(">I", r[4:8])[0]]
    m.close()
    a_conn = socket.create_connection((HOST, PORT), timeout=10)
    b_conn = socket.create_connection((HOST, PORT), timeout=10)
    _, r = rpc(a_conn, NFS, 3, 3, opaque(root) + opaque(FILE.encode()))  # LOOKUP
    fh = r[8:8 + struct.unpack(">I", r[4:8])[0]] if r[:4] == u32(0) else b""
    check(len(fh) > 0, "LOOKUP %s for its handle" % FILE)
    A, B = b"client-a", b"client-b"

    def lobj(who, svid, off, ln):
        return opaque(who) + opaque(fh) + opaque(who + b"-oh") + u32(svid) + u64(off) + u64(ln)

    def lock(s, who, svid, off, ln, block=False, cookie=b"ck"):
        args = opaque(cookie) + u32(block) + u32(1) + lobj(who, svid, off, ln) + u32(0) + u32(3)
        a, rest = rpc(s, NLM, 4, 2, args)
        return nlm_stat(rest)[0] if a == 0 else -a

    def unlock(s, who, svid, off, ln):
        a, rest = rpc(s, NLM, 4, 4, opaque(b"ck") + lobj(who, svid, off, ln))
        return nlm_stat(rest)[0] if a == 0 else -a

    def cancel(s, who, svid, off, ln):
        a, rest = rpc(s, NLM, 4, 3, opaque(b"ck") + u32(1) + u32(1) + lobj(who, svid, off, ln))
        return nlm_stat(rest)[0] if a == 0 else -a

    def test(s, who, svid, off, ln):
        a, rest = rpc(s, NLM, 4, 1, opaque(b"ck") + u32(1) + lobj(who, svid, off, ln))
        st, more = nlm_stat(rest) if a == 0 else (-a, b"")
        holder = struct.unpack(">i", more[4:8])[0] if st == DENIED else None
        return st, holder

    # 1. granted by callback when the holder unlocks
    check(lock(a_conn, A, 11, 0, 100) == GRANTED, "A: LOCK [0,100)")
    check(lock(b_conn, B, 22, 10, 10, block=True, cookie=b"ckB1") == BLOCKED,
          "B: blocking LOCK [10,20) -> BLOCKED")
    check(lock(b_conn, B, 22, 10, 10, block=True, cookie=b"ckB2") == BLOCKED,
          "B: the LOCK re-sent -> still BLOCKED")
    check(cb.wait_call(1, 0.5) is None, "no GRANTED while A holds the lock")
    check(unlock(a_conn, A, 11, 0, 100) == GRANTED, "A: UNLOCK")
    c = cb.wait_call(1, 5)
    check(c is not None, "B's NLM service got NLM4_GRANTED after A's unlock")
    if c:
        check(c["cookie"] == b"ckB2" and c["exclusive"] == 1 and c["caller"] == B and
              c["fh"] == fh and c["oh"] == B + b"-oh" and c["svid"] == 22 and
              c["offset"] == 10 and c["len"] == 10,
              "GRANTED carries the last LOCK's cookie and the lock (%r)" % (c,))
    st, holder = test(a_conn, A, 11, 15, 1)
    check(st == DENIED and holder == 22, "A: TEST [15,16) denied, held by B (svid %s)" % holder)
    check(lock(b_conn, B, 22, 10, 10) == GRANTED, "B: LOCK [10,20) again: already its own")
    check(unlock(b_conn, B, 22, 10, 10) == GRANTED, "B: UNLOCK [10,20)")
    check(test(a_conn, A, 11, 15, 1)[0] == GRANTED, "A: TEST [15,16) free again")

    # 2. CANCEL stops the wait
    n0 = len(cb.calls)
    check(lock(a_conn, A, 11, 0, 100) == GRANTED, "A: LOCK [0,100)")
    check(lock(b_conn, B, 22, 30, 10, block=True) == BLOCKED, "B: blocking LOCK [30,40)")
    check(cancel(b_conn, B, 22, 30, 10) == GRANTED, "B: CANCEL [30,40)")
    check(unlock(a_conn, A, 11, 0, 100) == GRANTED, "A: UNLOCK")
    check(cb.wait_call(n0 + 1, 1.5) is None, "no GRANTED after the CANCEL")
    check(test(a_conn, A, 11, 35, 1)[0] == GRANTED, "A: TEST [35,36) free")

    # 3. the client declines the granted lock: released
    cb.answer = DENIED
    n0 = len(cb.calls)
    check(lock(a_conn, A, 11, 0, 100) == GRANTED, "A: LOCK [0,100)")
    check(lock(b_conn, B, 22, 50, 10, block=True) == BLOCKED, "B: blocking LOCK [50,60)")
    check(unlock(a_conn, A, 11, 0, 100) == GRANTED, "A: UNLOCK")
    check(cb.wait_call(n0 + 1, 5) is not None, "B's NLM service got GRANTED (and declines)")
    check(eventually(lambda: test(a_conn, A, 11, 55, 1)[0] == GRANTED),
          "declined: the lock was released")
    cb.answer = GRANTED

    # 4. no NLM service at the client's rpcbind: released
    cb.registered = False
    g0 = cb.getports
    check(lock(a_conn, A, 11, 0, 100) == GRANTED, "A: LOCK [0,100)")
    check(lock(b_conn, B, 22, 60, 10, block=True) == BLOCKED, "B: blocking LOCK [60,70)")
    check(unlock(a_conn, A, 11, 0, 100) == GRANTED, "A: UNLOCK")
    check(eventually(lambda: cb.getports > g0), "the gateway asked B's rpcbind for NLM")
    check(eventually(lambda: test(a_conn, A, 11, 65, 1)[0] == GRANTED),
          "no NLM service registered: the lock was released")
    cb.registered = True

    # 5. FREE_ALL drops the waiter
    n0 = len(cb.calls)
    check(lock(a_conn, A, 11, 0, 100) == GRANTED, "A: LOCK [0,100)")
    check(lock(b_conn, B, 22, 70, 10, block=True) == BLOCKED, "B: blocking LOCK [70,80)")
    a, _ = rpc(b_conn, NLM, 4, 23, opaque(B) + u32(5))
    check(a == 0, "FREE_ALL for B")
    check(unlock(a_conn, A, 11, 0, 100) == GRANTED, "A: UNLOCK")
    check(cb.wait_call(n0 + 1, 1.5) is None, "no GRANTED after FREE_ALL")

    # 6. the asynchronous procedures: an empty reply, the result by a _RES call
    def msg(s, proc, args, what):
        a, rest = rpc(s, NLM, 4, proc, args)
        check(a == 0 and rest == b"", "%s: accepted with an empty reply (%d, %r)" % (what, a, rest))

    def res(cookie, proc, stat, what):
        r = cb.wait_res(cookie)
        check(r is not None and r["proc"] == proc and r["stat"] == stat,
              "%s -> procedure %d with status %d (%r)" % (what, proc, stat, r))
        return r

    msg(a_conn, 7, opaque(b"m1") + u32(0) + u32(1) + lobj(A, 11, 200, 100) + u32(0) + u32(3),
        "A: LOCK_MSG [200,300)")
    res(b"m1", 12, GRANTED, "A: LOCK_MSG")
    msg(b_conn, 6, opaque(b"m2") + u32(1) + lobj(B, 22, 250, 1), "B: TEST_MSG [250,251)")
    r = res(b"m2", 11, DENIED, "B: TEST_MSG")
    check(r is not None and r.get("svid") == 11, "TEST_RES names the holder (svid 11)")
    msg(b_conn, 7, opaque(b"m3") + u32(0) + u32(1) + lobj(B, 22, 250, 10) + u32(0) + u32(3),
        "B: LOCK_MSG [250,260), not blocking")
    res(b"m3", 12, DENIED, "B: LOCK_MSG in conflict")
    msg(a_conn, 9, opaque(b"m4") + lobj(A, 11, 200, 100), "A: UNLOCK_MSG [200,300)")
    res(b"m4", 14, GRANTED, "A: UNLOCK_MSG")
    check(test(b_conn, B, 22, 250, 1)[0] == GRANTED, "B: TEST [250,251) free after UNLOCK_MSG")
    msg(b_conn, 8, opaque(b"m5") + u32(1) + u32(1) + lobj(B, 22, 250, 10), "B: CANCEL_MSG")
    res(b"m5", 13, GRANTED, "B: CANCEL_MSG with nothing waiting")
    # over UDP, the transport _MSG calls usually travel on: the reply is an empty
    # datagram, the _RES call goes to the sender's host
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(5)
    u.sendto(u32(7777) + u32(0) + u32(2) + u32(NLM) + u32(4) + u32(6) + auth_sys() + u32(0) +
             u32(0) + opaque(b"u1") + u32(1) + lobj(B, 22, 250, 1), (HOST, PORT))
    try:
        d = u.recv(65536)
        check(d[:4] == u32(7777) and d[20:24] == u32(0) and len(d) == 24,
              "B: TEST_MSG over UDP: an empty reply (%d bytes)" % len(d))
    except socket.timeout:
        check(False, "B: TEST_MSG over UDP: an empty reply")
    u.close()
    res(b"u1", 11, GRANTED, "B: TEST_MSG over UDP")

    # 7. share reservations: fsh4_access R=1 W=2 RW=3, fsh4_mode (deny) DN=0 DR=1 DW=2
    def share(s, who, access, deny, unshare=False):
        args = opaque(b"sh") + opaque(who) + opaque(fh) + opaque(who + b"-oh") + \
            u32(deny) + u32(access) + u32(0)
        a, rest = rpc(s, NLM, 4, 21 if unshare else 20, args)
        if a != 0:
            return -a
        st, more = nlm_stat(rest)
        return st if len(more) == 4 else -100  # nlm4_shareres ends with its sequence

    check(share(a_conn, A, 1, 2) == GRANTED, "A: SHARE read, deny write")
    check(share(b_conn, B, 2, 0) == DENIED, "B: SHARE write -> DENIED (A denies writes)")
    check(share(b_conn, B, 1, 0) == GRANTED, "B: SHARE read, deny none")
    check(lock(a_conn, A, 11, 0, 10) == GRANTED, "A: LOCK [0,10)")
    check(share(a_conn, A, 1, 2, unshare=True) == GRANTED, "A: UNSHARE")
    check(test(b_conn, B, 22, 5, 1)[0] == DENIED, "A's byte-range lock outlives its UNSHARE")
    check(unlock(a_conn, A, 11, 0, 10) == GRANTED, "A: UNLOCK [0,10)")
    check(share(b_conn, B, 2, 0) == GRANTED, "B: SHARE write now (replaces its read share)")
    check(share(a_conn, A, 1, 2) == DENIED, "A: SHARE deny write -> DENIED (B writes)")
    a, _ = rpc(b_conn, NLM, 4, 23, opaque(B) + u32(6))
    check(a == 0, "FREE_ALL for B")
    check(share(a_conn, A, 1, 2) == GRANTED, "A: SHARE deny write after B's FREE_ALL")
    check(share(a_conn, A, 1, 2, unshare=True) == GRANTED, "A: UNSHARE")

    # 8. a flood of _MSG calls while the client's rpcbind is silent: every call still gets
    # its reply; the _RES calls beyond the bound are dropped (logged: see the .sh)
    cb.silent = True
    n = 300
    args = opaque(b"fl") + u32(0) + lobj(A, 11, 900, 1)
    calls = b"".join(u32(0x80000000 | len(c)) + c for c in
                     (u32(5000 + i) + u32(0) + u32(2) + u32(NLM) + u32(4) + u32(6) +
                      u32(0) + u32(0) + u32(0) + u32(0) + args for i in range(n)))
    a_conn.sendall(calls)
    answered = 0
    for _ in range(n):
        _, a, rest = read_reply(a_conn)
        answered += a == 0 and rest == b""
    check(answered == n, "%d pipelined TEST_MSG calls with a silent rpcbind: %d answered" %
          (n, answered))
    cb.silent = False

    # 9. a caller name with a newline, a blank and an address in it: the lock is granted;
    # the record of lock holders keeps it on one line (see the .sh: no SM_NOTIFY to it)
    M = b"mallory\nvictim 127.0.0.9"
    check(lock(a_conn, M, 33, 950, 1) == GRANTED, "a LOCK whose caller name holds a newline")
    check(unlock(a_conn, M, 33, 950, 1) == GRANTED, "its UNLOCK")

    a, _ = rpc(a_conn, NLM, 4, 0)
    check(a == 0, "NLM NULL still answered")
    cb.stop = True
    return summary()


if __name__ == "__main__":
    sys.exit(main())
