// The head-up display of the receiver and the chat (h toggles it), and the chat's inset of one's
// own camera (i toggles it): what the lines say is decided here, drawing is media/overlay's.
import type { VideoBackend, VideoFrame } from '../media/backend';
import { drawHudLines, drawInset } from '../media/overlay';
import type { StreamStats } from './stats';

export class Hud {
  shown = true;

  constructor(
    private readonly backend: VideoBackend,
    private readonly lines: () => string[],
  ) {}

  /** h toggles it; true when the key was the HUD's. */
  onKey(key: string): boolean {
    if (key !== 'h') return false;
    this.shown = !this.shown;
    return true;
  }

  draw(frame: VideoFrame): void {
    if (this.shown) drawHudLines(this.backend, frame, this.lines());
  }
}

const ms = (value: number | null) => (value === null ? '-' : `${value.toFixed(0)} ms`);

/** The receiver's line: what arrives, how late, how much was skipped. */
export function receiverHudLines(stats: StreamStats): string[] {
  const { fps, p50 } = stats.recent;
  return [`${fps.toFixed(1)} fps  latency ${ms(p50)}  dropped ${stats.dropped}  (h: hide)`];
}

/** The chat's lines: both directions, the round trip, and what was skipped either way. */
export function chatHudLines(received: StreamStats, sent: StreamStats | undefined, rttMs: number | null, droppedSending: number): string[] {
  const got = received.recent;
  return [
    `in ${got.fps.toFixed(1)} fps ${got.p50 === null ? '' : ms(got.p50)}  out ${sent ? sent.recent.fps.toFixed(1) : '-'} fps`,
    `rtt ${ms(rttMs)}  dropped ${received.dropped + droppedSending}  (h hud, i inset)`,
  ];
}

/** One's own camera in a corner of the partner's picture; keeps the newest own frame. */
export class Inset {
  shown = true;
  private own: VideoFrame | null = null;

  constructor(private readonly backend: VideoBackend) {}

  /** i toggles it; true when the key was the inset's. */
  onKey(key: string): boolean {
    if (key !== 'i') return false;
    this.shown = !this.shown;
    return true;
  }

  /** Takes ownership of `frame`; the previous one is released. */
  keep(frame: VideoFrame): void {
    this.own?.release();
    this.own = frame;
  }

  draw(frame: VideoFrame): void {
    if (this.shown && this.own) drawInset(this.backend, frame, this.own);
  }

  release(): void {
    this.own?.release();
    this.own = null;
  }
}
