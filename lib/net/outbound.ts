// The sending half of a connection: newest frame wins. Live video is not a file transfer: when a
// peer (or its link) is slower than the camera, queueing frames only adds lag. At most one frame
// is being written and one waits; a newer frame replaces the waiting one, which is counted as
// dropped.
//
// The write callback only says a frame reached the kernel, whose send buffer can hold seconds of
// video on a slow link. So cvchat receivers acknowledge each frame they decode (ACK with its
// sequence number), and once a peer has acknowledged anything, at most MAX_UNACKED frames may be
// in flight to it. An ack of frame S covers every older frame too (the receiver drops old frames
// unseen), so dropped frames cannot wedge the count. Peers that never ack (plain Python
// receivers) keep the write-callback pacing.
//
// Each frame's send, write and ack times are kept while it is in flight and reported when it is
// acknowledged: what a rate estimate needs.
//
// A peer known to ACK (`awaitFirstAck`: every peer inside TLS is a cvchat) gets its first frame
// alone: the next waits for the first ACK, for FIRST_ACK_WAIT_MS at most. That ACK says how fast
// the path is and which codecs the peer takes; without the wait, frames sent blind behind the
// first queue on a slow link (at 2 Mbit/s, 720p JPEGs of half a second each) before either is known.
import { DEFAULT_STALL_TIMEOUT_MS, FIRST_ACK_WAIT_MS, MAX_TRACKED_FRAMES, MAX_UNACKED } from '../base/limits';
import type { FrameArrival } from '../wire/control';

export interface OutgoingFrame {
  /** What goes on the wire, in order (see wire/meta wireParts). Shared by all peers, never copied. */
  parts: Buffer[];
  seq: number;
}

/** One frame's life on a connection, in performance.now() milliseconds. */
export interface FrameTiming {
  seq: number;
  /** Bytes on the wire, length header included. */
  bytes: number;
  /** When the frame was handed to the socket. */
  sentAt: number;
  /** When the socket took the last byte (the kernel has it); undefined while it has not. */
  writtenAt: number | undefined;
  /** When the peer's ACK arrived; undefined until then. */
  ackedAt: number | undefined;
  /** When the frame reached the peer, by the peer's clock, if its ACK said. */
  arrival?: FrameArrival;
}

/** The socket side, as much of it as the writer uses (a net.Socket or tls.TLSSocket). */
export interface FrameWriterSocket {
  readonly destroyed: boolean;
  readonly writable: boolean;
  cork(): void;
  uncork(): void;
  write(chunk: Buffer, callback?: (error?: Error | null) => void): boolean;
}

export interface FrameWriterEvents {
  /** The peer could take a frame now (a demand-driven source reads one). */
  ready(): void;
  /** A frame has waited for the peer for the whole stall timeout: the caller cuts it off. */
  stalled(): void;
  /** A frame was handed to the socket. */
  sent?(timing: FrameTiming): void;
  /** The peer acknowledged a frame: its timing, ackedAt (and arrival, if the peer said) filled in. */
  acked(timing: FrameTiming): void;
}

/** Sequence numbers wrap at 2^32: true when `a` is `b` or older. */
function notNewer(a: number, b: number): boolean {
  return ((b - a) >>> 0) < 2 ** 31;
}

export class FrameWriter {
  private writing = false;
  private waiting: OutgoingFrame | null = null;
  private acking = false;
  /** Frames sent and not yet covered by an ack, oldest first. */
  private inFlight: FrameTiming[] = [];
  /** The last time the peer took something: a write finished, an ack came, or a write began from idle. */
  private lastProgress = performance.now();
  private stallTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Frames replaced by a newer one before they could be sent. */
  dropped = 0;
  /** While the first frame waits for its ACK (see awaitFirstAck), ends that wait after FIRST_ACK_WAIT_MS. */
  private firstAckTimer: NodeJS.Timeout | undefined;
  private firstAckWaited = false;

  constructor(
    private readonly socket: FrameWriterSocket,
    private readonly events: FrameWriterEvents,
    private readonly stallTimeoutMs = DEFAULT_STALL_TIMEOUT_MS,
    private readonly awaitFirstAck = false,
  ) {
    this.checkStall = this.checkStall.bind(this);
  }

  /** True when a frame offered now would be written at once. */
  get ready(): boolean {
    return !this.writing && !(this.acking && this.inFlight.length >= MAX_UNACKED) && !this.awaitingFirstAck && !this.socket.destroyed && !this.closed;
  }

  /** The first frame is out, and the peer that will ACK has not yet (for FIRST_ACK_WAIT_MS at most). */
  private get awaitingFirstAck(): boolean {
    return this.awaitFirstAck && !this.acking && !this.firstAckWaited && this.inFlight.length > 0;
  }

  /**
   * True when a frame offered now would be written at once or wait without replacing another:
   * a demand-driven source encodes one frame ahead, so it leaves the moment the peer can take it.
   */
  get wantsFrame(): boolean {
    return !this.socket.destroyed && !this.closed && (this.ready || this.waiting === null);
  }

  /** Frames sent and not yet acknowledged (or, for a peer that does not ack, not yet written). */
  get unacknowledged(): number {
    return this.acking ? this.inFlight.length : this.writing ? 1 : 0;
  }

  /** Sends now if the peer can take it, else keeps this one as the next to send. */
  offer(frame: OutgoingFrame): void {
    if (this.closed || this.socket.destroyed || !this.socket.writable) return;
    if (!this.ready) {
      if (this.waiting) this.dropped++;
      this.waiting = frame;
      return;
    }
    this.write(frame);
  }

  /** The peer has decoded frame `seq`, and so is done with every older one. */
  ack(seq: number, arrival?: FrameArrival): void {
    this.acking = true;
    clearTimeout(this.firstAckTimer);
    const now = performance.now();
    this.lastProgress = now;
    let covered = 0;
    while (covered < this.inFlight.length && notNewer(this.inFlight[covered].seq, seq)) covered++;
    const acked = this.inFlight.slice(0, covered);
    this.inFlight = this.inFlight.slice(covered);
    for (const timing of acked) {
      if (timing.seq !== seq) continue; // dropped unseen at the receiver: no ack of its own
      timing.ackedAt = now;
      timing.arrival = arrival;
      this.events.acked(timing);
    }
    this.sendWaiting();
  }

  /** Forgets the frame waiting to be sent, if any (counted as dropped): it is no longer wanted. */
  dropWaiting(): void {
    if (this.waiting) this.dropped++;
    this.waiting = null;
  }

  /** Stops the stall watch and forgets what was waiting; the socket is the caller's to close. */
  close(): void {
    this.closed = true;
    this.waiting = null;
    clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
    clearTimeout(this.firstAckTimer);
  }

  private sendWaiting(): void {
    if (!this.ready) return;
    const next = this.waiting;
    this.waiting = null;
    if (next) this.write(next);
    this.events.ready(); // the waiting slot is free either way
  }

  private write(frame: OutgoingFrame): void {
    const now = performance.now();
    // The peer was idle until now (nothing to send), not slow: the stall clock starts here.
    if (this.unacknowledged === 0) this.lastProgress = now;
    this.writing = true;
    let bytes = 0;
    for (const part of frame.parts) bytes += part.length;
    const timing: FrameTiming = { seq: frame.seq, bytes, sentAt: now, writtenAt: undefined, ackedAt: undefined };
    this.inFlight.push(timing);
    if (this.awaitFirstAck && !this.acking && !this.firstAckTimer) {
      this.firstAckTimer = setTimeout(() => {
        this.firstAckWaited = true;
        this.lastProgress = performance.now(); // the wait was ours, not the peer's
        this.sendWaiting();
      }, FIRST_ACK_WAIT_MS);
      this.firstAckTimer.unref();
    }
    if (this.inFlight.length > MAX_TRACKED_FRAMES) this.inFlight.shift(); // a peer that stopped acking: bounded
    this.events.sent?.(timing);
    // One writev per frame: the parts as they are, no concatenation.
    this.socket.cork();
    const last = frame.parts.length - 1;
    for (let i = 0; i < last; i++) this.socket.write(frame.parts[i]);
    this.socket.write(frame.parts[last], (error) => {
      this.writing = false;
      if (error || this.closed) return;
      timing.writtenAt = performance.now();
      if (!this.acking) this.lastProgress = timing.writtenAt;
      this.sendWaiting();
    });
    this.socket.uncork();
    this.watchStall();
  }

  /** While a frame is owed to the peer, a timer checks that it keeps taking them (even when no new frame is offered). */
  private watchStall(): void {
    if (this.stallTimer || this.ready) return;
    const left = this.stallTimeoutMs - (performance.now() - this.lastProgress);
    this.stallTimer = setTimeout(this.checkStall, Math.max(0, left));
    this.stallTimer.unref();
  }

  private checkStall(): void {
    this.stallTimer = undefined;
    // Waiting for the first ACK once the kernel has the first frame is this side's choice, not the
    // peer's slowness: the watch starts again when the wait ends and the next frame goes.
    if (this.closed || this.ready || (this.awaitingFirstAck && !this.writing)) return;
    if (performance.now() - this.lastProgress >= this.stallTimeoutMs) {
      this.waiting = null;
      this.events.stalled();
      return;
    }
    this.watchStall();
  }
}
