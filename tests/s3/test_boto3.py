#!/usr/bin/python3
"""boto3 (default checksum settings of the installed botocore) against a running mod_s3.

Usage: test_boto3.py ENDPOINT ACCESS_KEY SECRET_KEY DATA_DIR
Prints one line per check and a final "N passed, N failed"; exits 1 on any failure.
"""
import base64
import datetime
import hashlib
import io
import os
import sys
import time
import urllib.request
import urllib.error

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError

from checks import check, finish

ENDPOINT, AK, SK, DATA = sys.argv[1:5]



def err_code(fn, *a, **kw):
    try:
        fn(*a, **kw)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    return None, 200


def client(**cfg):
    return boto3.client("s3", endpoint_url=ENDPOINT, aws_access_key_id=AK,
                        aws_secret_access_key=SK, region_name="us-east-1",
                        config=Config(**cfg) if cfg else None)


s3 = client()
B = os.environ.get("BOTO_BUCKET", "boto-bucket")
print("botocore %s, bucket %s" % (botocore.__version__, B))

# ---- buckets ----
s3.create_bucket(Bucket=B)
check("CreateBucket", os.path.isdir(os.path.join(DATA, B)))
code, st = err_code(s3.create_bucket, Bucket=B)
check("CreateBucket twice -> BucketAlreadyOwnedByYou", code == "BucketAlreadyOwnedByYou", code)
code, _ = err_code(s3.create_bucket, Bucket="Bad_Name")
check("CreateBucket bad name rejected", code is not None, code)
s3.create_bucket(Bucket="boto-loc", CreateBucketConfiguration={"LocationConstraint": "us-east-1"}) \
    if False else None  # us-east-1 must not be sent as a constraint by clients
names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
check("ListBuckets", B in names and ".cfs-s3" not in names, names)
s3.head_bucket(Bucket=B)
check("HeadBucket", True)
code, st = err_code(s3.head_bucket, Bucket="no-such-bucket")
check("HeadBucket missing -> 404", st == 404, (code, st))
loc = s3.get_bucket_location(Bucket=B)
check("GetBucketLocation", loc.get("LocationConstraint") in (None, ""), loc)
v = s3.get_bucket_versioning(Bucket=B)
check("GetBucketVersioning (unset)", "Status" not in v, v)
s3.put_bucket_versioning(Bucket=B, VersioningConfiguration={"Status": "Enabled"})
check("PutBucketVersioning", s3.get_bucket_versioning(Bucket=B).get("Status") == "Enabled")
s3.put_bucket_versioning(Bucket=B, VersioningConfiguration={"Status": "Suspended"})
check("PutBucketVersioning Suspended", s3.get_bucket_versioning(Bucket=B).get("Status") == "Suspended")

# ---- objects ----
body = b"hello boto3\n" * 1000
r = s3.put_object(Bucket=B, Key="a/b/c.txt", Body=body, ContentType="text/plain",
                  Metadata={"color": "blue", "Mixed-Case": "x"}, CacheControl="max-age=60",
                  ContentDisposition="attachment; filename=c.txt", ContentEncoding="identity")
etag = hashlib.md5(body).hexdigest()
check("PutObject ETag = MD5", r["ETag"] == '"%s"' % etag, r["ETag"])
check("PutObject visible on disk at once",
      open(os.path.join(DATA, B, "a/b/c.txt"), "rb").read() == body)
g = s3.get_object(Bucket=B, Key="a/b/c.txt")
check("GetObject body", g["Body"].read() == body)
check("GetObject Content-Type", g["ContentType"] == "text/plain", g["ContentType"])
check("GetObject x-amz-meta-*", g["Metadata"] == {"color": "blue", "mixed-case": "x"}, g["Metadata"])
check("GetObject Cache-Control", g.get("CacheControl") == "max-age=60", g.get("CacheControl"))
check("GetObject Content-Disposition", g.get("ContentDisposition") == "attachment; filename=c.txt")
check("GetObject Content-Encoding", g.get("ContentEncoding") == "identity", g.get("ContentEncoding"))
check("x-amz-request-id on every response", bool(g["ResponseMetadata"]["HTTPHeaders"].get("x-amz-request-id")))
h = s3.head_object(Bucket=B, Key="a/b/c.txt")
check("HeadObject", h["ContentLength"] == len(body) and h["ETag"] == '"%s"' % etag)
code, st = err_code(s3.head_object, Bucket=B, Key="a/b/missing")
check("HeadObject missing -> 404", st == 404, (code, st))
code, st = err_code(s3.get_object, Bucket=B, Key="a/b/missing")
check("GetObject missing -> NoSuchKey", code == "NoSuchKey", code)
code, st = err_code(s3.get_object, Bucket=B, Key="a/b")
check("GetObject on a directory -> NoSuchKey", code == "NoSuchKey", code)

# checksums (default botocore settings already send CRC32 on PUT; ask for the others)
for alg in ("CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"):
    try:
        r = s3.put_object(Bucket=B, Key="ck/" + alg, Body=b"checksum me", ChecksumAlgorithm=alg)
        h = s3.head_object(Bucket=B, Key="ck/" + alg, ChecksumMode="ENABLED")
        check("PutObject x-amz-checksum-%s stored and returned" % alg.lower(),
              h.get("Checksum" + alg) == r.get("Checksum" + alg) and r.get("Checksum" + alg),
              (h.get("Checksum" + alg), r.get("Checksum" + alg)))
    except Exception as e:  # CRC32C/CRC64NVME need awscrt (botocore[crt])
        if alg in ("CRC32C", "CRC64NVME") and ("Dependency" in type(e).__name__ or
                                              "Unsupported checksum" in str(e)):
            print("skip %s via boto3 (%s; covered by the raw-request test)" % (alg, type(e).__name__))
        else:
            check("PutObject checksum %s" % alg, False, repr(e))

# Content-MD5 / BadDigest
code, st = err_code(s3.put_object, Bucket=B, Key="bad-md5", Body=b"abc",
                    ContentMD5=base64.b64encode(hashlib.md5(b"abd").digest()).decode())
check("PutObject wrong Content-MD5 -> BadDigest", code == "BadDigest", code)
check("no half-written object after BadDigest", not os.path.exists(os.path.join(DATA, B, "bad-md5")))
s3.put_object(Bucket=B, Key="good-md5", Body=b"abc",
              ContentMD5=base64.b64encode(hashlib.md5(b"abc").digest()).decode())
check("PutObject right Content-MD5", True)

# ranges
data = bytes(range(256)) * 40
s3.put_object(Bucket=B, Key="range.bin", Body=data)
g = s3.get_object(Bucket=B, Key="range.bin", Range="bytes=10-19")
check("Range GET", g["Body"].read() == data[10:20] and g["ContentRange"] == "bytes 10-19/%d" % len(data))
g = s3.get_object(Bucket=B, Key="range.bin", Range="bytes=-5")
check("Suffix range GET", g["Body"].read() == data[-5:])
g = s3.get_object(Bucket=B, Key="range.bin", Range="bytes=10230-")
check("Open range GET", g["Body"].read() == data[10230:])
code, st = err_code(s3.get_object, Bucket=B, Key="range.bin", Range="bytes=99999-")
check("Unsatisfiable range -> 416 InvalidRange", st == 416 and code == "InvalidRange", (code, st))

# conditionals
e2 = s3.head_object(Bucket=B, Key="range.bin")["ETag"]
code, st = err_code(s3.get_object, Bucket=B, Key="range.bin", IfMatch='"nope"')
check("If-Match mismatch -> 412", st == 412, (code, st))
g = s3.get_object(Bucket=B, Key="range.bin", IfMatch=e2)
check("If-Match match -> 200", g["ResponseMetadata"]["HTTPStatusCode"] == 200)
code, st = err_code(s3.get_object, Bucket=B, Key="range.bin", IfNoneMatch=e2)
check("If-None-Match match -> 304", st == 304, (code, st))
future = datetime.datetime.utcnow() + datetime.timedelta(days=1)
past = datetime.datetime(2000, 1, 1)
code, st = err_code(s3.get_object, Bucket=B, Key="range.bin", IfModifiedSince=future)
check("If-Modified-Since future -> 304", st == 304, (code, st))
code, st = err_code(s3.get_object, Bucket=B, Key="range.bin", IfUnmodifiedSince=past)
check("If-Unmodified-Since past -> 412", st == 412, (code, st))
try:
    code, st = err_code(s3.put_object, Bucket=B, Key="range.bin", Body=b"x", IfNoneMatch="*")
    check("PUT If-None-Match: * on existing key -> 412", st == 412, (code, st))
    s3.put_object(Bucket=B, Key="fresh-key", Body=b"x", IfNoneMatch="*")
    check("PUT If-None-Match: * on a new key", s3.get_object(Bucket=B, Key="fresh-key")["Body"].read() == b"x")
except (TypeError, botocore.exceptions.ParamValidationError):
    print("skip If-None-Match on PUT via boto3 (botocore %s too old; covered by test_raw.py)" % botocore.__version__)

# copy
s3.copy_object(Bucket=B, Key="copy1.txt", CopySource={"Bucket": B, "Key": "a/b/c.txt"})
g = s3.get_object(Bucket=B, Key="copy1.txt")
check("CopyObject (COPY metadata)", g["Body"].read() == body and g["Metadata"].get("color") == "blue"
      and g["ContentType"] == "text/plain")
s3.copy_object(Bucket=B, Key="copy2.txt", CopySource={"Bucket": B, "Key": "a/b/c.txt"},
               MetadataDirective="REPLACE", Metadata={"shape": "round"}, ContentType="x/y")
g = s3.get_object(Bucket=B, Key="copy2.txt")
check("CopyObject (REPLACE metadata)", g["Metadata"] == {"shape": "round"} and g["ContentType"] == "x/y",
      (g["Metadata"], g["ContentType"]))
code, st = err_code(s3.copy_object, Bucket=B, Key="copy3.txt", CopySource={"Bucket": B, "Key": "a/b/c.txt"},
                    CopySourceIfMatch='"nope"')
check("CopyObject x-amz-copy-source-if-match -> 412", st == 412, (code, st))
code, st = err_code(s3.copy_object, Bucket=B, Key="copy3.txt", CopySource={"Bucket": B, "Key": "nope"})
check("CopyObject missing source -> NoSuchKey", code == "NoSuchKey", code)

# listing
for k in ["l/a", "l/b/1", "l/b/2", "l/c", "l/b-x", "l/b0", "l/d/e/f", "l/sp ace", "l/ü"]:
    s3.put_object(Bucket=B, Key=k, Body=k.encode())
allk = []
tok = None
while True:
    kw = dict(Bucket=B, Prefix="l/", MaxKeys=3)
    if tok:
        kw["ContinuationToken"] = tok
    r = s3.list_objects_v2(**kw)
    allk += [o["Key"] for o in r.get("Contents", [])]
    if not r["IsTruncated"]:
        break
    tok = r["NextContinuationToken"]
want = sorted(["l/a", "l/b/1", "l/b/2", "l/c", "l/b-x", "l/b0", "l/d/e/f", "l/sp ace", "l/ü"],
              key=lambda s: s.encode())
check("ListObjectsV2 pages in S3 byte order", allk == want, allk)
r = s3.list_objects_v2(Bucket=B, Prefix="l/", Delimiter="/")
check("ListObjectsV2 delimiter CommonPrefixes",
      [p["Prefix"] for p in r.get("CommonPrefixes", [])] == ["l/b/", "l/d/"] and
      [o["Key"] for o in r["Contents"]] == ["l/a", "l/b-x", "l/b0", "l/c", "l/sp ace", "l/ü"], r)
r = s3.list_objects_v2(Bucket=B, Prefix="l/", StartAfter="l/b0")
check("ListObjectsV2 start-after", [o["Key"] for o in r["Contents"]][0] == "l/c", r.get("Contents"))
r = s3.list_objects(Bucket=B, Prefix="l/", Marker="l/b/2", MaxKeys=2)
check("ListObjects v1 marker/max-keys", [o["Key"] for o in r["Contents"]] == ["l/b0", "l/c"] and r["IsTruncated"], r)
r = s3.list_objects(Bucket=B, Prefix="l/", Delimiter="/")
check("ListObjects v1 delimiter", len(r.get("CommonPrefixes", [])) == 2)
r = s3.list_objects_v2(Bucket=B, Prefix="l/s", EncodingType="url")
check("ListObjectsV2 encoding-type=url",
      [o["Key"] for o in r["Contents"]] == ["l/sp%20ace"], r.get("Contents"))
r = s3.list_objects_v2(Bucket=B, Prefix="l/d/e/")
check("ListObjectsV2 prefix into nested dirs", [o["Key"] for o in r["Contents"]] == ["l/d/e/f"])
r = s3.list_object_versions(Bucket=B, Prefix="l/a")
check("ListObjectVersions", [v["Key"] for v in r.get("Versions", [])] == ["l/a"], r)
# a file written directly into the tree (as NFS/SMB would) lists and reads with an MD5 ETag
os.makedirs(os.path.join(DATA, B, "nfs"), exist_ok=True)
open(os.path.join(DATA, B, "nfs", "direct.txt"), "wb").write(b"written by another protocol")
g = s3.get_object(Bucket=B, Key="nfs/direct.txt")
check("cross-protocol file readable, ETag computed",
      g["Body"].read() == b"written by another protocol" and
      g["ETag"] == '"%s"' % hashlib.md5(b"written by another protocol").hexdigest(), g["ETag"])
code, st = err_code(s3.put_object, Bucket=B, Key="l/b", Body=b"x")
check("PUT over an existing directory -> InvalidObjectName", code == "InvalidObjectName", code)
code, st = err_code(s3.put_object, Bucket=B, Key="l/a/x", Body=b"x")
check("PUT below an existing object -> InvalidObjectName", code == "InvalidObjectName", code)

# delete
s3.delete_object(Bucket=B, Key="copy2.txt")
check("DeleteObject", not os.path.exists(os.path.join(DATA, B, "copy2.txt")))
s3.delete_object(Bucket=B, Key="never-existed")
check("DeleteObject missing key succeeds", True)
r = s3.delete_objects(Bucket=B, Delete={"Objects": [{"Key": "l/a"}, {"Key": "l/b/1"}, {"Key": "nope"}]})
check("DeleteObjects", sorted(d["Key"] for d in r.get("Deleted", [])) == ["l/a", "l/b/1", "nope"], r)
r = s3.delete_objects(Bucket=B, Delete={"Objects": [{"Key": "l/c"}], "Quiet": True})
check("DeleteObjects quiet", "Deleted" not in r and not os.path.exists(os.path.join(DATA, B, "l/c")), r)
code, st = err_code(s3.delete_bucket, Bucket=B)
check("DeleteBucket non-empty -> BucketNotEmpty", code == "BucketNotEmpty", code)

# multipart
mp = s3.create_multipart_upload(Bucket=B, Key="mp/obj", ContentType="application/x-test",
                                Metadata={"m": "1"})
uid = mp["UploadId"]
p1 = os.urandom(5 * 1024 * 1024)
p2 = os.urandom(1234)
e1 = s3.upload_part(Bucket=B, Key="mp/obj", UploadId=uid, PartNumber=1, Body=p1)["ETag"]
e2 = s3.upload_part(Bucket=B, Key="mp/obj", UploadId=uid, PartNumber=2, Body=p2)["ETag"]
ups = s3.list_multipart_uploads(Bucket=B)
check("ListMultipartUploads", [u["UploadId"] for u in ups.get("Uploads", [])] == [uid], ups)
lp = s3.list_parts(Bucket=B, Key="mp/obj", UploadId=uid)
check("ListParts", [(p["PartNumber"], p["Size"]) for p in lp["Parts"]] == [(1, len(p1)), (2, len(p2))], lp)
check("parts not visible in the bucket", "mp/obj" not in [o["Key"] for o in s3.list_objects_v2(Bucket=B).get("Contents", [])])
code, st = err_code(s3.complete_multipart_upload, Bucket=B, Key="mp/obj", UploadId=uid,
                    MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]})
check("Complete out of order -> InvalidPartOrder", code == "InvalidPartOrder", code)
code, st = err_code(s3.complete_multipart_upload, Bucket=B, Key="mp/obj", UploadId=uid,
                    MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"00000000000000000000000000000000"'}]})
check("Complete wrong ETag -> InvalidPart", code == "InvalidPart", code)
r = s3.complete_multipart_upload(Bucket=B, Key="mp/obj", UploadId=uid,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1},
                                                            {"PartNumber": 2, "ETag": e2}]})
want = hashlib.md5(hashlib.md5(p1).digest() + hashlib.md5(p2).digest()).hexdigest() + "-2"
check("CompleteMultipartUpload ETag md5-of-md5s-N", r["ETag"] == '"%s"' % want, r["ETag"])
g = s3.get_object(Bucket=B, Key="mp/obj")
check("multipart object content and metadata", g["Body"].read() == p1 + p2 and
      g["ContentType"] == "application/x-test" and g["Metadata"] == {"m": "1"})
mp = s3.create_multipart_upload(Bucket=B, Key="mp/small")
uid = mp["UploadId"]
e1 = s3.upload_part(Bucket=B, Key="mp/small", UploadId=uid, PartNumber=1, Body=b"x" * 100)["ETag"]
e2 = s3.upload_part(Bucket=B, Key="mp/small", UploadId=uid, PartNumber=2, Body=b"y" * 100)["ETag"]
code, st = err_code(s3.complete_multipart_upload, Bucket=B, Key="mp/small", UploadId=uid,
                    MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
check("Complete small non-last part -> EntityTooSmall", code == "EntityTooSmall", code)
s3.abort_multipart_upload(Bucket=B, Key="mp/small", UploadId=uid)
code, st = err_code(s3.list_parts, Bucket=B, Key="mp/small", UploadId=uid)
check("AbortMultipartUpload -> NoSuchUpload after", code == "NoSuchUpload", code)
mp = s3.create_multipart_upload(Bucket=B, Key="mp/copied")
uid = mp["UploadId"]
r1 = s3.upload_part_copy(Bucket=B, Key="mp/copied", UploadId=uid, PartNumber=1,
                         CopySource={"Bucket": B, "Key": "mp/obj"}, CopySourceRange="bytes=0-5242879")
r2 = s3.upload_part_copy(Bucket=B, Key="mp/copied", UploadId=uid, PartNumber=2,
                         CopySource={"Bucket": B, "Key": "range.bin"}, CopySourceRange="bytes=0-99")
s3.complete_multipart_upload(Bucket=B, Key="mp/copied", UploadId=uid,
                             MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r1["CopyPartResult"]["ETag"]},
                                                        {"PartNumber": 2, "ETag": r2["CopyPartResult"]["ETag"]}]})
g = s3.get_object(Bucket=B, Key="mp/copied")["Body"].read()
check("UploadPartCopy with ranges", g == p1 + data[:100])
big = os.urandom(12 * 1024 * 1024)
s3.upload_fileobj(io.BytesIO(big), B, "mp/transfer", Config=boto3.s3.transfer.TransferConfig(
    multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024))
check("boto3 managed multipart transfer", s3.get_object(Bucket=B, Key="mp/transfer")["Body"].read() == big)

# presigned URLs: boto3's default (legacy query auth) and SigV4
url = s3.generate_presigned_url("get_object", Params={"Bucket": B, "Key": "range.bin"}, ExpiresIn=60)
check("presigned GET (boto3 default)", urllib.request.urlopen(url).read() == data)
s3 = client(signature_version="s3v4")
url = s3.generate_presigned_url("get_object", Params={"Bucket": B, "Key": "range.bin"}, ExpiresIn=60)
check("presigned GET", urllib.request.urlopen(url).read() == data)
url = s3.generate_presigned_url("put_object", Params={"Bucket": B, "Key": "presigned-put"}, ExpiresIn=60)
req = urllib.request.Request(url, data=b"via presigned put", method="PUT")
urllib.request.urlopen(req).read()
check("presigned PUT", s3.get_object(Bucket=B, Key="presigned-put")["Body"].read() == b"via presigned put")
url = s3.generate_presigned_url("get_object", Params={"Bucket": B, "Key": "range.bin"}, ExpiresIn=1)
time.sleep(2.2)
try:
    urllib.request.urlopen(url)
    check("expired presigned URL -> 403", False)
except urllib.error.HTTPError as e:
    check("expired presigned URL -> 403 AccessDenied", e.code == 403 and b"AccessDenied" in e.read())

# signatures
bad = boto3.client("s3", endpoint_url=ENDPOINT, aws_access_key_id=AK, aws_secret_access_key=SK + "x",
                   region_name="us-east-1")
code, st = err_code(bad.list_buckets)
check("wrong secret -> SignatureDoesNotMatch", code == "SignatureDoesNotMatch", code)
bad = boto3.client("s3", endpoint_url=ENDPOINT, aws_access_key_id="NOPE", aws_secret_access_key=SK,
                   region_name="us-east-1")
code, st = err_code(bad.list_buckets)
check("unknown access key -> InvalidAccessKeyId", code == "InvalidAccessKeyId", code)

# signed aws-chunked uploads (what older SDKs and payload_signing_enabled do)
try:
    s3c = client(s3={"payload_signing_enabled": True}, request_checksum_calculation="when_required")
    s3c.put_object(Bucket=B, Key="signed-payload", Body=b"signed payload body")
    check("signed payload PUT", s3.get_object(Bucket=B, Key="signed-payload")["Body"].read() == b"signed payload body")
except (TypeError, botocore.exceptions.ParamValidationError):
    pass

# the bucket empties and goes
s3.delete_bucket(Bucket=B + "-empty") if False else None
s3.create_bucket(Bucket=B + "-empty")
s3.delete_bucket(Bucket=B + "-empty")
code, st = err_code(s3.head_bucket, Bucket=B + "-empty")
check("DeleteBucket", st == 404, (code, st))

finish()
