// The fan-out on its own: one encoded frame to every sink, pixels to the sinks that want them
// (each its own handle on the same pixels), and demand for sources read only when someone can take
// a frame. Also the redial policy the receiver and the chat share.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { BACKOFF_FIRST_MS, BACKOFF_MAX_MS, FRAMELESS_SESSIONS_BEFORE_BACKOFF, RETRY_AFTER_SESSION_MS } from '../lib/base/limits';
import type { VideoFrame } from '../lib/media/backend';
import { getBackend } from '../lib/media/backends';
import { framePixels, openMemoryCapture } from '../lib/media/video';
import { CapturePipeline } from '../lib/session/pipeline';
import { RedialPolicy } from '../lib/net/redial';
import { fullPoint } from '../lib/session/adapt';
import { FanOut, type EncodedFrame, type FrameSink } from '../lib/session/sinks';

const encoded = (seq: number): EncodedFrame => ({
  wire: 'jpeg', payload: [Buffer.from([0xff, 0xd8])], bytes: 2, seq, captureTime: 0, width: 1, height: 1,
  point: fullPoint({ width: 1, height: 1 }, 80), fullWidth: 1, fullHeight: 1,
});

describe('fan-out of frames to sinks', () => {
  it('gives every sink the same encoded frame, and each pixel sink a handle of its own', () => {
    const backend = getBackend('native');
    const fanOut = new FanOut(backend);
    const got: Array<{ name: string; seq?: number; frame?: VideoFrame }> = [];
    const encodedSink = (name: string): FrameSink => ({ wantsFrame: true, deliver: (f) => got.push({ name, seq: f.seq }) });
    const pixelSink = (name: string): FrameSink => ({ wantsFrame: false, deliverPixels: (frame) => got.push({ name, frame }) });
    for (const sink of [encodedSink('viewer a'), encodedSink('viewer b'), pixelSink('window'), pixelSink('recorder')]) fanOut.add(sink);
    fanOut.deliver(encoded(7));
    const frame = backend.fromPixels(Buffer.alloc(4 * 2 * 3, 99), 4, 2, 3);
    fanOut.deliverPixels(frame, 0);
    assert.deepEqual(got.filter((g) => g.seq !== undefined).map((g) => `${g.name} ${g.seq}`), ['viewer a 7', 'viewer b 7']);
    const handles = got.filter((g) => g.frame).map((g) => g.frame!);
    assert.equal(handles.length, 2);
    assert.notEqual(handles[0], handles[1], 'each pixel sink owns its own handle');
    handles[0].release();
    assert.equal(framePixels(handles[1])[0], 99, 'releasing one handle leaves the pixels to the other');
    handles[1].release();
  });

  it('encodes a frame only for the peers that take it: once per JPEG point, by the sink for its own stream, not at all when every peer skips it', async () => {
    const backend = getBackend('native');
    let jpegEncodes = 0;
    const counting = { ...backend, encodeJpeg: (...args: Parameters<typeof backend.encodeJpeg>) => { jpegEncodes++; return backend.encodeJpeg(...args); } };
    const fanOut = new FanOut(counting);
    const offered: string[] = [];
    let frames = 0;
    // A JPEG peer that takes every other frame, and a peer that encodes its own stream and takes every third.
    fanOut.add({ wantsFrame: true, pointFor: (_offer, full) => (frames % 2 === 0 ? full : null), deliver: (f) => offered.push(`jpeg ${f.seq}`) });
    fanOut.add({
      wantsFrame: true,
      encodesOwn: () => frames % 3 === 0,
      encodeOwn: async (_frame, made) => {
        offered.push(`own ${made.seq}`);
        return 1;
      },
    });
    fanOut.add({ wantsFrame: false, deliverPixels: (frame) => { frames++; frame.release(); } });
    const capture = await openMemoryCapture([backend.fromPixels(Buffer.alloc(16 * 16 * 3, 50), 16, 16, 3)]);
    const pipeline = new CapturePipeline(counting, capture, { fps: 200, quality: 80, maxFrames: 12 }, fanOut);
    assert.equal(await pipeline.run(), 'limit');
    await capture.release();
    // Frame n is planned while `frames` is n (the pixel sink counts it after its encodes).
    const expected = [...Array(12).keys()].flatMap((n) => [...(n % 2 === 0 ? [`jpeg ${n}`] : []), ...(n % 3 === 0 ? [`own ${n}`] : [])]);
    // Within a frame the two encodes run at once, so either may finish first.
    assert.deepEqual([...offered].sort(), [...expected].sort());
    assert.equal(jpegEncodes, 6, 'one JPEG encode per frame a JPEG peer takes, none for a frame every peer skips');
    assert.equal(frames, 12, 'the window still sees every frame');
  });

  it('releases the pixels when no sink takes them', () => {
    const backend = getBackend('native');
    const fanOut = new FanOut(backend);
    fanOut.add({ wantsFrame: true, deliver: () => undefined });
    const frame = backend.fromPixels(Buffer.alloc(3), 1, 1, 3);
    fanOut.deliverPixels(frame, 0);
    assert.equal((frame as unknown as { released: boolean }).released, true);
  });

  it('resolves demand when a sink can take a frame, and at once when closed', async () => {
    const fanOut = new FanOut(getBackend('native'));
    const sink = { wantsFrame: false, deliver: () => undefined };
    fanOut.add(sink);
    let satisfied = false;
    const waiting = fanOut.demand().then(() => (satisfied = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(satisfied, false, 'nobody can take a frame: the source is not read');
    sink.wantsFrame = true;
    fanOut.wake();
    await waiting;
    assert.equal(satisfied, true);
    sink.wantsFrame = false;
    const never = fanOut.demand();
    fanOut.close();
    await never; // a stopping pipeline is not left waiting
  });
});

describe('redial policy', () => {
  it('retries a peer that is down quickly at first, then doubling to the longest pause, and says so once', () => {
    const policy = new RedialPolicy();
    const steps = Array.from({ length: 6 }, () => policy.dialFailed());
    assert.deepEqual(steps.map((s) => s.delayMs), [1, 2, 4, 8, 16, 32].map((k) => Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * k)));
    assert.equal(steps.at(-1)!.delayMs, BACKOFF_MAX_MS);
    assert.deepEqual(steps.map((s) => s.startedBackingOff), [true, false, false, false, false, false]);
  });

  it('waits after a dial that connected but began no session, and still announces a later failed dial', () => {
    const policy = new RedialPolicy();
    const connected = policy.connectedWithoutSession();
    assert.equal(connected.startedBackingOff, false);
    assert.equal(connected.delayMs, BACKOFF_FIRST_MS);
    const failed = policy.dialFailed();
    assert.equal(failed.startedBackingOff, true, 'the first real failure is still said');
    assert.equal(failed.delayMs, BACKOFF_FIRST_MS * 2);
  });

  it('retries at once after a session that showed frames, and resets the backoff', () => {
    const policy = new RedialPolicy();
    policy.dialFailed();
    policy.dialFailed();
    const step = policy.sessionEnded(true);
    assert.deepEqual(step, { delayMs: RETRY_AFTER_SESSION_MS, backingOff: false, startedBackingOff: false });
    assert.equal(policy.dialFailed().delayMs, BACKOFF_FIRST_MS);
  });

  it('backs off after sessions in a row that showed nothing, saying so once, until one shows a frame', () => {
    const policy = new RedialPolicy();
    const steps = Array.from({ length: FRAMELESS_SESSIONS_BEFORE_BACKOFF + 2 }, () => policy.sessionEnded(false));
    const quick = steps.slice(0, FRAMELESS_SESSIONS_BEFORE_BACKOFF - 1);
    assert.ok(quick.every((s) => s.delayMs === RETRY_AFTER_SESSION_MS && !s.backingOff));
    const slow = steps.slice(FRAMELESS_SESSIONS_BEFORE_BACKOFF - 1);
    assert.deepEqual(slow.map((s) => s.delayMs), [BACKOFF_FIRST_MS, BACKOFF_FIRST_MS * 2, BACKOFF_FIRST_MS * 4]);
    assert.deepEqual(slow.map((s) => s.startedBackingOff), [true, false, false]);
    assert.equal(policy.sessionEnded(true).delayMs, RETRY_AFTER_SESSION_MS);
    assert.equal(policy.frameless, 0);
  });
});
