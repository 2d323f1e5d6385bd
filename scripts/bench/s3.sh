#!/bin/sh
# scripts/bench/s3.sh - S3 benchmark: cfs-gateway (`start s3`) against s3rver (npm, the
# reference S3 server) and nginx (Debian, static files with sendfile, the HTTP limit for
# GET), all on loopback high ports over directories of the same disk file system, driven
# by the same clients: `/usr/bin/aws s3 cp` for 1 GiB PUT/GET (same multipart settings for
# every server; nginx answers the CLI's HEAD and ranged GETs like an S3 server would),
# curl for a single-stream 1 GiB PUT and GET (presigned URLs), scripts/bench/s3/loadgen.py
# (boto3, N client processes) for 4 KiB PUTs/s and GETs/s and a LIST of 10,000 keys, and wrk
# (presigned URLs) for 4 KiB PUTs/s and GETs/s with a client that is not the bottleneck.
# One untimed warm-up round first, then RUNS timed rounds, alternating the server order
# per round; prints medians and the ratios against the goals of issue 6.
#
# usage: scripts/bench/s3.sh [BUILD_DIR]      (default: $CFS_BUILD or ./build)
# env:   RUNS (3), BENCH_MIB (1024), BENCH_CLIENTS (8), BENCH_OPS (400 per client),
#        BENCH_LIST (10000), BENCH_SERVERS ("cfs s3rver"; nginx always runs),
#        BENCH_WORKERS (gateway worker loops and nginx workers; default: one per core),
#        BENCH_WRK_SECS (5), BENCH_AWS_UNSIGNED=1 (aws/boto3 send UNSIGNED-PAYLOAD instead
#        of hashing the body, i.e. s3 payload_signing_enabled = false),
#        CFS_BIN, CFS_MODULE_DIR, BENCH_KEEP=1 (keep the work directory)
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-${CFS_BUILD:-$top/build}}
BIN=${CFS_BIN:-$BUILD/core/cfs-gateway}
MODS=${CFS_MODULE_DIR:-$BUILD/modules}
RUNS=${RUNS:-3}
MIB=${BENCH_MIB:-1024}
CLIENTS=${BENCH_CLIENTS:-8}
OPS=${BENCH_OPS:-400}
NLIST=${BENCH_LIST:-10000}
SERVERS=${BENCH_SERVERS:-cfs s3rver}
WORKERS=${BENCH_WORKERS:-$(nproc)}
WRK_SECS=${BENCH_WRK_SECS:-5}
PY=/usr/bin/python3
AWS=/usr/bin/aws
HERE=$top/scripts/bench/s3
LOADGEN="$PY $HERE/loadgen.py"

die() { echo "s3.sh: $*" >&2; exit 1; }
for t in $PY $AWS nginx node npm curl wrk; do
  command -v "$t" >/dev/null || die "$t missing (scripts/install-deps.sh)"
done
case " $SERVERS " in *" cfs "*) [ -x "$BIN" ] || die "$BIN missing: build first" ;; esac

# s3rver from npm, pinned in scripts/bench/s3/package.json, installed beside it once
if [ ! -f "$HERE/node_modules/s3rver/package.json" ]; then
  echo "s3.sh: installing s3rver (npm)"
  (cd "$HERE" && npm install --no-audit --no-fund --no-package-lock --loglevel=error) >/dev/null ||
    die "npm install s3rver failed"
fi

WORK=$(mktemp -d /var/tmp/cfs-bench-s3-XXXXXX) # a disk file system, not tmpfs
chmod 755 "$WORK"                              # nginx workers run as nobody when we are root
PIDS=""
cleanup() {
  for p in $PIDS; do kill "$p" 2>/dev/null; done
  n=0
  for p in $PIDS; do
    while kill -0 "$p" 2>/dev/null && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
    kill -9 "$p" 2>/dev/null
  done
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "s3.sh: kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() { # port pid
  n=0
  until $PY -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),1)' "$1" 2>/dev/null; do
    kill -0 "$2" 2>/dev/null || return 1
    n=$((n + 1)); [ $n -gt 200 ] && return 1; sleep 0.1
  done
}
now() { date +%s.%N; }
since() { echo "$1 $(now)" | awk '{printf "%.3f", $2 - $1}'; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR ? a[int((NR+1)/2)] : "nan")}'; }

mkdir -p "$WORK/src" "$WORK/dl" "$WORK/res" "$WORK/aws" "$WORK/cfs/data" "$WORK/cfs/state" \
  "$WORK/s3rver/data" "$WORK/nginx/www/bench" "$WORK/nginx/run"

# the clients: one AWS config with explicit multipart settings (the CLI's defaults, spelled
# out so every server sees the same part size and concurrency)
export AWS_CONFIG_FILE="$WORK/aws/config" AWS_SHARED_CREDENTIALS_FILE="$WORK/aws/credentials"
export AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true AWS_PAGER=""
cat >"$AWS_CONFIG_FILE" <<EOF
[default]
region = us-east-1
s3 =
  addressing_style = path
  multipart_threshold = 8MB
  multipart_chunksize = 8MB
  max_concurrent_requests = 10
EOF
[ "${BENCH_AWS_UNSIGNED:-0}" = 1 ] && echo "  payload_signing_enabled = false" >>"$AWS_CONFIG_FILE"
: >"$AWS_SHARED_CREDENTIALS_FILE"

# the servers
CFS_KEY=benchaccesskey CFS_SECRET=benchsecretkey0123456789abcdef
S3RVER_KEY=S3RVER S3RVER_SECRET=S3RVER # s3rver's built-in account (signatures are checked)
PORT_cfs=$(free_port); PORT_s3rver=$(free_port); PORT_nginx=$(free_port)
URL_cfs=http://127.0.0.1:$PORT_cfs
URL_s3rver=http://127.0.0.1:$PORT_s3rver
URL_nginx=http://127.0.0.1:$PORT_nginx

# creds WHO CMD...: run CMD with WHO's credentials
creds() {
  who=$1; shift
  case $who in
    cfs) AWS_ACCESS_KEY_ID=$CFS_KEY AWS_SECRET_ACCESS_KEY=$CFS_SECRET "$@" ;;
    *) AWS_ACCESS_KEY_ID=$S3RVER_KEY AWS_SECRET_ACCESS_KEY=$S3RVER_SECRET "$@" ;;
  esac
}
url_of() { eval "echo \$URL_$1"; }

for who in $SERVERS; do
  case $who in
    cfs)
      CFS_ACCESS_KEY=$CFS_KEY CFS_SECRET_KEY=$CFS_SECRET "$BIN" start s3 \
        --bind "127.0.0.1:$PORT_cfs" --admin 127.0.0.1:0 --module-path "$MODS" \
        --data "$WORK/cfs/data" --state-dir "$WORK/cfs/state" --no-root-squash \
        --workers "$WORKERS" --log-level warn >"$WORK/cfs/log" 2>&1 &
      p=$! ;;
    s3rver)
      # its ListObjectsV2 continuation tokens use DES: OpenSSL 3 has it in the legacy provider
      node --openssl-legacy-provider "$HERE/node_modules/s3rver/bin/s3rver.js" \
        -d "$WORK/s3rver/data" -a 127.0.0.1 -p "$PORT_s3rver" --silent --no-vhost-buckets \
        >"$WORK/s3rver/log" 2>&1 &
      p=$! ;;
    *) die "unknown server $who (cfs, s3rver)" ;;
  esac
  PIDS="$PIDS $p"
  wait_port "$(eval "echo \$PORT_$who")" "$p" || { tail "$WORK/$who/log"; die "$who did not start"; }
done

user=""
[ "$(id -u)" = 0 ] && user="user nobody nogroup;"
sed -e "s|@DIR@|$WORK/nginx/run|g" -e "s|@ROOT@|$WORK/nginx/www|g" -e "s|@PORT@|$PORT_nginx|g" \
  -e "s|@WORKERS@|$WORKERS|g" -e "s|@USER@|$user|g" "$HERE/nginx.conf.in" >"$WORK/nginx/nginx.conf"
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx/run" -e "$WORK/nginx/run/error.log" \
  >"$WORK/nginx/log" 2>&1 &
p=$!
PIDS="$PIDS $p"
wait_port "$PORT_nginx" "$p" || { cat "$WORK/nginx/log" "$WORK/nginx/run/error.log"; die "nginx did not start"; }
ALL="$SERVERS nginx"

# the data: one 1 GiB file (random), served by nginx through a hard link (same inode)
echo "s3.sh: making the ${MIB} MiB source file"
head -c $((MIB * 1048576)) /dev/urandom >"$WORK/src/big.bin" || die "no space for the source file"
chmod 644 "$WORK/src/big.bin"
ln "$WORK/src/big.bin" "$WORK/nginx/www/bench/big.bin"
# nginx's small objects: the keys loadgen reads, made locally
$PY - "$WORK/nginx/www/bench" "$CLIENTS" "$OPS" <<'EOF'
import os, sys
root, clients, ops = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for c in range(clients):
    d = os.path.join(root, "small", "c%02d" % c)
    os.makedirs(d, exist_ok=True)
    for i in range(ops):
        with open(os.path.join(d, "k%06d" % i), "wb") as f:
            f.write(bytes((c * 7 + j) & 0xFF for j in range(4096)))
EOF
chmod -R a+rX "$WORK/nginx/www"

for who in $SERVERS; do
  creds "$who" $LOADGEN mkbucket "$(url_of "$who")" bench >"$WORK/out" 2>&1 ||
    { cat "$WORK/out"; die "$who: CreateBucket failed"; }
done

# ---- workloads; each appends one figure to $WORK/res/WHO.MEASURE (when $REC = 1)
REC=0
rec() { [ "$REC" = 1 ] && echo "$3" >>"$WORK/res/$1.$2"; return 0; }
FAILS=0
failed() { FAILS=$((FAILS + 1)); echo "s3.sh: $1 $2 failed:" >&2; tail -5 "$WORK/out" >&2; }

put_big() { # who
  sync # start from a clean page cache: no write-back of the previous run in the timing
  t0=$(now)
  if creds "$1" $AWS --endpoint-url "$(url_of "$1")" s3 cp --no-progress --only-show-errors \
    "$WORK/src/big.bin" s3://bench/big.bin >"$WORK/out" 2>&1; then
    rec "$1" put_big "$(since "$t0")"
  else failed "$1" "PUT ${MIB} MiB"; fi
}
get_big() { # who [verify]
  rm -f "$WORK/dl/big.bin"
  sync
  t0=$(now)
  if creds "$1" $AWS --endpoint-url "$(url_of "$1")" s3 cp --no-progress --only-show-errors \
    s3://bench/big.bin "$WORK/dl/big.bin" >"$WORK/out" 2>&1; then
    t=$(since "$t0")
    if [ "$(stat -c %s "$WORK/dl/big.bin")" != $((MIB * 1048576)) ]; then
      echo "size mismatch" >"$WORK/out"; failed "$1" "GET ${MIB} MiB"
    elif [ "${2:-}" = verify ] && ! cmp -s "$WORK/src/big.bin" "$WORK/dl/big.bin"; then
      echo "content differs" >"$WORK/out"; failed "$1" "GET ${MIB} MiB"
    else rec "$1" get_big "$t"; fi
  else failed "$1" "GET ${MIB} MiB"; fi
  rm -f "$WORK/dl/big.bin"
}
curl_put() { # who: one PUT of the whole file, one stream (presigned: UNSIGNED-PAYLOAD)
  u=$(creds "$1" $LOADGEN presign "$(url_of "$1")" bench big-curl.bin --op put_object) ||
    { failed "$1" presign; return; }
  sync
  out=$(curl -s -f -T "$WORK/src/big.bin" -o /dev/null -w '%{http_code} %{time_total}' "$u") &&
    rec "$1" curl_put "$(echo "${out#* }" | awk '{printf "%.3f", $1}')" ||
    { echo "curl: $out" >"$WORK/out"; failed "$1" "curl PUT"; }
}
curl_big() { # who: one stream into /dev/null (presigned URL for the S3 servers)
  if [ "$1" = nginx ]; then u=$URL_nginx/bench/big.bin
  else u=$(creds "$1" $LOADGEN presign "$(url_of "$1")" bench big.bin) || { failed "$1" presign; return; }; fi
  out=$(curl -s -f -o /dev/null -w '%{size_download} %{time_total}' "$u") &&
    [ "${out% *}" = $((MIB * 1048576)) ] &&
    rec "$1" curl_big "$(echo "${out#* }" | awk '{printf "%.3f", $1}')" ||
    { echo "curl: $out" >"$WORK/out"; failed "$1" "curl GET"; }
}
small() { # who put|get ops warmup
  if creds "$1" $LOADGEN "$2" "$(url_of "$1")" bench small --clients "$CLIENTS" --ops "$3" \
    --warmup "$4" >"$WORK/out" 2>&1; then
    rec "$1" "small_$2" "$(sed -n 's/.* rate=\([0-9.]*\).*/\1/p' "$WORK/out" | head -1)"
  else failed "$1" "4 KiB $2"; fi
}
WRK_N=0
wrk_small() { # who put|get: 2 threads, $CLIENTS connections; GET: one presigned URL over and
  # over; PUT: a new key each request (presigned paths made beforehand, untimed)
  lua=""
  if [ "$1" = nginx ]; then u=$URL_nginx/bench/small/c00/k000000
  elif [ "$2" = get ]; then
    u=$(creds "$1" $LOADGEN presign "$(url_of "$1")" bench small/c00/k000000) || { failed "$1" presign; return; }
  else
    WRK_N=$((WRK_N + 1))
    creds "$1" $LOADGEN presign-many "$(url_of "$1")" bench "wrk/r$WRK_N" --op put_object \
      --count $((WRK_SECS * 8000)) >"$WORK/wrk.paths" || { failed "$1" presign; return; }
    u=$(url_of "$1")/; lua="-s $HERE/put.lua"
  fi
  # shellcheck disable=SC2086
  if WRK_PATHS="$WORK/wrk.paths" WRK_THREADS=2 wrk -t2 -c"$CLIENTS" -d"${WRK_SECS}s" $lua "$u" \
    >"$WORK/out" 2>&1 &&
    ! grep -q "Non-2xx\|Socket errors" "$WORK/out"; then
    rec "$1" "wrk_$2" "$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$WORK/out")"
  else failed "$1" "wrk 4 KiB $2"; fi
}
list() { # who
  if creds "$1" $LOADGEN list "$(url_of "$1")" bench list --expect "$NLIST" >"$WORK/out" 2>&1; then
    rec "$1" list "$(sed -n 's/.* seconds=\([0-9.]*\).*/\1/p' "$WORK/out" | head -1)"
    rec "$1" list_raw "$(sed -n 's/.* raw_seconds=\([0-9.]*\).*/\1/p' "$WORK/out" | head -1)"
  else failed "$1" "LIST"; fi
}

# one round: every workload, servers in the given order
round() { # servers...
  for who in "$@"; do [ "$who" = nginx ] || put_big "$who"; done
  for who in "$@"; do [ "$who" = nginx ] || curl_put "$who"; done
  for who in "$@"; do get_big "$who" "${VERIFY:-}"; done
  for who in "$@"; do curl_big "$who"; done
  for who in "$@"; do [ "$who" = nginx ] || small "$who" put "$OPS" 20; done
  for who in "$@"; do small "$who" get "$OPS" 20; done
  for who in "$@"; do [ "$who" = nginx ] || wrk_small "$who" put; done
  for who in "$@"; do wrk_small "$who" get; done
  for who in "$@"; do [ "$who" = nginx ] || list "$who"; done
}

echo "s3.sh: populating $NLIST keys per server for LIST (untimed)"
for who in $SERVERS; do
  creds "$who" $LOADGEN populate "$(url_of "$who")" bench list --count "$NLIST" \
    --clients "$CLIENTS" >"$WORK/out" 2>&1 || failed "$who" "populate"
  echo "  $who: $(tail -1 "$WORK/out")"
done

echo "s3.sh: warm-up round (untimed, GETs verified)"
VERIFY=verify round $ALL
[ "$FAILS" = 0 ] || die "warm-up failed; see above"

REC=1
i=1
while [ "$i" -le "$RUNS" ]; do
  order=$ALL
  [ $((i % 2)) = 0 ] && order=$(echo "$ALL" | awk '{for (i = NF; i > 0; i--) printf "%s ", $i}')
  echo "s3.sh: round $i/$RUNS ($order)"
  # shellcheck disable=SC2086
  round $order
  i=$((i + 1))
done

# ---- report
med() { if [ -s "$WORK/res/$1.$2" ]; then median <"$WORK/res/$1.$2"; else echo nan; fi; }
ratio() { echo "$1 $2" | awk '{ if ($1 != "nan" && $2 != "nan" && $2 > 0) printf "%.2f", $1 / $2; else print "nan" }'; }
verdict() { # value op goal
  echo "$1 $3" | awk -v op="$2" '{ if ($1 == "nan") print "-"; else if ((op == ">=" && $1 >= $2) || (op == "<=" && $1 <= $2)) print "met"; else print "MISSED" }'
}
mibs() { echo "$1" | awk -v m="$MIB" '{ if ($1 != "nan" && $1 > 0) printf "%.0f", m / $1; else print "nan" }'; }

pc=$(med cfs put_big); ps=$(med s3rver put_big)
gc=$(med cfs get_big); gs=$(med s3rver get_big); gn=$(med nginx get_big)
cc=$(med cfs curl_big); cs=$(med s3rver curl_big); cn=$(med nginx curl_big)
spc=$(med cfs small_put); sps=$(med s3rver small_put)
sgc=$(med cfs small_get); sgs=$(med s3rver small_get); sgn=$(med nginx small_get)
lc=$(med cfs list); ls_=$(med s3rver list)
pcc=$(med cfs curl_put); pcs=$(med s3rver curl_put)
wpc=$(med cfs wrk_put); wps=$(med s3rver wrk_put)
wgc=$(med cfs wrk_get); wgs=$(med s3rver wrk_get); wgn=$(med nginx wrk_get)
lrc=$(med cfs list_raw); lrs=$(med s3rver list_raw)

echo
echo "S3 benchmark: median of $RUNS round(s); ${MIB} MiB objects; $CLIENTS boto3 processes x $OPS ops of 4 KiB; LIST of $NLIST keys"
printf '%-26s %10s %10s %10s\n' measure cfs s3rver nginx
printf '%-26s %10s %10s %10s\n' "PUT ${MIB} MiB aws (s)" "$pc" "$ps" -
printf '%-26s %10s %10s %10s\n' "PUT ${MIB} MiB aws (MiB/s)" "$(mibs "$pc")" "$(mibs "$ps")" -
printf '%-26s %10s %10s %10s\n' "PUT ${MIB} MiB curl (s)" "$pcc" "$pcs" -
printf '%-26s %10s %10s %10s\n' "GET ${MIB} MiB aws (s)" "$gc" "$gs" "$gn"
printf '%-26s %10s %10s %10s\n' "GET ${MIB} MiB curl (s)" "$cc" "$cs" "$cn"
printf '%-26s %10s %10s %10s\n' "PUT 4 KiB (ops/s)" "$spc" "$sps" -
printf '%-26s %10s %10s %10s\n' "GET 4 KiB (ops/s)" "$sgc" "$sgs" "$sgn"
printf '%-26s %10s %10s %10s\n' "PUT 4 KiB wrk (ops/s)" "$wpc" "$wps" -
printf '%-26s %10s %10s %10s\n' "GET 4 KiB wrk (ops/s)" "$wgc" "$wgs" "$wgn"
printf '%-26s %10s %10s %10s\n' "LIST $NLIST keys (s)" "$lc" "$ls_" -
printf '%-26s %10s %10s %10s\n' "LIST $NLIST raw (s)" "$lrc" "$lrs" -
echo
r1=$(ratio "$ps" "$pc"); r2=$(ratio "$gc" "$gn"); r3=$(ratio "$spc" "$sps")
printf '%-44s %8s %8s %8s\n' ratio value goal verdict
printf '%-44s %8s %8s %8s\n' "PUT ${MIB} MiB throughput cfs/s3rver" "$r1" ">= 7" "$(verdict "$r1" ">=" 7)"
printf '%-44s %8s %8s %8s\n' "GET ${MIB} MiB time cfs/nginx (aws)" "$r2" "<= 1.2" "$(verdict "$r2" "<=" 1.2)"
printf '%-44s %8s %8s %8s\n' "PUT 4 KiB rate cfs/s3rver" "$r3" ">= 5" "$(verdict "$r3" ">=" 5)"
printf '%-44s %8s %8s %8s\n' "PUT ${MIB} MiB throughput cfs/s3rver (curl)" "$(ratio "$pcs" "$pcc")" - -
printf '%-44s %8s %8s %8s\n' "GET ${MIB} MiB time cfs/nginx (curl)" "$(ratio "$cc" "$cn")" - -
printf '%-44s %8s %8s %8s\n' "GET ${MIB} MiB speed-up cfs vs s3rver (aws)" "$(ratio "$gs" "$gc")" - -
printf '%-44s %8s %8s %8s\n' "GET 4 KiB rate cfs/s3rver" "$(ratio "$sgc" "$sgs")" - -
printf '%-44s %8s %8s %8s\n' "GET 4 KiB rate cfs/nginx" "$(ratio "$sgc" "$sgn")" - -
printf '%-44s %8s %8s %8s\n' "PUT 4 KiB rate cfs/s3rver (wrk)" "$(ratio "$wpc" "$wps")" - -
printf '%-44s %8s %8s %8s\n' "GET 4 KiB rate cfs/s3rver (wrk)" "$(ratio "$wgc" "$wgs")" - -
printf '%-44s %8s %8s %8s\n' "GET 4 KiB rate cfs/nginx (wrk)" "$(ratio "$wgc" "$wgn")" - -
printf '%-44s %8s %8s %8s\n' "LIST speed-up cfs vs s3rver" "$(ratio "$ls_" "$lc")" - -
printf '%-44s %8s %8s %8s\n' "LIST speed-up cfs vs s3rver (raw)" "$(ratio "$lrs" "$lrc")" - -
[ "$FAILS" = 0 ] || { echo "s3.sh: $FAILS workload(s) failed"; exit 1; }
