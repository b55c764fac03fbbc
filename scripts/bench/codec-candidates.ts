// Which codec, and which settings, for live video: JPEG q80 against H.264 and VP8 at 1, 2 and
// 4 Mbit/s (30 fps), and the H.264 and VP8 settings native/video_codec.cc chose against their
// neighbours. Each frame is encoded and then decoded, one call at a time, as a live sender and
// receiver would. Prints a markdown table.
//
// Usage: node dist/scripts/bench/codec-candidates.js [--frames N] [--width W --height H]
// The scene is scene.py's pan across photographs with camera-like noise (python3-skimage; npm run
// bench's setup installs it); without it, the built-in test source.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { native, type NativeFrame, type VideoCodecName, type VideoCodecTuning } from '../../lib/media/addon';
import { frameFromPixels, openCapture } from '../../lib/media/video';

const root = path.resolve(__dirname, '..', '..', '..');
const python = '/usr/bin/python3';
const FPS = 30;
const MAX_PIXELS = 8192 * 8192;

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const frameCount = option('frames', 90);
const width = option('width', 1280);
const height = option('height', 720);

interface Scene {
  name: string;
  pixels: Buffer[];
}

async function loadScene(): Promise<Scene> {
  const file = path.join(os.tmpdir(), `cvchat-codec-scene-${width}x${height}-${frameCount}.raw`);
  try {
    if (!fs.existsSync(file)) {
      execFileSync(python, [path.join(root, 'scripts', 'bench', 'scene.py'), String(width), String(height), String(frameCount), file], { stdio: 'pipe' });
    }
    const raw = fs.readFileSync(file);
    const size = width * height * 3;
    return { name: 'scene.py (photographs panning, noise sigma 3)', pixels: Array.from({ length: frameCount }, (_, i) => raw.subarray(i * size, (i + 1) * size)) };
  } catch {
    const capture = await openCapture({ source: 'test', width, height });
    const pixels: Buffer[] = [];
    for (let i = 0; i < frameCount; i++) pixels.push((await capture.read() as unknown as NativeFrame).toBuffer());
    await capture.release();
    return { name: 'the built-in test source (scene.py needs python3-skimage)', pixels };
  }
}

function psnr(a: Buffer, b: Buffer): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] - b[i]) ** 2;
  const mse = sum / a.length;
  return mse === 0 ? 99 : 10 * Math.log10((255 * 255) / mse);
}

// SSIM as scripts/bench/ssim.py measures it (Wang et al. 2004): on luma (BT.601), an 11x11
// Gaussian window of sigma 1.5 with replicated borders, the mean over the window's valid region.
const KERNEL = (() => {
  const k = Array.from({ length: 11 }, (_, i) => Math.exp(-((i - 5) ** 2) / (2 * 1.5 * 1.5)));
  const sum = k.reduce((a, b) => a + b, 0);
  return k.map((v) => v / sum);
})();

function luma(bgr: Buffer): Float32Array {
  const out = new Float32Array(width * height);
  for (let i = 0, j = 0; i < out.length; i++, j += 3) out[i] = 0.114 * bgr[j] + 0.587 * bgr[j + 1] + 0.299 * bgr[j + 2];
  return out;
}

function blur(image: Float32Array): Float32Array {
  const tmp = new Float32Array(image.length);
  const out = new Float32Array(image.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let s = 0;
      for (let k = 0; k < 11; k++) s += KERNEL[k] * image[y * width + Math.min(width - 1, Math.max(0, x + k - 5))];
      tmp[y * width + x] = s;
    }
  }
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let s = 0;
      for (let k = 0; k < 11; k++) s += KERNEL[k] * tmp[Math.min(height - 1, Math.max(0, y + k - 5)) * width + x];
      out[y * width + x] = s;
    }
  }
  return out;
}

function ssim(aBgr: Buffer, bBgr: Buffer): number {
  const a = luma(aBgr);
  const b = luma(bBgr);
  const product = (p: Float32Array, q: Float32Array) => p.map((v, i) => v * q[i]);
  const [muA, muB, aa, bb, ab] = [a, b, product(a, a), product(b, b), product(a, b)].map(blur);
  const c1 = (0.01 * 255) ** 2;
  const c2 = (0.03 * 255) ** 2;
  let sum = 0;
  let n = 0;
  for (let y = 5; y < height - 5; y++) {
    for (let x = 5; x < width - 5; x++) {
      const i = y * width + x;
      const varA = aa[i] - muA[i] * muA[i];
      const varB = bb[i] - muB[i] * muB[i];
      const cov = ab[i] - muA[i] * muB[i];
      sum += ((2 * muA[i] * muB[i] + c1) * (2 * cov + c2)) / ((muA[i] ** 2 + muB[i] ** 2 + c1) * (varA + varB + c2));
      n++;
    }
  }
  return sum / n;
}

interface Candidate {
  name: string;
  settings: string;
  codec: 'jpeg' | VideoCodecName;
  bitrate?: number;
  tuning?: VideoCodecTuning;
}

interface Row {
  candidate: Candidate;
  encodeMs: number[];
  encodeCpuMs: number[];
  decodeMs: number[];
  bytes: number[];
  psnr: number[];
  ssim: number[];
  delay: number;
}

const SSIM_EVERY = 15;

async function run(candidate: Candidate, scene: Scene): Promise<Row> {
  const addon = native();
  const row: Row = { candidate, encodeMs: [], encodeCpuMs: [], decodeMs: [], bytes: [], psnr: [], ssim: [], delay: 0 };
  const encoder = candidate.codec === 'jpeg' ? null : new addon.VideoEncoder(candidate.codec, width, height, FPS, candidate.tuning);
  const decoder = candidate.codec === 'jpeg' ? null : new addon.VideoDecoder(candidate.codec);
  let firstOut = -1;
  for (const [i, pixels] of scene.pixels.entries()) {
    const frame = frameFromPixels(pixels, width, height) as unknown as NativeFrame;
    const cpu = process.cpuUsage();
    const t0 = performance.now();
    const data = encoder ? (await encoder.encode(frame, candidate.bitrate!, false)).data : await addon.encode(frame, 'jpeg', 80);
    const t1 = performance.now();
    const used = process.cpuUsage(cpu);
    if (data.length > 0 && firstOut < 0) firstOut = i;
    let shown: NativeFrame;
    if (decoder) {
      const result = await decoder.decode(data, MAX_PIXELS);
      if (result.status !== 'ok' || !result.frame) throw new Error(`${candidate.name}: frame ${i} did not decode (${result.status} ${result.reason ?? ''})`);
      shown = result.frame;
    } else {
      shown = await addon.decode(data, MAX_PIXELS, 3);
    }
    const t2 = performance.now();
    row.encodeMs.push(t1 - t0);
    row.encodeCpuMs.push((used.user + used.system) / 1000);
    row.decodeMs.push(t2 - t1);
    row.bytes.push(data.length);
    const back = shown.toBuffer();
    row.psnr.push(psnr(pixels, back));
    if (i % SSIM_EVERY === SSIM_EVERY - 1) row.ssim.push(ssim(pixels, back));
    frame.release();
    shown.release();
  }
  row.delay = firstOut;
  encoder?.close();
  decoder?.close();
  return row;
}

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
const p95 = (v: number[]) => [...v].sort((a, b) => a - b)[Math.min(v.length - 1, Math.floor(v.length * 0.95))];

function table(rows: Row[]): string {
  const head = ['codec', 'settings', 'target', 'encode ms mean', 'encode ms p95', 'encode CPU ms', 'decode ms', 'bytes/frame', 'keyframe bytes', 'max P bytes', 'Mbit/s at 30 fps', 'PSNR dB', 'SSIM', 'delay (frames)'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) {
    const c = r.candidate;
    const later = r.bytes.slice(1);
    lines.push(
      `| ${c.name} | ${c.settings} | ${c.bitrate ? `${c.bitrate / 1e6} Mbit/s` : 'q80'} | ${mean(r.encodeMs).toFixed(1)} | ${p95(r.encodeMs).toFixed(1)} | ` +
        `${mean(r.encodeCpuMs).toFixed(1)} | ${mean(r.decodeMs).toFixed(1)} | ${mean(r.bytes).toFixed(0)} | ${r.bytes[0]} | ${Math.max(...later)} | ` +
        `${((mean(r.bytes) * 8 * FPS) / 1e6).toFixed(2)} | ${mean(r.psnr).toFixed(2)} | ${mean(r.ssim).toFixed(4)} | ${r.delay} |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const scene = await loadScene();
  const h264 = 'superfast, high, 2 threads';
  const vp8 = 'cpu-used 12, 1 thread';
  const candidates: Candidate[] = [
    { name: 'JPEG', settings: 'libjpeg-turbo q80', codec: 'jpeg' },
    ...[1e6, 2e6, 4e6].map((bitrate): Candidate => ({ name: 'H.264', settings: h264, codec: 'h264', bitrate })),
    ...[1e6, 2e6, 4e6].map((bitrate): Candidate => ({ name: 'VP8', settings: vp8, codec: 'vp8', bitrate })),
    // The neighbours of the chosen settings, at 2 Mbit/s.
    { name: 'H.264', settings: 'superfast, high, 1 thread', codec: 'h264', bitrate: 2e6, tuning: { threads: 1 } },
    { name: 'H.264', settings: 'veryfast, high, 2 threads', codec: 'h264', bitrate: 2e6, tuning: { preset: 'veryfast' } },
    { name: 'H.264', settings: 'superfast, baseline, 2 threads', codec: 'h264', bitrate: 2e6, tuning: { profile: 'baseline' } },
    { name: 'H.264', settings: 'ultrafast, baseline, 2 threads', codec: 'h264', bitrate: 2e6, tuning: { preset: 'ultrafast', profile: 'baseline' } },
    { name: 'VP8', settings: 'cpu-used 12, 2 threads', codec: 'vp8', bitrate: 2e6, tuning: { threads: 2 } },
    { name: 'VP8', settings: 'cpu-used 4, 1 thread', codec: 'vp8', bitrate: 2e6, tuning: { cpuUsed: 4 } },
    { name: 'VP8', settings: 'cpu-used 6, 1 thread', codec: 'vp8', bitrate: 2e6, tuning: { cpuUsed: 6 } },
    { name: 'VP8', settings: 'cpu-used 8, 1 thread', codec: 'vp8', bitrate: 2e6, tuning: { cpuUsed: 8 } },
    { name: 'VP8', settings: 'cpu-used 16, 1 thread', codec: 'vp8', bitrate: 2e6, tuning: { cpuUsed: 16 } },
  ];
  const available = new Set<string>(['jpeg', ...native().videoCodecs()]);
  const rows: Row[] = [];
  for (const candidate of candidates) {
    if (!available.has(candidate.codec)) continue;
    process.stderr.write(`${candidate.name} ${candidate.settings} ${candidate.bitrate ?? ''}\n`);
    rows.push(await run(candidate, scene));
  }
  console.log(`${width}x${height}, ${frameCount} frames of ${scene.name}, ${os.cpus().length} cores; each frame encoded then decoded, one call at a time.\n`);
  console.log(table(rows));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
