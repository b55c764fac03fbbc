// Which codec, and which settings, for live video: JPEG q80 against H.264 and VP8 at 1, 2 and
// 4 Mbit/s (30 fps), and the H.264 and VP8 settings native/video_codec.cc chose against their
// neighbours. Each frame is encoded and then decoded, one call at a time, as a live sender and
// receiver would. Prints a markdown table.
//
// Usage: node dist/scripts/bench/codec-candidates.js [--frames N] [--width W --height H] [--step PIXELS]
// The scene is scene.py's slow pan across photographs with camera-like noise, STEP pixels a frame
// for N frames and back (python3-skimage; npm run bench's setup installs it); without it, the
// built-in test source.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { native, type NativeFrame } from '../../lib/media/addon';
import { openCapture } from '../../lib/media/video';
import { CODEC_FPS as FPS, mean, p95, readScene, runCodec, scoreSsim, type Candidate, type CodecRun } from './codec-runs';

const root = path.resolve(__dirname, '..', '..', '..');
const python = '/usr/bin/python3';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const frameCount = option('frames', 60);
/** Pixels a frame for scene.py's slow pan (played forward and back); 0: its whole-panorama pass. */
const panStep = option('step', 4);
const width = option('width', 1280);
const height = option('height', 720);

interface Scene {
  name: string;
  /** Raw BGR frames, for ssim.py. */
  file: string;
  pixels: Buffer[];
}

async function loadScene(): Promise<Scene> {
  const file = path.join(os.tmpdir(), `cvchat-codec-scene-${width}x${height}-${frameCount}-${panStep}.raw`);
  try {
    if (!fs.existsSync(file)) {
      execFileSync(python, [path.join(root, 'scripts', 'bench', 'scene.py'), String(width), String(height), String(frameCount), file, ...(panStep > 0 ? [String(panStep)] : [])], { stdio: 'pipe' });
    }
    return { name: `scene.py (photographs panning ${panStep} pixels a frame and back, noise sigma 3)`, file, pixels: readScene(file, width, height) };
  } catch {
    const capture = await openCapture({ source: 'test', width, height });
    const pixels: Buffer[] = [];
    for (let i = 0; i < frameCount; i++) pixels.push((await capture.read() as unknown as NativeFrame).toBuffer());
    await capture.release();
    const testFile = path.join(os.tmpdir(), `cvchat-codec-test-${width}x${height}-${frameCount}.raw`);
    fs.writeFileSync(testFile, Buffer.concat(pixels));
    return { name: 'the built-in test source (scene.py needs python3-skimage)', file: testFile, pixels };
  }
}

interface Row {
  candidate: Candidate;
  run: CodecRun;
  ssim: number[];
}

const SSIM_EVERY = 15;

async function measure(candidate: Candidate, scene: Scene): Promise<Row> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cvchat-codec-candidate-'));
  try {
    const run = await runCodec(candidate, scene.pixels, width, height, scene.pixels.length, { dir, every: SSIM_EVERY });
    return { candidate, run, ssim: [...scoreSsim(scene.file, width, height, dir).values()] };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function table(rows: Row[]): string {
  const head = ['codec', 'settings', 'target', 'encode ms mean', 'encode ms p95', 'encode CPU ms', 'decode ms', 'bytes/frame', 'keyframe bytes', 'max P bytes', 'Mbit/s at 30 fps', 'PSNR dB', 'SSIM', 'delay (frames)'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const { candidate: c, run: r, ssim } of rows) {
    const later = r.bytes.slice(1);
    lines.push(
      `| ${c.name} | ${c.settings} | ${c.bitrate ? `${c.bitrate / 1e6} Mbit/s` : 'q80'} | ${mean(r.encodeMs).toFixed(1)} | ${p95(r.encodeMs).toFixed(1)} | ` +
        `${mean(r.encodeCpuMs).toFixed(1)} | ${mean(r.decodeMs).toFixed(1)} | ${mean(r.bytes).toFixed(0)} | ${r.bytes[0]} | ${Math.max(...later)} | ` +
        `${((mean(r.bytes) * 8 * FPS) / 1e6).toFixed(2)} | ${mean(r.psnr).toFixed(2)} | ${mean(ssim).toFixed(4)} | ${r.delay} |`,
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
    ...[1e6, 2e6, 4e6, 8e6].map((bitrate): Candidate => ({ name: 'H.264', settings: h264, codec: 'h264', bitrate })),
    ...[1e6, 2e6, 4e6].map((bitrate): Candidate => ({ name: 'VP8', settings: vp8, codec: 'vp8', bitrate })),
    // The neighbours of the chosen settings, at 2 Mbit/s.
    { name: 'H.264', settings: 'superfast, high, 1 thread', codec: 'h264', bitrate: 2e6, tuning: { threads: 1 } },
    { name: 'H.264', settings: `${h264}, tune ssim`, codec: 'h264', bitrate: 2e6, tuning: { tune: 'ssim,zerolatency' } },
    { name: 'H.264', settings: `${h264}, 0.25 s buffer`, codec: 'h264', bitrate: 2e6, tuning: { bufferSeconds: 0.25 } },
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
    rows.push(await measure(candidate, scene));
  }
  console.log(`${width}x${height}, ${frameCount} frames of ${scene.name}, ${os.cpus().length} cores; each frame encoded then decoded, one call at a time.\n`);
  console.log(table(rows));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
