// The plain wire, as in the seed: per frame an 8-byte unsigned length (little-endian, the seed's
// struct "Q" on every common CPU), then that many bytes of JPEG. Nothing else travels, so a
// Python peer doing struct.unpack("<Q") and cv2.imdecode works unchanged.
//
// cvchat's own metadata (sequence number, capture time, an echoed timestamp for round-trip time)
// rides inside the JPEG as an APP11 segment right after the SOI marker. JPEG decoders skip
// application segments, so the picture is unaffected and other peers ignore it.
import { CvchatError } from './errors';

export const HEADER_BYTES = 8;
export const DEFAULT_MAX_FRAME_BYTES = 32 * 1024 * 1024;

const APP11 = 0xeb;
const META_TAG = Buffer.from('CVCHAT\0', 'latin1');
const META_VERSION = 1;
/** Tag, version, u32 sequence, f64 capture time, f64 echoed time, f64 echo hold time. */
const META_PAYLOAD = META_TAG.length + 1 + 4 + 8 + 8 + 8;
/** The APP11 segment: marker (2), length (2), payload. */
export const META_SEGMENT_BYTES = 4 + META_PAYLOAD;

export interface FrameMeta {
  /** Counts frames at the sender, wrapping at 2^32. */
  seq: number;
  /** Wall-clock ms (Date.now() scale, fractional) when the frame was captured. */
  captureTime: number;
  /** Chat: the partner's captureTime of the newest frame we had received, or 0. */
  echoTime: number;
  /** Chat: how long ago (ms) we received that frame, so the partner can subtract it. */
  echoHoldMs: number;
}

/**
 * The bytes that go before `jpeg.subarray(2)` on the wire: the length header, the JPEG SOI
 * marker, and the metadata segment. Writing these and the rest of the JPEG as two buffers avoids
 * copying the JPEG to insert the segment.
 */
export function frameHead(jpegBytes: number, meta: FrameMeta): Buffer {
  const head = Buffer.allocUnsafe(HEADER_BYTES + 2 + META_SEGMENT_BYTES);
  head.writeBigUInt64LE(BigInt(jpegBytes + META_SEGMENT_BYTES), 0);
  let at = HEADER_BYTES;
  head[at++] = 0xff;
  head[at++] = 0xd8;
  head[at++] = 0xff;
  head[at++] = APP11;
  head.writeUInt16BE(META_PAYLOAD + 2, at);
  at += 2;
  at += META_TAG.copy(head, at);
  head[at++] = META_VERSION;
  head.writeUInt32LE(meta.seq >>> 0, at);
  at += 4;
  head.writeDoubleLE(meta.captureTime, at);
  at += 8;
  head.writeDoubleLE(meta.echoTime, at);
  at += 8;
  head.writeDoubleLE(meta.echoHoldMs, at);
  return head;
}

export type Wire = 'jpeg' | 'pickle';

/**
 * A frame's bytes on the wire. JPEG: the head (length, SOI, metadata segment) and the JPEG after
 * its SOI, so the JPEG is not copied to insert the segment. Pickle: the length and the pickle's
 * parts (whose pixels are a view of the frame's), and no metadata: the seed's peers would not
 * expect any.
 */
export function wireParts(wire: Wire, payload: Buffer[], meta: FrameMeta): Buffer[] {
  if (wire === 'jpeg') return [frameHead(payload[0].length, meta), payload[0].subarray(2)];
  return [lengthHeader(payload.reduce((n, part) => n + part.length, 0)), ...payload];
}

/** The length header alone, for payloads sent as they are (Python peers' frames, tests). */
export function lengthHeader(payloadBytes: number): Buffer {
  const header = Buffer.allocUnsafe(HEADER_BYTES);
  header.writeBigUInt64LE(BigInt(payloadBytes), 0);
  return header;
}

/** cvchat's metadata in a received JPEG, or null when the sender did not add any. */
export function readFrameMeta(jpeg: Buffer): FrameMeta | null {
  if (jpeg.length < 2 + META_SEGMENT_BYTES || jpeg[2] !== 0xff || jpeg[3] !== APP11) return null;
  if (jpeg.readUInt16BE(4) !== META_PAYLOAD + 2) return null;
  if (!jpeg.subarray(6, 6 + META_TAG.length).equals(META_TAG)) return null;
  let at = 6 + META_TAG.length;
  if (jpeg[at++] !== META_VERSION) return null;
  const seq = jpeg.readUInt32LE(at);
  const captureTime = jpeg.readDoubleLE(at + 4);
  const echoTime = jpeg.readDoubleLE(at + 12);
  const echoHoldMs = jpeg.readDoubleLE(at + 20);
  if (![captureTime, echoTime, echoHoldMs].every(Number.isFinite)) return null;
  return { seq, captureTime, echoTime, echoHoldMs };
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

/**
 * A few end-of-session notices travel as length-prefixed text payloads starting "CVCHAT:", which
 * cannot be mistaken for an image (JPEG starts FF D8). BUSY: the sender has its maximum of viewers.
 * BYE: the partner is leaving on purpose, as opposed to a lost network. HELLO (chat only) opens
 * each connection with a random nonce, so that two sides that dialled each other at once keep the
 * same one of the two connections. ACK (receiver to sender, only for frames that carried cvchat
 * metadata, so never to the seed's scripts) acknowledges a decoded frame by sequence number.
 * PLAIN answers a peer that opened with a TLS handshake on the plain wire: whatever the text, its
 * TLS client then fails with "wrong version", which cvchat reports as a peer that is not encrypted.
 */
export type ControlKind = 'BUSY' | 'BYE' | 'HELLO' | 'ACK' | 'PLAIN';
const CONTROL_PREFIX = Buffer.from('CVCHAT:', 'latin1');

export function controlMessage(kind: ControlKind, text = ''): Buffer {
  const payload = Buffer.from(`CVCHAT:${kind} ${text}`, 'utf8');
  return Buffer.concat([lengthHeader(payload.length), payload]);
}

export function parseControl(payload: Buffer): { kind: string; text: string } | null {
  if (payload.length > 4096 || !payload.subarray(0, CONTROL_PREFIX.length).equals(CONTROL_PREFIX)) return null;
  const body = payload.subarray(CONTROL_PREFIX.length).toString('utf8');
  const space = body.indexOf(' ');
  return space < 0 ? { kind: body, text: '' } : { kind: body.slice(0, space), text: body.slice(space + 1) };
}

/** A TLS handshake record (ClientHello): an encrypted peer talking to a plain (--insecure) one. */
export function looksLikeTlsHandshake(bytes: Buffer): boolean {
  return bytes.length >= 3 && bytes[0] === 0x16 && bytes[1] === 0x03 && bytes[2] <= 0x04;
}

export const PLAIN_ANSWER = () => controlMessage('PLAIN', 'this side runs --insecure (the plain wire): pass --insecure too, or drop it there');
