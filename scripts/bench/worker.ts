// One side of a benchmark stream, in its own process so that CPU and memory are its own.
//   worker.js sender SCENE W H PORT FPS BACKEND [WARM] [ADAPT] [UNSENT] [WIRE] [CODEC] [VIEWERS] [PASSTHROUGH]   prints {"ready":...}, then its figures on SIGTERM
//     (WARM: take the starting RSS after this many frames, for the memory run; default at join)
//     (ADAPT: on (the sender's default) or off: fixed quality, as before adaptive rate existed)
//     (UNSENT: unsent bytes the kernel may keep per viewer, TCP_NOTSENT_LOWAT; 0: the kernel's default; default cvchat's)
//     (WIRE: tls (default) or plain: --insecure, for a Python viewer that reads the plain wire)
//     (CODEC: auto, jpeg, h264 or vp8, as --codec; default auto. The benchmark says jpeg for its JPEG figures)
//     (VIEWERS: so many may join, and CPU is counted while they all are; default: one, CPU counted from its join to SIGTERM)
//     (SCENE source:X: --source X instead of the scene in memory, a file looped; PASSTHROUGH off: --no-passthrough)
//   worker.js receiver HOST PORT FRAMES BACKEND WINDOW(window|none) SECONDS [WARM] [CODEC]   prints its figures as JSON
//   worker.js codec SCENE W H QUALITY FRAMES   cvchat's own encode and decode, one call at a time, as JSON
//   worker.js videocodec SCENE W H FRAMES CODEC BITRATE SAMPLE_DIR SAMPLE_EVERY   one codec-runs.ts run
//     (CODEC jpeg: quality 80, BITRATE ignored), its means as JSON; every SAMPLE_EVERYth picture saved as PNG
//   worker.js viewer HOST PORT SECONDS SAMPLE_DIR SAMPLE_MS [CODEC]   records every frame it shows; prints
//     {"firstFrameAt":...} at the first, stops SECONDS later (or on SIGTERM) and prints the records as
//     JSON; a frame every SAMPLE_MS is saved to SAMPLE_DIR for ssim.py (0: none)
import fs from 'node:fs';
import path from 'node:path';

import type { CodecChoice } from '../../lib/base/codecs';
import type { BackendName, VideoBackend } from '../../lib/media/backend';
import { getBackend } from '../../lib/media/backends';
import { wallClock } from '../../lib/base/clock';
import { Display } from '../../lib/media/display';
import { Receiver } from '../../lib/session/receiver';
import { Sender } from '../../lib/session/sender';
import type { SendingStatus } from '../../lib/session/sinks';
import type { ShownFrame } from './adaptive';
import { decode, encode, openMemoryCapture } from '../../lib/media/video';
import { mean, readScene, runCodec } from './codec-runs';

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

async function sender(scene: string, width: number, height: number, port: number, fps: number, backendName: BackendName, warmFrames: number, adapt: boolean, unsentLimitBytes: number | undefined, plain: boolean, codec: CodecChoice, viewers: number | undefined, passthrough: boolean) {
  // "source:X": --source X (a file, played in a loop, or a GStreamer pipeline), as a user gives it.
  const given = scene.startsWith('source:') ? scene.slice('source:'.length) : null;
  const input = given
    ? { source: given, loop: true, passthrough }
    : { capture: await openMemoryCapture(sceneFrames(scene, width, height, getBackend(backendName)), { backend: backendName }) };
  const security = plain ? { insecure: true } : { key: KEY };
  const s = new Sender({ ...input, host: '0.0.0.0', port, fps, ...security, backend: backendName, quality: 80, maxViewers: viewers ?? 1, adapt, unsentLimitBytes, codec });
  await s.start();
  const running = s.run();
  process.stdout.write(`${JSON.stringify({ ready: true, port: s.port })}\n`);
  // What the sender believes about its viewer, every 100 ms.
  const viewerStates: Array<SendingStatus & { t: number }> = [];
  const sampleViewer = setInterval(() => {
    const state = s.viewerStates()[0];
    if (state) viewerStates.push({ t: wallClock(), ...state });
  }, 100);
  // CPU is counted from the moment a viewer joins (start-up is not per-frame work); with VIEWERS,
  // from when that many have joined until the first of them leaves.
  let mark: { cpu: number; frames: number; rss: number } | undefined;
  let end: { cpu: number; frames: number } | undefined;
  let rssAtWarm: number | null = null;
  const poll = setInterval(() => {
    if (!mark && s.viewerCount >= (viewers ?? 1)) mark = { cpu: cpuMs(), frames: s.stats?.frames ?? 0, rss: rssMb() };
    if (mark && !end && viewers !== undefined && s.viewerCount < viewers) end = { cpu: cpuMs(), frames: s.stats?.frames ?? 0 };
    if (rssAtWarm === null && warmFrames > 0 && (s.stats?.frames ?? 0) >= warmFrames) rssAtWarm = rssMb();
  }, 20);
  process.once('SIGTERM', async () => {
    clearInterval(poll);
    clearInterval(sampleViewer);
    end ??= { cpu: cpuMs(), frames: s.stats?.frames ?? 0 };
    const frames = end.frames - (mark?.frames ?? 0);
    const result = {
      cpuMsPerFrame: mark && frames > 0 ? (end.cpu - mark.cpu) / frames : null, framesEncoded: s.stats?.frames ?? 0, dropped: s.dropped, rssMb: rssMb(), rssMbAtJoin: warmFrames > 0 ? rssAtWarm : mark?.rss ?? null,
      viewerStates, ...s.sourceStatus(),
    };
    await s.stop();
    await running;
    process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
  });
}

async function receiver(host: string, port: number, frames: number, backendName: BackendName, window: boolean, seconds: number, warmFrames: number, codec: CodecChoice) {
  const latencies: number[] = [];
  const times: number[] = [];
  const warmAt = warmFrames > 0 ? warmFrames : Math.max(1, Math.floor(frames / 10));
  let warm: { cpu: number; time: number; rss: number } | undefined;
  let bytes = 0;
  const display = window ? new Display(getBackend(backendName), { quit: () => undefined }) : undefined;
  const r = new Receiver({
    connect: { host, port }, key: KEY, frames, backend: backendName, display, codec,
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

/** Saved frames for SSIM, at most: the JPEGs as received, or a video codec's decoded pictures. */
const MAX_SAMPLES = 400;

/**
 * A receiver that records each frame it shows, for the adaptive-rate runs. Its clock starts at the
 * first frame, so that the benchmark can change the link's rate on a schedule from that moment.
 */
async function viewer(host: string, port: number, seconds: number, sampleDir: string, sampleMs: number, codec: CodecChoice) {
  const shown: ShownFrame[] = [];
  // SSIM is measured on what was received: the JPEG as it arrived (ssim.py scales it up as the
  // window does), or a video frame's decoded picture, as a PNG made on the pool while the run goes
  // on (a video frame has no picture of its own without its predecessors).
  const samples: Array<{ name: string; bytes: Buffer }> = [];
  const pictures: Array<Promise<void>> = [];
  const backend = getBackend('native');
  // Sampled by time, not by frame count, so that every second has its share whatever the frame rate.
  let nextSampleAt = 0;
  let firstFrameAt: number | undefined;
  let stopTimer: NodeJS.Timeout | undefined;
  let bytesSoFar = 0;
  const r = new Receiver({
    connect: { host, port }, key: KEY, backend: 'native', codec,
    onFrame: (d) => {
      const t = wallClock();
      const point = d.meta?.point;
      // The Receiver counts each frame's bytes just before handing it over.
      const bytes = r.stats.bytes - bytesSoFar;
      bytesSoFar = r.stats.bytes;
      const seq = d.meta?.seq ?? null;
      shown.push({
        t, latencyMs: d.latencyMs ?? null, bytes, width: point?.width ?? d.frame.width, height: point?.height ?? d.frame.height, seq,
        quality: point?.quality ?? null, estimateBps: point?.estimateBps ?? null, codec: point?.codec ?? null, bitrateBps: point?.bitrateBps ?? null,
      });
      if (firstFrameAt === undefined) {
        firstFrameAt = t;
        process.stdout.write(`${JSON.stringify({ firstFrameAt })}\n`);
        stopTimer = setTimeout(() => r.stop(), seconds * 1000);
      }
      if (sampleMs <= 0 || seq === null || t < nextSampleAt) return;
      nextSampleAt = Math.max(nextSampleAt + sampleMs, t);
      if (samples.length + pictures.length >= MAX_SAMPLES) return;
      if (point?.codec) {
        // The Receiver releases its frame after this call: the PNG is made from a second handle.
        const picture = backend.share(d.frame);
        pictures.push(encode(picture, { format: 'png', quality: 1 })
          .then((png) => fs.promises.writeFile(path.join(sampleDir, `${seq}.png`), png))
          .finally(() => picture.release()));
      } else {
        // A copy: the payload may be a view of a larger chunk.
        samples.push({ name: `${seq}.jpg`, bytes: Buffer.from(d.payload) });
      }
    },
  });
  process.once('SIGTERM', () => r.stop());
  await r.run();
  clearTimeout(stopTimer);
  for (const { name, bytes } of samples) fs.writeFileSync(path.join(sampleDir, name), bytes);
  await Promise.all(pictures);
  const result = { firstFrameAt: firstFrameAt ?? null, dropped: r.stats.dropped, samples: samples.length + pictures.length, shown };
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

/**
 * One codec at one bitrate (or JPEG q80) on the scene, frame by frame in a fresh process, as
 * codec-runs.ts measures it: the means as JSON, and every `every`th picture in `sampleDir` for ssim.py.
 */
async function videoCodec(scene: string, width: number, height: number, frames: number, codecName: 'jpeg' | 'h264' | 'vp8', bitrate: number, sampleDir: string, every: number) {
  const pixels = readScene(scene, width, height);
  const candidate = { name: codecName, settings: "cvchat's", codec: codecName, ...(codecName === 'jpeg' ? {} : { bitrate }) };
  const run = await runCodec(candidate, pixels, width, height, frames, { dir: sampleDir, every });
  process.stdout.write(`${JSON.stringify({
    encodeMs: mean(run.encodeMs), encodeCpuMs: mean(run.encodeCpuMs), decodeMs: mean(run.decodeMs), decodeCpuMs: mean(run.decodeCpuMs),
    bytesPerFrame: mean(run.bytes), keyframeBytes: run.bytes[0], psnr: mean(run.psnr), delayFrames: run.delay, frames: run.bytes.length, saved: run.saved,
  })}\n`);
}

/** An argument that may be left empty ('') to take its default. */
const optional = (arg: string | undefined) => (arg === undefined || arg === '' ? undefined : arg);

const [role, ...args] = process.argv.slice(2);
if (role === 'codec') void codec(args[0], Number(args[1]), Number(args[2]), Number(args[3]), Number(args[4] ?? 120));
else if (role === 'videocodec') void videoCodec(args[0], Number(args[1]), Number(args[2]), Number(args[3]), args[4] as 'jpeg' | 'h264' | 'vp8', Number(args[5]), args[6], Number(args[7]));
else if (role === 'sender') {
  const unsent = optional(args[8]);
  const viewers = optional(args[11]);
  void sender(args[0], Number(args[1]), Number(args[2]), Number(args[3]), Number(args[4]), args[5] as BackendName, Number(args[6] ?? 0), args[7] !== 'off', unsent === undefined ? undefined : Number(unsent),
    args[9] === 'plain', (optional(args[10]) ?? 'auto') as CodecChoice, viewers === undefined ? undefined : Number(viewers), args[12] !== 'off');
} else if (role === 'viewer') void viewer(args[0], Number(args[1]), Number(args[2]), args[3], Number(args[4]), (optional(args[5]) ?? 'auto') as CodecChoice);
else void receiver(args[0], Number(args[1]), Number(args[2]), args[3] as BackendName, args[4] === 'window', Number(args[5] ?? 0), Number(args[6] ?? 0), (optional(args[7]) ?? 'auto') as CodecChoice);
