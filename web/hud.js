// @ts-check
// The head-up display: what arrives (rate, latency, size, coding), what the link carries, what was
// lost, and in a chat what we send. The numbers are kept here; app.js says when to show them.

const LATENCY_WINDOW = 30;
const FPS_WINDOW_MS = 2000;

/** Frames drawn: their rate over the last two seconds and the median capture-to-draw latency of the last 30. */
export class FrameStats {
  /** @type {number[]} */
  #drawnAt = [];
  /** @type {number[]} */
  #latencies = [];

  /** @param {number | null} latencyMs */
  add(latencyMs) {
    this.#drawnAt.push(performance.now());
    if (latencyMs === null) return;
    this.#latencies.push(latencyMs);
    if (this.#latencies.length > LATENCY_WINDOW) this.#latencies.shift();
  }

  get fps() {
    const since = performance.now() - FPS_WINDOW_MS;
    while (this.#drawnAt.length > 0 && this.#drawnAt[0] < since) this.#drawnAt.shift();
    return this.#drawnAt.length / (FPS_WINDOW_MS / 1000);
  }

  /** @returns {number | null} */
  get latencyMs() {
    if (this.#latencies.length === 0) return null;
    const sorted = [...this.#latencies].sort((a, b) => a - b);
    const middle = sorted.length >> 1;
    return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
  }
}

/** @param {number} bps */
export const mbits = (bps) => `${(bps / 1e6).toFixed(bps < 1e7 ? 1 : 0)} Mbit/s`;
/** @param {number | null} value */
const ms = (value) => (value === null ? '-' : `${value.toFixed(0)} ms`);

/**
 * @typedef {import('./video.js').Shown} Shown
 * @typedef {{ width: number, height: number, sent: number, problem: string | null }} Outgoing
 * @typedef {{ fps: number, latencyMs: number | null, shown: Shown | null, dropped: number, rttMs: number | null,
 *   outgoing: Outgoing | null, insecure: boolean }} HudState
 */

/** How the newest picture was coded: JPEG's quality, or a video codec and its bitrate. @param {Shown} shown */
function coding(shown) {
  if (shown.codec !== 'jpeg') return `${shown.codec} ${mbits(shown.bitrateBps ?? 0)}`;
  return shown.quality === null ? 'jpeg' : `jpeg q${shown.quality}`;
}

/** @param {HudState} state @returns {string[]} */
export function hudLines(state) {
  const { shown, outgoing } = state;
  let size = '';
  if (shown) {
    const full = shown.width === shown.fullWidth && shown.height === shown.fullHeight ? '' : ` of ${shown.fullWidth}x${shown.fullHeight}`;
    size = `  ${shown.width}x${shown.height}${full} ${coding(shown)}`;
  }
  const lines = [`${state.fps.toFixed(0)} fps  latency ${ms(state.latencyMs)}${size}`];
  const second = [];
  if (shown?.estimateBps) second.push(`link ~${mbits(shown.estimateBps)}`);
  second.push(`dropped ${state.dropped}`);
  if (outgoing) {
    second.push(`rtt ${ms(state.rttMs)}`);
    second.push(outgoing.width ? `out ${outgoing.width}x${outgoing.height} jpeg, ${outgoing.sent} sent` : `out -, ${outgoing.sent} sent`);
  }
  lines.push(second.join('  '));
  if (outgoing?.problem) lines.push(`camera: ${outgoing.problem}`);
  if (state.insecure) lines.push('unencrypted');
  return lines;
}
