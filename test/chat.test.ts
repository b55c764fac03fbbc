// Two-way chat: two sides on loopback, in real windows, and as two hosts in network namespaces.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';

import { Chat, type ChatEnd } from '../lib/session/chat/chat';
import { labelColor } from '../lib/media/source';
import { framePixels } from '../lib/media/video';
import {
  cli,
  closeTo,
  canUseNetns,
  execFileP,
  exitWithin,
  findWindow,
  freePort,
  runCli,
  screenshot,
  sleep,
  startXvfb,
  statsLines,
  TEST_KEY,
  waitFor,
  writeTestClip,
  type Xvfb,
} from './helpers';

interface Side {
  chat: Chat;
  bars: number[][];
  done: Promise<ChatEnd>;
}

async function side(label: string, listen: number, peer: number, extra: Partial<ConstructorParameters<typeof Chat>[0]> = {}): Promise<Side> {
  const bars: number[][] = [];
  const chat = new Chat({
    source: 'test', width: 320, height: 240, label, key: TEST_KEY,
    listen: { host: '127.0.0.1', port: listen },
    peer: { host: '127.0.0.1', port: peer },
    onFrame: (d) => bars.push([...framePixels(d.frame).subarray(0, 3)]),
    ...extra,
  });
  await chat.start();
  return { chat, bars, done: chat.run() };
}

function sawPartner(s: Side, partnerLabel: string, count = 10): Promise<true> {
  return waitFor(`${count} frames from ${partnerLabel}`, () =>
    s.bars.filter((b) => closeTo(b, labelColor(partnerLabel), 20)).length >= count ? true : undefined);
}

describe('chat on loopback', () => {
  for (const order of ['a first', 'b first', 'at once'] as const) {
    it(`connects whatever the start order (${order}), video both ways, q ends both`, async () => {
      const [pa, pb] = [await freePort(), await freePort()];
      let a: Side;
      let b: Side;
      if (order === 'at once') {
        [a, b] = await Promise.all([side('alice', pa, pb), side('bob', pb, pa)]);
      } else if (order === 'a first') {
        a = await side('alice', pa, pb);
        await sleep(800);
        b = await side('bob', pb, pa);
      } else {
        b = await side('bob', pb, pa);
        await sleep(800);
        a = await side('alice', pa, pb);
      }
      await sawPartner(a, 'bob');
      await sawPartner(b, 'alice');
      assert.ok(a.bars.every((bar) => closeTo(bar, labelColor('bob'), 20)), 'alice sees only bob');
      await waitFor('round-trip time', () => (a.chat.rttMs !== null && b.chat.rttMs !== null ? true : undefined));
      assert.ok(a.chat.rttMs! >= 0 && a.chat.rttMs! < 1000);
      assert.equal(a.chat.calls, 1);
      assert.equal(b.chat.calls, 1);
      a.chat.stop();
      assert.equal(await a.done, 'quit');
      assert.equal(await b.done, 'partner-left');
    });
  }

  it('refuses a partner with another key, with a clear message', async () => {
    const [pa, pb] = [await freePort(), await freePort()];
    const a = await side('alice', pa, pb);
    const b = await side('bob', pb, pa, { key: 'a-different-key-2026' });
    // The side whose call is refused gives up with a clear error; its partner keeps waiting for
    // a partner with the right key, as it would for one that is not up yet.
    const first = await Promise.race([a.done, b.done]).then(
      (end) => assert.fail(`a side ended with '${end}' instead of an error`),
      (error: { code: string; message: string }) => error,
    );
    assert.equal(first.code, 'CVCHAT_WRONG_KEY');
    assert.match(first.message, /refused our key/);
    assert.equal(a.bars.length + b.bars.length, 0, 'no frame crossed');
    a.chat.stop();
    b.chat.stop();
    await Promise.allSettled([a.done, b.done]);
  });

  it('an encrypted side explains a partner on the plain wire, and the plain side says whom it refused', async () => {
    const said: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((chunk: string | Uint8Array) => said.push(String(chunk)) > 0) as typeof process.stderr.write;
    const [pa, pb] = [await freePort(), await freePort()];
    const plain = await side('alice', pa, pb, { insecure: true, key: undefined });
    const encrypted = await side('bob', pb, pa);
    try {
      const first = await Promise.race([plain.done, encrypted.done]).then(
        (end) => assert.fail(`a side ended with '${end}'`),
        (error: { code: string }) => error,
      );
      assert.equal(first.code, 'CVCHAT_PEER_NOT_ENCRYPTED');
      await waitFor('the plain side to say so', () =>
        said.some((line) => /chat: refused 127\.0\.0\.1:\d+: the peer speaks TLS but this side runs --insecure \[CVCHAT_PEER_ENCRYPTED\]/.test(line)) ? true : undefined, 5000);
    } finally {
      process.stderr.write = write;
      plain.chat.stop();
      encrypted.chat.stop();
      await Promise.allSettled([plain.done, encrypted.done]);
    }
  });

  it('with --stay, waits for a new call after the partner leaves', async () => {
    const [pa, pb] = [await freePort(), await freePort()];
    const a = await side('alice', pa, pb, { stay: true });
    const b1 = await side('bob', pb, pa);
    await sawPartner(a, 'bob', 3);
    b1.chat.stop();
    await b1.done;
    a.bars.length = 0;
    const b2 = await side('carol', pb, pa);
    await sawPartner(a, 'carol', 3);
    assert.equal(a.chat.calls, 2);
    b2.chat.stop();
    await b2.done;
    a.chat.stop();
    await a.done;
  });

  it('leaves the call when its video file ends, and says so (ended, not quit)', async () => {
    const clip = await writeTestClip(60, 320, 240, 30);
    const [pa, pb] = [await freePort(), await freePort()];
    const b = await side('bob', pb, pa);
    const a = await side('alice', pa, pb, { source: clip, label: undefined });
    assert.equal(await a.done, 'ended');
    assert.equal(await b.done, 'partner-left');
    assert.ok(b.bars.length > 0, 'bob saw the file before it ended');
  });

  it('makes a key when given none, as a sender does', () => {
    const chat = new Chat({ source: 'test', peer: { host: '127.0.0.1', port: 1 } });
    assert.equal(chat.keyGenerated, true);
    assert.equal(chat.security.mode, 'tls');
    assert.match(chat.security.mode === 'tls' ? chat.security.key : '', /^[0-9A-Z]{5}(-[0-9A-Z]{5}){4}-[0-9A-Z]$/);
    const given = new Chat({ source: 'test', peer: { host: '127.0.0.1', port: 1 }, key: TEST_KEY });
    assert.equal(given.keyGenerated, false);
  });

  it('says which option to change when it cannot listen', async () => {
    const chat = new Chat({ source: 'test', key: TEST_KEY, listen: { host: '192.0.2.1', port: 0 }, peer: { host: '127.0.0.1', port: 1 } });
    await assert.rejects(chat.start(), { code: 'CVCHAT_BAD_ADDRESS', message: /192\.0\.2\.1 is not an address of this machine; use --listen 0\.0\.0\.0/ });
  });

  it('reconnects to a partner that was killed and restarted', async () => {
    const [pa, pb] = [await freePort(), await freePort()];
    const a = await side('alice', pa, pb);
    const args = ['chat', '--no-window', '--source', 'test', '--size', '320x240', '--label', 'bob', '--listen', `127.0.0.1:${pb}`, '--peer', `127.0.0.1:${pa}`, '--key', TEST_KEY];
    const env = { DISPLAY: '', QT_QPA_PLATFORM: '' };
    const first = runCli(args, env);
    await sawPartner(a, 'bob', 3);
    first.child.kill('SIGKILL'); // no BYE: to alice this is a lost network
    await first.exited;
    await waitFor('alice to notice', () => (a.chat.connected ? undefined : true));
    a.bars.length = 0;
    const second = runCli(args, env);
    await sawPartner(a, 'bob', 3);
    assert.equal(a.chat.calls, 2);
    a.chat.stop();
    assert.equal(await a.done, 'quit');
    assert.equal(await exitWithin(second, 10_000), 0, 'the partner exits 0 on "partner left"');
    assert.match(second.stderr(), /partner left/);
  });
});

describe('chat in real windows', () => {
  let xvfb: Xvfb;
  before(async () => {
    xvfb = await startXvfb();
  });
  after(() => xvfb?.stop());

  it('shows the partner in each window, and q on one side ends both with status 0', async () => {
    const [pa, pb] = [await freePort(), await freePort()];
    const env = { DISPLAY: xvfb.display, QT_QPA_PLATFORM: '' };
    const alice = runCli(['chat', '--source', 'test', '--label', 'alice', '--listen', `127.0.0.1:${pa}`, '--peer', `127.0.0.1:${pb}`, '--stats', '--key', TEST_KEY], env);
    const id = await findWindow(xvfb.display, 'VIDEO CHAT');
    const bob = runCli(['chat', '--source', 'test', '--label', 'bob', '--listen', `127.0.0.1:${pb}`, '--peer', `127.0.0.1:${pa}`, '--key', TEST_KEY], env);
    const ids = await waitFor('two chat windows', async () => {
      const { stdout } = await execFileP('xdotool', ['search', '--name', '^VIDEO CHAT$'], { env: { ...process.env, DISPLAY: xvfb.display } });
      const found = stdout.trim().split('\n').filter(Boolean);
      return found.length === 2 ? found : undefined;
    });
    const bobId = ids.find((w) => w !== id)!;
    const x = { env: { ...process.env, DISPLAY: xvfb.display } };
    await execFileP('xdotool', ['windowmove', bobId, '700', '0'], x);
    for (const [window, partner] of [[id, 'bob'], [bobId, 'alice']] as const) {
      await waitFor(`${partner} in a chat window`, async () => {
        const shot = await screenshot(xvfb.display, window);
        const bar = shot.mean(10, 5, shot.width / 2, 10);
        // The inset in the bottom right corner shows one's own picture.
        return closeTo(bar, labelColor(partner), 30) ? true : undefined;
      });
    }
    await execFileP('xdotool', ['key', '--window', id, 'q'], x);
    assert.equal(await exitWithin(alice, 10_000), 0, alice.stderr());
    assert.equal(await exitWithin(bob, 10_000), 0, bob.stderr());
    assert.match(bob.stderr(), /partner left/);
    const final = statsLines(alice.stdout()).filter((l) => l.final);
    assert.ok(final.some((l) => l.role === 'receiver' && l.frames > 0));
  });
});

describe('chat between two hosts (network namespaces joined by a veth pair)', { skip: canUseNetns() ? false : 'needs root and ip netns' }, () => {
  const tag = `cvc${process.pid % 100000}`;
  const [nsA, nsB] = [`${tag}a`, `${tag}b`];
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
  before(() => {
    ip('netns', 'add', nsA);
    ip('netns', 'add', nsB);
    ip('link', 'add', `${tag}va`, 'type', 'veth', 'peer', 'name', `${tag}vb`);
    ip('link', 'set', `${tag}va`, 'netns', nsA);
    ip('link', 'set', `${tag}vb`, 'netns', nsB);
    ip('-n', nsA, 'addr', 'add', '10.231.0.1/24', 'dev', `${tag}va`);
    ip('-n', nsB, 'addr', 'add', '10.231.0.2/24', 'dev', `${tag}vb`);
    for (const [ns, dev] of [[nsA, `${tag}va`], [nsB, `${tag}vb`]]) {
      ip('-n', ns, 'link', 'set', dev, 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
  });
  after(() => {
    for (const ns of [nsA, nsB]) {
      try {
        ip('netns', 'delete', ns);
      } catch {
        // already gone
      }
    }
  });

  it('each host receives the other\'s video at its own address', async () => {
    const spawnIn = (ns: string, label: string, listen: string, peer: string) => {
      const child = spawn('ip', ['netns', 'exec', ns, process.execPath, cli, 'chat', '--no-window', '--source', 'test', '--size', '320x240',
        '--label', label, '--listen', listen, '--peer', peer, '--frames', '40', '--stats', '--key', TEST_KEY], { env: { ...process.env, DISPLAY: '' } });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d));
      child.stderr.on('data', (d: Buffer) => (err += d));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      return { child, stdout: () => out, stderr: () => err, exited };
    };
    const a = spawnIn(nsA, 'alice', '10.231.0.1:9999', '10.231.0.2:9999');
    const b = spawnIn(nsB, 'bob', '10.231.0.2:9999', '10.231.0.1:9999');
    assert.equal(await exitWithin(a, 30_000), 0, a.stderr());
    assert.equal(await exitWithin(b, 30_000), 0, b.stderr());
    assert.match(a.stderr() + b.stderr(), /connected with 10\.231\.0\.[12]/);
    for (const run of [a, b]) {
      const final = statsLines(run.stdout()).find((l) => l.final && l.role === 'receiver');
      assert.ok(final && final.frames >= 30, `frames received: ${final?.frames}`);
    }
  });
});
