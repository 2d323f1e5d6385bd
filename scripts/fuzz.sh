#!/bin/sh
# Builds every libFuzzer target (tests/fuzz/fuzz_*.c) with clang and runs each for
# CFS_FUZZ_SECONDS (default 15) over its corpus (tests/fuzz/corpus/<name>/, kept as
# regression inputs). New crash inputs are written to build-fuzz/crashes/.
set -u
cd "$(dirname "$0")/.."
top=$(pwd)
secs=${CFS_FUZZ_SECONDS:-15}
dir="$top/build-fuzz"
CC=clang cmake -S "$top" -B "$dir" -DCFS_FUZZ=ON -DCFS_WERROR=ON -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link,address,undefined" >"$dir.cmake.log" 2>&1 ||
  { cat "$dir.cmake.log"; exit 1; }
targets=$(ls tests/fuzz/fuzz_*.c 2>/dev/null | sed 's|.*/||; s|\.c$||')
[ -n "$targets" ] || { echo "fuzz: no targets"; exit 0; }
# shellcheck disable=SC2086
cmake --build "$dir" -j"$(nproc)" --target $targets || exit 1
mkdir -p "$dir/crashes"
export LSAN_OPTIONS="suppressions=$top/tests/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
ok=0
bad=0
for t in $targets; do
  name=${t#fuzz_}
  corpus="$top/tests/fuzz/corpus/$name"
  work="$dir/corpus/$name"
  mkdir -p "$work"
  [ -d "$corpus" ] && cp -r "$corpus/." "$work/" 2>/dev/null
  if "$dir/tests/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$dir/crashes/$t-" "$work" >"$dir/$t.log" 2>&1; then
    echo "fuzz $t: ok ($(grep -c . "$dir/$t.log") log lines, $(ls "$work" | wc -l) corpus)"
    ok=$((ok + 1))
  else
    echo "fuzz $t: FAILED"; tail -40 "$dir/$t.log"
    bad=$((bad + 1))
  fi
done
echo "fuzz: $ok passed, $bad failed"
[ "$bad" -eq 0 ]
