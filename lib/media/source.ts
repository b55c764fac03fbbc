// The user's source: --source text turned into a capture spec (with errors that say what was
// understood), and opened with cvchat's default of camera 0, else the built-in test picture.
import fs from 'node:fs';

import { checkBoolean, checkInteger, checkNumber, checkString, CvchatError, invalidOption } from '../base/errors';
import { DEFAULT_MAX_PIXELS, DEFAULT_TEST_FPS, MAX_DIMENSION, MAX_FILE_FPS, MAX_FPS } from '../base/limits';
import { notice } from '../base/log';
import { isSourceJpeg, type BackendName, type BGR, type CaptureSource, type CaptureSpec, type VideoBackend, type VideoFrame } from './backend';

/**
 * "0", "1"... a camera index; "test" the built-in test picture; text with " ! " a GStreamer
 * pipeline; "scheme://..." a URL; anything else a file path, which must exist.
 */
export function parseSource(source: string | number): CaptureSpec {
  if (typeof source === 'number') {
    if (!Number.isInteger(source) || source < 0) throw invalidOption('source', 'camera index (integer >= 0)', source);
    return { kind: 'camera', index: source };
  }
  if (typeof source !== 'string' || source.trim() === '') {
    throw invalidOption('source', 'camera index, file, URL, GStreamer pipeline or "test"', source);
  }
  const text = source.trim();
  if (/^\d+$/.test(text)) return { kind: 'camera', index: Number(text) };
  if (text === 'test') return { kind: 'test' };
  if (text.includes(' ! ') || /\bappsink\b/.test(text)) return { kind: 'gstreamer', location: text };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return { kind: 'url', location: text };
  if (!fs.existsSync(text)) {
    throw new CvchatError(
      'CVCHAT_SOURCE_NOT_FOUND',
      `No such video file: '${text}'. --source takes a camera index (0), a file, a URL, a GStreamer pipeline or "test"`,
    );
  }
  return { kind: 'file', location: text };
}

/** What the user gives: the source as text or a camera index, the rest as in CaptureSpec. */
export interface CaptureOptions extends Pick<CaptureSpec, 'width' | 'height' | 'fps' | 'loop' | 'jpeg' | 'label' | 'color' | 'timecode'> {
  /** Camera index, file, URL, GStreamer pipeline or "test". Default 0. */
  source?: string | number;
  backend?: BackendName;
}

function checkColor(name: string, value: unknown): BGR {
  if (!Array.isArray(value) || value.length !== 3 || !value.every((c) => Number.isInteger(c) && c >= 0 && c <= 255)) {
    throw invalidOption(name, 'array of three integers 0-255 [b, g, r]', value);
  }
  return value as BGR;
}

/** Checks every capture option (naming the one that is wrong) and returns the spec the backends take. */
export function captureSpec(options: CaptureOptions = {}): CaptureSpec {
  if (typeof options !== 'object' || options === null) throw invalidOption('options', 'object', options);
  const spec = parseSource(options.source ?? 0);
  if (options.width !== undefined) spec.width = checkInteger('width', options.width, 1, MAX_DIMENSION);
  if (options.height !== undefined) spec.height = checkInteger('height', options.height, 1, MAX_DIMENSION);
  if (options.fps !== undefined) spec.fps = checkNumber('fps', options.fps, 0, MAX_FPS); // 0: as fast as the source gives
  if (options.loop !== undefined) spec.loop = checkBoolean('loop', options.loop);
  if (options.jpeg !== undefined) spec.jpeg = checkBoolean('jpeg', options.jpeg);
  if (options.label !== undefined) spec.label = checkString('label', options.label);
  if (options.color !== undefined) spec.color = checkColor('color', options.color);
  if (options.timecode !== undefined) spec.timecode = checkBoolean('timecode', options.timecode);
  return spec;
}

/** A bright bar colour of the test picture, derived from its label so two sides look different. */
export function labelColor(label: string): BGR {
  let hash = 2166136261;
  for (const char of label) hash = Math.imul(hash ^ char.charCodeAt(0), 16777619) >>> 0;
  const hue = (hash % 360) / 60;
  const ramp = (offset: number) => Math.round(255 * Math.max(0, Math.min(1, Math.abs(((hue + offset) % 6) - 3) - 1)));
  return [ramp(4), ramp(2), ramp(0)];
}

/** Capture options, where an undefined source means "camera 0, else the test picture". */
export type SourceOptions = Omit<CaptureOptions, 'backend'>;

export interface OpenedSource {
  capture: CaptureSource;
  /** How fast to read it: as asked; else a file's own rate; the test picture at 30; 0 for live
   * sources (cameras, streams, pipelines), which pace themselves. */
  fps: number;
  /** A camera, stream or pipeline: frames come at their own pace and go stale if not read. */
  live: boolean;
}

export async function openSource(backend: VideoBackend, options: SourceOptions): Promise<OpenedSource> {
  if (options.label !== undefined && options.color === undefined) options = { ...options, color: labelColor(options.label) };
  let spec = captureSpec({ ...options, source: options.source ?? 0 });
  let capture: CaptureSource;
  try {
    capture = await backend.openCapture(spec);
  } catch (error) {
    if (options.source !== undefined || (error as CvchatError).code !== 'CVCHAT_CAPTURE_OPEN_FAILED') throw error;
    notice(`no camera opened at index 0 (${(error as Error).message}); using the built-in test picture instead`);
    spec = captureSpec({ ...options, source: 'test' });
    capture = await backend.openCapture(spec);
  }
  const sourceFps = capture.info.fps;
  let fps = 0;
  if (options.fps !== undefined) fps = options.fps;
  else if (spec.kind === 'test') fps = DEFAULT_TEST_FPS;
  else if (spec.kind === 'file') fps = sourceFps > 0 && sourceFps <= MAX_FILE_FPS ? sourceFps : DEFAULT_TEST_FPS;
  return { capture, fps, live: spec.kind === 'camera' || spec.kind === 'url' || spec.kind === 'gstreamer' };
}

/**
 * The next read of `capture` as pixels: a source's JPEG (given only to a capture opened with
 * `jpeg`) is decoded here. For callers that draw on or re-encode every frame.
 */
export async function readPixels(backend: VideoBackend, capture: CaptureSource): Promise<VideoFrame | null> {
  const read = await capture.read();
  if (!isSourceJpeg(read)) return read;
  return backend.decode(read.jpeg, DEFAULT_MAX_PIXELS);
}
