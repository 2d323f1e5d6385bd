#!/bin/sh
# The whole test suite, as CI runs it: installs the test dependencies (Debian packages),
# then
#   1. a -Werror build and every ctest test (cmocka unit tests + integration tests with
#      the real binary and real clients),
#   2. the same under AddressSanitizer + UndefinedBehaviorSanitizer,
#   3. every libFuzzer target for a short run over its corpus (CFS_FUZZ_SECONDS, 15).
# Ends with "N passed, N failed" (stages) and exits non-zero when anything failed.
set -u
cd "$(dirname "$0")/.."
top=$(pwd)
jobs=$(nproc)
passed=0
failed=0
failures=""

stage() { # name, command...
  name=$1
  shift
  echo "=== $name"
  if "$@"; then
    passed=$((passed + 1))
    echo "=== $name: ok"
  else
    failed=$((failed + 1))
    failures="$failures $name"
    echo "=== $name: FAILED"
  fi
}

scripts/install-deps.sh test || { echo "0 passed, 1 failed"; exit 1; }

build_and_test() { # dir, extra cmake args...
  dir=$1
  shift
  cmake -S "$top" -B "$dir" -DCFS_WERROR=ON "$@" >"$dir.cmake.log" 2>&1 ||
    { cat "$dir.cmake.log"; return 1; }
  cmake --build "$dir" -j"$jobs" || return 1
  (cd "$dir" && ctest --output-on-failure -j"$jobs" --timeout 300)
}

mkdir -p build
stage "build+ctest" build_and_test "$top/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo
stage "asan+ubsan build+ctest" env ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  LSAN_OPTIONS="suppressions=$top/tests/fuzz/lsan.supp" \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 CFS_NO_DLCLOSE=1 \
  sh -c "$(cat <<'INNER'
top=$1; jobs=$2
cmake -S "$top" -B "$top/build-asan" -DCFS_WERROR=ON -DCFS_SANITIZE=ON \
  -DCMAKE_BUILD_TYPE=Debug >"$top/build-asan.cmake.log" 2>&1 || { cat "$top/build-asan.cmake.log"; exit 1; }
cmake --build "$top/build-asan" -j"$jobs" || exit 1
cd "$top/build-asan" && ctest --output-on-failure -j"$jobs" --timeout 600
INNER
)" sh "$top" "$jobs"
stage "fuzz" scripts/fuzz.sh

echo
[ -n "$failures" ] && echo "failed stages:$failures"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
