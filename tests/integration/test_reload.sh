# tests/integration/test_reload.sh - SIGHUP reload with clients connected: a connection
# opened before the reload keeps working after it and sees the new configuration; no
# new connection is refused during the reload (the listener fd is carried over);
# disabling the module closes its port, enabling it again opens it; a broken
# configuration leaves everything as it was.
. "$(dirname "$0")/lib.sh"

: "${CFS_RELOAD_MODULE_DIR:?}"
conf=$T_TMP/conf
mkdir -p "$conf"
admin=$(free_port)
port=$(free_port)
cat >"$conf/gateway.conf" <<EOC
gateway = { admin = "127.0.0.1:$admin"; state_dir = "$T_TMP/state"; workers = 2; };
exports = ( { name = "d"; path = "$T_TMP/data"; } );
EOC
rl_conf() { # enabled value
  printf 'rltest = { enabled = %s; value = %s; bind = "127.0.0.1:%s"; };\n' "$1" "$2" "$port" \
    >"$conf/10-rltest.conf"
}
rl_conf true 1
start_gw start --config "$conf" --module-path "$CFS_RELOAD_MODULE_DIR"
wait_http "http://127.0.0.1:$admin/ready" 15 || bad "gateway did not become ready"

cat >"$T_TMP/client.py" <<'EOPY'
import os, signal, socket, sys, threading, time
port, pid, conf = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def ask(s):
    s.sendall(b"GET\n")
    buf = b""
    while not buf.endswith(b"\n"):
        d = s.recv(100)
        if not d: raise EOFError("closed")
        buf += d
    return buf.strip().decode()
def write(enabled, value, mode="inplace"):
    with open(conf + "/10-rltest.conf", "w") as f:
        f.write('rltest = { enabled = %s; value = %d; bind = "127.0.0.1:%d"; reload_mode = "%s"; };\n'
                % (enabled, value, port, mode))
res = {}
old = socket.create_connection(("127.0.0.1", port), timeout=5)
res["before"] = ask(old)
# hammer new connections while reloading
refused = [0]; made = [0]; stop = [False]
def hammer():
    while not stop[0]:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5); ask(s); s.close(); made[0] += 1
        except OSError:
            refused[0] += 1
        time.sleep(0.005)
t = threading.Thread(target=hammer); t.start()
write("true", 2); os.kill(pid, signal.SIGHUP); time.sleep(1.0)
stop[0] = True; t.join()
res["after_same_conn"] = ask(old)
s = socket.create_connection(("127.0.0.1", port), timeout=5); res["after_new_conn"] = ask(s); s.close()
res["refused_during_reload"] = refused[0]; res["made_during_reload"] = made[0]
# a restart (module answers ENOTSUP): stop + start reuse the parked listener fd
refused[0] = 0; made[0] = 0; stop[0] = False
t = threading.Thread(target=hammer); t.start()
write("true", 5, "restart"); os.kill(pid, signal.SIGHUP); time.sleep(1.0)
stop[0] = True; t.join()
s = socket.create_connection(("127.0.0.1", port), timeout=5); res["after_restart"] = ask(s); s.close()
res["refused_during_restart"] = refused[0]
write("false", 2); os.kill(pid, signal.SIGHUP); time.sleep(1.0)
try:
    socket.create_connection(("127.0.0.1", port), timeout=2).close(); res["disabled_port"] = "open"
except OSError:
    res["disabled_port"] = "closed"
write("true", 3); os.kill(pid, signal.SIGHUP); time.sleep(1.0)
s = socket.create_connection(("127.0.0.1", port), timeout=5); res["reenabled"] = ask(s); s.close()
for k, v in res.items(): print("%s=%s" % (k, v))
EOPY
$PY "$T_TMP/client.py" "$port" "$GW_PID" "$conf" >"$T_TMP/res" 2>&1
cat "$T_TMP/res"
check "value before reload" grep -qx "before=1" "$T_TMP/res"
check "connection opened before the reload still works and sees the new value" grep -qx "after_same_conn=2" "$T_TMP/res"
check "new connection after reload sees the new value" grep -qx "after_new_conn=2" "$T_TMP/res"
check "no connection refused during the reload" grep -qx "refused_during_reload=0" "$T_TMP/res"
check "connections were made during the reload" sh -c "grep -q '^made_during_reload=[1-9]' '$T_TMP/res'"
check "disabling the module closes its port" grep -qx "disabled_port=closed" "$T_TMP/res"
check "enabling it again serves again" grep -qx "reenabled=3" "$T_TMP/res"
check "restart reload serves the new value" grep -qx "after_restart=5" "$T_TMP/res"
check "no connection refused during the restart" grep -qx "refused_during_restart=0" "$T_TMP/res"
check "listener fd kept across the restart (logged)" grep -q "kept across reload" "$T_TMP/gw.log"
h=$(http_get "http://127.0.0.1:$admin/health")
check "generation is 5 after four reloads" sh -c "echo '$h' | grep -q '\"generation\":5'"
printf 'rltest = { enabled = true; value = "x"; };\n' >"$conf/10-rltest.conf"
kill -HUP "$GW_PID"; sleep 0.5
h=$(http_get "http://127.0.0.1:$admin/health")
check "broken configuration: still generation 5" sh -c "echo '$h' | grep -q '\"generation\":5'"
check "broken configuration logged with file:line" grep -q "10-rltest.conf:1: rltest.value: expected an integer" "$T_TMP/gw.log"
finish
