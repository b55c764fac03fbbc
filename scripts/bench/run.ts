// npm run bench [-- --quick] [-- --only SECTION[,SECTION]]: cvchat against the seed's design, the
// opencv4nodejs backend and the codec's own limit, on the same frames, in one run; then adaptive rate
// on shaped links, and the video codec against JPEG. Writes JSON, a Markdown table and SVG charts to
// bench-results/, and prints one line per goal. Timing goals live here, never in the tests. Every
// section but codec streams JPEG (--codec jpeg), so its figures compare with runs before the codec.
//   --quick   shorter runs, fewer of them (about 2 minutes on 2 cores)
//   --only    run only these sections, to iterate on one: resolutions (codec, throughput and latency
//             at three sizes), memory, adaptive (rate on network namespaces with tbf: needs root;
//             about 5 minutes, 85 s with --quick), codec (H.264 and VP8 at 720p: a bitrate ladder
//             against JPEG q80, the sender's CPU with 1, 2 and 4 viewers, the codec on the shaped links
//             and loopback; needs root for the links; about 5 minutes, 1 with --quick), web (a
//             browser viewer in headless Chromium beside a native receiver, 720p, H.264 and JPEG; 1 minute),
//             janus (viewers per core of a Janus fed by --publish, with 1, 3 and 6 headless Chromium
//             viewers; needs root and Janus; about 2 minutes, 1 with --quick), sources (a 720p MJPEG
//             file streamed by cvchat, with and without pass-through, against the plain Python cv2
//             loop; a GStreamer stand-in for an MJPEG camera; the memory source against the two-core
//             limit of cvchat's codec; about 2 minutes);
//             e.g. `npm run bench -- --quick --only adaptive`
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { wallClock } from '../../lib/base/clock';
import { native } from '../../lib/media/addon';
import {
  adaptiveChartSpec, adaptiveGoals, adaptiveMarkdown, adaptiveScenarios, analyse, codecScenarios, frameLog,
  SOURCE_FPS, SOURCE_HEIGHT, SOURCE_WIDTH,
  type AdaptiveResults, type Goal, type Scenario, type ScenarioRecords, type ScenarioResult, type ShownFrame, type ViewerStateSample,
} from './adaptive';
import { codecChartSpec, codecGoals, codecMarkdown, codecSummary, type CodecResults, type LadderRun } from './codec-section';
import { JPEG_QUALITY, scoreSsim } from './codec-runs';
import { janusMarkdown, runJanusBench, type JanusResults } from './janus-section';
import { runWebViewer, webMarkdown, type WebRun } from './web-section';
import { SOURCE_FILE_QUALITY, sourceChartSpec, sourceGoals, sourceMarkdown, type SourceResults } from './source-section';

const root = path.resolve(__dirname, '..', '..', '..');
const quick = process.argv.includes('--quick');
const SECTIONS = ['resolutions', 'memory', 'sources', 'adaptive', 'codec', 'web', 'janus'];
/** Pixels a frame of the codec's scene: a camera turning slowly (120 pixels a second at 30 fps). */
const CODEC_PAN_STEP = 4;
const onlyAt = process.argv.indexOf('--only');
const only = onlyAt < 0 ? null : (process.argv[onlyAt + 1] ?? '').split(',').filter(Boolean);
const unknownSections = only?.filter((name) => !SECTIONS.includes(name)) ?? [];
if (only && (only.length === 0 || unknownSections.length > 0)) {
  process.stderr.write(`--only takes sections among ${SECTIONS.join(', ')}, separated by commas${unknownSections.length ? `, not '${unknownSections.join(',')}'` : ''}\n`);
  process.exit(2);
}
const runs = (section: string) => only === null || only.includes(section);
const python = '/usr/bin/python3';
const worker = path.join(root, 'dist', 'scripts', 'bench', 'worker.js');
const benchFile = (name: string) => path.join(root, 'scripts', 'bench', name);
const RESOLUTIONS: Array<[number, number]> = [[640, 480], [1280, 720], [1920, 1080]];
const QUALITY = 80;
const started = Date.now();

const progress = (text: string) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${text}\n`);

function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

const round = (v: number | null | undefined, digits = 1) => (v === null || v === undefined || !Number.isFinite(v) ? null : Math.round(v * 10 ** digits) / 10 ** digits);

// What this run has started and must end when it is stopped early. npm passes SIGTERM (a process
// manager, a cancelled CI job) to this process alone, so without this its workers and Xvfb would
// outlive it, and network namespaces and the scene files would stay behind (also after Ctrl+C).
const children = new Set<ChildProcess>();
const undo = new Set<() => void>();
let stopping = false;

function track<T extends ChildProcess>(child: T): T {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

async function stopEarly(signal: NodeJS.Signals) {
  stopping = true;
  progress(`stopped by ${signal}: ending the processes this run started`);
  const exited = [...children].map((child) => new Promise((resolve) => child.once('exit', resolve)));
  for (const child of children) child.kill('SIGTERM');
  await Promise.race([Promise.all(exited), new Promise((resolve) => setTimeout(resolve, 3000))]);
  for (const child of children) child.kill('SIGKILL');
  for (const step of undo) step();
  process.exit(128 + os.constants.signals[signal]);
}
process.once('SIGTERM', stopEarly);
process.once('SIGINT', stopEarly);

let portCounter = 20000 + (process.pid % 20000);
const nextPort = () => portCounter++;

function spawnProcess(command: string, args: string[], env: NodeJS.ProcessEnv = {}, netns?: string): { child: ChildProcess; out: () => string; exited: Promise<number | null> } {
  if (stopping) throw new Error('the run is stopping');
  const [cmd, argv] = netns ? ['ip', ['netns', 'exec', netns, command, ...args]] : [command, args];
  const child = track(spawn(cmd, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', () => undefined);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, out: () => out, exited };
}

async function waitForLine(get: () => string, pattern: RegExp, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(get())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const lastJson = (text: string) => JSON.parse(text.trim().split('\n').filter((l) => l.startsWith('{')).pop() ?? 'null');

interface RunResult {
  fps: number | null;
  receiverCpuMs: number | null;
  senderCpuMs: number | null;
  bytesPerFrame: number | null;
  latencyP50: number | null;
  latencyP99: number | null;
  latencyP50FirstHalf: number | null;
  latencyP50SecondHalf: number | null;
  ttffMs: number | null;
  frames: number;
  senderRssMb: number | null;
  senderRssMbAtStart: number | null;
  receiverRssMb: number | null;
  receiverRssMbAtStart: number | null;
}

function summarise(rx: Received, tx: { cpuMsPerFrame: number; rssMb: number; rssMbAtJoin?: number } | null): RunResult {
  const half = Math.floor(rx.latencyMs.length / 2);
  return {
    fps: round(rx.fps), receiverCpuMs: round(rx.cpuMsPerFrame, 2), senderCpuMs: round(tx?.cpuMsPerFrame, 2),
    bytesPerFrame: Math.round(rx.bytesPerFrame), latencyP50: round(percentile(rx.latencyMs, 50)), latencyP99: round(percentile(rx.latencyMs, 99)),
    latencyP50FirstHalf: round(percentile(rx.latencyMs.slice(0, half), 50)), latencyP50SecondHalf: round(percentile(rx.latencyMs.slice(half), 50)),
    ttffMs: round(rx.ttffMs), frames: rx.frames,
    senderRssMb: round(tx?.rssMb), senderRssMbAtStart: round(tx?.rssMbAtJoin ?? null), receiverRssMb: round(rx.rssMb), receiverRssMbAtStart: round(rx.rssMbAtWarm ?? null),
  };
}

interface RunSpec {
  scene: string;
  width: number;
  height: number;
  fps: number;
  frames: number;
  seconds?: number;
  link?: { sender: string; receiver: string; address: string };
  /** Memory runs: measure from this many frames on, after warm-up. */
  warmFrames?: number;
  /** Adaptive rate on or off; unset: the sender's default. */
  adapt?: boolean;
  /** Unsent bytes the kernel may keep per viewer (TCP_NOTSENT_LOWAT); 0: the kernel's default, as before it was set. */
  unsentLimitBytes?: number;
  /** The sender's and receivers' --codec; default jpeg, the stream every figure before the codec section is of. */
  codec?: 'jpeg' | 'h264' | 'vp8';
  /** Receivers at once (default 1); the sender's CPU is counted while they all are joined. */
  viewers?: number;
  /** false: --no-passthrough (a source that yields JPEG is decoded and encoded again). */
  passthrough?: boolean;
}

/** The receivers' figures (worker.ts receiver), and the sender's. */
interface Received {
  fps: number;
  cpuMsPerFrame: number;
  bytesPerFrame: number;
  latencyMs: number[];
  ttffMs: number;
  frames: number;
  rssMb: number;
  rssMbAtWarm?: number;
}

async function runCvchat(spec: RunSpec, backend: 'native' | 'opencv4nodejs', display?: string): Promise<RunResult> {
  return (await runCvchatViewers(spec, backend, display)).result;
}

/** A sender and spec.viewers receivers (one by default): the first receiver's figures, and each one's. */
async function runCvchatViewers(spec: RunSpec, backend: 'native' | 'opencv4nodejs', display?: string): Promise<{ result: RunResult; receivers: Received[] }> {
  const port = nextPort();
  const env = { DISPLAY: display ?? '', QT_QPA_PLATFORM: '', CVCHAT_OPENCV4NODEJS_DIR: process.env.CVCHAT_OPENCV4NODEJS_DIR ?? path.join(root, '.opencv4nodejs') };
  const warm = String(spec.warmFrames ?? 0);
  const codec = spec.codec ?? 'jpeg';
  // '' leaves an argument at the worker's default.
  const adapt = spec.adapt === undefined ? '' : spec.adapt ? 'on' : 'off';
  const unsent = spec.adapt === undefined || spec.unsentLimitBytes === undefined ? '' : String(spec.unsentLimitBytes);
  const viewers = spec.viewers === undefined ? '' : String(spec.viewers);
  const passthrough = spec.passthrough === false ? 'off' : '';
  const tx = spawnProcess(process.execPath, [worker, 'sender', spec.scene, String(spec.width), String(spec.height), String(port), String(spec.fps), backend, warm, adapt, unsent, 'tls', codec, viewers, passthrough], env, spec.link?.sender);
  await waitForLine(tx.out, /"ready"/);
  const rxs = Array.from({ length: spec.viewers ?? 1 }, () =>
    spawnProcess(process.execPath, [worker, 'receiver', spec.link?.address ?? '127.0.0.1', String(port), String(spec.frames), backend, display ? 'window' : 'none', String(spec.seconds ?? 0), warm, codec], env, spec.link?.receiver));
  await Promise.all(rxs.map((rx) => rx.exited));
  tx.child.kill('SIGTERM');
  await tx.exited;
  const receivers = rxs.map((rx) => lastJson(rx.out()) as Received);
  return { result: summarise(receivers[0], lastJson(tx.out())), receivers };
}

/** opencv4nodejs used as its documentation shows: one awaited call after another. */
async function runO4nDocumented(spec: RunSpec): Promise<RunResult> {
  const port = nextPort();
  const script = path.join(root, 'dist', 'scripts', 'bench', 'o4n-loop.js');
  const tx = spawnProcess(process.execPath, [script, 'sender', spec.scene, String(spec.width), String(spec.height), String(port)]);
  await waitForLine(tx.out, /"ready"/);
  const rx = spawnProcess(process.execPath, [script, 'receiver', '127.0.0.1', String(port), String(spec.frames)]);
  await rx.exited;
  tx.child.kill('SIGTERM');
  await tx.exited;
  return summarise(lastJson(rx.out()), null);
}

async function runSeed(spec: RunSpec): Promise<RunResult> {
  const port = nextPort();
  const tx = spawnProcess(python, [benchFile('seed.py'), 'sender', spec.scene, String(spec.width), String(spec.height), String(port), String(spec.fps)], {}, spec.link?.sender);
  await waitForLine(tx.out, /ready/);
  const rx = spawnProcess(python, [benchFile('seed.py'), 'receiver', spec.link?.address ?? '127.0.0.1', String(port), String(spec.frames), String(spec.seconds ?? 0)], {}, spec.link?.receiver);
  await rx.exited;
  await tx.exited.then(undefined, () => undefined);
  await Promise.race([tx.exited, new Promise((r) => setTimeout(r, 3000))]);
  tx.child.kill('SIGKILL');
  return summarise(lastJson(rx.out()), lastJson(tx.out().replace(/^ready\n/, '')));
}

interface CodecTimes { encodeMs: number; decodeMs: number; bytesPerFrame: number; limitFps: number }

/** The plain Python cv2 loop on a video file (file_loop.py): read, imencode, sendall; recv, imdecode. */
async function runFileLoop(file: string, frames: number): Promise<{ fps: number | null; senderCpuMs: number | null; receiverCpuMs: number | null; bytesPerFrame: number | null }> {
  const port = nextPort();
  const tx = spawnProcess(python, [benchFile('file_loop.py'), 'sender', file, String(port), String(QUALITY)]);
  await waitForLine(tx.out, /ready/);
  const rx = spawnProcess(python, [benchFile('file_loop.py'), 'receiver', '127.0.0.1', String(port), String(frames)]);
  await rx.exited;
  await Promise.race([tx.exited, new Promise((r) => setTimeout(r, 3000))]);
  tx.child.kill('SIGKILL');
  const got = lastJson(rx.out()) as { fps: number; cpuMsPerFrame: number; bytesPerFrame: number } | null;
  const sent = lastJson(tx.out().replace(/^ready\n/, '')) as { cpuMsPerFrame: number } | null;
  return { fps: round(got?.fps ?? null), senderCpuMs: round(sent?.cpuMsPerFrame ?? null, 2), receiverCpuMs: round(got?.cpuMsPerFrame ?? null, 2), bytesPerFrame: got ? Math.round(got.bytesPerFrame) : null };
}

/** Builds the C++ codec-limit tool (g++ and OpenCV's pkg-config file come with setup.sh). */
function buildCodecLimit(dir: string): string {
  const binary = path.join(dir, 'codec-limit');
  const flags = execFileSync('pkg-config', ['--cflags', '--libs', 'opencv4']).toString().trim().split(/\s+/);
  execFileSync('g++', ['-O2', '-std=c++17', benchFile('codec-limit.cc'), '-o', binary, ...flags]);
  return binary;
}

function codecLimit(tool: string, scene: string, width: number, height: number): CodecTimes {
  return JSON.parse(execFileSync(tool, [scene, String(width), String(height), String(QUALITY), String(quick ? 30 : 120)]).toString());
}

/** cvchat's own encode and decode through the addon, one call at a time, in a fresh process. */
function cvchatCodec(scene: string, width: number, height: number): CodecTimes {
  return lastJson(execFileSync(process.execPath, [worker, 'codec', scene, String(width), String(height), String(QUALITY), String(quick ? 30 : 120)]).toString());
}

/**
 * The JPEG benchmark's scene (30 frames crossing the panorama, in a loop), or with `panStep` the
 * video codec's: a camera turning slowly, `panStep` pixels a frame for 60 frames and back, no cut.
 */
function makeScene(dir: string, width: number, height: number, panStep?: number): string {
  const file = path.join(dir, `scene-${width}x${height}${panStep ? `-pan${panStep}` : ''}.raw`);
  const frames = panStep ? ['60', file, String(panStep)] : ['30', file];
  if (!fs.existsSync(file)) execFileSync(python, [benchFile('scene.py'), String(width), String(height), ...frames]);
  return file;
}

interface Link {
  sender: string;
  receiver: string;
  address: string;
  /** Changes the rate from now on; packets already queued keep their place. */
  setRate(rateMbit: number): void;
  close(): void;
}

/**
 * tbf's settings: a 64 KB bucket, and up to 400 ms of queue before it drops. A real bottleneck
 * (a home router, a cell) buffers hundreds of milliseconds, so a sender that sends too much sees
 * its latency grow rather than its packets dropped: the case adaptive rate must handle.
 */
const tbfShape = (rateMbit: number) => ['tbf', 'rate', `${rateMbit}mbit`, 'burst', '64kb', 'latency', '400ms'];

/** Two hosts in network namespaces joined by a veth pair, the sender's side shaped by tbf. */
function makeLink(rateMbit: number): Link | null {
  if (stopping) throw new Error('the run is stopping');
  if (process.getuid?.() !== 0) return null;
  const tag = `cvb${process.pid % 10000}`;
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
  const [a, b] = [`${tag}a`, `${tag}b`];
  try {
    ip('netns', 'add', a);
    ip('netns', 'add', b);
    ip('link', 'add', `${tag}va`, 'type', 'veth', 'peer', 'name', `${tag}vb`);
    ip('link', 'set', `${tag}va`, 'netns', a);
    ip('link', 'set', `${tag}vb`, 'netns', b);
    ip('-n', a, 'addr', 'add', '10.232.0.1/24', 'dev', `${tag}va`);
    ip('-n', b, 'addr', 'add', '10.232.0.2/24', 'dev', `${tag}vb`);
    for (const [ns, dev] of [[a, `${tag}va`], [b, `${tag}vb`]]) {
      ip('-n', ns, 'link', 'set', 'lo', 'mtu', '1500');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', ns, 'link', 'set', dev, 'up');
    }
    execFileSync('ip', ['netns', 'exec', a, 'tc', 'qdisc', 'add', 'dev', `${tag}va`, 'root', ...tbfShape(rateMbit)]);
  } catch (error) {
    progress(`slow link not available here: ${(error as Error).message.split('\n')[0]}`);
    for (const ns of [a, b]) try { ip('netns', 'delete', ns); } catch { /* not made */ }
    return null;
  }
  const close = () => {
    undo.delete(close);
    for (const ns of [a, b]) ip('netns', 'delete', ns);
  };
  undo.add(close);
  const setRate = (mbit: number) => execFileSync('ip', ['netns', 'exec', a, 'tc', 'qdisc', 'change', 'dev', `${tag}va`, 'root', ...tbfShape(mbit)], { stdio: 'pipe' });
  return { sender: a, receiver: b, address: '10.232.0.1', setRate, close };
}

async function startXvfb(): Promise<{ display: string; stop(): void } | null> {
  return new Promise((resolve) => {
    const child = track(spawn('Xvfb', ['-displayfd', '3', '-screen', '0', '2000x1200x24', '-nolisten', 'tcp', '-noreset'], { stdio: ['ignore', 'ignore', 'ignore', 'pipe'] }));
    child.once('error', () => resolve(null));
    let text = '';
    (child.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => {
      text += d;
      if (text.includes('\n')) resolve({ display: `:${text.trim()}`, stop: () => child.kill() });
    });
  });
}

/** At most this many frames of a run are scored for SSIM: each takes ~35 ms of CPU. */
const MAX_SSIM_FRAMES = 400;

/**
 * One adaptive-rate scenario: a sender and a recording viewer (worker.ts) over a link whose rate
 * follows the scenario's schedule from the first frame shown, then SSIM of the frames it saved.
 */
async function runScenario(scenario: Scenario, scene: string, dir: string): Promise<{ result: ScenarioResult; frames: ReturnType<typeof frameLog> } | string> {
  const link = scenario.schedule.length > 0 ? makeLink(scenario.schedule[0].mbit) : null;
  if (scenario.schedule.length > 0 && !link) return 'not measured: needs root and network namespaces with tbf';
  const sampleDir = fs.mkdtempSync(path.join(dir, `${scenario.name}-`));
  const rateTimers: NodeJS.Timeout[] = [];
  let tx: ReturnType<typeof spawnProcess> | undefined;
  let rx: ReturnType<typeof spawnProcess> | undefined;
  try {
    const port = nextPort();
    const env = { DISPLAY: '' };
    const unsent = scenario.unsentLimitBytes === undefined ? '' : String(scenario.unsentLimitBytes);
    tx = spawnProcess(process.execPath, [worker, 'sender', scene, String(SOURCE_WIDTH), String(SOURCE_HEIGHT), String(port), String(SOURCE_FPS), 'native', '0', scenario.adapt ? 'on' : 'off', unsent, 'tls', scenario.codec], env, link?.sender);
    await waitForLine(tx.out, /"ready"/);
    // A frame every 100 ms (every third at 30 fps), fewer in a quick run, and in a long run spread over all of it.
    const sampleMs = Math.max(quick ? 200 : 100, Math.ceil((scenario.seconds * 1000) / MAX_SSIM_FRAMES));
    rx = spawnProcess(process.execPath, [worker, 'viewer', link?.address ?? '127.0.0.1', String(port), String(scenario.seconds), sampleDir, String(sampleMs), scenario.codec], env, link?.receiver);
    await waitForLine(rx.out, /"firstFrameAt"/);
    const firstFrameAt = (JSON.parse(rx.out().split('\n').find((line) => line.includes('"firstFrameAt"')) as string) as { firstFrameAt: number }).firstFrameAt;
    const rateChanges: Array<{ t: number; mbit: number }> = [];
    for (const step of scenario.schedule.slice(1)) {
      const timer = setTimeout(() => {
        try {
          link?.setRate(step.mbit);
          rateChanges.push({ t: wallClock(), mbit: step.mbit });
        } catch (error) {
          if (!stopping) progress(`${scenario.label}: could not change the rate to ${step.mbit} Mbit/s: ${(error as Error).message.split('\n')[0]}`);
        }
      }, firstFrameAt + step.at * 1000 - wallClock());
      rateTimers.push(timer);
    }
    await rx.exited;
    tx.child.kill('SIGTERM');
    await tx.exited;
    // Stopped early: the viewer ended cleanly, but there is no time left to score its frames.
    if (stopping) throw new Error('the run is stopping');
    const viewed = lastJson(rx.out()) as { dropped: number; samples: number; shown: ShownFrame[] };
    const sent = lastJson(tx.out()) as { viewerStates: ViewerStateSample[] };
    const ssim = viewed.samples > 0 ? scoreSsim(scene, SOURCE_WIDTH, SOURCE_HEIGHT, sampleDir) : null;
    const records: ScenarioRecords = { firstFrameAt, shown: viewed.shown, viewerStates: sent.viewerStates, rateChanges, ssim, dropped: viewed.dropped };
    return { result: analyse(scenario, records), frames: frameLog(records) };
  } finally {
    for (const timer of rateTimers) clearTimeout(timer);
    // A run that failed part-way leaves neither process behind.
    for (const p of [rx, tx]) if (p && p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    link?.close();
    fs.rmSync(sampleDir, { recursive: true, force: true });
  }
}

const ratio = (a: number | null | undefined, b: number | null | undefined) => (a && b ? Math.round((a / b) * 100) / 100 : null);

/**
 * Does limiting the kernel's unsent bytes (TCP_NOTSENT_LOWAT) help a viewer that never ACKs? A
 * Python viewer reading the plain wire over 5 Mbit/s, from a sender with cvchat's limit and with
 * the kernel's default, 720p at 30 fps, no adaptation (such a viewer gets full frames anyway).
 */
async function plainViewerRuns(scene: string): Promise<Record<string, { fps: number | null; latencyP50: number | null; latencyP99: number | null } | string>> {
  const runs: Record<string, { fps: number | null; latencyP50: number | null; latencyP99: number | null } | string> = {};
  for (const [name, unsent] of [['unsentLimited', ''], ['kernelDefault', '0']] as const) {
    const link = makeLink(5);
    if (!link) return { all: 'not measured: needs root and network namespaces with tbf' };
    try {
      progress(`a Python viewer that never ACKs, 5 Mbit/s, ${name === 'unsentLimited' ? "cvchat's unsent-byte limit" : "the kernel's default send buffer"}, 10 s`);
      const port = nextPort();
      const tx = spawnProcess(process.execPath, [worker, 'sender', scene, String(SOURCE_WIDTH), String(SOURCE_HEIGHT), String(port), String(SOURCE_FPS), 'native', '0', 'off', unsent, 'plain', 'jpeg'], { DISPLAY: '' }, link.sender);
      await waitForLine(tx.out, /"ready"/);
      const rx = spawnProcess(python, [benchFile('plain_viewer.py'), link.address, String(port), '10'], {}, link.receiver);
      await rx.exited;
      tx.child.kill('SIGTERM');
      await tx.exited;
      const viewed = lastJson(rx.out()) as { fps: number; latencyMs: number[] };
      runs[name] = { fps: round(viewed.fps), latencyP50: round(percentile(viewed.latencyMs, 50)), latencyP99: round(percentile(viewed.latencyMs, 99)) };
    } finally {
      link.close();
    }
  }
  return runs;
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cvchat-bench-'));
  const outDir = path.join(root, 'bench-results', new Date().toISOString().replace(/[:.]/g, '-') + (quick ? '-quick' : ''));
  fs.mkdirSync(outDir, { recursive: true });
  // Stopped early, the run leaves neither its scenes nor a results folder without results.
  undo.add(() => fs.rmSync(dir, { recursive: true, force: true }));
  const dropResults = () => fs.rmSync(outDir, { recursive: true, force: true });
  undo.add(dropResults);
  const o4nInstalled = fs.existsSync(path.join(process.env.CVCHAT_OPENCV4NODEJS_DIR ?? path.join(root, '.opencv4nodejs'), 'node_modules', '@u4', 'opencv4nodejs'));
  // seedLinkSeconds 0: a quick run leaves out the seed on slow links (a 2.7 MB frame takes seconds).
  const n = quick ? { cvchat: 120, seed: [20, 10, 6], latency: 60, memory: 2000, seedLinkSeconds: 0 } : { cvchat: 600, seed: [60, 30, 20], latency: 300, memory: 10_000, seedLinkSeconds: 10 };
  const results: Record<string, unknown> = { quick, only, date: new Date().toISOString(), machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version }, quality: QUALITY, resolutions: {} as Record<string, unknown> };
  const resolutions = results.resolutions as Record<string, Record<string, unknown>>;
  const xvfb = runs('resolutions') ? await startXvfb() : null;
  const codecTool = runs('resolutions') ? buildCodecLimit(dir) : '';

  for (const [index, [width, height]] of (runs('resolutions') ? RESOLUTIONS : []).entries()) {
    const name = `${width}x${height}`;
    const scene = makeScene(dir, width, height);
    const r: Record<string, unknown> = {};
    resolutions[name] = r;
    progress(`${name}: codec limit (OpenCV JPEG q${QUALITY}, one thread each)`);
    r.codec = codecLimit(codecTool, scene, width, height);
    progress(`${name}: cvchat's own codec (libjpeg-turbo's BGR path), one call at a time`);
    r.cvchatCodec = cvchatCodec(scene, width, height);
    progress(`${name}: cvchat, unpaced, headless`);
    r.cvchat = await runCvchat({ scene, width, height, fps: 0, frames: n.cvchat }, 'native');
    if (xvfb && (!quick || height === 720)) {
      progress(`${name}: cvchat, unpaced, with a window under Xvfb`);
      r.cvchatWindow = await runCvchat({ scene, width, height, fps: 0, frames: n.cvchat }, 'native', xvfb.display);
    }
    if (o4nInstalled) {
      progress(`${name}: cvchat's loop on the @u4/opencv4nodejs backend`);
      r.opencv4nodejs = await runCvchat({ scene, width, height, fps: 0, frames: n.cvchat }, 'opencv4nodejs');
      progress(`${name}: @u4/opencv4nodejs as its documentation shows (async/await, one frame at a time)`);
      r.opencv4nodejsDocumented = await runO4nDocumented({ scene, width, height, fps: 0, frames: n.cvchat });
    }
    progress(`${name}: the seed's scripts (pickle), unpaced`);
    r.seed = await runSeed({ scene, width, height, fps: 0, frames: n.seed[index] });
    progress(`${name}: cvchat latency, paced at 30 fps`);
    r.cvchatPaced = await runCvchat({ scene, width, height, fps: 30, frames: n.latency }, 'native');
    progress(`${name}: the seed's latency, paced at 30 fps`);
    r.seedPaced = await runSeed({ scene, width, height, fps: 30, frames: n.seed[index] });
  }

  // Memory: RSS after a warm-up of WARM frames (allocators and V8 size themselves first), then
  // its growth over the next n.memory frames.
  const WARM = quick ? 500 : 2000;
  if (runs('memory')) {
    progress(`memory: cvchat over ${n.memory} frames at 640x480, after ${WARM} frames of warm-up`);
    const memoryScene = makeScene(dir, 640, 480);
    const memorySpec = { scene: memoryScene, width: 640, height: 480, fps: 0, frames: n.memory + WARM, warmFrames: WARM };
    results.memory = {
      native: await runCvchat(memorySpec, 'native'),
      ...(o4nInstalled ? { opencv4nodejs: await runCvchat(memorySpec, 'opencv4nodejs') } : {}),
    };
  }

  // Sources that deliver JPEG: a 720p MJPEG file, streamed by cvchat (pass-through, then decoded
  // and encoded again) and by the plain Python cv2 loop, in turn; an MJPEG camera's stand-in;
  // and the memory source against the two-core limit of cvchat's own codec.
  if (runs('sources')) {
    const [width, height] = [1280, 720];
    const scene = makeScene(dir, width, height);
    const avi = path.join(dir, 'scene-720p-mjpeg.avi');
    const frameDir = path.join(dir, 'scene-720p-jpegs');
    progress(`sources: the scene as a ${width}x${height} MJPEG AVI (cv2.imencode at quality ${SOURCE_FILE_QUALITY}, muxed by GStreamer)`);
    execFileSync(python, [benchFile('mjpeg_files.py'), scene, String(width), String(height), String(SOURCE_FILE_QUALITY), avi, frameDir]);
    const frames = quick ? 600 : 3000;
    const file = { scene: `source:${avi}`, width, height, fps: 0, frames, codec: 'jpeg' as const };
    const sources: SourceResults = { width, height, frames, file: [], camera: [] };
    for (let round = 0; round < (quick ? 1 : 2); round++) {
      progress(`sources: the file, the plain Python cv2 loop (round ${round + 1})`);
      sources.file.push({ system: 'python', ...(await runFileLoop(avi, frames)) });
      progress(`sources: the file, cvchat, pass-through (round ${round + 1})`);
      sources.file.push({ system: 'cvchat', ...(await runCvchat(file, 'native')) });
      progress(`sources: the file, cvchat --no-passthrough (round ${round + 1})`);
      sources.file.push({ system: 'cvchat-reencode', ...(await runCvchat({ ...file, passthrough: false }, 'native')) });
    }
    // An MJPEG camera delivers JPEG at its own pace: GStreamer reads the same JPEGs from files
    // (no encoding in the sender's process), paced at 30 fps by cvchat.
    const camera = `multifilesrc location=${frameDir}/f%03d.jpg loop=true caps=image/jpeg,width=${width},height=${height},framerate=30/1 ! appsink`;
    const cameraSpec = { scene: `source:${camera}`, width, height, fps: 30, frames: quick ? 150 : 450, codec: 'jpeg' as const };
    progress('sources: an MJPEG camera (GStreamer, image/jpeg) at 30 fps, pass-through');
    sources.camera.push({ system: 'cvchat', ...(await runCvchat(cameraSpec, 'native')) });
    progress('sources: the same camera, --no-passthrough');
    sources.camera.push({ system: 'cvchat-reencode', ...(await runCvchat({ ...cameraSpec, passthrough: false }, 'native')) });
    progress(`sources: cvchat's codec at ${width}x${height}, one call at a time, and the memory source unpaced`);
    sources.codec = cvchatCodec(scene, width, height);
    sources.memory = await runCvchat({ scene, width, height, fps: 0, frames: quick ? 600 : 3000, codec: 'jpeg' }, 'native');
    results.sources = sources;
  }

  // Adaptive rate on real links: the scenarios over shaped links (and loopback), then, in a full
  // run, unpaced throughput on loopback with adaptation on and off, and the seed on the links.
  let adaptive: AdaptiveResults | null = null;
  const frameLogs: Record<string, ReturnType<typeof frameLog>> = {};
  let loopbackFps: { adaptive: number | null; fixed: number | null } | null = null;
  if (runs('adaptive')) {
    adaptive = {};
    const scene = makeScene(dir, SOURCE_WIDTH, SOURCE_HEIGHT);
    for (const scenario of adaptiveScenarios(quick)) {
      progress(`adaptive rate: ${scenario.label}, ${scenario.seconds} s`);
      const run = await runScenario(scenario, scene, dir);
      if (typeof run === 'string') adaptive[scenario.name] = run;
      else {
        adaptive[scenario.name] = run.result;
        frameLogs[scenario.name] = run.frames;
      }
    }
    if (!quick) {
      const unpaced = { scene, width: SOURCE_WIDTH, height: SOURCE_HEIGHT, fps: 0, frames: n.cvchat };
      // Three runs of each, taken in turn, and the median of each compared: one run apiece differs
      // by up to 6% between identical runs on this 2-core VM.
      progress(`adaptive rate: loopback ${SOURCE_WIDTH}x${SOURCE_HEIGHT} unpaced, ${n.cvchat} frames, adaptive and fixed q${QUALITY}, three runs each in turn`);
      const runsOf: { adaptive: RunResult[]; fixed: RunResult[] } = { adaptive: [], fixed: [] };
      for (let i = 0; i < 3; i++) {
        runsOf.adaptive.push(await runCvchat({ ...unpaced, adapt: true }, 'native'));
        runsOf.fixed.push(await runCvchat({ ...unpaced, adapt: false, unsentLimitBytes: 0 }, 'native'));
      }
      const median = (runs: RunResult[]) => [...runs].sort((a, b) => (a.fps ?? 0) - (b.fps ?? 0))[1];
      const loopback = { adaptive: median(runsOf.adaptive), fixed: median(runsOf.fixed), fpsOfEachRun: { adaptive: runsOf.adaptive.map((r) => r.fps), fixed: runsOf.fixed.map((r) => r.fps) } };
      results.adaptiveLoopbackUnpaced = loopback;
      loopbackFps = { adaptive: loopback.adaptive.fps, fixed: loopback.fixed.fps };
      // The seed sends 2.7 MB a frame: a few frames show how it fares, so its runs are short.
      const seedOnLinks: Record<string, RunResult | string> = {};
      for (const rate of [20, 5]) {
        const link = makeLink(rate);
        if (!link) {
          seedOnLinks[`${rate}mbit`] = 'not measured: needs root and network namespaces with tbf';
          continue;
        }
        try {
          progress(`adaptive rate: the seed on steady ${rate} Mbit/s, ${n.seedLinkSeconds} s`);
          seedOnLinks[`${rate}mbit`] = await runSeed({ scene, width: SOURCE_WIDTH, height: SOURCE_HEIGHT, fps: SOURCE_FPS, frames: SOURCE_FPS * n.seedLinkSeconds, seconds: n.seedLinkSeconds, link });
        } finally {
          link.close();
        }
      }
      results.seedOnLinks = seedOnLinks;
      results.plainViewerOn5mbit = await plainViewerRuns(scene);
    }
    results.adaptive = adaptive;
  }

  // The video codec: the bitrate ladder against JPEG, the cost of an encoder per viewer, and the
  // codec on the shaped links and loopback.
  let codec: CodecResults | null = null;
  if (runs('codec')) {
    codec = { ladder: [], fastPanLadder: [], viewers: [], links: {} };
    // Camera-like motion for a codec that predicts from the frame before; the JPEG benchmark's
    // scene (a whole panorama a second and a cut at every loop) is measured too, as the hard case.
    const scene = makeScene(dir, SOURCE_WIDTH, SOURCE_HEIGHT, CODEC_PAN_STEP);
    const fastPan = makeScene(dir, SOURCE_WIDTH, SOURCE_HEIGHT);
    const available = new Set<string>(native().videoCodecs());
    // Up to 16 Mbit/s, above cvchat's ceiling (0.2 bits a pixel, 5.5 Mbit/s here), to find where a codec matches JPEG q80.
    const ladderMbit = quick ? [1, 2, 4] : [0.5, 1, 2, 4, 6, 10, 16];
    const ladder: Array<{ codec: 'jpeg' | 'h264' | 'vp8'; bitrate: number | null }> = [
      { codec: 'jpeg', bitrate: null },
      ...(['h264', 'vp8'] as const).filter((c) => available.has(c)).flatMap((c) => ladderMbit.map((mbit) => ({ codec: c, bitrate: mbit * 1e6 }))),
    ];
    const frames = quick ? 60 : 150;
    const every = quick ? 6 : 5;
    const climb = (sceneFile: string, steps: typeof ladder, into: LadderRun[], what: string) => {
      for (const step of steps) {
        progress(`codec: ${step.codec}${step.bitrate ? ` at ${step.bitrate / 1e6} Mbit/s` : ` q${JPEG_QUALITY}`}, ${frames} frames at ${SOURCE_WIDTH}x${SOURCE_HEIGHT}, ${what}`);
        const sampleDir = fs.mkdtempSync(path.join(dir, 'ladder-'));
        try {
          const out = lastJson(execFileSync(process.execPath, [worker, 'videocodec', sceneFile, String(SOURCE_WIDTH), String(SOURCE_HEIGHT), String(frames), step.codec, String(step.bitrate ?? 0), sampleDir, String(every)]).toString());
          const ssim = [...scoreSsim(sceneFile, SOURCE_WIDTH, SOURCE_HEIGHT, sampleDir).values()];
          into.push({ ...step, ...out, ssim: ssim.length === 0 ? null : ssim.reduce((a, b) => a + b, 0) / ssim.length, ssimFrames: ssim.length } as LadderRun);
        } finally {
          fs.rmSync(sampleDir, { recursive: true, force: true });
        }
      }
    };
    climb(scene, ladder, codec.ladder, 'camera-like pan');
    if (!quick) {
      const hard = ladder.filter((step) => step.codec === 'jpeg' || (step.codec === 'h264' && [2e6, 4e6, 10e6, 16e6].includes(step.bitrate ?? 0)));
      climb(fastPan, hard, codec.fastPanLadder, 'the JPEG scene\'s fast pan');
    }
    const viewerSeconds = quick ? 4 : 8;
    for (const name of (['jpeg', 'h264'] as const).filter((c) => c === 'jpeg' || available.has(c))) {
      for (const viewers of quick ? [1, 2] : [1, 2, 4]) {
        progress(`codec: an encoder per viewer: ${name}, ${viewers} viewer${viewers > 1 ? 's' : ''}, ${viewerSeconds} s`);
        const run = await runCvchatViewers({
          scene, width: SOURCE_WIDTH, height: SOURCE_HEIGHT, fps: SOURCE_FPS, frames: SOURCE_FPS * viewerSeconds, seconds: viewerSeconds + 4, codec: name, viewers,
        }, 'native');
        codec.viewers.push({
          codec: name, viewers, senderCpuMsPerFrame: run.result.senderCpuMs, viewerFps: run.receivers.map((r) => round(r.fps)),
          viewerCpuMsPerFrame: run.receivers.map((r) => round(r.cpuMsPerFrame, 2)), bytesPerFrame: run.result.bytesPerFrame,
        });
      }
    }
    for (const scenario of codecScenarios(quick)) {
      if (scenario.codec !== 'jpeg' && !available.has(scenario.codec)) {
        codec.links[scenario.name] = `not measured: this build has no ${scenario.codec}`;
        continue;
      }
      progress(`codec: ${scenario.label}, ${scenario.seconds} s`);
      const run = await runScenario(scenario, scenario.fastPan ? fastPan : scene, dir);
      if (typeof run === 'string') codec.links[scenario.name] = run;
      else {
        codec.links[scenario.name] = run.result;
        frameLogs[scenario.name] = run.frames;
      }
    }
    results.codec = { ...codec, summary: codecSummary(codec) };
  }
  if (runs('web')) {
    const web: WebRun[] = [];
    for (const codec of ['auto', 'jpeg'] as const) {
      progress(`web: a browser viewer beside a native receiver, 1280x720, --codec ${codec}`);
      web.push(await runWebViewer(codec, quick ? 5 : 15));
    }
    results.web = web;
  }
  if (runs('janus')) {
    const janus = await runJanusBench(quick, { track, undo }, progress);
    if (janus.skipped) progress(`janus: ${janus.skipped}`);
    results.janus = janus;
  }
  xvfb?.stop();
  fs.rmSync(dir, { recursive: true, force: true });

  // Goals, as ratios from this run.
  const res = (name: string) => resolutions[name] as Record<string, RunResult & { limitFps?: number }>;
  const codecFps = (name: string) => (res(name).codec as unknown as { limitFps: number }).limitFps;
  const goals: Goal[] = [];
  // nullMeans 'never': no value because it did not happen (a step that never settled) is a miss.
  const goal = (text: string, value: number | null, target: number, atMost = false, nullMeans: 'not measured' | 'never' = 'not measured') =>
    goals.push({
      goal: text, value, target: `${atMost ? '<=' : '>='} ${target}`,
      met: value === null ? (nullMeans === 'never' ? false : null) : atMost ? value <= target : value >= target,
      ...(value === null && nullMeans === 'never' ? { valueText: 'never' } : {}),
    });
  if (runs('resolutions')) {
    for (const name of ['1280x720', '1920x1080']) goal(`throughput ${name} / codec limit`, ratio(res(name).cvchat.fps, codecFps(name)), 0.8);
    goal('throughput 1280x720 / seed', ratio(res('1280x720').cvchat.fps, res('1280x720').seed.fps), 5);
    goal('throughput 1920x1080 / seed', ratio(res('1920x1080').cvchat.fps, res('1920x1080').seed.fps), 8);
    if (o4nInstalled) {
      goal('throughput 1280x720 / opencv4nodejs as documented', ratio(res('1280x720').cvchat.fps, res('1280x720').opencv4nodejsDocumented.fps), 1.2);
      goal('throughput 1920x1080 / opencv4nodejs as documented', ratio(res('1920x1080').cvchat.fps, res('1920x1080').opencv4nodejsDocumented.fps), 1.2);
    }
    goal('latency p50 ms, 1280x720 at 30 fps, loopback', res('1280x720').cvchatPaced.latencyP50, 15, true);
  }
  if (runs('memory')) {
    const memory = results.memory as Record<string, RunResult>;
    if (o4nInstalled) goal('receiver RSS, opencv4nodejs / cvchat (>1: cvchat uses less)', ratio(memory.opencv4nodejs.receiverRssMb, memory.native.receiverRssMb), 1);
    const mem = memory.native;
    const growth = Math.max((mem.senderRssMb ?? 0) - (mem.senderRssMbAtStart ?? 0), (mem.receiverRssMb ?? 0) - (mem.receiverRssMbAtStart ?? 0));
    goal(`RSS growth MB over ${n.memory} frames (worse side)`, round(growth), 20, true);
  }
  if (results.sources) sourceGoals(results.sources as SourceResults, goal);
  if (adaptive) adaptiveGoals(adaptive, loopbackFps, goal);
  if (codec) codecGoals(codec, goal);
  for (const run of (results.web as WebRun[] | undefined) ?? []) {
    goal(`browser viewer fps / native receiver fps, 1280x720, --codec ${run.codec}`, ratio(run.browser.fps, run.native.fps ?? 0), 0.95);
  }
  results.goals = goals;

  const written = ['results.json', 'results.md'];
  fs.writeFileSync(path.join(outDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  fs.writeFileSync(path.join(outDir, 'results.md'), markdown(results, goals));
  if (Object.keys(resolutions).length > 0) {
    fs.writeFileSync(path.join(outDir, 'throughput.svg'), await render(throughputChartSpec(resolutions)));
    written.push('throughput.svg');
  }
  if (adaptive || codec) {
    // The codec's runs on links are drawn after the JPEG ones, in the same chart.
    fs.writeFileSync(path.join(outDir, 'adaptive.svg'), await render(adaptiveChartSpec({ ...adaptive, ...codec?.links })));
    // Every frame of every scenario, for looking closer at one (not summarised anywhere else).
    fs.writeFileSync(path.join(outDir, 'adaptive-frames.json'), `${JSON.stringify(frameLogs)}\n`);
    written.push('adaptive.svg', 'adaptive-frames.json');
  }
  if (results.sources) {
    fs.writeFileSync(path.join(outDir, 'sources.svg'), await render(sourceChartSpec(results.sources as SourceResults)));
    written.push('sources.svg');
  }
  if (codec && codec.ladder.length > 0) {
    fs.writeFileSync(path.join(outDir, 'codec.svg'), await render(codecChartSpec(codec)));
    written.push('codec.svg');
  }
  undo.delete(dropResults);
  for (const g of goals) process.stdout.write(`${g.met === null ? 'N/A ' : g.met ? 'MET ' : 'MISS'}  ${g.goal}: ${g.valueText ?? g.value ?? '-'} (goal ${g.target})\n`);
  process.stdout.write(`results: ${path.relative(root, outDir)}/ (${written.join(', ')}), ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
}

function markdown(results: Record<string, unknown>, goals: Goal[]): string {
  const resolutions = results.resolutions as Record<string, Record<string, RunResult & { limitFps: number; encodeMs: number; decodeMs: number }>>;
  const fmt = (v: unknown) => (v === null || v === undefined ? '-' : String(v));
  const sections = results.only ? ` (only ${(results.only as string[]).join(', ')})` : '';
  const lines = [`# cvchat benchmark${results.quick ? ' (quick)' : ''}${sections}`, '', `${(results.machine as { cpus: number }).cpus} cores, ${(results.machine as { model: string }).model}, Node ${(results.machine as { node: string }).node}; JPEG quality ${results.quality}; ${results.date}`, ''];
  if (Object.keys(resolutions).length > 0) lines.push(
    'cvchat runs encrypted (TLS 1.2, its default); the seed and the documented opencv4nodejs loop run on the plain wire. The codec limit is OpenCV\'s imencode and imdecode, called from C++ on one thread each. cvchat calls libjpeg-turbo directly (the same bytes and pixels, about twice as fast to decode; its own row shows its times) and decodes two frames at once, so it can pass that limit.', '',
    '| resolution | system | fps (unpaced) | x codec limit | sender CPU ms/frame | receiver CPU ms/frame | bytes/frame | p50 / p99 latency at 30 fps (ms) | time to first frame (ms) |',
    '|---|---|---|---|---|---|---|---|---|');
  for (const [name, r] of Object.entries(resolutions)) {
    const codec = r.codec as unknown as { limitFps: number; encodeMs: number; decodeMs: number; bytesPerFrame: number };
    lines.push(`| ${name} | codec limit (encode ${codec.encodeMs.toFixed(1)} ms, decode ${codec.decodeMs.toFixed(1)} ms) | ${codec.limitFps.toFixed(1)} | 1 | ${codec.encodeMs.toFixed(2)} | ${codec.decodeMs.toFixed(2)} | ${Math.round(codec.bytesPerFrame)} | - | - |`);
    const own = r.cvchatCodec as unknown as CodecTimes | undefined;
    if (own) lines.push(`| ${name} | cvchat's codec, one call at a time (encode ${own.encodeMs.toFixed(1)} ms, decode ${own.decodeMs.toFixed(1)} ms) | ${own.limitFps.toFixed(1)} | ${fmt(ratio(own.limitFps, codec.limitFps))} | ${own.encodeMs.toFixed(2)} | ${own.decodeMs.toFixed(2)} | ${Math.round(own.bytesPerFrame)} | - | - |`);
    const row = (label: string, x: RunResult | undefined, paced?: RunResult) => {
      if (!x) return;
      lines.push(`| ${name} | ${label} | ${fmt(x.fps)} | ${fmt(ratio(x.fps, codec.limitFps))} | ${fmt(x.senderCpuMs)} | ${fmt(x.receiverCpuMs)} | ${fmt(x.bytesPerFrame)} | ${paced ? `${fmt(paced.latencyP50)} / ${fmt(paced.latencyP99)}` : '-'} | ${fmt(x.ttffMs)} |`);
    };
    row('cvchat', r.cvchat, r.cvchatPaced);
    row('cvchat, window (Xvfb)', r.cvchatWindow);
    row("cvchat's loop on opencv4nodejs", r.opencv4nodejs);
    row('opencv4nodejs as documented (unencrypted)', r.opencv4nodejsDocumented);
    row('seed (pickle)', r.seed, r.seedPaced);
  }
  if (results.memory) {
    lines.push('', '## Memory (640x480, unpaced; RSS after warm-up -> at the end)', '', '| backend | frames | sender RSS start -> end (MB) | receiver RSS start -> end (MB) |', '|---|---|---|---|');
    for (const [name, m] of Object.entries(results.memory as Record<string, RunResult>)) {
      lines.push(`| ${name} | ${m.frames} | ${fmt(m.senderRssMbAtStart)} -> ${fmt(m.senderRssMb)} | ${fmt(m.receiverRssMbAtStart)} -> ${fmt(m.receiverRssMb)} |`);
    }
  }
  if (results.adaptive) {
    lines.push('', ...adaptiveMarkdown(results.adaptive as AdaptiveResults));
    const loopback = results.adaptiveLoopbackUnpaced as { adaptive: RunResult; fixed: RunResult } | undefined;
    if (loopback) {
      lines.push('', `Loopback, ${SOURCE_WIDTH}x${SOURCE_HEIGHT} unpaced, the median of three runs each: adaptive ${fmt(loopback.adaptive.fps)} fps, fixed q${results.quality} (as before) ${fmt(loopback.fixed.fps)} fps.`);
    }
    const seed = results.seedOnLinks as Record<string, RunResult | string> | undefined;
    if (seed) {
      lines.push('', "The seed's scripts on the same links (pickled frames of 2.7 MB, so few of them):", '', '| link | fps | latency p50 / p99 (ms) | frames |', '|---|---|---|---|');
      for (const [name, x] of Object.entries(seed)) lines.push(typeof x === 'string' ? `| ${name} | ${x} | | |` : `| ${name} | ${fmt(x.fps)} | ${fmt(x.latencyP50)} / ${fmt(x.latencyP99)} | ${x.frames} |`);
    }
    const plain = results.plainViewerOn5mbit as Record<string, { fps: number | null; latencyP50: number | null; latencyP99: number | null } | string> | undefined;
    if (plain) {
      lines.push('', 'A Python viewer that never ACKs (the plain wire, full frames) on 5 Mbit/s, with and without the limit on the kernel\'s unsent bytes (TCP_NOTSENT_LOWAT):', '', '| sender | fps | latency p50 / p99 (ms) |', '|---|---|---|');
      for (const [name, x] of Object.entries(plain)) lines.push(typeof x === 'string' ? `| ${name} | ${x} | |` : `| ${name === 'unsentLimited' ? 'unsent bytes limited to 64 KB (cvchat)' : "the kernel's default"} | ${fmt(x.fps)} | ${fmt(x.latencyP50)} / ${fmt(x.latencyP99)} |`);
    }
  }
  if (results.sources) lines.push('', ...sourceMarkdown(results.sources as SourceResults));
  if (results.codec) lines.push('', ...codecMarkdown(results.codec as CodecResults));
  if (results.web) lines.push('', ...webMarkdown(results.web as WebRun[]));
  if (results.janus) lines.push('', ...janusMarkdown(results.janus as JanusResults));
  lines.push('', '## Goals', '', '| goal | value | target | |', '|---|---|---|---|');
  for (const g of goals) lines.push(`| ${g.goal} | ${g.valueText ?? fmt(g.value)} | ${g.target} | ${g.met === null ? 'n/a' : g.met ? 'met' : 'missed'} |`);
  return `${lines.join('\n')}\n`;
}

/** A vega-lite spec drawn to SVG. */
async function render(vegaLiteSpec: object): Promise<string> {
  // vega is ESM-only; this file is CommonJS, so load it with a real dynamic import.
  const load = new Function('name', 'return import(name)') as (name: string) => Promise<any>;
  const vega = await load('vega');
  const vegaLite = await load('vega-lite');
  return new vega.View(vega.parse(vegaLite.compile(vegaLiteSpec).spec), { renderer: 'none' }).toSVG();
}

function throughputChartSpec(resolutions: Record<string, Record<string, unknown>>): object {
  const values: Array<{ resolution: string; system: string; fps: number }> = [];
  for (const [name, r] of Object.entries(resolutions)) {
    values.push({ resolution: name, system: 'codec limit (OpenCV)', fps: (r.codec as { limitFps: number }).limitFps });
    if (r.cvchatCodec) values.push({ resolution: name, system: "cvchat's codec, one call at a time", fps: (r.cvchatCodec as CodecTimes).limitFps });
    for (const [key, label] of [['cvchat', 'cvchat'], ['cvchatWindow', 'cvchat + window'], ['opencv4nodejs', "cvchat's loop on opencv4nodejs"], ['opencv4nodejsDocumented', 'opencv4nodejs as documented'], ['seed', 'seed (pickle)']]) {
      const x = r[key] as RunResult | undefined;
      if (x?.fps) values.push({ resolution: name, system: label, fps: x.fps });
    }
  }
  return {
    title: 'Throughput, frames per second (unpaced, same frames)',
    width: 520, height: 260, data: { values },
    mark: 'bar',
    encoding: {
      x: { field: 'resolution', type: 'nominal', sort: Object.keys(resolutions), title: null },
      xOffset: { field: 'system', type: 'nominal' },
      y: { field: 'fps', type: 'quantitative', title: 'fps' },
      color: { field: 'system', type: 'nominal', legend: { labelLimit: 300 } },
    },
  };
}

main().catch((error) => {
  if (stopping) return; // the measurement in progress failed because stopEarly ended it
  process.stderr.write(`bench failed: ${(error as Error).stack}\n`);
  process.exit(1);
});
