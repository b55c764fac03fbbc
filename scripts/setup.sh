#!/usr/bin/env bash
# Makes this machine ready for cvchat: the Debian packages a command needs, node modules, the
# native addon and the compiled TypeScript. Safe to run again: it only does what is missing, and
# returns at once when nothing is (it runs before every `npm start`, `npm test` and `npm run bench`).
#   --for run     (the default) what building and running cvchat needs: `npm start`
#   --for test    that, and what the tests use: `npm test`
#   --for bench   that, and what the benchmark uses: `npm run bench`
#   --for janus   only the local Janus media server and its page's scripts: `npm run janus` (it
#                 builds nothing: Janus does not need cvchat's addon)
#   --quiet       say nothing when nothing needs doing
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
say() { echo "cvchat setup: $*" >&2; }
quiet=0
purpose=run
while [ $# -gt 0 ]; do
  case "$1" in
    --quiet) quiet=1 ;;
    --for) purpose=${2:-}; shift ;;
    *) say "unknown option '$1' (expected --quiet, --for run|test|bench|janus)"; exit 2 ;;
  esac
  shift
done

# Building and running: OpenCV and libjpeg(-turbo) with headers, a C++ toolchain, Python 3 (node-gyp
# runs gyp with it), and GStreamer's base and good plugins for --source pipelines (appsink,
# videoconvert, v4l2src, souphttpsrc, rtspsrc...).
# libavcodec-dev and libavutil-dev: H.264 (libx264 through libavcodec, and its decoder); libvpx-dev:
# VP8, used directly because FFmpeg's wrapper cannot change the bitrate mid-stream (native/video_codec.h).
# libavformat-dev: --record's .mkv and .avi files (native/recorder.h).
# openssl: the self-signed certificate of the web page (--web), made once and kept.
# Janus, with janus.js and WebRTC's adapter.js for the Janus viewer's page (web/janus.html): a local
# media server that cvchat publishes to (--publish), for the tests, the benchmark and `npm run janus`.
janus=(janus libjs-janus-gateway libjs-webrtc-adapter)
packages=(libopencv-dev libjpeg-dev libavformat-dev libavcodec-dev libavutil-dev libvpx-dev pkg-config g++ make python3 gstreamer1.0-plugins-base gstreamer1.0-plugins-good openssl)
case "$purpose" in
  run) ;;
  # An X server, key presses and screenshots for the window tests, Python cv2 peers, cmake for the
  # cmake-js build, ip for the chat between two network namespaces, Chromium for the web page's
  # tests (driven by playwright-core; never a downloaded browser), x264enc for publishing H.264,
  # and Janus for the browsers that watch what is published.
  test) packages+=(cmake xvfb xdotool imagemagick python3-opencv python3-numpy iproute2 chromium gstreamer1.0-plugins-ugly "${janus[@]}") ;;
  # Sample photographs (scikit-image) made into scenes by Python cv2, a window under Xvfb, and ip
  # and tc for the slow links, Chromium for the browser viewer's row, Janus for the viewers per core,
  # gst-launch-1.0 to mux the sources section's MJPEG file.
  bench) packages+=(gstreamer1.0-tools xvfb python3-opencv python3-numpy python3-skimage iproute2 chromium "${janus[@]}") ;;
  janus) packages=("${janus[@]}") ;;
  *) say "--for takes run, test, bench or janus, not '$purpose'"; exit 2 ;;
esac
# One dpkg-query for all of them: this runs before every npm start, and each call costs ~10 ms.
declare -A installed=()
while read -r name status; do
  if [ "$status" = "install ok installed" ]; then installed[$name]=1; fi
done < <(dpkg-query -W -f='${Package} ${Status}\n' "${packages[@]}" 2>/dev/null || true)
missing=()
for p in "${packages[@]}"; do
  [ -n "${installed[$p]:-}" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    say "these packages are missing and this is not a Debian/Ubuntu system: ${missing[*]}"
    if [ "$purpose" = janus ]; then
      say "install Janus (its streaming plugin and HTTP transport), janus.js and adapter.js, then run the npm command again"
    else
      say "install OpenCV 4 development files (with pkg-config or CMake config) and the tools above, then run the npm command again"
    fi
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

# Janus runs on its own: nothing of cvchat's needs building for it.
if [ "$purpose" = janus ]; then
  [ $quiet = 1 ] || say "ready"
  exit 0
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
