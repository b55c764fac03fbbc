// npm run bench [-- --quick]: cvchat against the seed's design, the opencv4nodejs backend and the
// codec's own limit, on the same frames, in one run. Writes JSON, a Markdown table and an SVG chart
// to bench-results/, and prints one line per goal. Timing goals live here, never in the tests.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '..', '..', '..');
const quick = process.argv.includes('--quick');
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

function summarise(rx: { fps: number; cpuMsPerFrame: number; bytesPerFrame: number; latencyMs: number[]; ttffMs: number; frames: number; rssMb: number; rssMbAtWarm?: number }, tx: { cpuMsPerFrame: number; rssMb: number; rssMbAtJoin?: number } | null): RunResult {
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
}

async function runCvchat(spec: RunSpec, backend: 'native' | 'opencv4nodejs', display?: string): Promise<RunResult> {
  const port = nextPort();
  const env = { DISPLAY: display ?? '', QT_QPA_PLATFORM: '', CVCHAT_OPENCV4NODEJS_DIR: process.env.CVCHAT_OPENCV4NODEJS_DIR ?? path.join(root, '.opencv4nodejs') };
  const warm = String(spec.warmFrames ?? 0);
  const tx = spawnProcess(process.execPath, [worker, 'sender', spec.scene, String(spec.width), String(spec.height), String(port), String(spec.fps), backend, warm], env, spec.link?.sender);
  await waitForLine(tx.out, /"ready"/);
  const rx = spawnProcess(process.execPath, [worker, 'receiver', spec.link?.address ?? '127.0.0.1', String(port), String(spec.frames), backend, display ? 'window' : 'none', String(spec.seconds ?? 0), warm], env, spec.link?.receiver);
  await rx.exited;
  tx.child.kill('SIGTERM');
  await tx.exited;
  return summarise(lastJson(rx.out()), lastJson(tx.out()));
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

function makeScene(dir: string, width: number, height: number): string {
  const file = path.join(dir, `scene-${width}x${height}.raw`);
  if (!fs.existsSync(file)) execFileSync(python, [benchFile('scene.py'), String(width), String(height), '30', file]);
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

const ratio = (a: number | null | undefined, b: number | null | undefined) => (a && b ? Math.round((a / b) * 100) / 100 : null);

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cvchat-bench-'));
  const outDir = path.join(root, 'bench-results', new Date().toISOString().replace(/[:.]/g, '-') + (quick ? '-quick' : ''));
  fs.mkdirSync(outDir, { recursive: true });
  // Stopped early, the run leaves neither its scenes nor a results folder without results.
  undo.add(() => fs.rmSync(dir, { recursive: true, force: true }));
  const dropResults = () => fs.rmSync(outDir, { recursive: true, force: true });
  undo.add(dropResults);
  const o4nInstalled = fs.existsSync(path.join(process.env.CVCHAT_OPENCV4NODEJS_DIR ?? path.join(root, '.opencv4nodejs'), 'node_modules', '@u4', 'opencv4nodejs'));
  const xvfb = await startXvfb();
  const codecTool = buildCodecLimit(dir);
  const n = quick ? { cvchat: 120, seed: [20, 10, 6], latency: 60, memory: 2000, linkSeconds: 6 } : { cvchat: 600, seed: [60, 30, 20], latency: 300, memory: 10_000, linkSeconds: 20 };
  const results: Record<string, unknown> = { quick, date: new Date().toISOString(), machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version }, quality: QUALITY, resolutions: {} as Record<string, unknown> };
  const resolutions = results.resolutions as Record<string, Record<string, unknown>>;

  for (const [index, [width, height]] of RESOLUTIONS.entries()) {
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
  progress(`memory: cvchat over ${n.memory} frames at 640x480, after ${WARM} frames of warm-up`);
  const memoryScene = makeScene(dir, 640, 480);
  const memorySpec = { scene: memoryScene, width: 640, height: 480, fps: 0, frames: n.memory + WARM, warmFrames: WARM };
  results.memory = {
    native: await runCvchat(memorySpec, 'native'),
    ...(o4nInstalled ? { opencv4nodejs: await runCvchat(memorySpec, 'opencv4nodejs') } : {}),
  };

  const links: Record<string, unknown> = {};
  for (const rate of [20, 5]) {
    const link = makeLink(rate);
    if (!link) {
      links[`${rate}mbit`] = 'not measured: needs root and network namespaces with tbf';
      continue;
    }
    try {
      const scene = makeScene(dir, 1280, 720);
      progress(`slow link ${rate} Mbit/s: cvchat at 720p, 30 fps, ${n.linkSeconds} s`);
      const cvchat = await runCvchat({ scene, width: 1280, height: 720, fps: 30, frames: 30 * n.linkSeconds, seconds: n.linkSeconds, link }, 'native');
      progress(`slow link ${rate} Mbit/s: the seed at 720p, 30 fps, ${n.linkSeconds} s`);
      const seed = await runSeed({ scene, width: 1280, height: 720, fps: 30, frames: 30 * n.linkSeconds, seconds: n.linkSeconds, link });
      links[`${rate}mbit`] = { cvchat, seed };
    } finally {
      link.close();
    }
  }
  results.slowLink = links;
  xvfb?.stop();
  fs.rmSync(dir, { recursive: true, force: true });

  // Goals, as ratios from this run.
  const res = (name: string) => resolutions[name] as Record<string, RunResult & { limitFps?: number }>;
  const codecFps = (name: string) => (res(name).codec as unknown as { limitFps: number }).limitFps;
  const goals: Array<{ goal: string; value: number | null; target: string; met: boolean | null }> = [];
  const goal = (text: string, value: number | null, target: number, atMost = false) =>
    goals.push({ goal: text, value, target: `${atMost ? '<=' : '>='} ${target}`, met: value === null ? null : atMost ? value <= target : value >= target });
  for (const name of ['1280x720', '1920x1080']) goal(`throughput ${name} / codec limit`, ratio(res(name).cvchat.fps, codecFps(name)), 0.8);
  goal('throughput 1280x720 / seed', ratio(res('1280x720').cvchat.fps, res('1280x720').seed.fps), 5);
  goal('throughput 1920x1080 / seed', ratio(res('1920x1080').cvchat.fps, res('1920x1080').seed.fps), 8);
  if (o4nInstalled) {
    goal('throughput 1280x720 / opencv4nodejs as documented', ratio(res('1280x720').cvchat.fps, res('1280x720').opencv4nodejsDocumented.fps), 1.2);
    goal('throughput 1920x1080 / opencv4nodejs as documented', ratio(res('1920x1080').cvchat.fps, res('1920x1080').opencv4nodejsDocumented.fps), 1.2);
    const mem = results.memory as Record<string, RunResult>;
    goal('receiver RSS, opencv4nodejs / cvchat (>1: cvchat uses less)', ratio(mem.opencv4nodejs.receiverRssMb, mem.native.receiverRssMb), 1);
  }
  goal('latency p50 ms, 1280x720 at 30 fps, loopback', res('1280x720').cvchatPaced.latencyP50, 15, true);
  const link20 = links['20mbit'] as { cvchat: RunResult } | string;
  if (typeof link20 !== 'string') {
    goal('fps delivered on 20 Mbit/s at 720p', link20.cvchat.fps, 20);
    goal('latency p99 ms on 20 Mbit/s at 720p', link20.cvchat.latencyP99, 200, true);
  }
  const mem = (results.memory as Record<string, RunResult>).native;
  const growth = Math.max((mem.senderRssMb ?? 0) - (mem.senderRssMbAtStart ?? 0), (mem.receiverRssMb ?? 0) - (mem.receiverRssMbAtStart ?? 0));
  goal(`RSS growth MB over ${n.memory} frames (worse side)`, round(growth), 20, true);
  results.goals = goals;

  fs.writeFileSync(path.join(outDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  fs.writeFileSync(path.join(outDir, 'results.md'), markdown(results, goals));
  fs.writeFileSync(path.join(outDir, 'throughput.svg'), await chart(resolutions));
  undo.delete(dropResults);
  for (const g of goals) process.stdout.write(`${g.met === null ? 'N/A ' : g.met ? 'MET ' : 'MISS'}  ${g.goal}: ${g.value ?? '-'} (goal ${g.target})\n`);
  process.stdout.write(`results: ${path.relative(root, outDir)}/ (results.json, results.md, throughput.svg), ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
}

function markdown(results: Record<string, unknown>, goals: Array<{ goal: string; value: number | null; target: string; met: boolean | null }>): string {
  const resolutions = results.resolutions as Record<string, Record<string, RunResult & { limitFps: number; encodeMs: number; decodeMs: number }>>;
  const fmt = (v: unknown) => (v === null || v === undefined ? '-' : String(v));
  const lines = [`# cvchat benchmark${results.quick ? ' (quick)' : ''}`, '', `${(results.machine as { cpus: number }).cpus} cores, ${(results.machine as { model: string }).model}, Node ${(results.machine as { node: string }).node}; JPEG quality ${results.quality}; ${results.date}`, '',
    'cvchat runs encrypted (TLS 1.2, its default); the seed and the documented opencv4nodejs loop run on the plain wire. The codec limit is OpenCV\'s imencode and imdecode, called from C++ on one thread each. cvchat calls libjpeg-turbo directly (the same bytes and pixels, about twice as fast to decode; its own row shows its times) and decodes two frames at once, so it can pass that limit.', '',
    '| resolution | system | fps (unpaced) | x codec limit | sender CPU ms/frame | receiver CPU ms/frame | bytes/frame | p50 / p99 latency at 30 fps (ms) | time to first frame (ms) |',
    '|---|---|---|---|---|---|---|---|---|'];
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
  lines.push('', '## Memory (640x480, unpaced; RSS after warm-up -> at the end)', '', '| backend | frames | sender RSS start -> end (MB) | receiver RSS start -> end (MB) |', '|---|---|---|---|');
  for (const [name, m] of Object.entries(results.memory as Record<string, RunResult>)) {
    lines.push(`| ${name} | ${m.frames} | ${fmt(m.senderRssMbAtStart)} -> ${fmt(m.senderRssMb)} | ${fmt(m.receiverRssMbAtStart)} -> ${fmt(m.receiverRssMb)} |`);
  }
  lines.push('', '## Slow link (720p, paced at 30 fps, network namespaces with tbf)', '', '| link | system | fps delivered | latency p50 / p99 (ms) | p50 first half -> second half (ms) |', '|---|---|---|---|---|');
  for (const [name, l] of Object.entries(results.slowLink as Record<string, { cvchat: RunResult; seed: RunResult } | string>)) {
    if (typeof l === 'string') {
      lines.push(`| ${name} | ${l} | | | |`);
      continue;
    }
    for (const [system, x] of [['cvchat', l.cvchat], ['seed', l.seed]] as const) {
      lines.push(`| ${name} | ${system} | ${fmt(x.fps)} | ${fmt(x.latencyP50)} / ${fmt(x.latencyP99)} | ${fmt(x.latencyP50FirstHalf)} -> ${fmt(x.latencyP50SecondHalf)} |`);
    }
  }
  lines.push('', '## Goals', '', '| goal | value | target | |', '|---|---|---|---|');
  for (const g of goals) lines.push(`| ${g.goal} | ${fmt(g.value)} | ${g.target} | ${g.met === null ? 'n/a' : g.met ? 'met' : 'missed'} |`);
  return `${lines.join('\n')}\n`;
}

async function chart(resolutions: Record<string, Record<string, unknown>>): Promise<string> {
  // vega is ESM-only; this file is CommonJS, so load it with a real dynamic import.
  const load = new Function('name', 'return import(name)') as (name: string) => Promise<any>;
  const vega = await load('vega');
  const vegaLite = await load('vega-lite');
  const values: Array<{ resolution: string; system: string; fps: number }> = [];
  for (const [name, r] of Object.entries(resolutions)) {
    values.push({ resolution: name, system: 'codec limit (OpenCV)', fps: (r.codec as { limitFps: number }).limitFps });
    if (r.cvchatCodec) values.push({ resolution: name, system: "cvchat's codec, one call at a time", fps: (r.cvchatCodec as CodecTimes).limitFps });
    for (const [key, label] of [['cvchat', 'cvchat'], ['cvchatWindow', 'cvchat + window'], ['opencv4nodejs', "cvchat's loop on opencv4nodejs"], ['opencv4nodejsDocumented', 'opencv4nodejs as documented'], ['seed', 'seed (pickle)']]) {
      const x = r[key] as RunResult | undefined;
      if (x?.fps) values.push({ resolution: name, system: label, fps: x.fps });
    }
  }
  const spec = vegaLite.compile({
    title: 'Throughput, frames per second (unpaced, same frames)',
    width: 520, height: 260, data: { values },
    mark: 'bar',
    encoding: {
      x: { field: 'resolution', type: 'nominal', sort: Object.keys(resolutions), title: null },
      xOffset: { field: 'system', type: 'nominal' },
      y: { field: 'fps', type: 'quantitative', title: 'fps' },
      color: { field: 'system', type: 'nominal', legend: { labelLimit: 300 } },
    },
  }).spec;
  return new vega.View(vega.parse(spec), { renderer: 'none' }).toSVG();
}

main().catch((error) => {
  if (stopping) return; // the measurement in progress failed because stopEarly ended it
  process.stderr.write(`bench failed: ${(error as Error).stack}\n`);
  process.exit(1);
});
