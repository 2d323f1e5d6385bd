#!/bin/sh
# tests/integration/test_nfs3.sh - mod_nfs3 end to end: a real gateway (`start nfs`) on
# loopback driven by libnfs-utils (nfs-ls, nfs-cat, nfs-cp), the libnfs C client
# tests/nfs/nfs3_client.c (every NFSv3 + MOUNT procedure, contents byte for byte, > 4 GiB
# offsets, many files, links, non-root permissions, stale handles), raw malformed traffic
# (tests/nfs/nfs3_wire.py), NLM lock conflicts and the grace period (tests/nfs/nlm_wire.py),
# handles surviving a restart, root squash and a read-only export.
. "$(dirname "$0")/lib.sh"

for t in nfs-ls nfs-cat nfs-cp; do
  command -v $t >/dev/null 2>&1 || { echo "SKIP: $t missing (libnfs-utils)"; finish; exit 0; }
done

CLIENT="$CFS_BUILD/tests/nfs/cfs-nfs3-test"
if [ ! -x "$CLIENT" ]; then
  # tests/nfs is not part of this build: compile the client here.
  CLIENT="$T_TMP/cfs-nfs3-test"
  # shellcheck disable=SC2046
  cc -std=gnu11 -O1 -o "$CLIENT" "$CFS_SRC/tests/nfs/nfs3_client.c" \
    $(pkg-config --cflags --libs libnfs) 2>"$T_TMP/cc.log" ||
    { bad "build the libnfs test client"; cat "$T_TMP/cc.log"; finish; exit 1; }
fi

EXP="$T_TMP/exp"
STATE="$T_TMP/state"
mkdir -p "$EXP/rootonly" "$EXP/userdir" "$EXP/open" "$STATE"
printf 'public' >"$EXP/public.txt"
printf 'secret' >"$EXP/secret.txt"
chmod 0644 "$EXP/public.txt"
chmod 0600 "$EXP/secret.txt"
chmod 0755 "$EXP/rootonly" "$EXP"
chmod 0777 "$EXP/open"
chown 1000:1000 "$EXP/userdir" 2>/dev/null

NP=$(free_port)
MP=$(free_port)
Q="nfsport=$NP&mountport=$MP&version=3"
URL="nfs://127.0.0.1/export?$Q"

gw() { # extra start options...
  start_gw start nfs --export "$EXP" --nfs-port "$NP" --mount-port "$MP" \
    --admin 127.0.0.1:0 --module-path "$CFS_MODULE_DIR" --state-dir "$STATE" "$@"
  wait_port "$NP" && wait_port "$MP"
}

# Run a client that prints "ok - "/"not ok - " lines; count them into ours.
counted() { # name, command...
  name=$1; shift
  "$@" >"$T_TMP/out" 2>&1
  rc=$?
  sed "s/^/  [$name] /" "$T_TMP/out"
  p=$(grep -c '^ok - ' "$T_TMP/out")
  f=$(grep -c '^not ok - ' "$T_TMP/out")
  T_PASS=$((T_PASS + p))
  T_FAIL=$((T_FAIL + f))
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then bad "$name exited with $rc"; fi
}

# ---- export with no root squash ----
if gw --no-root-squash; then ok "gateway serves NFS on $NP, MOUNT on $MP"; else bad "gateway start"; fi

out=$(timeout 20 nfs-ls "$URL" 2>&1)
case "$out" in *public.txt*) ok "nfs-ls lists the export" ;; *) bad "nfs-ls: $out" ;; esac
out=$(timeout 20 nfs-cat "nfs://127.0.0.1/export/public.txt?$Q" 2>&1)
[ "$out" = "public" ] && ok "nfs-cat public.txt" || bad "nfs-cat: $out"
head -c 3000001 /dev/urandom >"$T_TMP/up.bin"
timeout 30 nfs-cp "$T_TMP/up.bin" "nfs://127.0.0.1/export/up.bin?$Q" >/dev/null 2>&1
check "nfs-cp upload is byte for byte" cmp "$T_TMP/up.bin" "$EXP/up.bin"
timeout 30 nfs-cp "nfs://127.0.0.1/export/up.bin?$Q" "$T_TMP/down.bin" >/dev/null 2>&1
check "nfs-cp download is byte for byte" cmp "$T_TMP/up.bin" "$T_TMP/down.bin"

counted suite timeout 120 "$CLIENT" suite "$URL"
counted nonroot timeout 60 "$CLIENT" nonroot "$URL&uid=1000&gid=1000"
counted wire timeout 120 $PY "$CFS_SRC/tests/nfs/nfs3_wire.py" 127.0.0.1 "$NP" "$MP" /export

# ---- NLM locks between two clients (the grace period is checked after the restart) ----
printf 'lock me' >"$EXP/lockme.txt"
counted nlm timeout 60 $PY "$CFS_SRC/tests/nfs/nlm_wire.py" locks 127.0.0.1 "$NP" "$MP" /export lockme.txt

# ---- handles survive a restart; a deleted file's handle is stale ----
printf 'keep' >"$EXP/keep.txt"
printf 'gone' >"$EXP/gone.txt"
counted savefh "$CLIENT" savefh "$URL" "$T_TMP/fh.keep" /keep.txt
counted savefh "$CLIENT" savefh "$URL" "$T_TMP/fh.gone" /gone.txt
stop_gw
check "gateway exits 0 on SIGTERM" test "${GW_RC:-1}" -eq 0
rm -f "$EXP/gone.txt"
if gw --no-root-squash; then ok "gateway restarted"; else bad "gateway restart"; fi
counted restart "$CLIENT" checkfh "$URL" "$T_TMP/fh.keep"
counted restart "$CLIENT" checkfh "$URL" "$T_TMP/fh.gone" stale
counted nlm-grace timeout 60 $PY "$CFS_SRC/tests/nfs/nlm_wire.py" grace 127.0.0.1 "$NP" "$MP" /export lockme.txt
stop_gw

# ---- root squash (the default of start nfs) ----
if gw; then ok "gateway with root squash"; else bad "gateway with root squash"; fi
counted squash timeout 60 "$CLIENT" squash "$URL"
stop_gw

# ---- read-only export ----
if gw --read-only --no-root-squash; then ok "gateway with a read-only export"; else bad "ro gateway"; fi
counted ro timeout 60 "$CLIENT" ro "$URL"
check "read-only export: nothing was created" test ! -e "$EXP/new.txt"
stop_gw

# ---- rpcbind registration (when an rpcbind binary exists and port 111 is free) ----
pmap_has() { # prog port -> yes (mapped to port), taken (to another port), no
  $PY - "$1" "$2" <<'EOF'
import socket, struct, sys
u32 = lambda v: struct.pack(">I", v)
prog, port = int(sys.argv[1]), int(sys.argv[2])
m = u32(7) + u32(0) + u32(2) + u32(100000) + u32(2) + u32(4) + u32(0) * 4  # PMAPPROC_DUMP
s = socket.create_connection(("127.0.0.1", 111), timeout=3)
s.sendall(u32(0x80000000 | len(m)) + m)
r = b""
while True:
    h = s.recv(4, socket.MSG_WAITALL)
    n = struct.unpack(">I", h)[0]
    r += s.recv(n & 0x7FFFFFFF, socket.MSG_WAITALL)
    if n & 0x80000000:
        break
at, found, other = 24, False, False
while at + 4 <= len(r) and struct.unpack(">I", r[at:at + 4])[0] == 1:
    p, v, pr, po = struct.unpack(">IIII", r[at + 4:at + 20])
    found |= (p, pr, po) == (prog, 6, port)
    other |= p == prog and pr == 6 and po != port
    at += 20
print("yes" if found else "taken" if other else "no")
EOF
}
if command -v rpcbind >/dev/null 2>&1 &&
   ! $PY -c 'import socket; socket.create_connection(("127.0.0.1",111),timeout=1)' 2>/dev/null; then
  rpcbind -f >"$T_TMP/rpcbind.log" 2>&1 &  # no -w: no state from an earlier run
  RPCB_PID=$!
  sleep 0.5
  if gw --no-root-squash; then
    # Another gateway started meanwhile (parallel tests) may own a mapping: rpcbind lets
    # only the owner replace it, so "taken" is not our failure.
    for m in "100003 $NP NFS" "100005 $MP MOUNT" "100021 $NP NLM"; do
      set -- $m
      case $(pmap_has "$1" "$2") in
        yes) ok "rpcbind: $3 registered on $2" ;;
        taken) echo "SKIP: rpcbind: $3 is registered by another server" ;;
        *) bad "rpcbind: $3 not registered" ;;
      esac
    done
    stop_gw
    check "rpcbind: unregistered on stop" test "$(pmap_has 100003 "$NP")" != yes
  else
    bad "gateway start with rpcbind"
  fi
  kill "$RPCB_PID" 2>/dev/null
  wait "$RPCB_PID" 2>/dev/null
else
  echo "SKIP: rpcbind registration (no rpcbind binary, or port 111 in use)"
fi

if grep -q "AddressSanitizer\|runtime error" "$T_TMP/gw.log"; then
  bad "sanitizer reports in the gateway log"
fi
finish
