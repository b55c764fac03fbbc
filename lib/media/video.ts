// The public video API: capture, encode, decode, record and show, with every option checked here
// (and named in the error) before native code is called once.
import { checkInteger, checkNumber, checkString, CvchatError, invalidOption, withCallerStack } from '../base/errors';
import { DEFAULT_MAX_PIXELS, MAX_DIMENSION, MAX_FPS, MAX_PIXELS } from '../base/limits';
import { native, type NativeFrame, type NativeWriter } from './addon';
import { isSourceJpeg, type BackendName, type CaptureSource, type CaptureSpec, type ImageFormat, type SourceJpeg, type VideoBackend, type VideoFrame } from './backend';
import { backendOf, getBackend } from './backends';
import { captureSpec, type CaptureOptions } from './source';

export type { CaptureSource, VideoFrame, BackendName, VideoBackend, CaptureSpec, ImageFormat, CaptureOptions, SourceJpeg };
export { captureSpec, isSourceJpeg };
export { DEFAULT_MAX_PIXELS, MAX_DIMENSION } from '../base/limits';

/** A capture opened without `jpeg`: every read is a frame. */
export interface FrameCapture extends CaptureSource {
  read(): Promise<VideoFrame | null>;
}

/**
 * Opens a source off the main thread; the promise settles once the device answers. With `jpeg`,
 * a source that delivers JPEG gives its own bytes (SourceJpeg) instead of frames.
 */
export async function openCapture(options?: CaptureOptions & { jpeg?: false }): Promise<FrameCapture>;
export async function openCapture(options: CaptureOptions): Promise<CaptureSource>;
export async function openCapture(options: CaptureOptions = {}): Promise<CaptureSource> {
  const spec = captureSpec(options);
  return getBackend(options.backend ?? 'native').openCapture(spec);
}

/**
 * A source that plays `frames` in a loop, without copying them: each read shares the pixels of
 * one of them, so the source costs nothing (the benchmark's scene). Keep the frames unreleased
 * while the capture is open, and do not draw on frames read from it.
 */
export async function openMemoryCapture(frames: VideoFrame[], options: { fps?: number; backend?: BackendName } = {}): Promise<FrameCapture> {
  if (!Array.isArray(frames) || frames.length === 0) throw invalidOption('frames', 'non-empty array of frames', frames);
  const { width, height } = frames[0];
  if (!frames.every((f) => f.width === width && f.height === height && f.channels === 3)) {
    throw invalidOption('frames', `frames of one size (${width}x${height}) with 3 channels`, 'frames of mixed sizes');
  }
  const fps = options.fps === undefined ? undefined : checkNumber('fps', options.fps, 0, MAX_FPS);
  // Frames in, frames out: a memory source has no JPEG to pass on.
  return (await getBackend(options.backend ?? 'native').openCapture({ kind: 'memory', frames, fps })) as FrameCapture;
}

export interface EncodeOptions {
  format?: ImageFormat;
  /** JPEG and WebP: 1-100 (default 80). PNG: compression level 0-9 (default 3). */
  quality?: number;
}

function checkFrame(frame: unknown, name = 'frame'): VideoFrame {
  if (typeof frame !== 'object' || frame === null || !('released' in frame)) throw invalidOption(name, 'Frame', frame);
  if ((frame as { released: boolean }).released) throw new CvchatError('CVCHAT_FRAME_RELEASED', `The ${name} was already released`);
  return frame as unknown as VideoFrame;
}

/** The backend that made `frame` (frames of either backend are accepted), after checking it. */
function frameBackend(frame: unknown, name = 'frame'): VideoBackend {
  const backend = backendOf(checkFrame(frame, name));
  if (!backend) throw invalidOption(name, 'Frame', frame);
  return backend;
}

function assertNativeFrame(frame: unknown): asserts frame is NativeFrame {
  if (frameBackend(frame).name !== 'native') {
    throw new CvchatError('CVCHAT_INVALID_OPTION', 'This needs a frame of the native backend; this frame comes from opencv4nodejs');
  }
}

export async function encode(frame: VideoFrame, options: EncodeOptions = {}): Promise<Buffer> {
  const backend = frameBackend(frame);
  const format = options.format ?? 'jpeg';
  if (format !== 'jpeg' && format !== 'png' && format !== 'webp') {
    throw invalidOption('format', "one of 'jpeg', 'png', 'webp'", format);
  }
  const quality =
    format === 'png'
      ? checkInteger('quality', options.quality ?? 3, 0, 9)
      : checkInteger('quality', options.quality ?? 80, 1, 100);
  return withCallerStack(() => backend.encode(frame, format, quality));
}

export interface DecodeOptions {
  /** Refuse images whose header declares more pixels than this (default 8K UHD). */
  maxPixels?: number;
  /** 3 for BGR (default), 1 for grey, 4 to keep alpha. */
  channels?: 1 | 3 | 4;
}

export async function decode(bytes: Buffer, options: DecodeOptions = {}): Promise<VideoFrame> {
  if (!Buffer.isBuffer(bytes)) throw invalidOption('bytes', 'Buffer', bytes);
  if (bytes.length === 0) throw new CvchatError('CVCHAT_DECODE_FAILED', 'Cannot decode an empty buffer');
  const maxPixels = checkInteger('maxPixels', options.maxPixels ?? DEFAULT_MAX_PIXELS, 1, MAX_PIXELS);
  const channels = options.channels ?? 3;
  if (channels !== 1 && channels !== 3 && channels !== 4) throw invalidOption('channels', '1, 3 or 4', channels);
  return withCallerStack(() => native().decode(bytes, maxPixels, channels));
}

/** The dimensions an encoded image declares, or null when it is not JPEG, PNG or WebP. */
export function probeImage(bytes: Buffer): { format: string; width: number; height: number } | null {
  if (!Buffer.isBuffer(bytes)) throw invalidOption('bytes', 'Buffer', bytes);
  return native().probeImage(bytes);
}

/** A frame from raw pixels (BGR, grey or BGRA, row after row); the pixels are copied. */
export function frameFromPixels(pixels: Buffer, width: number, height: number, channels: 1 | 3 | 4 = 3): VideoFrame {
  if (!Buffer.isBuffer(pixels)) throw invalidOption('pixels', 'Buffer', pixels);
  checkInteger('width', width, 1, MAX_DIMENSION);
  checkInteger('height', height, 1, MAX_DIMENSION);
  if (channels !== 1 && channels !== 3 && channels !== 4) throw invalidOption('channels', '1, 3 or 4', channels);
  if (pixels.length !== width * height * channels) {
    throw invalidOption('pixels', `Buffer of ${width * height * channels} bytes (${width}x${height}x${channels})`, `${pixels.length} bytes`);
  }
  return native().Frame.fromBuffer(pixels, width, height, channels);
}

/** A copy of the frame's pixels, row after row. */
export function framePixels(frame: VideoFrame): Buffer {
  return frameBackend(frame).toPixels(frame);
}

export interface WriterOptions {
  width: number;
  height: number;
  fps?: number;
  /** Four-character codec code; MJPG suits .avi, mp4v suits .mp4. */
  fourcc?: string;
}

/**
 * A GStreamer pipeline fed with BGR frames: it starts with `appsrc` and ends in a sink of its own
 * (udpsink, filesink...). Opened by OpenCV's GStreamer backend.
 */
export async function openPipelineWriter(pipeline: string, options: Omit<WriterOptions, 'fourcc'>): Promise<VideoWriter> {
  checkString('pipeline', pipeline);
  if (!/^\s*appsrc\b/.test(pipeline)) throw invalidOption('pipeline', 'GStreamer pipeline starting with appsrc', pipeline);
  return openWriter(pipeline, options, '', true);
}

export interface VideoWriter {
  write(frame: VideoFrame): Promise<void>;
  release(): Promise<void>;
}

export async function openVideoWriter(path: string, options: WriterOptions): Promise<VideoWriter> {
  checkString('path', path);
  if (typeof options !== 'object' || options === null) throw invalidOption('options', 'object', options);
  const fourcc = options.fourcc ?? 'MJPG';
  if (typeof fourcc !== 'string' || fourcc.length !== 4) throw invalidOption('fourcc', 'four-character string', fourcc);
  return openWriter(path, options, fourcc, false);
}

async function openWriter(path: string, options: Omit<WriterOptions, 'fourcc'>, fourcc: string, pipeline: boolean): Promise<VideoWriter> {
  if (typeof options !== 'object' || options === null) throw invalidOption('options', 'object', options);
  const width = checkInteger('width', options.width, 1, MAX_DIMENSION);
  const height = checkInteger('height', options.height, 1, MAX_DIMENSION);
  const fps = checkNumber('fps', options.fps ?? 30, 0.1, MAX_FPS);
  const writer: NativeWriter = await withCallerStack(() => native().VideoWriter.open(path, fourcc, fps, width, height, pipeline));
  return {
    write: (frame) => {
      assertNativeFrame(frame);
      return withCallerStack(() => writer.write(frame));
    },
    release: () => withCallerStack(() => writer.release()),
  };
}

/** Why no window can be shown here, or null when one can. */
export function displayProblem(): string | null {
  return native().displayProblem();
}
