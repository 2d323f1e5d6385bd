#!/bin/sh
# tests/integration/test_s3_sdk.sh - mod_s3 with boto3 (default checksum settings of the
# installed botocore; tests/s3/test_boto3.py) and raw-socket checks of aws-chunked
# uploads, 100-continue, pipelining and malformed requests (tests/s3/test_raw.py).
# Env (from ctest): CFS_BIN, CFS_MODULE_DIR, CFS_SRC.
set -u
SRC=${CFS_SRC:-$(dirname "$0")/../..}
. "$SRC/tests/s3/lib.sh"
trap 's3_finish; exit $?' EXIT INT TERM
s3_start || exit 1
ADMIN_PORT=$(sed -n 's/.*admin HTTP on [^ ]* (port \([0-9]*\)).*/\1/p' "$S3_WORK/gateway.log" | head -1)

run_py() {
  name=$1
  shift
  if "${PY:-/usr/bin/python3}" "$@" > "$S3_WORK/py.out" 2>&1; then
    s3_ok "$name"
  else
    s3_bad "$name"
  fi
  grep -v '^ok ' "$S3_WORK/py.out" | sed 's/^/     /'
  grep -c '^ok ' "$S3_WORK/py.out" | sed 's/^/     checks passed: /'
}

if /usr/bin/python3 -c 'import boto3' 2>/dev/null; then
  run_py "boto3 suite" "$SRC/tests/s3/test_boto3.py" "$S3_URL" "$CFS_ACCESS_KEY" "$CFS_SECRET_KEY" "$S3_DATA"
else
  echo "skip boto3 (python3-boto3 not installed)"
fi
run_py "raw request suite" "$SRC/tests/s3/test_raw.py" 127.0.0.1 "$S3_PORT" "$CFS_ACCESS_KEY" "$CFS_SECRET_KEY" "$S3_DATA" "$ADMIN_PORT"
# a newer botocore on PATH (default checksum behaviour changed in 1.36): run it too
if command -v python3 >/dev/null 2>&1 && [ "$(command -v python3)" != /usr/bin/python3 ] &&
   python3 -c 'import boto3' 2>/dev/null; then
  v1=$(/usr/bin/python3 -c 'import botocore; print(botocore.__version__)' 2>/dev/null)
  v2=$(python3 -c 'import botocore; print(botocore.__version__)')
  if [ "$v1" != "$v2" ]; then
    export BOTO_BUCKET=boto-new; PY=python3 run_py "boto3 suite (botocore $v2)" "$SRC/tests/s3/test_boto3.py" "$S3_URL" "$CFS_ACCESS_KEY" "$CFS_SECRET_KEY" "$S3_DATA"
  fi
fi
# the npm `minio` JS client: from NODE_PATH, or installed into the work dir when
# CFS_S3_NPM_INSTALL=1 (needs the npm registry); skipped otherwise
if command -v node >/dev/null 2>&1; then
  if ! node -e "require('minio')" 2>/dev/null && [ "${CFS_S3_NPM_INSTALL:-0}" = 1 ]; then
    (cd "$S3_WORK" && npm install --no-audit --no-fund --silent minio@8 >/dev/null 2>&1) &&
      export NODE_PATH="$S3_WORK/node_modules${NODE_PATH:+:$NODE_PATH}"
  fi
  if node -e "require('minio')" 2>/dev/null; then
    if node "$SRC/tests/s3/test_minio.mjs" 127.0.0.1 "$S3_PORT" "$CFS_ACCESS_KEY" "$CFS_SECRET_KEY" > "$S3_WORK/js.out" 2>&1; then
      s3_ok "minio-js suite"
    else
      s3_bad "minio-js suite"
    fi
    grep -v '^ok ' "$S3_WORK/js.out" | sed 's/^/     /'
  else
    echo "skip minio-js (set NODE_PATH to a node_modules with minio, or CFS_S3_NPM_INSTALL=1)"
  fi
fi
