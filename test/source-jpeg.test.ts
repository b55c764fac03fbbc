// A source's own JPEG, passed on undecoded (CaptureSpec.jpeg), and JPEG decoding at a reduced DCT
// scale. The references are independent: Python's OpenCV reading the same file in FFmpeg's raw
// mode, and the exact bytes an HTTP server in this file sent. scripts/test.sh runs this file
// against all three builds of the addon.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { native } from '../lib/media/addon';
import { getBackend } from '../lib/media/backends';
import { readPixels } from '../lib/media/source';
import {
  encode,
  framePixels,
  isSourceJpeg,
  openCapture,
  openVideoWriter,
  type CaptureSource,
  type SourceJpeg,
  type VideoFrame,
} from '../lib/media/video';
import { psnr, python, tempDir, writeTestClip } from './helpers';

const packetReader = path.join(__dirname, '..', '..', 'test', 'fixtures', 'cv2_packets.py');


/** The packets Python's OpenCV reads from `file` in FFmpeg's raw mode, and what it reports. */
async function pythonPackets(file: string): Promise<{ fourcc: string; width: number; height: number; fps: number; packets: Buffer[] }> {
  const out = path.join(tempDir(), 'packets.bin');
  const { stdout } = await promisify(execFile)(python, [packetReader, file, out]);
  const report = JSON.parse(stdout) as { fourcc: string; width: number; height: number; fps: number; lengths: number[] };
  const bytes = fs.readFileSync(out);
  const packets: Buffer[] = [];
  let at = 0;
  for (const length of report.lengths) {
    packets.push(bytes.subarray(at, at + length));
    at += length;
  }
  return { ...report, packets };
}

async function readJpeg(capture: CaptureSource): Promise<SourceJpeg> {
  const read = await capture.read();
  assert.ok(isSourceJpeg(read), `expected the source's JPEG, got ${read === null ? 'the end' : 'a frame'}`);
  return read;
}

async function readFrame(capture: CaptureSource): Promise<VideoFrame> {
  const read = await capture.read();
  assert.ok(read !== null && !isSourceJpeg(read), `expected a frame, got ${read === null ? 'the end' : 'JPEG bytes'}`);
  return read;
}

/** Pictures that differ from one to the next, as JPEG: frames of the test source. */
async function testJpegs(count: number, width: number, height: number): Promise<Buffer[]> {
  const capture = await openCapture({ source: 'test', width, height });
  const jpegs: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const frame = (await capture.read())!;
    jpegs.push(await encode(frame, { quality: 85 }));
    frame.release();
  }
  await capture.release();
  return jpegs;
}

describe('a JPEG source passed on as it is', () => {
  const frames = 8;
  let clip = '';
  before(async () => {
    clip = await writeTestClip(frames, 1280, 720, 25);
  });

  it('gives an MJPEG file\'s packets byte for byte, as Python\'s OpenCV reads them in raw mode', async () => {
    const reference = await pythonPackets(clip);
    assert.equal(reference.fourcc, 'MJPG');
    assert.equal(reference.packets.length, frames);
    const capture = await openCapture({ source: clip, jpeg: true });
    assert.equal(capture.info.jpeg, true);
    assert.deepEqual([capture.info.width, capture.info.height, capture.info.fps], [1280, 720, 25]);
    assert.equal(capture.info.backend, 'FFMPEG');
    for (let i = 0; i < frames; i++) {
      const packet = await readJpeg(capture);
      assert.deepEqual([packet.width, packet.height], [1280, 720]);
      assert.ok(packet.jpeg.equals(reference.packets[i]), `packet ${i} differs from Python's`);
    }
    assert.equal(await capture.read(), null, 'the end of the file');
    await capture.release();
  });

  it('gives the same file as frames without `jpeg`, as before', async () => {
    const capture = await openCapture({ source: clip });
    assert.equal(capture.info.jpeg, false);
    let count = 0;
    for (let frame = await capture.read(); frame; frame = await capture.read()) {
      assert.deepEqual([frame.width, frame.height, frame.channels], [1280, 720, 3]);
      frame.release();
      count++;
    }
    assert.equal(count, frames);
    await capture.release();
  });

  it('the packets are the pictures: decoded, they match what FFmpeg decodes (PSNR above 40 dB)', async () => {
    const backend = getBackend('native');
    const raw = await openCapture({ source: clip, jpeg: true });
    const decoded = await openCapture({ source: clip });
    for (let i = 0; i < 3; i++) {
      const packet = await readJpeg(raw);
      const ours = await backend.decode(packet.jpeg, 1280 * 720);
      const theirs = (await decoded.read())!;
      const quality = psnr(framePixels(ours), framePixels(theirs));
      assert.ok(quality > 40, `frame ${i}: ${quality.toFixed(1)} dB`);
      ours.release();
      theirs.release();
    }
    await raw.release();
    await decoded.release();
  });

  it('loops a file in raw mode: after the last packet comes the first, the same bytes', async () => {
    const capture = await openCapture({ source: clip, jpeg: true, loop: true });
    const first: Buffer[] = [];
    for (let i = 0; i < frames; i++) first.push((await readJpeg(capture)).jpeg);
    for (let i = 0; i < frames + 2; i++) {
      const packet = await readJpeg(capture);
      assert.ok(packet.jpeg.equals(first[i % frames]), `packet ${i} of the second pass`);
    }
    await capture.release();
  });

  it('a GStreamer pipeline ending in image/jpeg: its JPEG with `jpeg`, decoded pixels without', async () => {
    const pipeline = 'videotestsrc num-buffers=4 ! video/x-raw,width=1280,height=720 ! jpegenc ! image/jpeg ! appsink';
    const capture = await openCapture({ source: pipeline, jpeg: true });
    assert.equal(capture.info.backend, 'GSTREAMER');
    assert.equal(capture.info.jpeg, false, 'not known before the first read');
    for (let i = 0; i < 4; i++) {
      const packet = await readJpeg(capture);
      assert.deepEqual([packet.width, packet.height], [1280, 720]);
      assert.deepEqual(native().probeImage(packet.jpeg), { format: 'jpeg', width: 1280, height: 720 });
      assert.equal(capture.info.jpeg, true);
    }
    assert.equal(await capture.read(), null);
    await capture.release();

    const pixels = await openCapture({ source: pipeline });
    for (let i = 0; i < 4; i++) {
      const frame = await readFrame(pixels);
      assert.deepEqual([frame.width, frame.height, frame.channels], [1280, 720, 3]);
      frame.release();
    }
    assert.equal(pixels.info.jpeg, false);
    await pixels.release();
  });

  it("takes a pipeline's size from the JPEG header when its caps say otherwise", async () => {
    const dir = tempDir();
    const jpegs = await testJpegs(3, 320, 240);
    jpegs.forEach((jpeg, i) => fs.writeFileSync(path.join(dir, `${i}.jpg`), jpeg));
    // OpenCV 4.6 needs a size in image/jpeg caps (without one it reads nothing); here a wrong one.
    const pipeline = `multifilesrc location=${dir}/%d.jpg index=0 stop-index=2 caps=image/jpeg,width=640,height=480,framerate=10/1 ! appsink`;
    for (const jpeg of [true, false]) {
      const capture = await openCapture({ source: pipeline, jpeg });
      assert.deepEqual([capture.info.width, capture.info.height], [640, 480], 'the caps, before the first read');
      const read = await capture.read();
      assert.ok(read);
      assert.deepEqual([read.width, read.height], [320, 240]);
      if (jpeg) assert.ok(isSourceJpeg(read) && read.jpeg.equals(jpegs[0]), 'the file, byte for byte');
      else assert.ok(!isSourceJpeg(read));
      assert.deepEqual([capture.info.width, capture.info.height, capture.info.jpeg], [320, 240, jpeg]);
      await capture.release();
    }
  });

  it('stays in pixel mode for a file of another codec, and for the test source', async () => {
    for (const [name, fourcc] of [['clip.avi', 'FFV1'], ['clip.mp4', 'mp4v']]) {
      const file = path.join(tempDir(), name);
      const writer = await openVideoWriter(file, { width: 320, height: 240, fps: 10, fourcc });
      const source = await openCapture({ source: 'test', width: 320, height: 240 });
      for (let i = 0; i < 3; i++) await writer.write((await source.read())!);
      await writer.release();
      await source.release();
      const capture = await openCapture({ source: file, jpeg: true });
      assert.equal(capture.info.jpeg, false, fourcc);
      for (let i = 0; i < 3; i++) {
        const frame = await readFrame(capture);
        assert.deepEqual([frame.width, frame.height, frame.channels], [320, 240, 3], fourcc);
      }
      assert.equal(await capture.read(), null);
      await capture.release();
    }
    const test = await openCapture({ source: 'test', width: 160, height: 120, jpeg: true });
    assert.equal(test.info.jpeg, false);
    assert.equal((await readFrame(test)).width, 160);
    await test.release();
  });

  it('decodes a source JPEG for callers that need pixels (readPixels)', async () => {
    const backend = getBackend('native');
    const capture = await backend.openCapture({ kind: 'file', location: clip, jpeg: true });
    const frame = await readPixels(backend, capture);
    assert.ok(frame && !isSourceJpeg(frame));
    assert.deepEqual([frame.width, frame.height, frame.channels], [1280, 720, 3]);
    await capture.release();
  });

  it('checks the option', async () => {
    await assert.rejects(openCapture({ source: 'test', jpeg: 'yes' as unknown as boolean }), { code: 'CVCHAT_INVALID_OPTION', message: /jpeg/ });
  });
});

describe('an MJPEG HTTP stream (multipart/x-mixed-replace, as IP cameras serve it)', () => {
  let server: http.Server;
  let base = '';
  /** What each path serves: the parts of one multipart response, then the end. */
  const streams = new Map<string, Buffer[]>();

  before(async () => {
    server = http.createServer((request, response) => {
      const parts = streams.get(request.url ?? '');
      if (!parts) {
        response.writeHead(404).end();
        return;
      }
      // FFmpeg's mpjpeg demuxer finds the stream by the boundary in Content-Type; each part has its
      // own Content-Type and Content-Length, as cameras send them.
      response.writeHead(200, { 'Content-Type': 'multipart/x-mixed-replace; boundary=cvchatframe', 'Cache-Control': 'no-cache' });
      for (const part of parts) {
        response.write(`--cvchatframe\r\nContent-Type: image/jpeg\r\nContent-Length: ${part.length}\r\n\r\n`);
        response.write(part);
        response.write('\r\n');
      }
      response.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it('gives back the exact bytes the server sent', async () => {
    const jpegs = await testJpegs(6, 640, 360);
    streams.set('/plain.mjpg', jpegs);
    const capture = await openCapture({ source: `${base}/plain.mjpg`, jpeg: true });
    assert.equal(capture.info.jpeg, true);
    assert.deepEqual([capture.info.width, capture.info.height], [640, 360]);
    for (let i = 0; i < jpegs.length; i++) {
      const packet = await readJpeg(capture);
      assert.ok(packet.jpeg.equals(jpegs[i]), `part ${i}`);
      assert.deepEqual([packet.width, packet.height], [640, 360]);
    }
    assert.equal(await capture.read(), null);
    await capture.release();
  });

  it('skips a part that is no picture and decodes one that is another format, without crashing', async () => {
    const jpegs = await testJpegs(3, 320, 240);
    const garbage = Buffer.from('not a picture, only bytes that say so. '.repeat(20));
    const frame = native().Frame.fromBuffer(Buffer.alloc(64 * 48 * 3, 77), 64, 48, 3);
    const png = await encode(frame, { format: 'png' });
    streams.set('/damaged.mjpg', [jpegs[0], garbage, jpegs[1], png, jpegs[2]]);
    const capture = await openCapture({ source: `${base}/damaged.mjpg`, jpeg: true });
    assert.ok((await readJpeg(capture)).jpeg.equals(jpegs[0]));
    assert.ok((await readJpeg(capture)).jpeg.equals(jpegs[1]), 'the garbage part was skipped');
    const decoded = await readFrame(capture);
    assert.deepEqual([decoded.width, decoded.height, decoded.channels], [64, 48, 3], 'the PNG part, decoded');
    assert.equal(framePixels(decoded)[0], 77);
    assert.ok((await readJpeg(capture)).jpeg.equals(jpegs[2]));
    assert.equal(await capture.read(), null);
    await capture.release();

    // In pixel mode FFmpeg's decoder meets the garbage; OpenCV 4.6 then ends the stream. Whatever
    // it gives, it must not crash.
    const pixels = await openCapture({ source: `${base}/damaged.mjpg` });
    for (let read = await pixels.read(); read; read = await pixels.read()) assert.ok(!isSourceJpeg(read));
    await pixels.release();
  });

  it('gives up with a code after a run of parts that are no picture', async () => {
    const jpegs = await testJpegs(1, 320, 240);
    const garbage = Array.from({ length: 40 }, (_, i) => Buffer.from(`damaged part ${i} `.repeat(30)));
    streams.set('/broken.mjpg', [jpegs[0], ...garbage, jpegs[0]]);
    const capture = await openCapture({ source: `${base}/broken.mjpg`, jpeg: true });
    assert.ok((await readJpeg(capture)).jpeg.equals(jpegs[0]));
    await assert.rejects(capture.read(), { code: 'CVCHAT_CAPTURE_BAD_FRAME', message: /30 packets in a row from url 'http:\/\/127\.0\.0\.1:\d+\/broken\.mjpg'/ });
    await capture.release();
  });
});

describe('JPEG decoding at a reduced DCT scale', () => {
  let picture: VideoFrame;
  let jpeg: Buffer;
  before(async () => {
    const capture = await openCapture({ source: 'test', width: 1280, height: 720 });
    picture = (await capture.read())!;
    await capture.release();
    jpeg = await encode(picture, { quality: 80 });
  });

  it('matches a full decode scaled by area averaging (PSNR above 40 dB), at the size asked for', async (t) => {
    const backend = getBackend('native');
    const full = await backend.decode(jpeg, 1280 * 720);
    const measured: string[] = [];
    // 1/2, 1/4 and 1/8 exactly; between scales; and sizes no DCT scale reaches.
    for (const [width, height] of [[640, 360], [320, 180], [160, 90], [400, 250], [1000, 600], [1279, 719], [100, 700]]) {
      const reference = backend.resize(full, width, height);
      const scaled = await backend.decode(jpeg, 1280 * 720, { width, height });
      assert.deepEqual([scaled.width, scaled.height, scaled.channels], [width, height, 3]);
      const quality = psnr(framePixels(scaled), framePixels(reference));
      assert.ok(quality > 40, `${width}x${height}: ${quality.toFixed(1)} dB`);
      measured.push(`${width}x${height} ${quality.toFixed(1)} dB`);
      reference.release();
      scaled.release();
    }
    // Odd sides and partial blocks: libjpeg rounds the scaled size up, the resize does the rest.
    const odd = await encode(backend.resize(picture, 333, 217), { quality: 90 });
    const small = await backend.decode(odd, 333 * 217, { width: 41, height: 27 });
    assert.deepEqual([small.width, small.height], [41, 27]);
    t.diagnostic(`PSNR against a full decode and INTER_AREA: ${measured.join(', ')}`);
    full.release();
  });

  it('still checks maxPixels against the declared size, and still enlarges', async () => {
    const backend = getBackend('native');
    await assert.rejects(backend.decode(jpeg, 1280 * 720 - 1, { width: 160, height: 90 }), { code: 'CVCHAT_IMAGE_TOO_LARGE' });
    const large = await backend.decode(jpeg, 1280 * 720, { width: 1920, height: 1080 });
    assert.deepEqual([large.width, large.height], [1920, 1080]);
    large.release();
  });

  it('is faster than a full decode (timings printed, not asserted)', async (t) => {
    const backend = getBackend('native');
    // Also a busier picture than the test source: gradients and noise, about a camera's bytes.
    const pixels = Buffer.alloc(1280 * 720 * 3);
    let seed = 7;
    for (let i = 0; i < pixels.length; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const x = (i / 3) % 1280;
      const y = Math.floor(i / 3 / 1280);
      pixels[i] = Math.max(0, Math.min(255, Math.round(120 + 80 * Math.sin(x / 37 + (i % 3)) * Math.cos(y / 23) + ((seed >>> 24) % 24) - 12)));
    }
    const busy = await encode(backend.fromPixels(pixels, 1280, 720, 3), { quality: 80 });
    const time = async (bytes: Buffer, run: () => Promise<VideoFrame>) => {
      for (let i = 0; i < 5; i++) (await run()).release();
      const runs = 40;
      const start = performance.now();
      for (let i = 0; i < runs; i++) (await run()).release();
      return ((performance.now() - start) / runs).toFixed(2);
    };
    for (const [name, bytes] of [['test picture', jpeg], ['busy picture', busy]] as const) {
      const line = [`1280x720 ${name} (${bytes.length} bytes): full decode ${await time(bytes, () => backend.decode(bytes, 1280 * 720))} ms`];
      for (const size of [{ width: 640, height: 360 }, { width: 320, height: 180 }]) {
        const unscaled = await time(bytes, async () => {
          const full = await backend.decode(bytes, 1280 * 720);
          const small = backend.resize(full, size.width, size.height);
          full.release();
          return small;
        });
        const scaled = await time(bytes, () => backend.decode(bytes, 1280 * 720, size));
        line.push(`to ${size.width}x${size.height}: full decode and resize ${unscaled} ms, DCT-scaled ${scaled} ms`);
      }
      t.diagnostic(line.join('; '));
    }
  });
});
