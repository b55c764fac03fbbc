#!/usr/bin/env bash
# Every test, as `npm test` runs it:
#  1. the whole suite against the local node-gyp build, with both backends
#     (the opencv4nodejs one is installed here on first use: a few minutes, once);
#  2. the native, JPEG, source JPEG, recorder and backend tests against the prebuildify binary, loaded with PREBUILDS_ONLY=1;
#  3. the same against the cmake-js build, so binding.gyp and CMakeLists.txt cannot drift.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# npm passes SIGTERM (a cancelled CI job, a process manager) to this script alone. Pass it on to
# the test runner's whole process group, as Ctrl+C on a terminal would: the runner, its test
# processes and what they started (X servers, senders). Otherwise they all run on after npm has
# exited. The runner runs in the background in its own group (setsid), because bash runs a trap
# only once the foreground command has ended; a build step is let finish, then the run ends.
runner=
stop() {
  trap - TERM INT
  if [ -n "$runner" ]; then kill -TERM -- "-$runner" 2>/dev/null || true; wait "$runner" || true; fi
  echo "== stopped by SIG$1" >&2
  exit $((128 + $(kill -l "$1")))
}
trap 'stop TERM' TERM
trap 'stop INT' INT

bash scripts/install-opencv4nodejs.sh
export CVCHAT_REQUIRE_OPENCV4NODEJS=1

# A per-test limit, so that a hang fails the run with a name instead of stalling CI.
run() {
  setsid node --expose-gc --test --test-timeout=180000 "$@" &
  runner=$!
  wait "$runner"
  runner=
}

echo "== the whole suite (node-gyp build)"
run dist/test/*.test.js

echo "== native, video codec, JPEG, source JPEG, recorder and backend tests against the prebuilt binary (prebuildify, PREBUILDS_ONLY=1)"
# Packaging must leave the local build as it was, or the next `npm start` would rebuild it.
local_build=build/Release/cvchat.node
checksum=$(sha256sum "$local_build")
bash scripts/prebuild.sh >/dev/null
if ! sha256sum --check --status <<<"$checksum" 2>/dev/null; then
  echo "FAIL: the prebuild step removed or changed $local_build" >&2
  exit 1
fi
PREBUILDS_ONLY=1 run dist/test/native.test.js dist/test/video-codec.test.js dist/test/jpeg.test.js dist/test/source-jpeg.test.js dist/test/recorder.test.js dist/test/backend.test.js

echo "== native, video codec, JPEG, source JPEG, recorder and backend tests against the cmake-js build"
npx --no-install cmake-js compile --out build-cmake >/dev/null
CVCHAT_ADDON=build-cmake/Release/cvchat.node run dist/test/native.test.js dist/test/video-codec.test.js dist/test/jpeg.test.js dist/test/source-jpeg.test.js dist/test/recorder.test.js dist/test/backend.test.js
