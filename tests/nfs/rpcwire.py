"""tests/nfs/rpcwire.py - the ONC RPC plumbing the raw-wire NFS tests share: XDR
encoding, a small decoder, one call over a TCP record-marked stream with AUTH_SYS, a
UDP service loop for the client-side services the gateway calls back (rpcbind, NLM,
statd), and the ok / not ok bookkeeping (a final "N passed, N failed" from summary())."""
import socket
import struct

passed = failed = 0


def check(ok, what):
    global passed, failed
    print(("ok - " if ok else "not ok - ") + what, flush=True)
    if ok:
        passed += 1
    else:
        failed += 1


def summary():
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


def u32(v):
    return struct.pack(">I", v & 0xFFFFFFFF)


def u64(v):
    return struct.pack(">Q", v)


def opaque(b):
    return u32(len(b)) + b + b"\0" * ((4 - len(b) % 4) % 4)


class Dec:
    """Reads XDR items from bytes, front to back."""

    def __init__(self, b):
        self.b, self.at = b, 0

    def u32(self):
        v = struct.unpack(">I", self.b[self.at:self.at + 4])[0]
        self.at += 4
        return v

    def u64(self):
        v = struct.unpack(">Q", self.b[self.at:self.at + 8])[0]
        self.at += 8
        return v

    def opaque(self):
        n = self.u32()
        v = self.b[self.at:self.at + n]
        self.at += (n + 3) & ~3
        return v

    def skip_auth(self):
        self.u32()
        self.opaque()


def auth_sys(machine=b"nlm", uid=0, gid=0):
    return u32(1) + opaque(u32(1) + opaque(machine) + u32(uid) + u32(gid) + u32(0))


_xid = [1]


def read_reply(s):
    """The next reply record on TCP socket s: (xid, accept_stat or 99 when denied,
    results)."""
    rec = b""
    while True:
        h = b""
        while len(h) < 4:
            c = s.recv(4 - len(h))
            if not c:
                raise EOFError("closed")
            h += c
        n = struct.unpack(">I", h)[0]
        b = b""
        while len(b) < (n & 0x7FFFFFFF):
            c = s.recv((n & 0x7FFFFFFF) - len(b))
            if not c:
                raise EOFError("closed")
            b += c
        rec += b
        if n & 0x80000000:
            break
    astat = struct.unpack(">I", rec[20:24])[0] if rec[8:12] == u32(0) else 99
    return struct.unpack(">I", rec[:4])[0], astat, rec[24:]


def rpc(s, prog, vers, proc, args=b"", cred=None):
    """One call on TCP socket s: (accept_stat or 99 when denied, results)."""
    _xid[0] += 1
    msg = u32(_xid[0]) + u32(0) + u32(2) + u32(prog) + u32(vers) + u32(proc) + \
        (cred or auth_sys()) + u32(0) + u32(0) + args
    s.sendall(u32(0x80000000 | len(msg)) + msg)
    xid, astat, rest = read_reply(s)
    assert xid == _xid[0]
    return astat, rest


def nlm_stat(rest):
    """nlm4_res / nlm4_testres: (stat, what follows)."""
    d = Dec(rest)
    d.opaque()
    return d.u32(), rest[d.at:]


def serve_udp(sock, fn, stopped):
    """Answer the ONC RPC calls arriving on UDP socket sock until stopped() is true:
    fn(prog, vers, proc, decoder at the arguments, sender) returns the results (bytes,
    sent in an accepted SUCCESS reply) or None (no reply)."""
    sock.settimeout(0.2)
    while not stopped():
        try:
            data, peer = sock.recvfrom(65536)
        except socket.timeout:
            continue
        d = Dec(data)
        xid, mtype, _rv, prog, vers, proc = (d.u32() for _ in range(6))
        d.skip_auth()
        d.skip_auth()
        res = fn(prog, vers, proc, d, peer)
        if mtype == 0 and res is not None:
            sock.sendto(u32(xid) + u32(1) + u32(0) + u32(0) + u32(0) + u32(0) + res, peer)
