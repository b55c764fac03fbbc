// One side of a benchmark stream, in its own process so that CPU and memory are its own.
//   worker.js sender SCENE W H PORT FPS BACKEND [WARM] [ADAPT] [UNSENT]   prints {"ready":...}, then its figures on SIGTERM
//     (WARM: take the starting RSS after this many frames, for the memory run; default at join)
//     (ADAPT: on (the sender's default) or off: fixed quality, as before adaptive rate existed)
//     (UNSENT: unsent bytes the kernel may keep per viewer, TCP_NOTSENT_LOWAT; 0: the kernel's default; default cvchat's)
//     (WIRE: tls (default) or plain: --insecure, for a Python viewer that reads the plain wire)
//   worker.js receiver HOST PORT FRAMES BACKEND WINDOW(window|none) SECONDS [WARM]   prints its figures as JSON
//   worker.js codec SCENE W H QUALITY FRAMES   cvchat's own encode and decode, one call at a time, as JSON
//   worker.js viewer HOST PORT SECONDS SAMPLE_DIR SAMPLE_MS   records every frame it shows; prints
//     {"firstFrameAt":...} at the first, stops SECONDS later (or on SIGTERM) and prints the records as
//     JSON; a frame every SAMPLE_MS is saved to SAMPLE_DIR for ssim.py (0: none)
import fs from 'node:fs';
import path from 'node:path';

import type { BackendName, VideoBackend } from '../../lib/media/backend';
import { getBackend } from '../../lib/media/backends';
import { wallClock } from '../../lib/base/clock';
import { Display } from '../../lib/media/display';
import { Receiver } from '../../lib/session/receiver';
import { Sender } from '../../lib/session/sender';
import type { SendingStatus } from '../../lib/session/sinks';
import type { ShownFrame } from './adaptive';
import { decode, encode, openMemoryCapture } from '../../lib/media/video';

const KEY = 'cvchat-benchmark-key';

const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};
const rssMb = () => process.memoryUsage().rss / 1e6;

/** The scene file's raw BGR frames, as frames of `backend` that view the file's bytes. */
function sceneFrames(scene: string, width: number, height: number, backend: VideoBackend) {
  const bytes = fs.readFileSync(scene);
  const size = width * height * 3;
  const frames = [];
  for (let at = 0; at + size <= bytes.length; at += size) frames.push(backend.fromPixels(bytes.subarray(at, at + size), width, height, 3));
  return frames;
}

async function sender(scene: string, width: number, height: number, port: number, fps: number, backendName: BackendName, warmFrames: number, adapt: boolean, unsentLimitBytes: number | undefined, plain: boolean) {
  const backend = getBackend(backendName);
  const frames = sceneFrames(scene, width, height, backend);
  const capture = await openMemoryCapture(frames, { backend: backendName });
  const security = plain ? { insecure: true } : { key: KEY };
  const s = new Sender({ capture, host: '0.0.0.0', port, fps, ...security, backend: backendName, quality: 80, maxViewers: 1, adapt, unsentLimitBytes });
  await s.start();
  const running = s.run();
  process.stdout.write(`${JSON.stringify({ ready: true, port: s.port })}\n`);
  // What the sender believes about its viewer, every 100 ms.
  const viewerStates: Array<SendingStatus & { t: number }> = [];
  const sampleViewer = setInterval(() => {
    const state = s.viewerStates()[0];
    if (state) viewerStates.push({ t: wallClock(), ...state });
  }, 100);
  // CPU is counted from the moment a viewer joins: start-up is not per-frame work.
  let mark: { cpu: number; frames: number; rss: number } | undefined;
  let rssAtWarm: number | null = null;
  const poll = setInterval(() => {
    if (!mark && s.viewerCount > 0) mark = { cpu: cpuMs(), frames: s.stats?.frames ?? 0, rss: rssMb() };
    if (rssAtWarm === null && warmFrames > 0 && (s.stats?.frames ?? 0) >= warmFrames) rssAtWarm = rssMb();
  }, 20);
  process.once('SIGTERM', async () => {
    clearInterval(poll);
    clearInterval(sampleViewer);
    const frames = (s.stats?.frames ?? 0) - (mark?.frames ?? 0);
    const result = {
      cpuMsPerFrame: mark && frames > 0 ? (cpuMs() - mark.cpu) / frames : null, framesEncoded: s.stats?.frames ?? 0, dropped: s.dropped, rssMb: rssMb(), rssMbAtJoin: warmFrames > 0 ? rssAtWarm : mark?.rss ?? null,
      viewerStates,
    };
    await s.stop();
    await running;
    process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
  });
}

async function receiver(host: string, port: number, frames: number, backendName: BackendName, window: boolean, seconds: number, warmFrames: number) {
  const latencies: number[] = [];
  const times: number[] = [];
  const warmAt = warmFrames > 0 ? warmFrames : Math.max(1, Math.floor(frames / 10));
  let warm: { cpu: number; time: number; rss: number } | undefined;
  let bytes = 0;
  const display = window ? new Display(getBackend(backendName), { quit: () => undefined }) : undefined;
  const r = new Receiver({
    connect: { host, port }, key: KEY, frames, backend: backendName, display,
    onFrame: (d) => {
      const now = wallClock();
      if (d.latencyMs !== undefined) latencies.push(d.latencyMs);
      times.push(now - performance.timeOrigin);
      if (latencies.length === warmAt) warm = { cpu: cpuMs(), time: now, rss: rssMb() };
    },
  });
  // On a slow link the frame count may never be reached: stop after `seconds` as well.
  const timer = seconds > 0 ? setTimeout(() => r.stop(), seconds * 1000) : undefined;
  await r.run();
  clearTimeout(timer);
  display?.close();
  bytes = r.stats.bytes / Math.max(1, r.stats.frames);
  const end = wallClock();
  // Too few frames for the warm-up mark (a slow link): count them all from the start.
  const from = warm ?? { cpu: 0, time: performance.timeOrigin, rss: 0 };
  const after = Math.max(1, warm ? r.stats.frames - warmAt : r.stats.frames);
  const result = {
    frames: r.stats.frames, dropped: r.stats.dropped,
    fps: after / ((end - from.time) / 1000),
    cpuMsPerFrame: (cpuMs() - from.cpu) / after,
    bytesPerFrame: bytes, latencyMs: latencies, times,
    ttffMs: times[0], rssMb: rssMb(), rssMbAtWarm: warm?.rss ?? null,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
}

/** Saved frames for SSIM, at most: the JPEGs as received. */
const MAX_SAMPLES = 400;

/**
 * A receiver that records each frame it shows, for the adaptive-rate runs. Its clock starts at the
 * first frame, so that the benchmark can change the link's rate on a schedule from that moment.
 */
async function viewer(host: string, port: number, seconds: number, sampleDir: string, sampleMs: number) {
  const shown: ShownFrame[] = [];
  // SSIM is measured on what was received: the JPEG as it arrived (ssim.py scales it up as the window does).
  const samples: Array<{ name: string; bytes: Buffer }> = [];
  // Sampled by time, not by frame count, so that every second has its share whatever the frame rate.
  let nextSampleAt = 0;
  let firstFrameAt: number | undefined;
  let stopTimer: NodeJS.Timeout | undefined;
  let bytesSoFar = 0;
  const r = new Receiver({
    connect: { host, port }, key: KEY, backend: 'native',
    onFrame: (d) => {
      const t = wallClock();
      const point = d.meta?.point;
      // The Receiver counts each frame's bytes just before handing it over.
      const bytes = r.stats.bytes - bytesSoFar;
      bytesSoFar = r.stats.bytes;
      const seq = d.meta?.seq ?? null;
      shown.push({ t, latencyMs: d.latencyMs ?? null, bytes, width: point?.width ?? d.frame.width, height: point?.height ?? d.frame.height, seq, quality: point?.quality ?? null, estimateBps: point?.estimateBps ?? null });
      if (firstFrameAt === undefined) {
        firstFrameAt = t;
        process.stdout.write(`${JSON.stringify({ firstFrameAt })}\n`);
        stopTimer = setTimeout(() => r.stop(), seconds * 1000);
      }
      if (sampleMs <= 0 || seq === null || t < nextSampleAt) return;
      nextSampleAt = Math.max(nextSampleAt + sampleMs, t);
      // A copy: the payload may be a view of a larger chunk.
      if (samples.length < MAX_SAMPLES) samples.push({ name: `${seq}.jpg`, bytes: Buffer.from(d.payload) });
    },
  });
  process.once('SIGTERM', () => r.stop());
  await r.run();
  clearTimeout(stopTimer);
  for (const { name, bytes } of samples) fs.writeFileSync(path.join(sampleDir, name), bytes);
  const result = { firstFrameAt: firstFrameAt ?? null, dropped: r.stats.dropped, samples: samples.length, shown };
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
}

/** The codec as cvchat calls it (through the addon and the libuv pool), one frame in flight. */
async function codec(scene: string, width: number, height: number, quality: number, timed: number) {
  const frames = sceneFrames(scene, width, height, getBackend('native'));
  let encoded: Buffer[] = [];
  for (const frame of frames) encoded.push(await encode(frame, { quality })); // warm-up
  const passes = Math.max(1, Math.floor(timed / frames.length));
  let start = performance.now();
  for (let p = 0; p < passes; p++) {
    encoded = [];
    for (const frame of frames) encoded.push(await encode(frame, { quality }));
  }
  const encodeMs = (performance.now() - start) / (passes * frames.length);
  start = performance.now();
  for (let p = 0; p < passes; p++) for (const jpeg of encoded) (await decode(jpeg)).release();
  const decodeMs = (performance.now() - start) / (passes * frames.length);
  const bytesPerFrame = encoded.reduce((sum, e) => sum + e.length, 0) / encoded.length;
  process.stdout.write(`${JSON.stringify({ encodeMs, decodeMs, bytesPerFrame, limitFps: 1000 / Math.max(encodeMs, decodeMs) })}\n`);
}

const [role, ...args] = process.argv.slice(2);
if (role === 'codec') void codec(args[0], Number(args[1]), Number(args[2]), Number(args[3]), Number(args[4] ?? 120));
else if (role === 'sender') void sender(args[0], Number(args[1]), Number(args[2]), Number(args[3]), Number(args[4]), args[5] as BackendName, Number(args[6] ?? 0), args[7] !== 'off', args[8] === undefined || args[8] === '' ? undefined : Number(args[8]), args[9] === 'plain');
else if (role === 'viewer') void viewer(args[0], Number(args[1]), Number(args[2]), args[3], Number(args[4]));
else void receiver(args[0], Number(args[1]), Number(args[2]), args[3] as BackendName, args[4] === 'window', Number(args[5] ?? 0), Number(args[6] ?? 0));
