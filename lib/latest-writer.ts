// Newest frame wins on the way out. Live video is not a file transfer: when a viewer (or its
// link) is slower than the camera, queueing frames only adds lag. Each viewer has at most one
// frame being written and one waiting; a newer frame replaces the waiting one, which is counted
// as dropped.
import type { Socket } from 'node:net';

export interface OutgoingFrame {
  /** What goes on the wire, in order (see protocol.wireParts). Shared by all viewers, never copied. */
  parts: Buffer[];
}

/** A viewer that has not taken a whole frame for this long is cut off, freeing its slot. */
export const DEFAULT_STALL_TIMEOUT_MS = 20_000;

export class LatestFrameWriter {
  private writing = false;
  private writingSince = 0;
  private waiting: OutgoingFrame | null = null;
  dropped = 0;

  constructor(
    private readonly socket: Socket,
    private readonly onStalled: () => void = () => undefined,
    private readonly stallTimeoutMs = DEFAULT_STALL_TIMEOUT_MS,
  ) {}

  /** Sends now if the previous frame has left, else keeps this one as the next to send. */
  offer(frame: OutgoingFrame): void {
    if (this.socket.destroyed || !this.socket.writable) return;
    if (this.writing && performance.now() - this.writingSince > this.stallTimeoutMs) {
      this.waiting = null;
      this.onStalled();
      return;
    }
    if (this.writing) {
      if (this.waiting) this.dropped++;
      this.waiting = frame;
      return;
    }
    this.write(frame);
  }

  private write(frame: OutgoingFrame): void {
    this.writing = true;
    this.writingSince = performance.now();
    // One writev per frame: the parts as they are, no concatenation.
    this.socket.cork();
    const last = frame.parts.length - 1;
    for (let i = 0; i < last; i++) this.socket.write(frame.parts[i]);
    this.socket.write(frame.parts[last], (error) => {
      this.writing = false;
      if (error) return;
      const next = this.waiting;
      this.waiting = null;
      if (next) this.offer(next);
    });
    this.socket.uncork();
  }
}
