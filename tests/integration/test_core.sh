# tests/integration/test_core.sh - the real binary: CLI, validate-config with file:line,
# admin HTTP (/health, /ready, /metrics through promtool), malformed admin requests,
# SIGHUP reload (invalid config keeps the old generation; a valid one moves it on and
# changes the log level), `metrics` summary, clean SIGTERM.
. "$(dirname "$0")/lib.sh"

conf=$T_TMP/conf
mkdir -p "$conf" "$T_TMP/data" "$T_TMP/state"
admin_port=$(free_port)
write_conf() { # log_level
  cat >"$conf/gateway.conf" <<EOC
gateway = { admin = "127.0.0.1:$admin_port"; state_dir = "$T_TMP/state"; log_level = "$1"; workers = 2; };
exports = ( { name = "data"; path = "$T_TMP/data"; } );
EOC
}
write_conf notice

# --- CLI basics
check "--version names the ABI" sh -c "'$CFS_BIN' --version | grep -q 'module ABI 1\.'"
check "--help lists validate-config" sh -c "'$CFS_BIN' --help | grep -q validate-config"
check "unknown command exits 2" sh -c "'$CFS_BIN' frobnicate; [ \$? -eq 2 ]"
check "modules lists the module path" sh -c "'$CFS_BIN' modules --module-path '$CFS_MODULE_DIR' | grep -q 'host ABI 1'"

# --- validate-config
check "validate-config accepts a good configuration" \
  sh -c "'$CFS_BIN' validate-config --config '$conf' --module-path '$CFS_MODULE_DIR' | grep -q 'configuration OK'"
mkdir -p "$T_TMP/bad"
printf 'gateway = {\n  workers = "two";\n  nonsense = 1;\n};\n' >"$T_TMP/bad/gateway.conf"
printf '\n\nghost = { enabled = true; };\n' >"$T_TMP/bad/50-ghost.conf"
"$CFS_BIN" validate-config --config "$T_TMP/bad" >"$T_TMP/v.out" 2>&1
rc=$?
check "validate-config exits 1 on errors" [ "$rc" -eq 1 ]
check "wrong type reported with file:line" grep -q "gateway.conf:2: gateway.workers: expected an integer, found a string" "$T_TMP/v.out"
check "unknown key reported with file:line" grep -q "gateway.conf:3: gateway: unknown directive 'nonsense'" "$T_TMP/v.out"
printf 'gateway = { workers = 1; };\n' >"$T_TMP/bad/gateway.conf"
"$CFS_BIN" validate-config --config "$T_TMP/bad" >"$T_TMP/v2.out" 2>&1
check "enabled module missing from the path is reported with file:line" grep -q "50-ghost.conf:3: module 'ghost'" "$T_TMP/v2.out"

# --- start, admin endpoints
start_gw start --config "$conf" --module-path "$CFS_MODULE_DIR"
if wait_http "http://127.0.0.1:$admin_port/health" 15; then ok "gateway starts and serves /health"; else bad "gateway starts"; fi
h=$(http_get "http://127.0.0.1:$admin_port/health")
check "/health is 200 JSON with generation 1" sh -c "echo '$h' | grep -q '^200 ' && echo '$h' | grep -q '\"generation\":1'"
check "/health names the version and uptime" sh -c "echo '$h' | grep -q '\"version\"' && echo '$h' | grep -q uptime_seconds"
r=$(http_get "http://127.0.0.1:$admin_port/ready")
check "/ready is 200 once started" sh -c "echo '$r' | grep -q '^200 '"
curl -s "http://127.0.0.1:$admin_port/metrics" >"$T_TMP/metrics.txt"
check "/metrics has the generation" grep -q '^cfs_config_generation 1' "$T_TMP/metrics.txt"
check "/metrics has process metrics" grep -q '^process_resident_memory_bytes ' "$T_TMP/metrics.txt"
if command -v promtool >/dev/null 2>&1; then
  check "promtool check metrics accepts /metrics" sh -c "promtool check metrics <'$T_TMP/metrics.txt'"
else
  bad "promtool not installed (scripts/install-deps.sh test installs prometheus)"
fi
check "unknown path is 404" sh -c "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$admin_port/nope | grep -q 404"
resp=$(printf 'GARBAGE\r\n\r\n' | $PY -c "
import socket,sys
s=socket.create_connection(('127.0.0.1',$admin_port)); s.sendall(sys.stdin.buffer.read()); s.settimeout(5)
print(s.recv(100).decode(errors='replace').split('\r\n')[0])")
check "malformed request gets 400" sh -c "echo '$resp' | grep -q ' 400 '"
check "admin still serves after garbage" wait_http "http://127.0.0.1:$admin_port/health" 2
check "metrics command prints a summary" sh -c "'$CFS_BIN' metrics --admin 127.0.0.1:$admin_port | grep -q cfs_config_generation"
check "metrics --raw prints the text format" sh -c "'$CFS_BIN' metrics --raw --admin 127.0.0.1:$admin_port | grep -q '^# TYPE cfs_config_generation gauge'"

# --- reload: an invalid configuration keeps generation 1
printf 'gateway = { workers = ;\n' >"$conf/gateway.conf"
kill -HUP "$GW_PID"
sleep 1
h=$(http_get "http://127.0.0.1:$admin_port/health")
check "invalid reload keeps generation 1" sh -c "echo '$h' | grep -q '\"generation\":1'"
check "failed reload is counted" sh -c "curl -s http://127.0.0.1:$admin_port/metrics | grep -q 'cfs_config_reloads_total{result=\"failure\"} 1'"
check "failed reload is logged" grep -q "reload refused" "$T_TMP/gw.log"
# --- a valid one moves to generation 2 and applies the log level
write_conf info
kill -HUP "$GW_PID"
sleep 1
h=$(http_get "http://127.0.0.1:$admin_port/health")
check "valid reload moves to generation 2" sh -c "echo '$h' | grep -q '\"generation\":2'"
check "successful reload is counted" sh -c "curl -s http://127.0.0.1:$admin_port/metrics | grep -q 'cfs_config_reloads_total{result=\"success\"} 1'"
check "log level change logged" grep -q "log level now info" "$T_TMP/gw.log"
check "log level change applied (info lines appear)" grep -q " info   \[gateway\] generation 2" "$T_TMP/gw.log"

# --- SIGTERM: clean exit
stop_gw
check "SIGTERM exits 0" [ "$GW_RC" -eq 0 ]
check "shutdown logged" grep -q "stopped" "$T_TMP/gw.log"
finish
