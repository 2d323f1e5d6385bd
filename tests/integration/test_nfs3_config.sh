#!/bin/sh
# tests/integration/test_nfs3_config.sh - mod_nfs3 from a configuration file: exports with
# client networks (a denied client gets MNT3ERR_ACCES / NFS3ERR_ACCES), secure_ports
# (unprivileged source port refused, privileged accepted), all_squash, the export list
# (MOUNT EXPORT), UDP, SIGHUP reload keeping an open connection working, exports added and
# removed by a reload (mountable at once; refused, their handles stale), and READ by
# sendfile (nfs3.sendfile) giving the file back byte for byte.
. "$(dirname "$0")/lib.sh"

D="$T_TMP/conf"
mkdir -p "$D" "$T_TMP/open" "$T_TMP/denied" "$T_TMP/secure" "$T_TMP/state"
chmod 0777 "$T_TMP/open"
NP=$(free_port)
MP=$(free_port)

write_conf() { # max_inflight
  cat >"$D/gateway.conf" <<EOF
gateway = { workers = 2; admin = "off"; log_level = "info"; state_dir = "$T_TMP/state"; };
exports = (
  { name = "open"; path = "$T_TMP/open"; root_squash = false; all_squash = true;
    anon_uid = 4242; anon_gid = 4343; clients = [ "127.0.0.0/8", "::1" ]; },
  { name = "denied"; path = "$T_TMP/denied"; clients = [ "10.9.8.0/24" ]; },
  { name = "secure"; path = "$T_TMP/secure"; secure_ports = true; }
);
EOF
  cat >"$D/nfs3.conf" <<EOF
nfs3 = { enabled = true; bind = "127.0.0.1:$NP"; mount_bind = "127.0.0.1:$MP"; udp = true;
         max_inflight = $1; rpcbind = false; sendfile = true; };
EOF
}
write_conf 64

if "$CFS_BIN" validate-config --config "$D" --module-path "$CFS_MODULE_DIR" >"$T_TMP/vc" 2>&1; then
  ok "validate-config accepts the nfs3 group"
else
  bad "validate-config: $(cat "$T_TMP/vc")"
fi
start_gw start --config "$D" --module-path "$CFS_MODULE_DIR"

$PY - "$NP" "$MP" "$GW_PID" "$D/nfs3.conf" "$T_TMP/open" <<'EOF' >"$T_TMP/py" 2>&1
import os, signal, socket, struct, sys, time
NP, MP, PID, CONF, OPEN = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
u32 = lambda v: struct.pack(">I", v & 0xFFFFFFFF)
def opaque(b): return u32(len(b)) + b + b"\0" * ((4 - len(b) % 4) % 4)
def cred(uid=0, gid=0): return u32(1) + opaque(u32(1) + opaque(b"t") + u32(uid) + u32(gid) + u32(0))
def call(xid, prog, vers, proc, args=b""):
    return u32(xid) + u32(0) + u32(2) + u32(prog) + u32(vers) + u32(proc) + cred() + u32(0) + u32(0) + args
def rec(s):
    out = b""
    while True:
        h = b""
        while len(h) < 4:
            c = s.recv(4 - len(h))
            if not c: raise EOFError
            h += c
        n = struct.unpack(">I", h)[0]
        b = b""
        while len(b) < (n & 0x7FFFFFFF):
            c = s.recv((n & 0x7FFFFFFF) - len(b))
            if not c: raise EOFError
            b += c
        out += b
        if n & 0x80000000: return out
def conn(port, src_port=0):
    for _ in range(100):
        try:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if src_port: s.bind(("127.0.0.1", src_port))
            s.settimeout(5)
            s.connect(("127.0.0.1", port))
            return s
        except OSError:
            s.close(); time.sleep(0.1)
    raise SystemExit("cannot connect")
def rpc(s, xid, prog, proc, args=b""):
    s.sendall(u32(0x80000000 | len(call(xid, prog, 3, proc, args))) + call(xid, prog, 3, proc, args))
    r = rec(s)
    rstat = struct.unpack(">I", r[8:12])[0]
    if rstat: return "denied:%d" % struct.unpack(">I", r[12:16])[0], r[16:]
    return "accepted:%d" % struct.unpack(">I", r[20:24])[0], r[24:]
P = F = 0
def check(ok, what):
    global P, F
    print(("ok - " if ok else "not ok - ") + what, flush=True)
    if ok: P += 1
    else: F += 1
m = conn(MP)
k, r = rpc(m, 1, 100005, 1, opaque(b"/open"))
check(r[:4] == u32(0), "MNT /open from 127.0.0.1 allowed")
root = r[8:8 + struct.unpack(">I", r[4:8])[0]]
k, r = rpc(m, 2, 100005, 1, opaque(b"/denied"))
check(r[:4] == u32(13), "MNT /denied from 127.0.0.1 -> MNT3ERR_ACCES (%r)" % r[:4])
k, r = rpc(m, 3, 100005, 1, opaque(b"/secure"))
check(r[:4] == u32(13), "MNT /secure from an unprivileged port -> MNT3ERR_ACCES (%r)" % r[:4])
k, r = rpc(m, 4, 100005, 5)
names = r.count(b"/open") + r.count(b"/denied") + r.count(b"/secure")
check(names == 3 and b"10.9.8.0/24" in r, "MOUNT EXPORT lists 3 exports with their client rules")
m.close()
m = conn(MP, src_port=811)
k, r = rpc(m, 5, 100005, 1, opaque(b"/secure"))
check(r[:4] == u32(0), "MNT /secure from privileged port 811 allowed (%r)" % r[:4])
secure_root = r[8:8 + struct.unpack(">I", r[4:8])[0]] if r[:4] == u32(0) else b""
m.close()
if secure_root:
    s = conn(NP)
    k, r = rpc(s, 6, 100003, 1, opaque(secure_root))
    check(k == "denied:1" and r[:4] == u32(5), "GETATTR on a secure export from port >= 1024 -> AUTH_TOOWEAK (%s)" % k)
    s.close()
# all_squash: a file created by root belongs to anon 4242:4343
s = conn(NP)
args = opaque(root) + opaque(b"squashed") + u32(0) + u32(0) * 6
k, r = rpc(s, 7, 100003, 8, args)
check(k == "accepted:0" and r[:4] == u32(0), "CREATE in /open")
st = os.stat(os.path.join(OPEN, "squashed")) if os.path.exists(os.path.join(OPEN, "squashed")) else None
check(st is not None and (st.st_uid, st.st_gid) == (4242, 4343),
      "all_squash: owner is anon 4242:4343 (%s)" % (st and (st.st_uid, st.st_gid),))
# UDP NULL and GETATTR
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(3)
u.sendto(call(8, 100003, 3, 0), ("127.0.0.1", NP))
try:
    d, _ = u.recvfrom(65536)
    check(d[:4] == u32(8) and d[20:24] == u32(0), "UDP NULL answered")
except socket.timeout:
    check(False, "UDP NULL answered")
u.sendto(call(9, 100003, 3, 1, opaque(root)), ("127.0.0.1", NP))
try:
    d, _ = u.recvfrom(65536)
    check(d[:4] == u32(9) and d[24:28] == u32(0), "UDP GETATTR answered")
except socket.timeout:
    check(False, "UDP GETATTR answered")
# reload: the open connection keeps working, new connections too
with open(CONF) as f: c = f.read()
with open(CONF, "w") as f: f.write(c.replace("max_inflight = 64", "max_inflight = 16"))
os.kill(PID, signal.SIGHUP)
time.sleep(1.0)
k, r = rpc(s, 10, 100003, 1, opaque(root))
check(k == "accepted:0" and r[:4] == u32(0), "after SIGHUP: the open connection still answers")
s2 = conn(NP)
k, r = rpc(s2, 11, 100003, 0)
check(k == "accepted:0", "after SIGHUP: a new connection is served")
# reload with the export "secure" removed and "extra" added
gwconf = os.path.join(os.path.dirname(CONF), "gateway.conf")
extra = os.path.join(os.path.dirname(OPEN), "extra")
os.makedirs(extra, exist_ok=True)
with open(os.path.join(extra, "hello.txt"), "w") as f: f.write("hi")
with open(gwconf) as f: c = f.read()
i = c.index('  { name = "secure"')
j = c.index("}", i) + 1
with open(gwconf, "w") as f:
    f.write(c[:i] + '  { name = "extra"; path = "%s"; root_squash = false; }' % extra + c[j:])
os.kill(PID, signal.SIGHUP)
time.sleep(1.0)
m = conn(MP, src_port=812)
k, r = rpc(m, 12, 100005, 1, opaque(b"/extra"))
check(r[:4] == u32(0), "after reload: the added export /extra mounts (%r)" % r[:4])
extra_root = r[8:8 + struct.unpack(">I", r[4:8])[0]] if r[:4] == u32(0) else b""
k, r = rpc(m, 13, 100005, 1, opaque(b"/secure"))
check(r[:4] != u32(0), "after reload: the removed export /secure is refused (%r)" % r[:4])
k, r = rpc(m, 14, 100005, 5)
check(b"/extra" in r and b"/secure" not in r, "after reload: MOUNT EXPORT lists /extra, not /secure")
m.close()
k, r = rpc(s, 15, 100003, 3, opaque(extra_root) + opaque(b"hello.txt"))
check(k == "accepted:0" and r[:4] == u32(0), "LOOKUP in /extra on the connection opened before")
if secure_root:
    s3 = conn(NP, src_port=813)
    k, r = rpc(s3, 16, 100003, 1, opaque(secure_root))
    check(k == "accepted:0" and r[:4] == u32(70),
          "a handle of the removed export is stale (%s %r)" % (k, r[:4]))
    s3.close()
k, r = rpc(s, 17, 100003, 1, opaque(root))
check(k == "accepted:0" and r[:4] == u32(0), "the kept export /open still answers")
print("%d passed, %d failed" % (P, F))
EOF
sed 's/^/  [wire] /' "$T_TMP/py"
T_PASS=$((T_PASS + $(grep -c '^ok - ' "$T_TMP/py")))
T_FAIL=$((T_FAIL + $(grep -c '^not ok - ' "$T_TMP/py")))
grep -q "passed, .* failed" "$T_TMP/py" || bad "the python client did not finish"
grep -q "reload" "$T_TMP/gw.log" && ok "the gateway logged the reload" || bad "no reload in the log"

# READ by sendfile: cached data (just written here) in READs of up to 1 MiB at odd
# offsets (the file's size is not a multiple of anything), then the same file evicted
# from the page cache (the uncached part is read by the pool instead)
head -c 5000003 /dev/urandom >"$T_TMP/open/sf.bin"
chmod 0644 "$T_TMP/open/sf.bin"
timeout 30 nfs-cp "nfs://127.0.0.1/open/sf.bin?nfsport=$NP&mountport=$MP&version=3" \
  "$T_TMP/sf.down" >/dev/null 2>&1
check "READ by sendfile is byte for byte" cmp "$T_TMP/open/sf.bin" "$T_TMP/sf.down"
dd if="$T_TMP/open/sf.bin" of=/dev/null iflag=nocache count=0 2>/dev/null
rm -f "$T_TMP/sf.down"
timeout 30 nfs-cp "nfs://127.0.0.1/open/sf.bin?nfsport=$NP&mountport=$MP&version=3" \
  "$T_TMP/sf.down" >/dev/null 2>&1
check "READ after eviction from the page cache is byte for byte" cmp "$T_TMP/open/sf.bin" "$T_TMP/sf.down"
stop_gw
check "gateway exits 0 on SIGTERM" test "${GW_RC:-1}" -eq 0
if grep -q "AddressSanitizer\|runtime error" "$T_TMP/gw.log"; then
  bad "sanitizer reports in the gateway log"
fi
finish
