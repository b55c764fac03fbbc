// A codec run: the scene's frames encoded and then decoded, one call at a time through the addon,
// as a live sender and receiver would, with the time, CPU and bytes of each frame. Shared by the
// benchmark's codec section (worker.ts `videocodec`) and scripts/bench/codec-candidates.ts.
// Pictures are scored by ssim.py (the benchmark's one SSIM), from PNGs this writes.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { native, type NativeFrame, type VideoCodecName, type VideoCodecTuning } from '../../lib/media/addon';
import { encode, frameFromPixels } from '../../lib/media/video';

/** The encoders' frame rate: their rate control spreads bitrate / CODEC_FPS bytes over each frame. */
export const CODEC_FPS = 30;
export const JPEG_QUALITY = 80;
const MAX_PIXELS = 8192 * 8192;
const python = '/usr/bin/python3';

export interface Candidate {
  name: string;
  settings: string;
  codec: 'jpeg' | VideoCodecName;
  /** Video codecs: bits per second. */
  bitrate?: number;
  tuning?: VideoCodecTuning;
}

export interface CodecRun {
  encodeMs: number[];
  /** CPU of the whole process during the encode (an encoder's own threads included). */
  encodeCpuMs: number[];
  decodeMs: number[];
  decodeCpuMs: number[];
  bytes: number[];
  psnr: number[];
  /** Frames in before the first bytes out (the encoder's delay). */
  delay: number;
  /** PNGs written for ssim.py. */
  saved: number;
}

/** A scene file's raw BGR frames (scene.py), as views of its bytes. */
export function readScene(file: string, width: number, height: number): Buffer[] {
  const raw = fs.readFileSync(file);
  const size = width * height * 3;
  const frames: Buffer[] = [];
  for (let at = 0; at + size <= raw.length; at += size) frames.push(raw.subarray(at, at + size));
  return frames;
}

function psnr(a: Buffer, b: Buffer): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] - b[i]) ** 2;
  const mse = sum / a.length;
  return mse === 0 ? 99 : 10 * Math.log10((255 * 255) / mse);
}

const cpuMs = (since: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
};

/**
 * `frames` frames of the scene, played in a loop from its first, each encoded then decoded. Every
 * `save.every`th decoded picture (and only those: PNG costs more than decoding) is written to
 * `save.dir` as INDEX.png, after its timings are taken; INDEX modulo the scene's length is the scene
 * frame it was made from, as ssim.py expects.
 */
export async function runCodec(candidate: Candidate, scene: Buffer[], width: number, height: number, frames: number, save?: { dir: string; every: number }): Promise<CodecRun> {
  const addon = native();
  const run: CodecRun = { encodeMs: [], encodeCpuMs: [], decodeMs: [], decodeCpuMs: [], bytes: [], psnr: [], delay: 0, saved: 0 };
  const encoder = candidate.codec === 'jpeg' ? null : new addon.VideoEncoder(candidate.codec, width, height, CODEC_FPS, candidate.tuning);
  const decoder = candidate.codec === 'jpeg' ? null : new addon.VideoDecoder(candidate.codec);
  let firstOut = -1;
  try {
    for (let i = 0; i < frames; i++) {
      const pixels = scene[i % scene.length];
      const frame = frameFromPixels(pixels, width, height) as unknown as NativeFrame;
      let cpu = process.cpuUsage();
      const t0 = performance.now();
      const data = encoder ? (await encoder.encode(frame, candidate.bitrate!, false)).data : await addon.encode(frame, 'jpeg', JPEG_QUALITY);
      const t1 = performance.now();
      run.encodeCpuMs.push(cpuMs(cpu));
      if (data.length > 0 && firstOut < 0) firstOut = i;
      cpu = process.cpuUsage();
      let shown: NativeFrame;
      if (decoder) {
        const result = await decoder.decode(data, MAX_PIXELS);
        if (result.status !== 'ok' || !result.frame) throw new Error(`${candidate.name} ${candidate.bitrate ?? ''}: frame ${i} did not decode (${result.status} ${result.reason ?? ''})`);
        shown = result.frame;
      } else {
        shown = await addon.decode(data, MAX_PIXELS, 3);
      }
      const t2 = performance.now();
      run.decodeCpuMs.push(cpuMs(cpu));
      run.encodeMs.push(t1 - t0);
      run.decodeMs.push(t2 - t1);
      run.bytes.push(data.length);
      run.psnr.push(psnr(pixels, shown.toBuffer()));
      if (save && i % save.every === save.every - 1) {
        // PNG level 1: lossless, and the fastest that is still compressed.
        fs.writeFileSync(path.join(save.dir, `${i}.png`), await encode(shown, { format: 'png', quality: 1 }));
        run.saved++;
      }
      frame.release();
      shown.release();
    }
  } finally {
    encoder?.close();
    decoder?.close();
  }
  run.delay = firstOut;
  return run;
}

/** SSIM (ssim.py) of each picture saved in `dir` against the scene, by the index in its name. */
export function scoreSsim(sceneFile: string, width: number, height: number, dir: string): Map<number, number> {
  const out = execFileSync(python, [path.join(__dirname, '..', '..', '..', 'scripts', 'bench', 'ssim.py'), sceneFile, String(width), String(height), dir]).toString();
  const scored = JSON.parse(out.trim().split('\n').pop() as string) as { ssim: Record<string, number | null> };
  return new Map(Object.entries(scored.ssim).flatMap(([seq, value]) => (value === null ? [] : [[Number(seq), value] as [number, number]])));
}

export const mean = (v: number[]) => (v.length === 0 ? NaN : v.reduce((a, b) => a + b, 0) / v.length);
export const p95 = (v: number[]) => [...v].sort((a, b) => a - b)[Math.min(v.length - 1, Math.floor(v.length * 0.95))];
