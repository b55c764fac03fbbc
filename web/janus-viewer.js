// @ts-check
// The Janus viewer's page: watches one mountpoint of a Janus streaming plugin (what
// `cvchat sender --publish` feeds) over WebRTC, through janus.js. The address's fragment says where:
//   janus.html#server=http://127.0.0.1:8088/janus&id=1
// (default: Janus's HTTP API on this page's host, mountpoint 1). The page watches again whenever
// the watch ends: Janus unreachable, no such mountpoint yet, the mountpoint gone, Janus restarted.
// A publisher that stops and starts again needs nothing: Janus carries on with the same connection.
// Keeps window.cvchatJanus up to date for people and tests who want the numbers.

import { wireControls } from './controls.js';

/** How long to wait before watching again after a failure. */
const RETRY_MS = 2000;
/** No new picture for this long: is the stream stopped, or is Janus gone? */
const STALL_MS = 3000;
const FPS_WINDOW_MS = 2000;
/** Chromium, Safari and recent Firefox say when each frame is presented; elsewhere, the decoder's count. */
const FRAME_CALLBACKS = 'requestVideoFrameCallback' in HTMLVideoElement.prototype;

/**
 * @typedef {'connecting' | 'watching' | 'streaming' | 'stopped' | 'unreachable' | 'no-mountpoint' | 'error' | 'unsupported' | 'left'} State
 */

const element = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const video = /** @type {HTMLVideoElement} */ (element('view'));
const hudElement = element('hud');
const messageBox = element('message-box');
const messageElement = element('message');

/** Where to watch, from the fragment, or the defaults. */
function target() {
  const params = new URLSearchParams(location.hash.slice(1));
  const idText = (params.get('id') ?? '1').trim();
  // Janus's ids are numbers unless it was configured with string ids.
  const id = /^\d+$/.test(idText) ? Number(idText) : idText;
  return { server: params.get('server')?.trim() || defaultServer(), id };
}

/**
 * Janus's HTTP API on the page's host: plain http on 8088 where a browser allows it from this page
 * (a page itself on http, or a loopback host), otherwise https on Janus's usual 8089.
 */
function defaultServer() {
  const name = location.hostname || '127.0.0.1';
  const host = name.includes(':') && !name.startsWith('[') ? `[${name}]` : name;
  const loopback = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/.test(host);
  return location.protocol !== 'https:' || loopback ? `http://${host}:8088/janus` : `https://${host}:8089/janus`;
}

const { server, id } = target();

const status = {
  /** @type {State} */
  state: 'connecting',
  message: '',
  server,
  id,
  /** Frames decoded since the page opened, over every watch. */
  framesDecoded: 0,
  /** Frames shown (requestVideoFrameCallback), since the page opened. */
  framesShown: 0,
  width: 0,
  height: 0,
  fps: 0,
  /** @type {string | null} */
  codec: null,
  bitrateBps: 0,
  packetsLost: 0,
  /** Times the page watched again. */
  rewatches: 0,
  /**
   * Capture to screen, ms (median of the last 30 frames), when the picture carries cvchat's test
   * source's timecode (this machine's clock against the sender's: one machine, or synchronised clocks).
   * @type {number | null}
   */
  latencyMs: null,
  /** The last frames' latencies, ms, oldest first (at most 300). @type {number[]} */
  latencies: /** @type {number[]} */ ([]),
  hud: true,
  leave,
  inboundVideo,
};
Object.assign(window, { cvchatJanus: status });

/** @type {Janus | null} */
let session = null;
/** @type {JanusPluginHandle | null} */
let handle = null;
/** Each watch's number: callbacks of an earlier one are ignored. */
let generation = 0;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let retryTimer;
/** Frames decoded by the connections of earlier watches. */
let decodedEarlier = 0;
/** The current connection's, at the last look. */
let decodedNow = 0;
let lastFrameAt = 0;
let watchedAt = 0;
/** A session check is in flight (at most one). */
let probing = false;
/** @type {number[]} */
let shownAt = [];
let lastBytes = { at: 0, bytes: 0 };

/** @param {State} state @param {string} message */
function show(state, message) {
  status.state = state;
  status.message = message;
  messageElement.textContent = message;
  messageBox.hidden = state === 'streaming';
  renderHud();
}

const where = () => `mountpoint ${id} of Janus at ${server}`;

function watch() {
  clearTimeout(retryTimer);
  const mine = ++generation;
  const current = () => mine === generation;
  watchedAt = performance.now();
  lastFrameAt = 0;
  show('connecting', `Connecting to Janus at ${server}…`);
  const janus = new Janus({
    server,
    // Janus's own candidates and the browser's host ones; a Janus behind NAT is configured with its
    // public address (nat_1_1_mapping) rather than asking a STUN server from here.
    iceServers: [],
    success: () => {
      if (!current()) return;
      janus.attach({
        plugin: 'janus.plugin.streaming',
        opaqueId: `cvchat-${Janus.randomString(8)}`,
        success(attached) {
          if (!current()) return;
          handle = attached;
          attached.send({ message: { request: 'watch', id } });
          show('watching', `Watching ${where()}: waiting for the picture…`);
        },
        error: (cause) => current() && again('error', `Janus at ${server} has no streaming plugin (${cause}); trying again…`),
        onmessage(message, jsep) {
          if (!current()) return;
          if (message.error_code === 455 || /no such mountpoint/i.test(message.error ?? '')) {
            return again('no-mountpoint', `Janus at ${server} has no mountpoint ${id} (yet?); trying again…`);
          }
          if (message.error) return again('error', `Janus says: ${message.error}; trying again…`);
          const result = message.result?.status;
          if (result === 'stopped') return again('stopped', `The stream of ${where()} ended; watching again…`);
          if (jsep && handle) answer(handle, jsep, current);
        },
        onremotetrack(track, _mid, on) {
          if (!current() || track.kind !== 'video' || !on) return;
          // Called again (on) when the track unmutes: the same track keeps the same element.
          const shown = /** @type {MediaStream | null} */ (video.srcObject);
          if (shown?.getVideoTracks()[0] === track) return;
          video.srcObject = new MediaStream([track]);
          video.play().catch(() => {}); // muted autoplay is allowed; anything else waits for a tap
        },
        iceState: (state) => current() && state === 'failed' && again('error', `The connection to Janus at ${server} failed (ICE); watching again…`),
        webrtcState: (up) => current() && !up && again('stopped', `Janus closed the connection to ${where()}; watching again…`),
        oncleanup: () => current() && again('stopped', `The watch of ${where()} ended; watching again…`),
      });
    },
    error: (cause) => current() && again('unreachable', `Janus at ${server} does not answer (${cause}); trying again…`),
  });
  session = janus;
}

/**
 * Janus offers; the page answers with receive-only media. ('data' accepts a data channel, should the
 * mountpoint have one; audio and video offered are taken as receive-only.)
 * @param {JanusPluginHandle} attached @param {JanusJsep} jsep @param {() => boolean} current
 */
function answer(attached, jsep, current) {
  attached.createAnswer({
    jsep,
    tracks: [{ type: 'data' }],
    success: (answerJsep) => current() && attached.send({ message: { request: 'start' }, jsep: answerJsep }),
    error: (cause) => current() && again('error', `This browser could not take Janus's stream (${describe(cause)}); trying again…`),
  });
}

/** @param {unknown} cause */
function describe(cause) {
  if (cause instanceof Error) return cause.message;
  return typeof cause === 'string' ? cause : JSON.stringify(cause);
}

/** Ends this watch (its session on Janus too, if Janus is there) and watches again soon. @param {State} state @param {string} message */
function again(state, message) {
  stop();
  status.rewatches++;
  show(state, message);
  retryTimer = setTimeout(watch, RETRY_MS);
}

/** Ends the current watch: later callbacks of it are ignored. */
function stop() {
  generation++;
  clearTimeout(retryTimer);
  decodedEarlier += decodedNow;
  decodedNow = 0;
  lastBytes = { at: 0, bytes: 0 };
  const ending = session;
  session = null;
  handle = null;
  // Tells Janus (when it answers) so that the viewer's resources go now, not at its session timeout.
  ending?.destroy({ cleanupHandles: true, notifyDestroyed: false });
}

/** The user (or a test) leaves: the session on Janus ends at once. */
function leave() {
  stop();
  video.srcObject = null;
  show('left', 'You left. Reload the page to watch again.');
}

/**
 * The current connection's video statistics (getStats' inbound-rtp), for measurements that need
 * more than the page keeps; null before a connection.
 * @returns {Promise<Record<string, unknown> | null>}
 */
async function inboundVideo() {
  const pc = handle?.webrtcStuff.pc;
  if (!pc) return null;
  /** @type {Record<string, unknown> | null} */
  let found = null;
  (await pc.getStats()).forEach((report) => {
    if (report.type === 'inbound-rtp' && report.kind === 'video') found = { ...report };
  });
  return found;
}

const timecodeCanvas = document.createElement('canvas');
const timecodeContext = /** @type {CanvasRenderingContext2D} */ (timecodeCanvas.getContext('2d', { willReadFrequently: true }));

/**
 * The capture time cvchat's test source draws along the bottom right corner (native/test_source.cc:
 * the low 32 bits of its wall-clock ms as 32 squares between two white guards), read from the
 * picture shown, and the latency it gives. Pictures without it (a camera) give none.
 * @param {number} width @param {number} height
 */
function readTimecode(width, height) {
  const side = Math.max(4, Math.floor(height / 48));
  const count = 34;
  const x0 = width - (count + 1) * side;
  const y0 = height - 2 * side;
  if (x0 < 0 || y0 < 0) return;
  timecodeCanvas.width = count * side;
  timecodeCanvas.height = side;
  timecodeContext.drawImage(video, x0, y0, count * side, side, 0, 0, count * side, side);
  const { data } = timecodeContext.getImageData(0, 0, count * side, side);
  const centre = Math.floor(side / 2);
  const white = (/** @type {number} */ i) => {
    const at = (centre * count * side + i * side + centre) * 4;
    return data[at] + data[at + 1] + data[at + 2] > 3 * 128;
  };
  if (!white(0) || !white(count - 1)) return;
  let bits = 0;
  for (let i = 1; i <= 32; i++) bits = bits * 2 + (white(i) ? 1 : 0);
  // Only the low 32 bits were drawn: the difference modulo 2^32, as a signed number.
  const latency = ((((Date.now() % 2 ** 32) - bits) % 2 ** 32) + 2 ** 32) % 2 ** 32;
  const signed = latency > 2 ** 31 ? latency - 2 ** 32 : latency;
  if (signed < -1000 || signed > 60_000) return; // not a timecode, or clocks far apart
  status.latencies.push(signed);
  if (status.latencies.length > 300) status.latencies.shift();
  const recent = status.latencies.slice(-30).sort((a, b) => a - b);
  status.latencyMs = recent[Math.floor(recent.length / 2)];
}

/** Counts shown frames, and their size, as the browser presents them. */
function countFrames() {
  if (!FRAME_CALLBACKS) return;
  /** @type {VideoFrameRequestCallback} */
  const onFrame = (_now, metadata) => {
    status.framesShown++;
    status.width = metadata.width;
    status.height = metadata.height;
    const now = performance.now();
    lastFrameAt = now;
    shownAt.push(now);
    readTimecode(metadata.width, metadata.height);
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
}

/** Once a second: the decoder's counts, and what to make of no pictures. */
async function look() {
  const pc = handle?.webrtcStuff.pc;
  if (pc) {
    const mine = generation;
    const stats = await pc.getStats().catch(() => null);
    if (stats && mine === generation) readStats(stats);
  }
  const now = performance.now();
  shownAt = shownAt.filter((at) => at > now - FPS_WINDOW_MS);
  status.fps = shownAt.length / (FPS_WINDOW_MS / 1000);
  if (!FRAME_CALLBACKS) {
    status.width = video.videoWidth;
    status.height = video.videoHeight;
  }
  if (!session || !handle) return renderHud();
  const quiet = now - (lastFrameAt || watchedAt);
  if (lastFrameAt && quiet < STALL_MS) {
    if (status.state !== 'streaming') show('streaming', '');
  } else if (quiet >= STALL_MS) {
    void probe();
  }
  renderHud();
}

/** @param {RTCStatsReport} stats */
function readStats(stats) {
  stats.forEach((report) => {
    if (report.type !== 'inbound-rtp' || report.kind !== 'video') return;
    const decoded = report.framesDecoded ?? 0;
    // A decoder that counts from zero again (a renegotiated connection) adds to what went before.
    if (decoded < decodedNow) decodedEarlier += decodedNow;
    if (!FRAME_CALLBACKS && decoded > decodedNow) lastFrameAt = performance.now();
    decodedNow = decoded;
    status.packetsLost = report.packetsLost ?? 0;
    const codec = report.codecId ? stats.get(report.codecId) : null;
    if (codec?.mimeType) status.codec = String(codec.mimeType).replace(/^video\//, '');
    const at = report.timestamp;
    const bytes = report.bytesReceived ?? 0;
    if (lastBytes.at && at > lastBytes.at) status.bitrateBps = ((bytes - lastBytes.bytes) * 8 * 1000) / (at - lastBytes.at);
    lastBytes = { at, bytes };
  });
  status.framesDecoded = decodedEarlier + decodedNow;
}

/**
 * No picture for a while. Either the publisher stopped (Janus is fine: keep the connection, the
 * stream comes back on it), or Janus went away or restarted (our session is gone: janus.js's long
 * poll cannot tell, so ask). A keepalive on the session says which.
 */
async function probe() {
  if (probing || !session) return;
  const mine = generation;
  const sessionId = session.getSessionId();
  const neverStarted = lastFrameAt === 0;
  probing = true;
  let alive = session.isConnected();
  // Over HTTP, ask Janus; over a WebSocket, janus.js notices a lost server by itself.
  if (alive && sessionId && /^https?:/.test(server)) {
    try {
      const response = await fetch(`${server}/${sessionId}`, {
        method: 'POST',
        body: JSON.stringify({ janus: 'keepalive', transaction: Janus.randomString(12) }),
        signal: AbortSignal.timeout(STALL_MS),
      });
      alive = (await response.json())?.janus === 'ack';
    } catch {
      alive = false;
    }
  }
  probing = false;
  if (mine !== generation) return;
  if (!alive) return again('unreachable', `Lost Janus at ${server} (stopped or restarted); watching again…`);
  if (neverStarted) show('watching', `Watching ${where()}: no picture yet. Is anything publishing to it?`);
  else show('stopped', `The stream of ${where()} stopped: waiting for it to come back…`);
}

/** @param {number} bps */
const mbits = (bps) => `${(bps / 1e6).toFixed(1)} Mbit/s`;

function renderHud() {
  hudElement.hidden = !status.hud || (status.state !== 'streaming' && status.state !== 'stopped');
  if (hudElement.hidden) return;
  const size = status.width ? `  ${status.width}x${status.height}` : '';
  hudElement.textContent = [
    `${status.fps.toFixed(0)} fps${size}  ${status.codec ?? ''} ${mbits(status.bitrateBps)}${status.latencyMs === null ? '' : `  latency ${status.latencyMs.toFixed(0)} ms`}`,
    `lost ${status.packetsLost}  decoded ${status.framesDecoded}  Janus mountpoint ${id}`,
  ].join('\n');
}

function toggleHud() {
  status.hud = !status.hud;
  renderHud();
}

wireControls({ picture: video, toggleHud });
// Another address in the fragment (edited by hand): watch that one.
window.addEventListener('hashchange', () => location.reload());

function start() {
  if (!('Janus' in window) || !('adapter' in window)) {
    return show('unsupported', "janus.js or adapter.js did not load. cvchat serves them from Debian's libjs-janus-gateway and libjs-webrtc-adapter (apt-get install them); another web server needs both files next to janus.html.");
  }
  Janus.init({
    debug: ['warn', 'error'],
    dependencies: Janus.useDefaultDependencies(),
    callback() {
      if (!Janus.isWebrtcSupported()) return show('unsupported', 'This browser has no WebRTC, which watching through Janus needs.');
      countFrames();
      setInterval(() => void look(), 1000);
      watch();
    },
  });
}

start();

export {}; // a module (janus.html loads it as one): its names are its own, not the window's
