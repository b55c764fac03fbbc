// The commands as a user runs them: separate processes, real windows under Xvfb, keys from xdotool.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';

import {
  cli,
  closeTo,
  execFileP,
  exitWithin,
  findWindow,
  freePort,
  runCli,
  screenshot,
  startXvfb,
  statsLines,
  TEST_KEY,
  tempDir,
  waitFor,
  writeTestClip,
  type CliRun,
  type Xvfb,
} from './helpers';

const ORANGE: [number, number, number] = [0, 140, 255]; // the test source's default bar (BGR)

/** Where --web keeps its certificate in these runs (not the user's ~/.config). */
const configDir = tempDir('cvchat-cli-config-');

function headless(): NodeJS.ProcessEnv {
  return { DISPLAY: '', WAYLAND_DISPLAY: '', QT_QPA_PLATFORM: '', CVCHAT_CONFIG_DIR: configDir };
}

/**
 * Waits until the window shows the test picture: the orange bar on top, and not the placeholder.
 * Xvfb has no window manager, so windows of separate processes open on top of each other; the
 * window is first moved to `x` (as a user would drag it) so that the grab sees only it.
 */
async function expectPicture(display: string, title: string, x = 0) {
  const id = await findWindow(display, title);
  await execFileP('xdotool', ['windowmove', id, String(x), '0'], { env: { ...process.env, DISPLAY: display } });
  const shot = await waitFor(`the picture in "${title}"`, async () => {
    const s = await screenshot(display, id);
    const bar = s.mean(10, 5, s.width - 20, 10);
    return s.width >= 640 && closeTo(bar, ORANGE, 25) ? s : undefined;
  });
  return { id, shot };
}

/** A sender's and a receiver's windows, each showing the test picture, set apart (both open at the same spot). */
async function bothWindows(display: string, sender: CliRun, receiver: CliRun) {
  const describeRun = (error: Error) => {
    throw new Error(`${error.message}\nsender: ${sender.stderr()}\nreceiver: ${receiver.stderr()}`);
  };
  await findWindow(display, 'TRANSMITTING VIDEO', 30_000).catch(describeRun);
  await findWindow(display, 'RECEIVING VIDEO', 30_000).catch(describeRun);
  const rx = await expectPicture(display, 'RECEIVING VIDEO', 700).catch(describeRun);
  const tx = await expectPicture(display, 'TRANSMITTING VIDEO', 0).catch(describeRun);
  return { rx, tx };
}

describe('sender and receiver in real windows', () => {
  let xvfb: Xvfb;
  before(async () => {
    xvfb = await startXvfb();
  });
  after(() => xvfb?.stop());

  it('show live video in both windows, and q ends each with status 0', async () => {
    const port = await freePort();
    const env = { ...headless(), DISPLAY: xvfb.display };
    const sender = runCli(['sender', '--source', 'test', '--port', String(port), '--host', '127.0.0.1', '--key', TEST_KEY], env);
    const receiver = runCli(['receiver', '--connect', `127.0.0.1:${port}`, '--stats', '--key', TEST_KEY], env);
    const { rx, tx } = await bothWindows(xvfb.display, sender, receiver);
    // The picture moves: two screenshots of the receiver differ.
    const later = await waitFor('a newer frame', async () => {
      const s = await screenshot(xvfb.display, rx.id);
      return s.pixels.equals(rx.shot.pixels) ? undefined : s;
    });
    assert.ok(later);
    const x = { env: { ...process.env, DISPLAY: xvfb.display } };
    await execFileP('xdotool', ['key', '--window', rx.id, 'q'], x);
    assert.equal(await exitWithin(receiver, 10_000), 0, receiver.stderr());
    const final = statsLines(receiver.stdout()).find((l) => l.final);
    assert.ok(final && final.frames > 0, 'the receiver printed its final stats');
    await execFileP('xdotool', ['key', '--window', tx.id, 'q'], x);
    assert.equal(await exitWithin(sender, 10_000), 0, sender.stderr());
    assert.match(sender.stderr(), /viewer .* joined/);
  });

  it('an MJPEG source: the sender previews it at half its sides and sends its own JPEGs; a receiver with --view shows it smaller', async () => {
    const clip = await writeTestClip(30, 1280, 720, 30);
    const port = await freePort();
    const env = { ...headless(), DISPLAY: xvfb.display };
    const sender = runCli(['sender', '--source', clip, '--loop', '--stats', '--codec', 'jpeg', '--port', String(port), '--host', '127.0.0.1', '--key', TEST_KEY], env);
    const receiver = runCli(['receiver', '--connect', `127.0.0.1:${port}`, '--view', '800x600', '--key', TEST_KEY], env);
    const { rx, tx } = await bothWindows(xvfb.display, sender, receiver);
    assert.deepEqual([tx.shot.width, tx.shot.height], [640, 360], 'the preview of a 1280x720 MJPEG source');
    assert.deepEqual([rx.shot.width, rx.shot.height], [800, 450], '1280x720 fitted into --view 800x600');
    const x = { env: { ...process.env, DISPLAY: xvfb.display } };
    await execFileP('xdotool', ['key', '--window', rx.id, 'q'], x);
    assert.equal(await exitWithin(receiver, 10_000), 0, receiver.stderr());
    await execFileP('xdotool', ['key', '--window', tx.id, 'q'], x);
    assert.equal(await exitWithin(sender, 10_000), 0, sender.stderr());
    const last = statsLines(sender.stdout()).pop()!;
    // The preview needs pixels (decoded at half scale); the viewer got the file's JPEGs as they are.
    assert.ok(last.sourceJpeg.passedThrough > 0 && last.sourceJpeg.decoded > 0, JSON.stringify(last.sourceJpeg));
  });

  it('npm start (demo) shows both windows and Esc ends it', async () => {
    const demo = runCli(['--source', 'test'], { ...headless(), DISPLAY: xvfb.display });
    await expectPicture(xvfb.display, 'TRANSMITTING VIDEO');
    const rx = await expectPicture(xvfb.display, 'RECEIVING VIDEO', 700);
    await execFileP('xdotool', ['key', '--window', rx.id, 'Escape'], { env: { ...process.env, DISPLAY: xvfb.display } });
    assert.equal(await exitWithin(demo, 10_000), 0, demo.stderr());
  });

  it('a receiver window keeps answering q while no sender is up', async () => {
    const port = await freePort();
    const receiver = runCli(['receiver', '--connect', `127.0.0.1:${port}`, '--key', TEST_KEY], { ...headless(), DISPLAY: xvfb.display });
    const id = await findWindow(xvfb.display, 'RECEIVING VIDEO', 30_000).catch((error: Error) => {
      throw new Error(`${error.message}; receiver exit ${receiver.child.exitCode}, stderr:\n${receiver.stderr()}`);
    });
    await waitFor('the waiting notice', () => (receiver.stderr().includes('waiting for the sender') ? true : undefined));
    await execFileP('xdotool', ['key', '--window', id, 'q'], { env: { ...process.env, DISPLAY: xvfb.display } });
    assert.equal(await exitWithin(receiver, 10_000), 0);
  });
});

describe('commands without a display', () => {
  it('run headless, say so, and stop after --frames with status 0', async () => {
    const port = await freePort();
    const sender = runCli(['sender', '--source', 'test', '--port', String(port), '--stats'], headless());
    // The sender made a key and printed it with the receiver's command line: use what it printed.
    const key = await waitFor('the generated key', () => /this session's key is:\s+(\S+)/.exec(sender.stderr())?.[1]);
    assert.match(sender.stderr(), new RegExp(`npm start receiver -- --connect THIS_MACHINE:${port} --key ${key}`));
    const receiver = runCli(['receiver', '--connect', `127.0.0.1:${port}`, '--frames', '15', '--stats'], { ...headless(), CVCHAT_KEY: key });
    assert.equal(await exitWithin(receiver, 20_000), 0, receiver.stderr());
    assert.match(receiver.stderr(), /running without a window: .*DISPLAY is not set/);
    const lines = statsLines(receiver.stdout());
    const final = lines.find((l) => l.final);
    assert.equal(final?.role, 'receiver');
    assert.equal(final?.frames, 15);
    for (const key of ['fps', 'kbps', 'bytesPerFrame', 'dropped']) assert.equal(typeof final?.[key], 'number', key);
    assert.ok(final.latencyMs.p50 >= 0 && final.latencyMs.p99 >= final.latencyMs.p50);
    sender.child.kill('SIGTERM');
    assert.equal(await exitWithin(sender, 10_000), 0, 'SIGTERM ends the sender cleanly');
    assert.ok(statsLines(sender.stdout()).some((l) => l.role === 'sender' && l.final));
  });

  it('--stats say what each viewer is sent and what the receiver gets: size, quality and the rate estimate (--codec jpeg)', async () => {
    const port = await freePort();
    const sender = runCli(['sender', '--source', 'test', '--size', '320x240', '--quality', '70', '--port', String(port), '--stats', '--key', TEST_KEY, '--codec', 'jpeg'], headless());
    await waitFor('the sender to listen', () => (/sending 320x240/.test(sender.stderr()) ? true : undefined));
    const receiver = runCli(['receiver', '--connect', `127.0.0.1:${port}`, '--frames', '75', '--stats', '--key', TEST_KEY], headless());
    assert.equal(await exitWithin(receiver, 20_000), 0, receiver.stderr());
    sender.child.kill('SIGTERM');
    assert.equal(await exitWithin(sender, 10_000), 0);
    // Loopback is fast: the estimate allows the full size at the user's quality.
    const sent = statsLines(sender.stdout()).flatMap((l) => l.sending ?? []).filter((v: { estimateBps: number | null }) => v.estimateBps !== null);
    assert.ok(sent.length > 0, `a per-second line lists the viewer with its estimate: ${sender.stdout()}`);
    assert.ok(sent.every((v: { estimateBps: number; width: number; height: number; quality: number; remote: string; codec: string }) =>
      v.estimateBps > 1e6 && v.width === 320 && v.height === 240 && v.quality === 70 && v.codec === 'jpeg' && /^127\.0\.0\.1:\d+$/.test(v.remote)), JSON.stringify(sent));
    const got = statsLines(receiver.stdout()).map((l) => l.receiving).filter(Boolean);
    assert.ok(got.length > 0, 'the receiver says how its frames were sent');
    assert.deepEqual({ ...got[got.length - 1], estimateBps: 0 }, { width: 320, height: 240, fullWidth: 320, fullHeight: 240, quality: 70, estimateBps: 0 });
    assert.ok(got[got.length - 1].estimateBps > 1e6);
  });

  it('--stats with the video codec (the default between cvchat peers): the codec and its bitrate on both sides', async () => {
    const port = await freePort();
    const sender = runCli(['sender', '--source', 'test', '--size', '320x240', '--port', String(port), '--stats', '--key', TEST_KEY], headless());
    await waitFor('the sender to listen', () => (/sending 320x240/.test(sender.stderr()) ? true : undefined));
    const receiver = runCli(['receiver', '--connect', `127.0.0.1:${port}`, '--frames', '75', '--stats', '--key', TEST_KEY], headless());
    assert.equal(await exitWithin(receiver, 20_000), 0, receiver.stderr());
    sender.child.kill('SIGTERM');
    assert.equal(await exitWithin(sender, 10_000), 0);
    const sent = statsLines(sender.stdout()).flatMap((l) => l.sending ?? []).filter((v: { codec: string }) => v.codec !== 'jpeg');
    assert.ok(sent.length > 0 && sent.every((v: { codec: string; bitrateBps: number; width: number; quality: number }) => v.codec === 'h264' && v.bitrateBps > 0 && v.width === 320 && v.quality === 0), JSON.stringify(sent));
    const got = statsLines(receiver.stdout()).map((l) => l.receiving).filter(Boolean);
    const last = got[got.length - 1];
    assert.ok(last && last.codec === 'h264' && last.bitrateBps > 0 && last.width === 320, JSON.stringify(last));
  });

  it('a sender whose video file ends says so and exits 0', async () => {
    const file = await writeTestClip(15, 160, 120, 100);
    const sender = runCli(['sender', '--source', file, '--port', String(await freePort()), '--key', TEST_KEY], headless());
    assert.equal(await exitWithin(sender, 15_000), 0, sender.stderr());
    assert.match(sender.stderr(), /the source has ended/);
  });

  it('a sender with --frames stops by itself', async () => {
    const port = await freePort();
    const sender = runCli(['sender', '--source', 'test', '--port', String(port), '--frames', '10', '--fps', '100'], headless());
    assert.equal(await exitWithin(sender, 15_000), 0);
  });

  it('say what is wrong with an option and exit 2', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['sender', '--port', 'eighty'], /Expected whole number for --port but received 'eighty'/],
      [['sender', '--port', '70000'], /integer between 0 and 65535 for port/],
      [['sender', '--quality', '0', '--source', 'test'], /for quality/],
      [['sender', '--size', 'big'], /WIDTHxHEIGHT/],
      [['receiver', '--connect', 'nowhere'], /HOST:PORT for --connect/],
      [['sender', '--bogus'], /Unknown option '--bogus'/],
      [['sender', '--backend', 'gpu'], /'native' or 'opencv4nodejs' for --backend/],
      [['sender', '--codec', 'av1'], /Expected auto, jpeg, h264 or vp8 for --codec but received 'av1'/],
      [['receiver', '--codec', 'h264', '--wire', 'pickle'], /The pickle wire carries raw pixels for Python peers, not h264/],
      [['chat', '--listen', '9999'], /HOST:PORT \(your partner's --listen address; or give --web PORT for a browser\) for --peer/],
      [['sender', '--web', 'https'], /Expected whole number for --web but received 'https'/],
      [['sender', '--web-cert', 'cert.pem'], /--web-cert and --web-key are for the web page: add --web PORT/],
      [['sender', '--source', 'test', '--port', '0', '--web', '0', '--web-cert', 'cert.pem'], /--web-cert and --web-key go together/],
      [['chat', '--source', 'test', '--listen', `127.0.0.1:${await freePort()}`, '--web', '0', '--insecure', '--web-cert', 'c.pem', '--web-key', 'k.pem'], /--insecure serves the page over plain http, so --web-cert and --web-key cannot apply/],
      [['chat', '--peer', 'host'], /HOST:PORT for --peer/],
      [['receiver', '--view', 'small'], /WIDTHxHEIGHT such as 1280x720 for --view/],
      [['receiver', '--insecure', '--record', 'call.mp4'], /use \.mkv .* or \.avi/],
      [['sender', '--source', 'test', '--record', '/no/such/folder/call.mkv'], /the folder \/no\/such\/folder does not exist/],
      [['sender', '--source', 'test', '--record', 'call.mkv', '--backend', 'opencv4nodejs'], /--record needs the native backend/],
    ];
    for (const [args, message] of cases) {
      const run = runCli(args, headless());
      assert.equal(await exitWithin(run, 10_000), 2, args.join(' '));
      assert.match(run.stderr(), message);
    }
    const unknown = runCli(['party'], headless());
    assert.equal(await exitWithin(unknown, 10_000), 2);
    assert.match(unknown.stderr(), /unknown command 'party'/);
  });

  it('explains a port in use and a missing file, exiting 1', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    const busy = runCli(['sender', '--source', 'test', '--host', '127.0.0.1', '--port', String(port)], headless());
    assert.equal(await exitWithin(busy, 10_000), 1);
    assert.match(busy.stderr(), new RegExp(`Port ${port} is already in use.*--port`));
    const busyPage = runCli(['sender', '--source', 'test', '--host', '127.0.0.1', '--port', '0', '--web', String(port)], headless());
    assert.equal(await exitWithin(busyPage, 10_000), 1);
    assert.match(busyPage.stderr(), new RegExp(`Port ${port} is already in use on 127.0.0.1 \\(another cvchat page, or a web server\\?\\)\\. Stop it or choose another with --web`));
    blocker.close();
    const missing = runCli(['sender', '--source', '/nope/clip.mp4'], headless());
    assert.equal(await exitWithin(missing, 10_000), 1);
    assert.match(missing.stderr(), /No such video file: '\/nope\/clip.mp4'/);
  });

  it('falls back to the test picture when no camera opens', { skip: fs.existsSync('/dev/video0') ? 'this machine has a camera' : false }, async () => {
    const port = await freePort();
    const sender = runCli(['sender', '--port', String(port), '--frames', '3'], headless());
    assert.equal(await exitWithin(sender, 15_000), 0);
    assert.match(sender.stderr(), /no camera opened at index 0.*using the built-in test picture/);
  });

  it('lists the likely causes and fixes when the addon does not load', async () => {
    const run = runCli(['sender', '--source', 'test'], { ...headless(), CVCHAT_ADDON: '/nonexistent/cvchat.node' });
    assert.equal(await exitWithin(run, 10_000), 1);
    assert.match(run.stderr(), /native addon did not load/);
    assert.match(run.stderr(), /npm install/);
    assert.match(run.stderr(), /apt-get install libopencv-dev/);
    assert.match(run.stderr(), /CVCHAT_ADDON_LOAD_FAILED/);
  });

  it('asks for the address on a terminal, as the seed did, and uses the answers', async () => {
    const port = await freePort();
    // `script` gives the command a pseudo-terminal; the answers are typed ahead on its input.
    const { spawn } = await import('node:child_process');
    const child = spawn('script', ['-qc', `${process.execPath} ${cli} sender --no-window --source test --frames 10`, '/dev/null'], {
      env: { ...process.env, ...headless() },
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stdin.end(`127.0.0.1\n${port}\n`);
    const code = await new Promise((resolve) => child.once('exit', resolve));
    const text = out.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
    assert.equal(code, 0, text);
    assert.match(text, /Enter your IP \[0\.0\.0\.0\]:/);
    assert.match(text, /Enter your port \[9999\]:/);
    assert.match(text, new RegExp(`sending 640x480 from test on 127\\.0\\.0\\.1:${port}`));
  });

  it('prints help for every command', async () => {
    for (const command of ['sender', 'receiver', 'chat', 'demo']) {
      const run = runCli([command, '--help'], headless());
      assert.equal(await exitWithin(run, 10_000), 0);
      assert.match(run.stdout(), new RegExp(`Usage: npm start ${command === 'demo' ? '\\[demo\\]' : command}`));
      // Users do not know the blog post cvchat grew from: the help says what the wire is.
      assert.doesNotMatch(run.stdout(), /seed|blog/i, `${command} --help`);
      assert.match(run.stdout(), /8-byte length \+ JPEG/, `${command} --help`);
    }
  });

  it('lists the commands for --help, -h and help', async () => {
    for (const args of [['--help'], ['-h'], ['help']]) {
      const run = runCli(args, headless());
      assert.equal(await exitWithin(run, 10_000), 0, args.join(' '));
      assert.match(run.stdout(), /Commands:\n {2}demo .*\n {2}sender .*\n {2}receiver .*\n {2}chat /, args.join(' '));
      assert.doesNotMatch(run.stdout(), /seed|blog/i);
    }
  });
});
