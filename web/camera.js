// @ts-check
// In a chat the browser sends its own camera: each camera frame drawn to a canvas, made a JPEG,
// stamped with cvchat's metadata and sent as one message; or, once the partner's ACKs offer a video
// codec this browser encodes, given to a video encoder (encoder.js), each chunk it makes sent as a
// video payload. At most two of our frames are in flight unacknowledged (frames in the encoder
// count); while the window is full (or a JPEG is being made) camera frames are skipped, never
// queued, so a slow link gets the newest picture rather than a growing lag. An encoded chunk is
// never skipped: the ones after it would not decode.
import { StreamEncoder, VIDEO_BITRATE_BPS, encoderFor } from './encoder.js';
import { ackNotes, ackedSeq, stampedJpeg, videoFrameMessage } from './wire.js';

const MAX_UNACKED = 2;
const JPEG_QUALITY = 0.8;
/** Without requestVideoFrameCallback the camera is sampled on a timer at about this rate. */
const TIMER_FPS = 20;
/** Without a camera a placeholder goes once a second (and a camera frame at least that often): the
 * partner sees why, and the connection stays alive. */
const KEEPALIVE_MS = 1000;

/**
 * @typedef {{ send(message: Uint8Array<ArrayBuffer>): void, echo(): { time: number, holdMs: number } }} Outlet
 *   echo(): the capture time of the partner's newest frame we showed (0 if none) and how long ago we showed it.
 */

export class CameraSender {
  /** 'off', 'on', or why there is no camera. @type {string} */
  status = 'off';
  sent = 0;
  /** Frames skipped because the window was full or a JPEG was being made. */
  skipped = 0;
  width = 0;
  height = 0;
  /** How the camera goes out: JPEG until the partner offers a codec we encode. @type {'jpeg' | import('./wire.js').VideoCodec} */
  codec = 'jpeg';
  /** @type {StreamEncoder | null} */
  #video = null;
  /** An encoder is being chosen (isConfigSupported is asynchronous). */
  #choosing = false;
  /** The encoder failed once: JPEG for the rest of the call. */
  #videoFailed = false;
  #seq = 0;
  #acked = 0;
  #encoding = false;
  #lastSentAt = 0;
  #stopped = false;
  /** @type {MediaStream | null} */
  #stream = null;
  /** @type {ReturnType<typeof setInterval> | null} */
  #timer = null;
  #canvas = document.createElement('canvas');
  #context = /** @type {CanvasRenderingContext2D} */ (this.#canvas.getContext('2d', { alpha: false }));

  /** @param {HTMLVideoElement} inset where we see ourselves @param {Outlet} outlet */
  constructor(inset, outlet) {
    this.inset = inset;
    this.outlet = outlet;
  }

  /** Our frames the partner acknowledged (an ACK of seq S covers every older frame). */
  get acked() {
    return this.#acked;
  }

  async start() {
    if (!navigator.mediaDevices?.getUserMedia) return this.#placeholder('this browser gives no camera here (it needs https)');
    try {
      this.#stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
    } catch (error) {
      const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      return this.#placeholder(reason);
    }
    if (this.#stopped) return this.#stopStream();
    const video = this.inset;
    video.muted = true;
    video.playsInline = true;
    video.srcObject = this.#stream;
    for (const track of this.#stream.getVideoTracks()) track.addEventListener('ended', () => this.#placeholder('the camera stopped'));
    try {
      await video.play();
    } catch (error) {
      return this.#placeholder(`the camera does not play: ${error instanceof Error ? error.message : error}`);
    }
    this.status = 'on';
    video.hidden = false;
    const sendFrame = () => void this.#send(video, video.videoWidth, video.videoHeight);
    const onFrame = () => {
      if (this.#stopped || this.status !== 'on') return;
      sendFrame();
      video.requestVideoFrameCallback(onFrame);
    };
    const hasCallbacks = typeof video.requestVideoFrameCallback === 'function';
    if (hasCallbacks) video.requestVideoFrameCallback(onFrame);
    // A hidden tab gets no frame callbacks, and timers at most once a second: enough to keep the
    // partner's picture moving and the connection alive.
    const period = hasCallbacks ? KEEPALIVE_MS : 1000 / TIMER_FPS;
    this.#timer = setInterval(() => {
      if (performance.now() - this.#lastSentAt >= period) sendFrame();
    }, period);
  }

  /** The partner's ACK (its text): the frame it acknowledges, the codecs it offers, whether it wants a keyframe. @param {string} text */
  acknowledged(text) {
    const seq = ackedSeq(text);
    if (seq === null) return;
    if (seq > this.#acked && seq <= this.#seq) this.#acked = seq;
    const notes = ackNotes(text);
    if (notes.keyframe) this.#video?.requestKeyframe();
    if (notes.codecs && !this.#video) void this.#chooseEncoder(notes.codecs);
  }

  stop() {
    this.#stopped = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#stopVideo();
    this.#stopStream();
  }

  /** A video encoder for the camera, if the browser has one of `offered` at the camera's size. @param {readonly string[]} offered */
  async #chooseEncoder(offered) {
    if (this.#choosing || this.#videoFailed || this.status !== 'on' || this.width === 0) return;
    this.#choosing = true;
    try {
      const found = await encoderFor(offered, this.width, this.height);
      if (!found || this.#stopped || this.status !== 'on' || this.#video) return;
      this.#video = new StreamEncoder(found.codec, found.config, {
        chunk: (chunk) => this.#sendChunk(chunk),
        error: (reason) => {
          console.warn(`cvchat: ${reason}; the camera goes as JPEG`);
          this.#videoFailed = true;
          this.#stopVideo();
        },
      });
      this.codec = found.codec;
    } catch (error) {
      console.warn(`cvchat: no video encoder (${error instanceof Error ? error.message : error}); the camera goes as JPEG`);
      this.#videoFailed = true;
    } finally {
      this.#choosing = false;
    }
  }

  #stopVideo() {
    this.#video?.close();
    this.#video = null;
    this.codec = 'jpeg';
  }

  /** One encoded chunk out, whatever the window: the stream's next chunks depend on it. @param {import('./encoder.js').EncodedChunk} chunk */
  #sendChunk(chunk) {
    if (this.#stopped) return;
    const echo = this.outlet.echo();
    const info = {
      codec: chunk.codec, keyframe: chunk.keyframe, stream: chunk.stream, index: chunk.index,
      width: chunk.width, height: chunk.height, fullWidth: chunk.width, fullHeight: chunk.height, estimateBps: -1, bitrateBps: VIDEO_BITRATE_BPS,
    };
    this.outlet.send(videoFrameMessage(chunk.bytes, info, { seq: ++this.#seq, captureTime: chunk.captureTime, echoTime: echo.time, echoHoldMs: echo.holdMs }));
    this.sent++;
    this.#lastSentAt = performance.now();
    this.width = chunk.width;
    this.height = chunk.height;
  }

  /** One camera frame into the encoder, unless the window (with what the encoder holds) is full. @param {StreamEncoder} video @param {CanvasImageSource} source */
  #encode(video, source) {
    if (this.#seq + video.pending - this.#acked >= MAX_UNACKED || !video.ready || !video.encode(source, performance.timeOrigin + performance.now())) this.skipped++;
  }

  #stopStream() {
    for (const track of this.#stream?.getTracks() ?? []) track.stop();
    this.#stream = null;
    this.inset.srcObject = null;
    this.inset.hidden = true;
  }

  /** No camera: say why, and send a picture saying so once a second. @param {string} reason */
  #placeholder(reason) {
    // Once: a camera that fails in several ways at once (its track ends as play() fails) says so once.
    if (this.#stopped || (this.status !== 'off' && this.status !== 'on')) return;
    this.status = reason;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#stopVideo();
    this.#stopStream();
    const canvas = document.createElement('canvas');
    canvas.width = 320;
    canvas.height = 240;
    const context = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
    context.fillStyle = '#222';
    context.fillRect(0, 0, canvas.width, canvas.height);
    context.fillStyle = '#ddd';
    context.font = '28px sans-serif';
    context.textAlign = 'center';
    context.fillText('no camera', canvas.width / 2, canvas.height / 2);
    const send = () => void this.#send(canvas, canvas.width, canvas.height);
    send();
    this.#timer = setInterval(send, KEEPALIVE_MS);
  }

  /** One frame out, unless the window is full or the previous one is still being made. @param {CanvasImageSource} source @param {number} width @param {number} height */
  async #send(source, width, height) {
    if (this.#stopped || width === 0 || height === 0) return;
    const video = this.#video;
    if (video && source === this.inset && !this.#encoding) {
      // Another size (the camera was switched or turned): a new stream, chosen again from the next ACK.
      if (video.width === (width & ~1) && video.height === (height & ~1)) return this.#encode(video, source);
      this.#stopVideo();
    }
    if (this.#encoding || this.#seq - this.#acked >= MAX_UNACKED) {
      this.skipped++;
      return;
    }
    this.#encoding = true;
    try {
      if (this.#canvas.width !== width || this.#canvas.height !== height) {
        this.#canvas.width = width;
        this.#canvas.height = height;
      }
      this.#context.drawImage(source, 0, 0, width, height);
      const captureTime = performance.timeOrigin + performance.now();
      const blob = await new Promise((resolve) => this.#canvas.toBlob(resolve, 'image/jpeg', JPEG_QUALITY));
      if (!blob || this.#stopped) return;
      const jpeg = new Uint8Array(await blob.arrayBuffer());
      const echo = this.outlet.echo();
      const message = stampedJpeg(jpeg, { seq: this.#seq + 1, captureTime, echoTime: echo.time, echoHoldMs: echo.holdMs });
      if (!message || this.#stopped) return;
      this.#seq++;
      this.outlet.send(message);
      this.sent++;
      this.#lastSentAt = performance.now();
      this.width = width;
      this.height = height;
    } finally {
      this.#encoding = false;
    }
  }
}
