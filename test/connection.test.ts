// One Connection per socket, over real loopback sockets, plain and TLS: frames and control
// messages both ways, ACKs and their timings, the plain-wire TLS check (and its absence inside
// TLS), the viewer's rules, the idle and stall timeouts, and closing.
import assert from 'node:assert/strict';
import net from 'node:net';
import { afterEach, describe, it } from 'node:test';

import { Connection, type ConnectionEnd } from '../lib/net/connection';
import type { FrameTiming } from '../lib/net/outbound';
import type { Security } from '../lib/net/tls';
import { controlMessage } from '../lib/wire/control';
import { lengthHeader } from '../lib/wire/framing';
import { connectedPair, TEST_KEY, waitFor } from './helpers';

const servers: net.Server[] = [];
afterEach(() => servers.splice(0).forEach((server) => server.close()));


const tlsMode: Security = { mode: 'tls', key: TEST_KEY };

function closed(connection: Connection): Promise<ConnectionEnd> {
  return new Promise((resolve) => connection.once('close', resolve));
}

const frameOf = (seq: number, payload: Buffer) => ({ parts: [lengthHeader(payload.length), payload], seq });

for (const security of [{ mode: 'plain' } as Security, tlsMode]) {
  describe(`connection (${security.mode})`, () => {
    it('carries frames one way and ACKs the other, reporting each acked frame with its timing', async () => {
      const [a, b] = await connectedPair(security, servers);
      const viewer = new Connection(a, { security: security.mode, side: 'accepted', inbound: 'acks' });
      const sender = new Connection(b, { security: security.mode, side: 'dialled', inbound: 'frames' });
      // Roles as the sender sees them: `viewer` is its side of a viewer, `sender` the viewer's side.
      const received: Buffer[] = [];
      const timings: FrameTiming[] = [];
      sender.on('frame', (payload) => {
        received.push(payload);
        sender.ack(payload[0]);
      });
      viewer.on('acked', (timing) => timings.push(timing));
      for (let seq = 0; seq < 20; seq++) {
        await waitFor('room to send', () => (viewer.ready ? true : undefined), 5000);
        viewer.send(frameOf(seq, Buffer.from([seq, 1, 2, 3])));
      }
      await waitFor('the last ack', () => (timings.at(-1)?.seq === 19 ? true : undefined), 5000);
      assert.deepEqual(received.map((p) => p[0]), [...Array(20).keys()]);
      assert.ok(timings.every((t) => t.bytes === 12 && t.sentAt <= t.ackedAt!), 'bytes and times of each frame');
      viewer.close();
      const [viewerEnd, senderEnd] = await Promise.all([closed(viewer), closed(sender)]);
      assert.equal(viewerEnd.error, undefined);
      assert.equal(senderEnd.error, undefined);
      assert.equal(viewer.state, 'closed');
    });

    it('hands control messages to its owner and a last message sent by close() arrives', async () => {
      const [a, b] = await connectedPair(security, servers);
      const left = new Connection(a, { security: security.mode, side: 'accepted', inbound: 'frames' });
      const right = new Connection(b, { security: security.mode, side: 'dialled', inbound: 'frames' });
      const controls: string[] = [];
      right.on('control', (kind, text) => controls.push(`${kind} ${text}`));
      left.sendControl('HELLO', '42');
      left.close(controlMessage('BYE', 'partner left'));
      const end = await closed(right);
      assert.deepEqual(controls, ['HELLO 42', 'BYE partner left']);
      assert.equal(end.error, undefined);
    });

    it('cuts off a viewer that sends anything but ACKs', async () => {
      const [a, b] = await connectedPair(security, servers);
      const viewer = new Connection(a, { security: security.mode, side: 'accepted', inbound: 'acks' });
      b.on('error', () => undefined);
      b.write(Buffer.concat([lengthHeader(5), Buffer.from('hello')]));
      const end = await closed(viewer);
      assert.equal(end.error?.code, 'CVCHAT_BAD_VIEWER_DATA');
      b.destroy();
    });

    it('refuses a declared length above its limit before the payload comes', async () => {
      const [a, b] = await connectedPair(security, servers);
      const connection = new Connection(a, { security: security.mode, side: 'accepted', inbound: 'frames', maxFrameBytes: 1000 });
      b.on('error', () => undefined);
      b.write(lengthHeader(1001));
      assert.equal((await closed(connection)).error?.code, 'CVCHAT_FRAME_TOO_LARGE');
      b.destroy();
    });

    it('closes when no complete payload comes for the idle timeout', async () => {
      const [a, b] = await connectedPair(security, servers);
      const connection = new Connection(a, { security: security.mode, side: 'accepted', inbound: 'frames', idleTimeoutMs: 300 });
      b.on('error', () => undefined);
      b.write(lengthHeader(100)); // and never the payload
      const started = Date.now();
      assert.equal((await closed(connection)).error?.code, 'CVCHAT_IDLE_TIMEOUT');
      assert.ok(Date.now() - started < 2000);
      b.destroy();
    });

    it('cuts off a peer that stops reading, by its timer, with no further frame offered', async () => {
      const [a, b] = await connectedPair(security, servers);
      b.pause(); // never reads: the kernel's buffers fill and the write never completes
      b.on('error', () => undefined);
      const connection = new Connection(a, { security: security.mode, side: 'accepted', inbound: 'acks', stallTimeoutMs: 500 });
      connection.send(frameOf(0, Buffer.alloc(32 * 1024 * 1024, 1)));
      const started = Date.now();
      const end = await closed(connection);
      assert.equal(end.error?.code, 'CVCHAT_VIEWER_STALLED');
      assert.ok(Date.now() - started < 5000);
      b.destroy();
    });
  });
}

describe('connection: the first frame inside TLS', () => {
  it('goes alone until its ACK; a frame dropped when the ACK names codecs never goes, and the next does', async () => {
    const [a, b] = await connectedPair(tlsMode, servers);
    const toViewer = new Connection(a, { security: 'tls', side: 'accepted', inbound: 'acks' });
    const viewerSide = new Connection(b, { security: 'tls', side: 'dialled', inbound: 'frames' });
    const received: number[] = [];
    viewerSide.on('frame', (payload) => received.push(payload[0]));
    // What a sink that starts a video stream does: the JPEG frame waiting to go is no longer wanted.
    toViewer.on('codecs', () => toViewer.dropWaiting());
    toViewer.send(frameOf(1, Buffer.from([1])));
    await waitFor('frame 1', () => (received.length === 1 ? true : undefined), 5000);
    toViewer.send(frameOf(2, Buffer.from([2])));
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(received, [1], 'frame 2 waits for the first ACK');
    viewerSide.ack(1, undefined, { codecs: ['h264'] });
    await waitFor('the ACK', () => (toViewer.ready ? true : undefined), 5000);
    assert.equal(toViewer.dropped, 1, 'frame 2 was dropped, not sent');
    toViewer.send(frameOf(3, Buffer.from([3])));
    await waitFor('frame 3', () => (received.length === 2 ? true : undefined), 5000);
    assert.deepEqual(received, [1, 3]);
    toViewer.destroy();
    viewerSide.destroy();
  });
});

describe('connection: the first bytes', () => {
  it('on the plain wire, answers a TLS handshake with PLAIN and closes', async () => {
    const [a, b] = await connectedPair({ mode: 'plain' }, servers);
    const connection = new Connection(a, { security: 'plain', side: 'accepted', inbound: 'acks' });
    const answer: Buffer[] = [];
    b.on('data', (d: Buffer) => answer.push(d));
    b.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00]));
    const end = await closed(connection);
    assert.equal(end.error?.code, 'CVCHAT_PEER_ENCRYPTED');
    await waitFor('the answer', () => (Buffer.concat(answer).includes('CVCHAT:PLAIN') ? true : undefined), 2000);
    b.destroy();
  });

  it('from a plain server it dialled, takes a frame whose length bytes look like a TLS handshake for a frame', async () => {
    // 790 bytes is 0x0316: the header starts 16 03 00. A server never opens with a ClientHello.
    const [a, b] = await connectedPair({ mode: 'plain' }, servers);
    const connection = new Connection(b, { security: 'plain', side: 'dialled', inbound: 'frames' });
    const got: Buffer[] = [];
    connection.on('frame', (p) => got.push(p));
    a.write(Buffer.concat([lengthHeader(790), Buffer.alloc(790, 1)]));
    await waitFor('the frame', () => (got.length === 1 ? true : undefined), 5000);
    assert.equal(connection.state, 'open');
    connection.destroy();
    a.destroy();
  });

  it('inside TLS, takes a frame whose length bytes look like a TLS handshake for a frame', async () => {
    // 131,862 bytes is 0x020316: as a little-endian length its first bytes are 16 03 02, a
    // ClientHello's. Inside TLS that can only be a frame.
    const [a, b] = await connectedPair(tlsMode, servers);
    const connection = new Connection(b, { security: 'tls', side: 'dialled', inbound: 'frames' });
    const payload = Buffer.alloc(131_862, 0x5a);
    const got: Buffer[] = [];
    connection.on('frame', (p) => got.push(p));
    const header = lengthHeader(payload.length);
    assert.deepEqual([...header.subarray(0, 3)], [0x16, 0x03, 0x02]);
    a.write(Buffer.concat([header, payload]));
    await waitFor('the frame', () => (got.length === 1 ? true : undefined), 5000);
    assert.equal(got[0].length, payload.length);
    assert.equal(connection.state, 'open');
    connection.destroy();
    a.destroy();
  });
});
