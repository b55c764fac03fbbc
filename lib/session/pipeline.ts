// Capture -> encode -> every sink, once per frame and operating point whatever the number of sinks:
// sinks at one point (all of them, unless some adapt to a slower link) share one encode. The next
// read is already in flight while the current frame encodes (they run on different pool threads),
// and at most one frame's encodes are outstanding, so nothing queues up behind a slow encoder.
import { wallClock } from '../base/clock';
import type { CaptureSource, VideoBackend, VideoFrame } from '../media/backend';
import { readPixels } from '../media/source';
import type { Wire } from '../wire/meta';
import { pickleImage } from '../wire/pickle';
import { fullPoint, type FrameSizeModel, type OperatingPoint } from './adapt';
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
}

/** The frame interval adapting sinks budget for when the source is unpaced. */
const NOMINAL_INTERVAL_MS = 1000 / 30;

export type PipelineEnd = 'ended' | 'stopped' | 'limit';

export class CapturePipeline {
  readonly stats = new StreamStats('sender');
  private stopping = false;
  private seq = 0;
  private wake: (() => void) | undefined;

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
        } else if (this.options.onDemand) {
          await this.sinks.demand();
          if (this.stopping) break;
        }
        let frame: VideoFrame | null;
        try {
          frame = await readPixels(this.backend, this.capture);
        } catch (error) {
          // stop() releases the capture; a read that loses that race has not failed.
          if (this.stopping) break;
          throw error;
        }
        if (!frame) return 'ended';
        const captureTime = wallClock();
        captured++;
        try {
          await encoding;
        } catch (error) {
          frame.release();
          throw error;
        }
        if (this.stopping) {
          frame.release();
          break;
        }
        encoding = this.encode(frame, captureTime);
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

  private async encode(frame: VideoFrame, captureTime: number): Promise<void> {
    try {
      const seq = this.seq++ >>> 0;
      const wire = this.options.wire ?? 'jpeg';
      const size = { width: frame.width, height: frame.height };
      const full = fullPoint(size, this.options.quality);
      const made = (point: OperatingPoint, payload: Buffer[]): EncodedFrame => ({
        wire, payload, bytes: payload.reduce((n, part) => n + part.length, 0), seq, captureTime,
        width: point.width, height: point.height, point, fullWidth: size.width, fullHeight: size.height,
      });
      if (wire === 'pickle') {
        // Python peers: the frame's pixels as they are, to every sink.
        const encoded = made(full, pickleImage(this.backend.toPixels(frame), frame.height, frame.width, frame.channels as 1 | 3 | 4));
        this.stats.addFrame(encoded.bytes, wallClock() - captureTime);
        this.sinks.deliver(encoded);
        return;
      }
      const intervalMs = this.options.fps > 0 ? 1000 / this.options.fps : NOMINAL_INTERVAL_MS;
      const ownEncoders: FrameSink[] = [];
      const plan = this.sinks.plan({ size, intervalMs, now: performance.now() }, full, ownEncoders);
      if (plan.length === 0 && ownEncoders.length === 0) {
        // Every peer skips this frame (their links are full): it is not encoded at all.
        if (this.sinks.hasPeers) return;
        // With no peer to send to, the frame is still encoded at the full point: --stats and the
        // frame counts say what the source and encoder do even before a viewer joins.
        plan.push({ point: full, sinks: [] });
      }
      let largest = 0;
      const jpegs = plan.map(async ({ point, sinks }) => {
        const jpeg = await this.backend.encodeJpeg(frame, point.quality, point.key === full.key ? undefined : point);
        this.options.sizeModel?.observe(point, size, jpeg.length);
        largest = Math.max(largest, jpeg.length);
        const encoded = made(point, [jpeg]);
        for (const sink of sinks) sink.deliver?.(encoded);
      });
      // Video streams are encoded by their sinks (an encoder per peer), beside the JPEG points.
      const videos = ownEncoders.map(async (sink) => {
        largest = Math.max(largest, await sink.encodeOwn!(frame, { seq, captureTime, size, intervalMs }));
      });
      await Promise.all([...jpegs, ...videos]);
      this.stats.addFrame(largest, wallClock() - captureTime);
    } finally {
      this.sinks.deliverPixels(frame, captureTime);
    }
  }
}
