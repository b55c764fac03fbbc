// Publishing (--publish rtp://): the sender's video as RTP, read back here packet by packet (the
// payload type, the codec's keyframes at least every 2 s) and decoded by GStreamer's own RTP
// depayloader and decoder, as a media server's would.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { labelColor } from '../lib/media/source';
import { framePixels, openCapture } from '../lib/media/video';
import { Sender } from '../lib/session/sender';
import { canUseNetns, cli, closeTo, exitWithin, root, runCli, TEST_KEY, tempDir, waitFor } from './helpers';

/** A free UDP port on loopback. */
async function freeUdpPort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

interface Packet {
  payloadType: number;
  /** The packet starts a keyframe. */
  keyframe: boolean;
  at: number;
}

/** Whether an RTP payload starts a keyframe: VP8 (RFC 7741) or H.264 (RFC 6184: an IDR or SPS NAL unit). */
function startsKeyframe(codec: 'vp8' | 'h264', payload: Buffer): boolean {
  if (codec === 'h264') {
    const nal = payload[0] & 0x1f;
    if (nal === 28) return (payload[1] & 0x80) !== 0 && (payload[1] & 0x1f) === 5; // FU-A, start of an IDR
    if (nal === 24) return (payload[3] & 0x1f) === 7 || (payload[3] & 0x1f) === 5; // STAP-A led by SPS or IDR
    return nal === 5 || nal === 7;
  }
  // The VP8 payload descriptor: X, then S (start of a partition) and PID; its extensions; then the
  // VP8 frame, whose first bit is 0 for a keyframe.
  let at = 1;
  const start = (payload[0] & 0x10) !== 0 && (payload[0] & 0x07) === 0;
  if (payload[0] & 0x80) {
    const ext = payload[at++];
    if (ext & 0x80) at += payload[at] & 0x80 ? 2 : 1; // picture id
    if (ext & 0x40) at += 1; // TL0PICIDX
    if (ext & 0x30) at += 1; // TID/KEYIDX
  }
  return start && (payload[at] & 0x01) === 0;
}

/** Receives RTP on `port` for `ms`; returns its packets. */
async function capturePackets(port: number, codec: 'vp8' | 'h264', ms: number): Promise<Packet[]> {
  const socket = dgram.createSocket('udp4');
  const packets: Packet[] = [];
  socket.on('message', (message) => {
    const csrc = message[0] & 0x0f;
    const extension = (message[0] & 0x10) !== 0;
    let at = 12 + 4 * csrc;
    if (extension) at += 4 + 4 * message.readUInt16BE(at + 2);
    packets.push({ payloadType: message[1] & 0x7f, keyframe: startsKeyframe(codec, message.subarray(at)), at: performance.now() });
  });
  await new Promise<void>((resolve) => socket.bind(port, '127.0.0.1', resolve));
  await new Promise((resolve) => setTimeout(resolve, ms));
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return packets;
}

async function publishingSender(label: string, port: number, codec: 'vp8' | 'h264') {
  const sender = new Sender({
    source: 'test', width: 320, height: 240, fps: 30, label, key: TEST_KEY, host: '127.0.0.1', port: 0,
    publish: { url: `rtp://127.0.0.1:${port}`, codec, bitrateBps: 800_000 },
  });
  await sender.start();
  return { sender, done: sender.run() };
}

describe('publishing RTP (--publish)', () => {
  for (const codec of ['vp8', 'h264'] as const) {
    it(`${codec}: RTP with payload type ${codec === 'vp8' ? 100 : 96} and a keyframe at least every 2 s, at about the bitrate asked`, async () => {
      const port = await freeUdpPort();
      const { sender, done } = await publishingSender(`publish-${codec}`, port, codec);
      try {
        // Listening starts after the publisher: what comes first is mid-stream, as for a late viewer.
        const packets = await capturePackets(port, codec, 5000);
        assert.ok(packets.length > 100, `${packets.length} packets`);
        assert.deepEqual([...new Set(packets.map((p) => p.payloadType))], [codec === 'vp8' ? 100 : 96]);
        // A keyframe spans packets (and H.264 sends its parameter sets first): one time per keyframe.
        const keyframes = packets.filter((p) => p.keyframe).map((p) => p.at).filter((at, i, all) => i === 0 || at - all[i - 1] > 100);
        assert.ok(keyframes.length >= 2, `${keyframes.length} keyframes in 5 s`);
        const gaps = keyframes.slice(1).map((at, i) => at - keyframes[i]);
        assert.ok(Math.max(...gaps) <= 2300, `keyframes every ${gaps.map((g) => g.toFixed(0)).join(', ')} ms`);
        const status = sender.publishing!;
        assert.equal(status.codec, codec);
        assert.ok(status.frames > 100, `${status.frames} frames published`);
      } finally {
        await sender.stop();
        await done;
      }
    });
  }

  it('GStreamer\'s RTP depayloader and VP8 decoder show the test picture, its colours intact', async () => {
    const port = await freeUdpPort();
    const { sender, done } = await publishingSender('published', port, 'vp8');
    const caps = 'application/x-rtp,media=video,encoding-name=VP8,payload=100,clock-rate=90000';
    const receiver = await openCapture({ source: `udpsrc address=127.0.0.1 port=${port} caps="${caps}" ! rtpjitterbuffer latency=50 ! rtpvp8depay ! vp8dec ! videoconvert ! appsink` });
    try {
      let shown = 0;
      await waitFor('10 decoded frames with the label\'s colour', async () => {
        const frame = await receiver.read();
        if (!frame) return undefined;
        const [width, height, bar] = [frame.width, frame.height, [...framePixels(frame).subarray(0, 3)]];
        frame.release();
        assert.deepEqual([width, height], [320, 240]);
        if (closeTo(bar, labelColor('published'), 30)) shown++;
        return shown >= 10 ? true : undefined;
      }, 20_000);
    } finally {
      await receiver.release();
      await sender.stop();
      await done;
    }
  });

  it('bad --publish values are named, with what is expected', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['sender', '--publish', 'http://example.com/'], /rtp:\/\/HOST:PORT.*for --publish/],
      [['sender', '--publish', 'rtp://127.0.0.1:5004', '--publish-codec', 'av1'], /vp8 or h264 for --publish-codec/],
      [['sender', '--publish', 'rtp://127.0.0.1:5004', '--publish-bitrate', 'fast'], /bits per second.*for --publish-bitrate/],
      [['sender', '--publish-codec', 'h264'], /add --publish rtp:\/\/HOST:PORT/],
      [['sender', '--source', 'test', '--port', '0', '--publish', 'rtp://a host! filesink:5004'], /for --publish/],
    ];
    for (const [args, message] of cases) {
      const run = runCli(args, { DISPLAY: '' });
      assert.equal(await exitWithin(run, 10_000), 2, args.join(' '));
      assert.match(run.stderr(), message);
    }
  });
});

/** Janus's streaming plugin as its HTTP API tells it, asked from inside `ns`: mountpoint `id`'s video age, in ms since its last packet. */
function mountpointAge(ns: string, id: number, secret: string): number | null {
  const script = `(async () => {
    const api = 'http://127.0.0.1:8088/janus';
    const post = async (path, body) => (await fetch(api + path, { method: 'POST', body: JSON.stringify({ ...body, transaction: 't' }) })).json();
    const session = (await post('', { janus: 'create' })).data.id;
    const handle = (await post('/' + session, { janus: 'attach', plugin: 'janus.plugin.streaming' })).data.id;
    const info = await post('/' + session + '/' + handle, { janus: 'message', body: { request: 'info', id: ${id}, secret: '${secret}' } });
    await post('/' + session, { janus: 'destroy' });
    const media = info.plugindata.data.info?.media?.[0];
    process.stdout.write(JSON.stringify(media?.age_ms ?? null));
  })()`;
  return JSON.parse(execFileSync('ip', ['netns', 'exec', ns, process.execPath, '-e', script]).toString()) as number | null;
}

/** Janus is installed (`janus -V` prints its version but exits 1, so its presence is what counts). */
const hasJanus = (process.env.PATH ?? '').split(':').some((dir) => fs.existsSync(path.join(dir, 'janus')));

describe('publishing to Janus through its API (--publish janus://)', { skip: !canUseNetns() ? 'needs root and ip netns' : !hasJanus ? 'janus is not installed (npm run janus installs it)' : false }, () => {
  // A namespace of its own: Janus's ports (8088, 5004) are its alone, whatever else runs here.
  const ns = `cvj${process.pid % 100000}`;
  let janus: ChildProcess | undefined;
  let janusLog = '';
  const ADMIN = 'cvchat-local-admin-key';
  const configDir = tempDir('cvchat-publish-config-');

  before(async () => {
    execFileSync('ip', ['netns', 'add', ns]);
    execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    janus = spawn('ip', ['netns', 'exec', ns, 'bash', path.join(root, 'scripts', 'janus.sh')], { env: { ...process.env, CVCHAT_JANUS_DIR: tempDir('cvchat-janus-') }, stdio: ['ignore', 'pipe', 'pipe'] });
    janus.stdout!.on('data', (d) => (janusLog += d));
    janus.stderr!.on('data', (d) => (janusLog += d));
    await waitFor('Janus ready', () => (/ready: API/.test(janusLog) ? true : janus!.exitCode !== null ? assert.fail(janusLog) : undefined), 20_000);
  });

  after(async () => {
    if (janus && janus.exitCode === null) {
      janus.kill('SIGTERM');
      await new Promise((resolve) => janus!.once('exit', resolve));
    }
    try {
      execFileSync('ip', ['netns', 'delete', ns]);
    } catch {
      // never made
    }
  });

  /** cvchat's sender inside the namespace, publishing to `url` for 60 frames. */
  async function publish(url: string, extra: string[] = []): Promise<{ status: number | null; stderr: string }> {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, cli, 'sender', '--source', 'test', '--size', '320x240', '--host', '127.0.0.1', '--port', '0', '--no-window', '--frames', '60', '--key', TEST_KEY, '--publish', url, ...extra], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, CVCHAT_CONFIG_DIR: configDir } });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const status = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    return { status, stderr };
  }

  it('makes the mountpoint, sends it RTP, finds it the next time; errors name the fix', async () => {
    const url = `janus://127.0.0.1/10?secret=s10&admin_key=${ADMIN}`;
    const made = await publish(url);
    assert.equal(made.status, 0, made.stderr);
    assert.match(made.stderr, /Janus mountpoint 10 \(made now\) at http:\/\/127\.0\.0\.1:8088\/janus, RTP to 127\.0\.0\.1:\d+/);
    const age = mountpointAge(ns, 10, 's10');
    assert.ok(age !== null && age < 5000, `Janus received the RTP (the last packet ${age} ms ago)`);
    // With --web, the sender also says where Janus's viewers watch.
    const found = await publish('janus://127.0.0.1/10?secret=s10', ['--web', '0']);
    assert.equal(found.status, 0, found.stderr);
    assert.match(found.stderr, /Janus mountpoint 10 \(found\)/);
    assert.match(found.stderr, /Janus's viewers \(no key needed\) watch at https:\/\/127\.0\.0\.1:\d+\/janus\.html#server=http:\/\/127\.0\.0\.1:8088\/janus&id=10/);
    const cases: Array<[string, string[], RegExp]> = [
      ['janus://127.0.0.1/10?secret=wrong', [], /Wrong secret for mountpoint 10/],
      [`janus://127.0.0.1/11?secret=s11&admin_key=not-it`, [], /wrong admin key/],
      ['janus://127.0.0.1/12?secret=s12', [], /needs the streaming plugin's admin key.*admin_key=K/],
      ['janus://127.0.0.1/10?secret=s10', ['--publish-codec', 'h264'], /takes vp8, not h264: use --publish-codec vp8/],
      ['janus://127.0.0.1:8099/10', [], /Janus is not reachable at http:\/\/127\.0\.0\.1:8099\/janus \(ECONNREFUSED\)/],
    ];
    for (const [bad, extra, message] of cases) {
      const run = await publish(bad, extra);
      assert.equal(run.status, 1, `${bad}: ${run.stderr}`);
      assert.match(run.stderr, message);
    }
  });
});
