// The Janus row of the benchmark: how many viewers one core of Janus serves. One cvchat sender
// publishes the test picture (640x480 at 30 fps, VP8 at 1.5 Mbit/s, as `--publish rtp://` sends it)
// into a Janus started by scripts/janus.sh; headless Chromium pages (web/janus.html) watch it, 1, 3
// and 6 at once. All of it runs in a network namespace with a veth holding 127.0.0.2, because Janus
// never offers ICE candidates on a loopback interface. For each count: Janus's CPU over the same
// seconds (utime + stime from /proc/PID/stat), each page's decoded frames per second and its
// jitter-buffer and decode times (getStats). Janus's CPU with the publisher and no viewer is the
// baseline; what each viewer adds is the slope, and one core divided by it is "viewers per core".
// The browsers share the machine's cores with Janus: they decode, Janus only forwards packets.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

const root = path.resolve(__dirname, '..', '..', '..');
const cli = path.join(root, 'dist', 'lib', 'cli', 'main.js');
const CHROMIUM = '/usr/bin/chromium';
const KEY = 'cvchat-bench-janus-key';
const WIDTH = 640;
const HEIGHT = 480;
const FPS = 30;
const BITRATE = '1.5M';
const BITRATE_TEXT = '1.5 Mbit/s';
const WEB_PORT = 8443;
const PAGE_URL = `https://127.0.0.1:${WEB_PORT}/janus.html#server=http://127.0.0.1:8088/janus&id=1`;

export interface JanusViewerSample {
  fps: number;
  /** Mean time a frame waited in the jitter buffer over the seconds measured (ms). */
  jitterBufferMs: number | null;
  /** Mean decode time per frame (ms). */
  decodeMs: number | null;
  /** Capture to screen (ms), from the test picture's timecode read back in the page: median and 99th percentile. */
  latencyP50: number | null;
  latencyP99: number | null;
}

export interface JanusRun {
  viewers: number;
  seconds: number;
  /** Janus's CPU, % of one core. */
  janusCpu: number;
  viewerSamples: JanusViewerSample[];
}

export interface JanusResults {
  /** Why the section did not run. */
  skipped?: string;
  source?: string;
  /** Janus's CPU with the publisher and no viewer (% of one core). */
  baselineCpu?: number;
  runs?: JanusRun[];
  /** What one viewer adds to Janus's CPU (% of one core): the slope over 0 (the baseline) and every count. */
  cpuPerViewer?: number | null;
  viewersPerCore?: number | null;
}

/** The interface Janus offers ICE candidates on, in that namespace (janus.sh --ice-enforce-list). */
export const JANUS_ICE_INTERFACE = 'cvjanus0';

/**
 * A network namespace where Janus, a publisher and Chromium meet (the bench's and the tests'): lo,
 * and a veth pair holding 127.0.0.2 on `JANUS_ICE_INTERFACE`, since Janus never offers candidates on
 * a loopback interface (and not every kernel has the dummy driver). No IPv6: its addresses come up
 * a moment after a link does, and Chromium aborts requests in flight when the network changes
 * (net::ERR_NETWORK_CHANGED). Needs root.
 */
export function makeJanusNamespace(ns: string): void {
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
  ip('netns', 'add', ns);
  ip('-n', ns, 'link', 'set', 'lo', 'up', 'mtu', '1500');
  ip('netns', 'exec', ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
  ip('-n', ns, 'link', 'add', JANUS_ICE_INTERFACE, 'type', 'veth', 'peer', 'name', 'cvjanus1');
  ip('-n', ns, 'addr', 'add', '127.0.0.2/32', 'dev', JANUS_ICE_INTERFACE);
  ip('-n', ns, 'link', 'set', 'cvjanus1', 'up');
  ip('-n', ns, 'link', 'set', JANUS_ICE_INTERFACE, 'up');
}


/** What the benchmark's runner tracks, to end it all when stopped early. */
export interface BenchHooks {
  track<T extends ChildProcess>(child: T): T;
  undo: Set<() => void>;
}

function missing(): string | null {
  if (process.getuid?.() !== 0) return 'not measured: needs root (a network namespace for Janus\'s ICE)';
  const has = (command: string) => {
    try {
      execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  if (!has('ip')) return 'not measured: needs ip (iproute2)';
  if (!has('janus')) return 'not measured: Janus is not installed (apt-get install janus libjs-janus-gateway libjs-webrtc-adapter)';
  if (!fs.existsSync('/usr/share/javascript/janus-gateway/janus.js') || !fs.existsSync('/usr/share/javascript/webrtc-adapter/adapter.js')) {
    return 'not measured: janus.js or adapter.js is missing (apt-get install libjs-janus-gateway libjs-webrtc-adapter)';
  }
  if (!fs.existsSync(CHROMIUM)) return 'not measured: needs Chromium (apt-get install chromium)';
  return null;
}

/** CPU seconds (user + system) of a process so far. */
function cpuSeconds(pid: number): number {
  // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`janus bench: no ${what} in ${timeoutMs / 1000} s`);
    await sleep(200);
  }
}

/** A page's decoder counters now: getStats of its connection's video (timestamp in ms). */
interface Counters {
  state: string;
  timestamp: number;
  framesDecoded: number;
  jitterBufferDelay: number;
  jitterBufferEmittedCount: number;
  totalDecodeTime: number;
  /** The page's last latencies (ms), from the test picture's timecode. */
  latencies: number[];
}

async function counters(page: Page): Promise<Counters> {
  // Text, not a function: this project compiles for Node, without the DOM's types.
  const [state, report, latencies] = (await page.evaluate('(async () => [window.cvchatJanus.state, await window.cvchatJanus.inboundVideo(), [...window.cvchatJanus.latencies]])()')) as [string, Partial<Counters> | null, number[]];
  return {
    state,
    timestamp: report?.timestamp ?? 0,
    framesDecoded: report?.framesDecoded ?? 0,
    jitterBufferDelay: report?.jitterBufferDelay ?? 0,
    jitterBufferEmittedCount: report?.jitterBufferEmittedCount ?? 0,
    totalDecodeTime: report?.totalDecodeTime ?? 0,
    latencies,
  };
}

function sample(first: Counters, last: Counters): JanusViewerSample {
  const seconds = (last.timestamp - first.timestamp) / 1000;
  const frames = last.framesDecoded - first.framesDecoded;
  const emitted = last.jitterBufferEmittedCount - first.jitterBufferEmittedCount;
  const round = (value: number) => Math.round(value * 10) / 10;
  // The page keeps its last 300 latencies: about the 10 s measured, at 30 fps.
  const latencies = [...last.latencies].sort((a, b) => a - b);
  const percentile = (p: number) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor((latencies.length * p) / 100))] : null);
  return {
    latencyP50: percentile(50),
    latencyP99: percentile(99),
    fps: round(frames / seconds),
    jitterBufferMs: emitted > 0 ? round(((last.jitterBufferDelay - first.jitterBufferDelay) / emitted) * 1000) : null,
    decodeMs: frames > 0 ? round(((last.totalDecodeTime - first.totalDecodeTime) / frames) * 1000) : null,
  };
}

/** The least-squares slope of y over x: what each viewer adds, from every count at once. */
function slope(points: Array<[number, number]>): number {
  const n = points.length;
  const meanX = points.reduce((sum, [x]) => sum + x, 0) / n;
  const meanY = points.reduce((sum, [, y]) => sum + y, 0) / n;
  const sxx = points.reduce((sum, [x]) => sum + (x - meanX) ** 2, 0);
  return sxx > 0 ? points.reduce((sum, [x, y]) => sum + (x - meanX) * (y - meanY), 0) / sxx : 0;
}

export async function runJanusBench(quick: boolean, hooks: BenchHooks, progress: (text: string) => void): Promise<JanusResults> {
  const why = missing();
  if (why) return { skipped: why };
  const counts = quick ? [1, 3] : [1, 3, 6];
  const seconds = quick ? 5 : 10;
  const ns = `cvjb${process.pid % 100000}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cvchat-bench-janus-'));
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
  const cleanup = () => {
    try {
      ip('netns', 'delete', ns);
    } catch {
      // not made yet
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  hooks.undo.add(cleanup);
  const started: ChildProcess[] = [];
  const inNs = (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const child = hooks.track(spawn('ip', ['netns', 'exec', ns, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }));
    started.push(child);
    let text = '';
    child.stdout!.on('data', (d: Buffer) => (text += d));
    child.stderr!.on('data', (d: Buffer) => (text += d));
    return { child, output: () => text };
  };
  let browser: Browser | undefined;
  try {
    makeJanusNamespace(ns);
    // janus.sh execs janus: the child's pid is Janus's.
    const janus = inNs(['bash', path.join(root, 'scripts', 'janus.sh'), `--ice-enforce-list=${JANUS_ICE_INTERFACE}`], { CVCHAT_JANUS_DIR: path.join(dir, 'janus') });
    await until('Janus', () => {
      if (janus.child.exitCode !== null) throw new Error(`janus bench: janus.sh exited:\n${janus.output()}`);
      return janus.output().includes('cvchat janus: ready') ? true : undefined;
    });
    const sender = inNs([process.execPath, cli, 'sender', '--source', 'test', '--timecode', '--size', `${WIDTH}x${HEIGHT}`, '--fps', String(FPS), '--no-window',
      '--publish', 'rtp://127.0.0.1:5004', '--publish-bitrate', BITRATE, '--web', String(WEB_PORT), '--key', KEY], { DISPLAY: '', CVCHAT_CONFIG_DIR: dir });
    await until('publishing', () => (/publishing vp8/.test(sender.output()) ? true : undefined));
    const pid = janus.child.pid!;
    const janusCpu = async (ms: number) => {
      const before = cpuSeconds(pid);
      const at = performance.now();
      await sleep(ms);
      return Math.round(((cpuSeconds(pid) - before) / ((performance.now() - at) / 1000)) * 1000) / 10;
    };
    await sleep(2000);
    progress(`janus: Janus's CPU with the publisher and no viewer, ${seconds} s`);
    const baselineCpu = await janusCpu(seconds * 1000);

    const wrapper = path.join(dir, 'chromium-in-namespace');
    fs.writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${ns} ${CHROMIUM} "$@"\n`, { mode: 0o755 });
    browser = await chromium.launch({ executablePath: wrapper });
    const runs: JanusRun[] = [];
    for (const viewers of counts) {
      progress(`janus: ${viewers} viewer${viewers > 1 ? 's' : ''} (headless Chromium), ${seconds} s`);
      const contexts: BrowserContext[] = [];
      const pages: Page[] = [];
      for (let i = 0; i < viewers; i++) {
        const context = await browser.newContext({ ignoreHTTPSErrors: true });
        contexts.push(context);
        const page = await context.newPage();
        await page.goto(PAGE_URL);
        pages.push(page);
      }
      await until('pictures on every page', async () => ((await Promise.all(pages.map(counters))).every((c) => c.state === 'streaming' && c.framesDecoded > 30) ? true : undefined), 60_000);
      await sleep(2000); // past the first keyframe's catching up
      const first = await Promise.all(pages.map(counters));
      const cpu = await janusCpu(seconds * 1000);
      const last = await Promise.all(pages.map(counters));
      runs.push({ viewers, seconds, janusCpu: cpu, viewerSamples: first.map((c, i) => sample(c, last[i])) });
      // Leaving ends each session on Janus now rather than at its timeout: the next count starts clean.
      await Promise.all(pages.map((page) => page.evaluate('window.cvchatJanus.leave()').catch(() => undefined)));
      await sleep(500);
      await Promise.all(contexts.map((context) => context.close()));
      await sleep(1000);
    }
    const cpuPerViewer = Math.round(slope([[0, baselineCpu], ...runs.map((run): [number, number] => [run.viewers, run.janusCpu])]) * 100) / 100;
    return {
      source: `the test picture, ${WIDTH}x${HEIGHT} at ${FPS} fps, VP8 at ${BITRATE_TEXT}`,
      baselineCpu,
      runs,
      cpuPerViewer,
      viewersPerCore: cpuPerViewer && cpuPerViewer > 0 ? Math.round(100 / cpuPerViewer) : null,
    };
  } finally {
    await browser?.close().catch(() => undefined);
    for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await Promise.all(started.map((child) => (child.exitCode !== null || child.signalCode !== null ? null : new Promise((resolve) => child.once('exit', resolve)))));
    cleanup();
    hooks.undo.delete(cleanup);
  }
}

export function janusMarkdown(results: JanusResults): string[] {
  const lines = ['## Janus: viewers per core', ''];
  if (results.skipped || !results.runs) return [...lines, results.skipped ?? 'not measured'];
  const fmt = (value: number | null | undefined) => (value === null || value === undefined ? '-' : String(value));
  const range = (values: Array<number | null>) => {
    const known = values.filter((v): v is number => v !== null);
    if (known.length === 0) return '-';
    const low = Math.min(...known);
    const high = Math.max(...known);
    return low === high ? String(low) : `${low}-${high}`;
  };
  lines.push(
    `One cvchat sender publishes ${results.source} (--publish rtp://) into a Janus (npm run janus's configuration) in a network namespace; headless Chromium pages (web/janus.html, janus.js) watch it. Janus's CPU is utime + stime from /proc over the seconds measured, as % of one core; with the publisher and no viewer it is ${fmt(results.baselineCpu)}%. The pages' figures are getStats over the same seconds: frames decoded per second, and the mean time a frame waited in the jitter buffer and took to decode. Latency is end to end, capture to the page's screen: the test picture carries its capture time as a timecode (--timecode, native/test_source.cc), which the page reads back from each frame it shows (its last 300 frames, about the seconds measured). The browsers run on the same two cores.`,
    '',
    '| viewers | Janus CPU (% of a core) | added per viewer (%) | fps per viewer | latency p50 / p99 (ms) | jitter buffer (ms) | decode (ms) |',
    '|---|---|---|---|---|---|---|',
  );
  for (const run of results.runs) {
    const added = Math.round(((run.janusCpu - (results.baselineCpu ?? 0)) / run.viewers) * 100) / 100;
    lines.push(`| ${run.viewers} | ${run.janusCpu} | ${added} | ${range(run.viewerSamples.map((s) => s.fps))} | ${range(run.viewerSamples.map((s) => s.latencyP50))} / ${range(run.viewerSamples.map((s) => s.latencyP99))} | ${range(run.viewerSamples.map((s) => s.jitterBufferMs))} | ${range(run.viewerSamples.map((s) => s.decodeMs))} |`);
  }
  lines.push('', `Viewers per core: ${fmt(results.viewersPerCore)} (100% / ${fmt(results.cpuPerViewer)}% of a core added per viewer: the least-squares slope of Janus's CPU over 0 (the baseline) and each count of viewers).`);
  return lines;
}
