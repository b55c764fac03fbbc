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

interface Sample {
  sentAt: number;
  bytes: number;
  firstByteAt: number;
  lastByteAt: number;
  /** One-way delay plus the clocks' offset: only differences mean anything. */
  delay: number;
}

/** Lowest and highest targets: below 100 kbit/s nothing useful is shown; above, no link limits us. */
export const MIN_RATE_BPS = 100_000;
export const MAX_RATE_BPS = 1_000_000_000;
/** The target after a growing queue, as a share of the rate that arrived. */
export const DECREASE_FACTOR = 0.85;
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
/** Sent-rate window: below APP_LIMITED of the target, the sender did not use it (so the target stays within 2x of what is sent: enough to step up past the largest gap between two points, quality 80 to 90 being 1.6x the bytes). */
const SENT_WINDOW_MS = 1000;
const APP_LIMITED = 0.5;

export class RateEstimator {
  private readonly minBps: number;
  private readonly maxBps: number;
  private samples: Sample[] = [];
  private sent: Array<{ at: number; bytes: number }> = [];
  private firstSentAt: number | null = null;
  private rtts: Array<{ at: number; rttMs: number }> = [];
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
    this.sent.push({ at, bytes });
    while (this.sent.length > 0 && this.sent[0].at < at - SENT_WINDOW_MS) this.sent.shift();
    if (this.sent.length > MAX_SAMPLES) this.sent.shift();
  }

  /** A frame was acknowledged; only ACKs that carry the frame's arrival times are used. */
  onAcked(timing: FrameTiming): void {
    const { arrival, ackedAt } = timing;
    if (!arrival || ackedAt === undefined) return;
    const now = ackedAt;
    const sample: Sample = { sentAt: timing.sentAt, bytes: timing.bytes, firstByteAt: arrival.firstByteAt, lastByteAt: arrival.lastByteAt, delay: arrival.firstByteAt - timing.sentAt };
    this.samples.push(sample);
    while (this.samples.length > MAX_SAMPLES || (this.samples.length > 1 && this.samples[0].sentAt < now - BASE_WINDOW_MS)) this.samples.shift();
    this.rtts.push({ at: now, rttMs: Math.max(0, now - timing.sentAt - arrival.holdMs) });
    while (this.rtts.length > MAX_SAMPLES || this.rtts[0].at < now - BASE_WINDOW_MS) this.rtts.shift();

    let baseDelay = Infinity;
    for (const s of this.samples) baseDelay = Math.min(baseDelay, s.delay);
    const queueMs = sample.delay - baseDelay;
    const deliveredBps = this.delivered(sample.lastByteAt);
    const queuedBps = this.queuedRate(baseDelay);
    const sentBps = this.sentRate(now);
    let rttMs = Infinity;
    for (const r of this.rtts) rttMs = Math.min(rttMs, r.rttMs);

    if (this.bps === null) {
      // The first frame is the first probe: its own delivery rate, as fast as the path showed.
      const span = sample.lastByteAt - sample.firstByteAt;
      this.bps = span > 1 ? (sample.bytes * 8 * 1000) / span : this.maxBps;
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
    let bytes = 0;
    let from = newestLastByte;
    for (let i = this.samples.length - 1; i >= 0; i--) {
      const s = this.samples[i];
      if (s.lastByteAt < newestLastByte - TREND_WINDOW_MS) break;
      bytes += s.bytes;
      from = Math.min(from, s.firstByteAt);
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
    let bytes = 0;
    let count = 0;
    let from = 0;
    const newest = this.samples[this.samples.length - 1];
    for (let i = this.samples.length - 1; i >= 0; i--) {
      const s = this.samples[i];
      if (s.delay - baseDelay < QUEUED_MS || s.lastByteAt < newest.lastByteAt - TREND_WINDOW_MS) break;
      bytes += s.bytes;
      count++;
      from = s.firstByteAt;
    }
    const span = newest.lastByteAt - from;
    // The oldest frame's bytes arrived within the span too: it started it.
    return count >= 2 && span > 0 ? (bytes * 8 * 1000) / span : null;
  }

  private sentRate(now: number): number {
    let bytes = 0;
    for (const s of this.sent) if (s.at >= now - SENT_WINDOW_MS) bytes += s.bytes;
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
    for (let i = this.samples.length - 1; i >= 0; i--) {
      const s = this.samples[i];
      if (s.sentAt < now - TREND_WINDOW_MS) break;
      const x = s.sentAt - now;
      const y = s.delay - baseDelay;
      n++;
      sumX += x;
      sumY += y;
      sumXX += x * x;
      sumXY += x * y;
      first = s.sentAt;
    }
    if (n < MIN_TREND_SAMPLES) return null;
    const denominator = n * sumXX - sumX * sumX;
    if (denominator <= 0) return null;
    const slope = (n * sumXY - sumX * sumY) / denominator;
    return slope * (now - first);
  }
}
