// Publishing to a media server (--publish): the sender's frames, encoded once more at a fixed
// bitrate (a server's viewers each have their own link: it cannot follow one), with a keyframe at
// least every 2 s so that a viewer who joins starts soon, and sent as RTP. GStreamer encodes and
// packetises (vp8enc and rtpvp8pay, or x264enc and rtph264pay), fed through OpenCV's GStreamer
// writer; cvchat writes no RTP of its own. The publisher is one more sink of the sender's fan-out:
// it takes the frames' pixels, and skips a frame while the one before is still being written.
import { isIP } from 'node:net';

import { checkInteger, CvchatError, invalidOption } from '../base/errors';
import { notice } from '../base/log';
import type { VideoFrame } from '../media/backend';
import { openPipelineWriter, type VideoWriter } from '../media/video';
import { findOrMakeMountpoint, parseJanusUrl, type JanusMountpointAddress } from '../net/janus';
import type { FrameSink } from './sinks';

export type PublishCodec = 'vp8' | 'h264';
export const PUBLISH_CODECS: readonly PublishCodec[] = ['vp8', 'h264'];
/** What Janus's sample VP8 mountpoint expects; H.264 mountpoints are usually configured with 96. */
export const DEFAULT_PAYLOAD_TYPES: Record<PublishCodec, number> = { vp8: 100, h264: 96 };
export const DEFAULT_PUBLISH_BITRATE = 1_500_000;
/** A viewer who joins waits for a keyframe: at most this long. */
export const KEYFRAME_INTERVAL_S = 2;

export interface RtpTarget {
  host: string;
  port: number;
}

/** rtp://HOST:PORT, checked: the host goes into a GStreamer pipeline, so only a name or an address. */
export function parseRtpUrl(url: string): RtpTarget {
  const match = /^rtp:\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]{1,253}):(\d{1,5})\/?$/.exec(url);
  if (!match) throw invalidOption('--publish', 'rtp://HOST:PORT or janus://HOST[:PORT]/ID?secret=...', url);
  const host = match[1].replace(/^\[(.*)\]$/, '$1');
  if (match[1].startsWith('[') && isIP(host) !== 6) throw invalidOption('--publish', 'an IPv6 address in brackets', url);
  return { host, port: checkInteger('--publish port', Number(match[2]), 1, 65535) };
}

export interface PublishStream {
  codec: PublishCodec;
  bitrateBps: number;
  /** The RTP payload type the server's mountpoint expects. */
  payloadType: number;
}

/** The GStreamer pipeline: BGR frames in, RTP packets out to `target` over UDP. */
export function rtpPipeline(target: RtpTarget, stream: PublishStream, fps: number): string {
  const keyframeEvery = Math.max(1, Math.floor(fps * KEYFRAME_INTERVAL_S));
  const encoder = stream.codec === 'vp8'
    // Real time, one pass, constant bitrate; no frames held back for look-ahead.
    ? `vp8enc deadline=1 cpu-used=8 end-usage=cbr lag-in-frames=0 target-bitrate=${stream.bitrateBps} keyframe-max-dist=${keyframeEvery} error-resilient=default ! rtpvp8pay pt=${stream.payloadType} picture-id-mode=15-bit`
    // Constrained baseline: what every browser's WebRTC decodes; SPS and PPS before each keyframe.
    : `x264enc tune=zerolatency speed-preset=superfast bitrate=${Math.round(stream.bitrateBps / 1000)} key-int-max=${keyframeEvery} ! video/x-h264,profile=constrained-baseline ! rtph264pay pt=${stream.payloadType} config-interval=-1`;
  // sync=false: send each packet as it is made; the frames come paced by the capture.
  return `appsrc ! videoconvert ! video/x-raw,format=I420 ! ${encoder} ! udpsink host=${target.host} port=${target.port} sync=false async=false`;
}

/** Frames published and skipped, for --stats. */
export interface PublishStatus {
  target: string;
  codec: PublishCodec;
  bitrateBps: number;
  frames: number;
  /** Frames skipped because the one before was still being encoded. */
  skipped: number;
}

export class Publisher implements FrameSink {
  /** It publishes what is captured; it does not ask the source for frames. */
  readonly wantsFrame = false;
  private writing: Promise<void> | null = null;
  /** No more frames: close() was called, or the pipeline failed. */
  private closed = false;
  private released = false;
  private frames = 0;
  private skipped = 0;

  private constructor(
    private readonly writer: VideoWriter,
    private readonly target: string,
    private readonly stream: PublishStream,
  ) {}

  /** Starts the pipeline for frames of `width`x`height` at `fps`. */
  static async open(target: RtpTarget, stream: PublishStream, width: number, height: number, fps: number): Promise<Publisher> {
    const rate = fps > 0 ? fps : 30;
    let writer: VideoWriter;
    try {
      writer = await openPipelineWriter(rtpPipeline(target, stream, rate), { width, height, fps: rate });
    } catch (error) {
      const missing = stream.codec === 'h264' ? 'x264enc (gstreamer1.0-plugins-ugly)' : 'vp8enc (gstreamer1.0-plugins-good)';
      throw new CvchatError('CVCHAT_PUBLISH_FAILED', `Could not start publishing ${stream.codec} to rtp://${target.host}:${target.port}: ${(error as Error).message}; it needs GStreamer's ${missing} and rtp and udp elements`);
    }
    return new Publisher(writer, `${target.host}:${target.port}`, stream);
  }

  get status(): PublishStatus {
    return { target: this.target, codec: this.stream.codec, bitrateBps: this.stream.bitrateBps, frames: this.frames, skipped: this.skipped };
  }

  deliverPixels(frame: VideoFrame): void {
    if (this.closed || this.writing) {
      if (!this.closed) this.skipped++;
      frame.release();
      return;
    }
    this.writing = this.writer.write(frame).then(
      () => {
        this.frames++;
      },
      (error: Error) => {
        // A pipeline that fails keeps failing: stop publishing, keep serving direct viewers.
        if (!this.closed) notice(`publish: stopped: ${error.message}`);
        this.closed = true;
      },
    ).finally(() => {
      frame.release();
      this.writing = null;
    });
  }

  /** Stops publishing; the pipeline is ended (GStreamer flushes it). */
  async close(): Promise<void> {
    this.closed = true;
    await this.writing;
    if (this.released) return;
    this.released = true;
    await this.writer.release();
  }
}

/** What --publish and its options say. */
export interface PublishOptions {
  /**
   * rtp://HOST:PORT: an RTP receiver (a Janus streaming mountpoint's port); or
   * janus://HOST[:PORT]/ID?secret=S[&admin_key=K]: Janus's mountpoint ID, made if it does not exist.
   */
  url: string;
  /** vp8 (default) or h264. */
  codec?: PublishCodec;
  /** Fixed bitrate, bits per second (default DEFAULT_PUBLISH_BITRATE). */
  bitrateBps?: number;
  /** The RTP payload type (default: 100 for VP8, 96 for H.264). */
  payloadType?: number;
}

export interface CheckedPublish {
  to: { rtp: RtpTarget } | { janus: JanusMountpointAddress };
  stream: PublishStream;
}

/** Where the RTP goes: the rtp:// target, or the port of the Janus mountpoint (found, or made now). */
export async function publishTarget(publish: CheckedPublish): Promise<{ target: RtpTarget; described: string }> {
  if ('rtp' in publish.to) return { target: publish.to.rtp, described: `rtp://${publish.to.rtp.host}:${publish.to.rtp.port}` };
  const address = publish.to.janus;
  const mountpoint = await findOrMakeMountpoint(address, publish.stream);
  const described = `Janus mountpoint ${address.id} (${mountpoint.created ? 'made now' : 'found'}) at ${address.api}, RTP to ${mountpoint.host}:${mountpoint.port}`;
  return { target: { host: mountpoint.host, port: mountpoint.port }, described };
}

export function checkPublishOptions(options: unknown): CheckedPublish | undefined {
  if (options === undefined) return undefined;
  if (!options || typeof options !== 'object') throw invalidOption('publish', 'object ({ url })', options);
  const { url, codec = 'vp8', bitrateBps = DEFAULT_PUBLISH_BITRATE, payloadType } = options as PublishOptions;
  if (typeof url !== 'string') throw invalidOption('publish url', 'rtp://HOST:PORT or janus://HOST[:PORT]/ID?secret=...', url);
  if (codec !== 'vp8' && codec !== 'h264') throw invalidOption('publish codec', "'vp8' or 'h264'", codec);
  return {
    to: url.startsWith('janus:') ? { janus: parseJanusUrl(url) } : { rtp: parseRtpUrl(url) },
    stream: {
      codec,
      bitrateBps: checkInteger('publish bitrate', bitrateBps, 50_000, 100_000_000),
      payloadType: payloadType === undefined ? DEFAULT_PAYLOAD_TYPES[codec] : checkInteger('publish payload type', payloadType, 96, 127),
    },
  };
}
