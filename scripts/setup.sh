#!/usr/bin/env bash
# Makes this machine ready for cvchat: system packages (OpenCV and the test tools), node modules,
# the native addon and the compiled TypeScript. Safe to run again: it only does what is missing,
# and returns at once when nothing is. `npm start` and `npm test` run it first.
#   --quiet   say nothing when nothing needs doing
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
quiet=0
[ "${1:-}" = "--quiet" ] && quiet=1
say() { echo "cvchat setup: $*" >&2; }

# What cvchat needs to build and run, then what its tests and benchmark use (X server, key presses,
# screenshots, a Python cv2 peer, sample photographs, GStreamer's test source, cmake for cmake-js).
packages=(libopencv-dev libjpeg-dev pkg-config g++ make cmake
          xvfb xdotool imagemagick python3-opencv python3-numpy python3-skimage
          gstreamer1.0-plugins-base gstreamer1.0-plugins-good)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    say "these packages are missing and this is not a Debian/Ubuntu system: ${missing[*]}"
    say "install OpenCV 4 development files (with pkg-config or CMake config) and the tools above, then run npm start again"
    exit 1
  fi
  if [ "$(id -u)" = 0 ]; then
    sudo=()
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo=(sudo)
  else
    say "these Debian packages are missing: ${missing[*]}"
    say "install them with:"
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  say "installing ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# Node modules. `npm install` also builds the addon (node-gyp-build) and the TypeScript (prepare).
if [ ! -d node_modules/node-gyp-build ] || [ ! -d node_modules/typescript ] || [ package.json -nt node_modules/.package-lock.json ]; then
  say "installing node modules and building (npm install)"
  npm install --no-audit --no-fund --loglevel=error >&2
fi

# The addon: built when missing or older than a source.
addon=build/Release/cvchat.node
if [ ! -f "$addon" ] || [ -n "$(find native binding.gyp -newer "$addon" -print -quit 2>/dev/null)" ]; then
  say "building the native addon"
  npm run --silent build:native >&2
fi

# The TypeScript: recompiled when a source is newer than the last compile.
stamp=dist/.built
if [ ! -f "$stamp" ] || [ -n "$(find lib test scripts tsconfig.json -name '*.ts' -newer "$stamp" -print -quit 2>/dev/null; find tsconfig.json -newer "$stamp" 2>/dev/null)" ]; then
  [ $quiet = 1 ] || say "compiling TypeScript"
  npx --no-install tsc -p tsconfig.json
  touch "$stamp"
fi
[ $quiet = 1 ] || say "ready"
