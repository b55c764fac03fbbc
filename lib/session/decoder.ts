// The receiving half of a session: keep only the newest payload that is not decoded yet, decode
// off the main thread, deliver in arrival order, and acknowledge each decoded frame so that the
// sender's flow control moves on. A peer that sends faster than we decode loses old frames, never
// gains lag.
import { wallClock } from '../base/clock';
import type { CvchatError } from '../base/errors';
import { MAX_DECODES } from '../base/limits';
import { notice } from '../base/log';
import type { VideoBackend, VideoFrame } from '../media/backend';
import type { Connection, FrameReceipt } from '../net/connection';
import { readFrameMeta, type FrameMeta, type Wire } from '../wire/meta';
import { unpickleImage } from '../wire/pickle';
import type { StreamStats } from './stats';

export interface DecodedFrame {
  frame: VideoFrame;
  meta: FrameMeta | null;
  /** Capture to decoded, when the sender stamped the frame. */
  latencyMs: number | undefined;
  receivedAt: number;
  /** The payload as it arrived (the JPEG, with cvchat's metadata), for tools that keep it. */
  payload: Buffer;
}

export interface FrameDecoderOptions {
  maxPixels: number;
  /** jpeg (default): decode off the main thread. pickle: read numpy pickles, safely. */
  wire?: Wire;
}

export interface FrameDecoderEvents {
  /** A decoded frame, oldest first; the handler owns it from then on (must release it). */
  frame(decoded: DecodedFrame): void;
  /** Frame `seq` was decoded: acknowledge it (only frames that carried cvchat's metadata). */
  ack(seq: number, receipt: FrameReceipt | undefined): void;
  /** A payload that is not a picture we can show; the decoder has stopped. */
  error(error: CvchatError): void;
}

interface Arrived {
  payload: Buffer;
  receivedAt: number;
  receipt: FrameReceipt | undefined;
  /** Counts payloads, so results are delivered in the order they arrived. */
  order: number;
}

interface Decoded extends Arrived {
  frame: VideoFrame;
  meta: FrameMeta | null;
}

/**
 * Decodes up to MAX_DECODES payloads at once. Results are delivered in arrival order: a decode that
 * finishes first waits for the older one (a millisecond or so) rather than having that older
 * decode's work thrown away.
 */
export class FrameDecoder {
  private waiting: Arrived | null = null;
  private decoding = 0;
  private arrived = 0;
  /** Orders of the decodes in flight, oldest first, and results waiting for an older one. */
  private inFlight: number[] = [];
  private finished = new Map<number, Decoded>();
  private closed = false;
  private pumpScheduled = false;

  constructor(
    private readonly backend: VideoBackend,
    private readonly options: FrameDecoderOptions,
    private readonly stats: StreamStats,
    private readonly events: FrameDecoderEvents,
  ) {}

  /**
   * A frame payload as it arrived; replaces one still waiting for a decoder (counted as dropped).
   * Decoding starts once the current chunk's payloads have all been pushed (a microtask later), so
   * of several frames that arrive together only the newest is decoded.
   */
  push(payload: Buffer, receivedAt: number, receipt?: FrameReceipt): void {
    if (this.closed) return;
    if (this.waiting) this.stats.addDropped();
    this.waiting = { payload, receivedAt, receipt, order: ++this.arrived };
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    queueMicrotask(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Stops: frames held or decoded later are released, never delivered. */
  close(): void {
    this.closed = true;
    this.waiting = null;
    for (const { frame } of this.finished.values()) frame.release();
    this.finished.clear();
  }

  private pump(): void {
    while (this.decoding < MAX_DECODES && this.waiting && !this.closed) {
      const arrived = this.waiting;
      const { payload, order } = arrived;
      this.waiting = null;
      this.decoding++;
      this.inFlight.push(order);
      const meta = readFrameMeta(payload);
      this.decode(payload, meta).then(
        (frame) => {
          this.decoding--;
          if (this.closed) {
            frame.release();
            return;
          }
          this.finished.set(order, { ...arrived, frame, meta });
          this.deliverInOrder();
          this.pump();
        },
        (error: CvchatError) => {
          this.decoding--;
          if (this.closed) return;
          this.close();
          this.events.error(error);
        },
      );
    }
  }

  private deliverInOrder(): void {
    while (!this.closed && this.inFlight.length > 0 && this.finished.has(this.inFlight[0])) {
      const order = this.inFlight.shift() as number;
      const { payload, receivedAt, receipt, frame, meta } = this.finished.get(order) as Decoded;
      this.finished.delete(order);
      const latencyMs = meta && meta.captureTime > 0 ? wallClock() - meta.captureTime : undefined;
      this.stats.addFrame(payload.length, latencyMs);
      if (meta) this.events.ack(meta.seq, receipt);
      this.events.frame({ frame, meta, latencyMs, receivedAt, payload });
    }
  }

  private async decode(payload: Buffer, meta: FrameMeta | null): Promise<VideoFrame> {
    if (this.options.wire !== 'pickle') {
      // A frame sent smaller to fit a slow link is shown at the stream's full size, scaled on the
      // decoding thread, so the window keeps its size whatever the link does.
      const point = meta?.point;
      const full = point && point.fullWidth * point.fullHeight <= this.options.maxPixels ? { width: point.fullWidth, height: point.fullHeight } : undefined;
      return this.backend.decode(payload, this.options.maxPixels, full);
    }
    // A pickle is parsed, never run, and its pixels copied into a frame (a memcpy, so on this thread).
    const image = unpickleImage(payload, { maxPixels: this.options.maxPixels });
    return this.backend.fromPixels(image.pixels, image.width, image.height, image.channels);
  }
}

/**
 * Decodes what `connection` receives: its frames go to a decoder whose results go to `onFrame`,
 * each decoded frame is acknowledged on it, a payload that is no picture ends it, and its end ends
 * the decoder. When this side ended it for a reason, `describeEnd` may return a line to log.
 */
export function decodeFrom(
  connection: Connection,
  backend: VideoBackend,
  options: FrameDecoderOptions,
  stats: StreamStats,
  onFrame: (decoded: DecodedFrame) => void,
  describeEnd: (error: CvchatError) => string | null,
): FrameDecoder {
  const decoder = new FrameDecoder(backend, options, stats, {
    frame: onFrame,
    ack: (seq, receipt) => connection.ack(seq, receipt),
    error: (error) => connection.destroy(error),
  });
  connection.on('frame', (payload, receivedAt, receipt) => decoder.push(payload, receivedAt, receipt));
  connection.once('close', ({ error }) => {
    decoder.close();
    const line = error ? describeEnd(error) : null;
    if (line) notice(line);
  });
  return decoder;
}
