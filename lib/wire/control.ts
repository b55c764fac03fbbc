// Control messages: short text payloads that share the frame stream.
import { MAX_CONTROL_BYTES } from '../base/limits';
import { lengthHeader } from './framing';

/**
 * A few notices travel as length-prefixed text payloads starting "CVCHAT:", which
 * cannot be mistaken for an image (JPEG starts FF D8). BUSY: the sender has its maximum of viewers.
 * BYE: the partner is leaving on purpose, as opposed to a lost network. HELLO (chat only) opens
 * each connection with a random nonce, so that two sides that dialled each other at once keep the
 * same one of the two connections. ACK (receiver to sender, only for frames that carried cvchat
 * metadata, so never to a plain Python peer) acknowledges a decoded frame by sequence number, and
 * says when it arrived, which video codecs the receiver takes and whether its decoder needs a keyframe.
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
  if (payload.length > MAX_CONTROL_BYTES || !payload.subarray(0, CONTROL_PREFIX.length).equals(CONTROL_PREFIX)) return null;
  const body = payload.subarray(CONTROL_PREFIX.length).toString('utf8');
  const space = body.indexOf(' ');
  return space < 0 ? { kind: body, text: '' } : { kind: body.slice(0, space), text: body.slice(space + 1) };
}

/**
 * When a frame arrived at the receiver, by the receiver's own monotonic clock (ms): a delay
 * *variation* needs no synchronised clocks, so the sender only ever subtracts two of these.
 */
export interface FrameArrival {
  /** The first byte of the frame (its length header) was read. */
  firstByteAt: number;
  /** The last byte was read. */
  lastByteAt: number;
  /** How long the receiver held the frame (decoding it) before it sent the ACK, in ms. */
  holdMs: number;
}

/**
 * What a receiver says of its video decoding, after the arrival times (cvchat from the codec
 * version on; older parsers ignore words they do not know).
 */
export interface AckNotes {
  /** The video codecs it decodes, by its preference: said on frames that were not video yet. */
  codecs?: readonly string[];
  /** Its decoder is out of sync (a gap, damage, a new stream): it shows nothing new until a keyframe. */
  keyframe?: boolean;
}

export interface Ack extends AckNotes {
  seq: number;
  /** Present when the receiver reported it (cvchat from the adaptive-rate version on). */
  arrival?: FrameArrival;
}

/** An ACK's text: the sequence number, then the arrival times when known, then the notes. */
export function ackText(seq: number, arrival?: FrameArrival, notes: AckNotes = {}): string {
  let text = String(seq);
  if (arrival) text += ` ${arrival.firstByteAt.toFixed(3)} ${arrival.lastByteAt.toFixed(3)} ${arrival.holdMs.toFixed(3)}`;
  if (notes.codecs && notes.codecs.length > 0) text += ` codecs=${notes.codecs.join(',')}`;
  if (notes.keyframe) text += ' key';
  return text;
}

const CODECS_NOTE = / codecs=([a-z0-9]{1,16}(?:,[a-z0-9]{1,16}){0,7})(?= |$)/;
const KEYFRAME_NOTE = / key(?= |$)/;

const TIME = '(\\d{1,12}(?:\\.\\d{1,6})?)';
const ACK_WITH_ARRIVAL = new RegExp(`^(\\d{1,10}) ${TIME} ${TIME} ${TIME}(?: |$)`);

/**
 * What an ACK's text acknowledges, or null when the text is not an ACK's. An older peer sends the
 * sequence number alone; text after what we understand is left for later versions, so that a
 * newer peer's ACK is still understood. Arrival times that are not in order are dropped, not
 * trusted: the sender's estimate must not follow a peer's nonsense.
 */
export function parseAck(text: string): Ack | null {
  const match = /^(\d{1,10})(?: |$)/.exec(text);
  if (!match) return null;
  const seq = Number(match[1]);
  if (seq >= 2 ** 32) return null;
  const ack: Ack = { seq };
  const codecs = CODECS_NOTE.exec(text);
  if (codecs) ack.codecs = codecs[1].split(',');
  if (KEYFRAME_NOTE.test(text)) ack.keyframe = true;
  const timed = ACK_WITH_ARRIVAL.exec(text);
  if (!timed) return ack;
  const [firstByteAt, lastByteAt, holdMs] = [Number(timed[2]), Number(timed[3]), Number(timed[4])];
  if (!(lastByteAt >= firstByteAt) || !(holdMs < 60_000)) return ack;
  ack.arrival = { firstByteAt, lastByteAt, holdMs };
  return ack;
}

/** A TLS handshake record (ClientHello): an encrypted peer talking to a plain (--insecure) one. */
export function looksLikeTlsHandshake(bytes: Buffer): boolean {
  return bytes.length >= 3 && bytes[0] === 0x16 && bytes[1] === 0x03 && bytes[2] <= 0x04;
}

export const PLAIN_ANSWER = () => controlMessage('PLAIN', 'this side runs --insecure (the plain wire): pass --insecure too, or drop it there');
