// One fan-out from the capture pipeline to whoever consumes frames. Each consumer is a FrameSink:
// a viewer's connection, a chat partner's, the preview window, the chat's own-camera inset, and
// later a browser, a recorder or a publisher. The pipeline encodes each frame once and hands the
// same bytes to every sink; sinks that need pixels get a handle of their own on the same pixels.
import type { VideoCodecName } from '../base/codecs';
import { MAX_POINTS_PER_FRAME } from '../base/limits';
import { notice } from '../base/log';
import type { Size, VideoBackend, VideoFrame } from '../media/backend';
import type { Connection, RateEstimate } from '../net/connection';
import { wireParts, type FrameMeta, type Wire } from '../wire/meta';
import { videoFrameHead } from '../wire/video';
import { PointChooser, type FrameOffer, type FrameSizeModel, type OperatingPoint } from './adapt';
import { chooseCodec, videoBitrate, VideoStreamOut } from './video';

/** A captured frame after encoding: what every encoded-frame sink receives, shared, never copied. */
export interface EncodedFrame {
  wire: Wire;
  /** JPEG: one buffer. Pickle: the pickle's parts. */
  payload: Buffer[];
  bytes: number;
  seq: number;
  /** Wall-clock ms when the frame was captured. */
  captureTime: number;
  width: number;
  height: number;
  /** The point it was encoded at; smaller than the source's size at an adapted point. */
  point: OperatingPoint;
  /** The source's size. */
  fullWidth: number;
  fullHeight: number;
}

export interface FrameSink {
  /**
   * True when this sink could take a frame now. A source that is not live (a file, memory, the
   * test picture unpaced) is read only when some sink wants a frame. Sinks that only watch (a
   * window) say false: they show what is sent, they do not ask for frames.
   */
  readonly wantsFrame: boolean;
  /**
   * For a frame about to be encoded: the point this sink wants it at, or null to skip it. A sink
   * without this method gets every frame at `full` (the source's size at the user's quality).
   */
  pointFor?(offer: FrameOffer, full: OperatingPoint): OperatingPoint | null;
  /** An encoded frame; the sink must not change its buffers. */
  deliver?(frame: EncodedFrame): void;
  /**
   * A sink that encodes frames itself (a video codec's stream, whose frames depend on each other):
   * true to take this frame, false to skip it before it is encoded. undefined: it takes the shared
   * JPEG frames (pointFor, deliver) instead.
   */
  encodesOwn?(offer: FrameOffer): boolean | undefined;
  /**
   * Encodes and sends the frame (whose pixels are shared: read only); resolves with the bytes
   * sent, 0 for none. Never rejects: a sink whose encoder fails falls back to the shared frames.
   */
  encodeOwn?(frame: VideoFrame, made: CapturedFrame): Promise<number>;
  /**
   * The frame's pixels: the sink owns this handle and must release it. Other sinks may hold
   * handles on the same pixels: read them, never draw on them (draw on a copy).
   */
  deliverPixels?(frame: VideoFrame, captureTime: number): void;
  /**
   * For a source that yields JPEG, whose pixels are decoded only for sinks that need them: the
   * size this sink's pixels may have (a window's preview: smaller is cheaper, as the decoder then
   * works at a reduced DCT scale), or null when it needs none now (it has not drawn the last
   * one). Without this method, a pixel sink needs every frame at the full size.
   */
  pixelSize?(full: Size): Size | null;
}

/** A captured frame's facts, for a sink that encodes it itself. */
export interface CapturedFrame {
  seq: number;
  /** Wall-clock ms when it was captured. */
  captureTime: number;
  size: Size;
  /** Time between frames of the source (nominal for unpaced ones), ms. */
  intervalMs: number;
}

export class FanOut {
  private readonly sinks = new Set<FrameSink>();
  private demandWaiters: Array<() => void> = [];
  private closed = false;

  constructor(private readonly backend: VideoBackend) {}

  add(sink: FrameSink): void {
    this.sinks.add(sink);
    this.wake();
  }

  delete(sink: FrameSink): void {
    this.sinks.delete(sink);
  }

  deliver(frame: EncodedFrame): void {
    for (const sink of this.sinks) sink.deliver?.(frame);
  }

  /** True when some sink takes encoded frames (a peer), as opposed to only pixels (a window) or none. */
  get hasPeers(): boolean {
    for (const sink of this.sinks) if (sink.deliver || sink.encodeOwn) return true;
    return false;
  }

  /**
   * Which points this frame is to be encoded at, and for which sinks: one encode per point in use,
   * however many sinks share it. Sinks that encode it themselves are added to `ownEncoders`.
   */
  plan(offer: FrameOffer, full: OperatingPoint, ownEncoders: FrameSink[] = []): PointGroup[] {
    const byPoint = new Map<string, PointGroup>();
    for (const sink of this.sinks) {
      const own = sink.encodesOwn?.(offer);
      if (own !== undefined) {
        if (own) ownEncoders.push(sink);
        continue;
      }
      if (!sink.deliver) continue;
      const point = sink.pointFor ? sink.pointFor(offer, full) : full;
      if (!point) continue;
      const group = byPoint.get(point.key);
      if (group) group.sinks.push(sink);
      else byPoint.set(point.key, { point, sinks: [sink] });
    }
    return limitPoints([...byPoint.values()]);
  }

  /**
   * Hands `frame` to the sinks that take pixels: the last one gets this handle, the others a
   * shared one each (no copy). With none, the frame is released. Takes ownership of `frame`.
   */
  deliverPixels(frame: VideoFrame, captureTime: number): void {
    const takers = this.closed ? [] : [...this.sinks].filter((sink) => sink.deliverPixels);
    if (takers.length === 0) {
      frame.release();
      return;
    }
    for (let i = 0; i < takers.length; i++) {
      const handle = i === takers.length - 1 ? frame : this.backend.share(frame);
      takers[i].deliverPixels!(handle, captureTime);
    }
  }

  /**
   * For a source that yields JPEG: the size its pixels must be decoded at for the pixel sinks
   * ('full', or the largest any of them asks), or null when none needs pixels now.
   */
  pixelSize(full: Size): Size | 'full' | null {
    if (this.closed) return null;
    let largest: Size | null = null;
    for (const sink of this.sinks) {
      if (!sink.deliverPixels) continue;
      if (!sink.pixelSize) return 'full';
      const size = sink.pixelSize(full);
      if (size && (!largest || size.width * size.height > largest.width * largest.height)) largest = size;
    }
    if (largest && largest.width >= full.width && largest.height >= full.height) return 'full';
    return largest;
  }

  /** Resolves when some sink could take a frame now (at once when one can), or when closed. */
  demand(): Promise<void> {
    if (this.closed) return Promise.resolve();
    for (const sink of this.sinks) if (sink.wantsFrame) return Promise.resolve();
    return new Promise((resolve) => this.demandWaiters.push(resolve));
  }

  /** A sink became able to take a frame: wake a pipeline waiting for demand. */
  wake(): void {
    const waiters = this.demandWaiters;
    this.demandWaiters = [];
    for (const resolve of waiters) resolve();
  }

  close(): void {
    this.closed = true;
    this.wake();
  }
}

export interface PointGroup {
  point: OperatingPoint;
  sinks: FrameSink[];
}

/**
 * At most MAX_POINTS_PER_FRAME encodes: the points with the most sinks are kept (the full point
 * first), and the sinks of any other point move to the kept point with the fewest bytes above its
 * rank, or failing that the one nearest below: never more bytes than their link was given.
 */
export function limitPoints(groups: PointGroup[]): PointGroup[] {
  if (groups.length <= MAX_POINTS_PER_FRAME) return groups;
  const byPopularity = [...groups].sort((a, b) => (a.point.rank === 0 ? -1 : b.point.rank === 0 ? 1 : b.sinks.length - a.sinks.length || a.point.rank - b.point.rank));
  const kept = byPopularity.slice(0, MAX_POINTS_PER_FRAME).sort((a, b) => a.point.rank - b.point.rank);
  for (const group of byPopularity.slice(MAX_POINTS_PER_FRAME)) {
    const target = kept.find((k) => k.point.rank > group.point.rank) ?? kept[kept.length - 1];
    target.sinks.push(...group.sinks);
  }
  return kept;
}

/** A frame's wire parts with the plain metadata (no echo), made once and shared by every viewer. */
const sharedParts = new WeakMap<EncodedFrame, Buffer[]>();

function plainParts(frame: EncodedFrame): Buffer[] {
  let parts = sharedParts.get(frame);
  if (!parts) {
    parts = wireParts(frame.wire, frame.payload, { seq: frame.seq, captureTime: frame.captureTime, echoTime: 0, echoHoldMs: 0 });
    sharedParts.set(frame, parts);
  }
  return parts;
}

/** What a connection sink adapts with: the pipeline's frame size model and the user's quality (the ceiling). */
export interface Adaptation {
  model: FrameSizeModel;
  quality: number;
}

/** What a connection is being sent, for the HUD and --stats. */
export interface SendingStatus {
  remote: string;
  /** The rate estimate, bits per second; null while the peer has not reported arrival times. */
  estimateBps: number | null;
  rttMs: number | null;
  queueMs: number | null;
  width: number;
  height: number;
  /** JPEG quality; 0 for a video codec's frames. */
  quality: number;
  /** jpeg, or the video codec the peer is sent. */
  codec: 'jpeg' | VideoCodecName;
  /** The video encoder's target, bits per second; null for JPEG. */
  bitrateBps: number | null;
}

/** What a connection sink may send instead of JPEG: the backend's codecs that the user allows, by preference. */
export interface VideoSending {
  backend: VideoBackend;
  codecs: readonly VideoCodecName[];
}

/**
 * A connection as a sink: each encoded frame goes out with cvchat's metadata, newest frame winning.
 * A viewer of the sender gets the parts every viewer at its point shares; a chat partner's
 * metadata also echoes timestamps back (`meta`), so its parts are its own. With `adapt`, a peer
 * that reports arrival times in its ACKs gets frames at the point its rate estimate allows; any
 * other peer (a Python viewer, an older cvchat) gets every frame at the full point, as before.
 */
export class ConnectionSink implements FrameSink {
  private readonly chooser: PointChooser | undefined;
  private lastPoint: OperatingPoint | null = null;
  /** The peer's video stream, once it said it decodes a codec we send. */
  private video: VideoStreamOut | null = null;
  /** The encoder failed once: this peer gets JPEG for the rest of the connection. */
  private videoFailed = false;

  constructor(
    readonly connection: Connection,
    private readonly options: { adapt?: Adaptation; meta?: (frame: Pick<EncodedFrame, 'seq' | 'captureTime'>) => FrameMeta; video?: VideoSending } = {},
  ) {
    this.chooser = options.adapt && new PointChooser(options.adapt.quality, options.adapt.model);
    const video = options.video;
    if (video && video.codecs.length > 0) {
      connection.on('codecs', (codecs) => this.onPeerCodecs(video, codecs));
      connection.on('keyframe', (seq) => this.video?.keyframeWanted(seq));
      connection.once('close', () => this.video?.close());
    }
    // Only what went out is spent: a frame replaced while it waited cost the link nothing, and the
    // frames sent before there was an estimate were not sent against one.
    if (this.chooser) connection.on('sent', (timing) => {
      if (connection.rateEstimate) this.chooser!.spent(timing.bytes);
    });
  }

  get wantsFrame(): boolean {
    return this.connection.wantsFrame;
  }

  /**
   * The estimate this sink follows: none without adaptation (it is measured but not followed, so
   * its AIMD only drifts and says nothing), nor from a peer that does not report arrival times.
   */
  private get followed(): RateEstimate | null {
    return this.chooser ? this.connection.rateEstimate : null;
  }

  /** The peer said which codecs it decodes: the first of ours among them, or JPEG. */
  private onPeerCodecs(video: VideoSending, codecs: readonly string[]): void {
    if (this.videoFailed) return;
    const codec = chooseCodec(video.codecs, codecs);
    if (codec !== (this.video?.codec ?? null)) {
      this.video?.close();
      this.video = codec && new VideoStreamOut(video.backend, codec);
      // A frame of the old kind still waiting to go would only delay the new stream's keyframe.
      this.connection.dropWaiting();
    }
    const remote = this.connection.remote;
    if (codec) notice(`sending ${remote} ${codec} video (it decodes ${codecs.join(', ')})`);
    else notice(`sending ${remote} JPEG: it decodes ${codecs.join(', ')}, and this side sends ${video.codecs.join(', ')} (--codec)`);
  }

  /** A peer sent a video codec takes every frame it can take now: skipped here, before encoding. */
  encodesOwn(): boolean | undefined {
    return this.video ? this.connection.wantsFrame : undefined;
  }

  async encodeOwn(frame: VideoFrame, made: CapturedFrame): Promise<number> {
    const video = this.video;
    if (!video) return 0;
    const estimate = this.followed;
    const bitrate = videoBitrate(estimate?.bps ?? null, made.size, made.intervalMs);
    let sent;
    try {
      sent = await video.encode(frame, made.seq, bitrate, made.size, made.intervalMs, estimate?.bps ?? null);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      notice(`${video.codec} encoding failed for ${this.connection.remote} (${reason}); it gets JPEG from now on`);
      this.videoFailed = true;
      video.close();
      if (this.video === video) this.video = null;
      return 0;
    }
    // The peer left, or chose another codec, while this frame was encoded.
    if (this.video !== video || this.connection.state !== 'open') return 0;
    const meta = this.options.meta ? this.options.meta(made) : { seq: made.seq, captureTime: made.captureTime, echoTime: 0, echoHoldMs: 0 };
    const head = videoFrameHead(sent.data.length, sent.info, meta);
    // Only a peer that could take a frame was offered one (encodesOwn), so this replaces none.
    this.connection.send({ parts: [head, sent.data], seq: made.seq });
    return head.length + sent.data.length;
  }

  pointFor(offer: FrameOffer, full: OperatingPoint): OperatingPoint | null {
    const estimate = this.followed;
    return estimate ? this.chooser!.choose(offer, estimate, full) : full;
  }

  deliver(frame: EncodedFrame): void {
    this.lastPoint = frame.point;
    const estimate = this.followed;
    let parts: Buffer[];
    if (!estimate && !this.options.meta) {
      parts = plainParts(frame);
    } else {
      const meta = this.options.meta ? this.options.meta(frame) : { seq: frame.seq, captureTime: frame.captureTime, echoTime: 0, echoHoldMs: 0 };
      if (estimate) meta.point = { width: frame.width, height: frame.height, fullWidth: frame.fullWidth, fullHeight: frame.fullHeight, quality: frame.point.quality, estimateBps: estimate.bps };
      parts = wireParts(frame.wire, frame.payload, meta);
    }
    this.connection.send({ parts, seq: frame.seq });
  }

  get status(): SendingStatus {
    const estimate = this.followed;
    const tenth = (ms: number | null | undefined) => (ms === null || ms === undefined ? null : Math.round(ms * 10) / 10);
    const link = {
      remote: this.connection.remote,
      estimateBps: estimate ? Math.round(estimate.bps) : null,
      rttMs: tenth(estimate?.rttMs),
      queueMs: tenth(estimate?.queueMs),
    };
    if (this.video) {
      const size = this.video.size;
      return { ...link, width: size?.width ?? 0, height: size?.height ?? 0, quality: 0, codec: this.video.codec, bitrateBps: this.video.bitrateBps };
    }
    // The chooser's point even while it skips frames (a link slower than the smallest point).
    const point = (estimate && this.chooser?.last) || this.lastPoint;
    return { ...link, width: point?.width ?? 0, height: point?.height ?? 0, quality: point?.quality ?? 0, codec: 'jpeg', bitrateBps: null };
  }
}
