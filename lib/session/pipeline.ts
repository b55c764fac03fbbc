// Capture -> encode -> every sink, once per frame and operating point whatever the number of sinks:
// sinks at one point (all of them, unless some adapt to a slower link) share one encode. The next
// read is already in flight while the current frame encodes (they run on different pool threads),
// and at most one frame's encodes are outstanding, so nothing queues up behind a slow encoder.
// A source that yields JPEG (an MJPEG camera, file, stream or pipeline) is not decoded to be
// encoded again: its bytes are the full point, sent as they came to every sink they fit, and
// decoded only for what needs pixels (another point, a video codec, a window), starting while
// the frame before is still being encoded.
import { wallClock } from '../base/clock';
import { DEFAULT_MAX_PIXELS } from '../base/limits';
import { notice } from '../base/log';
import { isSourceJpeg, type CaptureSource, type Size, type SourceJpeg, type VideoBackend, type VideoFrame } from '../media/backend';
import { estimateJpegQuality } from '../media/jpeg-info';
import type { Wire } from '../wire/meta';
import { pickleImage } from '../wire/pickle';
import { fullPoint, sourcePoint, type FrameSizeModel, type OperatingPoint } from './adapt';
import type { EncodedFrame, FanOut, FrameSink } from './sinks';
import { StreamStats } from './stats';

export interface PipelineOptions {
  /** Frames per second to pace reads at; 0 reads as fast as the source gives (cameras pace themselves). */
  fps: number;
  quality: number;
  /** jpeg (default), or pickle: uncompressed numpy pickles, for Python peers. */
  wire?: Wire;
  /** Stop after this many captured frames. */
  maxFrames?: number;
  /** Unpaced and not live (a file, memory): read only when a sink can take a frame, not to drop it. */
  onDemand?: boolean;
  /** Learns each encode's bytes, for the sinks that adapt (see adapt.ts). */
  sizeModel?: FrameSizeModel;
  /** A source's own JPEG declaring more pixels than this is refused (default DEFAULT_MAX_PIXELS). */
  maxPixels?: number;
}

/** The frame interval adapting sinks budget for when the source is unpaced. */
const NOMINAL_INTERVAL_MS = 1000 / 30;

export type PipelineEnd = 'ended' | 'stopped' | 'limit';

export class CapturePipeline {
  readonly stats = new StreamStats('sender');
  private stopping = false;
  private seq = 0;
  private wake: (() => void) | undefined;
  /** A source that yields JPEG: what is sent as it came, and what had to be decoded. */
  readonly sourceStats: SourceJpegStats = { passedThrough: 0, decoded: 0, undecodable: 0 };
  /** The pixels the last source JPEG was decoded for: 'full', a smaller size, or null (none). */
  private lastPixelNeed: Size | 'full' | null = null;

  constructor(
    private readonly backend: VideoBackend,
    private readonly capture: CaptureSource,
    private readonly options: PipelineOptions,
    private readonly sinks: FanOut,
  ) {}

  stop(): void {
    this.stopping = true;
    this.wake?.();
    this.sinks.close();
  }

  async run(): Promise<PipelineEnd> {
    const interval = this.options.fps > 0 ? 1000 / this.options.fps : 0;
    let due = performance.now();
    let encoding: Promise<void> = Promise.resolve();
    let captured = 0;
    try {
      while (!this.stopping) {
        if (this.options.maxFrames !== undefined && captured >= this.options.maxFrames) return 'limit';
        if (interval > 0) {
          const wait = due - performance.now();
          // Sleep until the frame is due; a frame that is late is read at once, and the schedule
          // restarts from now rather than bursting to catch up.
          if (wait > 0) await this.pause(wait);
          if (this.stopping) break;
          due = Math.max(due + interval, performance.now());
        }
        let frame: VideoFrame | SourceJpeg | null;
        try {
          frame = await this.capture.read();
        } catch (error) {
          // stop() releases the capture; a read that loses that race has not failed.
          if (this.stopping) break;
          throw error;
        }
        if (!frame) return 'ended';
        let captureTime = wallClock();
        captured++;
        const early = isSourceJpeg(frame) ? this.decodeAhead(frame) : null;
        const drop = (read: VideoFrame | SourceJpeg) => {
          if (!isSourceJpeg(read)) read.release();
          if (early) releaseWhenDecoded(early);
        };
        try {
          await encoding;
          // A source read on demand (a file, memory) is read, and decoded, while the frame before
          // is encoded and sent; this frame waits here until a sink can take it, so none is
          // skipped. Its time starts when it goes on.
          if (this.options.onDemand && !this.stopping) {
            await this.sinks.demand();
            captureTime = wallClock();
          }
        } catch (error) {
          drop(frame);
          throw error;
        }
        if (this.stopping) {
          drop(frame);
          break;
        }
        encoding = this.encode(frame, captureTime, early);
      }
      return 'stopped';
    } finally {
      await encoding.catch(() => undefined);
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /**
   * A source's own JPEG whose pixels some sink will likely need (they were needed for the last
   * frame): decoding starts now, on the pool, while the frame before is still being encoded.
   */
  private decodeAhead(jpeg: SourceJpeg): EarlyDecode | null {
    const need = this.lastPixelNeed;
    if (need === null) return null;
    const size = need === 'full' ? undefined : need;
    const frame = this.decodeSource(jpeg, size);
    // Handled where the frame is encoded, after the frame before it: not an unhandled rejection meanwhile.
    frame.catch(() => undefined);
    return { size, frame };
  }

  private decodeSource(jpeg: SourceJpeg, size: Size | undefined): Promise<VideoFrame> {
    this.sourceStats.decoded++;
    return this.backend.decode(jpeg.jpeg, this.options.maxPixels ?? DEFAULT_MAX_PIXELS, size);
  }

  /**
   * The source's pixels at `size` (undefined: full), from the decode started ahead when it matches
   * (`early` is this call's: used or released). null when the JPEG does not decode: the frame is
   * skipped and counted, as a damaged packet is, rather than ending the stream.
   */
  private async pixelsOf(jpeg: SourceJpeg, size: Size | undefined, early: EarlyDecode | null): Promise<VideoFrame | null> {
    let decoding: Promise<VideoFrame>;
    if (early && early.size?.width === size?.width && early.size?.height === size?.height) decoding = early.frame;
    else {
      if (early) releaseWhenDecoded(early);
      decoding = this.decodeSource(jpeg, size);
    }
    try {
      return await decoding;
    } catch (error) {
      if (this.sourceStats.undecodable++ === 0) notice(`a frame from the source did not decode (${(error as Error).message}); such frames are skipped`);
      return null;
    }
  }

  private async encode(source: VideoFrame | SourceJpeg, captureTime: number, early: EarlyDecode | null): Promise<void> {
    const jpeg = isSourceJpeg(source) ? source : null;
    let frame: VideoFrame | null = jpeg ? null : (source as VideoFrame);
    try {
      const seq = this.seq++ >>> 0;
      const wire = this.options.wire ?? 'jpeg';
      const size = { width: source.width, height: source.height };
      // The source JPEG's pixels at `need` (null: none), from the decode started ahead when it
      // matches; remembered, so that the next frame's decode starts ahead at the same size.
      const takePixels = (need: Size | 'full' | null): Promise<VideoFrame | null> => {
        const ahead = early;
        early = null;
        this.lastPixelNeed = need;
        if (need !== null) return this.pixelsOf(jpeg!, need === 'full' ? undefined : need, ahead);
        if (ahead) releaseWhenDecoded(ahead);
        return Promise.resolve(null);
      };
      const made = (point: OperatingPoint, payload: Buffer[]): EncodedFrame => ({
        wire, payload, bytes: payload.reduce((n, part) => n + part.length, 0), seq, captureTime,
        width: point.width, height: point.height, point, fullWidth: size.width, fullHeight: size.height,
      });
      if (wire === 'pickle') {
        // Python peers: the frame's pixels as they are, to every sink.
        frame ??= await takePixels('full');
        if (!frame) return; // undecodable: skipped
        const encoded = made(fullPoint(size, this.options.quality), pickleImage(this.backend.toPixels(frame), frame.height, frame.width, frame.channels as 1 | 3 | 4));
        this.stats.addFrame(encoded.bytes, wallClock() - captureTime);
        this.sinks.deliver(encoded);
        return;
      }
      // A source's own JPEG is the full point: sent as it came to every sink whose budget it fits.
      const full = jpeg ? sourcePoint(size, Math.max(1, estimateJpegQuality(jpeg.jpeg))) : fullPoint(size, this.options.quality);
      const intervalMs = this.options.fps > 0 ? 1000 / this.options.fps : NOMINAL_INTERVAL_MS;
      const ownEncoders: FrameSink[] = [];
      const plan = this.sinks.plan({ size, intervalMs, now: performance.now(), sourceBytes: jpeg?.jpeg.length }, full, ownEncoders);
      if (plan.length === 0 && ownEncoders.length === 0) {
        // Every peer skips this frame (their links are full): it is not encoded at all. A window
        // still shows it.
        if (this.sinks.hasPeers) {
          if (jpeg) frame = await takePixels(this.sinks.pixelSize(size));
          return;
        }
        // With no peer to send to, the frame is still encoded at the full point: --stats and the
        // frame counts say what the source and encoder do even before a viewer joins.
        plan.push({ point: full, sinks: [] });
      }
      if (jpeg) {
        // Pixels only for what needs them: a video codec (the full picture), another point, a
        // window; the last two may take them smaller, and a reduced DCT scale costs a fraction of
        // a full decode.
        let need: Size | 'full' | null = ownEncoders.length > 0 ? 'full' : this.sinks.pixelSize(size);
        for (const { point } of plan) if (!point.source) need = largerNeed(need, point, size);
        frame = await takePixels(need);
        if (need !== null && !frame) return; // undecodable: skipped
      }
      let largest = 0;
      const jpegs = plan.map(async ({ point, sinks }) => {
        let bytes: Buffer;
        if (point.source) {
          bytes = jpeg!.jpeg;
          this.sourceStats.passedThrough++;
        } else {
          const pixels = frame!;
          const scaled = point.width !== pixels.width || point.height !== pixels.height;
          bytes = await this.backend.encodeJpeg(pixels, point.quality, scaled ? point : undefined);
          this.options.sizeModel?.observe(point, size, bytes.length);
        }
        largest = Math.max(largest, bytes.length);
        const encoded = made(point, [bytes]);
        for (const sink of sinks) sink.deliver?.(encoded);
      });
      // Video streams are encoded by their sinks (an encoder per peer), beside the JPEG points.
      const videos = ownEncoders.map(async (sink) => {
        largest = Math.max(largest, await sink.encodeOwn!(frame!, { seq, captureTime, size, intervalMs }));
      });
      await Promise.all([...jpegs, ...videos]);
      this.stats.addFrame(largest, wallClock() - captureTime);
    } finally {
      if (early) releaseWhenDecoded(early);
      if (frame) this.sinks.deliverPixels(frame, captureTime);
    }
  }
}

/**
 * The pixels to decode for two needs: the larger, or 'full' once it is more than half the source's
 * sides (libjpeg-turbo's scales are 1/2, 1/4 and 1/8: above a half, a full decode is the cheaper).
 */
function largerNeed(need: Size | 'full' | null, wanted: Size, full: Size): Size | 'full' {
  if (need === 'full') return 'full';
  const larger = need && need.width * need.height >= wanted.width * wanted.height ? need : { width: wanted.width, height: wanted.height };
  return larger.width * 2 > full.width || larger.height * 2 > full.height ? 'full' : larger;
}

/** A decode of the source's JPEG started ahead, at `size` (undefined: full). */
interface EarlyDecode {
  size: Size | undefined;
  frame: Promise<VideoFrame>;
}

/** A decode started ahead that is not wanted after all: its frame is released when it comes. */
function releaseWhenDecoded(early: EarlyDecode): void {
  early.frame.then((frame) => frame.release(), () => undefined);
}

/**
 * What happened to a source's own JPEGs: sent as they came, decoded because something needed
 * pixels, and those that failed to decode (their frames skipped).
 */
export interface SourceJpegStats {
  passedThrough: number;
  decoded: number;
  undecodable: number;
}
