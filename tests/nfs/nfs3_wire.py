#!/usr/bin/env python3
"""tests/nfs/nfs3_wire.py - raw ONC RPC traffic against a running cfs-gateway NFSv3 port:
every RPC-level error reply, record marking (fragments, pipelining, huge and truncated
records), bad XDR, garbage, the duplicate request cache (a retransmitted REMOVE gets the
first answer), and replies in completion order (a NULL is not held behind a slow WRITE). After each hostile case the gateway must still answer NULL.

usage: nfs3_wire.py HOST NFS_PORT MOUNT_PORT EXPORT_PATH
Prints "ok - ..." / "not ok - ..." and a final "N passed, N failed"; exits 1 on failure.
"""
import os
import socket
import struct
import sys

from rpcwire import check, opaque, summary, u32, u64

HOST, PORT, MPORT, EXPORT = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
NFS, MNT = 100003, 100005


def auth_sys(uid=0, gid=0, gids=(), machine=b"wire"):
    body = u32(1) + opaque(machine) + u32(uid) + u32(gid) + u32(len(gids))
    body += b"".join(u32(g) for g in gids)
    return u32(1) + opaque(body)


AUTH_NONE = u32(0) + u32(0)


def call(xid, prog, vers, proc, args=b"", cred=None, rpcvers=2):
    cred = auth_sys() if cred is None else cred
    return (u32(xid) + u32(0) + u32(rpcvers) + u32(prog) + u32(vers) + u32(proc) + cred +
            AUTH_NONE + args)


def mark(rec, last=True):
    return u32((0x80000000 if last else 0) | len(rec)) + rec


def conn(port=None):
    s = socket.create_connection((HOST, port or PORT), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError("closed")
        b += c
    return b


def recv_record(s):
    rec = b""
    while True:
        h = struct.unpack(">I", recv_exact(s, 4))[0]
        rec += recv_exact(s, h & 0x7FFFFFFF)
        if h & 0x80000000:
            return rec


def parse_reply(rec):
    """-> (xid, kind, values, results) with kind accepted:N or denied:N."""
    xid, mtype, rstat = struct.unpack(">III", rec[:12])
    assert mtype == 1
    if rstat == 0:
        vlen = struct.unpack(">I", rec[16:20])[0]
        off = 20 + vlen + ((4 - vlen % 4) % 4)
        astat = struct.unpack(">I", rec[off:off + 4])[0]
        rest = rec[off + 4:]
        return xid, "accepted:%d" % astat, rest
    rj = struct.unpack(">I", rec[12:16])[0]
    return xid, "denied:%d" % rj, rec[16:]


def rpc(s, xid, prog, vers, proc, args=b"", cred=None, rpcvers=2):
    s.sendall(mark(call(xid, prog, vers, proc, args, cred, rpcvers)))
    return parse_reply(recv_record(s))


def null_ok(what):
    try:
        s = conn()
        xid, kind, _ = rpc(s, 7, NFS, 3, 0)
        s.close()
        check(xid == 7 and kind == "accepted:0", "NULL still answered after: " + what)
    except Exception as e:  # noqa: BLE001
        check(False, "NULL still answered after: %s (%s)" % (what, e))


def closed_or_error(s):
    try:
        s.settimeout(3)
        d = s.recv(4096)
        return d == b"" or len(d) > 0
    except (ConnectionResetError, socket.timeout):
        return True


def main():
    s = conn()
    xid, kind, _ = rpc(s, 1, NFS, 3, 0)
    check(kind == "accepted:0", "NULL -> SUCCESS")
    xid, kind, _ = rpc(s, 2, 123456, 1, 0)
    check(kind == "accepted:1", "unknown program -> PROG_UNAVAIL (%s)" % kind)
    xid, kind, rest = rpc(s, 3, NFS, 4, 0)
    lo, hi = struct.unpack(">II", rest[:8]) if len(rest) >= 8 else (0, 0)
    check(kind == "accepted:2" and (lo, hi) == (3, 3),
          "NFS version 4 -> PROG_MISMATCH 3..3 (%s %d..%d)" % (kind, lo, hi))
    xid, kind, _ = rpc(s, 4, NFS, 3, 99)
    check(kind == "accepted:3", "procedure 99 -> PROC_UNAVAIL (%s)" % kind)
    xid, kind, rest = rpc(s, 5, NFS, 3, 0, rpcvers=3)
    check(kind == "denied:0" and rest[:8] == u32(2) + u32(2),
          "rpcvers 3 -> RPC_MISMATCH 2..2 (%s)" % kind)
    xid, kind, rest = rpc(s, 6, NFS, 3, 0, cred=u32(99) + opaque(b"x"))
    check(kind == "denied:1" and rest[:4] == u32(1), "unknown flavor -> AUTH_BADCRED")
    xid, kind, rest = rpc(s, 7, NFS, 3, 0, cred=auth_sys(gids=range(17)))
    check(kind == "denied:1" and rest[:4] == u32(1), "AUTH_SYS with 17 gids -> AUTH_BADCRED")
    xid, kind, _ = rpc(s, 8, NFS, 3, 1, args=b"\0\0")
    check(kind == "accepted:4", "GETATTR with truncated args -> GARBAGE_ARGS (%s)" % kind)
    xid, kind, _ = rpc(s, 9, NFS, 3, 3, args=u32(8) + b"12345678" + u32(0x7FFFFFF0) + b"ab")
    check(kind == "accepted:4", "LOOKUP with a huge name length -> GARBAGE_ARGS (%s)" % kind)
    xid, kind, _ = rpc(s, 10, NFS, 3, 1, args=u32(65) + b"x" * 68)
    check(kind == "accepted:4", "GETATTR with a 65-byte handle -> GARBAGE_ARGS (%s)" % kind)
    xid, kind, _ = rpc(s, 11, NFS, 3, 0, args=b"trailing garbage")
    check(kind == "accepted:4", "NULL with garbage after the call -> GARBAGE_ARGS (%s)" % kind)
    # a non-call record is ignored; the connection keeps working
    s.sendall(mark(u32(12) + u32(1) + u32(0)))
    xid, kind, _ = rpc(s, 13, NFS, 3, 0)
    check(xid == 13 and kind == "accepted:0", "a REPLY-type record is ignored")
    # one call in three fragments
    rec = call(14, NFS, 3, 0)
    s.sendall(mark(rec[:5], False) + mark(rec[5:17], False) + mark(rec[17:]))
    xid, kind, _ = parse_reply(recv_record(s))
    check(xid == 14 and kind == "accepted:0", "a call in 3 fragments")
    # pipelining: 64 calls in one write, each answered once
    s.sendall(b"".join(mark(call(100 + i, NFS, 3, 0 if i % 2 else 99)) for i in range(64)))
    xids = [parse_reply(recv_record(s))[0] for _ in range(64)]
    check(sorted(xids) == list(range(100, 164)), "64 pipelined calls all answered")
    s.close()

    # MOUNT: the root handle; unknown path
    m = conn(MPORT)
    xid, kind, rest = rpc(m, 20, MNT, 3, 1, args=opaque(EXPORT.encode()))
    st = struct.unpack(">I", rest[:4])[0]
    fhlen = struct.unpack(">I", rest[4:8])[0] if st == 0 else 0
    root = rest[8:8 + fhlen]
    check(kind == "accepted:0" and st == 0 and 0 < fhlen <= 64, "MNT %s -> root handle" % EXPORT)
    flavors = struct.unpack(">I", rest[8 + ((fhlen + 3) & ~3):12 + ((fhlen + 3) & ~3)])[0] \
        if st == 0 else 0
    check(flavors >= 1, "MNT lists %d auth flavor(s)" % flavors)
    xid, kind, rest = rpc(m, 21, MNT, 3, 1, args=opaque(b"/no/such/export"))
    check(rest[:4] == u32(2), "MNT of an unknown path -> MNT3ERR_NOENT")
    xid, kind, rest = rpc(m, 22, MNT, 1, 0)
    check(kind == "accepted:2", "MOUNT v1 -> PROG_MISMATCH (%s)" % kind)
    m.close()

    # DRC: a retransmitted REMOVE (same xid, same args) gets the first answer
    if root:
        s = conn()
        name = b"drc-%d" % os.getpid()
        create = opaque(root) + opaque(name) + u32(0) + u32(0) * 6  # UNCHECKED, empty sattr
        xid, kind, rest = rpc(s, 30, NFS, 3, 8, args=create)
        check(kind == "accepted:0" and rest[:4] == u32(0), "CREATE %s" % name.decode())
        remove = opaque(root) + opaque(name)
        _, _, r1 = rpc(s, 31, NFS, 3, 12, args=remove)
        s.close()
        s = conn()  # the retransmission arrives on a new connection
        _, _, r2 = rpc(s, 31, NFS, 3, 12, args=remove)
        _, _, r3 = rpc(s, 32, NFS, 3, 12, args=remove)
        check(r1[:4] == u32(0) and r2 == r1, "retransmitted REMOVE gets the first reply (DRC)")
        check(r3[:4] == u32(2), "a new REMOVE of the same name -> NOENT")
        # READ of a directory -> ISDIR; bad handle -> BADHANDLE/STALE
        _, _, r = rpc(s, 33, NFS, 3, 6, args=opaque(root) + u64(0) + u32(100))
        check(r[:4] == u32(21), "READ of a directory -> NFS3ERR_ISDIR (%r)" % r[:4])
        bad = bytearray(root)
        bad[-1] ^= 0xFF
        _, _, r = rpc(s, 34, NFS, 3, 1, args=opaque(bytes(bad)))
        st = struct.unpack(">I", r[:4])[0]
        check(st in (70, 10001), "GETATTR of a forged handle -> STALE/BADHANDLE (%d)" % st)
        # replies leave as calls complete: a NULL sent right behind a 1 MiB FILE_SYNC
        # WRITE (a flush to disk on a pool thread) is answered first
        name = b"order-%d" % os.getpid()
        _, kind, rest = rpc(s, 35, NFS, 3, 8, args=opaque(root) + opaque(name) + u32(0) +
                            u32(0) * 6)
        fh = rest[12:12 + struct.unpack(">I", rest[8:12])[0]] if rest[:8] == u32(0) + u32(1) \
            else b""
        check(len(fh) > 0, "CREATE %s for the order check" % name.decode())
        if fh:
            write = opaque(fh) + u64(0) + u32(1 << 20) + u32(2) + opaque(os.urandom(1 << 20))
            s.sendall(mark(call(36, NFS, 3, 7, write)) + mark(call(37, NFS, 3, 0)))
            first = parse_reply(recv_record(s))
            second = parse_reply(recv_record(s))
            check(first[0] == 37 and second[0] == 36 and second[2][:4] == u32(0),
                  "NULL behind a FILE_SYNC WRITE is answered first (xids %d, %d)" %
                  (first[0], second[0]))
            rpc(s, 38, NFS, 3, 12, args=opaque(root) + opaque(name))
        s.close()

    # hostile streams
    s = conn()
    s.sendall(u32(0x7FFFFFFF) + b"abcd")
    check(closed_or_error(s), "huge fragment length: connection closed")
    s.close()
    null_ok("a huge fragment length")

    s = conn()
    s.sendall(u32(0x80000000 | 1000) + b"only part of the record")
    s.close()
    null_ok("a truncated record")

    s = conn()
    s.sendall(mark(call(40, NFS, 3, 0)) + os.urandom(64))
    xid, kind, _ = parse_reply(recv_record(s))
    check(xid == 40 and kind == "accepted:0", "valid call answered before the garbage")
    s.close()
    null_ok("random garbage after a valid call")

    for i in range(200):
        s = conn()
        s.sendall(os.urandom(i % 37 + 1))
        s.close()
    null_ok("200 connections of random bytes")

    # many random records that decode as calls with random arguments
    s = conn()
    for i in range(300):
        proc = i % 22
        s.sendall(mark(call(1000 + i, NFS, 3, proc, args=os.urandom(i % 90))))
    got = 0
    try:
        for i in range(300):
            recv_record(s)
            got += 1
    except Exception:  # noqa: BLE001
        pass
    check(got == 300, "300 calls with random arguments all answered (%d)" % got)
    s.close()
    null_ok("random arguments")

    return summary()


if __name__ == "__main__":
    sys.exit(main())
