#!/bin/sh
# Builds cfs-gateway and starts it in the foreground on the embedded default: the
# shipped conf.d/ (admin on 127.0.0.1:8080, NFSv3 on 2049/20048 and S3 on 9000 when
# those modules are enabled) serving ./var/data. Extra arguments go to `start`.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
mkdir -p var/data var/state
exec build/core/cfs-gateway start --config conf.d "$@"
