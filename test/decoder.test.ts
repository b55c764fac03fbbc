// The inbound decoder on its own, with the real codec: newest payload wins while both decoders
// are busy, results come out in arrival order, each decoded frame with cvchat metadata is acked.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { CvchatError } from '../lib/base/errors';
import { getBackend } from '../lib/media/backends';
import { encode, framePixels, openCapture } from '../lib/media/video';
import { FrameDecoder, type DecodedFrame } from '../lib/session/decoder';
import { StreamStats } from '../lib/session/stats';
import { FrameReader } from '../lib/wire/framing';
import { frameHead } from '../lib/wire/meta';
import { pickleImage } from '../lib/wire/pickle';
import type { VideoCodecName } from '../lib/base/codecs';
import type { AckNotes } from '../lib/wire/control';
import { videoFrameHead } from '../lib/wire/video';
import { waitFor } from './helpers';

/** `count` JPEG payloads of the test picture as they arrive off the wire, metadata included. */
async function payloads(count: number, width = 320, height = 240): Promise<Buffer[]> {
  const source = await openCapture({ source: 'test', width, height });
  const out: Buffer[] = [];
  for (let seq = 0; seq < count; seq++) {
    const frame = (await source.read())!;
    const jpeg = await encode(frame);
    frame.release();
    const wire = Buffer.concat([frameHead(jpeg.length, { seq, captureTime: Date.now(), echoTime: 0, echoHoldMs: 0 }), jpeg.subarray(2)]);
    out.push(...new FrameReader().push(wire));
  }
  await source.release();
  return out;
}

function decoder(wire: 'jpeg' | 'pickle' = 'jpeg', codecs: VideoCodecName[] = []) {
  const stats = new StreamStats('receiver');
  const got: DecodedFrame[] = [];
  const acks: number[] = [];
  const notes: AckNotes[] = [];
  const errors: CvchatError[] = [];
  const d = new FrameDecoder(getBackend('native'), { maxPixels: 1920 * 1080, wire, codecs }, stats, {
    frame: (decoded) => got.push(decoded),
    ack: (seq, _receipt, note) => {
      acks.push(seq);
      notes.push(note);
    },
    error: (error) => errors.push(error),
  });
  return { d, stats, got, acks, notes, errors };
}

/** `count` H.264 payloads of one stream of the test picture, the first a keyframe, seq from `firstSeq`. */
async function videoPayloads(count: number, firstSeq = 0): Promise<Buffer[]> {
  const source = await openCapture({ source: 'test', width: 320, height: 240 });
  const encoder = getBackend('native').openVideoEncoder('h264', { width: 320, height: 240 }, 30);
  const out: Buffer[] = [];
  for (let index = 0; index < count; index++) {
    const frame = (await source.read())!;
    const { data, keyframe } = await encoder.encode(frame, 1e6, false);
    frame.release();
    const info = { codec: 'h264' as const, keyframe, stream: 1, index, width: 320, height: 240, fullWidth: 320, fullHeight: 240, estimateBps: 1e6, bitrateBps: 1e6 };
    out.push(...new FrameReader().push(Buffer.concat([videoFrameHead(data.length, info, { seq: firstSeq + index, captureTime: Date.now(), echoTime: 0, echoHoldMs: 0 }), data])));
  }
  encoder.close();
  await source.release();
  return out;
}

describe('inbound frame decoder', () => {
  it('delivers frames in arrival order, with metadata and latency, and acks each one', async () => {
    const { d, got, acks, stats } = decoder();
    const all = await payloads(6);
    for (const payload of all) {
      d.push(payload, Date.now());
      await waitFor('the decode', () => (got.length === all.indexOf(payload) + 1 ? true : undefined), 5000);
    }
    assert.deepEqual(got.map((g) => g.meta!.seq), [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(acks, [0, 1, 2, 3, 4, 5]);
    assert.ok(got.every((g) => g.latencyMs! >= 0 && g.frame.width === 320));
    assert.equal(stats.frames, 6);
    assert.equal(stats.dropped, 0);
    for (const g of got) g.frame.release();
  });

  it('of payloads that arrive together, decodes only the newest', async () => {
    const { d, got, stats, acks } = decoder();
    const all = await payloads(3);
    for (const payload of all) d.push(payload, Date.now()); // one chunk's frames, pushed in one go
    await waitFor('the newest frame', () => (got.length > 0 ? true : undefined), 5000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(got.map((g) => g.meta!.seq), [2]);
    assert.deepEqual(acks, [2], 'one ack covers the older frames at the sender');
    assert.equal(stats.dropped, 2);
    got[0].frame.release();
  });

  it('keeps only the newest payload while both decoders are busy, still in order', async () => {
    const { d, got, stats } = decoder();
    const all = await payloads(10, 1280, 720);
    const tick = () => new Promise((resolve) => setImmediate(resolve));
    d.push(all[0], Date.now());
    await tick(); // decoding 0
    d.push(all[1], Date.now());
    await tick(); // decoding 0 and 1: both decoders busy
    for (const payload of all.slice(2)) d.push(payload, Date.now());
    await waitFor('the last frame', () => (got.at(-1)?.meta?.seq === 9 ? true : undefined), 10_000);
    assert.deepEqual(got.map((g) => g.meta!.seq), [0, 1, 9], 'the first two decoded, the newest of the rest kept');
    assert.equal(stats.dropped, 7);
    for (const g of got) g.frame.release();
  });

  it('stops at a payload that is not a picture, and reports it once', async () => {
    const { d, got, errors } = decoder();
    const [good] = await payloads(1);
    d.push(Buffer.from([0xff, 0xd8, 0xff, 0x00, 1, 2, 3]), Date.now());
    await waitFor('the error', () => (errors.length > 0 ? true : undefined), 5000);
    d.push(good, Date.now());
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(errors.length, 1);
    assert.match(errors[0].code, /^CVCHAT_/);
    assert.equal(got.length, 0, 'nothing after the error');
  });

  it('delivers nothing once closed, even a decode already running', async () => {
    const { d, got, acks } = decoder();
    const [payload] = await payloads(1, 1280, 720);
    d.push(payload, Date.now());
    d.close();
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(got.length, 0);
    assert.equal(acks.length, 0);
  });

  it('reads pickles on the pickle wire, without acks (they carry no metadata)', async () => {
    const { d, got, acks } = decoder('pickle');
    const pixels = Buffer.alloc(4 * 3 * 3, 7);
    d.push(Buffer.concat(pickleImage(pixels, 3, 4, 3)), Date.now());
    await waitFor('the frame', () => (got.length === 1 ? true : undefined), 5000);
    assert.equal(got[0].frame.width, 4);
    assert.deepEqual(framePixels(got[0].frame), pixels);
    assert.equal(got[0].meta, null);
    assert.deepEqual(acks, []);
    got[0].frame.release();
  });

  it('offers its codecs in the ACKs of JPEG frames; decodes every video frame in order, none replaced by a newer one', async () => {
    const { d, got, acks, notes } = decoder('jpeg', ['h264', 'vp8']);
    const jpegs = await payloads(2);
    const videos = await videoPayloads(6, 2);
    d.push(jpegs[0], Date.now());
    await waitFor('the JPEG', () => (got.length === 1 ? true : undefined), 5000);
    // The rest arrive together: a JPEG would give way to the newest, video frames never do.
    for (const payload of [jpegs[1], ...videos]) d.push(payload, Date.now());
    await waitFor('every video frame', () => (acks.length === 8 ? true : undefined), 5000);
    assert.deepEqual(acks, [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(got.map((g) => g.meta!.point?.codec ?? 'jpeg'), ['jpeg', 'jpeg', 'h264', 'h264', 'h264', 'h264', 'h264', 'h264']);
    assert.deepEqual(notes.slice(0, 2), [{ codecs: ['h264', 'vp8'] }, { codecs: ['h264', 'vp8'] }], 'the JPEG frames\' ACKs offer the codecs');
    assert.ok(notes.slice(2).every((n) => !n.codecs && !n.keyframe), 'video frames\' ACKs need say nothing');
    for (const g of got) g.frame.release();
  });

  it('more video frames than a sender may send at once: the oldest are lost, and nothing is shown until a keyframe', async () => {
    const { d, got, acks, notes, stats } = decoder('jpeg', ['h264']);
    const videos = await videoPayloads(12);
    for (const payload of videos) d.push(payload, Date.now());
    await waitFor('the frames kept', () => (acks.length === 8 ? true : undefined), 5000);
    // Twelve at once against a queue of eight: the first four (the keyframe among them) are lost.
    assert.deepEqual(acks, [4, 5, 6, 7, 8, 9, 10, 11]);
    assert.equal(got.length, 0, 'no picture without the keyframe');
    assert.ok(notes.every((n) => n.keyframe === true), 'each ACK asks for a keyframe');
    assert.equal(stats.dropped, 12);
  });
});
