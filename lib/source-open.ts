// Opening the user's source, shared by sender and chat: camera 0 by default, falling back to the
// built-in test picture (with a notice) when no camera opens and the user did not name a source.
import type { CaptureSource, VideoBackend } from './backend';
import { CvchatError } from './errors';
import { notice } from './log';
import { captureSpec, type CaptureOptions } from './video';

/** Capture options, where an undefined source means "camera 0, else the test picture". */
export type SourceOptions = Omit<CaptureOptions, 'backend'>;

/** A bright bar colour of the test picture, derived from its label so two sides look different. */
export function labelColor(label: string): [number, number, number] {
  let hash = 2166136261;
  for (const char of label) hash = Math.imul(hash ^ char.charCodeAt(0), 16777619) >>> 0;
  const hue = (hash % 360) / 60;
  const ramp = (offset: number) => Math.round(255 * Math.max(0, Math.min(1, Math.abs(((hue + offset) % 6) - 3) - 1)));
  return [ramp(4), ramp(2), ramp(0)];
}

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
  else if (spec.kind === 'test') fps = 30;
  else if (spec.kind === 'file') fps = sourceFps > 0 && sourceFps <= 240 ? sourceFps : 30;
  return { capture, fps, live: spec.kind === 'camera' || spec.kind === 'url' || spec.kind === 'gstreamer' };
}
