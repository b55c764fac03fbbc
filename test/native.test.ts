// The addon through its public API. scripts/test.sh runs this file three times: against the
// node-gyp build, the prebuildify binary (PREBUILDS_ONLY=1) and the cmake-js build (CVCHAT_ADDON).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, it } from 'node:test';
import zlib from 'node:zlib';

import { native } from '../lib/media/addon';
import {
  decode,
  encode,
  frameFromPixels,
  framePixels,
  openCapture,
  probeImage,
  type VideoFrame,
} from '../lib/media/video';
import { psnr, tempDir, writeTestClip } from './helpers';


async function testFrame(width = 320, height = 240): Promise<VideoFrame> {
  const capture = await openCapture({ source: 'test', width, height });
  const frame = await capture.read();
  await capture.release();
  assert.ok(frame);
  return frame;
}

/** A PNG whose header declares `width` x `height` but holds almost nothing. */
function pngDeclaring(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32 ? zlib.crc32(body) : 0);
    return Buffer.concat([length, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(Buffer.alloc(1000))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

describe('codec', () => {
  it('keeps the picture through JPEG at q90 (PSNR above 32 dB)', async () => {
    const frame = await testFrame();
    const jpeg = await encode(frame, { format: 'jpeg', quality: 90 });
    assert.deepEqual(jpeg.subarray(0, 2), Buffer.from([0xff, 0xd8]));
    const back = await decode(jpeg);
    assert.equal(back.width, 320);
    assert.equal(back.height, 240);
    assert.ok(psnr(framePixels(frame), framePixels(back)) > 32);
  });

  it('keeps the picture exactly through PNG, and closely through WebP', async () => {
    const frame = await testFrame();
    const png = await encode(frame, { format: 'png' });
    assert.deepEqual(framePixels(await decode(png)), framePixels(frame));
    const webp = await encode(frame, { format: 'webp', quality: 90 });
    assert.equal(probeImage(webp)?.format, 'webp');
    assert.ok(psnr(framePixels(frame), framePixels(await decode(webp))) > 30);
  });

  it('round-trips pixels through Frame buffers', async () => {
    const pixels = Buffer.alloc(4 * 2 * 3);
    for (let i = 0; i < pixels.length; i++) pixels[i] = i * 10;
    const frame = frameFromPixels(pixels, 4, 2, 3);
    assert.deepEqual([frame.width, frame.height, frame.channels], [4, 2, 3]);
    assert.deepEqual(framePixels(frame), pixels);
  });

  it('reads the declared size from JPEG, PNG and WebP headers', async () => {
    const frame = await testFrame(160, 90);
    for (const format of ['jpeg', 'png', 'webp'] as const) {
      assert.deepEqual(probeImage(await encode(frame, { format })), { format, width: 160, height: 90 });
    }
    assert.equal(probeImage(Buffer.from('not an image')), null);
  });

  it('refuses a decompression bomb before decoding it', async () => {
    const bomb = pngDeclaring(100_000, 100_000);
    assert.ok(bomb.length < 2000);
    await assert.rejects(decode(bomb), { code: 'CVCHAT_IMAGE_TOO_LARGE', message: /100000x100000/ });
    const frame = await testFrame();
    const jpeg = await encode(frame);
    await assert.rejects(decode(jpeg, { maxPixels: 320 * 240 - 1 }), { code: 'CVCHAT_IMAGE_TOO_LARGE' });
    assert.equal((await decode(jpeg, { maxPixels: 320 * 240 })).width, 320);
  });

  it('rejects garbage, truncated and empty input with codes', async () => {
    await assert.rejects(decode(Buffer.from('hello, not a picture')), { code: 'CVCHAT_UNSUPPORTED_IMAGE' });
    await assert.rejects(decode(Buffer.alloc(0)), { code: 'CVCHAT_DECODE_FAILED' });
    const jpeg = await encode(await testFrame());
    await assert.rejects(decode(jpeg.subarray(0, 200)), { code: 'CVCHAT_DECODE_FAILED' });
    const png = await encode(await testFrame(), { format: 'png' });
    await assert.rejects(decode(png.subarray(0, 100)), { code: 'CVCHAT_DECODE_FAILED' });
    for (let i = 0; i < 200; i++) {
      const random = Buffer.from(Array.from({ length: 64 + i }, (_, j) => (j * 7919 + i * 104729) & 0xff));
      random[0] = 0xff;
      random[1] = 0xd8;
      random[2] = 0xff;
      await decode(random).then((f) => f.release(), (e) => assert.match(e.code, /^CVCHAT_/));
    }
  });

  it('never answers a truncated image with an earlier picture', async () => {
    const capture = await openCapture({ source: 'test', width: 320, height: 240 });
    const earlier = await encode((await capture.read())!);
    const later = await encode((await capture.read())!);
    await capture.release();
    for (let cut = 100; cut < later.length; cut += 53) {
      const first = await decode(earlier);
      const firstPixels = framePixels(first);
      first.release();
      const result = await decode(later.subarray(0, cut)).then((f) => framePixels(f), () => null);
      assert.ok(result === null || !result.equals(firstPixels), `cut at ${cut} gave the earlier picture back`);
    }
  });

  it('checks options and names them in the error', async () => {
    const frame = await testFrame();
    await assert.rejects(encode(frame, { quality: 101 }), {
      code: 'CVCHAT_INVALID_OPTION',
      message: 'Expected integer between 1 and 100 for quality but received 101 of type number',
    });
    await assert.rejects(encode(frame, { format: 'gif' as 'png' }), { code: 'CVCHAT_INVALID_OPTION', message: /for format/ });
    await assert.rejects(encode({} as VideoFrame), { code: 'CVCHAT_INVALID_OPTION', message: /for frame/ });
    await assert.rejects(decode('jpeg' as unknown as Buffer), { code: 'CVCHAT_INVALID_OPTION', message: /for bytes/ });
    assert.throws(() => frameFromPixels(Buffer.alloc(10), 2, 2, 3), { code: 'CVCHAT_INVALID_OPTION', message: /12 bytes/ });
    assert.throws(() => frameFromPixels(Buffer.alloc(0), 0, 2, 3), { code: 'CVCHAT_INVALID_OPTION', message: /for width/ });
  });

  it('survives wrong types passed straight to the addon', async () => {
    const addon = native();
    const calls: Array<() => unknown> = [
      () => addon.decode(undefined as never, 1, 3),
      () => addon.encode({} as never, 'jpeg', 80),
      () => addon.encode(null as never, 'jpeg', 80),
      () => (addon.imshow as (...a: unknown[]) => void)(),
      () => addon.Frame.fromBuffer(Buffer.alloc(1), -1, 1, 3),
      () => new (addon.Frame as unknown as new () => unknown)(),
      () => addon.Capture.open(42 as never),
      () => addon.putText({} as never, 'x', 1, 1, 1, [0, 0, 0], 1),
    ];
    for (const call of calls) {
      await assert.rejects(async () => call(), (error: { code?: string }) => /^CVCHAT_/.test(error.code ?? ''));
    }
  });

  it('refuses a released frame', async () => {
    const frame = await testFrame();
    frame.release();
    assert.equal((frame as unknown as { released: boolean }).released, true);
    await assert.rejects(encode(frame), { code: 'CVCHAT_FRAME_RELEASED' });
    assert.throws(() => framePixels(frame), { code: 'CVCHAT_FRAME_RELEASED' });
  });

  it('finishes an encode even when the frame is released meanwhile', async () => {
    const frame = await testFrame(640, 480);
    const pending = encode(frame);
    frame.release();
    assert.equal((await decode(await pending)).width, 640);
  });
});

describe('capture', () => {
  it('reads the built-in test source at the asked size, with moving content', async () => {
    const capture = await openCapture({ source: 'test', width: 320, height: 180, label: 'left', color: [255, 0, 0] });
    assert.equal(capture.info.width, 320);
    assert.equal(capture.info.height, 180);
    const a = (await capture.read())!;
    const b = (await capture.read())!;
    assert.deepEqual([a.width, a.height, a.channels], [320, 180, 3]);
    assert.notDeepEqual(framePixels(a), framePixels(b), 'consecutive frames differ');
    const top = framePixels(a).subarray(0, 3);
    assert.deepEqual([...top], [255, 0, 0], 'the identification bar has the asked colour');
    await capture.release();
  });

  it('reads a GStreamer videotestsrc pipeline to its end', async () => {
    const capture = await openCapture({
      source: 'videotestsrc num-buffers=12 ! video/x-raw,width=176,height=144 ! videoconvert ! appsink',
    });
    assert.equal(capture.info.backend, 'GSTREAMER');
    let frames = 0;
    for (let frame = await capture.read(); frame; frame = await capture.read()) {
      assert.deepEqual([frame.width, frame.height], [176, 144]);
      frame.release();
      frames++;
    }
    assert.equal(frames, 12);
    await capture.release();
  });

  it('reads back a file written by VideoWriter, frame for frame', async () => {
    const file = await writeTestClip(20, 320, 240, 25);
    assert.ok(fs.statSync(file).size > 1000);

    const capture = await openCapture({ source: file });
    assert.equal(capture.info.frameCount, 20);
    assert.equal(capture.info.fps, 25);
    let frames = 0;
    for (let frame = await capture.read(); frame; frame = await capture.read()) {
      assert.deepEqual([frame.width, frame.height], [320, 240]);
      frame.release();
      frames++;
    }
    assert.equal(frames, 20);
    await capture.release();

    const looping = await openCapture({ source: file, loop: true });
    for (let i = 0; i < 45; i++) assert.ok(await looping.read(), `frame ${i} of a looping file`);
    await looping.release();
  });

  it('reads a video from a URL (HTTP on loopback)', async () => {
    const file = await writeTestClip(8, 160, 120, 10);
    const bytes = fs.readFileSync(file);
    const server = http.createServer((request, response) => {
      response.writeHead(200, { 'content-type': 'video/x-msvideo', 'content-length': bytes.length });
      response.end(bytes);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const capture = await openCapture({ source: `http://127.0.0.1:${port}/clip.avi` });
      let frames = 0;
      for (let frame = await capture.read(); frame; frame = await capture.read()) {
        assert.deepEqual([frame.width, frame.height], [160, 120]);
        frames++;
      }
      assert.equal(frames, 8);
      await capture.release();
    } finally {
      server.close();
    }
  });

  it('says clearly when a source cannot be opened', async () => {
    await assert.rejects(openCapture({ source: '/no/such/clip.mp4' }), { code: 'CVCHAT_SOURCE_NOT_FOUND', message: /No such video file/ });
    await assert.rejects(openCapture({ source: 7 }), { code: 'CVCHAT_CAPTURE_OPEN_FAILED', message: /camera 7.*--source test/ });
    const notVideo = path.join(tempDir(), 'notes.txt');
    fs.writeFileSync(notVideo, 'not a video');
    await assert.rejects(openCapture({ source: notVideo }), { code: 'CVCHAT_CAPTURE_OPEN_FAILED' });
    await assert.rejects(openCapture({ source: 'test', width: 0 }), { code: 'CVCHAT_INVALID_OPTION', message: /for width/ });
    await assert.rejects(openCapture({ source: 'test', fps: -1 }), { code: 'CVCHAT_INVALID_OPTION', message: /for fps/ });
    await assert.rejects(openCapture({ source: '' }), { code: 'CVCHAT_INVALID_OPTION', message: /for source/ });
  });

  it('allows one read in flight and releases safely while one is pending', async () => {
    const capture = await openCapture({ source: 'test', width: 1280, height: 720 });
    const first = capture.read();
    await assert.rejects(capture.read(), { code: 'CVCHAT_CAPTURE_BUSY' });
    const released = capture.release();
    const frame = await first.catch((error) => error);
    assert.ok(frame.width === 1280 || frame.code === 'CVCHAT_CAPTURE_CLOSED');
    await released;
    await assert.rejects(capture.read(), { code: 'CVCHAT_CAPTURE_CLOSED' });
  });
});

describe('memory', () => {
  it('stays flat over thousands of capture, encode and decode cycles', async () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    const capture = await openCapture({ source: 'test', width: 320, height: 240 });
    const cycle = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const frame = (await capture.read())!;
        const jpeg = await encode(frame);
        frame.release();
        (await decode(jpeg)).release();
      }
    };
    await cycle(300); // warm up allocators
    gc?.();
    const before = process.memoryUsage().rss;
    await cycle(3000);
    gc?.();
    const growth = (process.memoryUsage().rss - before) / 1e6;
    await capture.release();
    assert.ok(growth < 40, `RSS grew ${growth.toFixed(1)} MB over 3000 cycles`);
  });

  it('lets garbage collection free frames that were never released', async () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (!gc) return;
    const capture = await openCapture({ source: 'test', width: 1280, height: 720 });
    gc();
    const before = process.memoryUsage().rss;
    for (let i = 0; i < 400; i++) await capture.read(); // 400 x 2.7 MB, never released
    gc();
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    const growth = (process.memoryUsage().rss - before) / 1e6;
    await capture.release();
    assert.ok(growth < 300, `RSS grew ${growth.toFixed(1)} MB; unreleased frames were not collected`);
  });
});

describe('addon loading', () => {
  it('loads the binary this run asked for (local build, prebuild or cmake-js build)', () => {
    native();
    const loaded = Object.keys(require.cache).filter((file) => file.endsWith('.node'));
    if (process.env.CVCHAT_ADDON) {
      assert.deepEqual(loaded, [path.resolve(process.env.CVCHAT_ADDON)]);
    } else if (process.env.PREBUILDS_ONLY) {
      assert.ok(loaded.length === 1 && loaded[0].includes(`${path.sep}prebuilds${path.sep}`), `loaded ${loaded}`);
    } else {
      assert.ok(loaded.length === 1 && loaded[0].includes(path.join('build', 'Release')), `loaded ${loaded}`);
    }
    assert.equal(native().opencvVersion.split('.')[0], '4');
  });
});

describe('exceptions on the worker thread', () => {
  /**
   * Calls the addon's test hook in a child process, once per kind, and reports each outcome. A
   * child, because an exception that escapes a worker ends its process (std::terminate), and with
   * it would go the test runner. The child loads the addon as this run does (PREBUILDS_ONLY and
   * CVCHAT_ADDON are inherited).
   */
  function throwInWorker(kinds: string[]): Promise<{ status: number | null; signal: NodeJS.Signals | null; outcomes: unknown[]; stderr: string }> {
    const script = `
      const { native } = require(${JSON.stringify(require.resolve('../lib/media/addon'))});
      (async () => {
        for (const kind of process.argv.slice(1)) {
          try {
            await native()._throwInWorker(kind);
            console.log(JSON.stringify({ kind, resolved: true }));
          } catch (error) {
            console.log(JSON.stringify({ kind, code: error.code, message: error.message }));
          }
        }
      })();`;
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['-e', script, ...kinds], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.once('error', reject);
      child.once('close', (status, signal) => {
        clearTimeout(timer);
        const outcomes = stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line));
        resolve({ status, signal, outcomes, stderr });
      });
    });
  }

  it('rejects with CVCHAT_NATIVE_ERROR for a non-standard exception, and the process lives on', async () => {
    const run = await throwInWorker(['nonstandard', 'standard']);
    assert.deepEqual({ status: run.status, signal: run.signal }, { status: 0, signal: null }, `the child ended; stderr:\n${run.stderr}`);
    assert.deepEqual(run.outcomes, [
      { kind: 'nonstandard', code: 'CVCHAT_NATIVE_ERROR', message: 'unknown native exception (not a std::exception)' },
      { kind: 'standard', code: 'CVCHAT_NATIVE_ERROR', message: 'a std::exception thrown by the test hook' },
    ]);
  });
});
