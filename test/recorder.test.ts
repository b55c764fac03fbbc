// The recorder (native/recorder.h) through the backend interface, read back as a user would read
// the file: by OpenCV's FFmpeg backend, from Python (Debian's python3-opencv). scripts/test.sh runs
// this file against all three builds of the addon.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

import type { Recorder, VideoBackend, VideoFrame } from '../lib/media/backend';
import { getBackend } from '../lib/media/backends';
import { frameFromPixels, openCapture } from '../lib/media/video';
import { python, tempDir } from './helpers';

const reader = path.join(__dirname, '..', '..', 'test', 'fixtures', 'cv2_read_video.py');
const FPS = 30;
const SLOT_MS = 1000 / FPS;

interface ReadFrame {
  ms: number;
  sha1?: string;
  width?: number;
  height?: number;
  /** Blue, green, red. */
  mean?: [number, number, number];
}

interface ReadBack {
  opened: boolean;
  frames: ReadFrame[];
  width?: number;
  height?: number;
  fps?: number;
}

/** Files as OpenCV's VideoCapture (CAP_FFMPEG) reads them: decoded, or their packets' SHA-1 (raw). */
async function readBackAll(files: string[], raw = false): Promise<ReadBack[]> {
  const { stdout } = await promisify(execFile)(python, [reader, ...(raw ? ['--raw'] : []), ...files], { maxBuffer: 16 << 20 });
  return stdout.trim().split('\n').map((line) => JSON.parse(line) as ReadBack);
}

async function readBack(file: string, raw = false): Promise<ReadBack> {
  return (await readBackAll([file], raw))[0];
}

function backend(): VideoBackend & { openRecorder: NonNullable<VideoBackend['openRecorder']> } {
  const native = getBackend('native');
  assert.ok(native.openRecorder, 'the native backend records');
  return native as VideoBackend & { openRecorder: NonNullable<VideoBackend['openRecorder']> };
}

const sha1 = (bytes: Buffer) => crypto.createHash('sha1').update(bytes).digest('hex');

/** `count` different JPEGs of the test picture, each with its number drawn on it. */
async function numberedJpegs(count: number, width: number, height: number): Promise<Buffer[]> {
  const b = backend();
  const capture = await openCapture({ source: 'test', width, height });
  const jpegs: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const frame = (await capture.read())!;
    b.drawText(frame, `#${i}`, 10, height / 2, 1.5, [255, 255, 255]);
    jpegs.push(await b.encodeJpeg(frame, 70 + (i % 20)));
    frame.release();
  }
  await capture.release();
  return jpegs;
}

/** Camera-like irregular times: 29-41 ms apart, fractions of a millisecond, a 500 ms and a 250 ms stall. */
function callTimes(count: number): number[] {
  const times: number[] = [];
  let t = 0;
  for (let i = 0; i < count; i++) {
    times.push(t);
    t += i === 19 ? 500 : i === 39 ? 250.4 : [33, 37, 30, 41, 29][i % 5] + (i % 3) * 0.3;
  }
  return times;
}

/** Where AVI puts a frame: its 1/fps slot, or the one after the last frame's when that is taken. */
function aviSlotsMs(times: number[]): number[] {
  let last = -1;
  return times.map((t) => {
    last = Math.max(last + 1, Math.round((t * FPS) / 1000));
    return last * SLOT_MS;
  });
}

/** A picture of one colour ([b, g, r]; grey takes the first); BGRA is opaque. */
function coloured(width: number, height: number, channels: 1 | 3 | 4, [b, g, r]: [number, number, number]): VideoFrame {
  const pixel = [b, g, r, 255].slice(0, channels);
  const pixels = Buffer.alloc(width * height * channels);
  for (let i = 0; i < pixels.length; i++) pixels[i] = pixel[i % channels];
  return frameFromPixels(pixels, width, height, channels);
}

const flat = (width: number, height: number, value: number) => coloured(width, height, 3, [value, value, value]);

async function settle(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

for (const ext of ['.mkv', '.avi'] as const) {
  describe(`recording to ${ext}`, () => {
    it('has every JPEG written, byte for byte, each at its time, and lasts as long as the call', async () => {
      const jpegs = await numberedJpegs(60, 320, 240);
      const times = callTimes(60);
      const file = path.join(tempDir(), `call${ext}`);
      const recorder = await backend().openRecorder(file, { width: 320, height: 240 }, FPS);
      let lastBytes = 0;
      for (let i = 0; i < jpegs.length; i++) {
        await recorder.writeJpeg(jpegs[i], times[i]);
        assert.ok(recorder.bytes > lastBytes, 'the file grows with each frame');
        lastBytes = recorder.bytes;
      }
      assert.equal(recorder.frames, 60);
      await recorder.close();
      assert.equal(recorder.bytes, fs.statSync(file).size, 'bytes is the finished file\'s size');

      const raw = await readBack(file, true);
      assert.deepEqual(raw.frames.map((f) => f.sha1), jpegs.map(sha1), 'the packets are the JPEGs, unchanged and in order');

      const decoded = await readBack(file);
      assert.equal(decoded.frames.length, 60, 'only real frames are read (AVI\'s empty slots are not frames)');
      assert.deepEqual([decoded.width, decoded.height, decoded.fps], [320, 240, FPS]);
      const expected = ext === '.mkv' ? times.map(Math.round) : aviSlotsMs(times);
      const tolerance = ext === '.mkv' ? 1 : SLOT_MS;
      decoded.frames.forEach((frame, i) => {
        assert.ok(Math.abs(frame.ms - expected[i]) < 0.01, `frame ${i} at ${frame.ms} ms, expected ${expected[i]}`);
        assert.ok(Math.abs(frame.ms - times[i]) <= tolerance, `frame ${i} at ${frame.ms} ms, written at ${times[i]}`);
      });
      const duration = decoded.frames[59].ms;
      assert.ok(Math.abs(duration - times[59]) <= tolerance, `lasts ${duration} ms, the call ${times[59]} ms`);
    });

    it('scales a smaller frame up to the recording\'s size, from BGR, grey or BGRA, colours kept', async () => {
      const file = path.join(tempDir(), `scaled${ext}`);
      const recorder = await backend().openRecorder(file, { width: 320, height: 240 }, FPS);
      const colours: Array<[number, number, number]> = [[200, 60, 20], [120, 120, 120], [30, 90, 220]];
      const frames = [coloured(160, 120, 3, colours[0]), coloured(160, 120, 1, colours[1]), coloured(320, 240, 4, colours[2])];
      for (let i = 0; i < frames.length; i++) await recorder.writeFrame(frames[i], i * 40, 95);
      await recorder.close();
      const decoded = await readBack(file);
      assert.deepEqual(decoded.frames.map((f) => [f.width, f.height]), [[320, 240], [320, 240], [320, 240]]);
      decoded.frames.forEach((f, i) => {
        assert.ok(f.mean!.every((v, c) => Math.abs(v - colours[i][c]) < 4), `frame ${i}: ${f.mean} for ${colours[i]}`);
      });
    });

    it('leaves a file that opens and holds every whole frame wherever a crash cuts it', async () => {
      const jpegs = await numberedJpegs(8, 320, 240);
      const dir = tempDir();
      const file = path.join(dir, `cut${ext}`);
      const recorder = await backend().openRecorder(file, { width: 320, height: 240 }, FPS);
      const ends = [recorder.bytes];  // the file's size after its header, then after each frame
      for (let i = 0; i < jpegs.length; i++) {
        await recorder.writeJpeg(jpegs[i], i * 40);
        ends.push(recorder.bytes);
        assert.equal(fs.statSync(file).size, recorder.bytes, `frame ${i} is in the file, not in a buffer`);
      }
      // What a killed process leaves: the file before its trailer, cut anywhere.
      const unfinished = fs.readFileSync(file);
      await recorder.close();
      const cuts: Array<{ at: number; whole: number }> = [];
      for (let whole = 0; whole <= jpegs.length; whole++) {
        cuts.push({ at: ends[whole], whole });
        if (whole < jpegs.length) cuts.push({ at: Math.round((ends[whole] + ends[whole + 1]) / 2), whole });
      }
      const files = cuts.map(({ at }) => {
        const cut = path.join(dir, `cut-${at}${ext}`);
        fs.writeFileSync(cut, unfinished.subarray(0, at));
        return cut;
      });
      const reads = await readBackAll(files);
      for (const [i, { at, whole }] of cuts.entries()) {
        const read = reads[i];
        // With no whole frame there is nothing to show; a header alone does not open as Matroska.
        assert.ok(read.opened || whole === 0, `cut at ${at} bytes opens`);
        // A frame cut short may be read as well (its picture partly grey).
        assert.ok(read.frames.length === whole || read.frames.length === whole + 1, `cut at ${at} bytes: ${read.frames.length} frames read, ${whole} whole`);
        read.frames.slice(0, whole).forEach((f, i) => assert.ok(Math.abs(f.ms - i * 40) <= (ext === '.mkv' ? 0 : SLOT_MS), `cut at ${at}: frame ${i} at ${f.ms} ms`));
      }
    });

    it('keeps every frame whose write had finished when the recording process is killed (SIGKILL)', async () => {
      const file = path.join(tempDir(), `killed${ext}`);
      const written = await recordUntilKilled(file, 2000);
      assert.ok(written.length >= 30, `the child wrote ${written.length} frames in 2 s`);
      const decoded = await readBack(file);
      assert.equal(decoded.opened, true, 'the file opens');
      // The frame being written at the kill may be there too, whole or cut short.
      assert.ok(decoded.frames.length >= written.length && decoded.frames.length <= written.length + 1,
        `${decoded.frames.length} frames read, ${written.length} written before the kill`);
      // OpenCV counts from the first frame, which the child wrote a moment after its start.
      const tolerance = ext === '.mkv' ? 1 : SLOT_MS;
      written.forEach((timeMs, i) => {
        const ms = decoded.frames[i].ms;
        assert.ok(Math.abs(ms - (timeMs - written[0])) <= tolerance, `frame ${i} at ${ms} ms, written at ${timeMs} - ${written[0]}`);
      });
      decoded.frames.slice(0, written.length).forEach((f, i) => assert.deepEqual([f.width, f.height], [320, 240], `frame ${i}`));
    });
  });
}

describe('recording to .avi, a grid of fixed slots', () => {
  it('keeps a late first frame late, and a pause longer than FFmpeg fills at once (60000 slots)', async () => {
    const jpegs = await numberedJpegs(3, 160, 120);
    const times = [250, 700_000, 700_010];
    const file = path.join(tempDir(), 'pause.avi');
    const recorder = await backend().openRecorder(file, { width: 160, height: 120 }, 100);
    for (let i = 0; i < 3; i++) await recorder.writeJpeg(jpegs[i], times[i]);
    await recorder.close();
    const decoded = await readBack(file);
    assert.deepEqual(decoded.frames.map((f) => Math.round(f.ms)), times);
  });
});

/**
 * A child process records the test picture (one frame every 33 ms, as JPEGs through writeJpeg) to
 * `file` and prints each frame's time once its write has resolved; after `ms` of recording it is
 * killed with SIGKILL. Returns the times printed. The child loads the addon as this run does
 * (PREBUILDS_ONLY and CVCHAT_ADDON are inherited).
 */
function recordUntilKilled(file: string, ms: number): Promise<number[]> {
  const script = `
    const { getBackend } = require(${JSON.stringify(require.resolve('../lib/media/backends'))});
    const { openCapture } = require(${JSON.stringify(require.resolve('../lib/media/video'))});
    (async () => {
      const backend = getBackend('native');
      const capture = await openCapture({ source: 'test', width: 320, height: 240 });
      const recorder = await backend.openRecorder(process.argv[1], { width: 320, height: 240 }, ${FPS});
      const start = performance.now();
      for (;;) {
        const frame = await capture.read();
        const jpeg = await backend.encodeJpeg(frame, 80);
        frame.release();
        const timeMs = performance.now() - start;
        await recorder.writeJpeg(jpeg, timeMs);
        console.log(JSON.stringify(timeMs));
        await new Promise((resolve) => setTimeout(resolve, 33));
      }
    })();`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script, file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.on('data', (d) => {
      stdout += d;
      timer ??= setTimeout(() => child.kill('SIGKILL'), ms);  // from the first frame on
    });
    child.stderr.on('data', (d) => (stderr += d));
    const deadline = setTimeout(() => child.kill('SIGKILL'), ms + 20_000);
    child.once('error', reject);
    child.once('close', (status, signal) => {
      clearTimeout(timer);
      clearTimeout(deadline);
      if (signal !== 'SIGKILL' || !timer) return reject(new Error(`the recording child ended by itself (${status}, ${signal}); stderr:\n${stderr}`));
      // Only whole lines: the kill may have cut the last one.
      resolve(stdout.split('\n').slice(0, -1).map((line) => JSON.parse(line) as number));
    });
  });
}

describe('recorder errors', () => {
  it('names the path and the system\'s reason when the file cannot be created', async () => {
    const file = path.join(tempDir(), 'no-such-folder', 'call.mkv');
    await assert.rejects(backend().openRecorder(file, { width: 320, height: 240 }, FPS), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'CVCHAT_RECORD_OPEN_FAILED');
      assert.equal(error.message, `Could not create the recording '${file}': No such file or directory`);
      return true;
    });
  });

  it('refuses an extension it does not record, naming the ones it does, and creates nothing', async () => {
    const dir = tempDir();
    for (const name of ['call.mp4', 'call.MOV', 'call.webm', 'call']) {
      const file = path.join(dir, name);
      await assert.rejects(backend().openRecorder(file, { width: 320, height: 240 }, FPS), (error: Error & { code?: string }) => {
        assert.equal(error.code, 'CVCHAT_RECORD_FORMAT');
        assert.match(error.message, new RegExp(`^Cannot record to '${file.replace(/[.]/g, '\\.')}': the extension picks the container`));
        assert.match(error.message, /Use \.mkv \(Matroska: each frame's own time\) or \.avi \(AVI: frames on a fixed-rate grid\)$/);
        return true;
      });
    }
    assert.deepEqual(fs.readdirSync(dir), []);
    // Upper case is the same container.
    const recorder = await backend().openRecorder(path.join(dir, 'CALL.MKV'), { width: 64, height: 48 }, FPS);
    await recorder.close();
  });

  it('refuses a second write while one runs (the caller skips that frame), and writes after close', async () => {
    const [jpeg] = await numberedJpegs(1, 320, 240);
    const file = path.join(tempDir(), 'busy.mkv');
    const recorder: Recorder = await backend().openRecorder(file, { width: 320, height: 240 }, FPS);
    const first = recorder.writeJpeg(jpeg, 0);
    assert.equal(await settle(recorder.writeJpeg(jpeg, 33)), 'CVCHAT_RECORD_BUSY');
    assert.equal(await settle(recorder.writeFrame(flat(320, 240, 9), 33, 80)), 'CVCHAT_RECORD_BUSY');
    // close() while the first write runs: it waits for it, and refuses any write from now on.
    const closed = recorder.close();
    assert.equal(await settle(recorder.writeJpeg(jpeg, 66)), 'CVCHAT_RECORD_CLOSED');
    assert.equal(await settle(first), 'resolved');
    await closed;
    await recorder.close();  // idempotent
    assert.equal(await settle(recorder.writeFrame(flat(320, 240, 9), 99, 80)), 'CVCHAT_RECORD_CLOSED');
    assert.equal(recorder.frames, 1);
    assert.equal((await readBack(file)).frames.length, 1);
  });

  it('refuses a JPEG of another size, and data that is not a JPEG', async () => {
    const [small] = await numberedJpegs(1, 160, 120);
    const recorder = await backend().openRecorder(path.join(tempDir(), 'sizes.avi'), { width: 320, height: 240 }, FPS);
    await assert.rejects(recorder.writeJpeg(small, 0), { code: 'CVCHAT_INVALID_ARGUMENT', message: 'writeJpeg: the JPEG is 160x120, the recording 320x240' });
    await assert.rejects(recorder.writeJpeg(Buffer.from('not a picture'), 0), { code: 'CVCHAT_INVALID_ARGUMENT', message: 'writeJpeg: the data is not a JPEG' });
    assert.equal(recorder.frames, 0);
    await recorder.close();
  });

  it('finishes the file of a recorder dropped without close() when it is collected', async () => {
    const file = path.join(tempDir(), 'dropped.mkv');
    await (async () => {
      const recorder = await backend().openRecorder(file, { width: 64, height: 48 }, FPS);
      for (let i = 0; i < 3; i++) await recorder.writeFrame(flat(64, 48, 100), i * 33, 80);
    })();
    const unfinished = fs.readFileSync(file);
    for (let i = 0; i < 20 && fs.statSync(file).size === unfinished.length; i++) {
      global.gc?.();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(fs.statSync(file).size > unfinished.length, 'the trailer (cues, duration) was written');
    assert.equal((await readBack(file)).frames.length, 3);
  });
});
