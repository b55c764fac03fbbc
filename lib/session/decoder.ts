// The receiving half of a session: keep only the newest payload that is not decoded yet, decode
// off the main thread, deliver in arrival order, and acknowledge each decoded frame so that the
// sender's flow control moves on. A peer that sends faster than we decode loses old frames, never
// gains lag.
import type { VideoCodecName } from '../base/codecs';
import { wallClock } from '../base/clock';
import { CvchatError } from '../base/errors';
import { MAX_DECODES, MAX_QUEUED_VIDEO_FRAMES } from '../base/limits';
import { notice } from '../base/log';
import type { Size, VideoBackend, VideoFrame } from '../media/backend';
import type { Connection, FrameReceipt } from '../net/connection';
import type { AckNotes } from '../wire/control';
import { probeImage } from '../media/video';
import { readFrameMeta, type FrameMeta, type Wire } from '../wire/meta';
import { unpickleImage } from '../wire/pickle';
import { isVideoPayload, readVideoPayload, videoPointMeta, type VideoPayload } from '../wire/video';
import type { StreamStats } from './stats';
import { VideoStreamIn } from './video';

export interface DecodedFrame {
  frame: VideoFrame;
  meta: FrameMeta | null;
  /** Capture to decoded, when the sender stamped the frame. */
  latencyMs: number | undefined;
  receivedAt: number;
  /** The payload as it arrived (the JPEG, with cvchat's metadata), for tools that keep it. */
  payload: Buffer;
}

export interface FrameDecoderOptions {
  maxPixels: number;
  /** jpeg (default): decode off the main thread. pickle: read numpy pickles, safely. */
  wire?: Wire;
  /** The video codecs to offer the sender (in ACKs of its JPEG frames), by preference; none: JPEG only. */
  codecs?: readonly VideoCodecName[];
  /**
   * The largest picture shown: a larger stream is decoded smaller to fit it (keeping its shape),
   * which a JPEG does at a reduced DCT scale, for a fraction of a full decode's work.
   */
  view?: Size;
}

export interface FrameDecoderEvents {
  /** A decoded frame, oldest first; the handler owns it from then on (must release it). */
  frame(decoded: DecodedFrame): void;
  /** Frame `seq` was decoded: acknowledge it (only frames that carried cvchat's metadata), with `notes` for the sender. */
  ack(seq: number, receipt: FrameReceipt | undefined, notes: AckNotes): void;
  /** A payload that is not a picture we can show; the decoder has stopped. */
  error(error: CvchatError): void;
}

interface Arrived {
  payload: Buffer;
  receivedAt: number;
  receipt: FrameReceipt | undefined;
  /** Counts payloads, so results are delivered in the order they arrived. */
  order: number;
}

interface Decoded extends Arrived {
  /** null: a video frame that may not be shown (its decoder waits for a keyframe). */
  frame: VideoFrame | null;
  meta: FrameMeta | null;
  notes: AckNotes;
}

/** A video frame waiting for the stream's decoder. */
interface ArrivedVideo extends Arrived {
  video: VideoPayload;
}

/**
 * Decodes up to MAX_DECODES payloads at once. Results are delivered in arrival order: a decode that
 * finishes first waits for the older one (a millisecond or so) rather than having that older
 * decode's work thrown away.
 */
export class FrameDecoder {
  private waiting: Arrived | null = null;
  /** Video frames, oldest first: each depends on the one before, so none is replaced or skipped here. */
  private videoQueue: ArrivedVideo[] = [];
  private videoDecoding = false;
  private videoIn: VideoStreamIn | null = null;
  private decoding = 0;
  private arrived = 0;
  /** Orders of the decodes in flight, oldest first, and results waiting for an older one. */
  private inFlight: number[] = [];
  /** The order of the newest payload delivered: an older one that starts later is stale. */
  private deliveredOrder = 0;
  private finished = new Map<number, Decoded>();
  /** What the ACK of a JPEG frame says: the codecs this side takes, if any. */
  private readonly jpegAckNotes: AckNotes;
  private closed = false;
  private pumpScheduled = false;

  constructor(
    private readonly backend: VideoBackend,
    private readonly options: FrameDecoderOptions,
    private readonly stats: StreamStats,
    private readonly events: FrameDecoderEvents,
  ) {
    this.jpegAckNotes = options.codecs?.length ? { codecs: options.codecs } : {};
  }

  /**
   * A frame payload as it arrived; replaces one still waiting for a decoder (counted as dropped).
   * Decoding starts once the current chunk's payloads have all been pushed (a microtask later), so
   * of several frames that arrive together only the newest is decoded.
   */
  push(payload: Buffer, receivedAt: number, receipt?: FrameReceipt): void {
    if (this.closed) return;
    if (this.options.wire !== 'pickle' && isVideoPayload(payload)) {
      this.pushVideo(payload, receivedAt, receipt);
    } else {
      if (this.waiting) this.stats.addDropped();
      this.waiting = { payload, receivedAt, receipt, order: ++this.arrived };
    }
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    queueMicrotask(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Stops: frames held or decoded later are released, never delivered. */
  close(): void {
    this.closed = true;
    this.waiting = null;
    this.videoQueue = [];
    for (const { frame } of this.finished.values()) frame?.release();
    this.finished.clear();
    // A decode in progress holds the decoder; it is closed when that decode ends.
    if (!this.videoDecoding) this.videoIn?.close();
  }

  /**
   * A video frame. A sender keeps at most two frames unacknowledged, so the queue stays short; a
   * peer that sends more than it may loses the oldest, and the stream waits for a keyframe.
   */
  private pushVideo(payload: Buffer, receivedAt: number, receipt: FrameReceipt | undefined): void {
    const video = readVideoPayload(payload);
    if (!video) {
      this.fail(new CvchatError('CVCHAT_BAD_VIDEO_FRAME', 'a video frame with a header that cvchat did not write'));
      return;
    }
    if (this.videoQueue.length >= MAX_QUEUED_VIDEO_FRAMES) {
      this.videoQueue.shift();
      this.stats.addDropped();
      this.videoIn?.lostSync();
    }
    this.videoQueue.push({ payload, receivedAt, receipt, order: ++this.arrived, video });
  }

  private fail(error: CvchatError): void {
    if (this.closed) return;
    this.close();
    this.events.error(error);
  }

  private pump(): void {
    this.pumpVideo();
    while (this.decoding < MAX_DECODES && this.waiting && !this.closed) {
      const arrived = this.waiting;
      const { payload, order } = arrived;
      this.waiting = null;
      // A JPEG that waited for a decoder while newer video frames were shown: too old to show.
      if (order < this.deliveredOrder) {
        this.stats.addDropped();
        continue;
      }
      this.decoding++;
      this.startedDecoding(order);
      const meta = readFrameMeta(payload);
      this.decode(payload, meta).then(
        (frame) => {
          this.decoding--;
          if (this.closed) {
            frame.release();
            return;
          }
          this.finished.set(order, { ...arrived, frame, meta, notes: this.jpegAckNotes });
          this.deliverInOrder();
          this.pump();
        },
        (error: CvchatError) => {
          this.decoding--;
          this.fail(error);
        },
      );
    }
  }

  /** The oldest video frame, once the one before it is done: decoded, or passed over until a keyframe. */
  private pumpVideo(): void {
    if (this.videoDecoding || this.closed || this.videoQueue.length === 0) return;
    const arrived = this.videoQueue.shift() as ArrivedVideo;
    const { info, meta } = arrived.video;
    this.videoDecoding = true;
    this.startedDecoding(arrived.order);
    this.videoIn ??= new VideoStreamIn(this.backend);
    const videoIn = this.videoIn;
    videoIn.decode(arrived.video, this.options.maxPixels, this.shownAt(info.fullWidth, info.fullHeight)).then(
      (shown) => {
        this.videoDecoding = false;
        if (this.closed) {
          shown.frame?.release();
          videoIn.close();
          return;
        }
        if (!shown.frame) this.stats.addDropped();
        this.finished.set(arrived.order, { ...arrived, frame: shown.frame, meta: { ...meta, point: videoPointMeta(info) }, notes: shown.keyframeWanted ? { keyframe: true } : {} });
        this.deliverInOrder();
        this.pump();
      },
      (error: CvchatError) => {
        this.videoDecoding = false;
        if (this.closed) videoIn.close();
        this.fail(error);
      },
    );
  }

  /** Results are delivered in arrival order, whichever kind of decode started first. */
  private startedDecoding(order: number): void {
    let at = this.inFlight.length;
    while (at > 0 && this.inFlight[at - 1] > order) at--;
    this.inFlight.splice(at, 0, order);
  }

  private deliverInOrder(): void {
    while (!this.closed && this.inFlight.length > 0 && this.finished.has(this.inFlight[0])) {
      const order = this.inFlight.shift() as number;
      this.deliveredOrder = order;
      const { payload, receivedAt, receipt, frame, meta, notes } = this.finished.get(order) as Decoded;
      this.finished.delete(order);
      // A video frame passed over is still acknowledged (the sender's window moves on), with its request for a keyframe.
      if (!frame) {
        if (meta) this.events.ack(meta.seq, receipt, notes);
        continue;
      }
      const latencyMs = meta && meta.captureTime > 0 ? wallClock() - meta.captureTime : undefined;
      this.stats.addFrame(payload.length, latencyMs);
      if (meta) this.events.ack(meta.seq, receipt, notes);
      this.events.frame({ frame, meta, latencyMs, receivedAt, payload });
    }
  }

  private async decode(payload: Buffer, meta: FrameMeta | null): Promise<VideoFrame> {
    if (this.options.wire !== 'pickle') {
      const point = meta?.point;
      const declared = point ? { width: point.fullWidth, height: point.fullHeight } : this.options.view && probeImage(payload);
      return this.backend.decode(payload, this.options.maxPixels, declared ? this.shownAt(declared.width, declared.height) : undefined);
    }
    // A pickle is parsed, never run, and its pixels copied into a frame (a memcpy, so on this thread).
    const image = unpickleImage(payload, { maxPixels: this.options.maxPixels });
    return this.backend.fromPixels(image.pixels, image.width, image.height, image.channels);
  }

  /**
   * A frame sent smaller (an adapted JPEG point, a smaller video encoder) is shown at the stream's
   * full size, scaled on the decoding thread, so the window keeps its size whatever the link does;
   * unless that size is beyond the limit.
   */
  private shownAt(fullWidth: number, fullHeight: number): Size | undefined {
    if (fullWidth * fullHeight > this.options.maxPixels) return undefined;
    const view = this.options.view;
    return view ? fitInto({ width: fullWidth, height: fullHeight }, view) : { width: fullWidth, height: fullHeight };
  }
}

/** `size` scaled down, keeping its shape, until it fits in `box` (never up). */
export function fitInto(size: Size, box: Size): Size {
  const scale = Math.min(1, box.width / size.width, box.height / size.height);
  if (scale === 1) return size;
  return { width: Math.max(1, Math.round(size.width * scale)), height: Math.max(1, Math.round(size.height * scale)) };
}

/**
 * Decodes what `connection` receives: its frames go to a decoder whose results go to `onFrame`,
 * each decoded frame is acknowledged on it, a payload that is no picture ends it, and its end ends
 * the decoder. When this side ended it for a reason, `describeEnd` may return a line to log.
 */
export function decodeFrom(
  connection: Connection,
  backend: VideoBackend,
  options: FrameDecoderOptions,
  stats: StreamStats,
  onFrame: (decoded: DecodedFrame) => void,
  describeEnd: (error: CvchatError) => string | null,
): FrameDecoder {
  const decoder = new FrameDecoder(backend, options, stats, {
    frame: onFrame,
    ack: (seq, receipt, notes) => connection.ack(seq, receipt, notes),
    error: (error) => connection.destroy(error),
  });
  connection.on('frame', (payload, receivedAt, receipt) => decoder.push(payload, receivedAt, receipt));
  connection.once('close', ({ error }) => {
    decoder.close();
    const line = error ? describeEnd(error) : null;
    if (line) notice(line);
  });
  return decoder;
}
