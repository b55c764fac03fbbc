// The rate estimator on its own, driven by synthetic ACK timings from a simulated link: a FIFO
// bottleneck of a given rate with a propagation delay, and a receiver whose clock is offset from
// the sender's (the estimator must need no synchronised clocks). Time here is simulated, so the
// figures asserted are exact consequences of the algorithm, not of this machine's speed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { RateEstimator } from '../lib/net/rate';
import type { FrameTiming } from '../lib/net/outbound';

const FRAME_MS = 1000 / 30;

interface LinkOptions {
  /** Bottleneck rate at simulated time t (ms), bits per second. */
  rateAt: (t: number) => number;
  /** Bytes of the frame sent at t, given the current estimate (bits/s, or null before one). */
  frameBytes: (t: number, estimateBps: number | null) => number;
  seconds: number;
  oneWayMs?: number;
  /** The receiver's clock minus the sender's. */
  clockOffsetMs?: number;
  /** Leave out the arrival times, as an older peer does. */
  untimed?: boolean;
}

/** Runs the link for `seconds`; returns the estimate (bits/s or null) once per simulated 100 ms. */
function simulate(estimator: RateEstimator, options: LinkOptions, from = 0): Array<{ t: number; bps: number | null; queueMs: number | null }> {
  const oneWay = options.oneWayMs ?? 20;
  const offset = options.clockOffsetMs ?? 123_456.789;
  const pending: FrameTiming[] = [];
  const trace: Array<{ t: number; bps: number | null; queueMs: number | null }> = [];
  let linkFreeAt = from;
  let seq = 0;
  let nextTrace = from;
  const end = from + options.seconds * 1000;
  for (let t = from; t < end; t += FRAME_MS) {
    // Every ACK that arrived before this frame is sent.
    pending.sort((a, b) => (a.ackedAt as number) - (b.ackedAt as number));
    while (pending.length > 0 && (pending[0].ackedAt as number) <= t) estimator.onAcked(pending.shift() as FrameTiming);
    while (nextTrace <= t) {
      const e = estimator.estimate;
      trace.push({ t: nextTrace, bps: e?.bps ?? null, queueMs: e?.queueMs ?? null });
      nextTrace += 100;
    }
    const bytes = Math.max(1, Math.round(options.frameBytes(t, estimator.estimate?.bps ?? null)));
    estimator.onSent(bytes, t);
    const bytesPerMs = options.rateAt(t) / 8 / 1000;
    const start = Math.max(t, linkFreeAt);
    linkFreeAt = start + bytes / bytesPerMs;
    const firstByteAt = start + oneWay + offset;
    const lastByteAt = linkFreeAt + oneWay + offset;
    const holdMs = 4; // the receiver decodes before it acks
    const timing: FrameTiming = {
      seq: seq++, bytes, sentAt: t, writtenAt: t, ackedAt: linkFreeAt + oneWay + holdMs + oneWay,
      arrival: options.untimed ? undefined : { firstByteAt, lastByteAt, holdMs },
    };
    pending.push(timing);
  }
  return trace;
}

/** A sender that fills the estimate: each frame is the estimate's share of a frame interval. */
const fillsEstimate = (startBytes: number) => (_t: number, bps: number | null) => (bps === null ? startBytes : (bps * 0.92) / 8 / 30);
const mbit = (bps: number | null) => (bps === null ? null : bps / 1e6);
const after = (trace: Array<{ t: number; bps: number | null }>, t: number) => trace.filter((p) => p.t >= t).map((p) => mbit(p.bps) as number);

describe('rate estimator (synthetic ACK timings)', () => {
  it('gives no estimate until an ACK reports arrival times (an older peer, a Python viewer)', () => {
    const estimator = new RateEstimator();
    simulate(estimator, { rateAt: () => 5e6, frameBytes: () => 10_000, seconds: 3, untimed: true });
    assert.equal(estimator.estimate, null);
  });

  it('finds a link of 5 Mbit/s from a first frame far too large, and settles near it', () => {
    const estimator = new RateEstimator();
    const trace = simulate(estimator, { rateAt: () => 5e6, frameBytes: fillsEstimate(120_000), seconds: 20 });
    const late = after(trace, 10_000);
    assert.ok(Math.max(...late) < 5 * 1.6, `the estimate stays near the link: ${Math.max(...late)} Mbit/s at most`);
    assert.ok(Math.min(...late) > 5 * 0.6, `and does not collapse: ${Math.min(...late)} Mbit/s at least`);
  });

  it('detects a drop from 20 to 5 Mbit/s, and recovers when the link is fast again', () => {
    const estimator = new RateEstimator();
    const rateAt = (t: number) => (t < 20_000 || t >= 30_000 ? 20e6 : 5e6);
    const trace = simulate(estimator, { rateAt, frameBytes: fillsEstimate(50_000), seconds: 45 });
    const before = trace.filter((p) => p.t >= 15_000 && p.t < 20_000).map((p) => mbit(p.bps) as number);
    assert.ok(Math.min(...before) > 12, `at 20 Mbit/s the estimate is high: ${Math.min(...before)} Mbit/s at least`);
    const slow = trace.filter((p) => p.t >= 22_000 && p.t < 30_000).map((p) => mbit(p.bps) as number);
    assert.ok(Math.max(...slow) < 5 * 1.6, `two seconds after the drop the estimate follows the link down: ${Math.max(...slow)} Mbit/s at most`);
    const recovered = after(trace, 38_000);
    assert.ok(Math.min(...recovered) > 12, `eight seconds after the link is fast again, so is the estimate: ${Math.min(...recovered)} Mbit/s at least`);
  });

  it('is not lowered by a sender that sends less than it allows (application-limited)', () => {
    const estimator = new RateEstimator();
    simulate(estimator, { rateAt: () => 20e6, frameBytes: fillsEstimate(50_000), seconds: 15 });
    const established = estimator.estimate!.bps;
    // A still scene: small frames, far below the estimate, on the same fast link.
    const trace = simulate(estimator, { rateAt: () => 20e6, frameBytes: () => 3000, seconds: 10 }, 15_000);
    const lowest = Math.min(...trace.map((p) => p.bps as number));
    assert.ok(lowest >= established * 0.999, `small frames leave the estimate where it was: ${mbit(established)} -> ${mbit(lowest)} Mbit/s`);
    // Nor do they raise it beyond what the last second's sending justified (the sent-rate window
    // still holds the large frames for a second): at most twice the rate in use.
    const highest = Math.max(...trace.map((p) => p.bps as number));
    assert.ok(highest <= established * 2, `nor do they raise it far: ${mbit(highest)} Mbit/s at most`);
    const last = trace.filter((p) => p.t >= 17_000).map((p) => p.bps as number);
    assert.equal(Math.min(...last), Math.max(...last), 'once the large frames are a second old, the estimate holds still');
  });

  it('needs no synchronised clocks: a different clock offset gives the same estimates', () => {
    const run = (clockOffsetMs: number) =>
      simulate(new RateEstimator(), { rateAt: (t) => (t < 8000 ? 10e6 : 3e6), frameBytes: fillsEstimate(60_000), seconds: 16, clockOffsetMs }).map((p) => p.bps);
    const a = run(0);
    const b = run(-987_654.321);
    assert.equal(a.length, b.length);
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs((a[i] ?? 0) - (b[i] ?? 0)) <= Math.abs(a[i] ?? 0) * 1e-6, `sample ${i}: ${a[i]} vs ${b[i]}`);
  });

  it('keeps the queue short once settled: the delay above the minimum stays small on a 2 Mbit/s link', () => {
    const estimator = new RateEstimator();
    const trace = simulate(estimator, { rateAt: () => 2e6, frameBytes: fillsEstimate(40_000), seconds: 30 });
    const queues = trace.filter((p) => p.t >= 10_000).map((p) => p.queueMs as number).sort((x, y) => x - y);
    const p90 = queues[Math.floor(queues.length * 0.9)];
    assert.ok(p90 < 120, `90% of the time the queue is under 120 ms: ${p90.toFixed(1)} ms`);
  });
});
