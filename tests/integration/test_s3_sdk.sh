#!/bin/sh
# tests/integration/test_s3_sdk.sh - mod_s3 with boto3 (default checksum settings of the
# installed botocore; tests/s3/test_boto3.py), versioning through boto3 checked on disk
# (tests/s3/test_versions.py), raw-socket checks of aws-chunked uploads, 100-continue,
# pipelining and malformed requests (tests/s3/test_raw.py), rclone (an env-configured S3
# remote) and the npm `minio` JS client (installed into the work dir when absent).
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
  run_py "boto3 versioning suite" "$SRC/tests/s3/test_versions.py" "$S3_URL" "$CFS_ACCESS_KEY" "$CFS_SECRET_KEY" "$S3_DATA"
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
# rclone with a remote configured from the environment (provider Other, path style)
if command -v rclone >/dev/null 2>&1; then
  export RCLONE_CONFIG="$S3_WORK/rclone.conf"
  : > "$RCLONE_CONFIG"
  export RCLONE_CONFIG_CFS_TYPE=s3 RCLONE_CONFIG_CFS_PROVIDER=Other RCLONE_CONFIG_CFS_ENDPOINT="$S3_URL" \
    RCLONE_CONFIG_CFS_ACCESS_KEY_ID="$CFS_ACCESS_KEY" RCLONE_CONFIG_CFS_SECRET_ACCESS_KEY="$CFS_SECRET_KEY" \
    RCLONE_CONFIG_CFS_REGION=us-east-1 RCLONE_CONFIG_CFS_FORCE_PATH_STYLE=true
  # AWS_CA_BUNDLE (for the TLS of real AWS) breaks rclone's plain-HTTP transport
  R="env -u AWS_CA_BUNDLE rclone --retries 1 --low-level-retries 1 --s3-upload-cutoff 5M --s3-chunk-size 5M"
  RT=$S3_WORK/rtree
  mkdir -p "$RT/a/b" "$RT/c"
  for f in a/1.txt a/b/2.txt c/3.txt top.txt "c/sp ace.txt"; do echo "rclone $f" > "$RT/$f"; done
  head -c $((12 * 1024 * 1024 + 5)) /dev/urandom > "$RT/big.bin"
  s3_check "rclone mkdir" $R mkdir cfs:rclone-bucket
  s3_check "rclone copy a directory up (12 MiB file as multipart)" $R copy "$RT" cfs:rclone-bucket/up
  s3_check "rclone upload visible in the namespace" cmp "$RT/big.bin" "$S3_DATA/rclone-bucket/up/big.bin"
  $R ls cfs:rclone-bucket/up > "$S3_WORK/rls" 2>&1
  s3_check "rclone ls lists every file" sh -c "[ \$(wc -l < '$S3_WORK/rls') = 6 ] && grep -q 'a/b/2.txt' '$S3_WORK/rls' && grep -q 'c/sp ace.txt' '$S3_WORK/rls'"
  s3_check "rclone lsd shows the prefixes" sh -c "$R lsd cfs:rclone-bucket/up | grep -q ' a\$'"
  s3_check "rclone check (sizes and MD5 hashes match)" $R check "$RT" cfs:rclone-bucket/up
  s3_check "rclone cat" sh -c "[ \"\$($R cat cfs:rclone-bucket/up/a/b/2.txt)\" = 'rclone a/b/2.txt' ]"
  echo "changed" > "$RT/a/1.txt"
  rm "$RT/top.txt"
  s3_check "rclone sync (one changed, one removed)" $R sync "$RT" cfs:rclone-bucket/up
  s3_check "rclone sync result: check" $R check "$RT" cfs:rclone-bucket/up
  s3_check "rclone sync removed the deleted file" test ! -e "$S3_DATA/rclone-bucket/up/top.txt"
  s3_check "rclone copy down" $R copy cfs:rclone-bucket/up "$S3_WORK/rdown"
  s3_check "rclone round trip equal" diff -r "$RT" "$S3_WORK/rdown"
  s3_check "rclone deletefile" $R deletefile cfs:rclone-bucket/up/c/3.txt
  s3_check "rclone delete (everything)" $R delete cfs:rclone-bucket
  s3_check "rclone delete left no files" sh -c "[ -z \"\$(find '$S3_DATA/rclone-bucket' -type f)\" ]"
  s3_check "rclone rmdirs + bucket removal" $R rmdirs cfs:rclone-bucket
  s3_check "rclone bucket gone" test ! -e "$S3_DATA/rclone-bucket"
else
  echo "skip rclone (not installed: scripts/install-deps.sh installs it)"
fi
# the npm `minio` JS client: from NODE_PATH, else `npm install minio` into the work dir
# (bounded to 180 s); skipped only when node/npm are missing or CFS_S3_NO_NPM=1
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "skip minio-js (node or npm is not installed)"
elif [ "${CFS_S3_NO_NPM:-0}" = 1 ]; then
  echo "skip minio-js (CFS_S3_NO_NPM=1)"
else
  if ! node -e "require('minio')" 2>/dev/null; then
    mkdir -p "$S3_WORK/npm"
    if (cd "$S3_WORK/npm" && timeout 180 npm install --no-audit --no-fund --silent minio@8 >"$S3_WORK/npm.log" 2>&1); then
      export NODE_PATH="$S3_WORK/npm/node_modules${NODE_PATH:+:$NODE_PATH}"
    else
      s3_bad "npm install minio (registry unreachable?)"
      tail -5 "$S3_WORK/npm.log" | sed 's/^/     /'
    fi
  fi
  if node -e "require('minio')" 2>/dev/null; then
    if node "$SRC/tests/s3/test_minio.mjs" 127.0.0.1 "$S3_PORT" "$CFS_ACCESS_KEY" "$CFS_SECRET_KEY" > "$S3_WORK/js.out" 2>&1; then
      s3_ok "minio-js suite"
    else
      s3_bad "minio-js suite"
    fi
    grep -v '^ok ' "$S3_WORK/js.out" | sed 's/^/     /'
    grep -c '^ok ' "$S3_WORK/js.out" | sed 's/^/     checks passed: /'
  fi
fi
