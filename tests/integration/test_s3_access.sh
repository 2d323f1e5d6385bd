#!/bin/sh
# tests/integration/test_s3_access.sh - mod_s3 access from anonymous clients (curl with no
# signature) before and after a bucket is made public by a bucket policy or the
# public-read ACL, policy validation, and the header-section deadline for slow clients
# (header_timeout_ms, set short here in a config file).
# Env (from ctest): CFS_BIN, CFS_MODULE_DIR, CFS_SRC.
set -u
SRC=${CFS_SRC:-$(dirname "$0")/../..}
. "$SRC/tests/s3/lib.sh"
trap 's3_finish; exit $?' EXIT INT TERM
W=$S3_WORK
command -v curl >/dev/null || { echo "skip: no curl"; S3_PID=""; exit 0; }
S3_PORT=$(s3_free_port)
S3_DATA=$W/data
mkdir -p "$S3_DATA" "$W/state"
cat > "$W/gw.conf" <<EOF2
gateway = { workers = 2; admin = "off"; log_level = "info"; state_dir = "$W/state"; };
exports = ( { name = "data"; path = "$S3_DATA"; read_only = false; root_squash = false; } );
s3 = { enabled = true; bind = "127.0.0.1:$S3_PORT"; export = "data"; header_timeout_ms = 1000; };
EOF2
s3_check "validate-config accepts header_timeout_ms" "$CFS_BIN" validate-config --config "$W/gw.conf" --module-path "$CFS_MODULE_DIR"
mkdir -p "$W/bad"
sed 's/header_timeout_ms = 1000/header_timeout_ms = 5/' "$W/gw.conf" > "$W/bad/gw.conf"
"$CFS_BIN" validate-config --config "$W/bad/gw.conf" --module-path "$CFS_MODULE_DIR" > "$W/bad/out" 2>&1
s3_check "validate-config rejects header_timeout_ms = 5" sh -c "! $CFS_BIN validate-config --config $W/bad/gw.conf --module-path $CFS_MODULE_DIR && grep -q header_timeout_ms $W/bad/out"
"$CFS_BIN" start --config "$W/gw.conf" --module-path "$CFS_MODULE_DIR" > "$W/gateway.log" 2>&1 &
S3_PID=$!
i=0
until python3 -c "import socket; socket.create_connection(('127.0.0.1',$S3_PORT),0.2)" 2>/dev/null; do
  i=$((i + 1)); [ $i -gt 100 ] && { cat "$W/gateway.log"; exit 1; }; sleep 0.1
done
U=http://127.0.0.1:$S3_PORT
A="/usr/bin/aws --endpoint-url $U"

# status of an unsigned request: anon METHOD PATH
anon() { curl -s -o "$W/body" -w '%{http_code}' -X "$1" "$U$2"; }
anon_head() { curl -s -o /dev/null -w '%{http_code}' -I "$U$1"; }
code_is() { grep -q "<Code>$1</Code>" "$W/body"; }

printf 'public content\n' > "$W/obj.txt"
s3_check "aws s3 mb (public-to-be bucket)" $A s3 mb s3://pub-bucket
s3_check "aws s3 mb (private bucket)" $A s3 mb s3://priv-bucket
s3_check "upload" $A s3 cp "$W/obj.txt" s3://pub-bucket/dir/obj.txt
s3_check "upload (private)" $A s3 cp "$W/obj.txt" s3://priv-bucket/obj.txt

# ---- before: everything anonymous is refused ----
st=$(anon GET /pub-bucket/dir/obj.txt)
s3_check "anonymous GET before -> 403 AccessDenied" sh -c "[ $st = 403 ] && grep -q '<Code>AccessDenied</Code>' '$W/body'"
st=$(anon GET "/pub-bucket?list-type=2")
s3_check "anonymous list before -> 403" test "$st" = 403
s3_check "anonymous ListBuckets -> 403" test "$(anon GET /)" = 403
st=$(anon GET "/pub-bucket?policy")
s3_check "anonymous GetBucketPolicy -> 403" test "$st" = 403
code=$($A s3api get-bucket-policy --bucket pub-bucket 2>&1)
s3_check "GetBucketPolicy without a policy -> NoSuchBucketPolicy" sh -c "echo '$code' | grep -q NoSuchBucketPolicy"

# ---- a public-read policy (objects only) ----
cat > "$W/policy.json" <<'EOF2'
{"Version":"2012-10-17","Statement":[{"Sid":"PublicRead","Effect":"Allow","Principal":"*",
 "Action":["s3:GetObject"],"Resource":["arn:aws:s3:::pub-bucket/*"]}]}
EOF2
s3_check "put-bucket-policy (public read)" $A s3api put-bucket-policy --bucket pub-bucket --policy "file://$W/policy.json"
s3_check "get-bucket-policy returns it" sh -c "$A s3api get-bucket-policy --bucket pub-bucket --query Policy --output text | grep -q PublicRead"
st=$(anon GET /pub-bucket/dir/obj.txt)
s3_check "anonymous GET after -> 200 with the content" sh -c "[ $st = 200 ] && cmp -s '$W/body' '$W/obj.txt'"
s3_check "anonymous HEAD after -> 200" test "$(anon_head /pub-bucket/dir/obj.txt)" = 200
s3_check "anonymous GET with a Range" sh -c "[ \"\$(curl -s -r 0-5 $U/pub-bucket/dir/obj.txt)\" = public ]"
st=$(anon GET "/pub-bucket?list-type=2")
s3_check "anonymous list without s3:ListBucket -> 403" test "$st" = 403
s3_check "anonymous GET of a missing key without s3:ListBucket -> 403" test "$(anon GET /pub-bucket/dir/missing)" = 403
st=$(curl -s -o "$W/body" -w '%{http_code}' -X PUT --data-binary @"$W/obj.txt" "$U/pub-bucket/anon-put")
s3_check "anonymous PUT into the public bucket -> 403" sh -c "[ $st = 403 ] && [ ! -e '$S3_DATA/pub-bucket/anon-put' ]"
st=$(anon DELETE /pub-bucket/dir/obj.txt)
s3_check "anonymous DELETE -> 403, object kept" sh -c "[ $st = 403 ] && [ -e '$S3_DATA/pub-bucket/dir/obj.txt' ]"
st=$(anon DELETE "/pub-bucket?policy")
s3_check "anonymous DeleteBucketPolicy -> 403" test "$st" = 403
st=$(anon GET /priv-bucket/obj.txt)
s3_check "the other bucket stays private" test "$st" = 403

# ---- policy with {"AWS":"*"}, ListBucket and a Deny ----
cat > "$W/policy2.json" <<'EOF2'
{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::pub-bucket/*"},
 {"Effect":"Allow","Principal":{"AWS":["*"]},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::pub-bucket"},
 {"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pub-bucket/secret/*"}]}
EOF2
s3_check "upload a denied object" $A s3 cp "$W/obj.txt" s3://pub-bucket/secret/s.txt
s3_check "put-bucket-policy (list + deny)" $A s3api put-bucket-policy --bucket pub-bucket --policy "file://$W/policy2.json"
st=$(anon GET "/pub-bucket?list-type=2")
s3_check "anonymous list with s3:ListBucket -> 200" sh -c "[ $st = 200 ] && grep -q '<Key>dir/obj.txt</Key>' '$W/body'"
s3_check "anonymous GET allowed" test "$(anon GET /pub-bucket/dir/obj.txt)" = 200
st=$(anon GET /pub-bucket/dir/missing)
s3_check "anonymous GET of a missing key with s3:ListBucket -> 404 NoSuchKey" sh -c "[ $st = 404 ] && grep -q NoSuchKey '$W/body'"
s3_check "Deny wins over Allow" test "$(anon GET /pub-bucket/secret/s.txt)" = 403
s3_check "signed requests keep full access" $A s3 cp s3://pub-bucket/secret/s.txt "$W/s.back"

# ---- malformed policies ----
printf '{"Statement": [' > "$W/bad1.json"
s3_fails "invalid JSON policy refused" $A s3api put-bucket-policy --bucket pub-bucket --policy "file://$W/bad1.json"
cp "$S3_WORK/out" "$W/bad1.out"
s3_check "  ... as MalformedPolicy" grep -q MalformedPolicy "$W/bad1.out"
printf '{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other-bucket/*"}]}' > "$W/bad2.json"
s3_fails "policy naming another bucket refused" $A s3api put-bucket-policy --bucket pub-bucket --policy "file://$W/bad2.json"
printf '{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pub-bucket/*"}]}' > "$W/bad3.json"
s3_fails "policy with a bad Effect refused" $A s3api put-bucket-policy --bucket pub-bucket --policy "file://$W/bad3.json"
s3_check "the old policy is still in force" test "$(anon GET /pub-bucket/dir/obj.txt)" = 200

# ---- delete the policy ----
s3_check "delete-bucket-policy" $A s3api delete-bucket-policy --bucket pub-bucket
s3_check "anonymous GET after the policy is gone -> 403" test "$(anon GET /pub-bucket/dir/obj.txt)" = 403

# ---- the public-read ACL ----
s3_check "put-bucket-acl --acl public-read" $A s3api put-bucket-acl --bucket priv-bucket --acl public-read
s3_check "get-bucket-acl shows AllUsers READ" sh -c "$A s3api get-bucket-acl --bucket priv-bucket | grep -q AllUsers"
s3_check "anonymous GET (public-read ACL) -> 200" test "$(anon GET /priv-bucket/obj.txt)" = 200
s3_check "anonymous list (public-read ACL) -> 200" test "$(anon GET /priv-bucket)" = 200
s3_check "anonymous PUT (public-read ACL) -> 403" test "$(curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary x $U/priv-bucket/x)" = 403
s3_fails "public-read-write is refused" $A s3api put-bucket-acl --bucket priv-bucket --acl public-read-write
s3_check "put-bucket-acl --acl private" $A s3api put-bucket-acl --bucket priv-bucket --acl private
s3_check "anonymous GET after private -> 403" test "$(anon GET /priv-bucket/obj.txt)" = 403
s3_check "create-bucket --acl public-read" $A s3api create-bucket --bucket born-public --acl public-read
s3_check "  ... lists anonymously" test "$(anon GET /born-public)" = 200
s3_check "anonymous request to a missing bucket -> 403 (no existence hint)" test "$(anon GET /no-such-bucket/x)" = 403

# ---- slow clients: the header section has 1 s (header_timeout_ms = 1000) ----
cat > "$W/slow.py" <<EOF2
import socket, sys, time, threading
port = $S3_PORT
# a client that dribbles its header one byte every 150 ms
s = socket.create_connection(("127.0.0.1", port))
s.settimeout(10)
req = b"GET /pub-bucket/dir/obj.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"z" * 200 + b"\r\n\r\n"
t0 = time.time()
got = b""
closed = False
for i, b in enumerate(req):
    try:
        s.send(bytes([b]))
    except OSError:
        break
    time.sleep(0.15)
    s.setblocking(False)
    try:
        d = s.recv(65536)
        if d == b"":
            closed = True
            break
        got += d
    except BlockingIOError:
        pass
    except OSError:
        closed = True
        break
    finally:
        s.setblocking(True)
    if time.time() - t0 > 6:
        break
s.settimeout(3)
try:
    while True:
        d = s.recv(65536)
        if not d:
            closed = True
            break
        got += d
except OSError:
    closed = True
dt = time.time() - t0
head = got.split(b"\r\n", 1)[0]
print("status line:", head, "after %.1f s, closed=%s" % (dt, closed))
ok = (head.startswith(b"HTTP/1.1 408") or b"RequestTimeout" in got) and closed and dt < 5
# a stalled client that sent half a request line and nothing more
s2 = socket.create_connection(("127.0.0.1", port))
s2.send(b"GET /pub-bu")
s2.settimeout(5)
t1 = time.time()
g2 = b""
try:
    while True:
        d = s2.recv(65536)
        if not d:
            break
        g2 += d
except OSError:
    pass
print("stalled client:", g2.split(b"\r\n", 1)[0], "after %.1f s" % (time.time() - t1))
ok = ok and b"RequestTimeout" in g2 and time.time() - t1 < 4
sys.exit(0 if ok else 1)
EOF2
s3_check "slow header section -> RequestTimeout and close" python3 "$W/slow.py"
sed 's/^/     /' "$S3_WORK/out"
s3_check "gateway keeps serving after slow clients" $A s3 ls s3://pub-bucket/dir/
s3_check "a keep-alive client idle between requests is not cut by the header deadline" python3 -c "
import http.client, time
c = http.client.HTTPConnection('127.0.0.1', $S3_PORT)
c.request('GET', '/born-public'); r = c.getresponse(); r.read()
time.sleep(1.6)
c.request('GET', '/born-public'); r2 = c.getresponse(); r2.read()
assert r.status == 200 and r2.status == 200, (r.status, r2.status)
"
