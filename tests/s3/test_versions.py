#!/usr/bin/python3
"""S3 versioning through boto3 against a running mod_s3, checked over the file system too.

Usage: test_versions.py ENDPOINT ACCESS_KEY SECRET_KEY DATA_DIR
The visible file <DATA>/<bucket>/<key> must always hold the current version (what NFS and
SMB clients see); older versions live under <DATA>/.cfs-s3/versions/.
Prints one line per check and a final "N passed, N failed"; exits 1 on any failure.
"""
import os
import sys

import boto3
from botocore.exceptions import ClientError

from checks import check, finish

ENDPOINT, AK, SK, DATA = sys.argv[1:5]


def err(fn, *a, **kw):
    try:
        fn(*a, **kw)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"], \
            e.response["ResponseMetadata"]["HTTPHeaders"]
    return None, 200, {}


def disk(b, k):
    p = os.path.join(DATA, b, k)
    return open(p, "rb").read() if os.path.isfile(p) else None


s3 = boto3.client("s3", endpoint_url=ENDPOINT, aws_access_key_id=AK, aws_secret_access_key=SK,
                  region_name="us-east-1")
B = "ver-bucket"
s3.create_bucket(Bucket=B)
s3.put_bucket_versioning(Bucket=B, VersioningConfiguration={"Status": "Enabled"})

# ---- three versions of one key ----
ids = []
for i in range(3):
    r = s3.put_object(Bucket=B, Key="doc/k.txt", Body=b"version %d" % i)
    ids.append(r.get("VersionId"))
check("PutObject returns a version id each time",
      all(ids) and len(set(ids)) == 3 and all(len(v) == 32 for v in ids), ids)
check("version ids are URL-safe", all(c.isalnum() or c in "-_" for v in ids for c in v), ids)
check("visible file holds the current version", disk(B, "doc/k.txt") == b"version 2")
check("old versions are outside the bucket's tree",
      sorted(os.listdir(os.path.join(DATA, B, "doc"))) == ["k.txt"], os.listdir(os.path.join(DATA, B, "doc")))
r = s3.list_object_versions(Bucket=B, Prefix="doc/")
vs = r.get("Versions", [])
check("ListObjectVersions lists 3 versions newest first",
      [v["VersionId"] for v in vs] == ids[::-1], [v["VersionId"] for v in vs])
check("IsLatest only on the newest", [v["IsLatest"] for v in vs] == [True, False, False])
check("version sizes", [v["Size"] for v in vs] == [9, 9, 9])
for i, vid in enumerate(ids):
    g = s3.get_object(Bucket=B, Key="doc/k.txt", VersionId=vid)
    check("GetObject versionId #%d" % i, g["Body"].read() == b"version %d" % i and g["VersionId"] == vid)
h = s3.head_object(Bucket=B, Key="doc/k.txt", VersionId=ids[0])
check("HeadObject versionId", h["ContentLength"] == 9 and h["VersionId"] == ids[0])
g = s3.get_object(Bucket=B, Key="doc/k.txt")
check("GetObject (latest) carries x-amz-version-id", g["VersionId"] == ids[2])
code, st, _ = err(s3.get_object, Bucket=B, Key="doc/k.txt", VersionId="A" * 32)
check("unknown version -> NoSuchVersion", code == "NoSuchVersion" and st == 404, (code, st))
code, st, _ = err(s3.get_object, Bucket=B, Key="doc/k.txt", VersionId="../../etc")
check("malformed version id -> 400", st == 400, (code, st))

# ---- delete marker ----
d = s3.delete_object(Bucket=B, Key="doc/k.txt")
dm = d.get("VersionId")
check("DELETE creates a delete marker", d.get("DeleteMarker") is True and dm and dm not in ids, d)
check("the visible file went away", disk(B, "doc/k.txt") is None)
code, st, hd = err(s3.get_object, Bucket=B, Key="doc/k.txt")
check("GET after the marker -> 404 NoSuchKey with x-amz-delete-marker",
      code == "NoSuchKey" and hd.get("x-amz-delete-marker") == "true", (code, hd))
g = s3.get_object(Bucket=B, Key="doc/k.txt", VersionId=ids[1])
check("GET of an old version by id after the marker", g["Body"].read() == b"version 1")
code, st, hd = err(s3.get_object, Bucket=B, Key="doc/k.txt", VersionId=dm)
check("GET of the delete marker -> 405 MethodNotAllowed",
      code == "MethodNotAllowed" and st == 405 and hd.get("x-amz-delete-marker") == "true", (code, st))
code, st, hd = err(s3.head_object, Bucket=B, Key="doc/k.txt", VersionId=dm)
check("HEAD of the delete marker -> 405", st == 405, st)
r = s3.list_object_versions(Bucket=B, Prefix="doc/")
check("ListObjectVersions shows the marker as latest",
      [(m["VersionId"], m["IsLatest"]) for m in r.get("DeleteMarkers", [])] == [(dm, True)] and
      not any(v["IsLatest"] for v in r.get("Versions", [])), r)
check("ListObjectsV2 hides a deleted key", s3.list_objects_v2(Bucket=B, Prefix="doc/").get("KeyCount") == 0)
d = s3.delete_object(Bucket=B, Key="doc/k.txt", VersionId=dm)
check("DELETE of the marker by id", d.get("DeleteMarker") is True and d.get("VersionId") == dm, d)
check("removing the marker restores the object (visible on disk)", disk(B, "doc/k.txt") == b"version 2")
check("GET latest again", s3.get_object(Bucket=B, Key="doc/k.txt")["Body"].read() == b"version 2")

# ---- delete a specific version ----
s3.delete_object(Bucket=B, Key="doc/k.txt", VersionId=ids[1])
r = s3.list_object_versions(Bucket=B, Prefix="doc/")
check("DELETE versionId removes that version for good",
      [v["VersionId"] for v in r.get("Versions", [])] == [ids[2], ids[0]], r.get("Versions"))
s3.delete_object(Bucket=B, Key="doc/k.txt", VersionId=ids[2])
check("deleting the current version promotes the previous one",
      disk(B, "doc/k.txt") == b"version 0" and
      s3.get_object(Bucket=B, Key="doc/k.txt")["VersionId"] == ids[0])
r = s3.list_object_versions(Bucket=B, Prefix="doc/")
check("promoted version is latest", [(v["VersionId"], v["IsLatest"]) for v in r.get("Versions", [])] == [(ids[0], True)], r)

# ---- copy, multipart, DeleteObjects with versions ----
c = s3.copy_object(Bucket=B, Key="doc/copy.txt", CopySource={"Bucket": B, "Key": "doc/k.txt", "VersionId": ids[0]})
check("CopyObject from a version gets a new version id",
      c.get("VersionId") and c.get("CopySourceVersionId") == ids[0] and disk(B, "doc/copy.txt") == b"version 0", c)
mp = s3.create_multipart_upload(Bucket=B, Key="doc/k.txt")
e1 = s3.upload_part(Bucket=B, Key="doc/k.txt", UploadId=mp["UploadId"], PartNumber=1, Body=b"multipart")["ETag"]
r = s3.complete_multipart_upload(Bucket=B, Key="doc/k.txt", UploadId=mp["UploadId"],
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}]})
mpv = r.get("VersionId")
check("CompleteMultipartUpload makes a new version",
      mpv and mpv != ids[0] and disk(B, "doc/k.txt") == b"multipart" and
      s3.get_object(Bucket=B, Key="doc/k.txt", VersionId=ids[0])["Body"].read() == b"version 0", r)
r = s3.delete_objects(Bucket=B, Delete={"Objects": [{"Key": "doc/copy.txt"}, {"Key": "doc/k.txt", "VersionId": ids[0]}]})
dl = {x["Key"]: x for x in r.get("Deleted", [])}
check("DeleteObjects: marker for a key, removal for a version",
      dl.get("doc/copy.txt", {}).get("DeleteMarker") is True and dl["doc/copy.txt"].get("DeleteMarkerVersionId") and
      dl.get("doc/k.txt", {}).get("VersionId") == ids[0], r)

# ---- paging, prefix, delimiter ----
for k in ("p/a", "p/b", "p/c/x", "p/c/y", "q"):
    s3.put_object(Bucket=B, Key=k, Body=b"1")
    s3.put_object(Bucket=B, Key=k, Body=b"22")
allv = []
km = vm = None
pages = 0
while True:
    kw = {"Bucket": B, "Prefix": "p/", "MaxKeys": 3}
    if km:
        kw["KeyMarker"] = km
        if vm:
            kw["VersionIdMarker"] = vm
    r = s3.list_object_versions(**kw)
    pages += 1
    allv += [(v["Key"], v["VersionId"]) for v in r.get("Versions", [])]
    if not r.get("IsTruncated") or pages > 10:
        break
    km, vm = r.get("NextKeyMarker"), r.get("NextVersionIdMarker")
keys = [k for k, _ in allv]
check("key-marker/version-id-marker paging walks every version once",
      keys == ["p/a", "p/a", "p/b", "p/b", "p/c/x", "p/c/x", "p/c/y", "p/c/y"] and
      len(set(allv)) == 8 and pages == 3, (pages, allv))
r = s3.list_object_versions(Bucket=B, Prefix="p/", Delimiter="/")
check("ListObjectVersions delimiter -> CommonPrefixes",
      [p["Prefix"] for p in r.get("CommonPrefixes", [])] == ["p/c/"] and
      sorted({v["Key"] for v in r.get("Versions", [])}) == ["p/a", "p/b"], r)
r = s3.list_object_versions(Bucket=B, Prefix="q")
check("ListObjectVersions prefix", [v["Key"] for v in r.get("Versions", [])] == ["q", "q"], r)

# ---- suspended: the null version ----
s3.put_bucket_versioning(Bucket=B, VersioningConfiguration={"Status": "Suspended"})
r = s3.put_object(Bucket=B, Key="q", Body=b"null one")
check("suspended PUT -> version null", r.get("VersionId") == "null", r)
r = s3.put_object(Bucket=B, Key="q", Body=b"null two")
r = s3.list_object_versions(Bucket=B, Prefix="q")
vs = r.get("Versions", [])
check("a second suspended PUT overwrites the null version",
      [v["VersionId"] for v in vs].count("null") == 1 and len(vs) == 3 and vs[0]["VersionId"] == "null" and
      vs[0]["IsLatest"], vs)
check("null version content on disk", disk(B, "q") == b"null two" and
      s3.get_object(Bucket=B, Key="q", VersionId="null")["Body"].read() == b"null two")
d = s3.delete_object(Bucket=B, Key="q")
check("suspended DELETE -> null delete marker", d.get("DeleteMarker") is True and d.get("VersionId") == "null", d)
check("suspended DELETE removed the visible file", disk(B, "q") is None)
r = s3.list_object_versions(Bucket=B, Prefix="q")
check("null version replaced by the null marker",
      [m["VersionId"] for m in r.get("DeleteMarkers", [])] == ["null"] and
      "null" not in [v["VersionId"] for v in r.get("Versions", [])] and len(r.get("Versions", [])) == 2, r)
s3.put_bucket_versioning(Bucket=B, VersioningConfiguration={"Status": "Enabled"})
s3.put_object(Bucket=B, Key="q", Body=b"enabled again")
r = s3.list_object_versions(Bucket=B, Prefix="q")
check("re-enabled: new id, older versions kept",
      r["Versions"][0]["VersionId"] != "null" and r["Versions"][0]["IsLatest"] and len(r["Versions"]) == 3 and
      [m["VersionId"] for m in r.get("DeleteMarkers", [])] == ["null"], r)

# ---- NFS-side view ----
open(os.path.join(DATA, B, "nfs.txt"), "wb").write(b"from nfs")
r = s3.list_object_versions(Bucket=B, Prefix="nfs")
check("a file written over NFS is the null version", [(v["VersionId"], v["IsLatest"]) for v in r.get("Versions", [])] == [("null", True)], r)
r = s3.put_object(Bucket=B, Key="nfs.txt", Body=b"from s3")
check("S3 overwrite keeps the NFS-written file as the null version",
      disk(B, "nfs.txt") == b"from s3" and
      s3.get_object(Bucket=B, Key="nfs.txt", VersionId="null")["Body"].read() == b"from nfs")

# ---- concurrent writers of one key: no version is lost ----
import threading

got = {}
def writer(t):
    c = boto3.client("s3", endpoint_url=ENDPOINT, aws_access_key_id=AK, aws_secret_access_key=SK,
                     region_name="us-east-1")
    for i in range(5):
        body = b"writer %d put %d" % (t, i)
        got[c.put_object(Bucket=B, Key="race", Body=body)["VersionId"]] = body
ths = [threading.Thread(target=writer, args=(t,)) for t in range(6)]
for t in ths:
    t.start()
for t in ths:
    t.join()
r = s3.list_object_versions(Bucket=B, Prefix="race")
vs = r.get("Versions", [])
check("30 concurrent PUTs of one key -> 30 versions, one latest",
      len(vs) == 30 and sorted(v["VersionId"] for v in vs) == sorted(got) and
      sum(v["IsLatest"] for v in vs) == 1, (len(vs), len(got)))
latest = [v["VersionId"] for v in vs if v["IsLatest"]][0]
check("the visible file is the latest version", disk(B, "race") == got[latest])
check("every concurrent version reads back",
      all(s3.get_object(Bucket=B, Key="race", VersionId=v)["Body"].read() == b for v, b in got.items()))

# ---- the bucket goes only once every version is gone ----
code, st, _ = err(s3.delete_bucket, Bucket=B)
check("DeleteBucket with versions -> BucketNotEmpty", code == "BucketNotEmpty", code)
while True:
    r = s3.list_object_versions(Bucket=B)
    objs = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in r.get("Versions", []) + r.get("DeleteMarkers", [])]
    if not objs:
        break
    s3.delete_objects(Bucket=B, Delete={"Objects": objs, "Quiet": True})
check("all versions deleted: nothing visible", os.listdir(os.path.join(DATA, B)) == [], os.listdir(os.path.join(DATA, B)))
s3.delete_bucket(Bucket=B)
check("DeleteBucket after removing every version",
      not os.path.exists(os.path.join(DATA, B)) and not os.path.exists(os.path.join(DATA, ".cfs-s3", "versions", B)))

finish()
