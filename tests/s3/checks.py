"""tests/s3/checks.py - the ok / FAIL bookkeeping the S3 client tests share: one line per
check, then finish() prints "N passed, N failed" and exits 1 on any failure."""
import sys

passed = failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok   %s" % name)
    else:
        failed += 1
        print("FAIL %s %s" % (name, str(detail)[:600]))


def finish():
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)
