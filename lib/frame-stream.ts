// The receiving half of a connection: parse length-prefixed payloads, keep only the newest one
// that is not decoded yet, and decode one at a time off the main thread. A peer that sends faster
// than we decode loses old frames, never gains lag.
import type { Socket } from 'node:net';

import type { VideoBackend, VideoFrame } from './backend';
import { wallClock } from './clock';
import { CvchatError } from './errors';
import { unpickleImage } from './pickle';
import { FrameReader, parseControl, readFrameMeta, type FrameMeta, type Wire } from './protocol';
import type { StreamStats } from './stats';

export interface DecodedFrame {
  frame: VideoFrame;
  meta: FrameMeta | null;
  /** Capture to decoded, when the sender stamped the frame. */
  latencyMs: number | undefined;
  receivedAt: number;
}

export interface FrameStreamOptions {
  maxFrameBytes: number;
  maxPixels: number;
  /** Close when no complete payload arrives for this long (a peer dripping a byte a minute). */
  idleTimeoutMs?: number;
  /** jpeg (default): decode off the main thread. pickle: read the seed's numpy pickles safely. */
  wire?: Wire;
}

export const DEFAULT_IDLE_TIMEOUT_MS = 10_000;

export interface FrameStreamEvents {
  /** Owns the frame from then on (must release it). */
  frame(decoded: DecodedFrame): void;
  control(kind: string, text: string): void;
  /** A protocol or decode error; the connection has been closed. */
  error(error: CvchatError): void;
}

export class FrameStream {
  private readonly reader: FrameReader;
  private waiting: { payload: Buffer; receivedAt: number } | null = null;
  private decoding = false;
  private closed = false;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Bytes received, so a caller can tell "closed at once" from "closed mid-stream". */
  bytesReceived = 0;

  constructor(
    private readonly socket: Socket,
    private readonly backend: VideoBackend,
    private readonly options: FrameStreamOptions,
    private readonly stats: StreamStats,
    private readonly events: FrameStreamEvents,
  ) {
    this.reader = new FrameReader({ maxFrameBytes: options.maxFrameBytes });
    this.onData = this.onData.bind(this);
    this.onClose = this.onClose.bind(this);
    socket.on('data', this.onData);
    socket.once('close', this.onClose);
    this.armIdleTimer();
  }

  private armIdleTimer(): void {
    const ms = this.options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.fail(new CvchatError('CVCHAT_IDLE_TIMEOUT', `no complete frame for ${ms / 1000} s`));
    }, ms);
    this.idleTimer.unref();
  }

  private onData(chunk: Buffer): void {
    this.bytesReceived += chunk.length;
    let payloads: Buffer[];
    try {
      payloads = this.reader.push(chunk);
    } catch (error) {
      this.fail(error as CvchatError);
      return;
    }
    const receivedAt = wallClock();
    if (payloads.length > 0) this.armIdleTimer();
    for (const payload of payloads) {
      const control = parseControl(payload);
      if (control) {
        this.events.control(control.kind, control.text);
        continue;
      }
      if (this.waiting) this.stats.addDropped();
      this.waiting = { payload, receivedAt };
    }
    this.pump();
  }

  private pump(): void {
    if (this.decoding || !this.waiting || this.closed) return;
    const { payload, receivedAt } = this.waiting;
    this.waiting = null;
    this.decoding = true;
    this.decode(payload).then(
      (frame) => {
        this.decoding = false;
        if (this.closed) {
          frame.release();
          return;
        }
        const meta = readFrameMeta(payload);
        const latencyMs = meta && meta.captureTime > 0 ? wallClock() - meta.captureTime : undefined;
        this.stats.addFrame(payload.length, latencyMs);
        this.events.frame({ frame, meta, latencyMs, receivedAt });
        this.pump();
      },
      (error: CvchatError) => {
        this.decoding = false;
        this.fail(error);
      },
    );
  }

  private async decode(payload: Buffer): Promise<VideoFrame> {
    if (this.options.wire !== 'pickle') return this.backend.decode(payload, this.options.maxPixels);
    // A pickle is parsed, never run, and its pixels copied into a frame (a memcpy, so on this thread).
    const image = unpickleImage(payload, { maxPixels: this.options.maxPixels });
    return this.backend.fromPixels(image.pixels, image.width, image.height, image.channels);
  }

  private fail(error: CvchatError): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.idleTimer);
    this.waiting = null;
    this.events.error(error);
    this.socket.destroy();
  }

  private onClose(): void {
    this.closed = true;
    clearTimeout(this.idleTimer);
    this.waiting = null;
    this.socket.off('data', this.onData);
  }
}
