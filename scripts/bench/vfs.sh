#!/bin/sh
# scripts/bench/vfs.sh - run the VFS micro-benchmark (vfs_bench.c): ops/s of getattr,
# 4 KiB write, create+unlink and readdir of 10k entries, bare syscalls vs the VFS
# (call and async path), median of 5 runs, with ratios.
# Usage: scripts/bench/vfs.sh [BUILD_DIR] [vfs_bench options...]
# BUILD_DIR (default build): a configured build; uses its vfs_bench target when
# scripts/bench is part of the build, else compiles vfs_bench.c against its cfs_core.
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$src/build}
[ $# -gt 0 ] && shift
bin=$build/scripts/bench/vfs_bench
if [ -f "$build/CMakeCache.txt" ] && grep -q 'vfs_bench' "$build/Makefile" 2>/dev/null; then
  cmake --build "$build" --target vfs_bench -j2 >/dev/null
else
  cmake --build "$build" --target cfs_core -j2 >/dev/null
  bin=$build/vfs_bench.standalone
  # shellcheck disable=SC2046
  cc -O2 -std=gnu11 -D_GNU_SOURCE -I"$src/sdk/include" -I"$src/core" \
    "$src/scripts/bench/vfs_bench.c" -o "$bin" \
    "$build/core/libcfs_core.a" "$build/core/libcfsproto.a" \
    $(pkg-config --libs libevent libevent_pthreads libconfig jansson libcrypto libssl) \
    -lltdl -lpthread -lm
fi
exec "$bin" "$@"
