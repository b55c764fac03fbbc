// Encrypted by default: the right key streams; wrong, missing and truncated handshakes are refused
// with nothing leaked; abusive peers are cut off without disturbing anyone else.
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { afterEach, describe, it } from 'node:test';

import { parseControl } from '../lib/wire/control';
import { FrameReader, lengthHeader } from '../lib/wire/framing';
import { Receiver } from '../lib/session/receiver';
import { dial, generateKey, HandshakeGuard } from '../lib/net/tls';
import { Sender } from '../lib/session/sender';
import { exitWithin, freePort, runCli, sleep, TEST_KEY, waitFor } from './helpers';

const running: Sender[] = [];

async function startSender(options: ConstructorParameters<typeof Sender>[0] = {}) {
  const sender = new Sender({ host: '127.0.0.1', port: 0, source: 'test', width: 160, height: 120, key: TEST_KEY, ...options });
  await sender.start();
  running.push(sender);
  return { sender, done: sender.run() };
}

// A failed assertion must not leave a sender running (the test process would never exit).
afterEach(async () => {
  await Promise.all(running.splice(0).map((sender) => sender.stop()));
});

/** A TCP proxy that records every byte the server sends towards the client. */
async function recordingProxy(targetPort: number) {
  const fromServer: Buffer[] = [];
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    upstream.on('data', (d) => fromServer.push(d));
    client.pipe(upstream).on('error', () => undefined);
    upstream.pipe(client).on('error', () => undefined);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, bytes: () => Buffer.concat(fromServer), close: () => server.close() };
}

/** The content types of the TLS records in a byte stream (20 CCS, 21 alert, 22 handshake, 23 data). */
function recordTypes(bytes: Buffer): number[] {
  const types: number[] = [];
  for (let at = 0; at + 5 <= bytes.length; at += 5 + bytes.readUInt16BE(at + 3)) types.push(bytes[at]);
  return types;
}

/** A raw TLS-PSK client with the given key; resolves how it ended. */
function tlsClient(port: number, key: string, localAddress?: string): Promise<{ secure: boolean; error?: string; data: number }> {
  return new Promise((resolve) => {
    let data = 0;
    let secure = false;
    let error: string | undefined;
    const socket = dial({ mode: 'tls', key }, { host: '127.0.0.1', port }, localAddress);
    socket.then(
      (s) => {
        secure = true;
        s.on('data', (d: Buffer) => (data += d.length));
        s.on('error', () => undefined);
        setTimeout(() => s.destroy(), 700);
        s.on('close', () => resolve({ secure, data }));
      },
      (e: NodeJS.ErrnoException) => {
        error = e.code ?? e.message;
        resolve({ secure, error, data });
      },
    );
  });
}

describe('keys', () => {
  it('generates strong, typeable keys', () => {
    const key = generateKey();
    assert.match(key, /^[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){4}-[0-9A-HJKMNP-TV-Z]$/);
    assert.notEqual(generateKey(), key);
  });

  it('refuses weak keys and a receiver without a key', () => {
    assert.throws(() => new Sender({ key: 'short' }), { code: 'CVCHAT_WEAK_KEY' });
    assert.throws(() => new Receiver({ connect: { host: '127.0.0.1', port: 1 } }), { code: 'CVCHAT_NO_KEY', message: /--key.*--insecure/ });
  });

  it('slows down an address after repeated failures, and forgets it after a success', () => {
    let now = 0;
    const guard = new HandshakeGuard(() => now);
    guard.failed('a');
    guard.failed('a');
    assert.equal(guard.blocked('a'), false);
    guard.failed('a');
    assert.equal(guard.blocked('a'), true);
    assert.equal(guard.blocked('b'), false);
    now += 1001;
    assert.equal(guard.blocked('a'), false);
    guard.failed('a');
    now += 1500;
    assert.equal(guard.blocked('a'), true, 'the pause doubles');
    guard.succeeded('a');
    assert.equal(guard.blocked('a'), false);
  });
});

describe('encrypted sender', () => {
  it('streams to the right key over TLS 1.2 ECDHE-PSK', async () => {
    const { sender, done } = await startSender();
    const socket = (await dial({ mode: 'tls', key: TEST_KEY }, { host: '127.0.0.1', port: sender.port })) as tls.TLSSocket;
    assert.equal(socket.getProtocol(), 'TLSv1.2');
    assert.match(socket.getCipher().name, /^ECDHE-PSK-/);
    socket.destroy();
    const receiver = new Receiver({ connect: { host: '127.0.0.1', port: sender.port }, key: TEST_KEY, frames: 5 });
    assert.equal(await receiver.run(), 'limit');
    await sender.stop();
    await done;
  });

  it('sends a wrong key nothing but the handshake, and the receiver exits with a clear message', async () => {
    const { sender, done } = await startSender();
    const proxy = await recordingProxy(sender.port);
    const receiver = new Receiver({ connect: { host: '127.0.0.1', port: proxy.port }, key: 'not-the-right-key' });
    await assert.rejects(receiver.run(), { code: 'CVCHAT_WRONG_KEY', message: /refused our key/ });
    await sleep(300);
    const types = recordTypes(proxy.bytes());
    assert.ok(types.includes(22), 'the server answered the handshake');
    assert.ok(!types.includes(23), `no application data reached the wrong key: record types ${types}`);
    // The same proxy with the right key does carry application data: the check above can fail.
    const good = new Receiver({ connect: { host: '127.0.0.1', port: proxy.port }, key: TEST_KEY, frames: 2 });
    await good.run();
    await sleep(100);
    assert.ok(recordTypes(proxy.bytes()).includes(23));
    proxy.close();
    await sender.stop();
    await done;
  });

  it('gives a silent or truncated handshake nothing, and closes it', async () => {
    const { sender, done } = await startSender({ handshakeTimeoutMs: 800 });
    const attempts = [Buffer.alloc(0), Buffer.from([0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00, 0xc4, 0x03, 0x03])];
    for (const sent of attempts) {
      const socket = net.connect(sender.port, '127.0.0.1');
      let received = 0;
      socket.on('data', (d) => (received += d.length));
      socket.on('error', () => undefined);
      socket.write(sent);
      const started = Date.now();
      await new Promise((resolve) => socket.once('close', resolve));
      assert.equal(received, 0, `bytes received after sending ${sent.length} bytes`);
      assert.ok(Date.now() - started < 5000);
    }
    await sender.stop();
    await done;
  });

  it('logs the refused address, and a plain receiver is told to use the key', async () => {
    const port = await freePort();
    const sender = runCli(['sender', '--source', 'test', '--size', '160x120', '--host', '127.0.0.1', '--port', String(port), '--key', TEST_KEY],
      { DISPLAY: '', QT_QPA_PLATFORM: '' });
    await waitFor('the sender', () => (sender.stderr().includes('encrypted') ? true : undefined));
    assert.equal((await tlsClient(port, 'some-other-key-123')).secure, false);
    await waitFor('the log line', () => (/refused 127\.0\.0\.1: handshake failed.*CVCHAT_HANDSHAKE_FAILED/.test(sender.stderr()) ? true : undefined));
    const plain = runCli(['receiver', '--insecure', '--no-window', '--connect', `127.0.0.1:${port}`], { DISPLAY: '', QT_QPA_PLATFORM: '' });
    await waitFor('the hint', () => (/without sending anything: if it runs encrypted.*--key/.test(plain.stderr()) ? true : undefined), 20_000);
    plain.child.kill('SIGTERM');
    assert.equal(await exitWithin(plain, 10_000), 0);
    assert.match(plain.stderr(), /WARNING --insecure/);
    sender.child.kill('SIGTERM');
    assert.equal(await exitWithin(sender, 10_000), 0);
  });

  it('an encrypted receiver explains a sender on the plain wire', async () => {
    // 0.2 fps: no frame leaves before the receiver's TLS handshake arrives, so the sender's answer
    // to the handshake itself is what the receiver must understand.
    const { sender, done } = await startSender({ insecure: true, fps: 0.2 });
    const receiver = new Receiver({ connect: { host: '127.0.0.1', port: sender.port }, key: TEST_KEY });
    await assert.rejects(receiver.run(), { code: 'CVCHAT_PEER_NOT_ENCRYPTED', message: /--insecure/ });
    await sender.stop();
    await done;
  });

  it('answers 50 connection attempts at once, each with the right outcome', async () => {
    const { sender, done } = await startSender({ maxViewers: 5 });
    const attempt = async () => {
      const socket = await dial({ mode: 'tls', key: TEST_KEY }, { host: '127.0.0.1', port: sender.port });
      const reader = new FrameReader();
      return new Promise<'frames' | 'busy' | 'nothing'>((resolve) => {
        const timer = setTimeout(() => resolve('nothing'), 8000);
        socket.on('error', () => undefined);
        socket.on('data', (chunk: Buffer) => {
          for (const payload of reader.push(chunk)) {
            clearTimeout(timer);
            const control = parseControl(payload);
            resolve(control?.kind === 'BUSY' ? 'busy' : payload[0] === 0xff ? 'frames' : 'nothing');
          }
        });
      }).finally(() => setTimeout(() => socket.destroy(), 300));
    };
    // Wrong keys from another address: failures slow down their own address, not 127.0.0.1.
    const wrongKey = Array.from({ length: 10 }, () => tlsClient(sender.port, 'wrong-key-for-this', '127.0.0.2'));
    const outcomes = await Promise.all(Array.from({ length: 50 }, attempt));
    const count = (what: string) => outcomes.filter((o) => o === what).length;
    assert.equal(count('frames'), 5, `outcomes: ${outcomes}`);
    assert.equal(count('busy'), 45, `outcomes: ${outcomes}`);
    for (const bad of await Promise.all(wrongKey)) assert.equal(bad.secure, false);
    await sender.stop();
    await done;
  });

  it('serves more viewers than the pending-handshake cap once their handshakes are done', async () => {
    // 64 handshakes may be pending at once; finished ones must not count against that, or an
    // encrypted sender with --max-viewers 200 would serve only 64.
    const { sender, done } = await startSender({ maxViewers: 200 });
    const sockets = await Promise.all(Array.from({ length: 80 }, async (_, i) => {
      await sleep(i * 5); // a crowd arriving over 0.4 s, not a flood of pending handshakes
      return dial({ mode: 'tls', key: TEST_KEY }, { host: '127.0.0.1', port: sender.port });
    }));
    for (const socket of sockets) socket.on('error', () => undefined);
    await waitFor('80 viewers', () => (sender.viewerCount === 80 ? true : undefined), 10_000);
    for (const socket of sockets) socket.destroy();
    await sender.stop();
    await done;
  });

  it('slows down an address that keeps failing, while others are served', async () => {
    const { sender, done } = await startSender();
    for (let i = 0; i < 4; i++) assert.equal((await tlsClient(sender.port, 'wrong-key-attempt')).secure, false);
    // 127.0.0.1 is now refused at once, even with the right key...
    const blocked = await tlsClient(sender.port, TEST_KEY);
    assert.equal(blocked.secure, false);
    // ...until its pause has passed.
    await sleep(2500);
    assert.equal((await tlsClient(sender.port, TEST_KEY)).secure, true);
    await sender.stop();
    await done;
  });
});

describe('abusive peers', () => {
  it('a sender dripping a byte at a time is cut off by the idle timeout', async () => {
    let closed = false;
    const server = net.createServer((socket) => {
      socket.write(lengthHeader(5000));
      const drip = setInterval(() => socket.write(Buffer.from([0xff])), 200);
      socket.on('close', () => {
        clearInterval(drip);
        closed = true;
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const receiver = new Receiver({ connect: { host: '127.0.0.1', port }, insecure: true, idleTimeoutMs: 1000 });
    const running = receiver.run();
    const started = Date.now();
    await waitFor('the receiver to hang up', () => (closed ? true : undefined), 5000);
    assert.ok(Date.now() - started < 4000);
    receiver.stop();
    await running;
    server.close();
  });

  it('a viewer that never reads is cut off, and a reading one carries on', async () => {
    const { sender, done } = await startSender({ width: 1280, height: 720, quality: 95, stallTimeoutMs: 1500 });
    const stalled = await dial({ mode: 'tls', key: TEST_KEY }, { host: '127.0.0.1', port: sender.port });
    stalled.pause();
    const reader = new Receiver({ connect: { host: '127.0.0.1', port: sender.port }, key: TEST_KEY });
    const reading = reader.run();
    await waitFor('two viewers', () => (sender.viewerCount === 2 ? true : undefined));
    await waitFor('the stalled viewer to be cut off', () => (sender.viewerCount === 1 ? true : undefined), 20_000);
    const before = reader.stats.frames;
    await sleep(1000);
    assert.ok(reader.stats.frames > before + 10, 'the reading viewer kept receiving');
    reader.stop();
    await reading;
    stalled.destroy();
    await sender.stop();
    await done;
  });
});
