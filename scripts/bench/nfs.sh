#!/bin/sh
# scripts/bench/nfs.sh - NFSv3 benchmark: NFS-Ganesha (Debian nfs-ganesha + nfs-ganesha-vfs,
# run by hand with its own config on high ports) against cfs-gateway (`start nfs`), both
# over a directory of the same local file system, both driven by the same libnfs client
# (scripts/bench/nfs/nfsbench.c). Prints the median of BENCH_RUNS runs per workload and the
# ratio cfs/ganesha of elapsed times (lower is better for cfs), with local dd/cat as the
# physical limit.
#
# env: CFS_BUILD (build dir, default ./build), CFS_BIN, CFS_MODULE_DIR, BENCH_MIB (1024),
#      BENCH_SMALL (2000), BENCH_DIR (10000), BENCH_CREATES (10000), BENCH_RUNS (3),
#      BENCH_WORKERS (gateway worker loops; default: one per core)
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${CFS_BUILD:-$top/build}
BIN=${CFS_BIN:-$BUILD/core/cfs-gateway}
MODS=${CFS_MODULE_DIR:-$BUILD/modules}
MIB=${BENCH_MIB:-1024}
SMALL=${BENCH_SMALL:-2000}
DIRN=${BENCH_DIR:-10000}
CREATES=${BENCH_CREATES:-10000}
RUNS=${BENCH_RUNS:-3}
PY=python3

command -v ganesha.nfsd >/dev/null || { echo "nfs.sh: ganesha.nfsd missing (scripts/install-deps.sh)"; exit 1; }
[ -x "$BIN" ] || { echo "nfs.sh: $BIN missing: build first"; exit 1; }

WORK=$(mktemp -d /var/tmp/cfs-bench-nfs-XXXXXX) # a disk file system, not tmpfs
PIDS=""
cleanup() {
  for p in $PIDS; do kill "$p" 2>/dev/null; done
  sleep 0.5
  for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

cc -std=gnu11 -O2 -o "$WORK/nfsbench" "$top/scripts/bench/nfs/nfsbench.c" \
  $(pkg-config --cflags --libs libnfs) || exit 1

free_port() {
  $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
port_open() {
  $PY -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),timeout=1)' "$1" \
    2>/dev/null
}
wait_port() {
  n=0
  while ! port_open "$1"; do
    n=$((n + 1)); [ $n -gt 150 ] && return 1; sleep 0.1
  done
}

# Ganesha registers with rpcbind and exits without one: start ours when none runs.
if ! port_open 111; then
  rpcbind -f -w >"$WORK/rpcbind.log" 2>&1 &
  PIDS="$PIDS $!"
  wait_port 111 || { echo "nfs.sh: rpcbind did not start"; exit 1; }
fi

mkdir -p "$WORK/g" "$WORK/c" "$WORK/state" "$WORK/grun"
GP=$(free_port); GMP=$(free_port); GNLM=$(free_port); GRQ=$(free_port)
CP=$(free_port); CMP=$(free_port)
cat >"$WORK/ganesha.conf" <<EOF
NFS_CORE_PARAM {
  NFS_Port = $GP; MNT_Port = $GMP; NLM_Port = $GNLM; Rquota_Port = $GRQ;
  Protocols = 3; Enable_UDP = false; Enable_NLM = false; Enable_RQUOTA = false;
  Bind_addr = 127.0.0.1;
}
NFSV4 { Graceless = true; }
NFS_KRB5 { Active_krb5 = false; }
EXPORT {
  Export_Id = 1; Path = $WORK/g; Pseudo = /bench; Access_Type = RW;
  Squash = No_Root_Squash; Protocols = 3; Transports = TCP; SecType = sys;
  FSAL { Name = VFS; }
}
LOG { Default_Log_Level = WARN; }
EOF
ganesha.nfsd -F -f "$WORK/ganesha.conf" -L "$WORK/ganesha.log" -p "$WORK/grun/ganesha.pid" \
  -N NIV_WARN >"$WORK/ganesha.out" 2>&1 &
PIDS="$PIDS $!"
set -- start nfs --export "$WORK/c" --no-root-squash --nfs-port "$CP" --mount-port "$CMP" \
  --admin 127.0.0.1:0 --module-path "$MODS" --state-dir "$WORK/state" --log-level warn
[ -n "${BENCH_WORKERS:-}" ] && set -- "$@" --workers "$BENCH_WORKERS"
"$BIN" "$@" >"$WORK/cfs.log" 2>&1 &
PIDS="$PIDS $!"
wait_port "$GP" || { echo "nfs.sh: ganesha did not start"; tail "$WORK/ganesha.log"; exit 1; }
wait_port "$CP" || { echo "nfs.sh: cfs-gateway did not start"; tail "$WORK/cfs.log"; exit 1; }
sleep 1

GURL="nfs://127.0.0.1$WORK/g?nfsport=$GP&mountport=$GMP&version=3"
CURL="nfs://127.0.0.1/export?nfsport=$CP&mountport=$CMP&version=3"

# The readdir directory: made locally in both exports.
for d in g c; do
  mkdir -p "$WORK/$d/dir"
  (cd "$WORK/$d/dir" && $PY -c "
import os, sys
for i in range(int(sys.argv[1])): open('e%06d' % i, 'w').close()" "$DIRN")
done

median() { sort -n | awk '{a[NR]=$1} END {print (NR ? a[int((NR+1)/2)] : "nan")}'; }

# run WHO URL WORKLOAD ARGS... -> seconds
run() {
  out=$("$WORK/nfsbench" "$2" "$3" "$4" ${5:-} 2>&1) || { echo "nfs.sh: $1 $3: $out" >&2; echo nan; return; }
  echo "$out" | awk '{print $2}'
}

echo "nfs.sh: $RUNS run(s); write/read ${MIB} MiB, $SMALL x 4 KiB files, readdir $DIRN, $CREATES creates"
for w in write read small creates readdir; do
  : >"$WORK/g.$w"
  : >"$WORK/c.$w"
done
i=1
while [ $i -le "$RUNS" ]; do
  for who in g c; do
    if [ $who = g ]; then url=$GURL; else url=$CURL; fi
    run $who "$url" write /big.bin "$MIB" >>"$WORK/$who.write"
    run $who "$url" read /big.bin >>"$WORK/$who.read"
    run $who "$url" small "/small$i" "$SMALL" >>"$WORK/$who.small"
    run $who "$url" creates "/creates$i" "$CREATES" >>"$WORK/$who.creates"
    run $who "$url" readdir /dir >>"$WORK/$who.readdir"
  done
  i=$((i + 1))
done

# the physical limit: the same file system locally
t0=$($PY -c 'import time; print(time.monotonic())')
dd if=/dev/zero of="$WORK/local.bin" bs=1M count="$MIB" conv=fsync status=none
t1=$($PY -c 'import time; print(time.monotonic())')
cat "$WORK/local.bin" >/dev/null
t2=$($PY -c 'import time; print(time.monotonic())')
ldw=$(echo "$t1 $t0" | awk '{printf "%.3f", $1 - $2}')
ldr=$(echo "$t2 $t1" | awk '{printf "%.3f", $1 - $2}')

printf '\n%-10s %12s %12s %10s %8s   %s\n' workload "ganesha s" "cfs s" "cfs/gan" goal "local"
for w in write read small creates readdir; do
  g=$(median <"$WORK/g.$w")
  c=$(median <"$WORK/c.$w")
  r=$(echo "$c $g" | awk '{ if ($2 > 0) printf "%.2f", $1 / $2; else print "nan" }')
  case $w in
    write) goal="<=0.60"; loc="dd ${ldw}s" ;;
    read) goal="<=0.50"; loc="cat ${ldr}s" ;;
    small|creates) goal="<=0.50"; loc="" ;;
    *) goal="-"; loc="" ;;
  esac
  printf '%-10s %12s %12s %10s %8s   %s\n' "$w" "$g" "$c" "$r" "$goal" "$loc"
done
echo "(elapsed seconds, median of $RUNS; cfs/gan < 1 means cfs-gateway is faster)"
