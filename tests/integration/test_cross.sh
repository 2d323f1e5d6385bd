# tests/integration/test_cross.sh - one namespace, two protocols: one gateway serves
# the same export over NFSv3 (libnfs-utils) and S3 (aws cli). An object PUT over S3 is
# read over NFS at once, byte for byte; a file written over NFS lists and reads over S3
# with an MD5 ETag; overwrites and deletes on one side are seen on the other at once.
. "$(dirname "$0")/lib.sh"

AWS=/usr/bin/aws
for t in nfs-cat nfs-cp nfs-ls $AWS; do
  command -v $t >/dev/null 2>&1 || { bad "$t missing (scripts/install-deps.sh test)"; finish; exit 1; }
done
[ -f "$CFS_MODULE_DIR/mod_nfs3.so" ] && [ -f "$CFS_MODULE_DIR/mod_s3.so" ] ||
  { bad "mod_nfs3.so and mod_s3.so must be built"; finish; exit 1; }

export CFS_ACCESS_KEY=crossaccess CFS_SECRET_KEY=crosssecret0123456789
export AWS_ACCESS_KEY_ID=$CFS_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$CFS_SECRET_KEY
export AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=$T_TMP/aws-config AWS_SHARED_CREDENTIALS_FILE=$T_TMP/aws-creds
: >"$AWS_CONFIG_FILE"
: >"$AWS_SHARED_CREDENTIALS_FILE"

conf=$T_TMP/conf
data=$T_TMP/data
mkdir -p "$conf" "$data"
AP=$(free_port); NP=$(free_port); MP=$(free_port); SP=$(free_port)
cat >"$conf/gateway.conf" <<EOC
gateway = { admin = "127.0.0.1:$AP"; state_dir = "$T_TMP/state"; };
exports = ( { name = "data"; path = "$data"; root_squash = false; } );
EOC
cat >"$conf/10-nfs3.conf" <<EOC
nfs3 = { enabled = true; bind = "127.0.0.1:$NP"; mount_bind = "127.0.0.1:$MP"; };
EOC
cat >"$conf/20-s3.conf" <<EOC
s3 = { enabled = true; bind = "127.0.0.1:$SP"; export = "data"; };
EOC
start_gw start --config "$conf" --module-path "$CFS_MODULE_DIR"
wait_http "http://127.0.0.1:$AP/ready" 15 || { bad "gateway with nfs3 + s3 did not become ready"; finish; exit 1; }
ok "one gateway serves nfs3 and s3 on one export"

s3() { $AWS --endpoint-url "http://127.0.0.1:$SP" "$@"; }
nfs() { # path under the export
  echo "nfs://127.0.0.1/data/$1?nfsport=$NP&mountport=$MP&version=3"
}

check "S3 create bucket" s3 s3api create-bucket --bucket xbucket
head -c 300000 /dev/urandom >"$T_TMP/obj1"
check "S3 PUT of a key with a prefix" s3 s3 cp "$T_TMP/obj1" s3://xbucket/dir/obj1.bin
nfs-cat "$(nfs xbucket/dir/obj1.bin)" >"$T_TMP/obj1.nfs" 2>"$T_TMP/err"
check "NFS reads the S3 object at once, byte for byte" cmp "$T_TMP/obj1" "$T_TMP/obj1.nfs"
check "NFS lists the bucket's prefix directory" sh -c "nfs-ls '$(nfs xbucket/dir)' | grep -q obj1.bin"

printf 'written over nfs\n' >"$T_TMP/fromnfs"
check "NFS writes a file into the bucket" nfs-cp "$T_TMP/fromnfs" "$(nfs xbucket/fromnfs.txt)"
check "S3 lists the NFS file" sh -c "$AWS --endpoint-url http://127.0.0.1:$SP s3 ls s3://xbucket/ | grep -q fromnfs.txt"
s3 s3api get-object --bucket xbucket --key fromnfs.txt "$T_TMP/fromnfs.s3" >"$T_TMP/get.json" 2>&1
check "S3 GET returns the NFS file's bytes" cmp "$T_TMP/fromnfs" "$T_TMP/fromnfs.s3"
md5=$(md5sum "$T_TMP/fromnfs" | cut -d' ' -f1)
check "S3 ETag of the NFS file is its MD5" grep -q "$md5" "$T_TMP/get.json"

printf 'version two\n' >"$T_TMP/v2"
check "S3 overwrites the object" s3 s3 cp "$T_TMP/v2" s3://xbucket/fromnfs.txt
nfs-cat "$(nfs xbucket/fromnfs.txt)" >"$T_TMP/v2.nfs" 2>/dev/null
check "NFS sees the S3 overwrite at once" cmp "$T_TMP/v2" "$T_TMP/v2.nfs"

check "S3 deletes the object" s3 s3 rm s3://xbucket/dir/obj1.bin
check "NFS no longer finds it" sh -c "! nfs-cat '$(nfs xbucket/dir/obj1.bin)' >/dev/null 2>&1"
finish
