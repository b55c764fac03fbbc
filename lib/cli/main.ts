#!/usr/bin/env node
// The command line: a thin layer that turns arguments into options for Sender, Receiver and Chat
// and ties them to a window, signals and exit status.
import { parseArgs } from 'node:util';

import { parseAddress, type Address } from '../base/address';
import { CvchatError, invalidOption } from '../base/errors';
import { notice } from '../base/log';
import type { BackendName } from '../media/backend';
import { getBackend } from '../media/backends';
import { Display, type DisplayEvents } from '../media/display';
import { displayProblem } from '../media/video';
import { Chat } from '../session/chat/chat';
import { Receiver } from '../session/receiver';
import type { Recording } from '../session/record';
import { Sender } from '../session/sender';
import { StatsPrinter, type StreamStats } from '../session/stats';
import { applyWire, backendOption, codecOption, integer, keyOption, limitOptions, OPTIONS, securityOptions, sourceOptions, publishOption, webOption, type Values } from './args';
import { COMMAND_HELP, MAIN_HELP, type Command } from './help';
import { ask, canPrompt } from './prompt';

/** A window when asked for and possible; otherwise headless, saying why. */
function makeDisplay(values: Values, backend: BackendName, events: DisplayEvents): Display | undefined {
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

/** --stats: what is being recorded, when --record is on. */
function recordingExtra(recording: Recording | undefined): Record<string, unknown> {
  return recording ? { recording: recording.status } : {};
}

function warnInsecure(values: Values): void {
  if (values.insecure) notice('WARNING --insecure: video travels unencrypted and anyone who reaches the port can watch or send');
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
    codec: codecOption(values), ...securityOptions(values, keyOption(values)),
    host,
    port,
    maxViewers: integer(values, 'max-viewers'),
    frames: integer(values, 'frames'),
    web: webOption(values),
    publish: publishOption(values),
    record: values.record as string | undefined,
    backend,
    display,
  });
  warnInsecure(values);
  await sender.start();
  const s = sender;
  if (s.keyGenerated && s.security.mode === 'tls') {
    announceKey(s.security.key, `npm start receiver -- --connect ${host === undefined || host === '0.0.0.0' ? 'THIS_MACHINE' : host}:${s.port}`);
  }
  return supervise({ stop: () => s.stop(), done: s.run() }, [{ stats: s.stats, extra: () => ({ dropped: s.dropped, viewers: s.viewerCount, sending: s.viewerStates(), ...(s.publishing ? { publishing: s.publishing } : {}), ...s.sourceStatus(), ...recordingExtra(s.recording) }) }], values, display);
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
    codec: codecOption(values), ...securityOptions(values, key),
    ...limitOptions(values),
    connect,
    frames: integer(values, 'frames'),
    record: values.record as string | undefined,
    backend,
    display,
  });
  warnInsecure(values);
  const r = receiver;
  return supervise({ stop: () => r.stop(), done: r.run() }, [{ stats: r.stats, extra: () => ({ receiving: r.receiving ?? null, ...recordingExtra(r.recording) }) }], values, display);
}

async function runChat(values: Values): Promise<number> {
  let listen = values.listen === undefined ? undefined : parseAddress('--listen', values.listen, '0.0.0.0');
  let peer = values.peer === undefined ? undefined : parseAddress('--peer', values.peer);
  const web = webOption(values);
  // With --web a browser may be the partner: no --peer to ask for, and --listen keeps its default.
  if (!web && (!listen || !peer) && canPrompt()) {
    const questions = [];
    if (!listen) questions.push({ text: 'Enter your IP', fallback: '0.0.0.0' }, { text: 'Enter your port', fallback: '9999' });
    if (!peer) questions.push({ text: "Enter your partner's IP", fallback: '127.0.0.1' }, { text: "Enter your partner's port", fallback: '9999' });
    const answers = await ask(questions);
    if (!listen) listen = parseAddress('address', `${answers.shift()}:${answers.shift()}`);
    if (!peer) peer = parseAddress("partner's address", `${answers.shift()}:${answers.shift()}`);
  }
  if (!peer && !web) throw invalidOption('--peer', "HOST:PORT (your partner's --listen address; or give --web PORT for a browser)", undefined);
  let key = keyOption(values);
  // A browser partner (--web without --peer) gets the key in the page's address: nothing to ask.
  if (key === undefined && !values.insecure && peer && canPrompt()) {
    [key] = await ask([{ text: 'Enter the key your partner printed (empty: make one)', fallback: '' }]);
  }
  const backend = backendOption(values);
  let chat: Chat | undefined;
  const display = makeDisplay(values, backend, { quit: () => chat?.stop(), key: (k) => chat?.onKey(k) });
  chat = new Chat({
    ...sourceOptions(values),
    codec: codecOption(values), ...securityOptions(values, key),
    ...limitOptions(values),
    listen,
    peer,
    web,
    frames: integer(values, 'frames'),
    stay: values.stay === true,
    record: values.record as string | undefined,
    backend,
    display,
  });
  const c = chat;
  // A browser's partner gets the key in the page's address instead (printed at start).
  if (c.keyGenerated && c.security.mode === 'tls' && peer) {
    announceKey(c.security.key, `npm start chat -- --listen ${peer.port} --peer THIS_MACHINE:${c.listen.port}`);
  }
  warnInsecure(values);
  await c.start();
  return supervise({ stop: () => c.stop(), done: c.run() }, [
    { stats: c.sent, extra: () => ({ dropped: c.dropped, sending: c.sending }) },
    { stats: c.received, extra: () => ({ rttMs: c.rttMs === null ? null : Math.round(c.rttMs * 100) / 100, ...recordingExtra(c.recording) }) },
  ], values, display);
}

async function runDemo(values: Values): Promise<number> {
  const backend = backendOption(values);
  let stop: () => Promise<void> = async () => undefined;
  let receiver: Receiver | undefined;
  const display = makeDisplay(values, backend, { quit: () => void stop(), key: (k) => receiver?.onKey(k) });
  // One process, both ends: the sender makes a key unless the user gave one, and the receiver uses it.
  const sender = new Sender({ ...sourceOptions(values), codec: codecOption(values), ...securityOptions(values, keyOption(values)), host: '127.0.0.1', port: 0, backend, display });
  await sender.start();
  const key = sender.security.mode === 'tls' ? sender.security.key : undefined;
  receiver = new Receiver({ codec: codecOption(values), ...securityOptions(values, key), connect: { host: '127.0.0.1', port: sender.port }, frames: integer(values, 'frames'), backend, display });
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

function isCommand(name: string): name is Command {
  return Object.hasOwn(OPTIONS, name);
}

export async function main(argv: string[]): Promise<number> {
  const first = argv[0];
  if (first === 'help' || first === '--help' || first === '-h') {
    process.stdout.write(`${MAIN_HELP}\n`);
    return 0;
  }
  const command = first === undefined || first.startsWith('-') ? 'demo' : first;
  const rest = command === first ? argv.slice(1) : argv;
  if (!isCommand(command)) {
    notice(`unknown command '${command}'. Commands: demo, sender, receiver, chat (see --help)`);
    return 2;
  }
  let values: Values;
  try {
    values = parseArgs({ args: rest, options: OPTIONS[command], strict: true, allowPositionals: false }).values as Values;
  } catch (error) {
    notice(`${(error as Error).message}. See: npm start ${command} -- --help`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${COMMAND_HELP[command]}\n`);
    return 0;
  }
  try {
    applyWire(values);
  } catch (error) {
    notice(describeError(error));
    return 2;
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
