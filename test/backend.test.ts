// The same tests for both backends. The opencv4nodejs backend is installed on demand
// (scripts/install-opencv4nodejs.sh); CI installs it and sets CVCHAT_REQUIRE_OPENCV4NODEJS=1 so
// that a missing install fails instead of skipping.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import type { BackendName } from '../lib/media/backend';
import { getBackend } from '../lib/media/backends';
import { opencv4nodejsDir } from '../lib/media/backends/opencv4nodejs';
import { Receiver } from '../lib/session/receiver';
import { Sender } from '../lib/session/sender';
import { readPixels } from '../lib/media/source';
import { captureSpec, decode, encode, framePixels, openCapture, openMemoryCapture } from '../lib/media/video';
import { TEST_KEY } from './helpers';

const installed = fs.existsSync(path.join(opencv4nodejsDir(), 'node_modules', '@u4', 'opencv4nodejs'));
const required = process.env.CVCHAT_REQUIRE_OPENCV4NODEJS === '1';

for (const name of ['native', 'opencv4nodejs'] as BackendName[]) {
  const skip = name === 'opencv4nodejs' && !installed && !required ? 'not installed (bash scripts/install-opencv4nodejs.sh)' : false;
  describe(`${name} backend`, { skip }, () => {
    it('captures the test source, encodes and decodes it', async () => {
      const backend = getBackend(name);
      const capture = await backend.openCapture(captureSpec({ source: 'test', width: 320, height: 240 }));
      const frame = (await readPixels(backend, capture))!;
      assert.deepEqual([frame.width, frame.height, frame.channels], [320, 240, 3]);
      const jpeg = await backend.encodeJpeg(frame, 90);
      assert.deepEqual(jpeg.subarray(0, 3), Buffer.from([0xff, 0xd8, 0xff]));
      const back = await backend.decode(jpeg, 1e7);
      assert.deepEqual([back.width, back.height], [320, 240]);
      const a = backend.toPixels(frame);
      const b = backend.toPixels(back);
      let diff = 0;
      for (let i = 0; i < a.length; i++) diff += Math.abs(a[i] - b[i]);
      assert.ok(diff / a.length < 6, `mean error ${diff / a.length}`);
      frame.release();
      back.release();
      await capture.release();
    });

    it('reads a GStreamer pipeline', async () => {
      const backend = getBackend(name);
      const capture = await backend.openCapture(
        captureSpec({ source: 'videotestsrc num-buffers=5 ! video/x-raw,width=160,height=120 ! videoconvert ! appsink' }),
      );
      let frames = 0;
      for (let f = await readPixels(backend, capture); f; f = await readPixels(backend, capture)) {
        assert.equal(f.width, 160);
        f.release();
        frames++;
      }
      assert.equal(frames, 5);
      await capture.release();
    });

    it('plays frames from memory in a loop, unharmed by releasing what it read', async () => {
      const backend = getBackend(name);
      const a = backend.fromPixels(Buffer.alloc(8 * 4 * 3, 10), 8, 4, 3);
      const b = backend.fromPixels(Buffer.alloc(8 * 4 * 3, 200), 8, 4, 3);
      const capture = await openMemoryCapture([a, b], { backend: name });
      assert.deepEqual([capture.info.width, capture.info.height], [8, 4]);
      const firsts: number[] = [];
      for (let i = 0; i < 5; i++) {
        const frame = (await capture.read())!;
        firsts.push(backend.toPixels(frame)[0]);
        frame.release();
      }
      assert.deepEqual(firsts, [10, 200, 10, 200, 10]);
      assert.equal(backend.toPixels(a)[0], 10, 'the source frame survives its readers');
      await capture.release();
    });

    it('keeps pixels exactly through fromPixels and toPixels', () => {
      const backend = getBackend(name);
      const pixels = Buffer.from(Array.from({ length: 8 * 4 * 3 }, (_, i) => (i * 37) & 0xff));
      const frame = backend.fromPixels(pixels, 8, 4, 3);
      assert.deepEqual(backend.toPixels(frame), pixels);
    });

    it('refuses garbage and decompression bombs with codes', async () => {
      const backend = getBackend(name);
      await assert.rejects(backend.decode(Buffer.from('garbage bytes'), 1e7), { code: 'CVCHAT_UNSUPPORTED_IMAGE' });
      const frame = backend.fromPixels(Buffer.alloc(64 * 64 * 3, 90), 64, 64, 3);
      const jpeg = await backend.encodeJpeg(frame, 80);
      await assert.rejects(backend.decode(jpeg, 64 * 64 - 1), { code: 'CVCHAT_IMAGE_TOO_LARGE' });
      await assert.rejects(backend.decode(jpeg.subarray(0, 200), 1e7), { code: 'CVCHAT_DECODE_FAILED' });
    });

    it('draws text and boxes on a frame', () => {
      const backend = getBackend(name);
      const frame = backend.fromPixels(Buffer.alloc(100 * 50 * 3), 100, 50, 3);
      backend.drawBox(frame, 10, 10, 20, 20, [0, 0, 255], -1);
      backend.drawText(frame, 'hi', 40, 40, 0.8, [255, 255, 255]);
      const pixels = backend.toPixels(frame);
      assert.deepEqual([...pixels.subarray((15 * 100 + 15) * 3, (15 * 100 + 15) * 3 + 3)], [0, 0, 255]);
      assert.ok(pixels.subarray(35 * 100 * 3).some((v) => v > 200), 'the text left bright pixels');
    });

    it('is taken by the public encode() and framePixels(), whichever backend made the frame', async () => {
      const capture = await openCapture({ source: 'test', width: 160, height: 120, backend: name });
      const frame = (await capture.read())!;
      for (const format of ['jpeg', 'png', 'webp'] as const) {
        const bytes = await encode(frame, { format });
        const back = await decode(bytes);
        assert.deepEqual([back.width, back.height], [160, 120], format);
        back.release();
      }
      assert.equal(framePixels(frame).length, 160 * 120 * 3);
      frame.release();
      await capture.release();
      await assert.rejects(encode({ width: 1, height: 1, channels: 3, release() {} } as never), { code: 'CVCHAT_INVALID_OPTION' });
    });

    it('shares a frame without copying: each handle is released on its own', () => {
      const backend = getBackend(name);
      const frame = backend.fromPixels(Buffer.alloc(8 * 4 * 3, 77), 8, 4, 3);
      const shared = backend.share(frame);
      frame.release();
      assert.equal(backend.toPixels(shared)[0], 77, 'the pixels outlive the first handle');
      shared.release();
    });

    it('carries a sender-to-receiver stream', async () => {
      const sender = new Sender({ host: '127.0.0.1', port: 0, source: 'test', width: 320, height: 240, backend: name, key: TEST_KEY });
      await sender.start();
      const running = sender.run();
      const receiver = new Receiver({ connect: { host: '127.0.0.1', port: sender.port }, frames: 10, backend: name, key: TEST_KEY });
      assert.equal(await receiver.run(), 'limit');
      await sender.stop();
      await running;
    });
  });
}
