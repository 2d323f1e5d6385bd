#!/usr/bin/env python3
"""tests/nfs/nsm_notify.py - the client side of SM_NOTIFY: a small rpcbind (UDP, on the
port the gateway was told with nfs3.nlm_callback_rpcbind_port) that maps NSM v1/UDP to
its own statd (UDP), which answers each SM_NOTIFY and prints it as
"notify MON_NAME STATE FROM_ADDRESS". Stops after SECS seconds, or one second after
the first notification once WANT of them have come.

usage: nsm_notify.py RPCBIND_PORT SECS WANT
"""
import socket
import sys
import threading
import time

from rpcwire import serve_udp, u32

RBPORT, SECS, WANT = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
PMAP, NSM = 100000, 100024


def main():
    statd = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    statd.bind(("127.0.0.1", 0))
    rb = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rb.bind(("127.0.0.1", RBPORT))
    got = []
    lock = threading.Lock()
    stop = [False]

    def on_rpcbind(prog, vers, proc, d, peer):
        if prog != PMAP or vers != 2 or proc != 3:
            return None
        p, v, prot = d.u32(), d.u32(), d.u32()
        return u32(statd.getsockname()[1] if (p, v, prot) == (NSM, 1, 17) else 0)

    def on_statd(prog, vers, proc, d, peer):
        if prog != NSM or vers != 1 or proc != 6:
            return None
        mon_name, state = d.opaque(), d.u32()
        with lock:
            got.append((mon_name.decode(errors="replace"), state, peer[0]))
        return b""  # void

    print("ready", flush=True)
    for sock, fn in ((rb, on_rpcbind), (statd, on_statd)):
        threading.Thread(target=serve_udp, args=(sock, fn, lambda: stop[0]),
                         daemon=True).start()
    end = time.time() + SECS
    while time.time() < end:
        with lock:
            if len(got) >= WANT:
                end = min(end, time.time() + 1.0)  # late duplicates, if any
        time.sleep(0.1)
    stop[0] = True
    for mon_name, state, addr in got:
        print("notify %s %d %s" % (mon_name, state, addr), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
