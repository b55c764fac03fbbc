// The web page's row of the benchmark: a browser viewer (headless Chromium, through playwright-core)
// and a native receiver watch one sender at once, side by side, 720p at 30 fps on loopback, H.264 and
// JPEG. The page reports each frame's latency as now minus its capture time (one machine, one clock);
// the native receiver's --stats line reports the same.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { chromium } from 'playwright-core';

const root = path.resolve(__dirname, '..', '..', '..');
const cli = path.join(root, 'dist', 'lib', 'cli', 'main.js');
const KEY = 'cvchat-bench-web-key';
/** The runs' self-signed certificate: made once per benchmark, in a folder of its own. */
const configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cvchat-bench-web-'));
process.once('exit', () => fs.rmSync(configDir, { recursive: true, force: true }));

export interface WebRun {
  codec: string;
  seconds: number;
  /** Over the same seconds: fps, the median latency and the worst one-second median. */
  browser: { fps: number; latencyP50: number | null; latencyWorst: number | null; codec: string | null };
  native: { fps: number | null; latencyP50: number | null; latencyWorst: number | null };
}

function start(args: string[]): { child: ChildProcess; stdout: () => string; stderr: () => string } {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CVCHAT_KEY: KEY, CVCHAT_CONFIG_DIR: configDir } });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  return { child, stdout: () => out, stderr: () => err };
}

async function until<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`web bench: no ${what} in ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.floor(sorted.length / 2)] : null;
};

/** One sender, one browser page and one native receiver for `seconds`, with `codec` (auto: H.264). */
export async function runWebViewer(codec: 'auto' | 'jpeg', seconds: number): Promise<WebRun> {
  const sender = start(['sender', '--host', '127.0.0.1', '--port', '0', '--web', '0', '--no-window', '--source', 'test', '--size', '1280x720', '--fps', '30', '--codec', codec]);
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium' });
  let receiver: ReturnType<typeof start> | undefined;
  try {
    const url = await until('page address', () => /open (?:one of )?(https:\/\/127\.0\.0\.1:\d+\/#\S+)/.exec(sender.stderr())?.[1]);
    const port = await until('sender port', () => /on 127\.0\.0\.1:(\d+)/.exec(sender.stderr())?.[1]);
    receiver = start(['receiver', '--connect', `127.0.0.1:${port}`, '--no-window', '--stats', '--codec', codec]);
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    await page.goto(url);
    type State = { framesDrawn: number; latencyMs: number | null; codec: string | null; state: string; message: string };
    const state = () => page.evaluate('JSON.parse(JSON.stringify(window.cvchat))') as Promise<State>;
    await until('frames in the browser', async () => ((await state()).framesDrawn > 30 ? true : undefined));
    type StatsLine = { fps: number; latencyMs: { p50: number | null; p99: number | null }; final?: boolean };
    const statsLines = () => receiver!.stdout().split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as StatsLine);
    const first = await state();
    const nativeBefore = statsLines().length;
    const startedAt = performance.now();
    const latencies: number[] = [];
    while (performance.now() - startedAt < seconds * 1000) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const now = await state();
      if (now.latencyMs !== null) latencies.push(now.latencyMs);
    }
    const last = await state();
    const elapsed = (performance.now() - startedAt) / 1000;
    // The native receiver's one-second lines from the same seconds.
    const native = statsLines().slice(nativeBefore).filter((line) => !line.final);
    const nativeP50s = native.map((line) => line.latencyMs.p50).filter((value): value is number => value !== null);
    return {
      codec,
      seconds,
      browser: {
        fps: Math.round(((last.framesDrawn - first.framesDrawn) / elapsed) * 10) / 10,
        latencyP50: median(latencies),
        latencyWorst: latencies.length ? Math.max(...latencies) : null,
        codec: last.codec,
      },
      native: {
        fps: native.length ? Math.round((native.reduce((sum, line) => sum + line.fps, 0) / native.length) * 10) / 10 : null,
        latencyP50: median(nativeP50s),
        latencyWorst: nativeP50s.length ? Math.max(...nativeP50s) : null,
      },
    };
  } finally {
    receiver?.child.kill('SIGINT');
    sender.child.kill('SIGINT');
    await browser.close();
    await new Promise((resolve) => (sender.child.exitCode !== null ? resolve(null) : sender.child.once('exit', resolve)));
  }
}

export function webMarkdown(runs: WebRun[]): string[] {
  const fmt = (value: number | null) => (value === null ? '-' : String(Math.round(value * 10) / 10));
  const lines = [
    '## The web page: a browser viewer beside a native receiver',
    '',
    'One sender (the test picture, 1280x720 at 30 fps, encrypted), watched at once by headless Chromium (the page, over https and a WebSocket) and by a native receiver, on loopback, over the same seconds. Latency is capture to decoded picture, by the one clock. The page\'s is sampled twice a second, each sample the median of its last 30 frames; the receiver\'s is the median of each second\'s frames. "Worst" is the largest of those.',
    '',
    '| codec asked | viewer | fps | latency median (ms) | worst ~1 s median (ms) |',
    '|---|---|---|---|---|',
  ];
  for (const run of runs) {
    lines.push(`| ${run.codec} | browser (${run.browser.codec ?? '-'}) | ${fmt(run.browser.fps)} | ${fmt(run.browser.latencyP50)} | ${fmt(run.browser.latencyWorst)} |`);
    lines.push(`| ${run.codec} | native receiver | ${fmt(run.native.fps)} | ${fmt(run.native.latencyP50)} | ${fmt(run.native.latencyWorst)} |`);
  }
  return lines;
}
