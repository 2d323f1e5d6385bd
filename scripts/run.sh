#!/bin/sh
# Builds cfs-gateway and starts it in the foreground on the embedded default: the
# shipped conf.d/ serving ./var/data (a local directory, created at start), admin HTTP on
# 127.0.0.1:8080, NFSv3 on :2049 (MOUNT :20048) and S3 on :9000 when those ports are
# free (a module whose port is taken is left out, with a note). S3 root keys: from
# CFS_ACCESS_KEY/CFS_SECRET_KEY, else generated once into ./var/state. Extra arguments
# go to `cfs-gateway start` (e.g. --modules s3).
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
mkdir -p var/data var/state

taken() { # port
  command -v ss >/dev/null 2>&1 && [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
}
mods=""
if taken 2049 || taken 20048; then
  echo "run.sh: port 2049 or 20048 is taken: starting without nfs3" >&2
else
  mods="nfs3"
fi
if taken 9000; then
  echo "run.sh: port 9000 is taken: starting without s3" >&2
else
  mods="${mods:+$mods,}s3"
fi
case " $* " in
*" --modules "*) exec build/core/cfs-gateway start --config conf.d "$@" ;;
*) exec build/core/cfs-gateway start --config conf.d --modules "$mods" "$@" ;;
esac
