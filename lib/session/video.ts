// A video codec's stream on one connection: the sending half (an encoder per peer, its bitrate
// following the peer's rate estimate, a keyframe when the peer's decoder asks) and the receiving
// half (a decoder that shows a frame only when every frame it depends on was decoded cleanly).
//
// Why an encoder per peer: a codec's frames depend on the ones before, so a peer must get every
// frame its encoder made, and newest-frame-wins must drop frames before encoding, never after.
// Peers that share an encoder would each have to take every frame the slowest of them could, and
// a keyframe for one would be a keyframe for all. README ("The video codec") has the CPU this costs.
import { randomInt } from 'node:crypto';

import type { VideoCodecName } from '../base/codecs';
import { CvchatError } from '../base/errors';
import type { Size, VideoBackend, VideoDecoder, VideoEncoder, VideoFrame } from '../media/backend';
import type { VideoFrameInfo, VideoPayload } from '../wire/video';
import { PAYLOAD_SHARE } from './adapt';

/**
 * Bits per pixel and frame the encoder is given at most, whatever the link: at 720p30 this is
 * 5.5 Mbit/s, where H.264's picture is within 0.006 SSIM of JPEG at quality 80 on the benchmark's
 * camera-like clip, for a seventh of its bytes (README). More would fill a fast link for little.
 */
export const VIDEO_MAX_BITS_PER_PIXEL = 0.2;
/** Without a rate estimate (--no-adapt): 2.8 Mbit/s at 720p30. */
export const VIDEO_FIXED_BITS_PER_PIXEL = 0.1;
/** The lowest bitrate asked of an encoder: below it a codec's pictures are mostly blocks. */
export const VIDEO_MIN_BITRATE_BPS = 50_000;
/** The encoders' own limits (native/video_codec.cc): a frame rate and a bitrate they accept. */
const ENCODER_MAX_FPS = 240;
const ENCODER_MAX_BITRATE_BPS = 500e6;

/** The video codec a sender uses for a peer: the first of its own that the peer decodes, or null (JPEG). */
export function chooseCodec(ours: readonly VideoCodecName[], peers: readonly string[]): VideoCodecName | null {
  return ours.find((codec) => peers.includes(codec)) ?? null;
}

/** Even sides, as 4:2:0 chroma needs: an odd side loses its last row or column. */
export function videoSize(size: Size): Size {
  return { width: Math.max(2, size.width & ~1), height: Math.max(2, size.height & ~1) };
}

/** The bitrate for a frame: a share of the estimate, or the fixed rate, within the codec's bounds. */
export function videoBitrate(estimateBps: number | null, size: Size, intervalMs: number): number {
  const perSecond = (size.width * size.height * 1000) / intervalMs;
  const most = VIDEO_MAX_BITS_PER_PIXEL * perSecond;
  const target = estimateBps === null ? VIDEO_FIXED_BITS_PER_PIXEL * perSecond : estimateBps * PAYLOAD_SHARE;
  return Math.round(Math.max(VIDEO_MIN_BITRATE_BPS, Math.min(most, target, ENCODER_MAX_BITRATE_BPS)));
}

export interface VideoSent {
  data: Buffer;
  info: VideoFrameInfo;
}

/**
 * One peer's encoded stream. The first frame, and the first after a new size or a keyframe
 * request, is a keyframe; each frame says its stream and index, so the peer can tell a gap.
 */
export class VideoStreamOut {
  private encoder: VideoEncoder | null = null;
  private readonly stream = randomInt(0, 2 ** 32);
  private index = 0;
  private keyframeDue = true;
  /** The sequence number of the last keyframe sent: requests acknowledging older frames were made before it. */
  private keyframeSeq: number | null = null;
  /** The last frame's target, for --stats. */
  bitrateBps = 0;

  /** The encoded size, once a frame has been encoded. */
  get size(): Size | null {
    return this.encoder && { width: this.encoder.width, height: this.encoder.height };
  }

  constructor(
    private readonly backend: VideoBackend,
    readonly codec: VideoCodecName,
  ) {}

  /**
   * The peer's decoder asked for a keyframe in the ACK of frame `ackedSeq`. It keeps asking until
   * one arrives, so requests from ACKs of frames older than the last keyframe sent are already met.
   */
  keyframeWanted(ackedSeq: number): void {
    if (this.keyframeSeq === null || ((ackedSeq - this.keyframeSeq) >>> 0) < 2 ** 31) this.keyframeDue = true;
  }

  async encode(frame: VideoFrame, seq: number, bitrateBps: number, fullSize: Size, intervalMs: number, estimateBps: number | null): Promise<VideoSent> {
    const size = videoSize(fullSize);
    if (this.encoder && (this.encoder.width !== size.width || this.encoder.height !== size.height)) {
      this.encoder.close();
      this.encoder = null;
    }
    if (!this.encoder) {
      this.encoder = this.backend.openVideoEncoder(this.codec, size, Math.min(ENCODER_MAX_FPS, Math.max(1, Math.round(1000 / intervalMs))));
      this.keyframeDue = true;
    }
    const keyframe = this.keyframeDue;
    this.keyframeDue = false;
    this.bitrateBps = bitrateBps;
    const encoded = await this.encoder.encode(frame, bitrateBps, keyframe);
    if (encoded.keyframe) this.keyframeSeq = seq;
    const info: VideoFrameInfo = {
      codec: this.codec, keyframe: encoded.keyframe, stream: this.stream, index: this.index++ >>> 0,
      width: size.width, height: size.height, fullWidth: fullSize.width, fullHeight: fullSize.height,
      estimateBps: estimateBps ?? -1, bitrateBps,
    };
    return { data: encoded.data, info };
  }

  close(): void {
    this.encoder?.close();
    this.encoder = null;
  }
}

export interface VideoShown {
  /** The picture, or null when nothing may be shown (the decoder waits for a keyframe). */
  frame: VideoFrame | null;
  /** The decoder is out of sync: ask the sender for a keyframe. */
  keyframeWanted: boolean;
}

/**
 * The peer's encoded stream, decoded. A picture is shown only from a decoder that has had every
 * frame since a keyframe, each decoded cleanly: after a gap, damage or a new stream, frames are
 * passed over (the window keeps the last good picture) until a keyframe decodes.
 */
export class VideoStreamIn {
  private decoder: VideoDecoder | null = null;
  private stream: number | null = null;
  private nextIndex = 0;
  private synced = false;

  constructor(private readonly backend: VideoBackend) {}

  /** Out of sync: nothing will be shown until a keyframe (also after frames were passed over unseen). */
  lostSync(): void {
    this.synced = false;
  }

  async decode(video: VideoPayload, maxPixels: number, showAt: Size | undefined): Promise<VideoShown> {
    const { info } = video;
    if (info.width * info.height > maxPixels) {
      throw new CvchatError('CVCHAT_IMAGE_TOO_LARGE', `The ${info.codec} stream declares ${info.width}x${info.height} pixels, above the limit of ${maxPixels}`);
    }
    if (!this.decoder || this.decoder.codec !== info.codec) {
      this.decoder?.close();
      this.decoder = this.backend.openVideoDecoder(info.codec);
      this.stream = null;
    }
    if (info.stream !== this.stream || (this.synced && info.index !== this.nextIndex)) this.synced = false;
    this.stream = info.stream;
    this.nextIndex = (info.index + 1) >>> 0;
    if (!this.synced) {
      if (!info.keyframe) return { frame: null, keyframeWanted: true };
      this.decoder.reset();
    }
    const decoded = await this.decoder.decode(video.bitstream, maxPixels, showAt);
    if (decoded.status === 'ok' && decoded.frame) {
      this.synced = true;
      return { frame: decoded.frame, keyframeWanted: false };
    }
    decoded.frame?.release();
    this.synced = false;
    return { frame: null, keyframeWanted: true };
  }

  close(): void {
    this.decoder?.close();
    this.decoder = null;
  }
}
