#!/usr/bin/env bash
# Installs the optional @u4/opencv4nodejs backend into .opencv4nodejs/ (or $CVCHAT_OPENCV4NODEJS_DIR),
# built against the system OpenCV. It is kept out of package.json because its build takes minutes
# and most users never need it; the backend tests and the benchmark do.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${CVCHAT_OPENCV4NODEJS_DIR:-$root/.opencv4nodejs}
version=7.1.2
if [ -f "$dir/node_modules/@u4/opencv4nodejs/build/Release/opencv4nodejs.node" ]; then
  exit 0
fi
echo "cvchat: building @u4/opencv4nodejs $version against the system OpenCV in $dir (a few minutes)..." >&2
mkdir -p "$dir"
[ -f "$dir/package.json" ] || echo '{ "name": "cvchat-opencv4nodejs-backend", "private": true }' > "$dir/package.json"
cd "$dir"
# DISABLE_AUTOBUILD: use the system OpenCV instead of downloading and compiling OpenCV itself.
OPENCV4NODEJS_DISABLE_AUTOBUILD=1 \
OPENCV_INCLUDE_DIR=$(pkg-config --cflags-only-I opencv4 | sed 's/^-I//; s/ .*//') \
OPENCV_LIB_DIR=$(pkg-config --variable=libdir opencv4) \
OPENCV_BIN_DIR=/usr/bin \
JOBS=$(nproc) \
  npm install --no-audit --no-fund --loglevel=error "@u4/opencv4nodejs@$version" >&2
test -f node_modules/@u4/opencv4nodejs/build/Release/opencv4nodejs.node
