// The small interface through which the streaming code reaches OpenCV. Two implementations exist:
// cvchat's own addon (the default) and @u4/opencv4nodejs (optional, installed on demand by
// scripts/install-opencv4nodejs.sh). Both pass the same backend tests, so the benchmark compares
// like with like.
import type { VideoCodecName } from '../base/codecs';

export type BackendName = 'native' | 'opencv4nodejs';

/** A colour in OpenCV's order: [blue, green, red], each 0-255. */
export type BGR = [number, number, number];

export type ImageFormat = 'jpeg' | 'png' | 'webp';

/** A picture's size in pixels. */
export interface Size {
  width: number;
  height: number;
}

export interface VideoFrame {
  readonly width: number;
  readonly height: number;
  readonly channels: number;
  /** Frees the pixels now rather than at garbage collection. */
  release(): void;
}

/** A source's own JPEG, as the camera, file or pipeline delivered it: nothing decoded. */
export interface SourceJpeg {
  readonly jpeg: Buffer;
  readonly width: number;
  readonly height: number;
}

/** True for what a capture's read() gives when it passes the source's JPEG on (never for a frame). */
export function isSourceJpeg(value: unknown): value is SourceJpeg {
  if (typeof value !== 'object' || value === null) return false;
  const { jpeg, width, height } = value as Partial<SourceJpeg>;
  return Buffer.isBuffer(jpeg) && typeof width === 'number' && typeof height === 'number';
}

export interface CaptureInfo {
  width: number;
  height: number;
  fps: number;
  /** Frames in a file, or -1 where unknown. */
  frameCount: number;
  backend: string;
  /**
   * Reads give the source's own JPEG bytes (SourceJpeg): the spec asked for `jpeg` and the source
   * delivers JPEG. Known once the capture is open, except for a GStreamer pipeline, whose caps
   * show only in its first read. A backend that never passes JPEG on may leave it out.
   */
  jpeg?: boolean;
}

export interface CaptureSource {
  readonly info: CaptureInfo;
  /**
   * The next frame, or null when the source has ended. One read at a time. A SourceJpeg only when
   * the spec asked for `jpeg`; even then, a packet that is not a JPEG comes as a decoded frame.
   */
  read(): Promise<VideoFrame | SourceJpeg | null>;
  /** Waits for a pending read, then frees the device. */
  release(): Promise<void>;
}

export interface CaptureSpec {
  kind: 'camera' | 'file' | 'url' | 'gstreamer' | 'test' | 'memory';
  index?: number;
  location?: string;
  width?: number;
  height?: number;
  fps?: number;
  /** Files: start again at the end. */
  loop?: boolean;
  /**
   * Prefer the source's own JPEG bytes when it delivers JPEG (a camera in MJPG mode, an MJPEG file
   * or HTTP stream, a GStreamer pipeline ending in image/jpeg): read() then gives SourceJpeg,
   * nothing decoded. Other sources give frames as usual. The opencv4nodejs backend ignores it.
   */
  jpeg?: boolean;
  /** Test source: text drawn on the picture. */
  label?: string;
  /** Test source: colour of the bar across the top, [b, g, r]. */
  color?: BGR;
  /** Test source: the capture time as a code in the bottom right corner, for a viewer to read back (latency through a media server). */
  timecode?: boolean;
  /** Memory source: frames of this backend, played in a loop. Read frames share their pixels. */
  frames?: VideoFrame[];
}

/** One frame of a video codec's stream, as the encoder made it. */
export interface EncodedVideo {
  data: Buffer;
  keyframe: boolean;
}

/**
 * A video codec's encoder: one stream, whose frames depend on the ones before (send all of them, in
 * order, or a keyframe next). Encodes on the libuv pool, one frame at a time, with no delay: each
 * call returns that frame's bytes.
 */
export interface VideoEncoder {
  readonly codec: VideoCodecName;
  /** The encoded size; frames of another size are scaled to it on the pool. */
  readonly width: number;
  readonly height: number;
  /** `bitrateBps`: the target from this frame on (it may change every frame). */
  encode(frame: VideoFrame, bitrateBps: number, keyframe: boolean): Promise<EncodedVideo>;
  /** Frees the encoder (after the encode in progress, if any). */
  close(): void;
}

export interface DecodedVideo {
  /** ok: a picture; error: damaged, or missing the frames it refers to (nothing shown); none: no picture yet. */
  status: 'ok' | 'error' | 'none';
  frame: VideoFrame | null;
  keyframe: boolean;
}

/** A video codec's decoder: one stream's frames, in order, one at a time, on the libuv pool. */
export interface VideoDecoder {
  readonly codec: VideoCodecName;
  /** `size`: scale the picture to it (checked by the caller, within maxPixels). */
  decode(data: Buffer, maxPixels: number, size?: Size): Promise<DecodedVideo>;
  /** Forgets the stream: the next picture must come from a keyframe. */
  reset(): void;
  close(): void;
}

/**
 * A recording to a video file (--record): MJPEG frames at their real times, one write at a time;
 * a write while another runs rejects with CVCHAT_RECORD_BUSY (skip the frame and count it), so
 * recording never holds up the live path.
 */
export interface Recorder {
  /** A JPEG of the recording's size, stored as it is, at `timeMs` since the recording's start. */
  writeJpeg(jpeg: Buffer, timeMs: number): Promise<void>;
  /** A frame of any size, scaled to the recording's and encoded as JPEG at `quality` (1-100). */
  writeFrame(frame: VideoFrame, timeMs: number, quality: number): Promise<void>;
  /** After the write in progress, finishes the file; later writes reject with CVCHAT_RECORD_CLOSED. */
  close(): Promise<void>;
  /** Frames written so far. */
  readonly frames: number;
  /** The file's size so far. */
  readonly bytes: number;
}

export interface VideoBackend {
  readonly name: BackendName;
  openCapture(spec: CaptureSpec): Promise<CaptureSource>;
  /** True when `frame` was made by this backend (frames do not cross backends). */
  owns(frame: unknown): frame is VideoFrame;
  /** JPEG and WebP: quality 1-100; PNG: compression level 0-9. */
  encode(frame: VideoFrame, format: ImageFormat, quality: number): Promise<Buffer>;
  /** `size`: scale the frame to it first (checked by the caller: 1 to MAX_DIMENSION each side). */
  encodeJpeg(frame: VideoFrame, quality: number, size?: Size): Promise<Buffer>;
  /** `size`: scale the decoded picture to it (checked by the caller, within maxPixels). */
  decode(bytes: Buffer, maxPixels: number, size?: Size): Promise<VideoFrame>;
  fromPixels(pixels: Buffer, width: number, height: number, channels: number): VideoFrame;
  toPixels(frame: VideoFrame): Buffer;
  /**
   * A second handle on the same pixels, released on its own: the pixels are freed when every handle
   * is. Nothing is copied, so neither handle may be drawn on while the other is in use.
   */
  share(frame: VideoFrame): VideoFrame;
  resize(frame: VideoFrame, width: number, height: number): VideoFrame;
  /** Main thread only. Throws CVCHAT_NO_DISPLAY where no window can be shown. */
  imshow(title: string, frame: VideoFrame): void;
  moveWindow(title: string, x: number, y: number): void;
  /** Polls the GUI for up to delayMs; the key code or -1. */
  waitKey(delayMs: number): number;
  destroyWindow(title: string): void;
  /** False once the user has closed a window that was shown. */
  windowVisible(title: string): boolean;
  drawText(frame: VideoFrame, text: string, x: number, y: number, scale: number, color: BGR): void;
  drawBox(frame: VideoFrame, x: number, y: number, width: number, height: number, color: BGR, thickness: number): void;
  overlay(target: VideoFrame, picture: VideoFrame, x: number, y: number, width: number, height: number): void;
  /** The video codecs this backend encodes and decodes, by preference; none for opencv4nodejs. */
  videoCodecs(): VideoCodecName[];
  /** An encoder of `codec` at `size` (even sides) for a stream of about `fps` frames a second. */
  openVideoEncoder(codec: VideoCodecName, size: Size, fps: number): VideoEncoder;
  openVideoDecoder(codec: VideoCodecName): VideoDecoder;
  /**
   * A recording to `path` (.mkv or .avi, by its extension) of `size` at about `fps` (AVI's frame
   * grid; Matroska keeps each frame's own time). Missing where the backend cannot record.
   */
  openRecorder?(path: string, size: Size, fps: number): Promise<Recorder>;
}
