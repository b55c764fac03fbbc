// @ts-check
// The cvchat wire, read and written in the browser: per payload an 8-byte little-endian length,
// then that many bytes (lib/wire/framing.ts). A payload is a JPEG with cvchat's metadata in an
// APP11 segment (lib/wire/meta.ts), a video codec's frame (lib/wire/video.ts) or a short control
// text (lib/wire/control.ts). Pure: no DOM, no socket, so it can be tested by feeding bytes.

export const HEADER_BYTES = 8;
/** Declared lengths above this are refused before anything is allocated. */
export const MAX_PAYLOAD_BYTES = 64 * 1024 * 1024;
/** As lib/base/limits.ts: a longer "CVCHAT:" payload is not a control message. */
export const MAX_CONTROL_BYTES = 4096;
/** As lib/base/limits.ts: the largest side of a picture anywhere in cvchat. */
const MAX_DIMENSION = 16384;

const latin1 = (/** @type {string} */ text) => Uint8Array.from(text, (c) => c.charCodeAt(0));
const CONTROL_TAG = latin1('CVCHAT:');
const VIDEO_TAG = latin1('CVCHATV');
const META_TAG = latin1('CVCHAT\0');
const APP11 = 0xeb;
/** Tag, version, u32 seq, f64 capture time, f64 echo time, f64 echo hold (version 1). */
const META_PAYLOAD = META_TAG.length + 1 + 4 + 8 * 3;
const META_SEGMENT_BYTES = 4 + META_PAYLOAD;
/** Tag, version, u16 width, height, full width, full height, u8 quality, f64 estimate (version 2). */
const POINT_PAYLOAD = META_TAG.length + 1 + 2 * 4 + 1 + 8;
export const VIDEO_HEADER_BYTES = VIDEO_TAG.length + 1 + 1 + 1 + 4 + 4 + 2 * 4 + 4 + 8 * 5;
/** Codec ids of the video header, by their WebCodecs-independent names. */
const VIDEO_CODECS = /** @type {const} */ ({ 1: 'h264', 2: 'vp8' });
const VIDEO_CODEC_IDS = /** @type {const} */ ({ h264: 1, vp8: 2 });
const VIDEO_KEYFRAME_FLAG = 1;

/** A protocol violation by the peer; `code` says which, as cvchat's errors do. */
export class WireError extends Error {
  /** @param {string} code @param {string} message */
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/**
 * @typedef {Uint8Array<ArrayBuffer>} Bytes bytes of a WebSocket message, or views of them
 * @typedef {{ bytes: Bytes, firstByteAt: number, lastByteAt: number }} Payload
 *   firstByteAt/lastByteAt: performance.now() when the messages holding its first byte (of the
 *   length header) and its last byte arrived, for the sender's rate estimate.
 */

/**
 * Parses the byte stream incrementally. Chunks are kept in a list with a byte count, never
 * concatenated: a payload inside one chunk is a view of it, and only one spread over several
 * chunks is copied, once, into an array of exactly its size.
 */
export class StreamReader {
  /** @type {{ bytes: Bytes, at: number }[]} */
  #chunks = [];
  #buffered = 0;
  /** The payload's length once its header is read; -1 while waiting for the header. */
  #expected = -1;
  #firstByteAt = 0;

  constructor(maxPayloadBytes = MAX_PAYLOAD_BYTES) {
    this.maxPayloadBytes = maxPayloadBytes;
  }

  /**
   * Adds one message's bytes, arrived at `at`; returns the payloads they completed, oldest first.
   * Throws WireError on a length of 0 or above the limit.
   * @param {Bytes} bytes @param {number} at @returns {Payload[]}
   */
  push(bytes, at) {
    /** @type {Payload[]} */
    const payloads = [];
    if (bytes.length > 0) {
      this.#chunks.push({ bytes, at });
      this.#buffered += bytes.length;
    }
    for (;;) {
      if (this.#expected < 0) {
        if (this.#buffered < HEADER_BYTES) break;
        this.#firstByteAt = this.#chunks[0].at;
        const header = this.#take(HEADER_BYTES);
        const length = new DataView(header.buffer, header.byteOffset, HEADER_BYTES).getBigUint64(0, true);
        if (length === 0n) throw new WireError('CVCHAT_EMPTY_FRAME', 'The server sent a payload of length 0');
        if (length > BigInt(this.maxPayloadBytes)) {
          throw new WireError('CVCHAT_FRAME_TOO_LARGE', `The server declared a payload of ${length} bytes, above the limit of ${this.maxPayloadBytes}`);
        }
        this.#expected = Number(length);
      }
      if (this.#buffered < this.#expected) break;
      // Every payload that can complete does so on the push of its last byte: that is now.
      payloads.push({ bytes: this.#take(this.#expected), firstByteAt: this.#firstByteAt, lastByteAt: at });
      this.#expected = -1;
    }
    return payloads;
  }

  /** @param {number} n @returns {Bytes} */
  #take(n) {
    this.#buffered -= n;
    const first = this.#chunks[0];
    if (first.bytes.length === n) {
      this.#chunks.shift();
      return first.bytes;
    }
    if (first.bytes.length > n) {
      const view = first.bytes.subarray(0, n);
      first.bytes = first.bytes.subarray(n);
      return view;
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const head = this.#chunks[0];
      const part = Math.min(head.bytes.length, n - filled);
      out.set(head.bytes.subarray(0, part), filled);
      filled += part;
      if (part === head.bytes.length) this.#chunks.shift();
      else head.bytes = head.bytes.subarray(part);
    }
    return out;
  }
}

/** @param {Uint8Array} bytes @param {Uint8Array} tag @param {number} [at] */
function startsWith(bytes, tag, at = 0) {
  if (bytes.length < at + tag.length) return false;
  for (let i = 0; i < tag.length; i++) if (bytes[at + i] !== tag[i]) return false;
  return true;
}

/** @param {Uint8Array} bytes */
const viewOf = (bytes) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/**
 * @typedef {{ seq: number, captureTime: number, echoTime: number, echoHoldMs: number }} FrameMeta
 *   captureTime and echoTime: wall-clock ms (Date.now() scale, fractional) of the sender's camera
 *   and of the newest frame of ours it had shown; echoHoldMs: how long before sending it showed that.
 * @typedef {{ width: number, height: number, fullWidth: number, fullHeight: number, quality: number, estimateBps: number }} PointMeta
 *   An adapted JPEG: its size, the stream's full size to show it at, its quality, the sender's link estimate.
 * @typedef {'h264' | 'vp8'} VideoCodec
 * @typedef {{ codec: VideoCodec, keyframe: boolean, stream: number, index: number, width: number, height: number,
 *   fullWidth: number, fullHeight: number, estimateBps: number, bitrateBps: number }} VideoInfo
 *   estimateBps is -1 when the sender has no estimate.
 * @typedef {{ kind: 'control', type: string, text: string }
 *   | { kind: 'jpeg', bytes: Bytes, meta: FrameMeta | null, point: PointMeta | null }
 *   | { kind: 'video', meta: FrameMeta, info: VideoInfo, bitstream: Bytes }
 *   | { kind: 'bad', reason: string }} Parsed
 */

/** What a payload is. Never throws: what cvchat did not write is 'bad'. @param {Bytes} bytes @returns {Parsed} */
export function parsePayload(bytes) {
  if (startsWith(bytes, CONTROL_TAG)) {
    if (bytes.length > MAX_CONTROL_BYTES) return { kind: 'bad', reason: 'a control message too long' };
    const body = new TextDecoder().decode(bytes.subarray(CONTROL_TAG.length));
    const space = body.indexOf(' ');
    return space < 0 ? { kind: 'control', type: body, text: '' } : { kind: 'control', type: body.slice(0, space), text: body.slice(space + 1) };
  }
  if (bytes.length > 2 && bytes[0] === 0xff && bytes[1] === 0xd8) {
    const meta = readFrameMeta(bytes);
    return { kind: 'jpeg', bytes, meta, point: meta ? readPointMeta(bytes) : null };
  }
  if (startsWith(bytes, VIDEO_TAG)) return readVideoPayload(bytes) ?? { kind: 'bad', reason: 'a video header cvchat did not write' };
  return { kind: 'bad', reason: 'neither a picture nor a control message' };
}

/**
 * Where the fields of the cvchat APP11 segment of `version` at `at` start, or -1 when there is none.
 * @param {Uint8Array} jpeg @param {number} at @param {number} payloadBytes @param {number} version
 */
function segmentFields(jpeg, at, payloadBytes, version) {
  if (jpeg.length < at + 4 + payloadBytes || jpeg[at] !== 0xff || jpeg[at + 1] !== APP11) return -1;
  if (viewOf(jpeg).getUint16(at + 2) !== payloadBytes + 2 || !startsWith(jpeg, META_TAG, at + 4)) return -1;
  at += 4 + META_TAG.length;
  return jpeg[at] === version ? at + 1 : -1;
}

/** cvchat's metadata right after the JPEG's SOI, or null when the sender added none. @param {Uint8Array} jpeg @returns {FrameMeta | null} */
export function readFrameMeta(jpeg) {
  const at = segmentFields(jpeg, 2, META_PAYLOAD, 1);
  if (at < 0) return null;
  const view = viewOf(jpeg);
  const meta = { seq: view.getUint32(at, true), captureTime: view.getFloat64(at + 4, true), echoTime: view.getFloat64(at + 12, true), echoHoldMs: view.getFloat64(at + 20, true) };
  return [meta.captureTime, meta.echoTime, meta.echoHoldMs].every(Number.isFinite) ? meta : null;
}

/** The adapted frame's segment after the first one, if present and sensible. @param {Uint8Array} jpeg @returns {PointMeta | null} */
function readPointMeta(jpeg) {
  const at = segmentFields(jpeg, 2 + META_SEGMENT_BYTES, POINT_PAYLOAD, 2);
  if (at < 0) return null;
  const view = viewOf(jpeg);
  const point = {
    width: view.getUint16(at, true), height: view.getUint16(at + 2, true),
    fullWidth: view.getUint16(at + 4, true), fullHeight: view.getUint16(at + 6, true),
    quality: jpeg[at + 8], estimateBps: view.getFloat64(at + 9, true),
  };
  const sides = [point.width, point.height, point.fullWidth, point.fullHeight];
  const valid = sides.every(sideOk) && point.quality >= 1 && point.quality <= 100 && Number.isFinite(point.estimateBps) && point.estimateBps >= 0;
  return valid ? point : null;
}

const sideOk = (/** @type {number} */ side) => side > 0 && side <= MAX_DIMENSION;

/** A video frame's header and bitstream, or null when cvchat did not write that header. @param {Bytes} payload */
export function readVideoPayload(payload) {
  if (payload.length <= VIDEO_HEADER_BYTES || payload[VIDEO_TAG.length] !== 1) return null;
  const codec = VIDEO_CODECS[/** @type {1 | 2} */ (payload[VIDEO_TAG.length + 1])];
  if (!codec) return null;
  const view = viewOf(payload);
  const at = VIDEO_TAG.length + 3;
  /** @type {VideoInfo} */
  const info = {
    codec, keyframe: (payload[VIDEO_TAG.length + 2] & 1) !== 0,
    stream: view.getUint32(at, true), index: view.getUint32(at + 4, true),
    width: view.getUint16(at + 8, true), height: view.getUint16(at + 10, true),
    fullWidth: view.getUint16(at + 12, true), fullHeight: view.getUint16(at + 14, true),
    estimateBps: view.getFloat64(at + 44, true), bitrateBps: view.getFloat64(at + 52, true),
  };
  /** @type {FrameMeta} */
  const meta = { seq: view.getUint32(at + 16, true), captureTime: view.getFloat64(at + 20, true), echoTime: view.getFloat64(at + 28, true), echoHoldMs: view.getFloat64(at + 36, true) };
  if (![info.width, info.height, info.fullWidth, info.fullHeight].every(sideOk)) return null;
  if (![meta.captureTime, meta.echoTime, meta.echoHoldMs, info.estimateBps, info.bitrateBps].every(Number.isFinite) || info.bitrateBps < 0) return null;
  return { kind: /** @type {const} */ ('video'), meta, info, bitstream: payload.subarray(VIDEO_HEADER_BYTES) };
}

/** One binary message: the length header, then the payload. @param {Uint8Array} payload */
export function framed(payload) {
  const message = new Uint8Array(HEADER_BYTES + payload.length);
  viewOf(message).setBigUint64(0, BigInt(payload.length), true);
  message.set(payload, HEADER_BYTES);
  return message;
}

/** A framed "CVCHAT:KIND text" message. @param {string} type @param {string} text */
export const controlMessage = (type, text) => framed(new TextEncoder().encode(`CVCHAT:${type} ${text}`));

/**
 * @typedef {{ firstByteAt: number, lastByteAt: number, holdMs: number }} Arrival
 * @typedef {{ codecs?: readonly string[], keyframe?: boolean }} AckNotes
 */

/** An ACK's text as lib/wire/control.ts writes it. @param {number} seq @param {Arrival} arrival @param {AckNotes} notes */
export function ackText(seq, arrival, notes) {
  let text = `${seq} ${arrival.firstByteAt.toFixed(3)} ${arrival.lastByteAt.toFixed(3)} ${arrival.holdMs.toFixed(3)}`;
  if (notes.codecs && notes.codecs.length > 0) text += ` codecs=${notes.codecs.join(',')}`;
  if (notes.keyframe) text += ' key';
  return text;
}

const CODECS_NOTE = / codecs=([a-z0-9]{1,16}(?:,[a-z0-9]{1,16}){0,7})(?= |$)/;
const KEYFRAME_NOTE = / key(?= |$)/;

/** What an ACK's text says beyond its seq, as lib/wire/control.ts's parseAck reads it. @param {string} text @returns {AckNotes} */
export function ackNotes(text) {
  /** @type {AckNotes} */
  const notes = {};
  const codecs = CODECS_NOTE.exec(text);
  if (codecs) notes.codecs = codecs[1].split(',');
  if (KEYFRAME_NOTE.test(text)) notes.keyframe = true;
  return notes;
}

/** The sequence number an ACK's text acknowledges, or null. @param {string} text */
export function ackedSeq(text) {
  const match = /^(\d{1,10})(?: |$)/.exec(text);
  return match && Number(match[1]) < 2 ** 32 ? Number(match[1]) : null;
}

/**
 * A framed JPEG with cvchat's version-1 metadata segment inserted after its SOI, ready to send as
 * one message; null when `jpeg` is not a JPEG.
 * @param {Uint8Array} jpeg @param {FrameMeta} meta
 */
export function stampedJpeg(jpeg, meta) {
  if (jpeg.length < 4 || jpeg[0] !== 0xff || jpeg[1] !== 0xd8) return null;
  const payloadBytes = jpeg.length + META_SEGMENT_BYTES;
  const message = new Uint8Array(HEADER_BYTES + payloadBytes);
  const view = viewOf(message);
  view.setBigUint64(0, BigInt(payloadBytes), true);
  let at = HEADER_BYTES;
  message.set([0xff, 0xd8, 0xff, APP11], at);
  view.setUint16(at + 4, META_PAYLOAD + 2);
  message.set(META_TAG, at + 6);
  at += 6 + META_TAG.length;
  message[at++] = 1;
  view.setUint32(at, meta.seq >>> 0, true);
  view.setFloat64(at + 4, meta.captureTime, true);
  view.setFloat64(at + 12, meta.echoTime, true);
  view.setFloat64(at + 20, meta.echoHoldMs, true);
  message.set(jpeg.subarray(2), at + 28);
  return message;
}

/**
 * A framed video payload (lib/wire/video.ts's videoFrameHead, then the bitstream), ready to send as
 * one message.
 * @param {Uint8Array} bitstream one encoded frame @param {VideoInfo} info @param {FrameMeta} meta
 */
export function videoFrameMessage(bitstream, info, meta) {
  const payloadBytes = VIDEO_HEADER_BYTES + bitstream.length;
  const message = new Uint8Array(HEADER_BYTES + payloadBytes);
  const view = viewOf(message);
  view.setBigUint64(0, BigInt(payloadBytes), true);
  message.set(VIDEO_TAG, HEADER_BYTES);
  let at = HEADER_BYTES + VIDEO_TAG.length;
  message[at++] = 1;
  message[at++] = VIDEO_CODEC_IDS[info.codec];
  message[at++] = info.keyframe ? VIDEO_KEYFRAME_FLAG : 0;
  view.setUint32(at, info.stream >>> 0, true);
  view.setUint32(at + 4, info.index >>> 0, true);
  view.setUint16(at + 8, info.width, true);
  view.setUint16(at + 10, info.height, true);
  view.setUint16(at + 12, info.fullWidth, true);
  view.setUint16(at + 14, info.fullHeight, true);
  view.setUint32(at + 16, meta.seq >>> 0, true);
  view.setFloat64(at + 20, meta.captureTime, true);
  view.setFloat64(at + 28, meta.echoTime, true);
  view.setFloat64(at + 36, meta.echoHoldMs, true);
  view.setFloat64(at + 44, info.estimateBps, true);
  view.setFloat64(at + 52, info.bitrateBps, true);
  message.set(bitstream, HEADER_BYTES + VIDEO_HEADER_BYTES);
  return message;
}
