#!/bin/sh
# tests/integration/test_backend.sh - the backend side of the namespace in the real
# gateway: backend pool, circuit breaker and health settings, users and quotas from
# gateway.conf (validate-config reports their errors with file:line); /ready 200 and the
# backend series in /metrics (promtool-clean); the export directory renamed away turns
# /ready 503 and cfs_backend_up 0, and back when restored; SIGHUP with new pool/breaker
# settings keeps serving, one with a bad users table is refused.
. "$(dirname "$0")/lib.sh"

conf=$T_TMP/conf
mkdir -p "$conf" "$T_TMP/data" "$T_TMP/state"
admin_port=$(free_port)
write_conf() { # max_per_node failure_threshold users-extra
  cat >"$conf/gateway.conf" <<EOC
gateway = { admin = "127.0.0.1:$admin_port"; state_dir = "$T_TMP/state"; workers = 2; };
backend = {
  metadata_servers = [ "local" ];
  connection_pool = { min_per_node = 1; max_per_node = $1; };
  circuit_breaker = { failure_threshold = $2; open_duration_ms = 2000; op_timeout_ms = 5000; };
  health = { interval_ms = 200; timeout_ms = 1000; };
};
exports = ( { name = "data"; path = "$T_TMP/data"; } );
users = (
  { name = "alice"; uid = 1000; gid = 1000; s3_access_key = "AKIAALICE0000001";
    s3_secret_key = "alicesecret"; }$3
);
quotas = (
  { export = "data"; bytes_hard = "1G"; files_hard = 100000; },
  { export = "data"; user = "alice"; bytes_soft = "10M"; bytes_hard = "20M"; }
);
EOC
}
write_conf 8 5 ""
printf 'hello' >"$T_TMP/data/existing"

ready_code() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$admin_port/ready"
}
wait_ready() { # code seconds
  n=0
  while [ $n -lt $(($2 * 10)) ]; do
    [ "$(ready_code)" = "$1" ] && return 0
    sleep 0.1
    n=$((n + 1))
  done
  return 1
}
metrics() { curl -s --max-time 5 "http://127.0.0.1:$admin_port/metrics" >"$T_TMP/metrics.txt"; }
wait_metric() { # regex seconds
  n=0
  while [ $n -lt $(($2 * 10)) ]; do
    metrics
    grep -q "$1" "$T_TMP/metrics.txt" && return 0
    sleep 0.1
    n=$((n + 1))
  done
  return 1
}

# --- validate-config: users and quotas are checked with file:line
check "validate-config accepts backend, users and quotas" \
  sh -c "'$CFS_BIN' validate-config --config '$conf' --module-path '$CFS_MODULE_DIR' | grep -q 'configuration OK'"
mkdir -p "$T_TMP/bad"
cat >"$T_TMP/bad/gateway.conf" <<EOC
gateway = { state_dir = "$T_TMP/state"; };
exports = ( { name = "data"; path = "$T_TMP/data"; } );
users = (
  { name = "bob"; gid = 1; }
);
quotas = (
  { export = "nothere"; bytes_hard = 1; },
  { export = "data"; user = "carol"; files_hard = 1; }
);
EOC
"$CFS_BIN" validate-config --config "$T_TMP/bad" >"$T_TMP/v.out" 2>&1
rc=$?
check "validate-config exits 1 on bad users/quotas" [ "$rc" -eq 1 ]
check "a user without uid is reported with file:line" grep -q "gateway.conf:4:.*uid" "$T_TMP/v.out"
check "a quota of an unknown export is reported with file:line" \
  grep -q "gateway.conf:7: quotas\[0\].export: expected an export" "$T_TMP/v.out"
check "a quota of an unknown user is reported with file:line" \
  grep -q "gateway.conf:8: quotas\[1\].user: expected a user" "$T_TMP/v.out"

# --- start: ready, backend metrics
start_gw start --config "$conf" --module-path "$CFS_MODULE_DIR"
if wait_http "http://127.0.0.1:$admin_port/health" 15; then ok "gateway starts"; else bad "gateway starts"; fi
check "/ready is 200" wait_ready 200 5
h=$(http_get "http://127.0.0.1:$admin_port/health")
check "/health has the backends check" sh -c "echo '$h' | grep -q '\"backends\"'"
check "/health says local is up" sh -c "echo '$h' | grep -q 'local: up'"
metrics
check "cfs_backend_up{node=local} is 1" grep -q '^cfs_backend_up{node="local"} 1' "$T_TMP/metrics.txt"
check "pool series per node" grep -q '^cfs_backend_pool_in_use{node="local"}' "$T_TMP/metrics.txt"
check "pool idle series (min_per_node = 1)" grep -q '^cfs_backend_pool_idle{node="local"} 1' "$T_TMP/metrics.txt"
check "pool wait histogram" grep -q '^cfs_backend_pool_wait_seconds_bucket{node="local"' "$T_TMP/metrics.txt"
check "breaker state series (closed)" grep -q '^cfs_backend_breaker_state{node="local"} 0' "$T_TMP/metrics.txt"
check "probe latency histogram" grep -q '^cfs_backend_probe_seconds_count{node="local"}' "$T_TMP/metrics.txt"
check "quota usage recomputed at start (5 bytes)" grep -q '^cfs_quota_used_bytes{export="data"} 5$' "$T_TMP/metrics.txt"
check "quota limit series" grep -q '^cfs_quota_limit_bytes{export="data",type="hard"} 1073741824' "$T_TMP/metrics.txt"
check "lock manager series" grep -q '^cfs_locks_held{kind="lease"}' "$T_TMP/metrics.txt"
if command -v promtool >/dev/null 2>&1; then
  check "promtool check metrics accepts /metrics" sh -c "promtool check metrics <'$T_TMP/metrics.txt'"
else
  bad "promtool not installed (scripts/install-deps.sh test installs prometheus)"
fi

# --- the export directory goes away: not ready; back: ready
mv "$T_TMP/data" "$T_TMP/data.away"
check "/ready turns 503 when the export root is gone" wait_ready 503 5
check "cfs_backend_up{node=local} turns 0" wait_metric '^cfs_backend_up{node="local"} 0' 5
h=$(http_get "http://127.0.0.1:$admin_port/ready")
check "/ready says why" sh -c "echo '$h' | grep -q 'local: down'"
mv "$T_TMP/data.away" "$T_TMP/data"
check "/ready is 200 again when restored" wait_ready 200 5
check "cfs_backend_up{node=local} is 1 again" wait_metric '^cfs_backend_up{node="local"} 1' 5
check "node down and up logged" sh -c "grep -q 'backend node local is down' '$T_TMP/gw.log' && grep -q 'backend node local is up' '$T_TMP/gw.log'"

# --- reload: new pool and breaker settings in place
write_conf 4 3 ", { name = \"bob\"; uid = 1001; gid = 1001; }"
kill -HUP "$GW_PID"
n=0
until grep -q "reload done: generation 2" "$T_TMP/gw.log" || [ $n -ge 50 ]; do sleep 0.1; n=$((n + 1)); done
check "reload with new pool/breaker settings succeeds" grep -q "reload done: generation 2" "$T_TMP/gw.log"
check "still ready after the reload" wait_ready 200 5
metrics
check "the pool keeps its node series" grep -q '^cfs_backend_up{node="local"} 1' "$T_TMP/metrics.txt"
# a bad users table: refused, generation 2 keeps running
write_conf 4 3 ", { name = \"alice\"; uid = 1002; gid = 1002; }"
kill -HUP "$GW_PID"
sleep 1
check "reload with a duplicate user is refused" grep -q "reload refused" "$T_TMP/gw.log"
h=$(http_get "http://127.0.0.1:$admin_port/health")
check "generation 2 keeps running" sh -c "echo '$h' | grep -q '\"generation\":2'"
check "ready after the refused reload" wait_ready 200 5

stop_gw
check "clean exit on SIGTERM" [ "$GW_RC" -eq 0 ]
finish
