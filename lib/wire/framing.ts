// The wire, as in the classic Python design cvchat keeps: per payload an 8-byte unsigned length
// (little-endian, Python's struct "Q" on every common CPU), then that many bytes. A frame's payload
// is a JPEG (meta.ts) or a numpy pickle (pickle.ts); a few short control messages share the
// stream (control.ts). Nothing else travels, so a Python peer doing struct.unpack("<Q") and
// cv2.imdecode works unchanged.
import { CvchatError } from '../base/errors';
import { DEFAULT_MAX_FRAME_BYTES } from '../base/limits';

export const HEADER_BYTES = 8;

/** The length header alone, for payloads sent as they are (Python peers' frames, tests). */
export function lengthHeader(payloadBytes: number): Buffer {
  const header = Buffer.allocUnsafe(HEADER_BYTES);
  header.writeBigUInt64LE(BigInt(payloadBytes), 0);
  return header;
}

export interface FrameReaderOptions {
  /** Declared lengths above this are refused before anything is allocated. */
  maxFrameBytes?: number;
  /** How the limit is named in the error: the option that sets it, or what it is for. */
  limitName?: string;
}

/**
 * Parses the length-prefixed stream incrementally. Chunks are kept in a list with a byte count,
 * never concatenated; a payload that lies in one chunk is returned as a view of it, and only a
 * payload spread over several chunks is copied, once, into a buffer of exactly its size.
 */
export class FrameReader {
  private readonly maxFrameBytes: number;
  private readonly limitName: string;
  private readonly chunks: Buffer[] = [];
  private buffered = 0;
  private expected = -1; // payload length once the header is read; -1 while waiting for it

  constructor(options: FrameReaderOptions = {}) {
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.limitName = options.limitName ?? '--max-frame-bytes';
  }

  /** Bytes held while waiting for the rest of a frame. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** True while part of a payload (or of its header) has been read and the rest has not. */
  get inPayload(): boolean {
    return this.buffered > 0 || this.expected >= 0;
  }

  /** Adds a chunk; returns the frames it completed, oldest first. Throws CvchatError on a bad header. */
  push(chunk: Buffer): Buffer[] {
    const frames: Buffer[] = [];
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    for (;;) {
      if (this.expected < 0) {
        if (this.buffered < HEADER_BYTES) break;
        const length = this.take(HEADER_BYTES).readBigUInt64LE(0);
        if (length === 0n) {
          throw new CvchatError('CVCHAT_EMPTY_FRAME', 'The peer sent a frame of length 0');
        }
        if (length > BigInt(this.maxFrameBytes)) {
          throw new CvchatError(
            'CVCHAT_FRAME_TOO_LARGE',
            `The peer declared a frame of ${length} bytes, above the limit of ${this.maxFrameBytes} (${this.limitName})`,
          );
        }
        this.expected = Number(length);
      }
      if (this.buffered < this.expected) break;
      frames.push(this.take(this.expected));
      this.expected = -1;
    }
    return frames;
  }

  private take(n: number): Buffer {
    this.buffered -= n;
    const first = this.chunks[0];
    if (first.length === n) {
      this.chunks.shift();
      return first;
    }
    if (first.length > n) {
      this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const head = this.chunks[0];
      const part = Math.min(head.length, n - filled);
      head.copy(out, filled, 0, part);
      filled += part;
      if (part === head.length) this.chunks.shift();
      else this.chunks[0] = head.subarray(part);
    }
    return out;
  }
}
