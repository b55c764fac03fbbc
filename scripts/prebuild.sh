#!/usr/bin/env bash
# Writes prebuilds/<platform>-<arch>/cvchat.node with prebuildify: `npm run prebuildify`, and npm test
# before it tests that binary. Extra arguments go to prebuildify. (The npm script is not called
# `prebuild`: npm would run that before every `npm run build`.)
#
# prebuildify runs `node-gyp rebuild` in the folder it packages and moves the result out of
# build/Release, so run in the package itself it would leave `npm start` to rebuild the local addon.
# It runs instead in a temporary copy of what the build reads (package.json, binding.gyp, native/,
# with node_modules linked); only prebuilds/ comes back, and build/ is never touched.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/cvchat-prebuild.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -R "$root/package.json" "$root/binding.gyp" "$root/native" "$work/"
ln -s "$root/node_modules" "$work/node_modules"
(cd "$work" && npx --no-install prebuildify --napi --strip "$@")
mkdir -p "$root/prebuilds"
cp -R "$work/prebuilds/." "$root/prebuilds/"
