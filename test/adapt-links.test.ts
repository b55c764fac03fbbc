// Each peer's stream adapts to its own link, checked on real links: hosts in network namespaces,
// one link shaped to 2 Mbit/s by tbf with a large buffer (as home routers have) and one left fast.
// The tests look only at what each peer is sent (the frames' meta.point, the sender's `sending`),
// never at how fast or how late: on a loaded 2-core machine those numbers are the machine's, not
// the code's. Deadlines below are for waiting, not thresholds.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';

import type { CodecChoice } from '../lib/base/codecs';
import { DEFAULT_QUALITY } from '../lib/base/limits';
import { labelColor } from '../lib/media/source';
import { framePixels } from '../lib/media/video';
import { Chat } from '../lib/session/chat/chat';
import type { DecodedFrame } from '../lib/session/decoder';
import { Receiver } from '../lib/session/receiver';
import type { SendingStatus } from '../lib/session/sinks';
import type { PointMeta } from '../lib/wire/meta';
import { launchChromium, openPage, pageState } from './browser';
import { canUseNetns, cli, closeTo, freePort, python, statsLines, TEST_KEY, tempDir, waitFor, writeTestClip, type CliRun } from './helpers';
import { stripFrameMeta } from '../lib/wire/meta';

const fixtures = path.join(__dirname, '..', '..', 'test', 'fixtures');
const WIDTH = 1280;
const HEIGHT = 720;
/** The full point: the source's size at the default quality (the ceiling of the adaptation). */
const QUALITY = DEFAULT_QUALITY;
/** How long to wait for a link's estimate to come down to it: generous, for a loaded machine. */
const ADAPT_DEADLINE_MS = 30_000;
const SLOW_LINK = ['rate', '2mbit', 'burst', '32kb', 'latency', '400ms'];

/** What a viewer was sent (meta.point, absent on frames of a stream that does not adapt) and what it showed. */
interface Seen {
  point: PointMeta | undefined;
  width: number;
  height: number;
  /** Top left pixel (BGR): the source's label bar. */
  bar: number[];
}

/** Sent smaller than the full point: a smaller picture or a lower quality. */
function reduced(point: { width: number; quality: number } | null | undefined): boolean {
  return !!point && (point.width < WIDTH || point.quality < QUALITY);
}

function full(point: PointMeta | undefined): boolean {
  return point === undefined || (point.width === WIDTH && point.height === HEIGHT && point.quality === QUALITY);
}

function describePoints(seen: Seen[]): string {
  return seen.map((s) => (s.point ? `${s.point.width}x${s.point.height}q${s.point.quality}` : 'plain')).join(' ');
}

function record(seen: Seen[]): (decoded: DecodedFrame) => void {
  return (decoded) => {
    const { frame } = decoded;
    seen.push({ point: decoded.meta?.point, width: frame.width, height: frame.height, bar: [...framePixels(frame).subarray(0, 3)] });
  };
}

/** The newest --stats line of `role`, not counting the first `skip` lines of the output. */
function newestStats(run: CliRun, role: string, skip = 0): Record<string, any> | undefined {
  return statsLines(run.stdout()).slice(skip).filter((l) => l.role === role).pop();
}

describe('each peer\'s stream adapts to its own link (namespaces, a 2 Mbit/s tbf link)', { skip: canUseNetns() ? false : 'needs root and ip netns' }, () => {
  // Unique names and subnets, so that two runs at once do not collide.
  const tag = `cva${process.pid % 100000}`;
  const net = `10.${100 + (process.pid % 100)}`;
  /** The sender's host: reached from here (the root namespace) over a slow link and a fast one. */
  const senderNs = `${tag}s`;
  /** The chat partner's host: one link, slow both ways. */
  const chatNs = `${tag}c`;
  const slow = { here: `${tag}s0`, there: `${tag}s1`, address: `${net}.1.2` };
  const fast = { here: `${tag}f0`, there: `${tag}f1`, address: `${net}.2.2` };
  const chatLink = { here: `${tag}c0`, there: `${tag}c1`, hereAddress: `${net}.3.1`, address: `${net}.3.2` };
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
  const shape = (ns: string | null, dev: string) =>
    execFileSync('tc', [...(ns ? ['-n', ns] : []), 'qdisc', 'add', 'dev', dev, 'root', 'tbf', ...SLOW_LINK], { stdio: 'pipe' });

  /** Where a sender's --web keeps its certificate. */
  const configDir = tempDir('cvchat-links-config-');
  /** What the current test started: stopped after it, pass or fail. */
  let stops: Array<() => Promise<unknown>> = [];

  /** cvchat's CLI on a host (namespace), tracked so that it is stopped after the test. */
  function cvchatIn(ns: string, args: string[]): CliRun {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, cli, ...args], { env: { ...process.env, DISPLAY: '', CVCHAT_CONFIG_DIR: configDir }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d));
    child.stderr!.on('data', (d: Buffer) => (err += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    stops.push(() => stopChild(child, exited));
    return { child, stdout: () => out, stderr: () => err, exited };
  }

  async function stopChild(child: CliRun['child'], exited: Promise<unknown>): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  function viewer(address: string, port: number, security: { key: string } | { insecure: true }, codec: CodecChoice = 'jpeg'): { receiver: Receiver; seen: Seen[] } {
    const seen: Seen[] = [];
    const receiver = new Receiver({ connect: { host: address, port }, ...security, codec, onFrame: record(seen) });
    const done = receiver.run().catch(() => undefined);
    stops.push(async () => {
      receiver.stop();
      await done;
    });
    return { receiver, seen };
  }

  /**
   * Waits for `frames` more frames on each viewer, then reads what the sender says it sends each
   * (a --stats line written after those frames). Returns the frames each showed meanwhile.
   */
  async function moreFramesThenSending(sender: CliRun, slowViewer: { seen: Seen[] }, fastViewer: { seen: Seen[] }, frames: number) {
    const slowFrom = slowViewer.seen.length;
    const fastFrom = fastViewer.seen.length;
    await waitFor(`${frames} more frames on each viewer`, () =>
      (slowViewer.seen.length >= slowFrom + frames && fastViewer.seen.length >= fastFrom + frames ? true : undefined), ADAPT_DEADLINE_MS);
    const linesThen = statsLines(sender.stdout()).length;
    const sending = await waitFor('a --stats line listing both viewers', () => {
      const line = newestStats(sender, 'sender', linesThen);
      return line && line.sending.length === 2 ? (line.sending as SendingStatus[]) : undefined;
    });
    const toSlow = sending.find((s) => s.remote.startsWith(`${net}.1.1:`));
    const toFast = sending.find((s) => s.remote.startsWith(`${net}.2.1:`));
    assert.ok(toSlow && toFast, JSON.stringify(sending));
    return { slowSeen: slowViewer.seen.slice(slowFrom), fastSeen: fastViewer.seen.slice(fastFrom), toSlow, toFast, sending };
  }

  /** A 1280x720 test source at 30 fps on the sender's host, on port 9000 of each of its addresses. */
  async function startSender(args: string[], source = ['--source', 'test', '--size', `${WIDTH}x${HEIGHT}`]): Promise<CliRun> {
    const sender = cvchatIn(senderNs, ['sender', '--no-window', ...source, '--fps', '30', '--host', '0.0.0.0', '--port', '9000', '--stats', ...args]);
    await waitFor('the sender to listen', () => (/sending 1280x720/.test(sender.stderr()) ? true : sender.child.exitCode !== null ? assert.fail(sender.stderr()) : undefined));
    return sender;
  }

  before(() => {
    for (const ns of [senderNs, chatNs]) {
      ip('netns', 'add', ns);
      ip('-n', ns, 'link', 'set', 'lo', 'mtu', '1500');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    for (const [link, ns, subnet] of [[slow, senderNs, 1], [fast, senderNs, 2], [chatLink, chatNs, 3]] as const) {
      ip('link', 'add', link.here, 'type', 'veth', 'peer', 'name', link.there);
      ip('link', 'set', link.there, 'netns', ns);
      ip('addr', 'add', `${net}.${subnet}.1/24`, 'dev', link.here);
      ip('-n', ns, 'addr', 'add', `${net}.${subnet}.2/24`, 'dev', link.there);
      ip('link', 'set', link.here, 'up');
      ip('-n', ns, 'link', 'set', link.there, 'up');
    }
    // The video to the slow viewer leaves the sender's host on its end of the slow link; the chat's
    // link is slow both ways.
    shape(senderNs, slow.there);
    shape(chatNs, chatLink.there);
    shape(null, chatLink.here);
  });

  afterEach(async () => {
    const now = stops;
    stops = [];
    await Promise.all(now.map((stop) => stop()));
  });

  after(() => {
    // Deleting a veth end here takes its peer at once; a namespace's own are freed later, by the kernel.
    for (const link of [slow, fast, chatLink]) {
      try {
        ip('link', 'delete', link.here);
      } catch {
        // never made
      }
    }
    for (const ns of [senderNs, chatNs]) {
      try {
        ip('netns', 'delete', ns);
      } catch {
        // never made, or already gone
      }
    }
  });

  it('JPEG: a slow viewer is sent smaller frames, a fast one full ones, from the same sender', async () => {
    const sender = await startSender(['--key', TEST_KEY, '--codec', 'jpeg']);
    const slowViewer = viewer(slow.address, 9000, { key: TEST_KEY });
    const fastViewer = viewer(fast.address, 9000, { key: TEST_KEY });

    await waitFor('the slow viewer to be sent a smaller point', () => (slowViewer.seen.some((s) => reduced(s.point)) ? true : undefined), ADAPT_DEADLINE_MS);
    const { fastSeen, toSlow, toFast, sending } = await moreFramesThenSending(sender, slowViewer, fastViewer, 40);

    assert.ok(fastSeen.every((s) => full(s.point)), `the fast viewer was sent: ${describePoints(fastSeen)}`);
    const lastSlow = slowViewer.seen.slice(-20);
    assert.ok(lastSlow.every((s) => reduced(s.point)), `the slow viewer's last 20 frames were sent as: ${describePoints(lastSlow)}`);
    for (const s of [...slowViewer.seen, ...fastViewer.seen]) assert.deepEqual([s.width, s.height], [WIDTH, HEIGHT], 'every frame is shown at the full size');

    for (const s of [toSlow, toFast]) assert.equal(typeof s.estimateBps, 'number', `an estimate for each viewer: ${JSON.stringify(sending)}`);
    assert.ok(reduced(toSlow), `the sender sends the slow viewer a smaller point: ${JSON.stringify(toSlow)}`);
    assert.deepEqual([toFast.width, toFast.height, toFast.quality], [WIDTH, HEIGHT, QUALITY], `the sender sends the fast viewer the full point: ${JSON.stringify(toFast)}`);
  });

  it("an MJPEG file: the fast viewer gets the file's own JPEGs, the slow one smaller frames encoded from them", async () => {
    const clip = await writeTestClip(30, WIDTH, HEIGHT, 30);
    const packets: string[] = JSON.parse(execFileSync(python, [path.join(fixtures, 'video_info.py'), clip, '--packets']).toString()).packets;
    const sender = await startSender(['--key', TEST_KEY, '--codec', 'jpeg'], ['--source', clip, '--loop']);
    const hashes = { slow: [] as string[], fast: [] as string[] };
    const watch = (address: string, into: string[]) => {
      const seen: Seen[] = [];
      const receiver = new Receiver({
        connect: { host: address, port: 9000 }, key: TEST_KEY, codec: 'jpeg',
        onFrame: (decoded) => {
          record(seen)(decoded);
          into.push(crypto.createHash('sha256').update(stripFrameMeta(decoded.payload)).digest('hex'));
        },
      });
      const done = receiver.run().catch(() => undefined);
      stops.push(async () => {
        receiver.stop();
        await done;
      });
      return { seen };
    };
    const slowViewer = watch(slow.address, hashes.slow);
    const fastViewer = watch(fast.address, hashes.fast);
    const fromFile = (hash: string) => packets.includes(hash);
    await waitFor('the slow viewer to be sent frames encoded from the file', () => (hashes.slow.some((h) => !fromFile(h)) ? true : undefined), ADAPT_DEADLINE_MS);
    const { fastSeen, toSlow, toFast } = await moreFramesThenSending(sender, slowViewer, fastViewer, 40);
    const fastHashes = hashes.fast.slice(-fastSeen.length);
    assert.ok(fastHashes.every(fromFile), `the fast viewer's last ${fastHashes.length} frames are the file's own JPEGs: ${fastHashes.filter(fromFile).length} are`);
    assert.ok(hashes.slow.slice(-20).every((h) => !fromFile(h)), 'the slow viewer\'s last 20 frames were encoded for its link');
    assert.ok(toSlow.width < WIDTH || toSlow.quality < toFast.quality, `the sender sends the slow viewer less: ${JSON.stringify(toSlow)} against ${JSON.stringify(toFast)}`);
    const line = newestStats(sender, 'sender')!;
    assert.ok(line.sourceJpeg.passedThrough > 0 && line.sourceJpeg.decoded > 0, `the sender's source JPEGs: ${JSON.stringify(line.sourceJpeg)}`);
  });

  it('JPEG: a chat over a link slow both ways adapts in both directions', async () => {
    const port = await freePort();
    const bob = cvchatIn(chatNs, ['chat', '--no-window', '--source', 'test', '--size', `${WIDTH}x${HEIGHT}`, '--fps', '30', '--label', 'bob',
      '--listen', `${chatLink.address}:9000`, '--peer', `${chatLink.hereAddress}:${port}`, '--stats', '--key', TEST_KEY, '--codec', 'jpeg']);
    const seen: Seen[] = [];
    const alice = new Chat({
      source: 'test', width: WIDTH, height: HEIGHT, fps: 30, label: 'alice', key: TEST_KEY, codec: 'jpeg',
      listen: { host: chatLink.hereAddress, port }, peer: { host: chatLink.address, port: 9000 }, onFrame: record(seen),
    });
    await alice.start();
    const done = alice.run().catch(() => undefined);
    stops.push(async () => {
      alice.stop();
      await done;
    });

    // One deadline for both directions; then each is checked by name.
    const adapted = () => ({
      aliceSendsSmaller: reduced(alice.sending),
      bobSendsSmaller: seen.some((s) => reduced(s.point)),
      bobReportsSmaller: reduced(newestStats(bob, 'sender')?.sending),
    });
    await waitFor('both sides to send a smaller point', () => (Object.values(adapted()).every(Boolean) ? true : undefined), ADAPT_DEADLINE_MS).catch(() => undefined);
    assert.deepEqual(adapted(), { aliceSendsSmaller: true, bobSendsSmaller: true, bobReportsSmaller: true },
      `alice sends ${JSON.stringify(alice.sending)}; bob reports sending ${JSON.stringify(newestStats(bob, 'sender')?.sending)}; alice got ${describePoints(seen.slice(-10))}`);
    // Each side shows the other: bob's picture here, at its full size; frames from alice there.
    const bobs = seen.filter((s) => closeTo(s.bar, labelColor('bob'), 30));
    assert.ok(bobs.length > 0 && bobs.length === seen.length, `alice shows bob's frames (${bobs.length} of ${seen.length})`);
    for (const s of seen) assert.deepEqual([s.width, s.height], [WIDTH, HEIGHT], 'alice shows bob\'s frames at the full size');
    const bobReceived = await waitFor('a --stats line of what bob received', () => newestStats(bob, 'receiver'));
    assert.ok(bobReceived.frames > 0, `bob received alice's frames: ${JSON.stringify(bobReceived)}`);
  });

  it('a Python viewer that never ACKs gets full frames, beside a cvchat viewer that adapts, on the slow link', async () => {
    const sender = await startSender(['--insecure', '--codec', 'jpeg']);
    const py = spawn(python, [path.join(fixtures, 'seed_receiver.py'), slow.address, '9000', '100000']);
    let out = '';
    let err = '';
    py.stdout.on('data', (d: Buffer) => (out += d));
    py.stderr.on('data', (d: Buffer) => (err += d));
    const pyExited = new Promise((resolve) => py.once('exit', resolve));
    stops.push(() => stopChild(py, pyExited));
    const pyFrames = () => out.split('\n').filter((l) => l.trim() !== '').map((l) => l.split(' ').map(Number));

    // While it is the only viewer, the sender's one entry is the Python viewer's.
    const pyRemote = await waitFor('the sender to list the Python viewer', () => {
      const line = newestStats(sender, 'sender');
      return line?.sending.length === 1 && pyFrames().length > 0 ? (line.sending[0] as SendingStatus).remote : undefined;
    });
    const companion = viewer(slow.address, 9000, { insecure: true });
    await waitFor('the cvchat viewer on the same link to be sent a smaller point', () => (companion.seen.some((s) => reduced(s.point)) ? true : undefined), ADAPT_DEADLINE_MS);
    // Both are still being sent frames, on the same link, at once.
    const pyThen = pyFrames().length;
    const linesThen = statsLines(sender.stdout()).length;
    await waitFor('another frame to the Python viewer', () => (pyFrames().length > pyThen ? true : undefined), ADAPT_DEADLINE_MS);
    const sending = await waitFor('a --stats line listing both viewers', () => {
      const line = newestStats(sender, 'sender', linesThen);
      return line && line.sending.length === 2 ? (line.sending as SendingStatus[]) : undefined;
    });
    await stopChild(py, pyExited);

    const frames = pyFrames();
    assert.ok(frames.every(([w, h]) => w === WIDTH && h === HEIGHT), `the Python viewer got: ${out}${err}`);
    const toPython = sending.find((s) => s.remote === pyRemote);
    const toCompanion = sending.find((s) => s.remote !== pyRemote);
    assert.ok(toPython && toCompanion, JSON.stringify(sending));
    assert.equal(toPython.estimateBps, null, `no estimate for a viewer that never ACKs: ${JSON.stringify(toPython)}`);
    assert.deepEqual([toPython.width, toPython.height, toPython.quality], [WIDTH, HEIGHT, QUALITY], JSON.stringify(toPython));
    assert.equal(typeof toCompanion.estimateBps, 'number', JSON.stringify(toCompanion));
  });

  it('video: a slow viewer and a fast one each get their own stream, at their own bitrate, and each decodes it', async () => {
    // Noise: every frame costs the encoder all the bytes it is given, so a stream's bitrate is its
    // link's (the test picture would need far less than either link and tell them apart by nothing).
    const noise = `videotestsrc pattern=snow is-live=true ! video/x-raw,width=${WIDTH},height=${HEIGHT},framerate=30/1 ! videoconvert ! appsink`;
    const sender = await startSender(['--key', TEST_KEY], ['--source', noise]);
    const slowViewer = viewer(slow.address, 9000, { key: TEST_KEY }, 'auto');
    const fastViewer = viewer(fast.address, 9000, { key: TEST_KEY }, 'auto');
    const video = (s: Seen) => s.point?.codec === 'h264';
    // The slow link's estimate comes down to it: its stream's bitrate under 2 Mbit/s.
    await waitFor('the slow viewer\'s stream to fit its link', () => (slowViewer.seen.some((s) => video(s) && s.point!.bitrateBps! < 2e6) ? true : undefined), ADAPT_DEADLINE_MS);
    const { slowSeen, fastSeen, toSlow, toFast, sending } = await moreFramesThenSending(sender, slowViewer, fastViewer, 60);
    for (const [name, seen] of [['slow', slowSeen], ['fast', fastSeen]] as const) {
      assert.ok(seen.every(video), `the ${name} viewer shows H.264 frames only`);
      for (const s of seen) assert.deepEqual([s.width, s.height], [WIDTH, HEIGHT], `the ${name} viewer shows the full size`);
    }
    const mean = (seen: Seen[]) => seen.reduce((n, s) => n + s.point!.bitrateBps!, 0) / seen.length;
    assert.ok(mean(fastSeen) > 1.5 * mean(slowSeen), `the fast viewer's stream has the higher bitrate: ${mean(fastSeen).toFixed(0)} against ${mean(slowSeen).toFixed(0)} bit/s`);
    // Each viewer decoded what it was sent: frames passed over (waiting for a keyframe) are counted as dropped.
    assert.ok(slowViewer.receiver.stats.dropped <= 2 && fastViewer.receiver.stats.dropped <= 2,
      `no decoder lost its stream: dropped ${slowViewer.receiver.stats.dropped} (slow), ${fastViewer.receiver.stats.dropped} (fast)`);
    assert.deepEqual([toSlow.codec, toFast.codec], ['h264', 'h264'], JSON.stringify(sending));
    assert.ok(toFast.bitrateBps! > toSlow.bitrateBps!, JSON.stringify(sending));
  });

  it('a browser on the slow link gets its own video stream at its link\'s rate, beside a native viewer on the fast one', async () => {
    const noise = `videotestsrc pattern=snow is-live=true ! video/x-raw,width=${WIDTH},height=${HEIGHT},framerate=30/1 ! videoconvert ! appsink`;
    const sender = await startSender(['--key', TEST_KEY, '--web', '9443'], ['--source', noise]);
    const fastViewer = viewer(fast.address, 9000, { key: TEST_KEY }, 'auto');
    const browser = await launchChromium();
    stops.push(() => browser.close());
    // The page and its WebSocket come over the slow link: the browser is at its far end.
    const { page } = await openPage(browser, `https://${slow.address}:9443/#${TEST_KEY}`);
    const isBrowser = (s: SendingStatus) => s.remote.startsWith(`${net}.1.1:`);
    const toBrowser = await waitFor('the browser\'s stream to fit its link', () => {
      const line = newestStats(sender, 'sender');
      const status = (line?.sending as SendingStatus[] | undefined)?.find(isBrowser);
      return status && status.codec === 'h264' && status.bitrateBps !== null && status.bitrateBps < 2e6 ? status : undefined;
    }, ADAPT_DEADLINE_MS);
    assert.ok(toBrowser.estimateBps !== null && toBrowser.estimateBps < 2.5e6, `the estimate follows the browser's link: ${JSON.stringify(toBrowser)}`);
    const drawn = (await pageState(page)).framesDrawn;
    const state = await waitFor('30 more frames in the browser', async () => {
      const now = await pageState(page);
      return now.framesDrawn >= drawn + 30 ? now : undefined;
    }, ADAPT_DEADLINE_MS);
    assert.equal(state.codec, 'h264');
    await waitFor('30 frames on the fast viewer', () => (fastViewer.seen.length >= 30 ? true : undefined), ADAPT_DEADLINE_MS);
    const sending = newestStats(sender, 'sender')!.sending as SendingStatus[];
    const toFast = sending.find((s) => s.remote.startsWith(`${net}.2.1:`));
    const browserNow = sending.find(isBrowser);
    assert.ok(toFast && browserNow && toFast.bitrateBps! > 1.5 * browserNow.bitrateBps!, `the fast native viewer's stream has the higher bitrate: ${JSON.stringify(sending)}`);
  });
});
