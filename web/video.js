// @ts-check
// The partner's pictures, decoded and drawn. JPEG: the newest wins (while one decodes, only the
// newest next one waits; older ones are dropped unseen). Video: every frame of a stream goes to
// one WebCodecs decoder in order, since each depends on the one before; after a gap, damage or a
// new stream nothing is shown until a keyframe, and the frames passed over are still acknowledged
// (with a keyframe request) so the sender's window moves on.

/**
 * @typedef {import('./wire.js').FrameMeta} FrameMeta
 * @typedef {import('./wire.js').PointMeta} PointMeta
 * @typedef {import('./wire.js').VideoInfo} VideoInfo
 * @typedef {import('./wire.js').VideoCodec} VideoCodec
 * @typedef {import('./wire.js').AckNotes} AckNotes
 * @typedef {import('./wire.js').Bytes} Bytes
 * @typedef {{ firstByteAt: number, lastByteAt: number }} Timing
 * @typedef {{ codec: 'jpeg' | VideoCodec, meta: FrameMeta | null, width: number, height: number, fullWidth: number,
 *   fullHeight: number, quality: number | null, bitrateBps: number | null, estimateBps: number | null }} Shown
 *   What was drawn: its coding, its own size and the size it was shown at, the sender's link estimate.
 * @typedef {{ shown(shown: Shown): void, ack(seq: number, timing: Timing, notes: AckNotes): void,
 *   dropped(): void, bad(reason: string): void }} DecoderEvents
 *   dropped: a frame that will not be shown; bad: one that would not decode (also dropped).
 */

/** Video frames waiting in the decoder; more means it cannot keep up, and the stream restarts at a keyframe. */
const MAX_WAITING_VIDEO = 8;
const DECODER_CODECS = /** @type {const} */ ({ h264: 'avc1.640028', vp8: 'vp8' });

/** The video codecs this browser decodes, by cvchat's preference (h264, then vp8); none without WebCodecs. */
export async function decodableCodecs() {
  if (typeof VideoDecoder === 'undefined') return [];
  /** @type {VideoCodec[]} */
  const codecs = [];
  for (const name of /** @type {VideoCodec[]} */ (['h264', 'vp8'])) {
    const support = await VideoDecoder.isConfigSupported(decoderConfig(name)).catch(() => null);
    if (support?.supported) codecs.push(name);
  }
  return codecs;
}

/** @param {VideoCodec} codec @returns {VideoDecoderConfig} */
const decoderConfig = (codec) => ({ codec: DECODER_CODECS[codec], optimizeForLatency: true });

/**
 * @typedef {{ order: number, timing: Timing, meta: FrameMeta, info: VideoInfo }} WaitingVideo
 * @typedef {{ order: number, timing: Timing, bytes: Bytes, meta: FrameMeta | null, point: PointMeta | null }} WaitingJpeg
 */

export class FrameDecoder {
  /** Counts payloads as they arrive, so that a slow JPEG decode never draws over a newer picture. */
  #arrived = 0;
  #drawnOrder = 0;
  /** @type {WaitingJpeg | null} */
  #jpegWaiting = null;
  #jpegDecoding = false;
  /** @type {VideoDecoder | null} */
  #decoder = null;
  /** @type {VideoCodec | null} */
  #codec = null;
  /** @type {number | null} */
  #stream = null;
  #nextIndex = 0;
  /** The decoder has had every frame since a keyframe: what it outputs may be shown. */
  #synced = false;
  /** Frames given to the decoder, oldest first; their order is their timestamp, to match its output. @type {WaitingVideo[]} */
  #inDecoder = [];
  #closed = false;

  /**
   * @param {HTMLCanvasElement} canvas @param {readonly VideoCodec[]} offeredCodecs what JPEG ACKs offer the sender
   * @param {DecoderEvents} events
   */
  constructor(canvas, offeredCodecs, events) {
    this.canvas = canvas;
    this.context = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d', { alpha: false }));
    this.offeredCodecs = offeredCodecs;
    this.events = events;
  }

  /** A video stream was seen and shows nothing until its next keyframe: ACKs ask for one. */
  get waitingForKeyframe() {
    return this.#stream !== null && !this.#synced;
  }

  /** @param {Bytes} bytes @param {FrameMeta | null} meta @param {PointMeta | null} point @param {Timing} timing */
  pushJpeg(bytes, meta, point, timing) {
    if (this.#jpegWaiting) this.events.dropped();
    this.#jpegWaiting = { order: ++this.#arrived, timing, bytes, meta, point };
    if (!this.#jpegDecoding) void this.#decodeJpegs();
  }

  async #decodeJpegs() {
    this.#jpegDecoding = true;
    while (this.#jpegWaiting && !this.#closed) {
      const jpeg = this.#jpegWaiting;
      this.#jpegWaiting = null;
      /** @type {ImageBitmap | null} */
      let bitmap = null;
      try {
        bitmap = await createImageBitmap(new Blob([jpeg.bytes], { type: 'image/jpeg' }));
      } catch {
        this.events.bad('a JPEG that does not decode');
        this.events.dropped();
      }
      if (this.#closed) {
        bitmap?.close();
        break;
      }
      if (bitmap && jpeg.order > this.#drawnOrder) {
        const point = jpeg.point;
        this.#draw(jpeg.order, bitmap, point?.fullWidth ?? bitmap.width, point?.fullHeight ?? bitmap.height);
        this.events.shown({
          codec: 'jpeg', meta: jpeg.meta, width: bitmap.width, height: bitmap.height, fullWidth: this.canvas.width, fullHeight: this.canvas.height,
          quality: point?.quality ?? null, bitrateBps: null, estimateBps: point ? point.estimateBps : null,
        });
      } else if (bitmap) {
        this.events.dropped(); // newer video frames were drawn while it decoded
        bitmap.close();
        continue;
      }
      bitmap?.close();
      // A JPEG that failed is acknowledged too: the sender's window must not wait for it.
      if (jpeg.meta) this.events.ack(jpeg.meta.seq, jpeg.timing, { codecs: this.offeredCodecs, keyframe: this.waitingForKeyframe });
    }
    this.#jpegDecoding = false;
  }

  /** @param {FrameMeta} meta @param {VideoInfo} info @param {Bytes} bitstream @param {Timing} timing */
  pushVideo(meta, info, bitstream, timing) {
    if (this.#closed) return;
    const newStream = info.stream !== this.#stream || info.codec !== this.#codec;
    if (newStream || info.index !== this.#nextIndex) this.#synced = false;
    this.#stream = info.stream;
    this.#nextIndex = (info.index + 1) >>> 0;
    /** @type {WaitingVideo} */
    const frame = { order: ++this.#arrived, timing, meta, info };
    if (this.#inDecoder.length >= MAX_WAITING_VIDEO) this.#restartDecoder();
    if (!this.#synced) {
      if (!info.keyframe) {
        this.#passOver(frame);
        return;
      }
      if (!this.#decoder || this.#decoder.state === 'closed' || info.codec !== this.#codec) this.#openDecoder(info.codec);
      // A new stream may have a new size; a decoder that was reset has no configuration left.
      else if (newStream || this.#decoder.state === 'unconfigured') this.#decoder.configure(decoderConfig(info.codec));
      this.#synced = true;
    }
    this.#inDecoder.push(frame);
    const decoder = /** @type {VideoDecoder} */ (this.#decoder);
    try {
      decoder.decode(new EncodedVideoChunk({ type: info.keyframe ? 'key' : 'delta', timestamp: frame.order, data: bitstream }));
    } catch (error) {
      this.#decoderFailed(error);
    }
  }

  /** @param {VideoCodec} codec */
  #openDecoder(codec) {
    this.#closeDecoder();
    this.#codec = codec;
    const decoder = new VideoDecoder({
      output: (frame) => this.#onOutput(frame),
      error: (error) => {
        // A decoder that errored is closed; the next keyframe opens a new one.
        if (decoder === this.#decoder) this.#decoderFailed(error);
      },
    });
    decoder.configure(decoderConfig(codec));
    this.#decoder = decoder;
  }

  /** @param {VideoFrame} output */
  #onOutput(output) {
    // A frame the decoder skipped (none should be) is passed over, not matched to a later picture.
    while (this.#inDecoder.length > 0 && this.#inDecoder[0].order < output.timestamp) this.#passOver(/** @type {WaitingVideo} */ (this.#inDecoder.shift()));
    const frame = this.#inDecoder[0]?.order === output.timestamp ? this.#inDecoder.shift() : undefined;
    if (!frame || this.#closed) {
      output.close();
      return;
    }
    const { info, meta } = frame;
    this.#draw(frame.order, output, info.fullWidth, info.fullHeight);
    output.close();
    this.events.shown({
      codec: info.codec, meta, width: info.width, height: info.height, fullWidth: info.fullWidth, fullHeight: info.fullHeight,
      quality: null, bitrateBps: info.bitrateBps, estimateBps: info.estimateBps >= 0 ? info.estimateBps : null,
    });
    this.events.ack(meta.seq, frame.timing, { keyframe: this.waitingForKeyframe });
  }

  /** @param {unknown} error */
  #decoderFailed(error) {
    this.events.bad(`the video decoder failed: ${error instanceof Error ? error.message : String(error)}`);
    this.#synced = false;
    this.#closeDecoder();
  }

  /** The decoder cannot keep up: what waits in it is dropped, and the stream waits for a keyframe. */
  #restartDecoder() {
    this.#synced = false;
    this.#decoder?.reset(); // discards its queue; no output comes for those frames
    this.#passOverWaiting();
  }

  #closeDecoder() {
    if (this.#decoder && this.#decoder.state !== 'closed') this.#decoder.close();
    this.#decoder = null;
    this.#passOverWaiting();
  }

  #passOverWaiting() {
    const waiting = this.#inDecoder;
    this.#inDecoder = [];
    for (const frame of waiting) this.#passOver(frame);
  }

  /** A video frame that will not be shown is acknowledged anyway, asking for a keyframe. @param {WaitingVideo} frame */
  #passOver(frame) {
    this.events.dropped();
    if (!this.#closed) this.events.ack(frame.meta.seq, frame.timing, { keyframe: true });
  }

  /** Draws at the stream's full size, so a smaller frame of a slow link fills the same picture. @param {number} order @param {CanvasImageSource} source @param {number} width @param {number} height */
  #draw(order, source, width, height) {
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
    }
    this.context.drawImage(source, 0, 0, width, height);
    this.#drawnOrder = order;
  }

  close() {
    this.#closed = true;
    this.#jpegWaiting = null;
    this.#closeDecoder();
  }
}
