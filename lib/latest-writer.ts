// Newest frame wins on the way out. Live video is not a file transfer: when a viewer (or its
// link) is slower than the camera, queueing frames only adds lag. Each viewer has at most one
// frame being written and one waiting; a newer frame replaces the waiting one, which is counted
// as dropped.
//
// The write callback only says a frame reached the kernel, whose send buffer can hold seconds of
// video on a slow link. So cvchat receivers acknowledge each frame they decode (ACK with its
// sequence number), and once a viewer has acknowledged anything, at most MAX_UNACKED frames may be
// in flight to it. An ack of frame S covers every older frame too (the receiver drops old frames
// unseen), so dropped frames cannot wedge the count. Viewers that never ack (the seed's Python
// receiver) keep the write-callback pacing.
import type { Socket } from 'node:net';

export interface OutgoingFrame {
  /** What goes on the wire, in order (see protocol.wireParts). Shared by all viewers, never copied. */
  parts: Buffer[];
  seq: number;
}

/** A viewer that has not taken a whole frame for this long is cut off, freeing its slot. */
export const DEFAULT_STALL_TIMEOUT_MS = 20_000;
/** Frames in flight to an acknowledging viewer: one decoding while the next travels. */
export const MAX_UNACKED = 2;

export class LatestFrameWriter {
  private writing = false;
  private lastProgress = performance.now();
  private waiting: OutgoingFrame | null = null;
  private acking = false;
  /** Sequence numbers sent and not yet covered by an ack, oldest first. */
  private unacked: number[] = [];
  dropped = 0;
  /** Called whenever this viewer could take a frame now (for demand-driven sources). */
  onReady: () => void = () => undefined;

  constructor(
    private readonly socket: Socket,
    private readonly onStalled: () => void = () => undefined,
    private readonly stallTimeoutMs = DEFAULT_STALL_TIMEOUT_MS,
  ) {}

  /** True when a frame offered now would be written at once. */
  get ready(): boolean {
    return !this.writing && !(this.acking && this.unacked.length >= MAX_UNACKED) && !this.socket.destroyed;
  }

  /**
   * True when a frame offered now would be written at once or wait without replacing another:
   * a demand-driven source encodes one frame ahead, so it leaves the moment the viewer can take it.
   */
  get wantsFrame(): boolean {
    return !this.socket.destroyed && (this.ready || this.waiting === null);
  }

  /** Sends now if the viewer can take it, else keeps this one as the next to send. */
  offer(frame: OutgoingFrame): void {
    if (this.socket.destroyed || !this.socket.writable) return;
    if (!this.ready) {
      if (performance.now() - this.lastProgress > this.stallTimeoutMs) {
        this.waiting = null;
        this.onStalled();
        return;
      }
      if (this.waiting) this.dropped++;
      this.waiting = frame;
      return;
    }
    this.write(frame);
  }

  /** The viewer has decoded frame `seq` (and so is done with every older one). */
  ack(seq: number): void {
    this.acking = true;
    this.lastProgress = performance.now();
    // Sequence numbers wrap at 2^32; compare by distance.
    this.unacked = this.unacked.filter((sent) => ((sent - seq) >>> 0) !== 0 && ((sent - seq) >>> 0) < 2 ** 31);
    this.sendWaiting();
  }

  private sendWaiting(): void {
    if (!this.ready) return;
    const next = this.waiting;
    this.waiting = null;
    if (next) this.write(next);
    this.onReady(); // the waiting slot is free either way
  }

  private write(frame: OutgoingFrame): void {
    this.writing = true;
    this.unacked.push(frame.seq);
    if (this.unacked.length > 64) this.unacked.shift(); // a viewer that stopped acking: bounded
    // One writev per frame: the parts as they are, no concatenation.
    this.socket.cork();
    const last = frame.parts.length - 1;
    for (let i = 0; i < last; i++) this.socket.write(frame.parts[i]);
    this.socket.write(frame.parts[last], (error) => {
      this.writing = false;
      if (error) return;
      if (!this.acking) this.lastProgress = performance.now();
      this.sendWaiting();
    });
    this.socket.uncork();
  }
}
