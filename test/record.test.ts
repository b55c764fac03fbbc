// --record: the file holds the frames that side showed, at the times it showed them, read back by
// OpenCV's own reader (FFmpeg, from Python); JPEGs are stored as they came; a recorder stopped by
// q, SIGTERM or Ctrl+C leaves a whole file, and one killed leaves what README promises.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import { wallClock } from '../lib/base/clock';
import { getBackend } from '../lib/media/backends';
import { Chat } from '../lib/session/chat/chat';
import type { DecodedFrame } from '../lib/session/decoder';
import { encode, openCapture } from '../lib/media/video';
import { Receiver } from '../lib/session/receiver';
import { checkRecordPath, Recording } from '../lib/session/record';
import { Sender } from '../lib/session/sender';
import { stripFrameMeta } from '../lib/wire/meta';
import { execFileP, exitWithin, freePort, python, root, runCli, statsLines, TEST_KEY, tempDir, waitFor, writeTestClip } from './helpers';

const sha = (bytes: Buffer) => crypto.createHash('sha256').update(bytes).digest('hex');
const videoInfo = path.join(root, 'test', 'fixtures', 'video_info.py');

interface VideoInfo {
  opened: boolean;
  frames: number;
  fps: number;
  width: number;
  height: number;
  msec: number[];
  sizes: Array<[number, number]>;
  packets?: string[];
}

async function readWithPython(file: string, packets = false): Promise<VideoInfo> {
  return JSON.parse((await execFileP(python, [videoInfo, file, ...(packets ? ['--packets'] : [])], { maxBuffer: 1 << 26 })).stdout);
}

/** What a receiver showed: each frame's JPEG (cvchat's segments out) and when. */
interface Shown {
  hash: string;
  at: number;
}

function recordShown(into: Shown[]) {
  return (decoded: DecodedFrame) => {
    const video = decoded.meta?.point?.codec;
    into.push({ hash: video ? '' : sha(stripFrameMeta(decoded.payload)), at: wallClock() });
  };
}

describe('--record', () => {
  for (const extension of ['.mkv', '.avi']) {
    it(`keeps what the receiver showed, byte for byte and on time (${extension})`, async () => {
      const file = path.join(tempDir(), `call${extension}`);
      const sender = new Sender({ source: 'test', width: 640, height: 480, fps: 30, host: '127.0.0.1', port: 0, key: TEST_KEY, codec: 'jpeg' });
      await sender.start();
      const sending = sender.run();
      const shown: Shown[] = [];
      const receiver = new Receiver({ connect: { host: '127.0.0.1', port: sender.port }, key: TEST_KEY, codec: 'jpeg', record: file, onFrame: recordShown(shown) });
      const receiving = receiver.run();
      await waitFor('frames', () => (shown.length >= 60 ? true : undefined));
      receiver.stop(); // as q does
      await receiving;
      await sender.stop();
      await sending;
      const status = receiver.recording!.status;
      const info = await readWithPython(file, true);
      assert.ok(info.opened);
      assert.equal(status.skipped, 0, 'nothing skipped at 30 fps');
      assert.equal(info.frames, shown.length, 'every shown frame is in the file');
      assert.equal(status.frames, shown.length);
      assert.deepEqual([info.width, info.height], [640, 480]);
      // Stored as they came.
      if (extension === '.mkv') assert.deepEqual(info.packets, shown.map((s) => s.hash));
      else assert.deepEqual(info.packets!.filter((p) => p !== EMPTY_SHA), shown.map((s) => s.hash));
      // Each frame at the time it was shown, from the first: Matroska to the millisecond, an AVI to its slot (1/60 s).
      const tolerance = extension === '.mkv' ? 1.5 : 1000 / 60 + 1;
      for (let i = 0; i < shown.length; i++) {
        const expected = shown[i].at - shown[0].at;
        const stored = info.msec[i] - info.msec[0];
        assert.ok(Math.abs(stored - expected) <= tolerance, `frame ${i}: stored at ${stored.toFixed(1)} ms, shown at ${expected.toFixed(1)} ms`);
      }
      const callMs = shown[shown.length - 1].at - shown[0].at;
      assert.ok(Math.abs(status.seconds * 1000 - callMs) <= tolerance + 1, `the recording's ${status.seconds} s against the call's ${callMs} ms`);
    });
  }

  it("keeps the sender's MJPEG file as it is (pass-through)", async () => {
    const clip = await writeTestClip(20, 320, 240, 30);
    const source = await readWithPython(clip, true);
    const file = path.join(tempDir(), 'sent.mkv');
    const sender = new Sender({ source: clip, host: '127.0.0.1', port: 0, key: TEST_KEY, codec: 'jpeg', record: file });
    await sender.start();
    const receiver = new Receiver({ connect: { host: '127.0.0.1', port: sender.port }, key: TEST_KEY, codec: 'jpeg' });
    const receiving = receiver.run();
    await waitFor('the viewer', () => sender.viewerCount === 1 || undefined);
    assert.equal(await sender.run(), 'ended');
    receiver.stop();
    await receiving;
    const info = await readWithPython(file, true);
    assert.deepEqual(info.packets, source.packets, "the file's own JPEGs, every one, unchanged");
    // Paced at the file's 30 fps.
    const span = info.msec[info.msec.length - 1] - info.msec[0];
    assert.ok(Math.abs(span - (19 * 1000) / 30) < 60, `20 frames over ${span} ms`);
  });

  it("keeps a chat partner's video when it comes as H.264, encoded to JPEG at the stream's size", async (t) => {
    if (!getBackend('native').videoCodecs().includes('h264')) return t.skip('no H.264 in this build');
    const file = path.join(tempDir(), 'chat.mkv');
    const [portA, portB] = [await freePort(), await freePort()];
    const common = { source: 'test', width: 320, height: 240, fps: 30, key: TEST_KEY };
    const shown: Shown[] = [];
    const a = new Chat({ ...common, label: 'A', listen: { host: '127.0.0.1', port: portA }, peer: { host: '127.0.0.1', port: portB }, record: file, onFrame: (d) => shown.push({ hash: d.meta?.point?.codec ?? 'jpeg', at: wallClock() }) });
    const b = new Chat({ ...common, label: 'B', listen: { host: '127.0.0.1', port: portB }, peer: { host: '127.0.0.1', port: portA } });
    await a.start();
    await b.start();
    const ends = [a.run(), b.run()];
    await waitFor('H.264 frames', () => (shown.filter((s) => s.hash === 'h264').length >= 45 ? true : undefined), 20_000);
    a.stop();
    await Promise.all(ends);
    const info = await readWithPython(file);
    assert.equal(info.frames, a.recording!.status.frames);
    assert.ok(info.frames >= shown.length - a.recording!.status.skipped && info.frames > 40, `${info.frames} frames in the file, ${shown.length} shown`);
    assert.ok(info.sizes.every(([w, h]) => w === 320 && h === 240));
    const span = info.msec[info.msec.length - 1] - info.msec[0];
    const callMs = shown[shown.length - 1].at - shown[0].at;
    assert.ok(Math.abs(span - callMs) < 50, `the file spans ${span} ms, the call showed frames over ${callMs} ms`);
  });
});

describe('--record on a full disk', { skip: process.getuid?.() === 0 ? false : 'needs root to mount a small tmpfs' }, () => {
  it('stops recording with a message naming the problem, and the call goes on', async () => {
    const dir = tempDir();
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'cvchat-full', dir]);
    try {
      const file = path.join(dir, 'full.mkv');
      const sender = new Sender({ source: 'test', width: 640, height: 480, fps: 30, host: '127.0.0.1', port: 0, key: TEST_KEY, codec: 'jpeg' });
      await sender.start();
      const sending = sender.run();
      let shown = 0;
      const receiver = new Receiver({ connect: { host: '127.0.0.1', port: sender.port }, key: TEST_KEY, codec: 'jpeg', record: file, onFrame: () => shown++ });
      const lines: string[] = [];
      const write = process.stderr.write.bind(process.stderr);
      process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
        lines.push(String(chunk));
        return write(chunk, ...rest);
      }) as typeof process.stderr.write;
      try {
        const receiving = receiver.run();
        // About 40 KB a frame: the megabyte is full after some 25 frames.
        await waitFor('the recording to stop', () => (lines.some((l) => /recording stopped: .*CVCHAT_RECORD_WRITE_FAILED/.test(l)) ? true : undefined), 20_000);
        const then = shown;
        await waitFor('the call to go on', () => (shown >= then + 30 ? true : undefined));
        receiver.stop();
        await receiving;
      } finally {
        process.stderr.write = write;
      }
      await sender.stop();
      await sending;
      assert.ok(receiver.recording!.status.frames > 5, `frames written before the disk was full: ${receiver.recording!.status.frames}`);
    } finally {
      execFileSync('umount', [dir]);
    }
  });
});

describe('a recording', () => {
  it('does not truncate a file made under its name after the check at start (another recording)', async () => {
    const file = path.join(tempDir(), 'race.mkv');
    const recording = new Recording(getBackend('native'), checkRecordPath(file));
    fs.writeFileSync(file, 'another recording');
    const capture = await openCapture({ source: 'test', width: 320, height: 240 });
    const frame = (await capture.read())!;
    await capture.release();
    const jpeg = await encode(frame, { quality: 80 });
    frame.release();
    recording.offerJpeg(jpeg, wallClock());
    await recording.close();
    assert.equal(fs.readFileSync(file, 'utf8'), 'another recording');
    assert.equal(recording.status.frames, 0);
    recording.offerJpeg(jpeg, wallClock());
    recording.passOver();
    assert.equal(recording.status.skipped, 0, 'frames after the recording stopped are not counted as skipped');
  });
});

/** The hash of an empty packet (an AVI's empty chunk for a slot without a frame). */
const EMPTY_SHA = sha(Buffer.alloc(0));

describe('--record from the command line', () => {
  async function startRecordingReceiver(file: string) {
    const port = await freePort();
    const sender = runCli(['sender', '--no-window', '--source', 'test', '--fps', '30', '--port', String(port), '--host', '127.0.0.1', '--key', TEST_KEY, '--codec', 'jpeg']);
    await waitFor('the sender', () => (/sending/.test(sender.stderr()) ? true : undefined));
    const receiver = runCli(['receiver', '--no-window', '--stats', '--connect', `127.0.0.1:${port}`, '--key', TEST_KEY, '--record', file]);
    await waitFor('recording', () => (/recording 640x480/.test(receiver.stderr()) ? true : undefined));
    return { sender, receiver };
  }

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`finishes the file on ${signal}`, async () => {
      const file = path.join(tempDir(), 'signal.mkv');
      const { sender, receiver } = await startRecordingReceiver(file);
      await new Promise((resolve) => setTimeout(resolve, 2000));
      receiver.child.kill(signal);
      assert.equal(await exitWithin(receiver, 10_000), 0, receiver.stderr());
      sender.child.kill('SIGTERM');
      await exitWithin(sender, 10_000);
      const last = statsLines(receiver.stdout()).pop()!;
      const info = await readWithPython(file);
      assert.equal(info.frames, last.recording.frames, 'the file has every frame the recorder wrote');
      assert.ok(info.frames > 40);
      assert.match(receiver.stderr(), new RegExp(`recorded ${info.frames} frames`));
    });
  }

  it('leaves a Matroska file that plays up to the last second after SIGKILL', async () => {
    const file = path.join(tempDir(), 'killed.mkv');
    const { sender, receiver } = await startRecordingReceiver(file);
    await new Promise((resolve) => setTimeout(resolve, 4000));
    // What the recorder had written a second and a half before the kill, by its own --stats.
    const lines = statsLines(receiver.stdout());
    receiver.child.kill('SIGKILL');
    await receiver.exited;
    sender.child.kill('SIGTERM');
    await exitWithin(sender, 10_000);
    // Lines come once a second: the one before the last was printed a second or more before the kill.
    const before = lines[lines.length - 2];
    const info = await readWithPython(file);
    assert.ok(info.opened, 'the file opens');
    assert.ok(before && info.frames >= before.recording.frames, `${info.frames} frames in the file; ${before?.recording.frames} written a second or more before the kill`);
    assert.ok(info.frames >= 60, `${info.frames} frames from about 4 s`);
  });

  it('refuses a --record path that would lose or hide something, before connecting', async () => {
    const dir = tempDir();
    const existing = path.join(dir, 'old.mkv');
    fs.writeFileSync(existing, 'a recording');
    for (const [target, message] of [
      [existing, /exists; cvchat does not overwrite/],
      [path.join(dir, 'call.mp4'), /use \.mkv .* or \.avi/],
      [path.join(dir, 'missing', 'call.mkv'), /does not exist/],
    ] as const) {
      const run = runCli(['receiver', '--no-window', '--connect', '127.0.0.1:9', '--insecure', '--record', target]);
      assert.equal(await exitWithin(run, 10_000), 2, run.stderr());
      assert.match(run.stderr(), message);
    }
    assert.equal(fs.readFileSync(existing, 'utf8'), 'a recording');
  });
});
