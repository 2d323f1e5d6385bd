# tests/s3/lib.sh - shared by tests/integration/test_s3*.sh: start a private gateway with
# mod_s3 on a free loopback port, count results, stop only what we started.
# Needs CFS_BIN and CFS_MODULE_DIR (set by ctest).
: "${CFS_BIN:?CFS_BIN must name the cfs-gateway binary}"
: "${CFS_MODULE_DIR:?CFS_MODULE_DIR must name the modules directory}"
S3_PASS=0
S3_FAIL=0
S3_WORK=$(mktemp -d "${TMPDIR:-/tmp}/cfs-s3-test.XXXXXX")
S3_PID=""
export CFS_ACCESS_KEY=cfstestaccess CFS_SECRET_KEY=cfstestsecret0123456789
export AWS_ACCESS_KEY_ID=$CFS_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$CFS_SECRET_KEY
export AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=$S3_WORK/aws-config AWS_SHARED_CREDENTIALS_FILE=$S3_WORK/aws-creds
: > "$AWS_CONFIG_FILE"
: > "$AWS_SHARED_CREDENTIALS_FILE"

s3_ok() { S3_PASS=$((S3_PASS + 1)); echo "ok   $1"; }
s3_bad() { S3_FAIL=$((S3_FAIL + 1)); echo "FAIL $1"; }
# s3_check NAME CMD...: pass when CMD succeeds
s3_check() { n=$1; shift; if "$@" >"$S3_WORK/out" 2>&1; then s3_ok "$n"; else s3_bad "$n"; sed 's/^/     /' "$S3_WORK/out" | tail -5; fi; }
# s3_fails NAME CMD...: pass when CMD fails
s3_fails() { n=$1; shift; if "$@" >"$S3_WORK/out" 2>&1; then s3_bad "$n (succeeded)"; else s3_ok "$n"; fi; }

s3_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

s3_start() {
  S3_PORT=$(s3_free_port)
  S3_DATA=$S3_WORK/data
  mkdir -p "$S3_DATA" "$S3_WORK/state"
  "$CFS_BIN" start s3 --bind "127.0.0.1:$S3_PORT" --admin 127.0.0.1:0 \
    --module-path "$CFS_MODULE_DIR" --data "$S3_DATA" --state-dir "$S3_WORK/state" \
    --no-root-squash --log-level info >"$S3_WORK/gateway.log" 2>&1 &
  S3_PID=$!
  S3_URL=http://127.0.0.1:$S3_PORT
  i=0
  while [ $i -lt 100 ]; do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$S3_PORT),0.2)" 2>/dev/null; then
      return 0
    fi
    kill -0 "$S3_PID" 2>/dev/null || break
    sleep 0.1
    i=$((i + 1))
  done
  echo "gateway did not start:"; cat "$S3_WORK/gateway.log"
  return 1
}

s3_alive() { kill -0 "$S3_PID" 2>/dev/null; }

s3_finish() {
  if [ -n "$S3_PID" ]; then
    if s3_alive; then s3_ok "gateway still running at the end"; else s3_bad "gateway died"; tail -20 "$S3_WORK/gateway.log"; fi
    kill "$S3_PID" 2>/dev/null
    i=0
    while kill -0 "$S3_PID" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    kill -9 "$S3_PID" 2>/dev/null
  fi
  if grep -q "ERROR: AddressSanitizer\|runtime error:" "$S3_WORK/gateway.log" 2>/dev/null; then
    s3_bad "sanitizer report in the gateway log"; grep -A5 "Sanitizer\|runtime error" "$S3_WORK/gateway.log" | head -30
  fi
  echo "$S3_PASS passed, $S3_FAIL failed"
  [ "${S3_KEEP:-0}" = 1 ] || rm -rf "$S3_WORK"
  [ "$S3_FAIL" -eq 0 ]
}
