// @ts-check
// The page: reads the key from the address's fragment, connects, and routes what arrives: pictures
// to the decoder, control messages to their effects, the partner's ACKs to our camera. Keeps
// window.cvchat up to date for people and tests who want the numbers.
import { CameraSender } from './camera.js';
import { wireControls } from './controls.js';
import { FrameStats, hudLines } from './hud.js';
import { Link, NO_KEY_MESSAGE, isFinal } from './link.js';
import { FrameDecoder, decodableCodecs } from './video.js';
import { ackText, controlMessage, parsePayload } from './wire.js';

/**
 * @typedef {import('./link.js').State} State
 * @typedef {import('./link.js').Role} Role
 * @typedef {import('./video.js').Shown} Shown
 */

const element = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const canvas = /** @type {HTMLCanvasElement} */ (element('view'));
const inset = /** @type {HTMLVideoElement} */ (element('self'));
const hudElement = element('hud');
const messageBox = element('message-box');
const messageElement = element('message');
const reconnectButton = element('reconnect');
const leaveButton = element('leave-button');

const status = {
  /** @type {State} */
  state: 'connecting',
  message: '',
  /** @type {Role | null} */
  role: null,
  framesDrawn: 0,
  /** The seq of the newest frame drawn; -1 before the first. */
  lastSeq: -1,
  /** The picture's size as shown (the stream's full size). */
  width: 0,
  height: 0,
  /** @type {string | null} */
  codec: null,
  fps: 0,
  /** @type {number | null} */
  latencyMs: null,
  /** @type {number | null} */
  rttMs: null,
  /** Payloads we could not use: not cvchat's, or pictures that did not decode. */
  bad: 0,
  /** Frames that arrived and were never shown: replaced by newer ones, passed over until a keyframe, or bad. */
  dropped: 0,
  /** @type {string[]} */
  offeredCodecs: [],
  /** Chat: 'off', 'on', or why our camera is not sending. */
  camera: 'off',
  /** Chat: how our camera goes out, JPEG until the partner offers a video codec this browser encodes. @type {'jpeg' | import('./wire.js').VideoCodec} */
  cameraCodec: 'jpeg',
  framesSent: 0,
  framesAcked: 0,
  hud: true,
  insecure: false,
  leave,
};
Object.assign(window, { cvchat: status });

const stats = new FrameStats();
/** @type {Shown | null} */
let lastShown = null;
/** The partner's newest frame we showed: its capture time is echoed back for its round trip. */
let echo = { time: 0, shownAt: 0 };
/** @type {Link | null} */
let link = null;
/** @type {FrameDecoder | null} */
let decoder = null;
/** @type {CameraSender | null} */
let camera = null;

/** @param {State} state @param {string} message */
function showState(state, message) {
  status.state = state;
  status.message = message;
  messageElement.textContent = message;
  messageBox.hidden = state === 'streaming';
  reconnectButton.hidden = !isFinal(state) || state === 'no-key';
  leaveButton.hidden = isFinal(state);
  if (isFinal(state)) {
    camera?.stop();
    decoder?.close();
  }
  renderHud();
}

/** The user leaves (q, Escape, the Leave button); the partner hears BYE. */
function leave() {
  link?.leave(status.role);
}

/** @param {import('./wire.js').Payload} payload */
function onPayload(payload) {
  const parsed = parsePayload(payload.bytes);
  const timing = { firstByteAt: payload.firstByteAt, lastByteAt: payload.lastByteAt };
  switch (parsed.kind) {
    case 'control':
      if (parsed.type === 'ACK') {
        camera?.acknowledged(parsed.text);
      } else if (parsed.type === 'BUSY') {
        link?.end('refused', parsed.text || 'The sender has all the viewers it takes.');
      } else if (parsed.type === 'BYE') {
        link?.end('ended', status.role === 'chat' ? 'Your partner left the call.' : 'The sender stopped.');
      }
      return; // HELLO and later kinds mean nothing to a browser
    case 'jpeg':
      return decoder?.pushJpeg(parsed.bytes, parsed.meta, parsed.point, timing);
    case 'video':
      return decoder?.pushVideo(parsed.meta, parsed.info, parsed.bitstream, timing);
    default:
      status.dropped++;
      countBad(parsed.reason);
  }
}

/** A payload or picture we could not use; the decoder counts its own frames as dropped too. @param {string} reason */
function countBad(reason) {
  status.bad++;
  console.warn(`cvchat: ${reason}`);
}

/** @param {Shown} shown */
function onShown(shown) {
  lastShown = shown;
  const { meta } = shown;
  status.framesDrawn++;
  status.width = shown.fullWidth;
  status.height = shown.fullHeight;
  status.codec = shown.codec;
  if (meta) {
    status.lastSeq = meta.seq;
    stats.add(meta.captureTime > 0 ? Date.now() - meta.captureTime : null);
    echo = { time: meta.captureTime, shownAt: performance.now() };
    if (status.role === 'chat' && meta.echoTime > 0) status.rttMs = Math.max(0, Date.now() - meta.echoTime - meta.echoHoldMs);
  } else {
    stats.add(null);
  }
}

/** @param {Role} role @param {boolean} insecure */
function onWelcome(role, insecure) {
  status.role = role;
  status.insecure = insecure;
  decoder = new FrameDecoder(canvas, /** @type {import('./wire.js').VideoCodec[]} */ (status.offeredCodecs), {
    shown: onShown,
    ack(seq, timing, notes) {
      const holdMs = performance.now() - timing.lastByteAt;
      link?.send(controlMessage('ACK', ackText(seq, { ...timing, holdMs }, notes)));
    },
    dropped: () => status.dropped++,
    bad: countBad,
  });
  if (role !== 'chat') return;
  camera = new CameraSender(inset, {
    send: (message) => link?.send(message),
    echo: () => ({ time: echo.time, holdMs: echo.time > 0 ? performance.now() - echo.shownAt : 0 }),
  });
  void camera.start();
}

function renderHud() {
  status.fps = stats.fps;
  status.latencyMs = stats.latencyMs;
  if (camera) {
    status.camera = camera.status;
    status.cameraCodec = camera.codec;
    status.framesSent = camera.sent;
    status.framesAcked = camera.acked;
  }
  hudElement.hidden = !status.hud || status.state !== 'streaming';
  if (hudElement.hidden) return;
  const outgoing = camera && { width: camera.width, height: camera.height, sent: camera.sent, problem: camera.status === 'on' || camera.status === 'off' ? null : camera.status };
  hudElement.textContent = hudLines({ ...status, shown: lastShown, outgoing }).join('\n');
}

function toggleHud() {
  status.hud = !status.hud;
  renderHud();
}

wireControls({ picture: canvas, toggleHud, leave });
leaveButton.addEventListener('click', leave);
reconnectButton.addEventListener('click', () => location.reload());
setInterval(renderHud, 250);

async function start() {
  status.offeredCodecs = await decodableCodecs();
  let key = location.hash.slice(1);
  try {
    key = decodeURIComponent(key);
  } catch {
    // a stray % in a hand-typed key: take it as it is
  }
  key = key.trim();
  // An address with an empty fragment lost its key; one without a fragment may point at an
  // unencrypted server, which needs none: only the server's first message tells.
  if (!key && location.href.includes('#')) return showState('no-key', NO_KEY_MESSAGE);
  const url = `${location.protocol === 'https:' ? 'wss://' : 'ws://'}${location.host}/ws`;
  link = new Link(url, key || null, { state: showState, welcome: onWelcome, payload: onPayload });
}

void start();
