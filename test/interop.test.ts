// The plain wire against real Python cv2 peers written in the seed's style.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';

import { Receiver } from '../lib/session/receiver';
import { Sender } from '../lib/session/sender';
import { framePixels } from '../lib/media/video';
import { freePort, python, waitFor } from './helpers';

const fixtures = path.join(__dirname, '..', '..', 'test', 'fixtures');

describe('interop with Python cv2 peers', () => {
  it('a Python receiver decodes cvchat frames (metadata segment and all)', async () => {
    const sender = new Sender({ host: '127.0.0.1', port: 0, source: 'test', width: 320, height: 240, color: [10, 20, 250], insecure: true });
    await sender.start();
    const running = sender.run();
    const py = spawn(python, [path.join(fixtures, 'seed_receiver.py'), '127.0.0.1', String(sender.port), '10']);
    let out = '';
    let err = '';
    py.stdout.on('data', (d) => (out += d));
    py.stderr.on('data', (d) => (err += d));
    const code = await new Promise((resolve) => py.once('exit', resolve));
    await sender.stop();
    await running;
    assert.equal(code, 0, err);
    const lines = out.trim().split('\n');
    assert.equal(lines.length, 10);
    for (const line of lines) {
      const [w, h, b, g, r] = line.split(' ').map(Number);
      assert.deepEqual([w, h], [320, 240]);
      assert.ok(Math.abs(b - 10) < 12 && Math.abs(g - 20) < 12 && Math.abs(r - 250) < 12, `bar colour ${line}`);
    }
  });

  it('cvchat receives a Python sender\'s frames', async () => {
    const port = await freePort();
    const py = spawn(python, [path.join(fixtures, 'seed_sender.py'), String(port), '25']);
    let out = '';
    py.stdout.on('data', (d) => (out += d));
    await waitFor('the Python sender', () => (out.includes('listening') ? true : undefined));
    const colours: number[][] = [];
    const receiver = new Receiver({
      connect: { host: '127.0.0.1', port },
      insecure: true,
      frames: 25,
      onFrame: (d) => {
        assert.equal(d.meta, null, 'Python frames carry no cvchat metadata');
        colours.push([...framePixels(d.frame).subarray(0, 3)]);
      },
    });
    const end = await Promise.race([
      receiver.run(),
      new Promise((resolve) => py.once('exit', () => setTimeout(() => resolve('python exited'), 2000))),
    ]);
    receiver.stop();
    // Newest frame wins: a few may be dropped if decoding falls behind, never corrupted.
    assert.ok(receiver.stats.frames + receiver.stats.dropped >= 20, `got ${receiver.stats.frames}, dropped ${receiver.stats.dropped} (${end})`);
    for (const c of colours) assert.ok(Math.abs(c[0] - 200) < 10 && Math.abs(c[1] - 60) < 10 && Math.abs(c[2] - 10) < 10, `${c}`);
  });
});
