#!/usr/bin/python3
"""Raw-socket checks of mod_s3: what SDKs do not send on purpose.

aws-chunked uploads (signed, signed trailer, unsigned trailer with crc32c/crc64nvme),
100-continue, pipelining, and malformed input: forged and replayed signatures, truncated
chunked bodies, oversized headers, bad XML, DTDs, '..' keys, garbage; after each the
gateway must still answer. Signing is done here with hmac/hashlib, independently of the
gateway's code.

Usage: test_raw.py HOST PORT ACCESS_KEY SECRET_KEY DATA_DIR [ADMIN_PORT]
"""
import base64
import datetime
import hashlib
import hmac
import os
import socket
import sys
import time
import urllib.parse
import urllib.request
import zlib

from checks import check, finish

HOST, PORT, AK, SK, DATA = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ADMIN = int(sys.argv[6]) if len(sys.argv) > 6 and sys.argv[6] else 0
REGION = "us-east-1"
EMPTY = hashlib.sha256(b"").hexdigest()



def hm(k, m):
    return hmac.new(k, m.encode() if isinstance(m, str) else m, hashlib.sha256).digest()


def skey(date):
    return hm(hm(hm(hm(("AWS4" + SK).encode(), date), REGION), "s3"), "aws4_request")


def enc(s, slash=False):
    return urllib.parse.quote(s, safe="-_.~" + ("/" if slash else ""))


def sign(method, path, query="", headers=None, payload_hash=EMPTY, when=None, secret=None):
    """Return (headers dict, signature, amz_date, scope) for a SigV4 header-auth request."""
    t = when or datetime.datetime.utcnow()
    amz = t.strftime("%Y%m%dT%H%M%SZ")
    date = amz[:8]
    h = {"host": "%s:%d" % (HOST, PORT), "x-amz-date": amz, "x-amz-content-sha256": payload_hash}
    for k, v in (headers or {}).items():
        h[k.lower()] = v
    signed = sorted(h)
    cq = "&".join(sorted("%s=%s" % (enc(urllib.parse.unquote(k)), enc(urllib.parse.unquote(v)))
                         for k, _, v in (p.partition("=") for p in query.split("&") if p)))
    canon = "%s\n%s\n%s\n%s\n%s\n%s" % (
        method, enc(urllib.parse.unquote(path), True), cq,
        "".join("%s:%s\n" % (k, " ".join(str(h[k]).split())) for k in signed),
        ";".join(signed), payload_hash)
    scope = "%s/%s/s3/aws4_request" % (date, REGION)
    sts = "AWS4-HMAC-SHA256\n%s\n%s\n%s" % (amz, scope, hashlib.sha256(canon.encode()).hexdigest())
    k = skey(date) if secret is None else hm(hm(hm(hm(("AWS4" + secret).encode(), date), REGION), "s3"), "aws4_request")
    sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    h["authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        AK, scope, ";".join(signed), sig)
    return h, sig, amz, scope


class Conn:
    """A client socket with a read-ahead buffer (pipelined responses arrive together)."""

    def __init__(self):
        self.s = socket.create_connection((HOST, PORT), timeout=20)
        self.buf = b""

    def sendall(self, d):
        try:
            self.s.sendall(d)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def shutdown(self, how):
        self.s.shutdown(how)

    def close(self):
        self.s.close()

    def recv(self, n):
        if self.buf:
            d, self.buf = self.buf, b""
            return d
        try:
            return self.s.recv(n)
        except (ConnectionResetError, socket.timeout):
            return b""


def conn():
    return Conn()


def read_response(s, head=False):
    """Read one HTTP response; returns (status, headers dict, body bytes) or (0, {}, b'')."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            return 0, {}, b""
        buf += d
    hdr, _, rest = buf.partition(b"\r\n\r\n")
    lines = hdr.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hd = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hd[k.strip().lower()] = v.strip()
    if status in (100, 204, 304) or head:
        s.buf = rest + s.buf
        return status, hd, b""
    n = int(hd.get("content-length", "0"))
    while len(rest) < n:
        d = s.recv(65536)
        if not d:
            break
        rest += d
    s.buf = rest[n:] + s.buf
    return status, hd, rest[:n]


def request(method, path, query="", headers=None, body=b"", payload_hash=None, sock=None,
            extra_headers=None, **kw):
    ph = payload_hash if payload_hash is not None else hashlib.sha256(body).hexdigest()
    h, _, _, _ = sign(method, path, query, headers, ph, **kw)
    for k, v in (extra_headers or {}).items():
        h[k] = v
    if body and "content-length" not in h:
        h["content-length"] = str(len(body))
    target = path + ("?" + query if query else "")
    raw = ("%s %s HTTP/1.1\r\n" % (method, target) +
           "".join("%s: %s\r\n" % (k, v) for k, v in h.items()) + "\r\n").encode() + body
    s = sock or conn()
    s.sendall(raw)
    r = read_response(s, head=(method == "HEAD"))
    if not sock:
        s.close()
    return r


def alive(name):
    st, _, _ = request("GET", "/")
    check("still serving after: " + name, st == 200, st)


def code_of(body):
    b = body.decode("utf-8", "replace")
    i = b.find("<Code>")
    return b[i + 6:b.find("</Code>")] if i >= 0 else ""


B = "raw-bucket"
st, _, body = request("PUT", "/" + B)
check("create bucket", st == 200, (st, body))

# ---- aws-chunked, signed ----
def chunked_signed(data, chunk=65536, tamper=False, trailer=None, truncate=0):
    dlen = len(data)
    mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" + ("-TRAILER" if trailer else "")
    pieces = [data[i:i + chunk] for i in range(0, dlen, chunk)] + [b""]
    # encoded length: compute with placeholder signatures (fixed size)
    def hdr(n):
        return b"%x;chunk-signature=%s\r\n" % (n, b"0" * 64)
    total = sum(len(hdr(len(p))) + len(p) + 2 for p in pieces[:-1]) + len(hdr(0))
    tr = b""
    if trailer:
        name, val = trailer
        tr_line = ("%s:%s" % (name, val)).encode()
        total += len(tr_line) + 2 + len(b"x-amz-trailer-signature:") + 64 + 2 + 2
    else:
        total += 2
    extra = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(dlen),
             "content-length": str(total)}
    if trailer:
        extra["x-amz-trailer"] = trailer[0]
    h, seed, amz, scope = sign("PUT", "/%s/signed-%s" % (B, "t" if trailer else "c"), "", extra, mode)
    k = skey(amz[:8])
    prev = seed
    out = b""
    for i, p in enumerate(pieces):
        sts = "AWS4-HMAC-SHA256-PAYLOAD\n%s\n%s\n%s\n%s\n%s" % (amz, scope, prev, EMPTY, hashlib.sha256(p).hexdigest())
        sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
        prev = sig
        body = p
        if tamper and i == 0:
            body = b"X" + p[1:]
        out += b"%x;chunk-signature=%s\r\n" % (len(p), sig.encode()) + body + (b"\r\n" if p else b"")
    if trailer:
        tl = "%s:%s\n" % trailer
        sts = "AWS4-HMAC-SHA256-TRAILER\n%s\n%s\n%s\n%s" % (amz, scope, prev, hashlib.sha256(tl.encode()).hexdigest())
        tsig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
        out += ("%s:%s\r\nx-amz-trailer-signature:%s\r\n\r\n" % (trailer[0], trailer[1], tsig)).encode()
    else:
        out += b"\r\n"
    assert len(out) == total, (len(out), total)
    path = "/%s/signed-%s" % (B, "t" if trailer else "c")
    raw = ("PUT %s HTTP/1.1\r\n" % path + "".join("%s: %s\r\n" % (a, b) for a, b in h.items()) + "\r\n").encode()
    s = conn()
    if truncate:
        s.sendall(raw + out[:truncate])
        s.shutdown(socket.SHUT_WR)
    else:
        s.sendall(raw + out)
    r = read_response(s)
    s.close()
    return r, path


data = os.urandom(200000)
(st, hd, body), path = chunked_signed(data)
check("aws-chunked signed PUT", st == 200, (st, body))
check("aws-chunked content", open(DATA + path, "rb").read() == data if st == 200 else False)
(st, hd, body), path = chunked_signed(b"tampered" * 10000, tamper=True)
check("aws-chunked tampered chunk -> SignatureDoesNotMatch", st == 403 and code_of(body) == "SignatureDoesNotMatch", (st, body))
check("tampered upload left the old object in place", open(DATA + path, "rb").read() == data)
crc = base64.b64encode(zlib.crc32(b"trailer body" * 1000).to_bytes(4, "big")).decode()
(st, hd, body), path = chunked_signed(b"trailer body" * 1000, chunk=8192, trailer=("x-amz-checksum-crc32", crc))
check("aws-chunked signed trailer PUT", st == 200 and hd.get("x-amz-checksum-crc32") == crc, (st, hd, body))
(st, hd, body), path = chunked_signed(b"trailer body" * 1000, chunk=8192, trailer=("x-amz-checksum-crc32", "AAAAAA=="))
check("signed trailer with a wrong checksum -> BadDigest", st == 400 and code_of(body) == "BadDigest", (st, body))
(st, hd, body), path = chunked_signed(os.urandom(100000), truncate=70000)
check("truncated aws-chunked body -> error, no crash", st in (0, 400), (st, body))
alive("truncated aws-chunked body")

# ---- unsigned trailer (what current SDKs send over TLS), crc32c / crc64nvme ----
def crc_bitwise(d, poly, width):
    c = (1 << width) - 1
    for b in d:
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
    return c ^ ((1 << width) - 1)


for alg, poly, width in (("crc32c", 0x82F63B78, 32), ("crc64nvme", 0x9A6C9329AC4BC9B5, 64)):
    payload = b"unsigned trailer " * 300
    val = base64.b64encode(crc_bitwise(payload, poly, width).to_bytes(width // 8, "big")).decode()
    for good in (True, False):
        v = val if good else base64.b64encode(b"\0" * (width // 8)).decode()
        enc_body = b"%x\r\n%s\r\n0\r\nx-amz-checksum-%s:%s\r\n\r\n" % (len(payload), payload, alg.encode(), v.encode())
        key = "/%s/ut-%s-%s" % (B, alg, good)
        st, hd, body = request("PUT", key, headers={"content-encoding": "aws-chunked",
                                                    "x-amz-trailer": "x-amz-checksum-" + alg,
                                                    "x-amz-decoded-content-length": str(len(payload)),
                                                    "content-length": str(len(enc_body))},
                               body=enc_body, payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER")
        if good:
            check("unsigned trailer x-amz-checksum-%s PUT" % alg, st == 200, (st, body))
            st, hd, _ = request("HEAD", key, headers={"x-amz-checksum-mode": "ENABLED"})
            check("HEAD returns stored x-amz-checksum-%s" % alg, hd.get("x-amz-checksum-" + alg) == val, hd)
        else:
            check("wrong %s trailer -> BadDigest, nothing visible" % alg,
                  st == 400 and code_of(body) == "BadDigest" and not os.path.exists(DATA + key), (st, body))

# ---- x-amz-content-sha256 mismatch ----
st, _, body = request("PUT", "/%s/shamismatch" % B, body=b"abc", payload_hash=hashlib.sha256(b"abd").hexdigest())
check("x-amz-content-sha256 mismatch -> XAmzContentSHA256Mismatch",
      st == 400 and code_of(body) == "XAmzContentSHA256Mismatch" and not os.path.exists(DATA + "/%s/shamismatch" % B), (st, body))

# ---- conditional PUT ----
st, _, body = request("PUT", "/%s/inm" % B, headers={"if-none-match": "*"}, body=b"first")
check("PUT If-None-Match: * on a new key -> 200", st == 200, (st, body))
st, _, body = request("PUT", "/%s/inm" % B, headers={"if-none-match": "*"}, body=b"second")
check("PUT If-None-Match: * on an existing key -> 412",
      st == 412 and open(os.path.join(DATA, B, "inm"), "rb").read() == b"first", (st, body))
st, hd, _ = request("HEAD", "/%s/inm" % B)
st, _, body = request("PUT", "/%s/inm" % B, headers={"if-match": hd.get("etag", "")}, body=b"third")
check("PUT If-Match with the current ETag -> 200", st == 200, (st, body))
st, _, body = request("PUT", "/%s/inm" % B, headers={"if-match": '"0000"'}, body=b"fourth")
check("PUT If-Match with another ETag -> 412", st == 412, (st, body))

# ---- 100-continue and pipelining ----
payload = b"continue body"
h, _, _, _ = sign("PUT", "/%s/cont" % B, "", {"expect": "100-continue", "content-length": str(len(payload))},
                  hashlib.sha256(payload).hexdigest())
s = conn()
s.sendall(("PUT /%s/cont HTTP/1.1\r\n" % B + "".join("%s: %s\r\n" % kv for kv in h.items()) + "\r\n").encode())
st, _, _ = read_response(s)
check("Expect: 100-continue -> 100", st == 100, st)
s.sendall(payload)
st, _, _ = read_response(s)
check("body after 100 -> 200", st == 200, st)
s.close()
s = conn()
raw = b""
for i in range(3):
    h, _, _, _ = sign("GET", "/%s/cont" % B)
    raw += ("GET /%s/cont HTTP/1.1\r\n" % B + "".join("%s: %s\r\n" % kv for kv in h.items()) + "\r\n").encode()
s.sendall(raw)
got = []
for i in range(3):
    st, _, b = read_response(s)
    got.append((st, b))
check("pipelined GETs answered in order", got == [(200, payload)] * 3, got)
s.close()

# ---- signatures ----
st, _, body = request("GET", "/", secret="wrong-secret")
check("forged signature -> SignatureDoesNotMatch with CanonicalRequest",
      st == 403 and code_of(body) == "SignatureDoesNotMatch" and b"<CanonicalRequest>" in body, (st, body))
old = datetime.datetime.utcnow() - datetime.timedelta(minutes=20)
st, _, body = request("GET", "/", when=old)
check("replayed (20 min old) request -> RequestTimeTooSkewed", st == 403 and code_of(body) == "RequestTimeTooSkewed", (st, body))
s = conn()
s.sendall(("GET / HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (HOST, PORT)).encode())
st, hd, body = read_response(s)
s.close()
check("anonymous request -> AccessDenied", st == 403 and code_of(body) == "AccessDenied" and hd.get("x-amz-request-id"), (st, body))

# ---- malformed input ----
for bad, name in ((b"<Delete><Object><Key>x</Key></Object>", "truncated XML"),
                  (b'<!DOCTYPE d [<!ENTITY x "y">]><Delete><Object><Key>&x;</Key></Object></Delete>', "DTD/entity"),
                  (b"not xml at all", "garbage body")):
    md5 = base64.b64encode(hashlib.md5(bad).digest()).decode()
    st, _, body = request("POST", "/" + B, "delete", headers={"content-md5": md5}, body=bad)
    check("DeleteObjects with %s -> MalformedXML" % name, st == 400 and code_of(body) == "MalformedXML", (st, body))
st, _, body = request("PUT", "/" + B, "versioning", body=b"<VersioningConfiguration><Status>Maybe</Status></VersioningConfiguration>")
check("PutBucketVersioning bad status -> MalformedXML", code_of(body) == "MalformedXML", (st, body))
for key in ("/%s/a/../b" % B, "/%s/a/%%2e%%2e/b" % B, "/%s/..%%2fescape" % B, "/%s/a//b" % B, "/%s/./x" % B):
    st, _, body = request("PUT", key, body=b"x")
    check("key %s rejected" % key, st == 400 and code_of(body) in ("InvalidObjectName", "KeyTooLongError"), (st, body))
check("nothing escaped the bucket", not os.path.exists(os.path.join(DATA, "escape")) and not os.path.exists(os.path.join(DATA, "b")))
s = conn()
big = "x" * 40000
s.sendall(("GET / HTTP/1.1\r\nHost: h\r\nX-Big: %s\r\n\r\n" % big).encode())
st, _, body = read_response(s)
s.close()
check("oversized header section -> 4xx", st in (400, 431), (st, body))
alive("oversized headers")
s = conn()
s.sendall(b"\x16\x03\x01garbage not http\r\n\r\n")
st, _, body = read_response(s)
s.close()
check("garbage request line -> 400", st == 400, st)
alive("garbage")
s = conn()
s.sendall(b"PUT /raw-bucket/half HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\nonly some bytes")
s.close()
time.sleep(0.3)
alive("client vanishing mid-body")
check("no half-written object after a dropped PUT", not os.path.exists(os.path.join(DATA, B, "half")))
st, hd, body = request("GET", "/%s/signed-c" % B, headers={"range": "bytes=300000-"})
check("range past the end -> 416", st == 416 and hd.get("content-range") == "bytes */200000", (st, hd))
st, hd, body = request("GET", "/%s/signed-c" % B, headers={"range": "bytes=5-2"})
check("malformed range ignored -> 200 whole object", st == 200 and len(body) == 200000, st)
st, _, body = request("GET", "/%s" % B, "cors")
check("unsupported subresource -> NotImplemented", st == 501 and code_of(body) == "NotImplemented", (st, body))
st, _, body = request("GET", "/%s" % B, "policy")
check("GetBucketPolicy without a policy -> NoSuchBucketPolicy", st == 404 and code_of(body) == "NoSuchBucketPolicy", (st, body))
st, _, body = request("GET", "/%s/nope" % "no-such-bucket")
check("missing bucket -> NoSuchBucket", st == 404 and code_of(body) == "NoSuchBucket", (st, body))

# ---- the plain-TCP reader: large reads, SO_RCVLOWAT, back-pressure, pipelining ----
def raw_put(path, body, extra=None):
    h, _, _, _ = sign("PUT", path, "", dict({"content-length": str(len(body))}, **(extra or {})),
                      hashlib.sha256(body).hexdigest())
    return ("PUT %s HTTP/1.1\r\n" % path + "".join("%s: %s\r\n" % kv for kv in h.items()) +
            "\r\n").encode()

# a body whose tail arrives in small, slow pieces (below any wake-up threshold)
body = os.urandom(300000)
s = conn()
s.sendall(raw_put("/%s/trickle" % B, body) + body[:200000])
time.sleep(0.3)
for i in range(200000, 300000, 7000):
    s.sendall(body[i:i + 7000])
    time.sleep(0.02)
st, _, _ = read_response(s)
s.close()
check("PUT whose tail trickles in -> 200", st == 200, st)
st, _, got = request("GET", "/%s/trickle" % B)
check("trickled PUT content", st == 200 and got == body, (st, len(got)))

# a 24 MiB body sent at once: the reader pauses (staging full) and resumes
big = os.urandom(24 << 20)
s = conn()
s.sendall(raw_put("/%s/fast-big" % B, big) + big)
st, hd, _ = read_response(s)
s.close()
check("24 MiB PUT in one send -> 200", st == 200, st)
check("24 MiB PUT ETag is the MD5", hd.get("etag", "").strip('"') == hashlib.md5(big).hexdigest(), hd)
check("24 MiB PUT content", open(os.path.join(DATA, B, "fast-big"), "rb").read() == big)

# PUT then GET pipelined in one write
small = b"pipelined put body"
hg, _, _, _ = sign("GET", "/%s/pipe-put" % B)
s = conn()
s.sendall(raw_put("/%s/pipe-put" % B, small) + small +
          ("GET /%s/pipe-put HTTP/1.1\r\n" % B + "".join("%s: %s\r\n" % kv for kv in hg.items()) +
           "\r\n").encode())
st1, _, _ = read_response(s)
st2, _, got = read_response(s)
s.close()
check("pipelined PUT then GET", st1 == 200 and st2 == 200 and got == small, (st1, st2, got))

# an early error on a large body: answered, the connection closed gently (no reset)
s = conn()
s.sendall(raw_put("/no-such-bucket-x/k", big[:4 << 20]))
try:
    s.sendall(big[:4 << 20])
except OSError:
    pass
st, _, b = read_response(s)
s.close()
check("early error on a 4 MiB body is read by the client", st == 404 and code_of(b) == "NoSuchBucket", (st, b[:200]))
alive("early error on a large body")

# a small GET (inline body) keeps its stored Content-Type
st, hd, _ = request("PUT", "/%s/typed" % B, body=b"x" * 1000, headers={"content-type": "text/plain"})
st, hd, got = request("GET", "/%s/typed" % B)
check("small GET: body and one Content-Type", st == 200 and got == b"x" * 1000 and
      hd.get("content-type") == "text/plain", (st, hd))

# metrics
if ADMIN:
    m = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % ADMIN).read().decode()
    check("metrics: cfs_s3_requests_total by op", 'cfs_s3_requests_total{op="PutObject"' in m, m[:300])
    check("metrics: cfs_s3_errors_total by code", 'code="SignatureDoesNotMatch"' in m)
    check("metrics: latency histogram", "cfs_s3_request_duration_seconds_bucket" in m)

finish()
