// A frame of a video codec's stream (H.264, VP8) between two cvchat peers that agreed on it (see
// the ACK's codecs in control.ts). The wire unit is still the 8-byte length and a payload; the
// payload is a fixed header, then one frame's bitstream as the encoder made it:
//
//   tag "CVCHATV" and version (8)  codec (1)  flags (1: bit 0 keyframe)  stream (4)  index (4)
//   width, height, full width, full height (2 each)  seq (4)  capture time, echo time,
//   echo hold, estimate, bitrate (f64 each)                                  all little-endian
//
// `stream` names one encoder's output: a receiver that sees a new one starts a new decoder, which
// waits for a keyframe. `index` counts that stream's frames: a gap means a frame the decoder needed
// never came, and nothing after it is shown until the next keyframe. The payload cannot be taken
// for a JPEG (FF D8) or a control message ("CVCHAT:"), so older readers reject it as a bad picture;
// they never get one, since they never offer a codec.
import type { VideoCodecName } from '../base/codecs';
import { MAX_DIMENSION } from '../base/limits';
import { HEADER_BYTES } from './framing';
import type { FrameMeta, PointMeta } from './meta';

const TAG = Buffer.from('CVCHATV', 'latin1');
const VERSION = 1;
const CODEC_IDS: Record<VideoCodecName, number> = { h264: 1, vp8: 2 };
const KEYFRAME_FLAG = 1;
export const VIDEO_HEADER_BYTES = TAG.length + 1 + 1 + 1 + 4 + 4 + 2 * 4 + 4 + 8 * 5;

/** What the header says of a video frame besides cvchat's FrameMeta. */
export interface VideoFrameInfo {
  codec: VideoCodecName;
  keyframe: boolean;
  /** One encoder's stream. */
  stream: number;
  /** The frame's place in its stream, from 0, wrapping at 2^32. */
  index: number;
  /** The encoded picture's size. */
  width: number;
  height: number;
  /** The size to show it at. */
  fullWidth: number;
  fullHeight: number;
  /** The sender's estimate of the link (bits/s), or -1 when it has none. */
  estimateBps: number;
  /** The encoder's target bitrate for this frame. */
  bitrateBps: number;
}

export interface VideoPayload {
  info: VideoFrameInfo;
  meta: FrameMeta;
  /** A view of the payload: the codec's bytes. */
  bitstream: Buffer;
}

export function isVideoPayload(payload: Buffer): boolean {
  return payload.length >= TAG.length && payload.compare(TAG, 0, TAG.length, 0, TAG.length) === 0;
}

/** The bytes before the bitstream on the wire: the length header and the video header. */
export function videoFrameHead(bitstreamBytes: number, info: VideoFrameInfo, meta: FrameMeta): Buffer {
  const head = Buffer.allocUnsafe(HEADER_BYTES + VIDEO_HEADER_BYTES);
  head.writeBigUInt64LE(BigInt(VIDEO_HEADER_BYTES + bitstreamBytes), 0);
  let at = HEADER_BYTES + TAG.copy(head, HEADER_BYTES);
  head[at++] = VERSION;
  head[at++] = CODEC_IDS[info.codec];
  head[at++] = info.keyframe ? KEYFRAME_FLAG : 0;
  head.writeUInt32LE(info.stream >>> 0, at);
  head.writeUInt32LE(info.index >>> 0, at + 4);
  head.writeUInt16LE(info.width, at + 8);
  head.writeUInt16LE(info.height, at + 10);
  head.writeUInt16LE(info.fullWidth, at + 12);
  head.writeUInt16LE(info.fullHeight, at + 14);
  head.writeUInt32LE(meta.seq >>> 0, at + 16);
  head.writeDoubleLE(meta.captureTime, at + 20);
  head.writeDoubleLE(meta.echoTime, at + 28);
  head.writeDoubleLE(meta.echoHoldMs, at + 36);
  head.writeDoubleLE(info.estimateBps, at + 44);
  head.writeDoubleLE(info.bitrateBps, at + 52);
  return head;
}

/**
 * A video payload's header and bitstream, or null when the header is not one cvchat wrote: an
 * unknown version or codec, a size out of range, times that are not numbers, no bitstream.
 */
export function readVideoPayload(payload: Buffer): VideoPayload | null {
  if (payload.length <= VIDEO_HEADER_BYTES || !isVideoPayload(payload) || payload[TAG.length] !== VERSION) return null;
  let at = TAG.length + 1;
  const codec = (Object.keys(CODEC_IDS) as VideoCodecName[]).find((name) => CODEC_IDS[name] === payload[at]);
  if (!codec) return null;
  const flags = payload[at + 1];
  at += 2;
  const info: VideoFrameInfo = {
    codec,
    keyframe: (flags & KEYFRAME_FLAG) !== 0,
    stream: payload.readUInt32LE(at),
    index: payload.readUInt32LE(at + 4),
    width: payload.readUInt16LE(at + 8),
    height: payload.readUInt16LE(at + 10),
    fullWidth: payload.readUInt16LE(at + 12),
    fullHeight: payload.readUInt16LE(at + 14),
    estimateBps: payload.readDoubleLE(at + 44),
    bitrateBps: payload.readDoubleLE(at + 52),
  };
  const meta: FrameMeta = {
    seq: payload.readUInt32LE(at + 16),
    captureTime: payload.readDoubleLE(at + 20),
    echoTime: payload.readDoubleLE(at + 28),
    echoHoldMs: payload.readDoubleLE(at + 36),
  };
  const sides = [info.width, info.height, info.fullWidth, info.fullHeight];
  if (!sides.every((side) => side > 0 && side <= MAX_DIMENSION)) return null;
  if (![meta.captureTime, meta.echoTime, meta.echoHoldMs, info.estimateBps, info.bitrateBps].every(Number.isFinite)) return null;
  if (info.bitrateBps < 0) return null;
  return { info, meta, bitstream: payload.subarray(VIDEO_HEADER_BYTES) };
}

/** What the receiver's HUD says of a video frame: its size, codec and bitrate, and the sender's estimate. */
export function videoPointMeta(info: VideoFrameInfo): PointMeta {
  return {
    width: info.width, height: info.height, fullWidth: info.fullWidth, fullHeight: info.fullHeight,
    quality: 0, estimateBps: Math.max(0, info.estimateBps), codec: info.codec, bitrateBps: info.bitrateBps,
  };
}
