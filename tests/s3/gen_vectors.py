#!/usr/bin/python3
"""Independent SigV4 / checksum vectors for tests/unit/test_s3_sigv4.c.

Computed with Python's hmac/hashlib/zlib and botocore's own signer; the C tests embed
the printed values. Run: python3 tests/s3/gen_vectors.py
"""
import base64, datetime, hashlib, hmac, zlib

def h(k, m):
    return hmac.new(k, m.encode() if isinstance(m, str) else m, hashlib.sha256).digest()

def skey(secret, date, region, svc):
    return h(h(h(h(("AWS4" + secret).encode(), date), region), svc), "aws4_request")

def crc_bitwise(data, poly, width):
    crc = (1 << width) - 1
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
    return crc ^ ((1 << width) - 1)

S = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
k = skey(S, "20130524", "us-east-1", "s3")
E = hashlib.sha256(b"").hexdigest()
sc = "20130524/us-east-1/s3/aws4_request"
prev = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
sigs = []
for d in [b"hello", b""]:
    s = "AWS4-HMAC-SHA256-PAYLOAD\n20130524T000000Z\n%s\n%s\n%s\n%s" % (
        sc, prev, E, hashlib.sha256(d).hexdigest())
    prev = hmac.new(k, s.encode(), hashlib.sha256).hexdigest()
    sigs.append(prev)
crc = base64.b64encode(zlib.crc32(b"hello").to_bytes(4, "big")).decode()
tr = "x-amz-checksum-crc32:%s\n" % crc
s = "AWS4-HMAC-SHA256-TRAILER\n20130524T000000Z\n%s\n%s\n%s" % (
    sc, prev, hashlib.sha256(tr.encode()).hexdigest())
sigs.append(hmac.new(k, s.encode(), hashlib.sha256).hexdigest())
for i, o in enumerate(sigs):
    print('#define TSIG%d "%s"' % (i + 1, o))
hw = b"hello world"
print("crc32", base64.b64encode(zlib.crc32(hw).to_bytes(4, "big")).decode())
print("crc32c", base64.b64encode(crc_bitwise(hw, 0x82F63B78, 32).to_bytes(4, "big")).decode())
print("crc64nvme(123456789) %x" % crc_bitwise(b"123456789", 0x9A6C9329AC4BC9B5, 64))
print("sha1", base64.b64encode(hashlib.sha1(hw).digest()).decode())
print("sha256", base64.b64encode(hashlib.sha256(hw).digest()).decode())
print("md5", base64.b64encode(hashlib.md5(hw).digest()).decode())

try:
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    import botocore.auth
    fixed = datetime.datetime(2026, 11, 25, 1, 2, 3)
    class FD(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return fixed
        @classmethod
        def now(cls, tz=None):
            return fixed.replace(tzinfo=tz) if tz else fixed
    botocore.auth.datetime.datetime = FD
    creds = Credentials("AKIDCFSTEST", "secret/with+chars=")
    for method, url, hdrs, region in [
        ("PUT", "http://127.0.0.1:9000/bkt/dir%20x/a%2Bb~c%C3%A9.txt?partNumber=3&uploadId=ab%2Fcd%3D",
         {"x-amz-meta-Foo": "  a   b  "}, "us-east-1"),
        ("GET", "http://127.0.0.1:9000/bkt?list-type=2&prefix=a%20b&delimiter=%2F&encoding-type=url",
         {}, "eu-west-3")]:
        r = AWSRequest(method=method, url=url, data=b"hello" if method == "PUT" else b"", headers=hdrs)
        S3SigV4Auth(creds, "s3", region).add_auth(r)
        print(method, url)
        for kk, vv in r.prepare().headers.items():
            print("   ", kk, vv)
except ImportError:
    pass
