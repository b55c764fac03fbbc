// @ts-check
// The browser's camera as a video codec's stream (WebCodecs' VideoEncoder), for a partner whose ACKs
// offer H.264 or VP8: a few KB a frame where a JPEG takes ~50 KB, so a slow uplink still carries a
// moving picture. One StreamEncoder is one stream of lib/wire/video.ts: a random id, its chunks
// indexed from 0 with no gap (every chunk it outputs must be sent, or the partner shows nothing
// until the next keyframe), its first frame a keyframe.

/** @typedef {import('./wire.js').VideoCodec} VideoCodec */

/** The page has no estimate of its uplink (the partner measures ours, not we): a fixed target. */
export const VIDEO_BITRATE_BPS = 1_000_000;
const VIDEO_FRAMERATE = 30;
/** The partner asks for a keyframe in every ACK until one arrives: a round trip of asks is one ask. */
const KEYFRAME_MIN_INTERVAL_MS = 500;
/** A frame the encoder has had this long without output was dropped by it (realtime mode may). */
const PENDING_FORGET_MS = 1000;
/** Chunks waiting in the encoder beyond this: it cannot keep up, and the camera frame is skipped. */
const MAX_ENCODE_QUEUE = 2;
/** WebCodecs' names: H.264 constrained baseline 3.1 in Annex B (start codes, parameter sets in band), as the native decoder reads it. */
const ENCODER_CODECS = /** @type {const} */ ({ h264: 'avc1.42E01F', vp8: 'vp8' });

/**
 * The first codec of `offered` (the partner's preference) this browser encodes at this size, and
 * its configuration; null when there is none (or no VideoEncoder).
 * @param {readonly string[]} offered @param {number} width @param {number} height
 * @returns {Promise<{ codec: VideoCodec, config: VideoEncoderConfig } | null>}
 */
export async function encoderFor(offered, width, height) {
  if (typeof VideoEncoder === 'undefined') return null;
  for (const name of offered) {
    if (name !== 'h264' && name !== 'vp8') continue;
    /** @type {VideoEncoderConfig} */
    const config = {
      codec: ENCODER_CODECS[name], width: even(width), height: even(height),
      bitrate: VIDEO_BITRATE_BPS, framerate: VIDEO_FRAMERATE, latencyMode: 'realtime',
    };
    if (name === 'h264') config.avc = { format: 'annexb' };
    for (const candidate of [{ ...config, bitrateMode: /** @type {const} */ ('constant') }, config]) {
      const support = await VideoEncoder.isConfigSupported(candidate).catch(() => null);
      if (support?.supported) return { codec: name, config: candidate };
    }
  }
  return null;
}

/** Codecs take even sides only. @param {number} side */
const even = (side) => Math.max(2, side & ~1);

/**
 * @typedef {{ codec: VideoCodec, bytes: Uint8Array, keyframe: boolean, stream: number, index: number, width: number, height: number, captureTime: number }} EncodedChunk
 *   captureTime: wall-clock ms (Date.now() scale) of the camera frame it encodes.
 * @typedef {{ chunk(chunk: EncodedChunk): void, error(reason: string): void }} EncoderEvents
 */

export class StreamEncoder {
  stream = (Math.random() * 2 ** 32) >>> 0;
  #index = 0;
  #keyframeWanted = true;
  #lastKeyframeAt = -Infinity;
  /** Frames given to the encoder and not output yet: their timestamp (µs of capture) and when given. @type {Map<number, number>} */
  #pending = new Map();
  #closed = false;

  /** @param {VideoCodec} codec @param {VideoEncoderConfig} config @param {EncoderEvents} events */
  constructor(codec, config, events) {
    this.codec = codec;
    this.width = config.width;
    this.height = config.height;
    this.events = events;
    this.encoder = new VideoEncoder({
      output: (chunk) => this.#output(chunk),
      error: (error) => this.#fail(`the ${codec} encoder failed: ${error.message}`),
    });
    this.encoder.configure(config);
  }

  /** Frames in the encoder that will still come out; the caller's window counts them as sent. */
  get pending() {
    const now = performance.now();
    for (const [timestamp, givenAt] of this.#pending) if (now - givenAt > PENDING_FORGET_MS) this.#pending.delete(timestamp);
    return this.#pending.size;
  }

  /** Whether another frame may go in now. */
  get ready() {
    return !this.#closed && this.encoder.state === 'configured' && this.encoder.encodeQueueSize < MAX_ENCODE_QUEUE;
  }

  /** The partner's decoder is out of sync: the next frame is a keyframe (at most one per 500 ms). */
  requestKeyframe() {
    this.#keyframeWanted = true;
  }

  /** One camera frame in; false when it could not be taken. @param {CanvasImageSource} source @param {number} captureTime */
  encode(source, captureTime) {
    if (!this.ready) return false;
    const timestamp = Math.round(captureTime * 1000);
    /** @type {VideoFrame} */
    let frame;
    try {
      frame = new VideoFrame(/** @type {HTMLVideoElement | HTMLCanvasElement} */ (source), { timestamp });
    } catch {
      return false; // the camera has no frame at this moment
    }
    const now = performance.now();
    // Wanted from the start: a stream's first frame is a keyframe.
    const keyFrame = this.#keyframeWanted && now - this.#lastKeyframeAt >= KEYFRAME_MIN_INTERVAL_MS;
    if (keyFrame) {
      this.#keyframeWanted = false;
      this.#lastKeyframeAt = now;
    }
    try {
      this.encoder.encode(frame, { keyFrame });
      this.#pending.set(timestamp, now);
    } catch (error) {
      this.#fail(`the ${this.codec} encoder refused a frame: ${error instanceof Error ? error.message : error}`);
      return false;
    } finally {
      frame.close();
    }
    return true;
  }

  close() {
    if (this.#closed) return;
    this.#closed = true;
    if (this.encoder.state !== 'closed') this.encoder.close();
  }

  /** @param {EncodedVideoChunk} chunk */
  #output(chunk) {
    if (this.#closed) return;
    // Frames older than this one that never came out were dropped by the encoder.
    for (const timestamp of this.#pending.keys()) if (timestamp <= chunk.timestamp) this.#pending.delete(timestamp);
    const bytes = new Uint8Array(chunk.byteLength);
    chunk.copyTo(bytes);
    const index = this.#index;
    this.#index = (this.#index + 1) >>> 0;
    this.events.chunk({
      codec: this.codec, bytes, keyframe: chunk.type === 'key', stream: this.stream, index,
      width: this.width, height: this.height, captureTime: chunk.timestamp / 1000,
    });
  }

  /** @param {string} reason */
  #fail(reason) {
    if (this.#closed) return;
    this.close();
    this.events.error(reason);
  }
}
