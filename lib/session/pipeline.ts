// Capture -> encode -> every sink, once per frame whatever the number of sinks. The next read is
// already in flight while the current frame encodes (they run on different pool threads), and at
// most one encode is outstanding, so nothing queues up behind a slow encoder.
import { wallClock } from '../base/clock';
import type { CaptureSource, VideoBackend, VideoFrame } from '../media/backend';
import type { Wire } from '../wire/meta';
import { pickleImage } from '../wire/pickle';
import type { EncodedFrame, FanOut } from './sinks';
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
}

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
          frame = await this.capture.read();
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
      const wire = this.options.wire ?? 'jpeg';
      const payload =
        wire === 'jpeg'
          ? [await this.backend.encodeJpeg(frame, this.options.quality)]
          : pickleImage(this.backend.toPixels(frame), frame.height, frame.width, frame.channels as 1 | 3 | 4);
      const bytes = payload.reduce((n, part) => n + part.length, 0);
      const encoded: EncodedFrame = { wire, payload, bytes, seq: this.seq++ >>> 0, captureTime, width: frame.width, height: frame.height };
      this.stats.addFrame(bytes, wallClock() - captureTime);
      this.sinks.deliver(encoded);
    } finally {
      this.sinks.deliverPixels(frame, captureTime);
    }
  }
}
