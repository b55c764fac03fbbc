// cvchat's JPEG path (libjpeg-turbo straight, native/jpeg.h) must give exactly what OpenCV's
// imencode and imdecode give: the same bytes out of the encoder, the same pixels out of the
// decoder. The reference is real OpenCV, run from Python (Debian's python3-opencv).
// scripts/test.sh runs this file against all three builds of the addon.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

import { decode, encode, frameFromPixels, framePixels, openCapture } from '../lib/media/video';
import { python, tempDir } from './helpers';

const reference = path.join(__dirname, '..', '..', 'test', 'fixtures', 'cv2_codec.py');

type Job =
  | { op: 'encode'; raw: string; width: number; height: number; channels: number; quality: number; progressive?: number; out: string }
  | { op: 'decode'; jpeg: string; gray: boolean; out: string };

/** Runs the jobs through Python's cv2 in one process; returns the decoded shapes. */
async function opencv(jobs: Job[]): Promise<Array<number[] | null>> {
  const file = path.join(tempDir(), 'jobs.json');
  fs.writeFileSync(file, JSON.stringify(jobs));
  const { stdout } = await promisify(execFile)(python, [reference, file], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout);
}

/** Camera-like pixels: smooth gradients, edges and seeded noise, so every coefficient band is used. */
function camera(width: number, height: number, channels: number, seed: number): Buffer {
  const pixels = Buffer.alloc(width * height * channels);
  let state = seed;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      state = (state * 1103515245 + 12345) >>> 0;
      const noise = (state >>> 24) % 17;
      for (let c = 0; c < channels; c++) {
        const wave = 90 + 80 * Math.sin((x * (c + 1)) / 23 + y / 31) + (((x >> 4) + (y >> 4)) % 2) * 40;
        pixels[(y * width + x) * channels + c] = Math.max(0, Math.min(255, Math.round(wave + noise - 8)));
      }
    }
  }
  return pixels;
}

/** An APP1 Exif segment holding only an orientation tag (TIFF, little-endian, one IFD entry). */
function exifOrientation(value: number): Buffer {
  const tiff = Buffer.alloc(26);
  tiff.write('II', 0, 'latin1');
  tiff.writeUInt16LE(42, 2);
  tiff.writeUInt32LE(8, 4); // first IFD right after the header
  tiff.writeUInt16LE(1, 8); // one entry
  tiff.writeUInt16LE(0x0112, 10); // Orientation
  tiff.writeUInt16LE(3, 12); // SHORT
  tiff.writeUInt32LE(1, 14);
  tiff.writeUInt16LE(value, 18);
  tiff.writeUInt32LE(0, 22); // no next IFD
  const body = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
  const head = Buffer.from([0xff, 0xe1, 0, 0]);
  head.writeUInt16BE(body.length + 2, 2);
  return Buffer.concat([head, body]);
}

describe('JPEG through libjpeg-turbo', () => {
  it('encodes the same bytes as OpenCV, colour and gray, at any size and quality', async () => {
    const dir = tempDir();
    const cases: Array<{ width: number; height: number; channels: 1 | 3; quality: number }> = [
      { width: 1280, height: 720, channels: 3, quality: 80 },
      { width: 333, height: 217, channels: 3, quality: 95 }, // partial MCUs on both edges
      { width: 333, height: 217, channels: 3, quality: 10 },
      { width: 16, height: 8, channels: 3, quality: 100 },
      { width: 1, height: 1, channels: 3, quality: 50 },
      { width: 321, height: 243, channels: 1, quality: 80 },
    ];
    const jobs: Job[] = [];
    const ours: Buffer[] = [];
    for (const [i, c] of cases.entries()) {
      const raw = path.join(dir, `${i}.raw`);
      const pixels = camera(c.width, c.height, c.channels, i + 1);
      fs.writeFileSync(raw, pixels);
      jobs.push({ op: 'encode', raw, width: c.width, height: c.height, channels: c.channels, quality: c.quality, out: path.join(dir, `${i}.jpg`) });
      ours.push(await encode(frameFromPixels(pixels, c.width, c.height, c.channels), { format: 'jpeg', quality: c.quality }));
    }
    await opencv(jobs);
    for (const [i, c] of cases.entries()) {
      const theirs = fs.readFileSync(path.join(dir, `${i}.jpg`));
      assert.ok(ours[i].equals(theirs), `${c.width}x${c.height}x${c.channels} at quality ${c.quality}: ${ours[i].length} bytes against OpenCV's ${theirs.length}`);
    }
  });

  it('decodes the same pixels as OpenCV: baseline, progressive, gray, into colour and into gray', async () => {
    const dir = tempDir();
    const sources = [
      { width: 640, height: 480, channels: 3, progressive: 0 },
      { width: 333, height: 217, channels: 3, progressive: 1 },
      { width: 321, height: 243, channels: 1, progressive: 0 },
    ];
    const encodeJobs: Job[] = sources.map((s, i) => {
      const raw = path.join(dir, `${i}.raw`);
      fs.writeFileSync(raw, camera(s.width, s.height, s.channels, 40 + i));
      return { op: 'encode', raw, width: s.width, height: s.height, channels: s.channels, quality: 85, progressive: s.progressive, out: path.join(dir, `${i}.jpg`) };
    });
    await opencv(encodeJobs);
    const decodeJobs: Job[] = [];
    for (let i = 0; i < sources.length; i++) {
      for (const gray of [false, true]) decodeJobs.push({ op: 'decode', jpeg: path.join(dir, `${i}.jpg`), gray, out: path.join(dir, `${i}-${gray}.raw`) });
    }
    const shapes = await opencv(decodeJobs);
    for (const [j, job] of decodeJobs.entries()) {
      if (job.op !== 'decode') continue;
      const frame = await decode(fs.readFileSync(job.jpeg), { channels: job.gray ? 1 : 3 });
      const shape = shapes[j]!;
      assert.deepEqual([frame.height, frame.width], shape.slice(0, 2), job.jpeg);
      assert.ok(framePixels(frame).equals(fs.readFileSync(job.out)), `${path.basename(job.jpeg)} decoded ${job.gray ? 'to gray' : 'to colour'} differs from OpenCV`);
      frame.release();
    }
  });

  it('turns a picture by its Exif orientation, as imdecode does', async () => {
    const dir = tempDir();
    const capture = await openCapture({ source: 'test', width: 320, height: 240 });
    const plain = await encode((await capture.read())!);
    await capture.release();
    const rotated = Buffer.concat([plain.subarray(0, 2), exifOrientation(6), plain.subarray(2)]); // after SOI
    const file = path.join(dir, 'exif.jpg');
    fs.writeFileSync(file, rotated);
    const [shape] = await opencv([{ op: 'decode', jpeg: file, gray: false, out: path.join(dir, 'exif.raw') }]);
    assert.deepEqual(shape, [320, 240, 3], 'OpenCV turned the picture a quarter');
    const frame = await decode(rotated);
    assert.deepEqual([frame.height, frame.width], [320, 240]);
    assert.ok(framePixels(frame).equals(fs.readFileSync(path.join(dir, 'exif.raw'))));
  });

  // This is also what shows the direct path is taken: imdecode gives no reason and prints warnings.
  // Losing it (a libjpeg without the BGR extensions) would quietly cost half the decoding speed.
  it('reports corrupt data with libjpeg\'s reason, and never prints it', async () => {
    const capture = await openCapture({ source: 'test', width: 320, height: 240 });
    const jpeg = await encode((await capture.read())!);
    await capture.release();
    const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
    const badPrecision = Buffer.from(jpeg);
    badPrecision[sof + 4] = 7; // sample precision 7 bits: no such JPEG
    await assert.rejects(decode(badPrecision), { code: 'CVCHAT_DECODE_FAILED', message: /precision/i });
    // A damaged or cut scan still decodes (as imdecode would); libjpeg's warnings must not reach
    // stderr, which the test runner would hide, so that is checked in a child process.
    const damaged = Buffer.from(jpeg);
    // No 0xff written, and no byte after one touched (a stuffed 0xff 0x00 would become a marker): the
    // scan is damaged, not cut by a marker. (The test picture changes with the clock, so its bytes do.)
    for (let i = jpeg.length - 400; i < jpeg.length - 300; i += 7) if (damaged[i - 1] !== 0xff) damaged[i] = (damaged[i] * 31 + 7) & 0x7f;
    const cut = jpeg.subarray(0, jpeg.length - 300);
    const video = JSON.stringify(path.join(__dirname, '..', 'lib', 'media', 'video.js'));
    const script = `const v=require(${video});(async()=>{for(const b of ${JSON.stringify([damaged, cut].map((b) => b.toString('base64')))})` +
      `await v.decode(Buffer.from(b,'base64')).then(f=>console.log(f.width),e=>console.log(e.code+' '+e.message))})()`;
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['-e', script]);
    assert.equal(stdout.trim(), '320\n320');
    assert.equal(stderr, '');
  });
});
