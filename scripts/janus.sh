#!/usr/bin/env bash
# Runs a local Janus (a WebRTC media server, Debian's `janus`) in the foreground, for trying
# cvchat's publishing and for the tests: `npm run janus [-- JANUS-OPTIONS]`.
# The configuration is the repository's (janus/): the streaming plugin with mountpoint 1 (VP8,
# payload type 100, RTP on udp 127.0.0.1:5004) and the HTTP API on http://127.0.0.1:8088/janus.
# Janus reads plugins from a folder, and would load every installed one; so a runtime folder
# ($CVCHAT_JANUS_DIR, default .janus/ here) is made afresh at each start, holding only links to the
# two libraries cvchat uses and janus.jcfg with its paths filled in. Options after `--` go to janus:
#   npm run janus -- --ice-enforce-list=cvjanus0     which interfaces to offer ICE candidates on
# It installs nothing: `npm run janus` runs `scripts/setup.sh --for janus` first.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
say() { echo "cvchat janus: $*" >&2; }
API_HOST=127.0.0.1
API_PORT=8088
RTP_PORT=5004

if ! command -v janus >/dev/null; then
  say "Janus is not installed; on Debian or Ubuntu:"
  echo "  sudo apt-get install -y --no-install-recommends janus libjs-janus-gateway libjs-webrtc-adapter" >&2
  say "(or run \`npm run janus\`, which installs them)"
  exit 1
fi

# The installed libraries: where Debian's package put them (the folder names the architecture).
library() {
  local kind=$1 name=$2 found=''
  if command -v dpkg >/dev/null; then found=$(dpkg -L janus 2>/dev/null | grep -m1 "/janus/$kind/$name\$" || true); fi
  if [ -z "$found" ]; then
    for candidate in /usr/lib/*/janus/"$kind"/"$name" /usr/lib/janus/"$kind"/"$name" /usr/local/lib/janus/"$kind"/"$name" /opt/janus/lib/janus/"$kind"/"$name"; do
      if [ -f "$candidate" ]; then found=$candidate; break; fi
    done
  fi
  if [ -z "$found" ]; then
    say "Janus's $name is not where its package puts it; reinstall janus (sudo apt-get install --reinstall janus)"
    exit 1
  fi
  echo "$found"
}
streaming=$(library plugins libjanus_streaming.so)
http=$(library transports libjanus_http.so)

# Something already answers on the API's port: most likely Debian's own janus.service, which the
# package enables and which listens on 8088 too.
if (exec 3<>"/dev/tcp/$API_HOST/$API_PORT") 2>/dev/null; then
  say "port $API_PORT on $API_HOST is taken, so this Janus's API could not listen there"
  if command -v systemctl >/dev/null && systemctl is-active --quiet janus 2>/dev/null; then
    say "Debian's janus.service is running: stop it with \`sudo systemctl stop janus\` (and \`sudo systemctl disable janus\` to keep it off)"
  else
    say "see what holds it with \`ss -ltnp 'sport = :$API_PORT'\` (Debian's janus.service uses this port too)"
  fi
  exit 1
fi
if command -v ss >/dev/null && [ -n "$(ss -Hlun "sport = :$RTP_PORT" 2>/dev/null)" ]; then
  say "udp port $RTP_PORT is taken, so mountpoint 1 could not take RTP there: see \`ss -lunp 'sport = :$RTP_PORT'\`"
  exit 1
fi

run=${CVCHAT_JANUS_DIR:-$root/.janus}
rm -rf "$run"
mkdir -p "$run/conf" "$run/lib/plugins" "$run/lib/transports" "$run/lib/events" "$run/lib/loggers"
ln -s "$streaming" "$run/lib/plugins/"
ln -s "$http" "$run/lib/transports/"
ln -s "$root/janus/janus.plugin.streaming.jcfg" "$root/janus/janus.transport.http.jcfg" "$run/conf/"
# '|' as sed's separator: the path may hold slashes but not that (checked).
case "$run" in *'|'* | *'&'* | *'\'*) say "the runtime folder's path may not hold | & or \\: $run"; exit 1 ;; esac
sed "s|@RUN_DIR@|$run|g" "$root/janus/janus.jcfg.in" > "$run/conf/janus.jcfg"

# Says when the API answers, with what to do next; gives up after 15 s (Janus says why, above).
announce() {
  local status=''
  for _ in $(seq 1 150); do
    sleep 0.1
    status=$( { exec 3<>"/dev/tcp/$API_HOST/$API_PORT" && printf 'GET /janus/info HTTP/1.0\r\nHost: %s\r\n\r\n' "$API_HOST" >&3 && head -n1 <&3; } 2>/dev/null || true)
    case "$status" in
      *' 200'*)
        say "ready: API http://$API_HOST:$API_PORT/janus; mountpoint 1 takes VP8 (payload type 100) on udp $API_HOST:$RTP_PORT"
        say "publish:  cvchat sender --publish rtp://$API_HOST:$RTP_PORT --web 8443"
        say "watch:    https://$API_HOST:8443/janus.html#server=http://$API_HOST:$API_PORT/janus&id=1"
        return 0 ;;
    esac
  done
  say "the API did not answer on http://$API_HOST:$API_PORT/janus within 15 s: see Janus's log above"
}
announce &

# A fatal exit of Janus would otherwise leave a core file of tens of megabytes here.
ulimit -c 0
exec janus -F "$run/conf" --disable-colors "$@"
