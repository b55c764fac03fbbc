// Shared test helpers: real processes, real X servers, real sockets.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { decode, framePixels, openCapture, openVideoWriter } from '../lib/media/video';
import { createListener, dial, type Security } from '../lib/net/tls';

export const execFileP = promisify(execFile);
export const root = path.resolve(__dirname, '..', '..');
export const cli = path.join(root, 'dist', 'lib', 'cli', 'main.js');
/** Debian's python3 with python3-opencv; a pyenv python3 on PATH would lack cv2. */
export const python = '/usr/bin/python3';
/** A shared key for the tests' encrypted sessions. */
export const TEST_KEY = 'cvchat-test-key-2026';

/** Peak signal-to-noise ratio of two pictures' bytes (the same size), in dB; Infinity when equal. */
export function psnr(a: Buffer, b: Buffer): number {
  if (a.length !== b.length) throw new Error(`psnr of pictures of ${a.length} and ${b.length} bytes`);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] - b[i]) ** 2;
  const mse = sum / a.length;
  return mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse);
}

export function tempDir(prefix = 'cvchat-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface Xvfb {
  display: string;
  stop(): void;
}

/**
 * A private X server on a free display number (Xvfb picks it and tells us on a pipe). -noreset:
 * by default Xvfb resets whenever its last client disconnects, and a program connecting during
 * the reset (such as a receiver starting while xdotool polls) is refused, which Qt answers by
 * aborting.
 */
export function startXvfb(): Promise<Xvfb> {
  return new Promise((resolve, reject) => {
    const child = spawn('Xvfb', ['-displayfd', '3', '-screen', '0', '1600x1000x24', '-nolisten', 'tcp', '-noreset'], {
      stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
    });
    let text = '';
    const timer = setTimeout(() => reject(new Error('Xvfb did not start in 10 s')), 10_000);
    child.once('error', reject);
    (child.stdio[3] as NodeJS.ReadableStream).on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes('\n')) {
        clearTimeout(timer);
        resolve({ display: `:${text.trim()}`, stop: () => child.kill() });
      }
    });
  });
}

/** Root with `ip netns`: tests that make hosts in network namespaces can run. */
export function canUseNetns(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it returns a value, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

export async function findWindow(display: string, title: string, timeoutMs = 15_000): Promise<string> {
  return waitFor(`window "${title}"`, async () => {
    try {
      const { stdout } = await execFileP('xdotool', ['search', '--name', `^${title}$`], { env: { ...process.env, DISPLAY: display } });
      const id = stdout.trim().split('\n')[0];
      return id || undefined;
    } catch {
      return undefined;
    }
  }, timeoutMs);
}

export interface Screenshot {
  width: number;
  height: number;
  pixels: Buffer; // BGR
  /** Mean BGR over a box. */
  mean(x: number, y: number, w: number, h: number): [number, number, number];
}

/** The window's content as the X server shows it. */
export async function screenshot(display: string, windowId: string): Promise<Screenshot> {
  const { stdout } = await execFileP('import', ['-window', windowId, 'png:-'], {
    env: { ...process.env, DISPLAY: display },
    encoding: 'buffer',
    maxBuffer: 64 * 1024 * 1024,
  });
  const frame = await decode(stdout as unknown as Buffer);
  const pixels = framePixels(frame);
  const { width, height } = frame;
  frame.release();
  return {
    width,
    height,
    pixels,
    mean(x, y, w, h) {
      const sum = [0, 0, 0];
      for (let row = y; row < y + h; row++) {
        for (let col = x; col < x + w; col++) {
          const at = (row * width + col) * 3;
          sum[0] += pixels[at];
          sum[1] += pixels[at + 1];
          sum[2] += pixels[at + 2];
        }
      }
      const n = w * h;
      return [sum[0] / n, sum[1] / n, sum[2] / n];
    },
  };
}

export function closeTo(actual: number[], expected: number[], tolerance: number): boolean {
  return actual.every((v, i) => Math.abs(v - expected[i]) <= tolerance);
}

export interface CliRun {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): CliRun {
  const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Resolves with the exit code, or kills the process and fails after `timeoutMs`. */
export async function exitWithin(run: CliRun, timeoutMs: number): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      run.child.kill('SIGKILL');
      reject(new Error(`process did not exit within ${timeoutMs} ms; stderr:\n${run.stderr()}`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([run.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function statsLines(stdout: string): Array<Record<string, any>> {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line));
}

/** Records `frames` frames of the test source to an MJPG .avi file and returns its path. */
export async function writeTestClip(frames: number, width: number, height: number, fps: number): Promise<string> {
  const file = path.join(tempDir(), 'clip.avi');
  const writer = await openVideoWriter(file, { width, height, fps, fourcc: 'MJPG' });
  const source = await openCapture({ source: 'test', width, height });
  for (let i = 0; i < frames; i++) {
    const frame = (await source.read())!;
    await writer.write(frame);
    frame.release();
  }
  await writer.release();
  await source.release();
  return file;
}

/**
 * A connected pair of sockets on loopback (after the handshake, in TLS mode): [accepted, dialled].
 * The listener goes into `servers`, for the caller to close.
 */
export async function connectedPair(security: Security, servers: net.Server[]): Promise<[net.Socket, net.Socket]> {
  let accepted: (socket: net.Socket) => void = () => undefined;
  const acceptedSocket = new Promise<net.Socket>((resolve) => (accepted = resolve));
  const server = createListener(security, { connection: (socket) => accepted(socket), refused: () => undefined });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const dialled = await dial(security, { host: '127.0.0.1', port });
  return [await acceptedSocket, dialled];
}
