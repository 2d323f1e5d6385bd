#!/bin/sh
# tests/integration/test_s3.sh - mod_s3 with real CLI clients: /usr/bin/aws (s3 and s3api,
# including a > 100 MiB multipart upload with default settings, presign) and s3cmd,
# against a private gateway on a free loopback port.
# Env (from ctest): CFS_BIN, CFS_MODULE_DIR, CFS_SRC.
set -u
. "${CFS_SRC:-$(dirname "$0")/../..}/tests/s3/lib.sh"
trap 's3_finish; exit $?' EXIT INT TERM
s3_start || exit 1
AWS=${AWS:-/usr/bin/aws}

AA="$AWS --endpoint-url $S3_URL"
W=$S3_WORK

# ---- aws s3 ----
s3_check "aws s3 mb" $AA s3 mb s3://cli-bucket
s3_check "bucket is a directory" test -d "$S3_DATA/cli-bucket"
s3_fails "aws s3 mb twice fails" $AA s3 mb s3://cli-bucket
printf 'small file\n' > "$W/small.txt"
s3_check "aws s3 cp (PUT)" $AA s3 cp "$W/small.txt" s3://cli-bucket/dir/small.txt
s3_check "PUT visible in the namespace" cmp "$W/small.txt" "$S3_DATA/cli-bucket/dir/small.txt"
s3_check "aws s3 cp (GET)" $AA s3 cp s3://cli-bucket/dir/small.txt "$W/small.back"
s3_check "GET content" cmp "$W/small.txt" "$W/small.back"
$AA s3 ls s3://cli-bucket/ > "$W/ls1" 2>&1
s3_check "aws s3 ls shows the prefix" grep -q "PRE dir/" "$W/ls1"
$AA s3 ls --recursive s3://cli-bucket/ > "$W/ls2" 2>&1
s3_check "aws s3 ls --recursive" grep -q "dir/small.txt" "$W/ls2"
$AA s3 ls > "$W/ls3" 2>&1
s3_check "aws s3 ls (buckets)" grep -q "cli-bucket" "$W/ls3"
s3_check "staging area hidden from ListBuckets" sh -c "! grep -q cfs-s3 '$W/ls3'"

# > 100 MiB with the CLI's default multipart settings (8 MiB parts)
head -c $((110 * 1024 * 1024 + 12345)) /dev/urandom > "$W/big.bin"
s3_check "aws s3 cp 110 MiB (multipart)" $AA s3 cp "$W/big.bin" s3://cli-bucket/big/big.bin
s3_check "multipart object intact on disk" cmp "$W/big.bin" "$S3_DATA/cli-bucket/big/big.bin"
$AA s3api head-object --bucket cli-bucket --key big/big.bin > "$W/head" 2>&1
s3_check "multipart ETag has -N suffix" grep -q '"ETag": "\\"[0-9a-f]*-14\\""' "$W/head"
s3_check "aws s3 cp GET 110 MiB" $AA s3 cp s3://cli-bucket/big/big.bin "$W/big.back"
s3_check "GET of the big object intact" cmp "$W/big.bin" "$W/big.back"
s3_check "no upload left in staging" sh -c "[ -z \"\$(ls -A '$S3_DATA/.cfs-s3/uploads')\" ]"
s3_check "no temp file left in staging" sh -c "[ -z \"\$(find '$S3_DATA/.cfs-s3/tmp' -type f)\" ]"

# sync, recursive copy, rm
mkdir -p "$W/tree/a/b" "$W/tree/c"
for f in a/1 a/b/2 c/3 top; do echo "$f" > "$W/tree/$f"; done
s3_check "aws s3 sync" $AA s3 sync "$W/tree" s3://cli-bucket/tree
s3_check "synced tree on disk" cmp "$W/tree/a/b/2" "$S3_DATA/cli-bucket/tree/a/b/2"
s3_check "aws s3 sync again (no changes)" $AA s3 sync "$W/tree" s3://cli-bucket/tree
s3_check "aws s3 cp --recursive down" $AA s3 cp --recursive s3://cli-bucket/tree "$W/tree2"
s3_check "recursive copy equal" diff -r "$W/tree" "$W/tree2"
s3_check "aws s3 rm" $AA s3 rm s3://cli-bucket/tree/top
s3_check "rm removed the file" test ! -e "$S3_DATA/cli-bucket/tree/top"
s3_check "aws s3 rm --recursive" $AA s3 rm --recursive s3://cli-bucket/tree
s3_check "recursive rm left no directories" test ! -e "$S3_DATA/cli-bucket/tree"

# presign
URL=$($AWS --endpoint-url "$S3_URL" s3 presign s3://cli-bucket/dir/small.txt --expires-in 60)
s3_check "aws s3 presign URL works" sh -c "python3 -c \"import urllib.request,sys; sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1]).read())\" '$URL' | cmp - '$W/small.txt'"

# ---- aws s3api ----
s3_check "s3api put-object with metadata" $AA s3api put-object --bucket cli-bucket --key api/obj \
  --body "$W/small.txt" --content-type text/x-test --metadata k1=v1 --cache-control no-cache
$AA s3api head-object --bucket cli-bucket --key api/obj > "$W/h2" 2>&1
s3_check "s3api head-object metadata" grep -q '"k1": "v1"' "$W/h2"
s3_check "s3api head-object content type" grep -q '"ContentType": "text/x-test"' "$W/h2"
s3_check "s3api get-object range" $AA s3api get-object --bucket cli-bucket --key api/obj --range bytes=0-4 "$W/r5"
s3_check "range content" sh -c "[ \"\$(cat '$W/r5')\" = small ]"
s3_fails "s3api get-object bad range -> error" $AA s3api get-object --bucket cli-bucket --key api/obj --range bytes=500-600 "$W/r6"
s3_check "s3api copy-object" $AA s3api copy-object --bucket cli-bucket --key api/copy --copy-source cli-bucket/api/obj
s3_check "s3api list-objects-v2" sh -c "$AA s3api list-objects-v2 --bucket cli-bucket --prefix api/ | grep -q api/copy"
s3_check "s3api list-objects (v1)" sh -c "$AA s3api list-objects --bucket cli-bucket --prefix api/ --delimiter / | grep -q api/obj"
s3_check "s3api get-bucket-location" $AA s3api get-bucket-location --bucket cli-bucket
s3_check "s3api put-bucket-versioning" $AA s3api put-bucket-versioning --bucket cli-bucket --versioning-configuration Status=Enabled
s3_check "s3api get-bucket-versioning" sh -c "$AA s3api get-bucket-versioning --bucket cli-bucket | grep -q Enabled"
s3_check "s3api list-object-versions" sh -c "$AA s3api list-object-versions --bucket cli-bucket --prefix api/ | grep -q api/obj"
UP=$($AA s3api create-multipart-upload --bucket cli-bucket --key api/mp --query UploadId --output text 2>"$W/err")
s3_check "s3api create-multipart-upload" test -n "$UP"
head -c $((5 * 1024 * 1024)) /dev/urandom > "$W/p1"
head -c 777 /dev/urandom > "$W/p2"
E1=$($AA s3api upload-part --bucket cli-bucket --key api/mp --upload-id "$UP" --part-number 1 --body "$W/p1" --query ETag --output text)
E2=$($AA s3api upload-part --bucket cli-bucket --key api/mp --upload-id "$UP" --part-number 2 --body "$W/p2" --query ETag --output text)
s3_check "s3api list-parts" sh -c "$AA s3api list-parts --bucket cli-bucket --key api/mp --upload-id $UP | grep -c PartNumber | grep -q 2"
s3_check "s3api list-multipart-uploads" sh -c "$AA s3api list-multipart-uploads --bucket cli-bucket | grep -q $UP"
printf '{"Parts":[{"PartNumber":1,"ETag":%s},{"PartNumber":2,"ETag":%s}]}' "$(printf '%s' "$E1" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')" "$(printf '%s' "$E2" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')" > "$W/parts.json"
s3_check "s3api complete-multipart-upload" $AA s3api complete-multipart-upload --bucket cli-bucket --key api/mp --upload-id "$UP" --multipart-upload "file://$W/parts.json"
s3_check "completed object" sh -c "cat '$W/p1' '$W/p2' | cmp - '$S3_DATA/cli-bucket/api/mp'"
UP2=$($AA s3api create-multipart-upload --bucket cli-bucket --key api/ab --query UploadId --output text)
s3_check "s3api abort-multipart-upload" $AA s3api abort-multipart-upload --bucket cli-bucket --key api/ab --upload-id "$UP2"
printf '{"Objects":[{"Key":"api/obj"},{"Key":"api/copy"}],"Quiet":true}' > "$W/del.json"
s3_check "s3api delete-objects (quiet)" $AA s3api delete-objects --bucket cli-bucket --delete "file://$W/del.json"
s3_check "delete-objects removed both" sh -c "[ ! -e '$S3_DATA/cli-bucket/api/obj' ] && [ ! -e '$S3_DATA/cli-bucket/api/copy' ]"
s3_fails "s3api delete-bucket non-empty fails" $AA s3api delete-bucket --bucket cli-bucket
# a versioned bucket keeps delete markers and old versions: remove every version first
purge_versions() {
  $AA s3api list-object-versions --bucket "$1" --output json > "$W/lov.json" &&
  python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
o = [{'Key': v['Key'], 'VersionId': v['VersionId']} for v in (d.get('Versions') or []) + (d.get('DeleteMarkers') or [])]
json.dump({'Objects': o, 'Quiet': True}, open(sys.argv[2], 'w'))
print(len(o))" "$W/lov.json" "$W/purge.json" > "$W/purge.n" &&
  { [ "$(cat "$W/purge.n")" = 0 ] || $AA s3api delete-objects --bucket "$1" --delete "file://$W/purge.json"; }
}
s3_check "s3api delete every version of the versioned bucket" purge_versions cli-bucket
s3_check "aws s3 rb --force" $AA s3 rb --force s3://cli-bucket
s3_check "bucket directory gone" test ! -e "$S3_DATA/cli-bucket"

# ---- versioning with s3api: versions live outside the visible tree ----
VB=cli-ver
VK=doc/v.txt
s3_check "s3api create-bucket (versioning)" $AA s3api create-bucket --bucket $VB
s3_check "s3api put-bucket-versioning Enabled" $AA s3api put-bucket-versioning --bucket $VB --versioning-configuration Status=Enabled
for i in 1 2 3; do
  printf 'content %s\n' $i > "$W/v$i"
  $AA s3api put-object --bucket $VB --key $VK --body "$W/v$i" --query VersionId --output text > "$W/vid$i" 2>&1
done
s3_check "s3api put-object x3 -> three version ids" sh -c "[ \$(cat '$W/vid1' '$W/vid2' '$W/vid3' | sort -u | grep -c '^[A-Za-z0-9][A-Za-z0-9_-]\\{31\\}\$') = 3 ]"
s3_check "visible file is the newest version" cmp "$W/v3" "$S3_DATA/$VB/$VK"
$AA s3api list-object-versions --bucket $VB --prefix doc/ --query 'Versions[].[VersionId,IsLatest]' --output text > "$W/lv" 2>&1
s3_check "s3api list-object-versions: 3 versions, newest latest" sh -c "[ \$(wc -l < '$W/lv') = 3 ] && head -1 '$W/lv' | grep -q -e \"\$(cat '$W/vid3').*True\""
for i in 1 2 3; do
  s3_check "s3api get-object --version-id (#$i)" sh -c "$AA s3api get-object --bucket $VB --key $VK --version-id \$(cat '$W/vid$i') '$W/got$i' >/dev/null && cmp '$W/v$i' '$W/got$i'"
done
$AA s3api delete-object --bucket $VB --key $VK > "$W/dm.json" 2>&1
s3_check "s3api delete-object -> delete marker" grep -q '"DeleteMarker": true' "$W/dm.json"
DM=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['VersionId'])" "$W/dm.json" 2>/dev/null)
s3_check "delete marker hides the file from NFS/SMB" test ! -e "$S3_DATA/$VB/$VK"
s3_fails "get-object after the marker fails" $AA s3api get-object --bucket $VB --key $VK "$W/nope"
s3_check "get-object --version-id of an old version after the marker" sh -c "$AA s3api get-object --bucket $VB --key $VK --version-id \$(cat '$W/vid1') '$W/old' >/dev/null && cmp '$W/v1' '$W/old'"
s3_check "s3api delete-object --version-id <marker>" $AA s3api delete-object --bucket $VB --key $VK --version-id "$DM"
s3_check "removing the marker restores the visible file" cmp "$W/v3" "$S3_DATA/$VB/$VK"
s3_check "s3api put-bucket-versioning Suspended" $AA s3api put-bucket-versioning --bucket $VB --versioning-configuration Status=Suspended
s3_check "suspended put-object -> version null" sh -c "[ \$($AA s3api put-object --bucket $VB --key $VK --body '$W/v1' --query VersionId --output text) = null ]"
s3_check "suspended: visible file = the null version" cmp "$W/v1" "$S3_DATA/$VB/$VK"
s3_check "suspended: the enabled-era versions remain" sh -c "$AA s3api get-object --bucket $VB --key $VK --version-id \$(cat '$W/vid3') '$W/got3b' >/dev/null && cmp '$W/v3' '$W/got3b'"
s3_check "versions kept outside the bucket's directory" sh -c "[ \"\$(ls -A '$S3_DATA/$VB/doc')\" = v.txt ] && [ -d '$S3_DATA/.cfs-s3/versions/$VB/$VK' ]"
s3_fails "delete-bucket with versions fails" $AA s3api delete-bucket --bucket $VB
s3_check "delete every version" purge_versions $VB
s3_check "s3api delete-bucket once empty" $AA s3api delete-bucket --bucket $VB

# ---- s3cmd ----
if command -v s3cmd >/dev/null 2>&1; then
  cat > "$W/s3cfg" <<EOF2
[default]
access_key = $CFS_ACCESS_KEY
secret_key = $CFS_SECRET_KEY
host_base = 127.0.0.1:$S3_PORT
host_bucket = 127.0.0.1:$S3_PORT
use_https = False
signature_v2 = False
bucket_location = us-east-1
EOF2
  C="s3cmd -c $W/s3cfg --no-progress"
  s3_check "s3cmd mb" $C mb s3://s3cmd-bucket
  s3_check "s3cmd put" $C put "$W/small.txt" s3://s3cmd-bucket/x/small.txt
  s3_check "s3cmd ls" sh -c "$C ls s3://s3cmd-bucket/x/ | grep -q small.txt"
  s3_check "s3cmd get" $C get --force s3://s3cmd-bucket/x/small.txt "$W/s3cmd.back"
  s3_check "s3cmd get content" cmp "$W/small.txt" "$W/s3cmd.back"
  head -c $((20 * 1024 * 1024)) /dev/urandom > "$W/mid.bin"
  s3_check "s3cmd put multipart (15 MiB chunks)" $C put --multipart-chunk-size-mb=15 "$W/mid.bin" s3://s3cmd-bucket/mid.bin
  s3_check "s3cmd multipart content" cmp "$W/mid.bin" "$S3_DATA/s3cmd-bucket/mid.bin"
  s3_check "s3cmd info" $C info s3://s3cmd-bucket/x/small.txt
  s3_check "s3cmd del" $C del s3://s3cmd-bucket/x/small.txt s3://s3cmd-bucket/mid.bin
  s3_check "s3cmd rb" $C rb s3://s3cmd-bucket
else
  echo "skip s3cmd (not installed)"
fi
