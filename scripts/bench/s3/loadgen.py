#!/usr/bin/python3
# scripts/bench/s3/loadgen.py - boto3 load generator of scripts/bench/s3.sh.
# Small-object workloads run in N client *processes* (not threads: one Python process is
# bound by the GIL long before a server is), each with its own boto3 client and one
# keep-alive connection. Every process warms up (client creation, first connection, a few
# untimed operations), then all start together at a barrier; the rate is the number of
# successful operations over the span from the first start to the last finish, on the
# system-wide monotonic clock.
#
# Credentials, region: the usual AWS_* environment variables. Path-style addressing.
# Commands (all print one line "key=value ..." on stdout; exit 1 on any failed request):
#   mkbucket URL BUCKET
#   put URL BUCKET PREFIX --clients N --ops N [--size B] [--warmup N]
#   get URL BUCKET PREFIX --clients N --ops N [--warmup N]    (keys written by `put`)
#   populate URL BUCKET PREFIX --count N [--clients N]        (untimed, 16-byte objects)
#   list URL BUCKET PREFIX --expect N [--repeat N]            (list_objects_v2 pages; then
#                                 the same pages presigned, fetched raw: raw_seconds=)
#   presign URL BUCKET KEY [--op get_object|put_object]       (prints a presigned URL)
#   presign-many URL BUCKET PREFIX --count N [--op ...]       (prints N presigned
#                                 "/bucket/PREFIX/kNNNNNN?query" paths, for wrk)
import argparse
import multiprocessing as mp
import sys
import time


def client(url):
    import boto3
    from botocore.config import Config
    cfg = Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                 retries={"total_max_attempts": 1, "mode": "standard"},
                 max_pool_connections=2, connect_timeout=10, read_timeout=120)
    return boto3.session.Session().client("s3", endpoint_url=url, config=cfg)


def key_of(prefix, c, i):
    return "%s/c%02d/k%06d" % (prefix, c, i)


def one_op(s3, mode, bucket, key, body):
    if mode == "put":
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    else:
        r = s3.get_object(Bucket=bucket, Key=key)
        data = r["Body"].read()
        if len(data) != r["ContentLength"]:
            raise RuntimeError("short body for " + key)


def worker(c, a, barrier, q):
    ok = fail = 0
    err = ""
    t0 = t1 = 0.0
    try:
        s3 = client(a.url)
        body = bytes((c * 7 + i) & 0xFF for i in range(a.size)) if a.cmd == "put" else None
        # untimed warm-up: own keys (overwritten later by the timed run for PUT)
        for i in range(a.warmup):
            one_op(s3, a.cmd, a.bucket, key_of(a.prefix, c, i % max(a.ops, 1)), body)
    except Exception as e:  # a failed warm-up still meets the barrier
        fail += 1
        err = repr(e)
    try:
        barrier.wait(timeout=300)
    except Exception as e:
        q.put((c, 0, 1, 0.0, 0.0, "barrier: " + repr(e)))
        return
    t0 = time.monotonic()
    if not fail:
        for i in range(a.ops):
            try:
                one_op(s3, a.cmd, a.bucket, key_of(a.prefix, c, i), body)
                ok += 1
            except Exception as e:
                fail += 1
                if not err:
                    err = repr(e)
    t1 = time.monotonic()
    q.put((c, ok, fail, t0, t1, err))


def run_clients(a):
    ctx = mp.get_context("fork")  # fork before any boto3 import: each child makes its own
    barrier = ctx.Barrier(a.clients)
    q = ctx.Queue()
    ps = [ctx.Process(target=worker, args=(c, a, barrier, q)) for c in range(a.clients)]
    for p in ps:
        p.start()
    res = [q.get(timeout=3600) for _ in ps]
    for p in ps:
        p.join()
    ok = sum(r[1] for r in res)
    fail = sum(r[2] for r in res)
    starts = [r[3] for r in res if r[3] > 0]
    ends = [r[4] for r in res if r[4] > 0]
    span = (max(ends) - min(starts)) if starts and ends else 0.0
    rate = ok / span if span > 0 else 0.0
    print("ops=%d failed=%d seconds=%.3f rate=%.1f" % (ok, fail, span, rate))
    for r in res:
        if r[5]:
            print("client %d: %s" % (r[0], r[5]), file=sys.stderr)
            break
    return 0 if fail == 0 else 1


def populate_worker(c, a, q):
    ok = fail = 0
    err = ""
    try:
        s3 = client(a.url)
        for i in range(c, a.count, a.clients):
            try:
                s3.put_object(Bucket=a.bucket, Key="%s/k%06d" % (a.prefix, i), Body=b"0123456789abcdef")
                ok += 1
            except Exception as e:
                fail += 1
                err = err or repr(e)
    except Exception as e:
        fail += 1
        err = repr(e)
    q.put((ok, fail, err))


def populate(a):
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    ps = [ctx.Process(target=populate_worker, args=(c, a, q)) for c in range(a.clients)]
    t0 = time.monotonic()
    for p in ps:
        p.start()
    res = [q.get(timeout=3600) for _ in ps]
    for p in ps:
        p.join()
    ok = sum(r[0] for r in res)
    fail = sum(r[1] for r in res)
    print("ops=%d failed=%d seconds=%.3f" % (ok, fail, time.monotonic() - t0))
    errs = [r[2] for r in res if r[2]]
    if errs:
        print(errs[0], file=sys.stderr)
    return 0 if fail == 0 else 1


def list_keys(a):
    s3 = client(a.url)
    times = []
    tokens = []
    for _ in range(a.repeat):
        t0 = time.monotonic()
        n = pages = 0
        tokens = [None]
        kw = {"Bucket": a.bucket, "Prefix": a.prefix + "/", "MaxKeys": 1000}
        while True:
            r = s3.list_objects_v2(**kw)
            n += r.get("KeyCount", len(r.get("Contents", [])))
            pages += 1
            if not r.get("IsTruncated"):
                break
            kw["ContinuationToken"] = r["NextContinuationToken"]
            tokens.append(kw["ContinuationToken"])
        times.append(time.monotonic() - t0)
        if n != a.expect:
            print("list: %d keys, expected %d" % (n, a.expect), file=sys.stderr)
            return 1
    times.sort()
    # the same pages again as presigned URLs on one keep-alive connection, bodies read but
    # not parsed: the server's share of the listing without botocore's XML parsing
    import http.client
    import urllib.parse
    urls = []
    for t in tokens:
        p = {"Bucket": a.bucket, "Prefix": a.prefix + "/", "MaxKeys": 1000}
        if t:
            p["ContinuationToken"] = t
        urls.append(s3.generate_presigned_url("list_objects_v2", Params=p, ExpiresIn=3600))
    u = urllib.parse.urlsplit(a.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    t0 = time.monotonic()
    for url in urls:
        v = urllib.parse.urlsplit(url)
        conn.request("GET", v.path + "?" + v.query)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200 or b"<Contents>" not in body:
            print("raw list page: HTTP %d" % resp.status, file=sys.stderr)
            return 1
    raw = time.monotonic() - t0
    conn.close()
    print("keys=%d pages=%d seconds=%.3f raw_seconds=%.3f" % (n, pages, times[(len(times) - 1) // 2], raw))
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["mkbucket", "put", "get", "populate", "list", "presign",
                                    "presign-many"])
    ap.add_argument("url")
    ap.add_argument("bucket")
    ap.add_argument("prefix", nargs="?", default="small")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--ops", type=int, default=400)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--expect", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--op", default="get_object", choices=["get_object", "put_object"])
    a = ap.parse_args()
    if a.cmd == "mkbucket":
        s3 = client(a.url)
        s3.create_bucket(Bucket=a.bucket)
        return 0
    if a.cmd == "presign":
        s3 = client(a.url)
        print(s3.generate_presigned_url(a.op, Params={"Bucket": a.bucket, "Key": a.prefix},
                                        ExpiresIn=7200))
        return 0
    if a.cmd == "presign-many":
        import urllib.parse
        s3 = client(a.url)
        out = []
        for i in range(a.count):
            u = urllib.parse.urlsplit(s3.generate_presigned_url(
                a.op, Params={"Bucket": a.bucket, "Key": "%s/k%06d" % (a.prefix, i)}, ExpiresIn=7200))
            out.append(u.path + "?" + u.query)
        print("\n".join(out))
        return 0
    if a.cmd in ("put", "get"):
        return run_clients(a)
    if a.cmd == "populate":
        return populate(a)
    return list_keys(a)


if __name__ == "__main__":
    sys.exit(main())
