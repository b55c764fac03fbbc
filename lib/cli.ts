#!/usr/bin/env node
// The command line: a thin layer that turns arguments into options for Sender, Receiver and Chat
// and ties them to a window, signals and exit status.
import { parseArgs, type ParseArgsConfig } from 'node:util';

import type { BackendName } from './backend';
import { getBackend } from './backends';
import { Display } from './display';
import { CvchatError, invalidOption } from './errors';
import { notice } from './log';
import { parseAddress, parseSize, type Address } from './options';
import { ask, canPrompt } from './prompt';
import { Chat } from './chat';
import { Receiver } from './receiver';
import { Sender } from './sender';
import type { Wire } from './protocol';
import { generateKey } from './security';
import { StatsPrinter, type StreamStats } from './stats';
import { displayProblem } from './video';

type Values = Record<string, string | boolean | undefined>;

const COMMON_HELP = `  --no-window            run without a window (also chosen when there is no display)
  --frames N             exit with status 0 after N frames
  --stats                print one JSON stats line a second (and one at exit) on stdout
  --key KEY              the shared key (or set CVCHAT_KEY); a sender makes one when none is given
  --insecure             the seed's plain wire (length + JPEG): NO encryption or authentication;
                         for Python peers and trusted networks only
  --wire pickle          talk to the blog's own Python scripts: numpy pickles instead of JPEG.
                         Implies --insecure. Uncompressed (tens of times more bytes than JPEG)
                         and unauthenticated. cvchat parses these pickles without running them,
                         where Python's pickle.loads would run whatever a peer sends
  --backend NAME         native (default) or opencv4nodejs (install: bash scripts/install-opencv4nodejs.sh)
  -h, --help             this text`;

const SOURCE_HELP = `  --source SRC           camera index, video file, URL, GStreamer pipeline or "test"
                         (default 0, falling back to "test" when no camera opens)
  --size WxH             ask the camera for this size (test source: its size; default 640x480)
  --fps N                frames per second (default: the source's own; test 30; 0: as fast as it gives)
  --quality Q            JPEG quality 1-100 (default 80)
  --loop                 start a video file again at its end
  --label TEXT           test source: text on the picture; its bar colour follows from it`;

const HELP: Record<string, string> = {
  main: `cvchat: live video over TCP with OpenCV windows, after the classic Python socket + cv2 design.

Usage: npm start [command] [-- options]     (or: cvchat [command] [options])

Commands:
  demo       a sender and a receiver on this machine, both windows shown (the default)
  sender     capture and serve video to up to --max-viewers receivers
  receiver   connect to a sender and show its video
  chat       two-way video chat: run it on both machines, each naming the other

In every window: q or Esc leaves; h toggles the HUD; i toggles the chat's own-camera inset.
Run a command with --help for its options.`,
  sender: `Usage: npm start sender [-- options]

Captures video and sends it to every receiver that connects, as 8-byte length + JPEG frames.
Window: "TRANSMITTING VIDEO" (q or Esc to stop).

  --host IP              address to listen on (default 0.0.0.0: all)
  --port N               port to listen on (default 9999)
  --max-viewers N        receivers at once (default 5, the seed's listen backlog)
${SOURCE_HELP}
${COMMON_HELP}`,
  receiver: `Usage: npm start receiver [-- options]

Connects to a sender, waits for it if it is not up yet and reconnects when it restarts.
Window: "RECEIVING VIDEO" (q or Esc to stop, h toggles the HUD).

  --connect HOST:PORT    the sender (default 127.0.0.1:9999)
  --max-frame-bytes N    refuse frames declared larger than this (default 33554432)
  --max-pixels N         refuse images declaring more pixels than this (default 7680x4320)
${COMMON_HELP}`,
  chat: `Usage: npm start chat -- --listen [HOST:]PORT --peer HOST:PORT [options]

Two-way video: each side listens and calls the other, so start order does not matter. The first
connection is kept. Window: "VIDEO CHAT", the partner large and one's own camera as an inset.
q leaves the call on both sides (the partner sees "partner left"); a lost network reconnects.

  --listen [HOST:]PORT   where to accept the partner's call (default 0.0.0.0:9999)
  --peer HOST:PORT       the partner's --listen address (asked for on a terminal)
  --stay                 when the partner leaves, wait for a new call instead of exiting
${SOURCE_HELP}
${COMMON_HELP}`,
  demo: `Usage: npm start [demo] [-- options]

Runs a sender and a receiver on this machine, joined over loopback, with both windows.
Camera 0 when it opens, else the built-in test picture.

${SOURCE_HELP}
${COMMON_HELP}`,
};

const COMMON_OPTIONS: ParseArgsConfig['options'] = {
  help: { type: 'boolean', short: 'h' },
  'no-window': { type: 'boolean' },
  frames: { type: 'string' },
  stats: { type: 'boolean' },
  insecure: { type: 'boolean' },
  key: { type: 'string' },
  wire: { type: 'string' },
  backend: { type: 'string' },
};
const SOURCE_OPTIONS: ParseArgsConfig['options'] = {
  source: { type: 'string' },
  size: { type: 'string' },
  fps: { type: 'string' },
  quality: { type: 'string' },
  loop: { type: 'boolean' },
  label: { type: 'string' },
};
const OPTIONS: Record<string, ParseArgsConfig['options']> = {
  sender: { ...COMMON_OPTIONS, ...SOURCE_OPTIONS, host: { type: 'string' }, port: { type: 'string' }, 'max-viewers': { type: 'string' } },
  receiver: { ...COMMON_OPTIONS, connect: { type: 'string' }, 'max-frame-bytes': { type: 'string' }, 'max-pixels': { type: 'string' } },
  demo: { ...COMMON_OPTIONS, ...SOURCE_OPTIONS },
  chat: { ...COMMON_OPTIONS, ...SOURCE_OPTIONS, listen: { type: 'string' }, peer: { type: 'string' }, stay: { type: 'boolean' } },
};

function integer(values: Values, name: string): number | undefined {
  const text = values[name];
  if (text === undefined) return undefined;
  if (typeof text !== 'string' || !/^\d+$/.test(text)) throw invalidOption(`--${name}`, 'whole number', text);
  return Number(text);
}

function decimal(values: Values, name: string): number | undefined {
  const text = values[name];
  if (text === undefined) return undefined;
  const value = Number(text);
  if (typeof text !== 'string' || text.trim() === '' || !Number.isFinite(value)) throw invalidOption(`--${name}`, 'number', text);
  return value;
}

function backendOption(values: Values): BackendName {
  const name = values.backend ?? 'native';
  if (name !== 'native' && name !== 'opencv4nodejs') throw invalidOption('--backend', "'native' or 'opencv4nodejs'", name);
  return name;
}

function sourceOptions(values: Values) {
  const size = values.size === undefined ? undefined : parseSize('--size', values.size);
  return {
    source: values.source as string | undefined,
    width: size?.width,
    height: size?.height,
    fps: decimal(values, 'fps'),
    quality: integer(values, 'quality'),
    loop: values.loop === true ? true : undefined,
    label: values.label as string | undefined,
  };
}

/** A window when asked for and possible; otherwise headless, saying why. */
function makeDisplay(values: Values, backend: BackendName, events: ConstructorParameters<typeof Display>[1]): Display | undefined {
  if (values['no-window']) return undefined;
  const problem = displayProblem();
  if (problem) {
    notice(`running without a window: ${problem}`);
    return undefined;
  }
  return new Display(getBackend(backend), events);
}

function describeError(error: unknown): string {
  const { message, code } = error as CvchatError;
  return `${message}${code ? ` [${code}]` : ''}`;
}

function warnInsecure(values: Values): void {
  if (values.insecure) notice('WARNING --insecure: video travels unencrypted and anyone who reaches the port can watch or send');
}

/** --wire pickle is the seed's plain wire: it implies --insecure, and says what that costs. */
function applyWire(values: Values): void {
  const wire = values.wire ?? 'jpeg';
  if (wire !== 'jpeg' && wire !== 'pickle') throw invalidOption('--wire', "'jpeg' or 'pickle'", wire);
  if (wire !== 'pickle') return;
  if (values.key !== undefined) throw new CvchatError('CVCHAT_INVALID_OPTION', '--wire pickle has no encryption, so --key cannot apply: drop one of them');
  values.insecure = true;
  notice("--wire pickle: the blog's numpy pickles, uncompressed and unauthenticated (implies --insecure); cvchat parses them without running them");
}

function wireOption(values: Values): Wire {
  return values.wire === 'pickle' ? 'pickle' : 'jpeg';
}

/** --key, else CVCHAT_KEY, else undefined. */
function keyOption(values: Values): string | undefined {
  if (values.insecure) {
    if (values.key !== undefined) throw new CvchatError('CVCHAT_INVALID_OPTION', '--key and --insecure contradict each other: choose one');
    return undefined;
  }
  const key = (values.key as string | undefined) ?? process.env.CVCHAT_KEY;
  return key === '' ? undefined : key;
}

function announceKey(key: string, otherSide: string): void {
  notice(`no --key given, so this session's key is:  ${key}`);
  notice(`on the other machine run:  ${otherSide} --key ${key}`);
}

/** Runs until `done` settles or a signal / q arrives; returns the exit status. */
async function supervise(
  parts: { stop(): Promise<void> | void; done: Promise<unknown> },
  stats: Array<{ stats: StreamStats | undefined; extra?: () => Record<string, unknown> }>,
  values: Values,
  display: Display | undefined,
): Promise<number> {
  const printer = new StatsPrinter(
    stats.filter((s) => s.stats).map((s) => ({ stats: s.stats as StreamStats, extra: s.extra })),
    values.stats === true,
  );
  printer.start();
  const onSignal = () => void parts.stop();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await parts.done;
    return 0;
  } catch (error) {
    notice(describeError(error));
    return 1;
  } finally {
    await parts.stop();
    display?.close();
    printer.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function runSender(values: Values): Promise<number> {
  let host = values.host as string | undefined;
  let port = integer(values, 'port');
  if (host === undefined && port === undefined && canPrompt()) {
    const [h, p] = await ask([
      { text: 'Enter your IP', fallback: '0.0.0.0' },
      { text: 'Enter your port', fallback: '9999' },
    ]);
    host = h;
    port = integer({ port: p }, 'port');
  }
  const backend = backendOption(values);
  let sender: Sender | undefined;
  const display = makeDisplay(values, backend, { quit: () => void sender?.stop() });
  sender = new Sender({
    ...sourceOptions(values),
    wire: wireOption(values),
    key: keyOption(values),
    insecure: values.insecure === true,
    host,
    port,
    maxViewers: integer(values, 'max-viewers'),
    frames: integer(values, 'frames'),
    backend,
    display,
  });
  warnInsecure(values);
  await sender.start();
  const s = sender;
  if (s.keyGenerated && s.security.mode === 'tls') {
    announceKey(s.security.key, `npm start receiver -- --connect ${host === undefined || host === '0.0.0.0' ? 'THIS_MACHINE' : host}:${s.port}`);
  }
  return supervise({ stop: () => s.stop(), done: s.run() }, [{ stats: s.stats, extra: () => ({ dropped: s.dropped, viewers: s.viewerCount }) }], values, display);
}

async function runReceiver(values: Values): Promise<number> {
  let connect: Address | undefined = values.connect === undefined ? undefined : parseAddress('--connect', values.connect);
  if (!connect && canPrompt()) {
    const [host, port] = await ask([
      { text: "Enter the sender's IP", fallback: '127.0.0.1' },
      { text: "Enter the sender's port", fallback: '9999' },
    ]);
    connect = parseAddress('address', `${host}:${port}`);
  }
  let key = keyOption(values);
  if (key === undefined && !values.insecure && canPrompt()) [key] = await ask([{ text: 'Enter the key the sender printed', fallback: '' }]);
  const backend = backendOption(values);
  let receiver: Receiver | undefined;
  const display = makeDisplay(values, backend, { quit: () => receiver?.stop(), key: (k) => receiver?.onKey(k) });
  receiver = new Receiver({
    wire: wireOption(values),
    key: key === '' ? undefined : key,
    insecure: values.insecure === true,
    connect,
    frames: integer(values, 'frames'),
    maxFrameBytes: integer(values, 'max-frame-bytes'),
    maxPixels: integer(values, 'max-pixels'),
    backend,
    display,
  });
  warnInsecure(values);
  const r = receiver;
  return supervise({ stop: () => r.stop(), done: r.run() }, [{ stats: r.stats }], values, display);
}

async function runChat(values: Values): Promise<number> {
  let listen = values.listen === undefined ? undefined : parseAddress('--listen', values.listen, '0.0.0.0');
  let peer = values.peer === undefined ? undefined : parseAddress('--peer', values.peer);
  if ((!listen || !peer) && canPrompt()) {
    const questions = [];
    if (!listen) questions.push({ text: 'Enter your IP', fallback: '0.0.0.0' }, { text: 'Enter your port', fallback: '9999' });
    if (!peer) questions.push({ text: "Enter your partner's IP", fallback: '127.0.0.1' }, { text: "Enter your partner's port", fallback: '9999' });
    const answers = await ask(questions);
    if (!listen) listen = parseAddress('address', `${answers.shift()}:${answers.shift()}`);
    if (!peer) peer = parseAddress("partner's address", `${answers.shift()}:${answers.shift()}`);
  }
  if (!peer) throw invalidOption('--peer', "HOST:PORT (your partner's --listen address)", undefined);
  let key = keyOption(values);
  if (key === undefined && !values.insecure && canPrompt()) {
    [key] = await ask([{ text: "Enter the key your partner printed (empty: make one)", fallback: '' }]);
  }
  if (!key && !values.insecure) {
    key = generateKey();
    announceKey(key, `npm start chat -- --listen ${peer.port} --peer THIS_MACHINE:${listen?.port ?? 9999}`);
  }
  const backend = backendOption(values);
  let chat: Chat | undefined;
  const display = makeDisplay(values, backend, { quit: () => chat?.stop(), key: (k) => chat?.onKey(k) });
  chat = new Chat({
    ...sourceOptions(values),
    wire: wireOption(values),
    key: key || undefined,
    insecure: values.insecure === true,
    listen,
    peer,
    frames: integer(values, 'frames'),
    stay: values.stay === true,
    backend,
    display,
  });
  warnInsecure(values);
  await chat.start();
  const c = chat;
  return supervise({ stop: () => c.stop(), done: c.run() }, [
    { stats: c.sent, extra: () => ({ dropped: c.dropped }) },
    { stats: c.received, extra: () => ({ rttMs: c.rttMs === null ? null : Math.round(c.rttMs * 100) / 100 }) },
  ], values, display);
}

async function runDemo(values: Values): Promise<number> {
  const backend = backendOption(values);
  let stop: () => Promise<void> = async () => undefined;
  let receiver: Receiver | undefined;
  const display = makeDisplay(values, backend, { quit: () => void stop(), key: (k) => receiver?.onKey(k) });
  // One process, both ends: a fresh key unless the user gave one.
  const security = values.insecure ? { insecure: true, wire: wireOption(values) } : { key: keyOption(values) ?? generateKey() };
  const sender = new Sender({ ...sourceOptions(values), ...security, host: '127.0.0.1', port: 0, backend, display });
  await sender.start();
  receiver = new Receiver({ ...security, connect: { host: '127.0.0.1', port: sender.port }, frames: integer(values, 'frames'), backend, display });
  const r = receiver;
  stop = async () => {
    r.stop();
    await sender.stop();
  };
  // The demo ends when the receiver has its frames or q is pressed; the sender runs until then.
  const senderDone = sender.run();
  const done = r.run().finally(() => sender.stop());
  return supervise({ stop, done: Promise.all([done, senderDone]) },
    [{ stats: sender.stats, extra: () => ({ dropped: sender.dropped }) }, { stats: r.stats }], values, display);
}

export async function main(argv: string[]): Promise<number> {
  const first = argv[0];
  const command = first === undefined || first.startsWith('-') ? 'demo' : first;
  const rest = command === first ? argv.slice(1) : argv;
  if (command === 'help') {
    process.stdout.write(`${HELP.main}\n`);
    return 0;
  }
  const options = OPTIONS[command];
  if (!options) {
    notice(`unknown command '${command}'. Commands: demo, sender, receiver, chat (see --help)`);
    return 2;
  }
  let values: Values;
  try {
    values = parseArgs({ args: rest, options, strict: true, allowPositionals: false }).values as Values;
  } catch (error) {
    notice(`${(error as Error).message}. See: npm start ${command} -- --help`);
    return 2;
  }
  try {
    applyWire(values);
  } catch (error) {
    notice(describeError(error));
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${command === 'demo' && first === undefined ? HELP.main : HELP[command]}\n`);
    return 0;
  }
  try {
    if (command === 'sender') return await runSender(values);
    if (command === 'receiver') return await runReceiver(values);
    if (command === 'chat') return await runChat(values);
    return await runDemo(values);
  } catch (error) {
    notice(describeError(error));
    return (error as CvchatError).code === 'CVCHAT_INVALID_OPTION' ? 2 : 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((status) => {
    // Exit explicitly: GUI toolkit threads must not keep a finished process alive.
    process.stdout.write('', () => process.exit(status));
  });
}
