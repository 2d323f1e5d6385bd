#!/bin/sh
# scripts/bench/core.sh - the core host's numbers: idle RSS with no modules and with the
# example echo module, start-up time to /ready, and admin /health requests/s with wrk
# (10 s, 2 threads, 16 connections). Median of RUNS (default 5) start-ups.
# Usage: scripts/bench/core.sh [BUILD_DIR]
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$src/build}
bin=$build/core/cfs-gateway
runs=${RUNS:-5}
tmp=$(mktemp -d /tmp/cfs-bench-core-XXXXXX)
trap 'kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

conf() { # dir admin_port with_echo
  mkdir -p "$1"
  cat >"$1/gateway.conf" <<EOC
gateway = { admin = "127.0.0.1:$2"; state_dir = "$tmp/state"; log_level = "warn"; };
exports = ( { name = "d"; path = "$tmp/data"; } );
EOC
  if [ "$3" = 1 ]; then
    echo "echo = { enabled = true; bind = \"127.0.0.1:$(port)\"; };" >"$1/echo.conf"
  fi
}

measure() { # label with_echo
  rss_list=""
  ms_list=""
  for i in $(seq "$runs"); do
    ap=$(port)
    conf "$tmp/c$i" "$ap" "$2"
    t0=$(date +%s%N)
    "$bin" start --config "$tmp/c$i" --module-path "$build/tests/echo" --module-path "$build/modules" 2>"$tmp/log" &
    pid=$!
    until curl -sf -o /dev/null "http://127.0.0.1:$ap/ready" 2>/dev/null; do sleep 0.002; done
    t1=$(date +%s%N)
    sleep 1
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
    ms_list="$ms_list $(( (t1 - t0) / 1000000 ))"
    rss_list="$rss_list $rss"
    last_port=$ap
    if [ "$i" -lt "$runs" ]; then kill "$pid"; wait "$pid" 2>/dev/null || true; fi
  done
  echo "$label: idle RSS $(echo $rss_list | tr ' ' '\n' | median) KiB, start to /ready $(echo $ms_list | tr ' ' '\n' | median) ms (median of $runs; runs:$ms_list ms)"
}

label="no modules"; measure "$label" 0
if command -v wrk >/dev/null; then
  wrk -t2 -c16 -d10s "http://127.0.0.1:$last_port/health" >"$tmp/wrk" 2>&1 || true
  echo "admin /health with wrk -t2 -c16 -d10s: $(awk '/Requests\/sec/ {print $2}' "$tmp/wrk") requests/s, latency $(awk '/Latency/ {print $2 " avg, " $4 " max"}' "$tmp/wrk")"
fi
kill "$pid"; wait "$pid" 2>/dev/null || true
if [ -f "$build/tests/echo/mod_echo.so" ]; then
  label="with echo module"; measure "$label" 1
  kill "$pid"; wait "$pid" 2>/dev/null || true
else
  echo "with echo module: skipped (no $build/tests/echo/mod_echo.so)"
fi
