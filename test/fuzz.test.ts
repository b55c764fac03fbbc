// Seeded fuzzing: generated hostile inputs at the parser and decoder, at a live receiver process
// and at live sender processes. Bounded in count and time; CVCHAT_FUZZ_SEED=N reproduces a run.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { before, describe, it } from 'node:test';

import { controlMessage, parseControl } from '../lib/wire/control';
import { FrameReader, lengthHeader } from '../lib/wire/framing';
import { frameHead } from '../lib/wire/meta';
import { isVideoPayload, readVideoPayload, videoFrameHead, type VideoFrameInfo } from '../lib/wire/video';
import { getBackend } from '../lib/media/backends';
import { VideoStreamIn } from '../lib/session/video';
import { Receiver } from '../lib/session/receiver';
import { dial } from '../lib/net/tls';
import { decode, encode, openCapture } from '../lib/media/video';
import { exitWithin, freePort, runCli, sleep, statsLines, TEST_KEY, waitFor, type CliRun } from './helpers';

const SEED = Number(process.env.CVCHAT_FUZZ_SEED ?? 20261125);

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  return { next, int, bytes };
}

type Rng = ReturnType<typeof prng>;

interface Samples {
  jpeg: Buffer;
  bigJpeg: Buffer;
  png: Buffer;
  /** Video payloads (header and bitstream) of one stream: an H.264 keyframe, then P-frames, then a VP8 keyframe. */
  video: Buffer[];
}

/** A video payload for `bitstream` with the header's fields as given. */
function videoPayload(bitstream: Buffer, info: Partial<VideoFrameInfo>, seq: number): Buffer {
  const full: VideoFrameInfo = { codec: 'h264', keyframe: false, stream: 7, index: 0, width: 160, height: 120, fullWidth: 160, fullHeight: 120, estimateBps: 1e6, bitrateBps: 9e5, ...info };
  return Buffer.concat([videoFrameHead(bitstream.length, full, { seq, captureTime: 0, echoTime: 0, echoHoldMs: 0 }).subarray(8), bitstream]);
}

function framed(payload: Buffer): Buffer {
  return Buffer.concat([lengthHeader(payload.length), payload]);
}

/** One hostile (or, now and then, valid) byte stream as a sender might send it. */
function hostileStream(rng: Rng, s: Samples): Buffer {
  const mutate = (b: Buffer) => {
    const copy = Buffer.from(b);
    const flips = 1 + rng.int(20);
    for (let i = 0; i < flips; i++) copy[rng.int(copy.length)] ^= 1 << rng.int(8);
    return copy;
  };
  switch (rng.int(15)) {
    case 0: return rng.bytes(1 + rng.int(4000)); // noise
    case 1: return framed(mutate(s.jpeg)); // corrupt JPEG
    case 2: return framed(s.jpeg).subarray(0, rng.int(s.jpeg.length + 8)); // truncated header or payload
    case 3: return lengthHeader(0);
    case 4: return Buffer.concat([lengthHeader(2 ** 33 + rng.int(1e9)), rng.bytes(64)]); // absurd length
    case 5: return framed(rng.bytes(rng.int(3000) + 1)); // not an image
    case 6: { // a JPEG whose frame header claims 65535x65535 (decompression bomb)
      const bomb = Buffer.from(s.jpeg);
      const sof = bomb.indexOf(Buffer.from([0xff, 0xc0]));
      if (sof > 0) bomb.writeUInt32BE(0xffffffff, sof + 5);
      return framed(bomb);
    }
    case 7: return Buffer.concat([framed(s.jpeg), framed(s.bigJpeg), framed(s.jpeg)]); // valid, sizes change
    case 8: return framed(mutate(s.png));
    case 9: return Buffer.concat([controlMessage('HELLO', rng.bytes(8).toString('hex')), framed(Buffer.concat([Buffer.from('CVCHAT:'), rng.bytes(rng.int(200))]))]);
    case 10: { // a metadata segment holding nonsense values (NaN, negative, huge), then a real JPEG
      const head = frameHead(s.jpeg.length, { seq: rng.int(2 ** 32), captureTime: rng.next() * 1e300, echoTime: -1, echoHoldMs: NaN });
      return Buffer.concat([head, s.jpeg.subarray(2)]);
    }
    case 11: return Buffer.concat(s.video.map((v) => framed(v))); // a valid video stream
    case 12: return Buffer.concat(s.video.map((v) => framed(rng.int(2) ? mutate(v) : v.subarray(0, rng.int(v.length + 1))))); // damaged video
    case 13: { // a video header around noise, keyframe or not, sizes anywhere
      const header = { keyframe: rng.int(2) === 1, codec: rng.int(2) ? 'h264' as const : 'vp8' as const, width: 1 + rng.int(70000 & 0xffff), height: 1 + rng.int(0xffff), index: rng.int(3) };
      return framed(videoPayload(rng.bytes(1 + rng.int(3000)), header, rng.int(100)));
    }
    default: return Buffer.concat([framed(s.jpeg), mutate(framed(s.jpeg))]);
  }
}

let samples: Samples;
before(async () => {
  const capture = await openCapture({ source: 'test', width: 160, height: 120 });
  const frame = (await capture.read())!;
  const big = await openCapture({ source: 'test', width: 320, height: 240 });
  const bigFrame = (await big.read())!;
  const backend = getBackend('native');
  const h264 = backend.openVideoEncoder('h264', { width: 160, height: 120 }, 30);
  const vp8 = backend.openVideoEncoder('vp8', { width: 160, height: 120 }, 30);
  const video: Buffer[] = [];
  for (let i = 0; i < 4; i++) video.push(videoPayload((await h264.encode(frame, 5e5, i === 0)).data, { keyframe: i === 0, index: i }, i));
  video.push(videoPayload((await vp8.encode(frame, 5e5, true)).data, { codec: 'vp8', keyframe: true, stream: 8 }, 4));
  h264.close();
  vp8.close();
  samples = { jpeg: await encode(frame), bigJpeg: await encode(bigFrame), png: await encode(frame, { format: 'png' }), video };
  await capture.release();
  await big.release();
});

describe(`fuzz (seed ${SEED}; rerun with CVCHAT_FUZZ_SEED=${SEED})`, () => {
  it('the parser and decoder take 3000 hostile streams, split anywhere, with coded errors only', async () => {
    const rng = prng(SEED);
    const videoIn = new VideoStreamIn(getBackend('native'));
    const outcomes = new Map<string, number>();
    const note = (key: string) => outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    for (let i = 0; i < 3000; i++) {
      const stream = hostileStream(rng, samples);
      const reader = new FrameReader({ maxFrameBytes: 1 << 20 });
      const cut = rng.int(stream.length + 1);
      let payloads: Buffer[];
      try {
        payloads = [...reader.push(stream.subarray(0, cut)), ...reader.push(stream.subarray(cut))];
      } catch (error) {
        assert.match((error as { code: string }).code, /^CVCHAT_/);
        note((error as { code: string }).code);
        continue;
      }
      for (const payload of payloads) {
        if (parseControl(payload)) {
          note('control');
          continue;
        }
        if (isVideoPayload(payload)) {
          const video = readVideoPayload(payload);
          if (!video) {
            note('video header refused');
            continue;
          }
          try {
            const shown = await videoIn.decode(video, 4096 * 4096, undefined);
            note(shown.frame ? 'video shown' : 'video passed over');
            shown.frame?.release();
          } catch (error) {
            assert.match((error as { code: string }).code, /^CVCHAT_/, `input ${i}`);
            note((error as { code: string }).code);
          }
          continue;
        }
        try {
          const frame = await decode(payload, { maxPixels: 4096 * 4096 });
          frame.release();
          note('decoded');
        } catch (error) {
          assert.match((error as { code: string }).code, /^CVCHAT_/, `input ${i}`);
          note((error as { code: string }).code);
        }
      }
    }
    videoIn.close();
    for (const code of ['CVCHAT_FRAME_TOO_LARGE', 'CVCHAT_EMPTY_FRAME', 'CVCHAT_IMAGE_TOO_LARGE', 'CVCHAT_UNSUPPORTED_IMAGE', 'decoded', 'video shown', 'video passed over', 'video header refused']) {
      assert.ok(outcomes.get(code), `the generator reached ${code}: ${JSON.stringify([...outcomes])}`);
    }
  });

  it('a live receiver survives 300 hostile senders, then shows a well-behaved one', async () => {
    const rng = prng(SEED + 1);
    let served = 0;
    let good = false;
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => sockets.delete(socket));
      if (good) {
        const timer = setInterval(() => socket.write(framed(samples.jpeg)), 30);
        socket.on('close', () => clearInterval(timer));
        return;
      }
      served++;
      // Every fourth session shows a frame before turning hostile, so the receiver never has
      // FRAMELESS_SESSIONS_BEFORE_BACKOFF bad sessions in a row and keeps retrying at full speed.
      const hostile = hostileStream(rng, samples);
      if (served % 4 !== 0) {
        socket.end(hostile);
        return;
      }
      socket.write(framed(samples.jpeg));
      setTimeout(() => socket.end(hostile), 150);
    });
    const port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    const receiver = runCli(['receiver', '--insecure', '--no-window', '--stats', '--connect', `127.0.0.1:${port}`], { DISPLAY: '', QT_QPA_PLATFORM: '' });
    try {
      await waitFor('300 hostile sessions', () => (served >= 300 ? true : undefined), 120_000);
      good = true;
      for (const socket of sockets) socket.destroy();
      const before = Math.max(0, ...statsLines(receiver.stdout()).map((l) => l.frames));
      await waitFor('frames from the good sender', () => {
        const frames = Math.max(0, ...statsLines(receiver.stdout()).map((l) => l.frames));
        return frames >= before + 20 ? true : undefined;
      }, 20_000);
      assert.equal(receiver.child.exitCode, null, 'the receiver is still running');
      const rss = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${receiver.child.pid}/status`, 'utf8'))?.[1]) / 1024;
      assert.ok(rss < 400, `receiver RSS ${rss.toFixed(0)} MB`);
      assert.match(receiver.stderr(), /bad data from the sender \[CVCHAT_/);
    } finally {
      receiver.child.kill('SIGTERM');
      server.close();
      for (const socket of sockets) socket.destroy();
    }
    assert.equal(await exitWithin(receiver, 10_000), 0);
  });

  for (const mode of ['encrypted', 'plain'] as const) {
    it(`a live ${mode} sender survives ${mode === 'encrypted' ? 1000 : 500} hostile clients, then serves a good viewer`, async () => {
      const rng = prng(SEED + (mode === 'encrypted' ? 2 : 3));
      const port = await freePort();
      const security = mode === 'encrypted' ? ['--key', TEST_KEY] : ['--insecure'];
      const sender: CliRun = runCli(['sender', '--source', 'test', '--size', '160x120', '--host', '127.0.0.1', '--port', String(port), ...security], { DISPLAY: '', QT_QPA_PLATFORM: '' });
      try {
        await waitFor('the sender', () => (sender.stderr().includes('sending') ? true : undefined));
        // Hostile clients come from other loopback addresses, so slowing them down leaves 127.0.0.1 alone.
        const clientHelloStart = Buffer.from([0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00, 0xc4, 0x03, 0x03]);
        const hostile = (i: number) => new Promise<void>((resolve) => {
          const socket = net.connect({ host: '127.0.0.1', port, localAddress: `127.0.0.${2 + (i % 200)}` });
          socket.on('error', () => resolve());
          socket.on('close', () => resolve());
          socket.on('data', () => undefined);
          socket.once('connect', () => {
            const kind = rng.int(3);
            const blob = kind === 0 ? rng.bytes(1 + rng.int(2000)) : kind === 1 ? Buffer.concat([clientHelloStart, rng.bytes(rng.int(300))]) : hostileStream(rng, samples);
            socket.write(blob);
            setTimeout(() => socket.destroy(), 20 + rng.int(150));
          });
        });
        const total = mode === 'encrypted' ? 1000 : 500;
        for (let i = 0; i < total; i += 25) await Promise.all(Array.from({ length: 25 }, (_, j) => hostile(i + j)));
        await sleep(200);
        assert.equal(sender.child.exitCode, null, 'the sender is still running');
        const rss = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${sender.child.pid}/status`, 'utf8'))?.[1]) / 1024;
        assert.ok(rss < 400, `sender RSS ${rss.toFixed(0)} MB`);
        const viewer = new Receiver({ connect: { host: '127.0.0.1', port }, frames: 10, ...(mode === 'encrypted' ? { key: TEST_KEY } : { insecure: true }) });
        assert.equal(await viewer.run(), 'limit');
        if (mode === 'encrypted') {
          // A right-key client from an address that failed before is still judged on its key.
          const socket = await dial({ mode: 'tls', key: TEST_KEY }, { host: '127.0.0.1', port }, '127.0.0.250').catch((e: Error) => e);
          if (!(socket instanceof Error)) socket.destroy();
        }
      } finally {
        sender.child.kill('SIGTERM');
      }
      assert.equal(await exitWithin(sender, 10_000), 0);
    });
  }
});
