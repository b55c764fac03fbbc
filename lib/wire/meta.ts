// cvchat's own metadata (sequence number, capture time, an echoed timestamp for round-trip time)
// rides inside each JPEG as an APP11 segment right after the SOI marker. JPEG decoders skip
// application segments, so the picture is unaffected and other peers ignore it. A frame sent at an
// adapted operating point carries a second segment (version 2) after the first: the stream's full
// size, the quality and the sender's rate estimate. An older reader reads the first and skips it.
import { MAX_DIMENSION } from '../base/limits';
import { HEADER_BYTES, lengthHeader } from './framing';

const APP11 = 0xeb;
const META_TAG = Buffer.from('CVCHAT\0', 'latin1');
const META_VERSION = 1;
/** Tag, version, u32 sequence, f64 capture time, f64 echoed time, f64 echo hold time. */
const META_PAYLOAD = META_TAG.length + 1 + 4 + 8 + 8 + 8;
/** The APP11 segment: marker (2), length (2), payload. */
export const META_SEGMENT_BYTES = 4 + META_PAYLOAD;
const POINT_VERSION = 2;
/** Tag, version, u16 width and height, u16 full width and height, u8 quality, f64 estimate. */
const POINT_PAYLOAD = META_TAG.length + 1 + 2 + 2 + 2 + 2 + 1 + 8;
const POINT_SEGMENT_BYTES = 4 + POINT_PAYLOAD;

/** How an adapted frame was made, for the receiver's window and HUD. */
export interface PointMeta {
  /** This frame's size. */
  width: number;
  height: number;
  /** The stream's size at full quality: the receiver shows smaller frames scaled up to it. */
  fullWidth: number;
  fullHeight: number;
  /** JPEG quality of this frame. */
  quality: number;
  /** The sender's estimate of this connection's rate, bits per second. */
  estimateBps: number;
  /** A video codec's frame (wire/video.ts): the codec, and its bitrate target; quality is then 0. */
  codec?: string;
  bitrateBps?: number;
}

export interface FrameMeta {
  /** Counts frames at the sender, wrapping at 2^32. */
  seq: number;
  /** Wall-clock ms (Date.now() scale, fractional) when the frame was captured. */
  captureTime: number;
  /** Chat: the partner's captureTime of the newest frame we had received, or 0. */
  echoTime: number;
  /** Chat: how long ago (ms) we received that frame, so the partner can subtract it. */
  echoHoldMs: number;
  /** Present on frames of an adapting stream. */
  point?: PointMeta;
}

/**
 * The bytes that go before `jpeg.subarray(2)` on the wire: the length header, the JPEG SOI
 * marker, and the metadata segment. Writing these and the rest of the JPEG as two buffers avoids
 * copying the JPEG to insert the segment.
 */
/** Writes a cvchat segment's start at `at` (marker, length, tag, version); returns where its fields go. */
function writeSegmentStart(head: Buffer, at: number, payloadBytes: number, version: number): number {
  head[at++] = 0xff;
  head[at++] = APP11;
  head.writeUInt16BE(payloadBytes + 2, at);
  at += 2;
  at += META_TAG.copy(head, at);
  head[at++] = version;
  return at;
}

/** Where the fields of the cvchat segment of `version` at `at` start, or -1 when there is none. */
function segmentFields(jpeg: Buffer, at: number, payloadBytes: number, version: number): number {
  if (jpeg.length < at + 4 + payloadBytes || jpeg[at] !== 0xff || jpeg[at + 1] !== APP11) return -1;
  if (jpeg.readUInt16BE(at + 2) !== payloadBytes + 2) return -1;
  at += 4;
  // compare() with offsets: a view per frame for the comparison would be garbage at 700 fps.
  if (jpeg.compare(META_TAG, 0, META_TAG.length, at, at + META_TAG.length) !== 0) return -1;
  at += META_TAG.length;
  return jpeg[at] === version ? at + 1 : -1;
}

export function frameHead(jpegBytes: number, meta: FrameMeta): Buffer {
  const segments = META_SEGMENT_BYTES + (meta.point ? POINT_SEGMENT_BYTES : 0);
  const head = Buffer.allocUnsafe(HEADER_BYTES + 2 + segments);
  head.writeBigUInt64LE(BigInt(jpegBytes + segments), 0);
  let at = HEADER_BYTES;
  head[at++] = 0xff;
  head[at++] = 0xd8;
  at = writeSegmentStart(head, at, META_PAYLOAD, META_VERSION);
  head.writeUInt32LE(meta.seq >>> 0, at);
  at += 4;
  head.writeDoubleLE(meta.captureTime, at);
  at += 8;
  head.writeDoubleLE(meta.echoTime, at);
  at += 8;
  head.writeDoubleLE(meta.echoHoldMs, at);
  at += 8;
  const point = meta.point;
  if (point) {
    at = writeSegmentStart(head, at, POINT_PAYLOAD, POINT_VERSION);
    head.writeUInt16LE(point.width, at);
    head.writeUInt16LE(point.height, at + 2);
    head.writeUInt16LE(point.fullWidth, at + 4);
    head.writeUInt16LE(point.fullHeight, at + 6);
    head[at + 8] = point.quality;
    head.writeDoubleLE(point.estimateBps, at + 9);
  }
  return head;
}

export type Wire = 'jpeg' | 'pickle';

/**
 * A frame's bytes on the wire. JPEG: the head (length, SOI, metadata segment) and the JPEG after
 * its SOI, so the JPEG is not copied to insert the segment. Pickle: the length and the pickle's
 * parts (whose pixels are a view of the frame's), and no metadata: Python peers would not
 * expect any.
 */
export function wireParts(wire: Wire, payload: Buffer[], meta: FrameMeta): Buffer[] {
  if (wire === 'jpeg') return [frameHead(payload[0].length, meta), payload[0].subarray(2)];
  return [lengthHeader(payload.reduce((n, part) => n + part.length, 0)), ...payload];
}

/** cvchat's metadata in a received JPEG, or null when the sender did not add any. */
export function readFrameMeta(jpeg: Buffer): FrameMeta | null {
  const at = segmentFields(jpeg, 2, META_PAYLOAD, META_VERSION);
  if (at < 0) return null;
  const seq = jpeg.readUInt32LE(at);
  const captureTime = jpeg.readDoubleLE(at + 4);
  const echoTime = jpeg.readDoubleLE(at + 12);
  const echoHoldMs = jpeg.readDoubleLE(at + 20);
  if (![captureTime, echoTime, echoHoldMs].every(Number.isFinite)) return null;
  const point = readPointMeta(jpeg, 2 + META_SEGMENT_BYTES);
  return point ? { seq, captureTime, echoTime, echoHoldMs, point } : { seq, captureTime, echoTime, echoHoldMs };
}

/** The operating point's segment at `at`, if there is one and it makes sense. */
function readPointMeta(jpeg: Buffer, segmentAt: number): PointMeta | undefined {
  const at = segmentFields(jpeg, segmentAt, POINT_PAYLOAD, POINT_VERSION);
  if (at < 0) return undefined;
  const point = {
    width: jpeg.readUInt16LE(at), height: jpeg.readUInt16LE(at + 2),
    fullWidth: jpeg.readUInt16LE(at + 4), fullHeight: jpeg.readUInt16LE(at + 6),
    quality: jpeg[at + 8], estimateBps: jpeg.readDoubleLE(at + 9),
  };
  const sides = [point.width, point.height, point.fullWidth, point.fullHeight];
  const valid = sides.every((side) => side > 0 && side <= MAX_DIMENSION) && point.quality >= 1 && point.quality <= 100 && Number.isFinite(point.estimateBps) && point.estimateBps >= 0;
  return valid ? point : undefined;
}

/**
 * The JPEG without cvchat's segments: what the sender encoded, or its source delivered, byte for
 * byte (a recording keeps that). Returns `jpeg` itself when it carries none.
 */
export function stripFrameMeta(jpeg: Buffer): Buffer {
  let at = 2;
  for (const [payload, version] of [[META_PAYLOAD, META_VERSION], [POINT_PAYLOAD, POINT_VERSION]] as const) {
    if (segmentFields(jpeg, at, payload, version) < 0) break;
    at += 4 + payload;
  }
  return at === 2 ? jpeg : Buffer.concat([jpeg.subarray(0, 2), jpeg.subarray(at)]);
}
