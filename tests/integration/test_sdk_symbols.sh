#!/bin/sh
# tests/integration/test_sdk_symbols.sh - sdk/symbols-in-versions against the headers in
# sdk/include/cfs/, in both directions (curl test 1119): every public name the headers
# declare (macro, type, struct field, enum constant, inline function) is listed with the
# ABI version it appeared in, and every listed name that is not marked removed exists.
# Versions must be well formed and not newer than the headers' CFS_ABI_MAJOR.MINOR.
#
# Usage: test_sdk_symbols.sh            run the check (CFS_SRC = source tree)
#        test_sdk_symbols.sh --print    print the names found in the headers
set -u
SRC=${CFS_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
exec python3 - "$SRC" "$@" <<'PYEOF'
import os, re, sys

src = sys.argv[1]
mode = sys.argv[2] if len(sys.argv) > 2 else ""
incdir = os.path.join(src, "sdk", "include", "cfs")
listfile = os.path.join(src, "sdk", "symbols-in-versions")
passed = failed = 0

def ok(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: " + what)
    return cond

def strip_comments(t):
    t = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), t, flags=re.S)
    t = re.sub(r"//[^\n]*", "", t)
    return t

def header_symbols(path):
    syms = set()
    t = strip_comments(open(path).read())
    t = t.replace("\\\n", " ")
    lines, skip = [], 0
    for line in t.split("\n"):
        s = line.strip()
        if s.startswith("#ifdef __cplusplus"):
            skip = 1
            continue
        if skip:
            if s.startswith("#endif"):
                skip = 0
            continue
        m = re.match(r"#\s*define\s+(\w+)", s)
        if m:
            n = m.group(1)
            if not n.endswith("_H") and not n.endswith("_"):
                syms.add(n)
            continue
        if s.startswith("#"):
            continue
        lines.append(line)
    t = "\n".join(lines)
    t = re.sub(r'"(\\.|[^"\\])*"', '""', t)
    t = re.sub(r"__attribute__\s*\(\((?:[^()]|\([^()]*\))*\)\)", "", t)

    def body_end(i):  # index just past the brace matching t[i] == "{"
        depth = 0
        for j in range(i, len(t)):
            if t[j] == "{":
                depth += 1
            elif t[j] == "}":
                depth -= 1
                if depth == 0:
                    return j + 1
        raise SystemExit("unbalanced braces in " + path)

    i, rest = 0, []  # rest: top-level text outside definitions (prototypes)
    while i < len(t):
        m = re.compile(r"\b(struct|enum|union)\b\s*(\w*)\s*(\{|;)|\btypedef\b|\bstatic\s+inline\b").search(t, i)
        if not m:
            rest.append(t[i:])
            break
        rest.append(t[i:m.start()] + ";")
        if m.group(0).startswith("typedef"):
            e = t.index(";", m.end())
            b = t.find("{", m.end(), e)
            if b >= 0:  # typedef struct [tag] { ... } name; (members are not listed)
                e = t.index(";", body_end(b))
                decl = t[m.end():b] + " " + t[body_end(b):e]
            else:
                decl = t[m.end():e]
            fp = re.search(r"\(\s*\*\s*(\w+)\s*\)", decl)
            name = fp.group(1) if fp else re.findall(r"\w+", decl)[-1]
            syms.add(name)
            for tag in re.findall(r"\bstruct\s+(\w+)", decl)[:1]:
                if tag.startswith("cfs_") and not fp:
                    syms.add(tag)
            i = e + 1
            continue
        if m.group(0).startswith("static"):
            b = t.index("{", m.end())
            name = re.findall(r"(\w+)\s*\(", t[m.end():b])[0]
            syms.add(name)
            i = body_end(b)
            continue
        kind, tag = m.group(1), m.group(2)
        if m.group(3) == ";":
            if tag.startswith("cfs_"):
                syms.add(tag)
            i = m.end()
            continue
        b = m.end() - 1
        e = body_end(b)
        body = t[b + 1:e - 1]
        if tag.startswith("cfs_"):
            syms.add(tag)
        if not tag:
            tag = "(anonymous)"
        if kind == "enum":
            for item in body.split(","):
                item = item.strip()
                if item:
                    syms.add(re.match(r"(\w+)", item).group(1))
        else:
            for decl in body.split(";"):
                decl = decl.strip()
                if not decl:
                    continue
                fp = re.search(r"\(\s*\*\s*(\w+)\s*\)", decl)
                if fp:
                    syms.add(tag + "." + fp.group(1))
                    continue
                decl = re.sub(r"\[[^\]]*\]", "", decl)
                for part in decl.split(","):
                    ids = re.findall(r"\w+", part)
                    if ids:
                        syms.add(tag + "." + ids[-1])
        i = e
    for stmt in "".join(rest).split(";"):
        fn = re.search(r"(\w+)\s*\(", stmt)
        if fn:
            syms.add(fn.group(1))
        elif re.match(r"\s*extern\b", stmt):
            syms.add(re.findall(r"\w+", stmt)[-1])
    return {s for s in syms if s.lower().startswith("cfs_")}

found = {}
for fn in sorted(os.listdir(incdir)):
    if fn.endswith(".h"):
        for s in header_symbols(os.path.join(incdir, fn)):
            found.setdefault(s, fn)

if mode == "--print":
    for s in sorted(found, key=lambda x: (x.lower(), x)):
        print(s)
    sys.exit(0)

abi = open(os.path.join(incdir, "abi.h")).read()
cur = (int(re.search(r"#define CFS_ABI_MAJOR (\d+)", abi).group(1)),
       int(re.search(r"#define CFS_ABI_MINOR (\d+)", abi).group(1)))

def ver(v):
    m = re.fullmatch(r"(\d+)\.(\d+)", v)
    return (int(m.group(1)), int(m.group(2))) if m else None

listed = {}
for no, line in enumerate(open(listfile), 1):
    line = line.rstrip("\n")
    if not line.strip() or line.lstrip().startswith("#"):
        continue
    cols = line.split()
    where = "symbols-in-versions:%d" % no
    if not ok(2 <= len(cols) <= 4, "%s: expected NAME INTRODUCED [DEPRECATED [REMOVED]], found %r" % (where, line)):
        continue
    name, vers = cols[0], cols[1:]
    ok(name not in listed, "%s: %s listed twice" % (where, name))
    vs = [ver(v) if v != "-" else "-" for v in vers]
    ok(all(v is not None for v in vs), "%s: %s: bad version in %r (expected MAJOR.MINOR or -)" % (where, name, " ".join(vers)))
    if any(v is None for v in vs):
        continue
    ok(vs[0] != "-" and vs[0] <= cur, "%s: %s introduced in %s, newer than the headers' %d.%d" % (where, name, vers[0], cur[0], cur[1]))
    for v in vs[1:]:
        ok(v == "-" or (vs[0] != "-" and vs[0] <= v <= cur), "%s: %s: %s out of order or newer than %d.%d" % (where, name, " ".join(vers), cur[0], cur[1]))
    listed[name] = vs

for s in sorted(found):
    ok(s in listed, "%s (in %s) is not in sdk/symbols-in-versions" % (s, found[s]))
for s, vs in sorted(listed.items()):
    removed = len(vs) >= 3 and vs[2] != "-"
    if removed:
        ok(s not in found, "%s is marked removed in %s but still in the headers" % (s, ".".join(map(str, vs[2]))))
    else:
        ok(s in found, "%s is listed in sdk/symbols-in-versions but not in any header" % s)

print("%d symbols in headers, %d listed" % (len(found), len(listed)))
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
PYEOF
