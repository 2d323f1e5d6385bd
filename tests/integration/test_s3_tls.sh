#!/bin/sh
# tests/integration/test_s3_tls.sh - mod_s3 over HTTPS (tls_cert/tls_key) with
# virtual-hosted-style addressing (domain), started from a config file: aws cli multipart
# upload and download, boto3 with its default checksums (unsigned-payload trailers over
# TLS), validate-config rejecting a bad key.
# Env (from ctest): CFS_BIN, CFS_MODULE_DIR, CFS_SRC.
set -u
SRC=${CFS_SRC:-$(dirname "$0")/../..}
. "$SRC/tests/s3/lib.sh"
trap 's3_finish; exit $?' EXIT INT TERM
W=$S3_WORK
command -v openssl >/dev/null || { echo "skip: no openssl"; exit 0; }
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/key.pem" -out "$W/cert.pem" -days 2 \
  -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1,DNS:s3.test,DNS:*.s3.test" 2>/dev/null
S3_PORT=$(s3_free_port)
S3_DATA=$W/data
mkdir -p "$S3_DATA" "$W/state"
write_conf() {
  cat > "$W/gw.conf" <<EOF2
gateway = { workers = 2; admin = "off"; log_level = "info"; state_dir = "$W/state"; };
exports = ( { name = "data"; path = "$S3_DATA"; read_only = false; root_squash = false; } );
users = ( { name = "alice"; uid = 4242; gid = 4242; s3_access_key = "alicekey";
            s3_secret_key = "alice-secret-0123"; } );
s3 = { enabled = true; bind = "127.0.0.1:$S3_PORT"; export = "data"; domain = "s3.test";
       tls_cert = "$W/cert.pem"; tls_key = "$1"; };
EOF2
}
write_conf "$W/cert.pem"
s3_fails "validate-config rejects a bad tls_key" "$CFS_BIN" validate-config --config "$W/gw.conf" --module-path "$CFS_MODULE_DIR"
write_conf "$W/key.pem"
s3_check "validate-config accepts the TLS config" "$CFS_BIN" validate-config --config "$W/gw.conf" --module-path "$CFS_MODULE_DIR"
"$CFS_BIN" start --config "$W/gw.conf" --module-path "$CFS_MODULE_DIR" > "$W/gateway.log" 2>&1 &
S3_PID=$!
i=0
until python3 -c "import socket; socket.create_connection(('127.0.0.1',$S3_PORT),0.2)" 2>/dev/null; do
  i=$((i + 1)); [ $i -gt 100 ] && { cat "$W/gateway.log"; exit 1; }; sleep 0.1
done
A="/usr/bin/aws --endpoint-url https://127.0.0.1:$S3_PORT --ca-bundle $W/cert.pem"
s3_check "https: aws s3 mb" $A s3 mb s3://tls-bucket
head -c $((20 * 1024 * 1024 + 7)) /dev/urandom > "$W/f"
s3_check "https: aws s3 cp 20 MiB (multipart)" $A s3 cp "$W/f" s3://tls-bucket/f --only-show-errors
s3_check "https: object on disk" cmp "$W/f" "$S3_DATA/tls-bucket/f"
s3_check "https: aws s3 cp down" $A s3 cp s3://tls-bucket/f "$W/f2" --only-show-errors
s3_check "https: download intact" cmp "$W/f" "$W/f2"
cat > "$W/t.py" <<EOF2
import socket, sys, boto3
from botocore.config import Config
orig = socket.getaddrinfo
def gai(host, *a, **k):
    return orig("127.0.0.1" if host.endswith("s3.test") else host, *a, **k)
socket.getaddrinfo = gai
kw = dict(verify="$W/cert.pem", region_name="us-east-1", aws_access_key_id="$CFS_ACCESS_KEY",
          aws_secret_access_key="$CFS_SECRET_KEY")
s3 = boto3.client("s3", endpoint_url="https://127.0.0.1:$S3_PORT", **kw)
s3.put_object(Bucket="tls-bucket", Key="boto", Body=b"b" * 300000)
assert s3.get_object(Bucket="tls-bucket", Key="boto")["Body"].read() == b"b" * 300000
v = boto3.client("s3", endpoint_url="https://s3.test:$S3_PORT",
                 config=Config(s3={"addressing_style": "virtual"}), **kw)
assert {"boto", "f"} <= {o["Key"] for o in v.list_objects_v2(Bucket="tls-bucket")["Contents"]}
v.put_object(Bucket="tls-bucket", Key="vh/key", Body=b"virtual")
assert open("$S3_DATA/tls-bucket/vh/key", "rb").read() == b"virtual"
EOF2
s3_check "https: boto3 default checksums + virtual-hosted style" /usr/bin/python3 "$W/t.py"
# a user of the users table acts with its own uid/gid in the namespace
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$S3_DATA/alice-bucket" && chown 4242:4242 "$S3_DATA/alice-bucket"
  UA="env AWS_ACCESS_KEY_ID=alicekey AWS_SECRET_ACCESS_KEY=alice-secret-0123 $A"
  s3_check "users table: alice writes into her bucket" $UA s3 cp "$W/cert.pem" s3://alice-bucket/c.pem --only-show-errors
  s3_check "users table: the file belongs to alice's uid" sh -c "[ \"\$(stat -c %u '$S3_DATA/alice-bucket/c.pem')\" = 4242 ]"
  s3_fails "users table: alice cannot write into root's bucket" $UA s3 cp "$W/cert.pem" s3://tls-bucket/alice.pem --only-show-errors
  s3_fails "users table: wrong secret refused" env AWS_ACCESS_KEY_ID=alicekey AWS_SECRET_ACCESS_KEY=nope $A s3 ls s3://alice-bucket
fi
if [ "$(command -v python3)" != /usr/bin/python3 ]; then
  s3_check "https: newer botocore (unsigned payload trailer)" python3 "$W/t.py"
fi
