// Sender and receiver end to end on loopback: real sockets, real capture and codecs.
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';

import type { DecodedFrame } from '../lib/session/decoder';
import { lengthHeader } from '../lib/wire/framing';
import { FRAMELESS_SESSIONS_BEFORE_BACKOFF, Receiver } from '../lib/session/receiver';
import { Sender } from '../lib/session/sender';
import { encode, framePixels, openCapture, openMemoryCapture } from '../lib/media/video';
import { createListener, dial } from '../lib/net/tls';
import { freePort, sleep, TEST_KEY, waitFor, writeTestClip } from './helpers';

/** A JPEG of the test picture padded with comment segments (which decoders skip) to exactly `size` bytes. */
async function jpegOfSize(size: number): Promise<Buffer> {
  const source = await openCapture({ source: 'test', width: 320, height: 240 });
  const frame = (await source.read())!;
  const jpeg = await encode(frame);
  frame.release();
  await source.release();
  const segments: Buffer[] = [];
  let pad = size - jpeg.length;
  while (pad > 0) {
    // A COM segment is FF FE, a 16-bit length that counts itself, then that many bytes less two.
    const total = pad > 65_537 ? Math.min(65_537, pad - 4) : pad;
    const segment = Buffer.alloc(total, 0x20);
    segment[0] = 0xff;
    segment[1] = 0xfe;
    segment.writeUInt16BE(total - 2, 2);
    segments.push(segment);
    pad -= total;
  }
  const padded = Buffer.concat([jpeg.subarray(0, 2), ...segments, jpeg.subarray(2)]);
  assert.equal(padded.length, size);
  return padded;
}

async function startSender(options: ConstructorParameters<typeof Sender>[0]) {
  const sender = new Sender({ host: '127.0.0.1', port: 0, source: 'test', width: 320, height: 240, key: TEST_KEY, ...options });
  await sender.start();
  const done = sender.run();
  return { sender, done };
}

function receive(port: number, frames: number, onFrame?: (d: DecodedFrame) => void) {
  const receiver = new Receiver({ connect: { host: '127.0.0.1', port }, frames, onFrame, key: TEST_KEY });
  return { receiver, done: receiver.run() };
}

describe('sender to receiver on loopback', () => {
  it('streams the test source with metadata, in order, pixels intact', async () => {
    const { sender, done } = await startSender({ color: [0, 0, 255] });
    const seqs: number[] = [];
    const latencies: number[] = [];
    let bar: number[] = [];
    const r = receive(sender.port, 20, (d) => {
      seqs.push(d.meta!.seq);
      latencies.push(d.latencyMs!);
      bar = [...framePixels(d.frame).subarray(0, 3)];
    });
    assert.equal(await r.done, 'limit');
    await sender.stop();
    await done;
    assert.equal(seqs.length, 20);
    assert.ok(seqs.every((s, i) => i === 0 || s > seqs[i - 1]), `sequence numbers increase: ${seqs}`);
    assert.ok(latencies.every((l) => l >= 0 && l < 1000), `latencies ${latencies}`);
    assert.ok(bar[2] > 240 && bar[0] < 15 && bar[1] < 15, `the red bar arrived: ${bar}`);
  });

  it('streams a video file and ends when the file does', async () => {
    const file = await writeTestClip(40, 320, 240, 100);
    // Hold the sender until a viewer is there, so every frame of the file has someone to go to.
    const sender = new Sender({ host: '127.0.0.1', port: 0, source: file, key: TEST_KEY });
    await sender.start();
    const r = receive(sender.port, 1000);
    await waitFor('viewer', () => (sender.viewerCount === 1 ? true : undefined));
    assert.equal(await sender.run(), 'ended');
    await waitFor('frames', () => (r.receiver.stats.frames >= 30 ? true : undefined));
    r.receiver.stop();
    await r.done;
  });

  it('serves several receivers, one joining late and one leaving, each undisturbed', async () => {
    const { sender, done } = await startSender({});
    const a = receive(sender.port, 60);
    const b = receive(sender.port, 10);
    assert.equal(await b.done, 'limit'); // b leaves
    const c = receive(sender.port, 20); // c joins late
    assert.equal(await c.done, 'limit');
    assert.equal(await a.done, 'limit');
    assert.equal(a.receiver.stats.dropped, 0);
    await sender.stop();
    await done;
  });

  it('refuses a viewer beyond --max-viewers with a clear message', async () => {
    const { sender, done } = await startSender({ maxViewers: 1 });
    const first = receive(sender.port, 1000);
    await waitFor('first viewer', () => (sender.viewerCount === 1 ? true : undefined));
    const second = new Receiver({ connect: { host: '127.0.0.1', port: sender.port }, key: TEST_KEY });
    await assert.rejects(second.run(), { code: 'CVCHAT_SENDER_BUSY', message: /maximum of 1 viewers/ });
    assert.ok(first.receiver.stats.frames > 0 || (await waitFor('frames', () => (first.receiver.stats.frames > 0 ? true : undefined))));
    first.receiver.stop();
    await first.done;
    await sender.stop();
    await done;
  });

  it('drops frames for a viewer that stops reading while a fast one keeps full rate', async () => {
    // JPEG for both, so that the backlog is measured in frames of one size.
    const { sender, done } = await startSender({ width: 1280, height: 720, fps: 30, quality: 95, codec: 'jpeg' });
    const stalled = await dial({ mode: 'tls', key: TEST_KEY }, { host: '127.0.0.1', port: sender.port });
    stalled.pause(); // never reads: the kernel buffers fill, then the sender must drop
    const fast = receive(sender.port, 10_000);
    let worstBacklog = 0;
    const started = Date.now();
    while (Date.now() - started < 6000) {
      worstBacklog = Math.max(worstBacklog, sender.maxViewerBacklog);
      await sleep(20);
    }
    const frameBytes = (sender.stats!.bytes / sender.stats!.frames) | 0;
    const fastFrames = fast.receiver.stats.frames;
    fast.receiver.stop();
    await fast.done;
    stalled.destroy();
    await sender.stop();
    await done;
    assert.ok(sender.dropped > 20, `the stalled viewer's old frames were dropped (${sender.dropped})`);
    assert.ok(worstBacklog <= 3 * frameBytes, `backlog ${worstBacklog} bytes stayed within a few frames of ${frameBytes}`);
    assert.ok(fastFrames >= 6 * 30 * 0.7, `the fast viewer kept its rate: ${fastFrames} frames in 6 s`);
  });

  it('reconnects when the sender restarts on the same port', async () => {
    const port = await freePort();
    const first = await startSender({ port });
    const r = receive(port, 100_000);
    await waitFor('frames from the first sender', () => (r.receiver.stats.frames >= 5 ? true : undefined));
    await first.sender.stop();
    await first.done;
    const before = r.receiver.stats.frames;
    await sleep(500);
    const second = await startSender({ port, color: [0, 255, 0] });
    await waitFor('frames from the second sender', () => (r.receiver.stats.frames >= before + 5 ? true : undefined));
    r.receiver.stop();
    await r.done;
    await second.sender.stop();
    await second.done;
  });

  it('waits for a sender that is not up yet', async () => {
    const port = await freePort();
    const r = receive(port, 5);
    await sleep(1200);
    const { sender, done } = await startSender({ port });
    assert.equal(await r.done, 'limit');
    await sender.stop();
    await done;
  });

  it('closes a connection that sends garbage and keeps serving', async () => {
    const server = net.createServer((socket) => {
      socket.write(Buffer.concat([lengthHeader(5), Buffer.from('hello')]));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const receiver = new Receiver({ connect: { host: '127.0.0.1', port }, frames: 1, insecure: true });
    const running = receiver.run();
    await sleep(1500);
    receiver.stop();
    assert.equal(await running, 'stopped');
    assert.equal(receiver.stats.frames, 0);
    server.close();
  });

  it('backs off from a sender that never sends a usable frame, and says so once', async () => {
    let connections = 0;
    const server = net.createServer((socket) => {
      connections++;
      socket.end(Buffer.concat([lengthHeader(5), Buffer.from('hello')]));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const said: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((chunk: string | Uint8Array) => said.push(String(chunk)) > 0) as typeof process.stderr.write;
    const receiver = new Receiver({ connect: { host: '127.0.0.1', port }, insecure: true });
    const running = receiver.run();
    try {
      await sleep(3000);
    } finally {
      receiver.stop();
      process.stderr.write = write;
      server.close();
    }
    assert.equal(await running, 'stopped');
    // At a fixed 50 ms it would dial about 55 times; backing off (5 quick tries, then 0.2, 0.4,
    // 0.8, 1.6 s) leaves about 9.
    assert.ok(connections >= FRAMELESS_SESSIONS_BEFORE_BACKOFF && connections <= 12, `${connections} connections in 3 s`);
    assert.equal(said.filter((line) => /without a frame we could show; retrying less often/.test(line)).length, 1, said.join(''));
  });

  it('refuses an oversize frame declaration from a rogue sender without allocating it', async () => {
    let closed = false;
    const server = net.createServer((socket) => {
      socket.write(lengthHeader(2 ** 40));
      socket.on('close', () => (closed = true));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const rss = process.memoryUsage().rss;
    const receiver = new Receiver({ connect: { host: '127.0.0.1', port }, insecure: true });
    const running = receiver.run();
    await waitFor('the receiver to hang up', () => (closed ? true : undefined));
    receiver.stop();
    await running;
    server.close();
    assert.ok(process.memoryUsage().rss - rss < 100e6);
  });

  it('stopping at any moment ends run() cleanly, even with a read pending', async () => {
    for (let i = 0; i < 40; i++) {
      const { sender, done } = await startSender({ width: 1280, height: 720, fps: 0 });
      await sleep(i % 7);
      await sender.stop();
      assert.ok(['stopped', 'limit', 'ended'].includes(await done), `run ${i}`);
    }
  });

  it('shows a first frame whose length bytes look like a TLS handshake (16 03 02...), over TLS', async () => {
    // 131,862 = 0x020316, so the length header starts 16 03 02, like a ClientHello. Inside TLS
    // it can only be a frame; the receiver must not take it for an encrypted peer on a plain wire.
    const jpeg = await jpegOfSize(131_862);
    const server = createListener({ mode: 'tls', key: TEST_KEY }, {
      connection: (socket) => {
        socket.on('error', () => undefined);
        socket.write(Buffer.concat([lengthHeader(jpeg.length), jpeg]));
      },
      refused: () => undefined,
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const receiver = new Receiver({ connect: { host: '127.0.0.1', port }, key: TEST_KEY, frames: 1 });
    const running = receiver.run();
    try {
      await waitFor('the frame', () => (receiver.stats.frames === 1 ? true : undefined), 5000);
    } finally {
      receiver.stop();
      server.close();
    }
    assert.equal(await running, 'limit');
  });

  it('cuts off a lone stalled viewer of a source read on demand', async () => {
    // A memory source read unpaced waits for a viewer that can take a frame; with one viewer that
    // stopped reading, no frame is ever offered again, and the stall must still be noticed.
    const still = await openCapture({ source: 'test', width: 1280, height: 720 });
    const picture = (await still.read())!;
    await still.release();
    const capture = await openMemoryCapture([picture]);
    const sender = new Sender({ host: '127.0.0.1', port: 0, capture, fps: 0, quality: 95, key: TEST_KEY, stallTimeoutMs: 1000 });
    await sender.start();
    const done = sender.run();
    const stalled = await dial({ mode: 'tls', key: TEST_KEY }, { host: '127.0.0.1', port: sender.port });
    stalled.pause();
    stalled.on('error', () => undefined);
    try {
      await waitFor('the viewer', () => (sender.viewerCount === 1 ? true : undefined));
      await waitFor('the stalled viewer to be cut off', () => (sender.viewerCount === 0 ? true : undefined), 10_000);
    } finally {
      stalled.destroy();
      await sender.stop();
    }
    await done;
    picture.release();
  });

  it('encodes each frame once for all viewers', async () => {
    const { sender, done } = await startSender({});
    const receivers = [receive(sender.port, 15), receive(sender.port, 15), receive(sender.port, 15)];
    await Promise.all(receivers.map((r) => r.done));
    const encoded = sender.stats!.frames;
    await sender.stop();
    await done;
    const delivered = receivers.reduce((n, r) => n + r.receiver.stats.frames, 0);
    assert.ok(delivered >= 45 && encoded < delivered, `encoded ${encoded} frames for ${delivered} deliveries`);
  });
});
