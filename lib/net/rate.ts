// How fast one connection's path can take frames, from the times its ACKs report, in the spirit
// of Google Congestion Control (draft-ietf-rmcat-gcc): a delay-based detector tells whether the
// queue on the path is growing, and an AIMD controller moves a target rate accordingly.
//
// - Queue: the receiver reports when each frame's first byte arrived, by its own clock. That
//   minus the send time is the one-way delay plus an unknown constant clock offset; above its
//   minimum over the last seconds, it is the time the frame queued (in the kernel's send buffer,
//   in a router). No synchronised clocks are needed.
// - Trend: a line fitted through the queue delays of the last half second. A rising line is a
//   queue being built, seen before it is long; a long queue that is not rising is a standing one.
// - Control: on a growing (or standing) queue, the target drops to 0.85x the rate the receiver
//   saw arriving (the link's rate, since it was busy); otherwise it rises multiplicatively: fast
//   while far from the rate that last overused, gently near it. A sender that does not use its
//   target (a still scene, a small picture) is application-limited: the target then neither rises
//   (nothing was probed) nor falls (nothing was learnt about the link).
import type { FrameTiming } from './outbound';

export type RateState = 'start' | 'increase' | 'hold' | 'decrease';

export interface RateEstimate {
  /** The target send rate, bits per second. */
  bps: number;
  /** What the receiver saw arriving over the last half second, bits per second; null when unknown. */
  deliveredBps: number | null;
  /** The link's rate the last time the queue grew: what arrived while frames queued. */
  linkBps: number | null;
  /** What was handed to the socket over the last second, bits per second. */
  sentBps: number;
  /** The smallest round trip seen lately (the receiver's decode time taken out), ms. */
  rttMs: number | null;
  /** How long the newest frame queued on the path, ms. */
  queueMs: number;
  state: RateState;
}

export interface RateEstimatorOptions {
  minBps?: number;
  maxBps?: number;
}

/** Lowest and highest targets: below 100 kbit/s nothing useful is shown; above, no link limits us. */
const MIN_RATE_BPS = 100_000;
const MAX_RATE_BPS = 1_000_000_000;
/** The target after a growing queue, as a share of the rate that arrived. */
const DECREASE_FACTOR = 0.85;
/** Growth per second before the first overuse (the start's probe), far from the last one, and near it. */
const STARTUP_GROWTH = 2;
const FAST_GROWTH = 1.5;
const GENTLE_GROWTH = 1.2;
/** Near the last overuse: up to this multiple of the rate that overused. */
const NEAR_LAST_OVERUSE = 1.1;
/** The window of the trend line and of the delivered rate, ms. */
const TREND_WINDOW_MS = 500;
const MIN_TREND_SAMPLES = 5;
/** A queue that grew by this much over the trend window is being built. */
const GROWTH_OVERUSE_MS = 8;
/** ...once it is at least this long (a few ms of jitter is not a queue). */
const MIN_QUEUE_MS = 12;
/** A queue this long is too long even if it is not growing. */
const STANDING_QUEUE_MS = 50;
/** A frame whose first byte waited this long had the link busy before it. */
const QUEUED_MS = 3;
/** After a decrease, the next waits at most this long for the queue to drain, ms. */
const MAX_DRAIN_WAIT_MS = 1000;
/** After a decrease, wait for the queue to drain below this before rising again. */
const DRAINED_QUEUE_MS = 10;
/** The base delay and the smallest round trip are the minimum over this long, ms. */
const BASE_WINDOW_MS = 10_000;
const MAX_SAMPLES = 600;
const MAX_SENT_RECORDS = 2048;
/** Sent-rate window: below APP_LIMITED of the target, the sender did not use it (so the target stays within 2x of what is sent: enough to step up past the largest gap between two points, quality 80 to 90 being 1.6x the bytes). */
const SENT_WINDOW_MS = 1000;
const APP_LIMITED = 0.5;

/**
 * A window of numeric records, oldest first, in preallocated typed arrays. An ACK comes with every
 * frame; records kept for seconds as objects would each be promoted to V8's old space and die
 * there, and the heap grew by 16 MB over 30,000 frames at 750 fps. These allocate nothing.
 */
class RecordWindow<Field extends string> {
  readonly column: Record<Field, Float64Array>;
  private first = 0;
  length = 0;

  constructor(
    readonly capacity: number,
    fields: readonly Field[],
  ) {
    this.column = Object.fromEntries(fields.map((field) => [field, new Float64Array(capacity)])) as Record<Field, Float64Array>;
  }

  /** Where the i-th record is, oldest first. */
  slot(i: number): number {
    return (this.first + i) % this.capacity;
  }

  /** Where to write a new record: the oldest is dropped when the window is full. */
  add(): number {
    if (this.length === this.capacity) this.dropOldest();
    return this.slot(this.length++);
  }

  dropOldest(): void {
    this.first = (this.first + 1) % this.capacity;
    this.length--;
  }
}

export class RateEstimator {
  private readonly minBps: number;
  private readonly maxBps: number;
  /** Acknowledged frames: when sent (our clock), bytes, first and last byte (the receiver's clock), and
   * one-way delay plus the clocks' offset (only its differences mean anything). */
  private readonly samples = new RecordWindow(MAX_SAMPLES, ['sentAt', 'bytes', 'firstByteAt', 'lastByteAt', 'delay', 'rttMs'] as const);
  /** Frames handed to the socket over the last second (unpaced on a LAN: hundreds). */
  private readonly sent = new RecordWindow(MAX_SENT_RECORDS, ['at', 'bytes'] as const);
  private firstSentAt: number | null = null;
  private bps: number | null = null;
  private state: RateState = 'start';
  private lastUpdate = 0;
  /** Frames sent before this (ms) met the queue that the last decrease was about. */
  private decreaseSettlesAt = -Infinity;
  /** The delivered rate when the queue last grew: the link's rate then. */
  private overusedAt: number | null = null;
  private latest: RateEstimate | null = null;

  constructor(options: RateEstimatorOptions = {}) {
    this.minBps = options.minBps ?? MIN_RATE_BPS;
    this.maxBps = options.maxBps ?? MAX_RATE_BPS;
  }

  /** The estimate, or null until a frame's ACK has reported its arrival. */
  get estimate(): RateEstimate | null {
    return this.latest;
  }

  /** A frame of `bytes` was handed to the socket at `at` (ms, the sender's clock). */
  onSent(bytes: number, at: number): void {
    this.firstSentAt ??= at;
    const { sent } = this;
    while (sent.length > 0 && sent.column.at[sent.slot(0)] < at - SENT_WINDOW_MS) sent.dropOldest();
    const slot = sent.add();
    sent.column.at[slot] = at;
    sent.column.bytes[slot] = bytes;
  }

  /** A frame was acknowledged; only ACKs that carry the frame's arrival times are used. */
  onAcked(timing: FrameTiming): void {
    const { arrival, ackedAt } = timing;
    if (!arrival || ackedAt === undefined) return;
    const now = ackedAt;
    const { samples } = this;
    const { sentAt, delay: delays, rttMs: rtts } = samples.column;
    while (samples.length > 0 && sentAt[samples.slot(0)] < now - BASE_WINDOW_MS) samples.dropOldest();
    const slot = samples.add();
    sentAt[slot] = timing.sentAt;
    samples.column.bytes[slot] = timing.bytes;
    samples.column.firstByteAt[slot] = arrival.firstByteAt;
    samples.column.lastByteAt[slot] = arrival.lastByteAt;
    delays[slot] = arrival.firstByteAt - timing.sentAt;
    rtts[slot] = Math.max(0, now - timing.sentAt - arrival.holdMs);

    let baseDelay = Infinity;
    let rttMs = Infinity;
    for (let i = 0; i < samples.length; i++) {
      const at = samples.slot(i);
      baseDelay = Math.min(baseDelay, delays[at]);
      rttMs = Math.min(rttMs, rtts[at]);
    }
    const queueMs = delays[slot] - baseDelay;
    const deliveredBps = this.delivered(arrival.lastByteAt);
    const queuedBps = this.queuedRate(baseDelay);
    const sentBps = this.sentRate(now);

    if (this.bps === null) {
      // The first frame is the first probe: its own delivery rate, as fast as the path showed.
      const span = arrival.lastByteAt - arrival.firstByteAt;
      this.bps = span > 1 ? (timing.bytes * 8 * 1000) / span : this.maxBps;
      this.lastUpdate = now;
    }
    const elapsed = Math.min(200, Math.max(0, now - this.lastUpdate)) / 1000;
    this.lastUpdate = now;
    const growth = this.queueGrowth(baseDelay, now);

    const overused = queueMs > STANDING_QUEUE_MS || (growth !== null && growth > GROWTH_OVERUSE_MS && queueMs > MIN_QUEUE_MS);
    const appLimited = sentBps < APP_LIMITED * this.bps;
    if (overused) {
      // Only frames sent once the queue seen at the last decrease has had time to drain say
      // whether that decrease was enough: the ones before meet a queue built at the old rate.
      if (timing.sentAt > this.decreaseSettlesAt) {
        // A queue that grows means the link, not the sender, set the pace: what arrived while
        // frames queued is its rate. (Over the whole window, the link also idled between frames
        // sent below its rate, and what arrived would understate it.)
        const arrived = queuedBps ?? deliveredBps;
        const linkBps = arrived !== null && arrived < this.bps ? arrived : this.bps;
        this.bps = DECREASE_FACTOR * linkBps;
        this.overusedAt = linkBps;
        // At 0.85x the link's rate, a queue of Q ms drains in Q / 0.15 ms.
        this.decreaseSettlesAt = now + Math.min(MAX_DRAIN_WAIT_MS, queueMs / (1 - DECREASE_FACTOR)) + Math.max(100, rttMs);
      }
      this.state = 'decrease';
    } else if (this.state === 'decrease' || this.state === 'hold') {
      // The queue built before the decrease drains first; rising now would refill it.
      this.state = queueMs < DRAINED_QUEUE_MS ? 'increase' : 'hold';
    } else if (!appLimited) {
      const near = this.overusedAt !== null && this.bps < NEAR_LAST_OVERUSE * this.overusedAt;
      const perSecond = this.state === 'start' ? STARTUP_GROWTH : near ? GENTLE_GROWTH : FAST_GROWTH;
      this.bps *= perSecond ** elapsed;
    }
    this.bps = Math.min(this.maxBps, Math.max(this.minBps, this.bps));
    this.latest = { bps: this.bps, deliveredBps, linkBps: this.overusedAt, sentBps, rttMs: Number.isFinite(rttMs) ? rttMs : null, queueMs, state: this.state };
  }

  /** Bits per second that arrived over the last trend window, by the receiver's clock. */
  private delivered(newestLastByte: number): number | null {
    const { samples } = this;
    const { bytes: sizes, firstByteAt, lastByteAt } = samples.column;
    let bytes = 0;
    let from = newestLastByte;
    for (let i = samples.length - 1; i >= 0; i--) {
      const at = samples.slot(i);
      if (lastByteAt[at] < newestLastByte - TREND_WINDOW_MS) break;
      bytes += sizes[at];
      from = Math.min(from, firstByteAt[at]);
    }
    const span = newestLastByte - from;
    return span >= 20 ? (bytes * 8 * 1000) / span : null;
  }

  /**
   * Bits per second that arrived while the link was busy: from the first byte of the oldest frame
   * of the latest run of frames that queued (first-byte delay above the base) to the newest's last
   * byte. Null with fewer than two such frames.
   */
  private queuedRate(baseDelay: number): number | null {
    const { samples } = this;
    const { bytes: sizes, firstByteAt, lastByteAt, delay } = samples.column;
    const newestLastByte = lastByteAt[samples.slot(samples.length - 1)];
    let bytes = 0;
    let count = 0;
    let from = 0;
    for (let i = samples.length - 1; i >= 0; i--) {
      const at = samples.slot(i);
      if (delay[at] - baseDelay < QUEUED_MS || lastByteAt[at] < newestLastByte - TREND_WINDOW_MS) break;
      bytes += sizes[at];
      count++;
      from = firstByteAt[at];
    }
    const span = newestLastByte - from;
    // The oldest frame's bytes arrived within the span too: it started it.
    return count >= 2 && span > 0 ? (bytes * 8 * 1000) / span : null;
  }

  private sentRate(now: number): number {
    const { sent } = this;
    let bytes = 0;
    for (let i = 0; i < sent.length; i++) {
      const at = sent.slot(i);
      if (sent.column.at[at] >= now - SENT_WINDOW_MS) bytes += sent.column.bytes[at];
    }
    // In the first second, over the time there was.
    const window = Math.min(SENT_WINDOW_MS, Math.max(100, now - (this.firstSentAt ?? now)));
    return (bytes * 8 * 1000) / window;
  }

  /** How much the queue grew over the trend window (a least-squares line), ms; null with too few samples. */
  private queueGrowth(baseDelay: number, now: number): number | null {
    let n = 0;
    let sumX = 0;
    let sumY = 0;
    let sumXX = 0;
    let sumXY = 0;
    let first = now;
    const { samples } = this;
    const { sentAt, delay } = samples.column;
    for (let i = samples.length - 1; i >= 0; i--) {
      const at = samples.slot(i);
      if (sentAt[at] < now - TREND_WINDOW_MS) break;
      const x = sentAt[at] - now;
      const y = delay[at] - baseDelay;
      n++;
      sumX += x;
      sumY += y;
      sumXX += x * x;
      sumXY += x * y;
      first = sentAt[at];
    }
    if (n < MIN_TREND_SAMPLES) return null;
    const denominator = n * sumXX - sumX * sumX;
    if (denominator <= 0) return null;
    const slope = (n * sumXY - sumX * sumY) / denominator;
    return slope * (now - first);
  }
}
