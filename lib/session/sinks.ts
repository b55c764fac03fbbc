// One fan-out from the capture pipeline to whoever consumes frames. Each consumer is a FrameSink:
// a viewer's connection, a chat partner's, the preview window, the chat's own-camera inset, and
// later a browser, a recorder or a publisher. The pipeline encodes each frame once and hands the
// same bytes to every sink; sinks that need pixels get a handle of their own on the same pixels.
import type { VideoBackend, VideoFrame } from '../media/backend';
import type { Connection } from '../net/connection';
import { wireParts, type FrameMeta, type Wire } from '../wire/meta';

/** A captured frame after encoding: what every encoded-frame sink receives, shared, never copied. */
export interface EncodedFrame {
  wire: Wire;
  /** JPEG: one buffer. Pickle: the pickle's parts. */
  payload: Buffer[];
  bytes: number;
  seq: number;
  /** Wall-clock ms when the frame was captured. */
  captureTime: number;
  width: number;
  height: number;
}

export interface FrameSink {
  /**
   * True when this sink could take a frame now. A source that is not live (a file, memory, the
   * test picture unpaced) is read only when some sink wants a frame. Sinks that only watch (a
   * window) say false: they show what is sent, they do not ask for frames.
   */
  readonly wantsFrame: boolean;
  /** An encoded frame; the sink must not change its buffers. */
  deliver?(frame: EncodedFrame): void;
  /**
   * The frame's pixels: the sink owns this handle and must release it. Other sinks may hold
   * handles on the same pixels: read them, never draw on them (draw on a copy).
   */
  deliverPixels?(frame: VideoFrame, captureTime: number): void;
}

export class FanOut {
  private readonly sinks = new Set<FrameSink>();
  private demandWaiters: Array<() => void> = [];
  private closed = false;

  constructor(private readonly backend: VideoBackend) {}

  add(sink: FrameSink): void {
    this.sinks.add(sink);
    this.wake();
  }

  delete(sink: FrameSink): void {
    this.sinks.delete(sink);
  }

  deliver(frame: EncodedFrame): void {
    for (const sink of this.sinks) sink.deliver?.(frame);
  }

  /**
   * Hands `frame` to the sinks that take pixels: the last one gets this handle, the others a
   * shared one each (no copy). With none, the frame is released. Takes ownership of `frame`.
   */
  deliverPixels(frame: VideoFrame, captureTime: number): void {
    const takers = this.closed ? [] : [...this.sinks].filter((sink) => sink.deliverPixels);
    if (takers.length === 0) {
      frame.release();
      return;
    }
    for (let i = 0; i < takers.length; i++) {
      const handle = i === takers.length - 1 ? frame : this.backend.share(frame);
      takers[i].deliverPixels!(handle, captureTime);
    }
  }

  /** Resolves when some sink could take a frame now (at once when one can), or when closed. */
  demand(): Promise<void> {
    if (this.closed) return Promise.resolve();
    for (const sink of this.sinks) if (sink.wantsFrame) return Promise.resolve();
    return new Promise((resolve) => this.demandWaiters.push(resolve));
  }

  /** A sink became able to take a frame: wake a pipeline waiting for demand. */
  wake(): void {
    const waiters = this.demandWaiters;
    this.demandWaiters = [];
    for (const resolve of waiters) resolve();
  }

  close(): void {
    this.closed = true;
    this.wake();
  }
}

/** A frame's wire parts with the plain metadata (no echo), made once and shared by every viewer. */
const sharedParts = new WeakMap<EncodedFrame, Buffer[]>();

function plainParts(frame: EncodedFrame): Buffer[] {
  let parts = sharedParts.get(frame);
  if (!parts) {
    parts = wireParts(frame.wire, frame.payload, { seq: frame.seq, captureTime: frame.captureTime, echoTime: 0, echoHoldMs: 0 });
    sharedParts.set(frame, parts);
  }
  return parts;
}

/**
 * A connection as a sink: each encoded frame goes out with cvchat's metadata, newest frame winning.
 * A viewer of the sender gets the parts every viewer shares; a chat partner's metadata also echoes
 * timestamps back (`meta`), so its parts are its own.
 */
export class ConnectionSink implements FrameSink {
  constructor(
    readonly connection: Connection,
    private readonly meta?: (frame: EncodedFrame) => FrameMeta,
  ) {}

  get wantsFrame(): boolean {
    return this.connection.wantsFrame;
  }

  deliver(frame: EncodedFrame): void {
    const parts = this.meta ? wireParts(frame.wire, frame.payload, this.meta(frame)) : plainParts(frame);
    this.connection.send({ parts, seq: frame.seq });
  }
}
