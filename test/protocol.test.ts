import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { controlMessage, parseControl } from '../lib/wire/control';
import { FrameReader, lengthHeader } from '../lib/wire/framing';
import { frameHead, META_SEGMENT_BYTES, readFrameMeta } from '../lib/wire/meta';

function stream(payloads: Buffer[]): Buffer {
  return Buffer.concat(payloads.flatMap((p) => [lengthHeader(p.length), p]));
}

describe('FrameReader', () => {
  const payloads = [Buffer.from('first frame'), Buffer.alloc(300, 7), Buffer.from([0xff, 0xd8, 1, 2, 3])];
  const wire = stream(payloads);

  it('yields every frame whatever the split point', () => {
    for (let cut = 0; cut <= wire.length; cut++) {
      const reader = new FrameReader();
      const got = [...reader.push(wire.subarray(0, cut)), ...reader.push(wire.subarray(cut))];
      assert.deepEqual(got, payloads, `split at ${cut}`);
      assert.equal(reader.bufferedBytes, 0);
    }
  });

  it('yields every frame when fed one byte at a time', () => {
    const reader = new FrameReader();
    const got: Buffer[] = [];
    for (let i = 0; i < wire.length; i++) got.push(...reader.push(wire.subarray(i, i + 1)));
    assert.deepEqual(got, payloads);
  });

  it('returns a view, not a copy, when one chunk holds the frame', () => {
    const reader = new FrameReader();
    const [frame] = reader.push(stream([Buffer.alloc(100, 1)]));
    assert.equal(frame.length, 100);
    assert.ok(frame.byteOffset >= 8, 'the payload shares the chunk it arrived in');
  });

  it('refuses a declared length above the limit before waiting for the payload', () => {
    const reader = new FrameReader({ maxFrameBytes: 1000 });
    assert.throws(() => reader.push(lengthHeader(1001)), { code: 'CVCHAT_FRAME_TOO_LARGE' });
    const huge = Buffer.alloc(8, 0xff); // 2^64 - 1
    assert.throws(() => new FrameReader().push(huge), { code: 'CVCHAT_FRAME_TOO_LARGE', message: /18446744073709551615 bytes/ });
  });

  it('refuses a zero length', () => {
    assert.throws(() => new FrameReader().push(lengthHeader(0)), { code: 'CVCHAT_EMPTY_FRAME' });
  });

  it('reads the length little-endian, as struct.pack("<Q")', () => {
    const reader = new FrameReader();
    const header = Buffer.from([3, 0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual(reader.push(Buffer.concat([header, Buffer.from('abc')])), [Buffer.from('abc')]);
  });
});

describe('frame metadata', () => {
  it('round-trips through the head written before the JPEG body', () => {
    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xdb, 0, 4, 1, 2, 0xff, 0xd9]);
    const meta = { seq: 42, captureTime: 1_700_000_000_123.25, echoTime: 5.5, echoHoldMs: 1.5 };
    const head = frameHead(jpeg.length, meta);
    const wire = Buffer.concat([head, jpeg.subarray(2)]);
    const [payload] = new FrameReader().push(wire);
    assert.equal(payload.length, jpeg.length + META_SEGMENT_BYTES);
    assert.deepEqual(payload.subarray(0, 2), Buffer.from([0xff, 0xd8]));
    assert.deepEqual(payload.subarray(2 + META_SEGMENT_BYTES), jpeg.subarray(2), 'the JPEG follows the segment intact');
    assert.deepEqual(readFrameMeta(payload), meta);
  });

  it('is absent from a plain JPEG', () => {
    assert.equal(readFrameMeta(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46])), null);
  });
});

describe('control messages', () => {
  it('are framed like frames and parsed back', () => {
    const [payload] = new FrameReader().push(controlMessage('BUSY', 'five viewers already'));
    assert.deepEqual(parseControl(payload), { kind: 'BUSY', text: 'five viewers already' });
    assert.equal(parseControl(Buffer.from([0xff, 0xd8, 0xff])), null);
  });
});
