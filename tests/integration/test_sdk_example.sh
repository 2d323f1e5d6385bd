#!/bin/sh
# tests/integration/test_sdk_example.sh - the SDK as a third party sees it: install the
# build into a temporary prefix, build sdk/examples/echo out of tree against that prefix
# alone (CMake package, then pkg-config), run the gateway with the example module from
# --module-path and talk its protocol; /health lists it, /metrics has its series, a
# SIGHUP reload applies in place (an open connection keeps working, a changed bind moves
# the listener), and SIGTERM stops everything.
# Env (ctest): CFS_BIN, CFS_BUILD, CFS_SRC.
set -u
: "${CFS_SRC:?CFS_SRC not set}"
: "${CFS_BUILD:?CFS_BUILD not set}"
. "$CFS_SRC/tests/integration/lib.sh"
trap 'stop_gw' EXIT INT TERM

PREFIX=$T_TMP/prefix
ECHO_SRC=$CFS_SRC/sdk/examples/echo

# ---- 1. install the SDK ---------------------------------------------------------------
if cmake --install "$CFS_BUILD" --prefix "$PREFIX" >"$T_TMP/install.log" 2>&1; then
  ok "cmake --install into a temporary prefix"
else
  bad "cmake --install into a temporary prefix"; cat "$T_TMP/install.log"
fi
PC=$(find "$PREFIX" -name cfs-gateway-sdk.pc | head -1)
CFG=$(find "$PREFIX" -name cfs-gateway-sdkConfig.cmake | head -1)
check "pkg-config file installed" test -n "$PC"
check "CMake package installed" test -n "$CFG"
check "headers installed (cfs/cfs.h)" test -f "$PREFIX/include/cfs/cfs.h"
check "libcfsproto.a installed" test -n "$(find "$PREFIX" -name libcfsproto.a)"
check "symbols-in-versions installed" test -n "$(find "$PREFIX" -name symbols-in-versions)"
PCDIR=$(dirname "${PC:-/nonexistent/x}")
check "pkg-config: ABI major from the installed .pc" \
  test "$(PKG_CONFIG_PATH=$PCDIR pkg-config --variable=abi_major cfs-gateway-sdk)" = \
       "$(sed -n 's/^#define CFS_ABI_MAJOR \([0-9]*\).*/\1/p' "$CFS_SRC/sdk/include/cfs/abi.h")"
# Include directories of a compile command line / pkg-config output, resolved: the SDK's
# must be the prefix's, none may be the source tree's.
cat >"$T_TMP/incs.py" <<'EOF'
import json, os, shlex, sys
mode, what, prefix, src = sys.argv[1:5]
if mode == "cc":
    args = [a for e in json.load(open(what)) for a in shlex.split(e["command"])]
else:
    args = shlex.split(what)
dirs, take = [], False
for a in args:
    if take:
        dirs.append(a)
        take = False
    elif a in ("-I", "-isystem"):
        take = True
    elif a.startswith("-I"):
        dirs.append(a[2:])
    elif a.startswith("-isystem"):
        dirs.append(a[8:])
real = [os.path.realpath(d) for d in dirs]
pre, srcr = os.path.realpath(prefix) + "/include", os.path.realpath(src)
print(real)
sys.exit(0 if pre in real and not any(r == srcr or r.startswith(srcr + "/") for r in real) else 1)
EOF
check "pkg-config: cflags point into the prefix" $PY "$T_TMP/incs.py" pc \
  "$(PKG_CONFIG_PATH=$PCDIR pkg-config --cflags cfs-gateway-sdk)" "$PREFIX" "$CFS_SRC"

# ---- 2. build the example out of tree against the prefix alone ------------------------
build_echo() { # dir, extra cmake args...
  dir=$1; shift
  env -u CMAKE_PREFIX_PATH PKG_CONFIG_PATH="$PCDIR" \
    cmake -S "$ECHO_SRC" -B "$dir" -DCMAKE_PREFIX_PATH="$PREFIX" \
      -DCMAKE_C_FLAGS=-Werror -DCMAKE_EXPORT_COMPILE_COMMANDS=ON "$@" \
      >"$dir.log" 2>&1 &&
    cmake --build "$dir" >>"$dir.log" 2>&1
}
ECHO_CM=$T_TMP/echo-cmake
ECHO_PC=$T_TMP/echo-pkgconfig
if build_echo "$ECHO_CM"; then ok "echo builds with find_package(cfs-gateway-sdk)"
else bad "echo builds with find_package(cfs-gateway-sdk)"; cat "$ECHO_CM.log"; fi
check "  ... using the CMake package" grep -q "via CMake package" "$ECHO_CM.log"
if build_echo "$ECHO_PC" -DECHO_USE_PKGCONFIG=ON; then ok "echo builds with pkg-config"
else bad "echo builds with pkg-config"; cat "$ECHO_PC.log"; fi
check "  ... using pkg-config" grep -q "via pkg-config" "$ECHO_PC.log"
for ed in "$ECHO_CM" "$ECHO_PC"; do
  check "$(basename "$ed"): headers from the prefix, not the source tree" \
    $PY "$T_TMP/incs.py" cc "$ed/compile_commands.json" "$PREFIX" "$CFS_SRC"
  syms=$(nm -D --defined-only "$ed/mod_echo.so" 2>/dev/null | awk '{print $3}' | grep -v '^_' |
         tr '\n' ' ')
  check "$(basename "$ed"): mod_echo.so exports only cfs_module (found: $syms)" \
    test "$syms" = "cfs_module "
done

# ---- 3. the gateway's module scan accepts both ---------------------------------------
for ed in "$ECHO_CM" "$ECHO_PC"; do
  "$CFS_BIN" modules --module-path "$ed" >"$T_TMP/modules.out" 2>&1
  check "cfs-gateway modules --module-path $(basename "$ed") lists echo, ABI 1.x" \
    sh -c "grep '$ed/mod_echo.so' '$T_TMP/modules.out' | grep -q '^echo .*ABI 1\.'"
done

# ---- 4. run it --------------------------------------------------------------------------
APORT=$(free_port)
EPORT=$(free_port)
EPORT2=$(free_port)
mkdir -p "$T_TMP/conf" "$T_TMP/state"
cat >"$T_TMP/conf/gateway.conf" <<EOF
gateway: {
  workers = 2;
  log_level = "info";
  state_dir = "$T_TMP/state";
  drain_ms = 500;
};
EOF
write_echo_conf() { # port max_line
  cat >"$T_TMP/conf/echo.conf.tmp" <<EOF
echo: {
  enabled = true;
  bind = "127.0.0.1:$1";
  max_line = $2;
};
EOF
  mv "$T_TMP/conf/echo.conf.tmp" "$T_TMP/conf/echo.conf"
}
write_echo_conf "$EPORT" 1024

start_gw start --config "$T_TMP/conf" --module-path "$ECHO_CM" --admin "127.0.0.1:$APORT" \
  --state-dir "$T_TMP/state"
if wait_http "http://127.0.0.1:$APORT/health" 15; then ok "gateway up with mod_echo"
else bad "gateway up with mod_echo"; fi
check "loaded from --module-path" grep -q "$ECHO_CM/mod_echo.so" "$T_TMP/gw.log"

# The client: a python script driving one or more connections; prints what it checked.
cat >"$T_TMP/client.py" <<'EOF'
import re, socket, sys, time

def conn(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    return s, s.makefile("rb")

def cmd(c, line):
    s, f = c
    s.sendall(line.encode() + b"\n")
    return f.readline().decode().rstrip("\r\n")

def expect(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    return cond

port = int(sys.argv[2])
mode = sys.argv[1]
good = True
if mode == "basic":
    c = conn(port)
    good &= expect(cmd(c, "ECHO hello world") == "hello world", "ECHO hello world -> hello world")
    good &= expect(cmd(c, "ECHO") == "", "ECHO -> empty line")
    c[0].sendall(b"ECHO crlf\r\n")
    good &= expect(c[1].readline() == b"crlf\n", "CRLF line ends accepted")
    good &= expect(cmd(c, "NOPE") == "ERR unknown command", "unknown command -> ERR")
    st = cmd(c, "STAT")
    m = re.fullmatch(r"connections=(\d+) active=(\d+) bytes_in=(\d+) bytes_out=(\d+) uptime_ms=(\d+)", st)
    good &= expect(m is not None, "STAT format: " + st)
    if m:
        good &= expect(int(m.group(1)) >= 1 and int(m.group(2)) >= 1, "STAT counts this connection")
        good &= expect(int(m.group(3)) > 20 and int(m.group(4)) > 10, "STAT counts bytes")
    c2 = conn(port)
    st2 = cmd(c2, "STAT")
    m2 = re.match(r"connections=(\d+) active=(\d+)", st2)
    good &= expect(m and m2 and int(m2.group(1)) == int(m.group(1)) + 1 and int(m2.group(2)) == 2,
                   "a second connection is counted: " + st2)
    good &= expect(cmd(c2, "QUIT") == "BYE", "QUIT -> BYE")
    good &= expect(c2[1].readline() == b"", "server closes after BYE")
    good &= expect(cmd(c, "ECHO still here") == "still here", "first connection unaffected")
    good &= expect(cmd(c, "QUIT") == "BYE", "QUIT on the first")
elif mode == "longline":
    c = conn(port)
    good &= expect(cmd(c, "ECHO " + "x" * int(sys.argv[3])) == "ERR line too long",
                   "line over max_line -> ERR line too long")
    good &= expect(c[1].readline() == b"", "and the connection is closed")
elif mode == "hold":
    # open a connection, signal readiness with a file, wait for the go file, use it again
    c = conn(port)
    good &= expect(cmd(c, "ECHO before") == "before", "held connection works before reload")
    open(sys.argv[3], "w").close()
    for _ in range(300):
        try:
            open(sys.argv[4]).close()
            break
        except OSError:
            time.sleep(0.05)
    good &= expect(cmd(c, "ECHO after") == "after", "held connection works after reload")
    good &= expect(cmd(c, "ECHO " + "y" * 40) == "ERR line too long",
                   "held connection sees the reloaded max_line")
elif mode == "refused":
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        good &= expect(False, "old port no longer accepts")
    except OSError:
        good &= expect(True, "old port no longer accepts")
sys.exit(0 if good else 1)
EOF
client() { # mode port [args]: one ok/FAIL per check, folded into our counts
  $PY "$T_TMP/client.py" "$@" >"$T_TMP/client.out" 2>&1
  while IFS= read -r line; do
    case $line in
      "ok   "*) ok "${line#ok   }" ;;
      "FAIL "*) bad "${line#FAIL }" ;;
      *) bad "client: $line" ;;
    esac
  done <"$T_TMP/client.out"
}

client basic "$EPORT"
client longline "$EPORT" 2000

HEALTH=$(http_get "http://127.0.0.1:$APORT/health")
echo "$HEALTH" >"$T_TMP/health.json"
check "/health lists module echo, started" $PY -c '
import json, sys
code, body = open(sys.argv[1]).read().split(" ", 1)
h = json.loads(body)
m = [x for x in h["modules"] if x["name"] == "echo"]
assert code == "200" and m and m[0]["state"] == "started", h
assert "listening on port" in m[0].get("detail", ""), m
' "$T_TMP/health.json"
check "/health has the echo health check" grep -q '"echo"' "$T_TMP/health.json"
http_get "http://127.0.0.1:$APORT/metrics" >"$T_TMP/metrics.txt"
check "/metrics: cfs_echo_commands_total{command=\"echo\"}" \
  grep -q '^cfs_echo_commands_total{command="echo"} [1-9]' "$T_TMP/metrics.txt"
check "/metrics: cfs_echo_connections gauge" grep -q '^cfs_echo_connections ' "$T_TMP/metrics.txt"
check "/metrics: cfs_echo_bytes_total" grep -q '^cfs_echo_bytes_total{direction="in"} [1-9]' \
  "$T_TMP/metrics.txt"

# ---- 5. reload in place: same port, smaller max_line; a held connection survives -------
rm -f "$T_TMP/held" "$T_TMP/go"
$PY "$T_TMP/client.py" hold "$EPORT" "$T_TMP/held" "$T_TMP/go" >"$T_TMP/hold.out" 2>&1 &
HOLD=$!
n=0; while [ ! -f "$T_TMP/held" ] && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
write_echo_conf "$EPORT" 32
kill -HUP "$GW_PID"
n=0
while [ $n -lt 100 ]; do
  http_get "http://127.0.0.1:$APORT/health" | grep -q '"generation":2' && break
  sleep 0.1; n=$((n + 1))
done
check "SIGHUP: generation 2" sh -c "test $n -lt 100"
check "echo reloaded in place" grep -q "reloaded in place" "$T_TMP/gw.log"
touch "$T_TMP/go"
wait "$HOLD"
while IFS= read -r line; do
  case $line in "ok   "*) ok "${line#ok   }" ;; *) bad "$line" ;; esac
done <"$T_TMP/hold.out"

# ---- 6. reload with a new bind: the listener moves -------------------------------------
write_echo_conf "$EPORT2" 32
kill -HUP "$GW_PID"
n=0
while [ $n -lt 100 ]; do
  http_get "http://127.0.0.1:$APORT/health" | grep -q '"generation":3' && break
  sleep 0.1; n=$((n + 1))
done
check "SIGHUP: generation 3" sh -c "test $n -lt 100"
$PY - "$EPORT2" >"$T_TMP/p2.out" 2>&1 <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"ECHO moved\n")
sys.exit(0 if s.makefile("rb").readline() == b"moved\n" else 1)
EOF
check "echo answers on the new port" test $? -eq 0
client refused "$EPORT"

# ---- 7. an invalid config is refused and the module keeps running -------------------
cat >"$T_TMP/conf/echo.conf" <<EOF
echo: { enabled = true; bind = "127.0.0.1:$EPORT2"; max_line = "many"; };
EOF
kill -HUP "$GW_PID"
sleep 1
check "bad max_line refused with file:line" grep -q "echo.conf:1" "$T_TMP/gw.log"
$PY - "$EPORT2" >"$T_TMP/p3.out" 2>&1 <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"ECHO alive\n")
sys.exit(0 if s.makefile("rb").readline() == b"alive\n" else 1)
EOF
check "echo still serves after the refused reload" test $? -eq 0

# ---- 8. stop -------------------------------------------------------------------------
stop_gw
check "SIGTERM: clean exit" test "${GW_RC:-1}" -eq 0
trap - EXIT INT TERM
finish
