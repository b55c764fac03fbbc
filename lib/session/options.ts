// The options that sender, receiver and chat share, each checked once here and named in the error,
// and the one key policy: a side that offers a stream (sender, chat) makes a strong key when given
// none; a receiver must be given the sender's.
import { VIDEO_CODECS, isVideoCodecName, type CodecChoice, type VideoCodecName } from '../base/codecs';
import { checkBoolean, checkInteger, checkNumber, CvchatError, invalidOption } from '../base/errors';
import {
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_PIXELS,
  DEFAULT_QUALITY,
  MAX_FPS,
  MAX_FRAME_BYTES,
  MAX_PIXELS,
  MAX_DIMENSION,
  MAX_TIMEOUT_MS,
} from '../base/limits';
import type { BackendName, VideoBackend } from '../media/backend';
import { checkBackendName, getBackend } from '../media/backends';
import type { Display } from '../media/display';
import { captureSpec, type SourceOptions } from '../media/source';
import { checkKey, generateKey, type Security } from '../net/tls';
import type { Wire } from '../wire/meta';

export interface SecurityOptions {
  /** The shared key; see the key policy of each role. */
  key?: string;
  /** The plain wire (8-byte length + JPEG): no encryption, no authentication. */
  insecure?: boolean;
  /** jpeg (default), or pickle: numpy pickles as Python peers send them, which needs insecure. */
  wire?: Wire;
}

/** What every role takes: its security, the backend, and a window to show video in. */
export interface SessionOptions extends SecurityOptions {
  backend?: BackendName;
  /** Show video in this display; none means headless. */
  display?: Display;
  /**
   * auto (default): a video codec (H.264, else VP8) with cvchat peers that have one too, JPEG with
   * any other peer; jpeg: JPEG only; h264 or vp8: that codec where the peer has it, else JPEG.
   */
  codec?: CodecChoice;
  /** Record what this side shows to this file (.mkv or .avi): see session/record.ts. */
  record?: string;
}

/**
 * The video codecs a role may send and offer, by preference, from `codec` (see SessionOptions):
 * none for jpeg and for the pickle wire. A codec asked for by name must be in this build.
 */
export function checkCodec(codec: unknown, backend: VideoBackend, wire: Wire | undefined): readonly VideoCodecName[] {
  if (codec !== undefined && codec !== 'auto' && codec !== 'jpeg' && !isVideoCodecName(codec)) {
    throw invalidOption('codec', `'auto', 'jpeg', ${VIDEO_CODECS.map((name) => `'${name}'`).join(', ')}`, codec);
  }
  if (codec === 'jpeg') return [];
  if (wire === 'pickle') {
    if (codec === undefined || codec === 'auto') return [];
    throw new CvchatError('CVCHAT_INVALID_OPTION', `The pickle wire carries raw pixels for Python peers, not ${codec}: drop --codec or --wire pickle`);
  }
  const available = backend.videoCodecs();
  if (codec === undefined || codec === 'auto') return available;
  if (!available.includes(codec)) {
    const why = backend.name === 'native'
      ? `this build of the addon has no ${codec} encoder and decoder (FFmpeg's libavcodec${codec === 'h264' ? ' with libx264' : ' with libvpx'}): run \`bash scripts/setup.sh\` and \`npm run build:native\``
      : `the ${backend.name} backend has no video codecs: use --backend native`;
    throw new CvchatError('CVCHAT_NO_VIDEO_CODEC', `--codec ${codec}: ${why}, or choose --codec auto or jpeg`);
  }
  return [codec];
}

function checkWire(wire: unknown, insecure: boolean | undefined): Wire {
  if (wire === undefined || wire === 'jpeg') return 'jpeg';
  if (wire !== 'pickle') throw invalidOption('wire', "'jpeg' or 'pickle'", wire);
  if (!insecure) throw new CvchatError('CVCHAT_INVALID_OPTION', 'The pickle wire has no encryption: it needs insecure (--insecure)');
  return wire;
}

/** Sender and chat: the given key, or a new strong one (`keyGenerated`), or the plain wire. */
export function offeredSecurity(options: SecurityOptions): { security: Security; keyGenerated: boolean } {
  checkWire(options.wire, options.insecure);
  if (options.insecure !== undefined) checkBoolean('insecure', options.insecure);
  if (options.insecure) return { security: { mode: 'plain' }, keyGenerated: false };
  if (options.key === undefined) return { security: { mode: 'tls', key: generateKey() }, keyGenerated: true };
  return { security: { mode: 'tls', key: checkKey(options.key) }, keyGenerated: false };
}

/** Receiver: insecure, or the given key, or a CVCHAT_NO_KEY error saying `whereToGetIt`. */
export function requiredSecurity(options: SecurityOptions, whereToGetIt: string): Security {
  checkWire(options.wire, options.insecure);
  if (options.insecure) return { mode: 'plain' };
  if (options.key !== undefined) return { mode: 'tls', key: checkKey(options.key) };
  throw new CvchatError('CVCHAT_NO_KEY', `No key: ${whereToGetIt}`);
}

export interface ReceiveLimitOptions {
  /** Declared frame lengths above this are refused before allocating. */
  maxFrameBytes?: number;
  /** Images whose header declares more pixels are refused before decoding. */
  maxPixels?: number;
  /** Close a connection that delivers no complete frame for this long. */
  idleTimeoutMs?: number;
  /** The largest picture shown (a window smaller than the stream): larger frames are decoded smaller, to fit. */
  view?: { width: number; height: number };
}

export type ReceiveLimits = Required<Pick<ReceiveLimitOptions, 'maxFrameBytes' | 'maxPixels'>> & Pick<ReceiveLimitOptions, 'idleTimeoutMs' | 'view'>;

export function checkReceiveLimits(options: ReceiveLimitOptions): ReceiveLimits {
  return {
    maxFrameBytes: checkInteger('maxFrameBytes', options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES, 1, MAX_FRAME_BYTES),
    maxPixels: checkInteger('maxPixels', options.maxPixels ?? DEFAULT_MAX_PIXELS, 1, MAX_PIXELS),
    idleTimeoutMs: checkTimeout('idleTimeoutMs', options.idleTimeoutMs),
    view: options.view === undefined ? undefined : checkView(options.view),
  };
}

function checkView(view: unknown): { width: number; height: number } {
  const { width, height } = (typeof view === 'object' && view !== null ? view : {}) as { width?: unknown; height?: unknown };
  if (!Number.isInteger(width) || !Number.isInteger(height) || (width as number) < 1 || (height as number) < 1 || (width as number) > MAX_DIMENSION || (height as number) > MAX_DIMENSION) {
    throw invalidOption('view', `{ width, height }, whole numbers 1-${MAX_DIMENSION}`, view);
  }
  return { width: width as number, height: height as number };
}

export interface SendOptions extends SourceOptions {
  /** JPEG quality 1-100: the highest sent (the ceiling of the adaptation). */
  quality?: number;
  /**
   * Adapt each peer's stream to its link (default true): a cvchat peer on a slow link gets frames
   * of lower quality or size instead of fewer frames. false: every peer gets every frame at the
   * source's size and `quality`.
   */
  adapt?: boolean;
  /**
   * A source that delivers JPEG (an MJPEG camera, file or stream, a GStreamer pipeline ending in
   * image/jpeg) has its frames sent as they came, wherever they fit a peer's link (default true).
   * false: every frame is decoded and encoded again at `quality`.
   */
  passthrough?: boolean;
}

/** Sender and chat: the source (checked now, opened later), the JPEG quality and the adaptation. */
export function checkSendOptions(options: SendOptions): { quality: number; adapt: boolean; passthrough: boolean } {
  if (options.fps !== undefined) checkNumber('fps', options.fps, 0, MAX_FPS);
  if (options.loop !== undefined) checkBoolean('loop', options.loop);
  captureSpec({ ...options, source: options.source ?? 0 }); // fail fast on a bad source or size
  return {
    quality: checkInteger('quality', options.quality ?? DEFAULT_QUALITY, 1, 100),
    adapt: options.adapt === undefined ? true : checkBoolean('adapt', options.adapt),
    passthrough: options.passthrough === undefined ? true : checkBoolean('passthrough', options.passthrough),
  };
}

/**
 * The source options to open with: its own JPEG asked for when frames may pass through (the
 * native backend, the JPEG wire; the pickle wire carries pixels).
 */
export function sourceToOpen(options: SendOptions, passthrough: boolean, backend: VideoBackend): SourceOptions {
  return { ...options, jpeg: passthrough && backend.name === 'native' && (options as SecurityOptions).wire !== 'pickle' };
}

/** Stop after this many frames. */
export function checkFrameLimit(frames: unknown): number | undefined {
  return frames === undefined ? undefined : checkInteger('frames', frames, 1, Number.MAX_SAFE_INTEGER);
}

export function backendFor(name: BackendName | undefined): VideoBackend {
  return getBackend(checkBackendName(name ?? 'native'));
}

export function checkTimeout(name: string, value: unknown): number | undefined {
  return value === undefined ? undefined : checkInteger(name, value, 1, MAX_TIMEOUT_MS);
}
