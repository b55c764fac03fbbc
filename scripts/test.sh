#!/usr/bin/env bash
# Every test, as `npm test` runs it:
#  1. the whole suite against the local node-gyp build, with both backends
#     (the opencv4nodejs one is installed here on first use: a few minutes, once);
#  2. the native, JPEG and backend tests against the prebuildify binary, loaded with PREBUILDS_ONLY=1;
#  3. the same against the cmake-js build, so binding.gyp and CMakeLists.txt cannot drift.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash scripts/install-opencv4nodejs.sh
export CVCHAT_REQUIRE_OPENCV4NODEJS=1

# A per-test limit, so that a hang fails the run with a name instead of stalling CI.
run() { node --expose-gc --test --test-timeout=180000 "$@"; }

echo "== the whole suite (node-gyp build)"
run dist/test/*.test.js

echo "== native, JPEG and backend tests against the prebuilt binary (prebuildify, PREBUILDS_ONLY=1)"
npx --no-install prebuildify --napi --strip >/dev/null
PREBUILDS_ONLY=1 run dist/test/native.test.js dist/test/jpeg.test.js dist/test/backend.test.js

echo "== native, JPEG and backend tests against the cmake-js build"
npx --no-install cmake-js compile --out build-cmake >/dev/null
CVCHAT_ADDON=build-cmake/Release/cvchat.node run dist/test/native.test.js dist/test/jpeg.test.js dist/test/backend.test.js
