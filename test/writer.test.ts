// The outbound writer on its own: newest frame wins, the ACK window, stall detection and frame
// timings, against a socket stand-in whose writes complete when the test says so.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { FIRST_ACK_WAIT_MS, MAX_TRACKED_FRAMES, MAX_UNACKED } from '../lib/base/limits';
import { FrameWriter, type FrameTiming, type FrameWriterSocket } from '../lib/net/outbound';
import { sleep } from './helpers';

/** Records what is written; each frame's write completes only when complete() is called. */
class FakeSocket implements FrameWriterSocket {
  destroyed = false;
  writable = true;
  written: Buffer[][] = [];
  private current: Buffer[] = [];
  private callbacks: Array<(error?: Error | null) => void> = [];
  corked = 0;

  cork(): void {
    this.corked++;
  }
  uncork(): void {
    this.corked--;
  }
  write(chunk: Buffer, callback?: (error?: Error | null) => void): boolean {
    assert.ok(this.corked > 0, 'every part of a frame is written inside cork()');
    this.current.push(chunk);
    if (callback) {
      this.written.push(this.current);
      this.current = [];
      this.callbacks.push(callback);
    }
    return true;
  }
  /** The kernel took the oldest pending frame. */
  complete(): void {
    const callback = this.callbacks.shift();
    assert.ok(callback, 'a write was pending');
    callback();
  }
  get pending(): number {
    return this.callbacks.length;
  }
  /** Sequence numbers written, read back from the one-byte test frames. */
  get seqs(): number[] {
    return this.written.map((parts) => parts[1][0]);
  }
}

const frame = (seq: number) => ({ parts: [Buffer.from([0xaa]), Buffer.from([seq])], seq });

function writer(stallTimeoutMs = 60_000, awaitFirstAck = false) {
  const socket = new FakeSocket();
  const events = { ready: 0, stalled: 0, acked: [] as FrameTiming[] };
  const w = new FrameWriter(
    socket,
    { ready: () => events.ready++, stalled: () => events.stalled++, acked: (t) => events.acked.push(t) },
    stallTimeoutMs,
    awaitFirstAck,
  );
  return { socket, events, w };
}

describe('outbound frame writer', () => {
  it('writes a frame at once when idle, each frame as one corked batch of its parts', () => {
    const { socket, w } = writer();
    assert.equal(w.ready, true);
    w.offer(frame(1));
    assert.deepEqual(socket.written, [[Buffer.from([0xaa]), Buffer.from([1])]]);
    assert.equal(socket.corked, 0);
    assert.equal(w.ready, false, 'busy until the kernel takes it');
    w.close();
  });

  it('keeps only the newest frame while one is being written, counting the ones it replaced', () => {
    const { socket, events, w } = writer();
    w.offer(frame(1));
    w.offer(frame(2));
    w.offer(frame(3));
    w.offer(frame(4));
    assert.deepEqual(socket.seqs, [1]);
    assert.equal(w.dropped, 2, 'frames 2 and 3 were replaced');
    socket.complete();
    assert.deepEqual(socket.seqs, [1, 4], 'the newest waiting frame goes next');
    assert.equal(events.ready, 1);
    socket.complete();
    assert.equal(w.ready, true);
    assert.equal(events.ready, 2);
    w.close();
  });

  it('keeps at most MAX_UNACKED frames in flight once the peer acknowledges, and an ack covers older frames', () => {
    const { socket, events, w } = writer();
    w.offer(frame(1));
    socket.complete();
    w.ack(1); // from now on the peer acks: the window applies
    for (let seq = 2; seq < 2 + MAX_UNACKED; seq++) {
      w.offer(frame(seq));
      socket.complete();
    }
    assert.equal(w.unacknowledged, MAX_UNACKED);
    assert.equal(w.ready, false, 'the window is full although the kernel took everything');
    w.offer(frame(9));
    assert.equal(socket.pending, 0, 'frame 9 waits for an ack');
    w.ack(1 + MAX_UNACKED); // the newest: covers every older one too
    assert.equal(socket.seqs.at(-1), 9, 'the ack released the waiting frame');
    assert.equal(w.unacknowledged, 1);
    assert.deepEqual(events.acked.map((t) => t.seq), [1, 1 + MAX_UNACKED], 'timings only for frames acked by number');
    w.close();
  });

  it('to a peer that will ACK, sends the first frame alone: the next waits for the first ACK', () => {
    const { socket, w } = writer(60_000, true);
    w.offer(frame(1));
    socket.complete();
    assert.equal(w.ready, false, 'the kernel took frame 1, but its ACK has not come');
    w.offer(frame(2));
    w.offer(frame(3));
    assert.deepEqual(socket.seqs, [1], 'frames 2 and 3 wait; 3 replaced 2');
    assert.equal(w.dropped, 1);
    w.ack(1);
    assert.deepEqual(socket.seqs, [1, 3], 'the ACK released the newest');
    socket.complete();
    w.offer(frame(4));
    assert.deepEqual(socket.seqs, [1, 3, 4], 'then the usual window of MAX_UNACKED');
    w.close();
  });

  it('a peer that never ACKs gets the next frame after FIRST_ACK_WAIT_MS, and is not called stalled for the wait', async () => {
    const { socket, events, w } = writer(FIRST_ACK_WAIT_MS / 3, true);
    w.offer(frame(1));
    socket.complete();
    w.offer(frame(2));
    await sleep(FIRST_ACK_WAIT_MS / 2);
    assert.deepEqual(socket.seqs, [1], 'still waiting for an ACK');
    assert.equal(events.stalled, 0, 'waiting for the first ACK is not a stall');
    await sleep(FIRST_ACK_WAIT_MS / 2 + 100);
    assert.deepEqual(socket.seqs, [1, 2], 'after the wait, the frame went');
    socket.complete();
    w.offer(frame(3));
    assert.deepEqual(socket.seqs, [1, 2, 3], 'and frames go as the kernel takes them, as for any peer that does not ACK');
    assert.equal(events.stalled, 0);
    w.close();
  });

  it('compares sequence numbers across the 2^32 wrap', () => {
    const { socket, w } = writer();
    const top = 2 ** 32 - 1;
    w.offer(frame(top));
    socket.complete();
    w.ack(top);
    w.offer({ parts: [Buffer.from([0xaa]), Buffer.from([0])], seq: 0 });
    socket.complete();
    assert.equal(w.unacknowledged, 1);
    w.ack(0);
    assert.equal(w.unacknowledged, 0, 'an ack of 0 covers 2^32 - 1');
    w.ack(top);
    assert.equal(w.unacknowledged, 0, 'an old ack changes nothing');
    w.close();
  });

  it('reports each acknowledged frame with its bytes and its send, write and ack times in order', () => {
    const { socket, events, w } = writer();
    w.offer(frame(7));
    socket.complete();
    w.ack(7);
    const [timing] = events.acked;
    assert.equal(timing.seq, 7);
    assert.equal(timing.bytes, 2);
    assert.ok(timing.writtenAt !== undefined && timing.ackedAt !== undefined);
    assert.ok(timing.sentAt <= timing.writtenAt! && timing.writtenAt! <= timing.ackedAt!);
    w.close();
  });

  it('remembers a bounded number of frames for a peer that stops acking', () => {
    const { socket, w } = writer();
    for (let seq = 0; seq < MAX_TRACKED_FRAMES * 3; seq++) {
      w.offer(frame(seq % 256));
      socket.complete();
    }
    assert.ok(w.unacknowledged <= 1, 'a peer that never acked is paced by writes');
    w.close();
  });

  it('reports a stalled peer by its timer, with no new frame offered', async () => {
    const { events, w } = writer(150);
    w.offer(frame(1)); // the kernel never takes it, and the source offers nothing more
    await sleep(400);
    assert.equal(events.stalled, 1);
    w.close();
  });

  it('does not call an idle peer stalled: the clock starts when a frame is offered', async () => {
    const { socket, events, w } = writer(150);
    w.offer(frame(1));
    socket.complete();
    await sleep(300); // nothing to send for longer than the timeout
    w.offer(frame(2));
    await sleep(50);
    assert.equal(events.stalled, 0);
    socket.complete();
    await sleep(250);
    assert.equal(events.stalled, 0, 'the peer took everything it was sent');
    w.close();
  });

  it('stops watching once closed', async () => {
    const { events, w } = writer(100);
    w.offer(frame(1));
    w.close();
    await sleep(250);
    assert.equal(events.stalled, 0);
    assert.equal(w.ready, false);
    assert.equal(w.wantsFrame, false);
  });
});
