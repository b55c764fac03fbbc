// Per-second and final statistics, printed as one JSON object per line on stdout (--stats), so
// scripts and the benchmark can read them while humans read stderr.

export interface StatsSnapshot {
  event: 'stats';
  role: string;
  frames: number;
  fps: number;
  kbps: number;
  bytesPerFrame: number;
  dropped: number;
  latencyMs: { p50: number | null; p99: number | null };
  final?: boolean;
  [extra: string]: unknown;
}

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return Math.round(sorted[index] * 100) / 100;
}

const MAX_SAMPLES = 100_000;

export class StreamStats {
  frames = 0;
  bytes = 0;
  dropped = 0;
  private readonly started = performance.now();
  private intervalStart = performance.now();
  private intervalFrames = 0;
  private intervalBytes = 0;
  private intervalLatency: number[] = [];
  private readonly allLatency: number[] = [];
  /** The last interval's figures, for the HUD. */
  recent = { fps: 0, kbps: 0, p50: null as number | null };

  constructor(readonly role: string) {}

  addFrame(bytes: number, latencyMs?: number): void {
    this.frames++;
    this.bytes += bytes;
    this.intervalFrames++;
    this.intervalBytes += bytes;
    if (latencyMs !== undefined && Number.isFinite(latencyMs)) {
      this.intervalLatency.push(latencyMs);
      if (this.allLatency.length < MAX_SAMPLES) this.allLatency.push(latencyMs);
    }
  }

  addDropped(count = 1): void {
    this.dropped += count;
  }

  /** Figures since the previous call, and starts a new interval. */
  interval(extra: Record<string, unknown> = {}): StatsSnapshot {
    const now = performance.now();
    const seconds = Math.max(1e-3, (now - this.intervalStart) / 1000);
    const sorted = this.intervalLatency.sort((a, b) => a - b);
    const snapshot = this.snapshot(this.intervalFrames, this.intervalBytes, seconds, sorted, extra);
    this.recent = { fps: snapshot.fps, kbps: snapshot.kbps, p50: snapshot.latencyMs.p50 };
    this.intervalStart = now;
    this.intervalFrames = 0;
    this.intervalBytes = 0;
    this.intervalLatency = [];
    return snapshot;
  }

  /** Figures for the whole run. */
  total(extra: Record<string, unknown> = {}): StatsSnapshot {
    const seconds = Math.max(1e-3, (performance.now() - this.started) / 1000);
    const sorted = [...this.allLatency].sort((a, b) => a - b);
    return { ...this.snapshot(this.frames, this.bytes, seconds, sorted, extra), final: true };
  }

  private snapshot(frames: number, bytes: number, seconds: number, sorted: number[], extra: Record<string, unknown>): StatsSnapshot {
    return {
      event: 'stats',
      role: this.role,
      frames: this.frames,
      fps: Math.round((frames / seconds) * 10) / 10,
      kbps: Math.round((bytes * 8) / 1000 / seconds),
      bytesPerFrame: frames > 0 ? Math.round(bytes / frames) : 0,
      dropped: this.dropped,
      latencyMs: { p50: percentile(sorted, 50), p99: percentile(sorted, 99) },
      ...extra,
    };
  }
}

/** Prints a stats line each second while running, and the final one on stop. */
export class StatsPrinter {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly sources: Array<{ stats: StreamStats; extra?: () => Record<string, unknown> }>,
    private readonly print: boolean,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      for (const { stats, extra } of this.sources) {
        const line = stats.interval(extra?.() ?? {});
        if (this.print) process.stdout.write(`${JSON.stringify(line)}\n`);
      }
    }, 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (!this.print) return;
    for (const { stats, extra } of this.sources) process.stdout.write(`${JSON.stringify(stats.total(extra?.() ?? {}))}\n`);
  }
}
