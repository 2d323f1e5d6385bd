#!/bin/sh
# Installs every build and test dependency of cfs-gateway from Debian 12 packages.
# Usage: scripts/install-deps.sh [build|test]   (default: test, which includes build)
set -eu
what=${1:-test}
export DEBIAN_FRONTEND=noninteractive

build_pkgs="build-essential cmake pkg-config libevent-dev libltdl-dev libconfig-dev
  libssl-dev libjansson-dev libcmocka-dev libibverbs-dev librdmacm-dev curl"
test_pkgs="clang libclang-rt-14-dev libfuzzer-14-dev prometheus wrk
  libnfs-dev libnfs-utils python3 python3-boto3 awscli s3cmd netcat-openbsd
  nfs-ganesha nfs-ganesha-vfs nginx rclone"

pkgs=$build_pkgs
[ "$what" = test ] && pkgs="$pkgs $test_pkgs"

missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "install-deps: installing:$missing"
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing
fi
echo "install-deps: all $what dependencies present"
