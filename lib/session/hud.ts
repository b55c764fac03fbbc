// The head-up display of the receiver and the chat (h toggles it), and the chat's inset of one's
// own camera (i toggles it): what the lines say is decided here, drawing is media/overlay's.
import type { Size, VideoBackend, VideoFrame } from '../media/backend';
import { drawHudLines, drawInset } from '../media/overlay';
import type { PointMeta } from '../wire/meta';
import type { SendingStatus } from './sinks';
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
const mbits = (bps: number) => `${(bps / 1e6).toFixed(bps < 1e7 ? 1 : 0)} Mbit/s`;

/** How a frame was coded: JPEG's quality, or a video codec and its bitrate. */
const coding = (codec: string | undefined, quality: number, bitrateBps: number | null | undefined) =>
  codec && codec !== 'jpeg' ? `${codec} ${mbits(bitrateBps ?? 0)}` : `q${quality}`;

/** An adapted frame: its size and coding against the stream's, and the sender's estimate of the link. */
function pointLine(point: PointMeta): string {
  const size = point.width === point.fullWidth && point.height === point.fullHeight ? `${point.width}x${point.height}` : `${point.width}x${point.height} of ${point.fullWidth}x${point.fullHeight}`;
  // A video stream without an estimate (--no-adapt at the sender) has a fixed bitrate.
  const link = point.codec && point.estimateBps === 0 ? 'fixed rate' : `link ~${mbits(point.estimateBps)}`;
  return `${size} ${coding(point.codec, point.quality, point.bitrateBps)}  ${link}`;
}

/** The receiver's lines: what arrives, how late, how much was skipped, and how the sender adapts it. */
export function receiverHudLines(stats: StreamStats, point?: PointMeta): string[] {
  const { fps, p50 } = stats.recent;
  const line = `${fps.toFixed(1)} fps  latency ${ms(p50)}  dropped ${stats.dropped}  (h: hide)`;
  // A sender that does not adapt (--no-adapt, an older cvchat, Python) says nothing of its frames.
  return point ? [line, pointLine(point)] : [line];
}

/** What we send the partner: size and quality, and our estimate of the link. */
function sendingLine(status: SendingStatus | undefined): string {
  if (!status || status.width === 0) return 'out: -';
  const estimate = status.estimateBps !== null ? `link ~${mbits(status.estimateBps)}` : status.codec === 'jpeg' ? 'full quality (no estimate)' : 'fixed rate';
  return `out ${status.width}x${status.height} ${coding(status.codec, status.quality, status.bitrateBps)}  ${estimate}`;
}

/** The chat's lines: both directions, the round trip, what was skipped either way, and how each direction adapts. */
export function chatHudLines(received: StreamStats, sent: StreamStats | undefined, rttMs: number | null, droppedSending: number, sending?: SendingStatus, receiving?: PointMeta): string[] {
  const got = received.recent;
  return [
    `in ${got.fps.toFixed(1)} fps ${got.p50 === null ? '' : ms(got.p50)}  out ${sent ? sent.recent.fps.toFixed(1) : '-'} fps`,
    `rtt ${ms(rttMs)}  dropped ${received.dropped + droppedSending}  (h hud, i inset)`,
    ...(receiving ? [`in ${pointLine(receiving)}`] : []),
    sendingLine(sending),
  ];
}

/**
 * The size one's own camera is kept at for the inset, from its full size: half each side, which
 * a source's own JPEG decodes to at a reduced DCT scale. The inset is a quarter of the partner's
 * width, so half of a camera of the same size still has pixels to spare.
 */
export function insetSize(full: Size): Size {
  return { width: Math.max(1, Math.round(full.width / 2)), height: Math.max(1, Math.round(full.height / 2)) };
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
