// --record FILE: what a side shows, kept in a file that players and OpenCV open. The sender keeps
// its source (the full point: the source's own JPEG, or the frame encoded at --quality); the
// receiver and the chat keep the video they show. A JPEG of the recording's size is stored as it
// is (no decode, no encode); anything else (a video codec's frame, a smaller adapted point, the
// pickle wire) is encoded to JPEG on the pool. Writing happens on the pool, one frame at a time
// with one waiting: a frame that finds both taken is skipped and counted, never waited for, so a
// slow disk costs frames in the file, not in the call.
import fs from 'node:fs';
import path from 'node:path';

import { wallClock } from '../base/clock';
import { CvchatError, invalidOption } from '../base/errors';
import { DEFAULT_QUALITY } from '../base/limits';
import { notice } from '../base/log';
import type { Recorder, Size, VideoBackend, VideoFrame } from '../media/backend';
import { probeImage } from '../media/video';
import { stripFrameMeta } from '../wire/meta';
import type { FrameOffer, OperatingPoint } from './adapt';
import type { DecodedFrame } from './decoder';
import type { EncodedFrame, FrameSink } from './sinks';

/** Containers by extension: both store JPEG frames as they are (MJPEG). */
export const RECORD_EXTENSIONS = ['.mkv', '.avi'] as const;

/**
 * An AVI has no per-frame times: each frame takes a slot of a fixed rate, and a slot without a
 * frame is an empty chunk. A side that does not know the stream's rate (a receiver, a chat) uses
 * slots of 1/60 s, fine enough for any call; a sender uses its source's rate, which its frames
 * follow exactly.
 */
const AVI_SLOTS_PER_SECOND = 60;
/** A sender's rate above this (an unpaced source) is no rate: the slots of 1/60 s are used. */
const MAX_KNOWN_RATE = 120;

/** Checks --record's path now, so a typo fails before the call starts: a new file, in a folder that exists. */
export function checkRecordPath(file: unknown): string {
  if (typeof file !== 'string' || file.trim() === '') throw invalidOption('record', 'file name ending in .mkv or .avi', file);
  const extension = path.extname(file).toLowerCase();
  if (!(RECORD_EXTENSIONS as readonly string[]).includes(extension)) {
    throw new CvchatError('CVCHAT_INVALID_OPTION', `--record ${file}: the extension picks the container; use .mkv (Matroska: the best after a crash) or .avi`);
  }
  const folder = path.dirname(path.resolve(file));
  if (!fs.existsSync(folder) || !fs.statSync(folder).isDirectory()) {
    throw new CvchatError('CVCHAT_INVALID_OPTION', `--record ${file}: the folder ${folder} does not exist`);
  }
  if (fs.existsSync(file)) {
    throw new CvchatError('CVCHAT_INVALID_OPTION', `--record ${file}: the file exists; cvchat does not overwrite recordings. Choose another name or delete it`);
  }
  return file;
}

/** What is being recorded, for --stats. */
export interface RecordingStatus {
  file: string;
  frames: number;
  /** Frames that came while the recorder was still writing the ones before: not in the file. */
  skipped: number;
  /** Seconds from the first frame recorded to the last. */
  seconds: number;
  bytes: number;
}

type Pending = { kind: 'jpeg'; jpeg: Buffer; at: number } | { kind: 'frame'; frame: VideoFrame; at: number };

/**
 * A recording, opened at its first frame (whose size it takes). Frames are offered with the wall
 * clock time they were shown; the file plays them at those times.
 */
export class Recording {
  private recorder: Recorder | null = null;
  private opening: Promise<void> | null = null;
  private size: Size | null = null;
  private startedAt = 0;
  private lastAt = 0;
  private writing: Promise<void> | null = null;
  private waiting: Pending | null = null;
  private failed = false;
  private closed = false;
  private resizedSaid = false;
  skipped = 0;

  /** `fps`: the stream's rate, when this side knows it (a sender); 0 when it does not. */
  constructor(
    private readonly backend: VideoBackend,
    readonly file: string,
    private readonly fps = 0,
  ) {
    Recording.checkBackend(backend);
  }

  /** Throws unless `backend` writes recordings. */
  static checkBackend(backend: VideoBackend): void {
    if (!backend.openRecorder) throw new CvchatError('CVCHAT_INVALID_OPTION', `--record needs the native backend (the ${backend.name} backend cannot write recordings)`);
  }

  get status(): RecordingStatus {
    return {
      file: this.file,
      frames: this.recorder?.frames ?? 0,
      skipped: this.skipped,
      seconds: Math.round(Math.max(0, this.lastAt - this.startedAt)) / 1000,
      bytes: this.recorder?.bytes ?? 0,
    };
  }

  /** The recording's size, once its first frame came. */
  get frameSize(): Size | null {
    return this.size;
  }

  /** True when a frame offered now would be written rather than skipped. */
  get ready(): boolean {
    return !this.closed && !this.failed && this.waiting === null;
  }

  /** A frame that cannot be taken now: counted as skipped while recording (not after a failure or the end). */
  passOver(): void {
    if (!this.closed && !this.failed) this.skipped++;
  }

  /** A JPEG shown at wall-clock `at`; stored as it is when it has the recording's size. */
  offerJpeg(jpeg: Buffer, at: number, size: Size | null = jpegSize(jpeg)): void {
    if (!size) return;
    this.offer({ kind: 'jpeg', jpeg, at }, size);
  }

  /**
   * Pixels shown at wall-clock `at`; the recording owns `frame` from now on. `size`: the stream's
   * size, when the picture was shown smaller or larger (a first frame opens the file at it).
   */
  offerFrame(frame: VideoFrame, at: number, size: Size = { width: frame.width, height: frame.height }): void {
    this.offer({ kind: 'frame', frame, at }, size);
  }

  /** Waits for the frames being written, and finishes the file (it plays without its end being repaired). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.opening;
    while (this.writing) await this.writing;
    const recorder = this.recorder;
    if (!recorder) {
      if (!this.failed) notice(`nothing was recorded to ${this.file}: no frame was shown`);
      return;
    }
    try {
      await recorder.close();
    } catch (error) {
      notice(`recording: finishing ${this.file} failed: ${(error as Error).message}`);
      return;
    }
    const { frames, seconds, skipped } = this.status;
    notice(`recorded ${frames} frames (${seconds.toFixed(1)} s) to ${this.file}${skipped ? `; ${skipped} skipped while the recorder was still writing${this.resizedSaid ? ', or of another size' : ''}` : ''}`);
  }

  private offer(item: Pending, size: Size): void {
    if (this.closed || this.failed) {
      drop(item);
      return;
    }
    if (!this.size) {
      this.size = size;
      this.startedAt = item.at;
      this.opening = this.open(size);
    }
    // A JPEG of another size cannot be stored as it is (recordShown offers its pixels instead,
    // which are scaled to the recording's size); one that comes anyway (a sender's source that
    // changed size) is skipped, and said once.
    if (item.kind === 'jpeg' && (size.width !== this.size.width || size.height !== this.size.height)) {
      if (!this.resizedSaid) notice(`recording: the source is now ${size.width}x${size.height}, the recording ${this.size.width}x${this.size.height}: frames of the new size are skipped`);
      this.resizedSaid = true;
      this.skipped++;
      return;
    }
    if (this.waiting) {
      this.passOver();
      drop(item);
      return;
    }
    this.waiting = item;
    if (!this.writing) this.writing = this.drain();
  }

  private async open(size: Size): Promise<void> {
    const extension = path.extname(this.file).toLowerCase();
    try {
      // Made now, exclusively: another cvchat given the same name since the check at start must
      // not have its recording truncated (the native open replaces this empty file).
      try {
        fs.closeSync(fs.openSync(this.file, 'wx'));
      } catch (error) {
        const reason = (error as NodeJS.ErrnoException).code === 'EEXIST' ? 'it exists now (another recording?)' : (error as Error).message;
        throw new CvchatError('CVCHAT_RECORD_OPEN_FAILED', `Could not create ${this.file}: ${reason}`);
      }
      const known = this.fps > 0 && this.fps <= MAX_KNOWN_RATE;
      this.recorder = await this.backend.openRecorder!(this.file, size, known ? this.fps : extension === '.avi' ? AVI_SLOTS_PER_SECOND : 30);
      notice(`recording ${size.width}x${size.height} to ${this.file}`);
    } catch (error) {
      this.fail(error);
    }
  }

  /** Writes the waiting frames one after another until none waits. */
  private async drain(): Promise<void> {
    await this.opening;
    while (this.waiting) {
      const item = this.waiting;
      this.waiting = null;
      if (!this.recorder || this.failed) {
        drop(item);
        continue;
      }
      // Times only move forward: a frame shown in the same millisecond as the last is stored a millisecond later.
      const at = Math.max(item.at - this.startedAt, this.lastAt - this.startedAt + (this.recorder.frames > 0 ? 1 : 0));
      try {
        if (item.kind === 'jpeg') await this.recorder.writeJpeg(item.jpeg, at);
        else await this.recorder.writeFrame(item.frame, at, DEFAULT_QUALITY);
        this.lastAt = this.startedAt + at;
      } catch (error) {
        this.fail(error);
      } finally {
        drop(item);
      }
    }
    this.writing = null;
  }

  private fail(error: unknown): void {
    if (this.failed) return;
    this.failed = true;
    const { message, code } = error as CvchatError;
    notice(`recording stopped: ${message}${code ? ` [${code}]` : ''}; the call goes on`);
  }
}

/** The size a JPEG declares, or null for anything else. */
function jpegSize(bytes: Buffer): Size | null {
  const header = probeImage(bytes);
  return header?.format === 'jpeg' ? { width: header.width, height: header.height } : null;
}

function drop(item: Pending): void {
  if (item.kind === 'frame') item.frame.release();
}

/**
 * The sender's recording as a sink of the fan-out: it takes the full point (the source's own JPEG,
 * or the frame at --quality), the bytes every viewer at full quality shares, and skips frames
 * while it is writing. On the pickle wire there is no JPEG to share: it takes pixels instead.
 */
export class RecordingSink implements FrameSink {
  readonly wantsFrame = false;

  constructor(
    readonly recording: Recording,
    private readonly wire: 'jpeg' | 'pickle',
  ) {
    if (wire === 'pickle') this.deliverPixels = (frame, captureTime) => this.recording.offerFrame(frame, captureTime);
  }

  pointFor(_offer: FrameOffer, full: OperatingPoint): OperatingPoint | null {
    if (this.wire === 'pickle') return null;
    if (this.recording.ready) return full;
    this.recording.passOver();
    return null;
  }

  deliver(frame: EncodedFrame): void {
    if (frame.wire !== 'jpeg' || frame.point.rank !== 0) return;
    this.recording.offerJpeg(frame.payload[0], frame.captureTime, { width: frame.width, height: frame.height });
  }

  deliverPixels?: (frame: VideoFrame, captureTime: number) => void;
}

/**
 * A receiver's or chat's recording of what it shows: the JPEG as it arrived (cvchat's segments
 * taken out) when it is the stream's full size, else the decoded picture. Takes no ownership of
 * `decoded`: a picture it keeps is a shared handle.
 */
export function recordShown(recording: Recording, backend: VideoBackend, decoded: DecodedFrame): void {
  const at = wallClock();
  const point = decoded.meta?.point;
  const payload = decoded.payload;
  const isJpeg = payload.length > 2 && payload[0] === 0xff && payload[1] === 0xd8;
  const full = !point || (!point.codec && point.width === point.fullWidth && point.height === point.fullHeight);
  if (isJpeg && full) {
    const size = jpegSize(payload);
    const recordingSize = recording.frameSize;
    if (size && (!recordingSize || (size.width === recordingSize.width && size.height === recordingSize.height))) {
      if (recording.ready) recording.offerJpeg(stripFrameMeta(payload), at, size);
      else recording.passOver();
      return;
    }
  }
  if (!recording.ready) {
    recording.passOver();
    return;
  }
  const streamSize = point ? { width: point.fullWidth, height: point.fullHeight } : undefined;
  recording.offerFrame(backend.share(decoded.frame), at, streamSize);
}
