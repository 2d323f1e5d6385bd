# tests/integration/lib.sh - shared helpers of the integration tests (sourced).
# Env from ctest: CFS_BIN, CFS_BUILD, CFS_SRC, CFS_MODULE_DIR.
: "${CFS_BIN:?CFS_BIN not set}"
PY=/usr/bin/python3
T_PASS=0
T_FAIL=0
T_TMP=$(mktemp -d /tmp/cfs-it-XXXXXX)
GW_PID=""

ok()   { T_PASS=$((T_PASS + 1)); echo "ok   - $*"; }
bad()  { T_FAIL=$((T_FAIL + 1)); echo "FAIL - $*"; }
check() { # description, command...
  d=$1; shift
  if "$@" >/dev/null 2>&1; then ok "$d"; else bad "$d"; fi
}

# A free port below the kernel's ephemeral range: a port from that range can be taken
# as the source port of any outgoing connection while a test restarts its server.
free_port() {
  $PY - <<'EOF'
import random, socket
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
for _ in range(200):
    p = random.randint(10000, max(10001, lo - 1))
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", p))
        u.close()
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    break
EOF
}

wait_port() { # port: until a TCP connect to 127.0.0.1:port succeeds (10 s)
  $PY - "$1" <<'EOF'
import socket, sys, time
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
EOF
}

# http GET: prints "CODE BODY"
http_get() { # url
  curl -s -o "$T_TMP/body" -w '%{http_code}' --max-time 5 "$1" 2>/dev/null
  printf ' '
  cat "$T_TMP/body" 2>/dev/null
}

wait_http() { # url [seconds]
  n=0
  while [ $n -lt $((${2:-10} * 10)) ]; do
    curl -s -o /dev/null --max-time 1 "$1" 2>/dev/null && return 0
    if [ -n "$GW_PID" ] && ! kill -0 "$GW_PID" 2>/dev/null; then return 1; fi
    sleep 0.1
    n=$((n + 1))
  done
  return 1
}

start_gw() { # args... ; log in $T_TMP/gw.log
  "$CFS_BIN" "$@" >>"$T_TMP/gw.log" 2>&1 &
  GW_PID=$!
}

stop_gw() {
  [ -n "$GW_PID" ] || return 0
  kill -TERM "$GW_PID" 2>/dev/null
  n=0
  while kill -0 "$GW_PID" 2>/dev/null && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
  if kill -0 "$GW_PID" 2>/dev/null; then kill -KILL "$GW_PID" 2>/dev/null; fi
  wait "$GW_PID" 2>/dev/null
  GW_RC=$?
  GW_PID=""
  return 0
}

finish() {
  stop_gw
  if grep -q "ERROR: AddressSanitizer\|runtime error:\|LeakSanitizer" "$T_TMP/gw.log" 2>/dev/null; then
    bad "sanitizer report in the gateway log"
  fi
  if [ "$T_FAIL" -ne 0 ]; then
    echo "--- gateway log (last 60 lines)"
    tail -60 "$T_TMP/gw.log" 2>/dev/null
  fi
  rm -rf "$T_TMP"
  echo "$T_PASS passed, $T_FAIL failed"
  [ "$T_FAIL" -eq 0 ]
}
