// From a rate estimate to a picture: the operating points, the frame size model, the choice of a
// point per frame, and what travels on the wire for it (the ACK's arrival times, the point's
// segment), including what an older cvchat makes of the new bytes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { encode, decode, framePixels, openMemoryCapture } from '../lib/media/video';
import { getBackend } from '../lib/media/backends';
import { readPixels } from '../lib/media/source';
import type { RateEstimate } from '../lib/net/rate';
import { FrameSizeModel, fullPoint, operatingPoints, PointChooser, PAYLOAD_SHARE, type FrameOffer } from '../lib/session/adapt';
import { MAX_POINTS_PER_FRAME } from '../lib/base/limits';
import { chatHudLines, receiverHudLines } from '../lib/session/hud';
import { StreamStats } from '../lib/session/stats';
import { FanOut, limitPoints, type FrameSink } from '../lib/session/sinks';
import { ackText, parseAck } from '../lib/wire/control';
import { frameHead, readFrameMeta, META_SEGMENT_BYTES, type FrameMeta } from '../lib/wire/meta';
import { HEADER_BYTES } from '../lib/wire/framing';

const HD = { width: 1280, height: 720 };
const estimate = (bps: number): RateEstimate => ({ bps, deliveredBps: null, linkBps: null, sentBps: bps, rttMs: 20, queueMs: 0, state: 'increase' });
const offer = (now: number): FrameOffer => ({ size: HD, intervalMs: 1000 / 30, now });

describe('operating points', () => {
  it('go down in quality first, then in size, and never above the ceiling quality', () => {
    const points = operatingPoints(HD, 80);
    assert.deepEqual(points[0], fullPoint(HD, 80));
    assert.deepEqual(points.slice(0, 9).map((p) => [p.width, p.quality]), [80, 75, 70, 65, 60, 55, 50, 45, 40].map((q) => [1280, q]));
    assert.deepEqual(points.slice(9, 12).map((p) => [p.width, p.quality]), [60, 50, 40].map((q) => [960, q]));
    assert.deepEqual([...new Set(points.map((p) => `${p.width}x${p.height}`))], ['1280x720', '960x540', '640x360', '426x240']);
    assert.ok(points.every((p) => p.quality <= 80 && p.width % 2 === 0 && p.height % 2 === 0));
    assert.equal(new Set(points.map((p) => p.key)).size, points.length, 'each point has its own key');
    assert.ok(operatingPoints(HD, 35).every((p) => p.quality <= 35), 'a low --quality is the ceiling of every size');
    assert.ok(operatingPoints({ width: 4, height: 2 }, 80).length >= 1, 'a tiny source still has a point');
  });

  it('predict bytes that shrink down the list, and learn the content from encoded frames', async () => {
    const model = new FrameSizeModel();
    const points = operatingPoints(HD, 80);
    const guesses = points.map((p) => model.predict(p, HD));
    assert.ok(guesses.every((bytes, i) => i === 0 || bytes < guesses[i - 1] * 1.05), 'fewer bytes down the list (within 5%)');
    // A real picture: the model learns its bytes at one point and predicts another within a factor of 1.6.
    const capture = await openMemoryCapture([await decode(await encode(await testPicture(), { quality: 95 }))]);
    const frame = (await capture.read())!;
    const backend = getBackend('native');
    const full = await backend.encodeJpeg(frame, 80);
    model.observe(points[0], HD, full.length);
    const half = points.find((p) => p.width === 640 && p.quality === 50)!;
    const actual = (await backend.encodeJpeg(frame, 50, half)).length;
    const predicted = model.predict(half, HD);
    assert.ok(predicted / actual < 1.6 && actual / predicted < 1.6, `predicted ${predicted.toFixed(0)} bytes, encoded ${actual}`);
    frame.release();
    await capture.release();
  });
});

async function testPicture() {
  const backend = getBackend('native');
  const capture = await backend.openCapture({ kind: 'test', width: 1280, height: 720, label: 'adapt' });
  const frame = (await readPixels(backend, capture))!;
  await capture.release();
  return frame;
}

describe('choosing a point per frame', () => {
  const model = new FrameSizeModel();
  model.observe(fullPoint(HD, 80), HD, 110_000); // camera-like 720p at quality 80

  it('keeps the full point when the budget allows it', () => {
    const chooser = new PointChooser(80, model);
    assert.deepEqual(chooser.choose(offer(0), estimate(100e6)), fullPoint(HD, 80));
  });

  it('picks a point that fits the budget, lower on a slower link', () => {
    const at = (bps: number) => {
      const point = new PointChooser(80, model).choose(offer(0), estimate(bps))!;
      const budget = ((bps * PAYLOAD_SHARE) / 8) / 30;
      assert.ok(model.predict(point, HD) <= budget || point === operatingPoints(HD, 80).at(-1), `${bps / 1e6} Mbit/s: ${point.key} fits ${budget.toFixed(0)} bytes`);
      return point;
    };
    const [fast, medium, slow] = [at(20e6), at(5e6), at(2e6)];
    assert.ok(fast.width * fast.quality > medium.width * medium.quality, `${fast.key} above ${medium.key}`);
    assert.ok(medium.width * medium.quality > slow.width * slow.quality, `${medium.key} above ${slow.key}`);
    assert.ok(slow.width < 1280, 'at 2 Mbit/s the picture is smaller');
  });

  it('skips frames only when even the smallest point would outrun the estimate', () => {
    const chooser = new PointChooser(80, model);
    let sent = 0;
    let skipped = 0;
    for (let i = 0; i < 90; i++) {
      const point = chooser.choose(offer(i * (1000 / 30)), estimate(200_000)); // 0.2 Mbit/s: nothing fits 30 fps
      if (!point) {
        skipped++;
        continue;
      }
      sent++;
      chooser.spent(model.predict(point, HD));
    }
    assert.ok(skipped > 0 && sent > 0, `some frames skipped (${skipped}), some sent (${sent})`);
    const roomy = new PointChooser(80, model);
    for (let i = 0; i < 90; i++) {
      const point = roomy.choose(offer(i * (1000 / 30)), estimate(100e6));
      assert.ok(point, 'with room, no frame is skipped');
      roomy.spent(model.predict(point, HD));
    }
  });

  it('steps down at once but up only after a while, so a budget on the edge does not flicker', () => {
    const chooser = new PointChooser(80, model);
    const points: string[] = [];
    for (let i = 0; i < 30; i++) {
      const bps = i % 2 === 0 ? 5e6 : 8e6; // an estimate that wobbles every frame
      const point = chooser.choose(offer(i * (1000 / 30)), estimate(bps))!;
      chooser.spent(model.predict(point, HD));
      points.push(point.key);
    }
    const changes = points.filter((key, i) => i > 0 && key !== points[i - 1]).length;
    assert.ok(changes <= 3, `a second of a wobbling estimate changes the point ${changes} times: ${[...new Set(points)].join(', ')}`);
  });
});

describe('one encode per point in use', () => {
  const points = operatingPoints(HD, 80);
  const full = points[0];
  const sinkAt = (point: (typeof points)[number] | null): FrameSink => ({ wantsFrame: true, pointFor: () => point, deliver: () => undefined });

  it('groups sinks by point: viewers at one point share one encode, sinks that do not adapt get the full point', () => {
    const fanOut = new FanOut(getBackend('native'));
    const [a, b, c] = [sinkAt(points[4]), sinkAt(points[4]), sinkAt(points[9])];
    const plain: FrameSink = { wantsFrame: true, deliver: () => undefined };
    const skipping = sinkAt(null);
    const window: FrameSink = { wantsFrame: false, deliverPixels: (frame) => frame.release() };
    for (const sink of [a, b, c, plain, skipping, window]) fanOut.add(sink);
    const plan = fanOut.plan(offer(0), full);
    const byKey = new Map(plan.map((g) => [g.point.key, g.sinks]));
    assert.equal(plan.length, 3, 'three points in use: full, and two adapted');
    assert.deepEqual(byKey.get(points[4].key), [a, b]);
    assert.deepEqual(byKey.get(points[9].key), [c]);
    assert.deepEqual(byKey.get(full.key), [plain], 'a sink without pointFor gets the full point; a skipping one and a pixel sink get nothing');
  });

  it(`encodes at most ${MAX_POINTS_PER_FRAME} points a frame: others join a kept point with fewer bytes`, () => {
    const groups = [0, 2, 5, 8, 11].map((rank, i) => ({ point: points[rank], sinks: Array.from({ length: i === 2 ? 1 : 2 }, () => sinkAt(points[rank])) }));
    const limited = limitPoints(groups);
    assert.equal(limited.length, MAX_POINTS_PER_FRAME);
    assert.equal(limited[0].point.rank, 0, 'the full point is always kept');
    assert.equal(limited.reduce((n, g) => n + g.sinks.length, 0), 9, 'no sink is left out');
    const rankOf = new Map(limited.flatMap((g) => g.sinks.map((sink) => [sink, g.point.rank] as const)));
    for (const group of groups) {
      for (const sink of group.sinks) {
        const given = rankOf.get(sink)!;
        const keptBelow = limited.some((g) => g.point.rank > group.point.rank);
        assert.ok(given === group.point.rank || (keptBelow ? given > group.point.rank : true), `a sink at rank ${group.point.rank} gets rank ${given}: never more bytes when fewer are kept`);
      }
    }
  });
});

describe('the HUD of an adapting stream', () => {
  it("says the size and quality sent against the stream's, and the sender's estimate; nothing of points for a sender that does not adapt", () => {
    const stats = new StreamStats('receiver');
    const point = { width: 640, height: 360, fullWidth: 1280, fullHeight: 720, quality: 50, estimateBps: 4_520_000 };
    assert.deepEqual(receiverHudLines(stats, point).slice(1), ['640x360 of 1280x720 q50  link ~4.5 Mbit/s']);
    assert.equal(receiverHudLines(stats).length, 1);
    const sending = { remote: 'x', estimateBps: 18_400_000, rttMs: 20, queueMs: 1, width: 1280, height: 720, quality: 65, codec: 'jpeg' as const, bitrateBps: null };
    const chat = chatHudLines(stats, undefined, 20, 0, sending, point);
    assert.deepEqual(chat.slice(2), ['in 640x360 of 1280x720 q50  link ~4.5 Mbit/s', 'out 1280x720 q65  link ~18 Mbit/s']);
    assert.equal(chatHudLines(stats, undefined, null, 0, { ...sending, estimateBps: null }).at(-1), 'out 1280x720 q65  full quality (no estimate)');
  });
});

describe('the wire for adaptation', () => {
  it('ACKs carry arrival times; an older ACK (the number alone) still parses', () => {
    const arrival = { firstByteAt: 12_345.678, lastByteAt: 12_399.5, holdMs: 3.25 };
    assert.deepEqual(parseAck(ackText(42, arrival)), { seq: 42, arrival });
    assert.deepEqual(parseAck('42'), { seq: 42 });
    assert.deepEqual(parseAck('42 and more from a later version'), { seq: 42 });
    assert.deepEqual(parseAck('42 100 50 1'), { seq: 42 }, 'a last byte before the first is not trusted');
    assert.equal(parseAck('x 1 2 3'), null);
    assert.equal(parseAck(String(2 ** 32)), null);
  });

  it("a point's segment round-trips, and a reader that knows only the first segment still reads it and decodes the picture", async () => {
    const jpeg = await encode(await testPicture(), { quality: 60 });
    const meta: FrameMeta = { seq: 7, captureTime: 1_700_000_000_000.5, echoTime: 0, echoHoldMs: 0, point: { width: 640, height: 360, fullWidth: 1280, fullHeight: 720, quality: 60, estimateBps: 4_500_000 } };
    const head = frameHead(jpeg.length, meta);
    const payload = Buffer.concat([head, jpeg.subarray(2)]).subarray(HEADER_BYTES);
    assert.equal(Number(head.readBigUInt64LE(0)), payload.length, 'the length header counts both segments');
    assert.deepEqual(readFrameMeta(payload), meta);
    // An older reader: checks the first segment only, at the same place as before.
    assert.equal(payload.readUInt16BE(4), META_SEGMENT_BYTES - 2);
    const { point: _point, ...plain } = meta;
    assert.deepEqual(readFrameMeta(Buffer.concat([frameHead(jpeg.length, plain), jpeg.subarray(2)]).subarray(HEADER_BYTES)), plain);
    const picture = await decode(payload);
    assert.deepEqual([picture.width, picture.height], [1280, 720], 'JPEG decoders skip both segments');
    picture.release();
  });

  it('the decoder can scale a smaller frame up to the stream size, on the worker thread', async () => {
    const backend = getBackend('native');
    const frame = await testPicture();
    const small = await backend.encodeJpeg(frame, 70, { width: 640, height: 360 });
    const probe = await backend.decode(small, 1e9);
    assert.deepEqual([probe.width, probe.height], [640, 360], 'encoded at the smaller size');
    const shown = await backend.decode(small, 1e9, HD);
    assert.deepEqual([shown.width, shown.height], [1280, 720], 'decoded back at the full size');
    // The same picture: close to the source pixel by pixel (JPEG and scaling change a little).
    const [source, scaled] = [framePixels(frame), framePixels(shown)];
    let difference = 0;
    for (let i = 0; i < source.length; i += 7) difference += Math.abs(source[i] - scaled[i]);
    const mean = difference / Math.ceil(source.length / 7);
    assert.ok(mean < 12, `mean difference from the source ${mean.toFixed(1)} of 255`);
    assert.ok(new Set(scaled).size > 50, 'a picture, not a flat fill');
    for (const f of [frame, probe, shown]) f.release();
  });
});
