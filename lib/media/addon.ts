// The one place that loads the compiled addon. node-gyp-build prefers a local build
// (build/Release) and falls back to prebuilds/<platform>-<arch>; PREBUILDS_ONLY=1 skips the local
// build, which is how the tests prove a prebuilt binary works. CVCHAT_ADDON names an exact .node
// file (the cmake-js build is tested that way).
import path from 'node:path';

import type { VideoCodecName } from '../base/codecs';
import { CvchatError } from '../base/errors';

export type { VideoCodecName };
import type { BGR, CaptureSpec, ImageFormat, SourceJpeg } from './backend';

export interface NativeCaptureInfo {
  width: number;
  height: number;
  fps: number;
  frameCount: number;
  backend: string;
  closed: boolean;
  /** Reads give the source's JPEG bytes (see CaptureInfo.jpeg). */
  jpeg: boolean;
}

export interface NativeFrame {
  readonly width: number;
  readonly height: number;
  readonly channels: number;
  readonly released: boolean;
  toBuffer(): Buffer;
  /** A new handle on the same pixels (no copy); see VideoBackend.share. */
  share(): NativeFrame;
  release(): void;
}

export interface NativeCapture {
  readonly info: NativeCaptureInfo;
  read(): Promise<NativeFrame | SourceJpeg | null>;
  release(): Promise<void>;
}

export interface NativeWriter {
  write(frame: NativeFrame): Promise<void>;
  release(): Promise<void>;
}

/**
 * A recording (native/recorder.h): MJPEG in Matroska (.mkv) or AVI (.avi), one write at a time on
 * the libuv pool. A write while another runs rejects with CVCHAT_RECORD_BUSY (skip that frame and
 * count it), a write after close() with CVCHAT_RECORD_CLOSED.
 */
export interface NativeRecorder {
  /**
   * The JPEG's bytes unchanged as one frame at `timeMs` (ms since the recording's start, fractional
   * allowed; a time not after the last frame's is moved 1 ms, or one AVI slot, after it). The JPEG
   * must be the recording's size (else CVCHAT_INVALID_ARGUMENT). The Buffer is borrowed, not copied.
   */
  writeJpeg(jpeg: Buffer, timeMs: number): Promise<void>;
  /** Scales `frame` to the recording's size (bilinear) if it differs, encodes it as JPEG at `quality` (1-100), and writes it. */
  writeFrame(frame: NativeFrame, timeMs: number, quality: number): Promise<void>;
  /** After the write in progress, writes the index and closes the file. Every call settles when that is done. */
  close(): Promise<void>;
  /** Frames written so far. */
  readonly frames: number;
  /** The file's size in bytes so far (container overhead included). */
  readonly bytes: number;
}

/** Benchmarks only: overrides of the settings native/video_codec.cc chose by measurement. */
export interface VideoCodecTuning {
  threads?: number;
  /** x264 preset and profile (ultrafast ... medium; baseline, main, high). */
  preset?: string;
  profile?: string;
  /** x264 tune (zerolatency, optionally with one of film, ssim, psnr...: "ssim,zerolatency"). */
  tune?: string;
  /** The rate control's buffer, in seconds of the bitrate (both codecs). */
  bufferSeconds?: number;
  /** libvpx VP8 cpu-used, -16 to 16 (higher is faster). */
  cpuUsed?: number;
}

export interface EncodedVideoFrame {
  data: Buffer;
  keyframe: boolean;
}

/** One frame in, one frame out; one encode() at a time (a second call while one runs rejects with CVCHAT_VIDEO_BUSY). */
export interface NativeVideoEncoder {
  /**
   * Encodes `frame` (8-bit, 1, 3 or 4 channels; scaled to the encoder's size if it differs) at
   * `bitrateBps` (followed from this frame on), as a keyframe when asked or when it is the first.
   */
  encode(frame: NativeFrame, bitrateBps: number, keyframe: boolean): Promise<EncodedVideoFrame>;
  /** Frees the codec now, or when the encode in flight ends; later calls reject with CVCHAT_VIDEO_CLOSED. */
  close(): void;
  readonly codec: VideoCodecName;
  readonly width: number;
  readonly height: number;
}

export interface DecodedVideoFrame {
  /** A BGR frame when status is 'ok', else null. */
  frame: NativeFrame | null;
  /**
   * 'error': damaged, truncated, not this codec, too large, flagged or concealed by the decoder,
   * or not a keyframe while the decoder waits for one (after creation, reset() or any error).
   * 'none': the decoder gave no picture.
   */
  status: 'ok' | 'error' | 'none';
  keyframe: boolean;
  /** The stream's size (0 before its first keyframe), or the decoded picture's before scaling. */
  width: number;
  height: number;
  /** Why, when status is 'error'. */
  reason?: string;
}

export interface NativeVideoDecoder {
  decode(data: Buffer, maxPixels: number, width?: number, height?: number): Promise<DecodedVideoFrame>;
  /** A new stream starts: frames are refused until its first keyframe. */
  reset(): void;
  close(): void;
  readonly codec: VideoCodecName;
}

/** The addon takes the backend interface's capture spec as it is. */
export type NativeCaptureSpec = CaptureSpec;

export interface NativeAddon {
  Frame: { new (): never; fromBuffer(pixels: Buffer, width: number, height: number, channels: number): NativeFrame };
  Capture: { open(spec: NativeCaptureSpec): Promise<NativeCapture> };
  VideoWriter: { open(path: string, fourcc: string, fps: number, width: number, height: number, pipeline?: boolean): Promise<NativeWriter> };
  /**
   * Creates `path` (overwriting it) for a recording of `width` x `height` frames at about `fps`:
   * .mkv or .avi, picked by the extension (anything else rejects with CVCHAT_RECORD_FORMAT); a file
   * that cannot be created rejects with CVCHAT_RECORD_OPEN_FAILED, with the system's reason.
   */
  Recorder: { open(path: string, width: number, height: number, fps: number): Promise<NativeRecorder> };
  encode(frame: NativeFrame, format: ImageFormat, quality: number, width?: number, height?: number): Promise<Buffer>;
  decode(bytes: Buffer, maxPixels: number, channels: number, width?: number, height?: number): Promise<NativeFrame>;
  probeImage(bytes: Buffer): { format: string; width: number; height: number } | null;
  /** Codecs with both an encoder and a decoder here, preferred first. */
  videoCodecs(): VideoCodecName[];
  VideoEncoder: { new (codec: VideoCodecName, width: number, height: number, fps: number, tuning?: VideoCodecTuning): NativeVideoEncoder };
  VideoDecoder: { new (codec: VideoCodecName): NativeVideoDecoder };
  imshow(title: string, frame: NativeFrame): void;
  moveWindow(title: string, x: number, y: number): void;
  waitKey(delayMs: number): number;
  windowVisible(title: string): boolean;
  destroyWindow(title: string): void;
  destroyAllWindows(): void;
  putText(frame: NativeFrame, text: string, x: number, y: number, scale: number, color: BGR, thickness: number): void;
  rectangle(frame: NativeFrame, x: number, y: number, width: number, height: number, color: BGR, thickness: number): void;
  overlay(target: NativeFrame, picture: NativeFrame, x: number, y: number, width: number, height: number): void;
  resize(frame: NativeFrame, width: number, height: number): NativeFrame;
  displayProblem(): string | null;
  /** TCP_NOTSENT_LOWAT on a socket's fd (lib/net/socket-options.ts); false where the platform lacks it. */
  setUnsentLimit(fd: number, bytes: number): boolean;
  /** The TCP_NOTSENT_LOWAT read back (0: the system's default); null where the platform lacks it. */
  unsentLimit(fd: number): number | null;
  opencvVersion: string;
}

export const packageRoot = path.resolve(__dirname, '..', '..', '..');

function load(): NativeAddon {
  try {
    const exact = process.env.CVCHAT_ADDON;
    if (exact) return require(path.resolve(exact)) as NativeAddon;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('node-gyp-build')(packageRoot) as NativeAddon;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new CvchatError(
      'CVCHAT_ADDON_LOAD_FAILED',
      `The cvchat native addon did not load: ${reason}\n` +
        'Likely causes and fixes:\n' +
        '  - it was never built: run `npm install` (or `npm run build:native`) in the cvchat folder;\n' +
        '  - OpenCV is missing: `sudo apt-get install libopencv-dev` (or run `bash scripts/setup.sh`);\n' +
        '  - it was built against another OpenCV or Node.js: run `npm run build:native` again;\n' +
        '  - PREBUILDS_ONLY=1 is set but prebuilds/ has no binary for this platform: run `npm run prebuild`.',
      { cause: error },
    );
  }
}

let addon: NativeAddon | undefined;

/** The addon, loaded on first use so that `--help` works even where it is not built. */
export function native(): NativeAddon {
  addon ??= load();
  return addon;
}
