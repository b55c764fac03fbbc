// The seed's own wire: numpy pickles read without executing anything, written byte for byte as
// Python writes them, and the blog's scripts talking to cvchat both ways.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { before, describe, it } from 'node:test';

import { Chat } from '../lib/session/chat/chat';
import { pickleImage, unpickleImage } from '../lib/wire/pickle';
import { lengthHeader } from '../lib/wire/framing';
import { Receiver } from '../lib/session/receiver';
import { Sender } from '../lib/session/sender';
import { framePixels, openCapture } from '../lib/media/video';
import { execFileP, freePort, python, tempDir, waitFor, writeTestClip } from './helpers';

const fixtures = path.join(__dirname, '..', '..', 'test', 'fixtures');
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

interface Sample {
  protocol: number;
  shape: number[];
  pickle: Buffer;
  raw: Buffer;
}

/** Pickles made by Python itself: protocols 2 to 5; grey, BGR and BGRA; small and large. */
async function pythonPickles(dir: string): Promise<Sample[]> {
  const script = `
import pickle, numpy as np, json, sys
out = []
for p in (2, 3, 4, 5):
    for shape in ((4, 6), (5, 7, 3), (3, 2, 4), (120, 160, 3), (240, 320, 4), (200, 300)):
        n = int(np.prod(shape))
        a = ((np.arange(n) * 31 + p) % 256).astype(np.uint8).reshape(shape)
        name = f"{sys.argv[1]}/p{p}_{'x'.join(map(str, shape))}"
        open(name + ".pkl", "wb").write(pickle.dumps(a, protocol=p))
        open(name + ".raw", "wb").write(a.tobytes())
        out.append({"protocol": p, "shape": list(shape), "name": name})
print(json.dumps(out))
`;
  const { stdout } = await execFileP(python, ['-c', script, dir]);
  return (JSON.parse(stdout) as Array<{ protocol: number; shape: number[]; name: string }>).map((s) => ({
    protocol: s.protocol,
    shape: s.shape,
    pickle: fs.readFileSync(`${s.name}.pkl`),
    raw: fs.readFileSync(`${s.name}.raw`),
  }));
}

let samples: Sample[];
const marker = path.join(tempDir(), 'pwned');
let evil: Array<{ what: string; pickle: Buffer }>;

before(async () => {
  samples = await pythonPickles(tempDir());
  // Malicious pickles, made by Python's own pickler; none is ever loaded by Python here.
  const script = `
import pickle, os, sys, json, subprocess, numpy as np, base64
marker = sys.argv[1]
class System:
    def __reduce__(self): return (os.system, ("touch " + marker,))
class Eval:
    def __reduce__(self): return (eval, ("open(%r, 'w')" % marker,))
class Popen:
    def __reduce__(self): return (subprocess.Popen, (["touch", marker],))
class Plain:
    def __init__(self): self.x = 1
out = []
for p in (2, 3, 4, 5):
    out.append(("os.system through GLOBAL/STACK_GLOBAL and REDUCE, protocol %d" % p, pickle.dumps(System(), protocol=p)))
    out.append(("builtins eval, protocol %d" % p, pickle.dumps(Eval(), protocol=p)))
    out.append(("subprocess.Popen, protocol %d" % p, pickle.dumps(Popen(), protocol=p)))
    out.append(("an object rebuilt with BUILD, protocol %d" % p, pickle.dumps(Plain(), protocol=p)))
    out.append(("a float64 array, protocol %d" % p, pickle.dumps(np.zeros((4, 4, 3)), protocol=p)))
    out.append(("an object array, protocol %d" % p, pickle.dumps(np.array([[None, 1]], dtype=object), protocol=p)))
    out.append(("a Fortran-ordered array, protocol %d" % p, pickle.dumps(np.asfortranarray(np.zeros((4, 5, 3), np.uint8)), protocol=p)))
    out.append(("a 4-D array, protocol %d" % p, pickle.dumps(np.zeros((2, 2, 2, 3), np.uint8), protocol=p)))
    out.append(("a big-endian int array, protocol %d" % p, pickle.dumps(np.zeros((4, 4), ">u2"), protocol=p)))
    out.append(("a tuple holding an image, protocol %d" % p, pickle.dumps((np.zeros((2, 2, 3), np.uint8),), protocol=p)))
out.append(("os.system in protocol 0", b"cos\\nsystem\\n(S'touch " + marker.encode() + b"'\\ntR."))
print(json.dumps([[w, base64.b64encode(b).decode()] for w, b in out]))
`;
  const { stdout } = await execFileP(python, ['-c', script, marker]);
  evil = (JSON.parse(stdout) as Array<[string, string]>).map(([what, b64]) => ({ what, pickle: Buffer.from(b64, 'base64') }));
});

describe('reading pickles', () => {
  it('reads what Python pickles, protocols 2 to 5, pixel for pixel', () => {
    assert.equal(samples.length, 24);
    for (const s of samples) {
      const image = unpickleImage(s.pickle);
      const channels = s.shape[2] ?? 1;
      assert.deepEqual([image.height, image.width, image.channels], [s.shape[0], s.shape[1], channels], `protocol ${s.protocol} ${s.shape}`);
      assert.ok(image.pixels.equals(s.raw), `pixels of protocol ${s.protocol} ${s.shape}`);
    }
  });

  it('refuses code execution, other globals, BUILD tricks and non-image arrays, running nothing', () => {
    assert.ok(evil.length > 40);
    for (const { what, pickle } of evil) {
      assert.throws(() => unpickleImage(pickle), { code: 'CVCHAT_PICKLE_REFUSED' }, what);
    }
    assert.throws(() => unpickleImage(evil[0].pickle), /global 'posix system' is not allowed/);
    assert.equal(fs.existsSync(marker), false, 'nothing was executed');
  });

  it('refuses every truncation of a valid pickle', () => {
    for (const s of samples.filter((x) => x.raw.length < 500)) {
      for (let cut = 0; cut < s.pickle.length; cut++) {
        assert.throws(() => unpickleImage(s.pickle.subarray(0, cut)), (e: { code?: string }) => /^CVCHAT_PICKLE_/.test(e.code ?? ''), `protocol ${s.protocol} cut at ${cut}`);
      }
    }
  });

  it('refuses shapes that overflow or disagree with the bytes', () => {
    const raw = Buffer.alloc(12);
    assert.throws(() => unpickleImage(Buffer.concat(pickleImage(raw, 65535, 65535, 3))), { code: 'CVCHAT_PICKLE_REFUSED', message: /dimension 65535/ });
    assert.throws(() => unpickleImage(Buffer.concat(pickleImage(raw, 16384, 16384, 4))), { code: 'CVCHAT_PICKLE_REFUSED', message: /above the limit/ });
    assert.throws(() => unpickleImage(Buffer.concat(pickleImage(raw, 2, 3, 3))), { code: 'CVCHAT_PICKLE_REFUSED', message: /needs 18 bytes but the pickle holds 12/ });
    assert.throws(() => unpickleImage(Buffer.concat(pickleImage(raw, 2, 2, 3)), { maxPixels: 3 }), { code: 'CVCHAT_PICKLE_REFUSED' });
  });

  it('survives a seeded fuzz of 4000 mutated pickles with coded errors only', () => {
    let state = 12345;
    const rand = (n: number) => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return state % n;
    };
    const small = samples.filter((s) => s.raw.length < 2000);
    let accepted = 0;
    for (let i = 0; i < 4000; i++) {
      const base = small[rand(small.length)].pickle;
      const mutated = Buffer.from(base);
      const kind = rand(4);
      if (kind === 0) for (let k = 0; k <= rand(4); k++) mutated[rand(mutated.length)] ^= 1 << rand(8);
      else if (kind === 1) mutated[rand(mutated.length)] = rand(256);
      let input: Buffer = mutated;
      if (kind === 2) input = Buffer.concat([mutated.subarray(0, rand(mutated.length)), Buffer.from([rand(256)]), mutated.subarray(rand(mutated.length))]);
      if (kind === 3) input = mutated.subarray(0, rand(mutated.length));
      try {
        const image = unpickleImage(input);
        assert.equal(image.pixels.length, image.width * image.height * image.channels);
        accepted++;
      } catch (error) {
        assert.match((error as { code?: string }).code ?? String(error), /^CVCHAT_PICKLE_(REFUSED|INVALID)$/, `mutation ${i}`);
      }
    }
    assert.ok(accepted < 4000);
  });
});

describe('pickles from the network', () => {
  it('a receiver closes a connection that sends a malicious pickle, then shows good ones', async () => {
    let connections = 0;
    const good = samples.find((x) => x.protocol === 4 && x.shape.join() === '120,160,3')!;
    const server = net.createServer((socket) => {
      connections++;
      socket.on('error', () => undefined);
      const payload = connections === 1 ? evil[0].pickle : good.pickle;
      const timer = setInterval(() => socket.write(Buffer.concat([lengthHeader(payload.length), payload])), 30);
      socket.on('close', () => clearInterval(timer));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const pixels: Buffer[] = [];
    const receiver = new Receiver({ connect: { host: '127.0.0.1', port }, insecure: true, wire: 'pickle', frames: 5, onFrame: (d) => pixels.push(framePixels(d.frame)) });
    assert.equal(await receiver.run(), 'limit');
    server.close();
    assert.ok(connections >= 2, 'the malicious connection was closed and a new one made');
    for (const p of pixels) assert.ok(p.equals(good.raw));
    assert.equal(fs.existsSync(marker), false);
  });
});

describe('writing pickles', () => {
  it('writes the bytes Python writes (protocol 4, its default here), small and large', () => {
    for (const s of samples.filter((x) => x.protocol === 4)) {
      const [height, width, channels = 1] = s.shape;
      assert.ok(Buffer.concat(pickleImage(s.raw, height, width, channels as 1 | 3 | 4)).equals(s.pickle), `shape ${s.shape}`);
    }
  });
});

describe("the blog's own scripts", () => {
  it("the blog's sender streams a video file to cvchat, pixel for pixel", async () => {
    const clip = await writeTestClip(25, 320, 240, 25);
    const port = await freePort();
    const py = spawn(python, [path.join(fixtures, 'blog_sender.py'), String(port), clip], { env: { ...process.env, QT_QPA_PLATFORM: 'offscreen' } });
    let sent = '';
    let err = '';
    py.stdout.on('data', (d) => (sent += d));
    py.stderr.on('data', (d) => (err += d));
    await waitFor('the blog sender', () => (sent.includes('listening') ? true : undefined));
    const received: string[] = [];
    const receiver = new Receiver({
      connect: { host: '127.0.0.1', port },
      insecure: true,
      wire: 'pickle',
      onFrame: (d) => received.push(md5(framePixels(d.frame))),
    });
    const running = receiver.run();
    await new Promise((resolve) => py.once('exit', resolve));
    await waitFor('the last frames', () => (receiver.stats.frames + receiver.stats.dropped >= 25 ? true : undefined), 10_000).catch(() => undefined);
    receiver.stop();
    await running;
    const sentHashes = sent.split('\n').filter((l) => /^[0-9a-f]{32}$/.test(l));
    assert.equal(sentHashes.length, 25, err);
    assert.ok(received.length >= 15, `received ${received.length}`);
    for (const hash of received) assert.ok(sentHashes.includes(hash), 'every received frame is exactly one the blog sent');
    assert.deepEqual(received, sentHashes.filter((h) => received.includes(h)), 'in order');
  });

  it("cvchat streams to the blog's receiver (pickle.loads, cv2.imshow), pixel for pixel", async () => {
    const clip = await writeTestClip(20, 320, 240, 20);
    const expected = new Set<string>();
    const capture = await openCapture({ source: clip });
    for (let f = await capture.read(); f; f = await capture.read()) expected.add(md5(framePixels(f)));
    await capture.release();
    const sender = new Sender({ host: '127.0.0.1', port: 0, source: clip, loop: true, insecure: true, wire: 'pickle' });
    await sender.start();
    const running = sender.run();
    const { stdout } = await execFileP(python, [path.join(fixtures, 'blog_receiver.py'), '127.0.0.1', String(sender.port), '30'], {
      env: { ...process.env, QT_QPA_PLATFORM: 'offscreen' },
      maxBuffer: 1 << 20,
    });
    await sender.stop();
    await running;
    const lines = stdout.trim().split('\n');
    assert.equal(lines.length, 30);
    for (const line of lines) {
      const [, shape, hash] = /^(\(.*\)) ([0-9a-f]{32})$/.exec(line) ?? [];
      assert.equal(shape, '(240, 320, 3)');
      assert.ok(expected.has(hash), `frame ${hash} is one of the file's frames`);
    }
  });

  it('chat works on the pickle wire between two cvchat sides', async () => {
    const [pa, pb] = [await freePort(), await freePort()];
    const make = (label: string, listen: number, peer: number) =>
      new Chat({ source: 'test', width: 160, height: 120, label, insecure: true, wire: 'pickle', listen: { host: '127.0.0.1', port: listen }, peer: { host: '127.0.0.1', port: peer }, frames: 10 });
    const a = make('alice', pa, pb);
    const b = make('bob', pb, pa);
    await Promise.all([a.start(), b.start()]);
    const ends = await Promise.all([a.run(), b.run()]);
    assert.ok(ends.includes('limit'));
    assert.ok(a.received.frames >= 5 && b.received.frames >= 5);
    const pickled = Buffer.concat(pickleImage(Buffer.alloc(160 * 120 * 3), 120, 160, 3)).length;
    assert.equal(a.received.bytes / a.received.frames, pickled, 'every frame travelled as an uncompressed pickle');
  });
});
