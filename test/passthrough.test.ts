// Sources that already deliver JPEG: their bytes go to the viewers as they came (compared byte for
// byte with what OpenCV's own reader finds in the file), the receiver shows those pictures, and
// pixels are decoded only for what needs them (a video codec's viewer, a smaller point, a window).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import { getBackend } from '../lib/media/backends';
import { estimateJpegQuality } from '../lib/media/jpeg-info';
import { decode, encode, framePixels, openCapture, probeImage } from '../lib/media/video';
import type { RateEstimate } from '../lib/net/rate';
import { FrameSizeModel, PointChooser, sourcePoint } from '../lib/session/adapt';
import type { DecodedFrame } from '../lib/session/decoder';
import { Receiver } from '../lib/session/receiver';
import { Sender } from '../lib/session/sender';
import { CapturePipeline } from '../lib/session/pipeline';
import { FanOut, type FrameSink } from '../lib/session/sinks';
import { stripFrameMeta } from '../lib/wire/meta';
import { execFileP, psnr, python, root, TEST_KEY, tempDir, waitFor, writeTestClip } from './helpers';

const sha = (bytes: Buffer) => crypto.createHash('sha256').update(bytes).digest('hex');
const videoInfo = path.join(root, 'test', 'fixtures', 'video_info.py');

/** What OpenCV's reader (FFmpeg) finds in `file`: its frames' stored bytes (hashes), and with `pixelDir` each picture as a PNG. */
async function readWithPython(file: string, pixelDir?: string): Promise<{ frames: number; packets: string[] }> {
  const args = [videoInfo, file, '--packets', ...(pixelDir ? ['--pixels', pixelDir] : [])];
  return JSON.parse((await execFileP(python, args, { maxBuffer: 1 << 26 })).stdout);
}


interface Shown {
  hash: string;
  quality: number;
  width: number;
  height: number;
  codec: string | undefined;
  pixels?: Buffer;
}

/** A sender on `source` and one receiver until the source ends: what the receiver showed, and the sender's count of source JPEGs. */
async function stream(source: string, options: { codec?: 'jpeg' | 'auto'; keepPixels?: boolean; quality?: number; passthrough?: boolean; frames?: number } = {}) {
  const sender = new Sender({ source, host: '127.0.0.1', port: 0, key: TEST_KEY, codec: options.codec ?? 'jpeg', quality: options.quality, passthrough: options.passthrough, frames: options.frames });
  await sender.start();
  const shown: Shown[] = [];
  const receiver = new Receiver({
    connect: { host: '127.0.0.1', port: sender.port }, key: TEST_KEY, codec: options.codec ?? 'jpeg',
    onFrame: (decoded: DecodedFrame) => {
      const point = decoded.meta?.point;
      const jpeg = point?.codec ? null : stripFrameMeta(decoded.payload);
      shown.push({
        hash: jpeg ? sha(jpeg) : '', quality: jpeg ? estimateJpegQuality(jpeg) : 0, width: decoded.frame.width, height: decoded.frame.height, codec: point?.codec,
        pixels: options.keepPixels ? framePixels(decoded.frame) : undefined,
      });
    },
  });
  const receiving = receiver.run();
  // The file is read from its first frame only once the viewer is there.
  await waitFor('the viewer to join', () => sender.viewerCount === 1 || undefined);
  const end = await sender.run();
  await waitFor('the last frames to be shown', () => (receiver.stats.frames > 0 ? true : undefined));
  await new Promise((resolve) => setTimeout(resolve, 300));
  receiver.stop();
  await receiving;
  return { end, shown, source: sender.sourceStatus().sourceJpeg };
}

describe('JPEG pass-through', () => {
  it("sends an MJPEG file's own JPEGs byte for byte, and the receiver shows those pictures", async () => {
    const clip = await writeTestClip(24, 640, 480, 30);
    const pixelDir = tempDir();
    const file = await readWithPython(clip, pixelDir);
    assert.equal(file.frames, 24);
    const { end, shown, source } = await stream(clip, { keepPixels: true });
    assert.equal(end, 'ended');
    assert.ok(shown.length >= 20, `the receiver showed ${shown.length} of 24 frames`);
    // Each shown frame is one of the file's JPEGs, unchanged, in the file's order.
    let last = -1;
    for (const frame of shown) {
      const index = file.packets.indexOf(frame.hash);
      assert.ok(index > last, `a shown frame is the file's frame ${index} after ${last} (a JPEG the file does not hold is -1)`);
      last = index;
      // The picture shown is that frame as FFmpeg's own MJPEG decoder sees it.
      const expected = await decode(fs.readFileSync(path.join(pixelDir, `${String(index).padStart(5, '0')}.png`)));
      const db = psnr(frame.pixels!, framePixels(expected));
      expected.release();
      assert.ok(db > 35, `frame ${index}: shown picture against FFmpeg's decode: ${db.toFixed(1)} dB`);
    }
    assert.deepEqual(source, { passedThrough: 24, decoded: 0, undecodable: 0 }, 'nothing was decoded: no window, no video viewer, no smaller point');
  });

  it('passes through a GStreamer pipeline that ends in image/jpeg, at its own quality rather than --quality', async () => {
    const pipeline = 'videotestsrc num-buffers=20 pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 ! jpegenc quality=90 ! image/jpeg ! appsink';
    const passed = await stream(pipeline, { quality: 40 });
    assert.ok(passed.shown.length >= 10, `shown ${passed.shown.length}`);
    assert.ok(passed.shown.every((f) => f.quality === 90 && f.width === 320 && f.height === 240), `qualities ${passed.shown.map((f) => f.quality)}`);
    assert.equal(passed.source?.decoded, 0);
    // The same pipeline with --no-passthrough: decoded and encoded again at --quality.
    const again = await stream(pipeline, { quality: 40, passthrough: false });
    assert.ok(again.shown.length >= 10 && again.shown.every((f) => f.quality === 40), `qualities ${again.shown.map((f) => f.quality)}`);
    assert.equal(again.source, undefined, 'nothing came as JPEG');
  });

  it("decodes the source's JPEGs for a viewer sent a video codec, and only then", async (t) => {
    if (!getBackend('native').videoCodecs().includes('h264')) return t.skip('no H.264 in this build');
    const clip = await writeTestClip(30, 640, 480, 30);
    const { shown, source } = await stream(clip, { codec: 'auto' });
    assert.ok(shown.some((f) => f.codec === 'h264'), `codecs shown: ${[...new Set(shown.map((f) => f.codec ?? 'jpeg'))]}`);
    assert.ok(source && source.decoded >= shown.filter((f) => f.codec === 'h264').length, `decoded ${source?.decoded} for ${shown.length} shown`);
  });
});

describe('the point chooser with a source JPEG', () => {
  const size = { width: 1280, height: 720 };
  const estimate = (bps: number): RateEstimate => ({ bps, deliveredBps: null, linkBps: null, sentBps: bps, rttMs: 20, queueMs: 0, state: 'increase' });
  it('sends the source JPEG where its bytes fit the budget, and a smaller point where they do not', () => {
    const full = sourcePoint(size, 85);
    const chooser = new PointChooser(80, new FrameSizeModel());
    const offer = (now: number, sourceBytes: number) => ({ size, intervalMs: 1000 / 30, now, sourceBytes });
    // 150 KB a frame at 30 fps is 36 Mbit/s: 50 Mbit/s takes it.
    assert.equal(chooser.choose(offer(0, 150_000), estimate(50e6), full)?.key, full.key);
    // 5 Mbit/s is about 19 KB a frame: an encoded point, smaller than the source.
    const slow = chooser.choose(offer(100, 150_000), estimate(5e6), full);
    assert.ok(slow && !slow.source && slow.rank > 0, `chose ${slow?.key}`);
    // The same link with a smaller source JPEG (a still scene) takes it again, after the step-up pause.
    const back = chooser.choose(offer(1000, 15_000), estimate(5e6), full);
    assert.equal(back?.key, full.key);
  });
});

describe("a source JPEG's pixels", () => {
  it('are decoded at the largest size a pixel sink asks, full when one needs the full picture, none when none asks', () => {
    const backend = getBackend('native');
    const fanOut = new FanOut(backend);
    const size = { width: 1280, height: 720 };
    assert.equal(fanOut.pixelSize(size), null, 'no pixel sink');
    const preview: FrameSink = { wantsFrame: false, deliverPixels: (frame) => frame.release(), pixelSize: () => ({ width: 640, height: 360 }) };
    fanOut.add(preview);
    assert.deepEqual(fanOut.pixelSize(size), { width: 640, height: 360 });
    let drawn = false;
    const busy: FrameSink = { wantsFrame: false, deliverPixels: (frame) => frame.release(), pixelSize: () => (drawn ? { width: 320, height: 180 } : null) };
    fanOut.add(busy);
    assert.deepEqual(fanOut.pixelSize(size), { width: 640, height: 360 }, 'a sink that has not drawn its last picture asks none');
    drawn = true;
    assert.deepEqual(fanOut.pixelSize(size), { width: 640, height: 360 }, 'the largest wins');
    fanOut.add({ wantsFrame: false, deliverPixels: (frame) => frame.release() });
    assert.equal(fanOut.pixelSize(size), 'full', 'a sink without pixelSize needs the full picture');
  });

  it('read the size and quality a JPEG declares without decoding it (probeImage, estimateJpegQuality)', async () => {
    const capture = await openCapture({ source: 'test', width: 320, height: 200 });
    const frame = (await capture.read()) as Parameters<typeof encode>[0];
    await capture.release();
    for (const quality of [30, 50, 75, 90]) {
      const jpeg = await encode(frame, { quality });
      assert.deepEqual(probeImage(jpeg), { format: 'jpeg', width: 320, height: 200 });
      assert.ok(Math.abs(estimateJpegQuality(jpeg) - quality) <= 1, `quality ${quality} read as ${estimateJpegQuality(jpeg)}`);
    }
    frame.release();
    assert.equal(estimateJpegQuality(Buffer.from('not a jpeg')), 0);
    assert.equal(probeImage(Buffer.from([0xff, 0xd8, 0xff, 0xda, 0, 2])), null);
  });
});

describe("a source JPEG's pixels, decoded for a smaller point", () => {
  /** Five frames of a 1280x720 MJPEG file through the pipeline to one sink at `point`, beside a pixel sink that asks for 100x100. */
  async function through(point: { width: number; height: number }) {
    const backend = getBackend('native');
    const capture = await openCapture({ source: await writeTestClip(5, 1280, 720, 30), jpeg: true });
    const fanOut = new FanOut(backend);
    const sent: string[] = [];
    const pixels: string[] = [];
    const at = { ...point, quality: 60, key: `${point.width}x${point.height}q60`, rank: 5 };
    fanOut.add({ wantsFrame: true, pointFor: () => at, deliver: (frame) => sent.push(JSON.stringify(probeImage(frame.payload[0]))) });
    fanOut.add({ wantsFrame: false, pixelSize: () => ({ width: 100, height: 100 }), deliverPixels: (frame) => {
      pixels.push(`${frame.width}x${frame.height}`);
      frame.release();
    } });
    const pipeline = new CapturePipeline(backend, capture, { fps: 0, quality: 80, maxFrames: 5, onDemand: true }, fanOut);
    assert.equal(await pipeline.run(), 'limit');
    await capture.release();
    return { sent, pixels, stats: pipeline.sourceStats };
  }

  it('decodes at a reduced DCT scale for a point of half the sides or less, in full above', async () => {
    const half = await through({ width: 640, height: 360 });
    assert.deepEqual(half.sent, Array(5).fill(JSON.stringify({ format: 'jpeg', width: 640, height: 360 })));
    assert.deepEqual(half.pixels, Array(5).fill('640x360'), 'decoded at the point\'s size, not the full one');
    assert.deepEqual(half.stats, { passedThrough: 0, decoded: 5, undecodable: 0 });
    const threeQuarters = await through({ width: 960, height: 540 });
    assert.deepEqual(threeQuarters.sent, Array(5).fill(JSON.stringify({ format: 'jpeg', width: 960, height: 540 })));
    assert.deepEqual(threeQuarters.pixels, Array(5).fill('1280x720'));
  });
});

describe('a source JPEG that does not decode', () => {
  it('is skipped and counted while the frames around it go on, also when its decode started ahead', async () => {
    const backend = getBackend('native');
    const picture = await openCapture({ source: 'test', width: 320, height: 240 });
    const pixels = (await picture.read())!;
    await picture.release();
    const good = await encode(pixels, { quality: 80 });
    pixels.release();
    // Cut before its scan: the header reads, the picture does not.
    const bad = Buffer.concat([good.subarray(0, good.indexOf(Buffer.from([0xff, 0xda]))), Buffer.from([0xff, 0xd9])]);
    let reads = 0;
    const capture = {
      info: { width: 320, height: 240, fps: 0, frameCount: -1, backend: 'fake' },
      read: async () => (++reads > 5 ? null : { jpeg: reads === 3 ? bad : good, width: 320, height: 240 }),
      release: async () => undefined,
    };
    const fanOut = new FanOut(backend);
    let encoded = 0;
    // A slow video encoder: the next frame's decode starts ahead while it works.
    fanOut.add({ wantsFrame: true, encodesOwn: () => true, encodeOwn: async () => {
      encoded++;
      await new Promise((resolve) => setTimeout(resolve, 100));
      return 1000;
    } });
    const pipeline = new CapturePipeline(backend, capture, { fps: 0, quality: 80 }, fanOut);
    assert.equal(await pipeline.run(), 'ended');
    assert.equal(encoded, 4, 'the four frames that decode are encoded');
    assert.equal(pipeline.sourceStats.undecodable, 1);
  });
});

describe('the receiver with --view', () => {
  it('decodes a larger stream to fit the view, keeping its shape', async () => {
    const sender = new Sender({ source: 'test', width: 1280, height: 720, fps: 30, host: '127.0.0.1', port: 0, key: TEST_KEY, codec: 'jpeg', frames: 20 });
    await sender.start();
    const sizes: string[] = [];
    const receiver = new Receiver({ connect: { host: '127.0.0.1', port: sender.port }, key: TEST_KEY, codec: 'jpeg', view: { width: 400, height: 400 }, frames: 10, onFrame: (d) => sizes.push(`${d.frame.width}x${d.frame.height}`) });
    const running = sender.run();
    await receiver.run();
    await sender.stop();
    await running;
    assert.ok(sizes.length >= 10);
    assert.deepEqual([...new Set(sizes)], ['400x225']);
  });
});
