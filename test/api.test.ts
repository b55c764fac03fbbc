// The package's entry point keeps every value it has exported, whatever the layout behind it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import * as cvchat from '../lib/index';

describe('package API', () => {
  it('exports what earlier versions exported, and the new connection and limits', () => {
    const names = [
      'CvchatError', 'DEFAULT_MAX_PIXELS', 'MAX_DIMENSION', 'captureSpec', 'openCapture', 'openMemoryCapture',
      'encode', 'decode', 'probeImage', 'frameFromPixels', 'framePixels', 'openVideoWriter', 'displayProblem',
      'Sender', 'SENDER_WINDOW', 'Receiver', 'RECEIVER_WINDOW', 'Chat', 'CHAT_WINDOW',
      'FrameReader', 'frameHead', 'lengthHeader', 'readFrameMeta', 'getBackend', 'Display', 'generateKey',
      'pickleImage', 'unpickleImage', 'Connection',
    ];
    const exported = cvchat as unknown as Record<string, unknown>;
    assert.deepEqual(names.filter((name) => exported[name] === undefined), []);
    assert.equal(cvchat.DEFAULT_MAX_PIXELS, 7680 * 4320);
    assert.equal(cvchat.MAX_DIMENSION, 16384);
  });
});
