// The receiving half of a connection: parse length-prefixed payloads, keep only the newest one
// that is not decoded yet, and decode one at a time off the main thread. A peer that sends faster
// than we decode loses old frames, never gains lag.
import type { Socket } from 'node:net';

import type { VideoBackend, VideoFrame } from './backend';
import { wallClock } from './clock';
import { CvchatError } from './errors';
import { unpickleImage } from './pickle';
import { controlMessage, FrameReader, looksLikeTlsHandshake, parseControl, PLAIN_ANSWER, readFrameMeta, type FrameMeta, type Wire } from './protocol';
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

/**
 * Decodes in flight per connection. Two keep both cores busy when frames come faster than one
 * decoder. Results are delivered in arrival order: a decode that finishes first waits for the
 * older one (a millisecond or so) rather than having that older decode's work thrown away.
 */
const MAX_DECODES = 2;

interface Decoded {
  payload: Buffer;
  receivedAt: number;
  frame: VideoFrame;
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
  private waiting: { payload: Buffer; receivedAt: number; order: number } | null = null;
  private decoding = 0;
  private arrived = 0;
  /** Orders of the decodes in flight, oldest first, and results waiting for an older one. */
  private inFlight: number[] = [];
  private finished = new Map<number, Decoded>();
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
    if (this.bytesReceived === 0 && looksLikeTlsHandshake(chunk)) {
      // An encrypted peer on our plain wire: tell it so (see PLAIN), instead of a bare reset.
      this.closed = true;
      clearTimeout(this.idleTimer);
      this.events.error(new CvchatError('CVCHAT_PEER_ENCRYPTED', 'the peer speaks TLS but this side runs --insecure'));
      this.socket.end(PLAIN_ANSWER());
      return;
    }
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
      this.waiting = { payload, receivedAt, order: ++this.arrived };
    }
    this.pump();
  }

  private pump(): void {
    while (this.decoding < MAX_DECODES && this.waiting && !this.closed) {
      const { payload, receivedAt, order } = this.waiting;
      this.waiting = null;
      this.decoding++;
      this.inFlight.push(order);
      this.decode(payload).then(
        (frame) => {
          this.decoding--;
          if (this.closed) {
            frame.release();
            return;
          }
          this.finished.set(order, { payload, receivedAt, frame });
          this.deliverInOrder();
          this.pump();
        },
        (error: CvchatError) => {
          this.decoding--;
          this.fail(error);
        },
      );
    }
  }

  private deliverInOrder(): void {
    while (this.inFlight.length > 0 && this.finished.has(this.inFlight[0])) {
      const order = this.inFlight.shift() as number;
      const { payload, receivedAt, frame } = this.finished.get(order) as Decoded;
      this.finished.delete(order);
      const meta = readFrameMeta(payload);
      const latencyMs = meta && meta.captureTime > 0 ? wallClock() - meta.captureTime : undefined;
      this.stats.addFrame(payload.length, latencyMs);
      // Tell a cvchat sender this frame (and every older one) is done: see LatestFrameWriter.
      if (meta) this.socket.write(controlMessage('ACK', String(meta.seq)));
      this.events.frame({ frame, meta, latencyMs, receivedAt });
    }
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
    this.releaseFinished();
    clearTimeout(this.idleTimer);
    this.waiting = null;
    this.events.error(error);
    this.socket.destroy();
  }

  private releaseFinished(): void {
    for (const { frame } of this.finished.values()) frame.release();
    this.finished.clear();
  }

  private onClose(): void {
    this.closed = true;
    this.releaseFinished();
    clearTimeout(this.idleTimer);
    this.waiting = null;
    this.socket.off('data', this.onData);
  }
}
