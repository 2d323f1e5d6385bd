#!/bin/sh
# scripts/bench/nfs.sh - NFSv3 benchmark: NFS-Ganesha (Debian nfs-ganesha + nfs-ganesha-vfs,
# run by hand in the foreground with its own config, pid, log and recovery dir, NFSv3 only,
# on high ports of 127.0.0.1) against cfs-gateway (`start nfs`), both exporting a directory
# of the same local disk, both driven by the same libnfs client (scripts/bench/nfs/nfsbench.c,
# asynchronous, DEPTH requests in flight). Each workload runs alternately against both
# servers, RUNS times; prints medians, the ratios the goals are stated in, and the physical
# limits: the disk (local dd with conv=fdatasync, cat of the file, the small files made
# locally), and one loopback TCP connection carrying the file (scripts/bench/nfs/tcpstream.c).
#
# usage: scripts/bench/nfs.sh [BUILD_DIR]          (default: $CFS_BUILD, else ./build)
# env:   RUNS (3), DEPTH (16), MIB (1024), SMALL (2000), DIRN (10000), CREATES (10000),
#        WORKERS (gateway worker loops; default one per core), TMPDIR (work dir parent;
#        default /var/tmp: it must be a disk, not tmpfs), KEEP=1 keeps the work dir,
#        PERF=1 adds the servers' CPU time, context switches, syscalls, page faults.
# Ganesha 4.3 refuses to start when it cannot register with rpcbind: when no rpcbind
# listens on port 111 the script starts Debian's rpcbind (no warm start), and stops it
# again as soon as Ganesha listens (Ganesha serves without it; the gateway then starts
# with no rpcbind and registers nothing). Everything started is stopped by PID on exit.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-${CFS_BUILD:-$top/build}}
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "nfs.sh: no build dir $1"; exit 1; }
BIN=${CFS_BIN:-$BUILD/core/cfs-gateway}
MODS=${CFS_MODULE_DIR:-$BUILD/modules}
RUNS=${RUNS:-3}
DEPTH=${DEPTH:-16}
MIB=${MIB:-1024}
SMALL=${SMALL:-2000}
DIRN=${DIRN:-10000}
CREATES=${CREATES:-10000}
PY=python3

command -v ganesha.nfsd >/dev/null || { echo "nfs.sh: ganesha.nfsd missing (scripts/install-deps.sh)"; exit 1; }
[ -x "$BIN" ] || { echo "nfs.sh: $BIN missing: build first"; exit 1; }
[ -f "$MODS/mod_nfs3.so" ] || { echo "nfs.sh: $MODS/mod_nfs3.so missing: build first"; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/cfs-bench-nfs-XXXXXX") || exit 1
PIDS=""   # everything we started, stopped in reverse order
RPCB=""   # our rpcbind, if we had to start one
RPCB_FILES="" # its warm-start files, removed when they were not there before
cleanup() {
  trap - EXIT INT TERM
  for p in $RPCB $PIDS; do kill -TERM "$p" 2>/dev/null; done
  n=0
  for p in $RPCB $PIDS; do
    while kill -0 "$p" 2>/dev/null && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
    kill -KILL "$p" 2>/dev/null
  done
  wait 2>/dev/null
  # shellcheck disable=SC2086
  [ -n "$RPCB_FILES" ] && rm -f $RPCB_FILES
  if [ "${KEEP:-0}" = 1 ]; then echo "nfs.sh: kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# shellcheck disable=SC2046
cc -std=gnu11 -O2 -Wall -Wextra -o "$WORK/nfsbench" "$top/scripts/bench/nfs/nfsbench.c" \
  $(pkg-config --cflags --libs libnfs) || exit 1
cc -std=gnu11 -O2 -Wall -Wextra -o "$WORK/tcpstream" "$top/scripts/bench/nfs/tcpstream.c" || exit 1
cc -std=gnu11 -O2 -Wall -Wextra -pthread -o "$WORK/smallfiles" \
  "$top/scripts/bench/nfs/smallfiles.c" || exit 1

free_port() {
  $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
port_open() {
  $PY -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),timeout=1).close()' \
    "$1" 2>/dev/null
}
wait_port() { # port pid
  n=0
  while ! port_open "$1"; do
    kill -0 "$2" 2>/dev/null || return 1
    n=$((n + 1)); [ $n -gt 150 ] && return 1
    sleep 0.1
  done
}
now() { $PY -c 'import time; print("%.6f" % time.monotonic())'; }

mkdir -p "$WORK/g" "$WORK/c" "$WORK/state" "$WORK/grun" "$WORK/grecov"
GP=$(free_port); GMP=$(free_port); GNLM=$(free_port); GRQ=$(free_port)
CP=$(free_port); CMP=$(free_port)

# ---- NFS-Ganesha ----
if ! port_open 111; then
  for f in /run/rpcbind/rpcbind.xdr /run/rpcbind/portmap.xdr; do
    [ -e "$f" ] || RPCB_FILES="$RPCB_FILES $f"
  done
  rpcbind -f >"$WORK/rpcbind.log" 2>&1 &
  RPCB=$!
  wait_port 111 "$RPCB" || { echo "nfs.sh: rpcbind did not start"; exit 1; }
  echo "nfs.sh: no rpcbind was running: started one (pid $RPCB) for Ganesha's start-up"
fi
cat >"$WORK/ganesha.conf" <<EOF
NFS_CORE_PARAM {
  Protocols = 3; Enable_UDP = false; Enable_NLM = false; Enable_RQUOTA = false;
  Bind_addr = 127.0.0.1;
  NFS_Port = $GP; MNT_Port = $GMP; NLM_Port = $GNLM; Rquota_Port = $GRQ;
}
NFSV4 { Graceless = true; RecoveryBackend = fs; RecoveryRoot = $WORK/grecov; }
NFS_KRB5 { Active_krb5 = false; }
EXPORT {
  Export_Id = 1; Path = $WORK/g; Pseudo = /g; Access_Type = RW;
  Squash = No_Root_Squash; Protocols = 3; Transports = TCP; SecType = sys;
  FSAL { Name = VFS; }
}
LOG { Default_Log_Level = WARN; }
EOF
ganesha.nfsd -F -f "$WORK/ganesha.conf" -L "$WORK/ganesha.log" -p "$WORK/grun/ganesha.pid" \
  -N NIV_WARN >"$WORK/ganesha.out" 2>&1 &
GPID=$!
PIDS="$GPID $PIDS"
if ! { wait_port "$GP" "$GPID" && wait_port "$GMP" "$GPID"; }; then
  echo "nfs.sh: ganesha did not start"; tail "$WORK/ganesha.log" "$WORK/ganesha.out"; exit 1
fi
if [ -n "$RPCB" ]; then
  kill -TERM "$RPCB" 2>/dev/null; wait "$RPCB" 2>/dev/null; RPCB=""
fi

# ---- cfs-gateway ----
set -- start nfs --export "$WORK/c" --no-root-squash --bind "127.0.0.1:$CP" \
  --mount-bind "127.0.0.1:$CMP" --admin off --module-path "$MODS" \
  --state-dir "$WORK/state" --log-level warn
[ -n "${WORKERS:-}" ] && set -- "$@" --workers "$WORKERS"
"$BIN" "$@" >"$WORK/cfs.log" 2>&1 &
CPID=$!
PIDS="$CPID $PIDS"
if ! { wait_port "$CP" "$CPID" && wait_port "$CMP" "$CPID"; }; then
  echo "nfs.sh: cfs-gateway did not start"; tail "$WORK/cfs.log"; exit 1
fi

URL_g="nfs://127.0.0.1$WORK/g?nfsport=$GP&mountport=$GMP&version=3"
URL_c="nfs://127.0.0.1/export?nfsport=$CP&mountport=$CMP&version=3"
url_of() { if [ "$1" = g ]; then echo "$URL_g"; else echo "$URL_c"; fi; }

# bench WHO WORKLOAD ARGS... -> appends the seconds to $WORK/WHO.WORKLOAD; with PERF=1
# also the server's CPU seconds, context switches, system calls and page faults during the
# workload (perf stat attached to the server's threads) to $WORK/WHO.WORKLOAD.perf
bench() {
  who=$1; shift
  url=$(url_of "$who")
  pp=""
  if [ "${PERF:-0}" = 1 ]; then
    if [ "$who" = g ]; then pid=$GPID; else pid=$CPID; fi
    perf stat -x, -e task-clock,context-switches,raw_syscalls:sys_enter,page-faults \
      -p "$pid" -o "$WORK/perf.out" >/dev/null 2>&1 &
    pp=$!
    sleep 0.3
  fi
  if out=$(timeout 600 "$WORK/nfsbench" -d "$DEPTH" "$url" "$@" 2>&1); then
    echo "$out" | awk '{print $2}' >>"$WORK/$who.$1"
    [ "$1" = write ] && echo "$out" | sed -n 's/.*(commit \([0-9.]*\) s.*/\1/p' >>"$WORK/$who.commit"
    if [ "$who" = g ]; then echo "  ganesha: $out"; else echo "  cfs:     $out"; fi >>"$WORK/detail"
  else
    echo "nfs.sh: $who $*: $out" >&2
    echo nan >>"$WORK/$who.$1"
  fi
  if [ -n "$pp" ]; then
    kill -INT "$pp" 2>/dev/null
    wait "$pp" 2>/dev/null
    awk -F, '$3 == "task-clock" {c = $1 / 1000} $3 == "context-switches" {x = $1}
      $3 == "raw_syscalls:sys_enter" {s = $1} $3 == "page-faults" {f = $1}
      END {printf "%.3f %d %d %d\n", c, x, s, f}' "$WORK/perf.out" >>"$WORK/$who.$1.perf"
  fi
}

echo "nfs.sh: ganesha pid $GPID ports $GP/$GMP, cfs-gateway pid $CPID ports $CP/$CMP, work dir $WORK"
echo "nfs.sh: $RUNS run(s), depth $DEPTH: write/read $MIB MiB, $SMALL x 4 KiB files," \
  "readdir of $DIRN, $CREATES creates"

# Warm-up, not timed: the VM is slow on the first touch of freed memory, and both servers
# start cold. The readdir directory is made here too, through each server.
for who in g c; do
  url=$(url_of "$who")
  for args in "write /big.bin $MIB" "read /big.bin" "creates /dir $DIRN"; do
    # shellcheck disable=SC2086
    timeout 600 "$WORK/nfsbench" -d "$DEPTH" "$url" $args >/dev/null ||
      { echo "nfs.sh: warm-up against $who failed: $args"; exit 1; }
  done
done
dd if=/dev/zero of="$WORK/local.bin" bs=1M count="$MIB" conv=fdatasync status=none
cat "$WORK/local.bin" >/dev/null

i=1
while [ "$i" -le "$RUNS" ]; do
  if [ $((i % 2)) -eq 1 ]; then order="g c"; else order="c g"; fi
  for who in $order; do bench "$who" write /big.bin "$MIB"; done
  for who in $order; do bench "$who" read /big.bin; done
  for who in $order; do bench "$who" small "/small$i" "$SMALL"; done
  for who in $order; do bench "$who" creates "/creates$i" "$CREATES"; done
  for who in $order; do bench "$who" readdir /dir; done
  # the physical limit: the same disk, locally, the same way (a file truncated and
  # rewritten in place, flushed; then read back from the page cache)
  t0=$(now)
  dd if=/dev/zero of="$WORK/local.bin" bs=1M count="$MIB" conv=fdatasync status=none
  t1=$(now)
  cat "$WORK/local.bin" >/dev/null
  t2=$(now)
  echo "$t1 $t0" | awk '{printf "%.3f\n", $1 - $2}' >>"$WORK/l.write"
  echo "$t2 $t1" | awk '{printf "%.3f\n", $1 - $2}' >>"$WORK/l.read"
  # one loopback TCP connection carrying the file (the wire of the read workload), and
  # the small files made locally with as many at once as the client keeps in flight
  "$WORK/tcpstream" "$WORK/local.bin" >>"$WORK/l.tcp" || echo nan >>"$WORK/l.tcp"
  mkdir "$WORK/lsmall$i"
  "$WORK/smallfiles" "$WORK/lsmall$i" "$SMALL" "$DEPTH" >>"$WORK/l.small" ||
    echo nan >>"$WORK/l.small"
  rm -rf "$WORK/lsmall$i"
  echo "nfs.sh: run $i of $RUNS done"
  i=$((i + 1))
done

median() { grep -v nan | sort -n | awk '{a[NR]=$1} END {print (NR ? a[int((NR+1)/2)] : "nan")}'; }
ratio() { echo "$1 $2" | awk '{ if ($2 > 0 && $1 > 0) printf "%.2f", $1 / $2; else print "nan" }'; }
# The median of the per-run ratios: run i of both servers ran back to back, so each
# pair saw the same state of the disk (which drifts over a run: see docs/PERFORMANCE.md)
paired() { # numerator-file denominator-file
  paste -d ' ' "$1" "$2" | awk '$1 ~ /^[0-9.]+$/ && $2 ~ /^[0-9.]+$/ && $2 > 0 {printf "%.3f\n", $1 / $2}' | median |
    awk '{ if ($1 == "nan") print "nan"; else printf "%.2f", $1 }'
}

echo
cat "$WORK/detail"
echo
printf '%-9s %10s %10s  %-24s %-7s %-8s %s\n' workload "ganesha s" "cfs s" ratio paired goal \
  "local limit s"
for w in write read small creates readdir; do
  g=$(median <"$WORK/g.$w")
  c=$(median <"$WORK/c.$w")
  case $w in
    write) r="time cfs/gan $(ratio "$c" "$g")"; goal="<= 0.6"
      p=$(paired "$WORK/c.$w" "$WORK/g.$w"); loc="dd $(median <"$WORK/l.write")" ;;
    read) r="time cfs/gan $(ratio "$c" "$g")"; goal="<= 0.5"; p=$(paired "$WORK/c.$w" "$WORK/g.$w")
      loc="cat $(median <"$WORK/l.read"), one TCP stream $(median <"$WORK/l.tcp")" ;;
    small) r="rate cfs/gan $(ratio "$g" "$c")x"; goal=">= 2x"; p=$(paired "$WORK/g.$w" "$WORK/c.$w")x
      loc="local $(median <"$WORK/l.small") ($DEPTH threads)" ;;
    creates) r="rate cfs/gan $(ratio "$g" "$c")x"; goal=">= 2x"; loc=""
      p=$(paired "$WORK/g.$w" "$WORK/c.$w")x ;;
    *) r="rate cfs/gan $(ratio "$g" "$c")x"; goal="-"; loc=""; p=$(paired "$WORK/g.$w" "$WORK/c.$w")x ;;
  esac
  printf '%-9s %10s %10s  %-24s %-7s %-8s %s\n' "$w" "$g" "$c" "$r" "$p" "$goal" "$loc"
  if [ $w = write ]; then
    printf '%-9s %10s %10s  %s\n' " (commit)" "$(median <"$WORK/g.commit")" \
      "$(median <"$WORK/c.commit")" "the COMMIT at the end, included above"
  fi
done
echo "(median elapsed seconds of $RUNS runs; paired = median of the per-run ratios;" \
  "time ratio < 1 and rate ratio > 1 favour cfs-gateway)"
if [ "${PERF:-0}" = 1 ]; then
  echo
  echo "server cost per workload (median of $RUNS; perf stat on the server process, includes the 0.3 s before the client starts)"
  printf '%-9s %-8s %8s %10s %10s %10s\n' workload server "CPU s" "ctx sw" syscalls faults
  for w in write read small creates readdir; do
    for who in g c; do
      [ -f "$WORK/$who.$w.perf" ] || continue
      if [ "$who" = g ]; then n=ganesha; else n=cfs; fi
      printf '%-9s %-8s %8s %10s %10s %10s\n' "$w" "$n" \
        "$(awk '{print $1}' "$WORK/$who.$w.perf" | median)" \
        "$(awk '{print $2}' "$WORK/$who.$w.perf" | median)" \
        "$(awk '{print $3}' "$WORK/$who.$w.perf" | median)" \
        "$(awk '{print $4}' "$WORK/$who.$w.perf" | median)"
    done
  done
fi
