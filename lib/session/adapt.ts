// From a connection's rate estimate to the picture it is sent: a byte budget per frame, and the
// best operating point (size, JPEG quality) whose frames fit it. Quality goes down first, then the
// size in steps (1, 3/4, 1/2, 1/3 of each side); the user's --quality and the source's size are
// the ceiling. Frames are skipped only when even the smallest point does not fit: a credit of
// bytes, refilled at the estimated rate, says when.
import type { Size } from '../media/backend';
import type { RateEstimate } from '../net/rate';

export interface OperatingPoint {
  width: number;
  height: number;
  /** JPEG quality; for the source's own JPEG, as estimated from its tables. */
  quality: number;
  /** The source's own JPEG, sent as it came (pass-through): nothing to encode. */
  source?: true;
  /** Equal for equal points: sinks at one point share one encode. */
  key: string;
  /** Its place in the list of points, 0 for the full point: a higher rank has fewer bytes. */
  rank: number;
}

/** Each side's share of the source's, largest first. */
const SIZE_STEPS = [1, 3 / 4, 1 / 2, 1 / 3];
/**
 * Per size step, the highest and lowest quality tried (in steps below the highest) before the
 * next size down. Measured on the benchmark's scene at 720p (SSIM against the source, the smaller
 * sizes scaled back up): below these floors a smaller picture at a higher quality looks better for
 * the same bytes, and above 70 a smaller picture gains too little to be worth it. 3/4 starts at 60:
 * at 70 it costs the bytes of the full size at 40, and a budget near them made the picture's size
 * flip between the two.
 */
const QUALITY_RANGE: Array<[number, number]> = [[100, 40], [60, 40], [70, 30], [60, 20]];

function pointOf(width: number, height: number, quality: number, rank: number): OperatingPoint {
  return { width, height, quality, key: `${width}x${height}q${quality}`, rank };
}

/** Scaled sides are even (chroma is halved in JPEG's 4:2:0 sampling) and at least 2 pixels. */
function scaledSide(side: number, scale: number): number {
  if (scale === 1) return side;
  return Math.max(2, Math.round((side * scale) / 2) * 2);
}

/** The points for a source of `size` at most `ceilingQuality`, from the most bytes to the fewest. */
export function operatingPoints(size: Size, ceilingQuality: number): OperatingPoint[] {
  const points: OperatingPoint[] = [];
  for (const [index, scale] of SIZE_STEPS.entries()) {
    const width = scaledSide(size.width, scale);
    const height = scaledSide(size.height, scale);
    if (index > 0 && width === points[points.length - 1].width) continue; // a tiny source: no smaller step
    const [top, floor] = QUALITY_RANGE[index];
    const highest = Math.min(ceilingQuality, top);
    // At the full size in steps of 5: it is where most of the picture's quality is, and a finer
    // ladder uses more of a budget (720p at quality 65 fits 20 Mbit/s at 30 fps, 70 does not).
    const step = index === 0 ? 5 : 10;
    for (let quality = highest; quality >= Math.min(floor, highest); quality -= step) points.push(pointOf(width, height, quality, points.length));
  }
  return points;
}

/** JPEG bytes at quality q relative to quality 80, for camera-like content (measured at 720p). */
const QUALITY_BYTES: Array<[number, number]> = [[1, 0.15], [20, 0.33], [30, 0.42], [40, 0.49], [50, 0.56], [60, 0.64], [70, 0.77], [80, 1], [90, 1.58], [95, 2.2], [100, 3.4]];

function qualityFactor(quality: number): number {
  for (let i = 1; i < QUALITY_BYTES.length; i++) {
    const [q1, b1] = QUALITY_BYTES[i];
    if (quality <= q1) {
      const [q0, b0] = QUALITY_BYTES[i - 1];
      return b0 + ((b1 - b0) * (quality - q0)) / (q1 - q0);
    }
  }
  return QUALITY_BYTES[QUALITY_BYTES.length - 1][1];
}

/** Bytes per pixel of a frame at quality 80 before any has been encoded (camera-like 720p). */
const FIRST_GUESS_BYTES_PER_PIXEL = 0.13;
/** How much each encoded frame moves the model: content changes from scene to scene. */
const MODEL_WEIGHT = 0.5;
/**
 * Smaller pictures cost more bytes per pixel (detail is denser): measured at 720p, half the side
 * costs 0.32x the bytes for 0.25x the pixels, a third 0.165x for 0.11x: about (pixel share)^-0.15.
 */
const SMALLER_PICTURE_EXPONENT = -0.15;

/** What the bytes of a frame at `point` are proportional to, for a source of `full` size. */
function frameShape(point: OperatingPoint, full: Size): number {
  const pixels = point.width * point.height;
  return pixels * (pixels / (full.width * full.height)) ** SMALLER_PICTURE_EXPONENT * qualityFactor(point.quality);
}

/**
 * Predicts a frame's bytes at each point from the frames encoded lately, whatever their point: a
 * content factor (bytes per pixel at quality 80) learnt from each, times how quality and size
 * change the bytes. One per pipeline, shared by its sinks.
 */
export class FrameSizeModel {
  private bytesPerPixelAt80: number | null = null;

  /** A frame of a source of `full` size, encoded at `point`, came out `bytes` long. */
  observe(point: OperatingPoint, full: Size, bytes: number): void {
    const sample = bytes / frameShape(point, full);
    this.bytesPerPixelAt80 = this.bytesPerPixelAt80 === null ? sample : this.bytesPerPixelAt80 + MODEL_WEIGHT * (sample - this.bytesPerPixelAt80);
  }

  predict(point: OperatingPoint, full: Size): number {
    return (this.bytesPerPixelAt80 ?? FIRST_GUESS_BYTES_PER_PIXEL) * frameShape(point, full);
  }
}

/** The share of the estimated rate given to frames: TCP/IP headers and TLS records take the rest. */
export const PAYLOAD_SHARE = 0.92;
/** A point above the current one is taken only when it fits in this share of the budget, so that a
 * budget near a point's size does not make the picture flicker between two points. */
const STEP_UP_SHARE = 0.85;
/** And no sooner than this after the last change, ms. */
const STEP_UP_AFTER_MS = 500;

export interface FrameOffer {
  /** The source's frame: the full size. */
  size: Size;
  /** Time between frames of the source (a nominal 30 fps for unpaced ones), ms. */
  intervalMs: number;
  /** When the frame was captured, ms (performance.now()). */
  now: number;
  /** The source delivered this frame as JPEG of this many bytes, which may be sent as it is. */
  sourceBytes?: number;
}

/**
 * One connection's choice of point, frame by frame: from the estimate, a byte budget per frame;
 * the highest point predicted to fit it; and a credit that skips a frame when even the smallest
 * point would send faster than the estimate.
 */
export class PointChooser {
  private points: OperatingPoint[] = [];
  private pointsFor = '';
  private current = 0;
  private changedAt = -Infinity;
  private credit = 0;
  private refilledAt: number | null = null;
  /** The point of the last frame offered, for the HUD and --stats. */
  last: OperatingPoint | null = null;

  constructor(
    private readonly ceilingQuality: number,
    private readonly model: FrameSizeModel,
  ) {}

  /** The point to send this frame at, or null to skip it. */
  choose(offer: FrameOffer, estimate: RateEstimate, full?: OperatingPoint): OperatingPoint | null {
    const points = this.ladder(offer.size, full?.source ? full : undefined);
    // The source's own JPEG has its bytes known; every other point's are predicted.
    const bytesAt = (i: number) => (points[i].source ? offer.sourceBytes ?? Infinity : this.model.predict(points[i], offer.size));
    const bytesPerMs = (estimate.bps * PAYLOAD_SHARE) / 8 / 1000;
    const budget = bytesPerMs * offer.intervalMs;
    // The credit: what the estimate allows since the last frame, at most one frame's worth ahead.
    if (this.refilledAt !== null) this.credit = Math.min(budget, this.credit + bytesPerMs * (offer.now - this.refilledAt));
    this.refilledAt = offer.now;
    let fits = points.length - 1;
    for (let i = 0; i < points.length; i++) {
      if (bytesAt(i) <= budget) {
        fits = i;
        break;
      }
    }
    if (fits > this.current) {
      this.current = fits;
      this.changedAt = offer.now;
    } else if (fits < this.current && offer.now - this.changedAt >= STEP_UP_AFTER_MS) {
      // The highest point from `fits` down that fits the step-up share (the ladder is in order of
      // bytes, but the source's own JPEG on top may be smaller than the points below it).
      let up = fits;
      while (up < this.current && bytesAt(up) > STEP_UP_SHARE * budget) up++;
      if (up !== this.current) {
        this.current = up;
        this.changedAt = offer.now;
      }
    }
    const point = points[this.current];
    this.last = point;
    return this.credit < 0 ? null : point;
  }

  /** The frame went out: its bytes are spent. */
  spent(bytes: number): void {
    this.credit -= bytes;
  }

  /** The points from the most bytes to the fewest; with `source`, the source's own JPEG first. */
  private ladder(size: Size, source?: OperatingPoint): OperatingPoint[] {
    const key = `${size.width}x${size.height}${source ? ' source' : ''}`;
    if (key === this.pointsFor && source) this.points[0] = source; // its estimated quality may change
    if (key !== this.pointsFor) {
      const own = operatingPoints(size, this.ceilingQuality);
      this.points = source ? [source, ...own.map((point) => ({ ...point, rank: point.rank + 1 }))] : own;
      this.pointsFor = key;
      this.current = Math.min(this.current, this.points.length - 1);
    }
    return this.points;
  }
}

/** The source's own size at the user's quality: what every sink gets when it does not adapt. */
export function fullPoint(size: Size, quality: number): OperatingPoint {
  return pointOf(size.width, size.height, quality, 0);
}

/**
 * The source's own JPEG as the full point (pass-through): its size, and its quality as estimated
 * from its quantisation tables (for the HUD; 0 when unknown). Its bytes are the source's.
 */
export function sourcePoint(size: Size, quality: number): OperatingPoint {
  return { width: size.width, height: size.height, quality, key: `source ${size.width}x${size.height}`, rank: 0, source: true };
}
