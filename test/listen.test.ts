// Listening: errors named with the option that fixes them, accept errors reported without ending
// the process, and a sender at its file-descriptor limit that keeps serving.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { describe, it } from 'node:test';

import { CvchatError } from '../lib/base/errors';
import { listen } from '../lib/net/listen';
import { connectedToItself } from '../lib/net/tls';
import { Receiver } from '../lib/session/receiver';
import { cli, freePort, sleep, TEST_KEY, waitFor } from './helpers';

const names = { port: '--port', anyHost: '--host 0.0.0.0', usualHolder: 'another cvchat sender' };

describe('listening', () => {
  it('names the option to change for a port in use and an address not of this machine', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    await assert.rejects(listen(net.createServer(), { host: '127.0.0.1', port }, names, () => undefined), {
      code: 'CVCHAT_PORT_IN_USE',
      message: new RegExp(`Port ${port} is already in use on 127\\.0\\.0\\.1 \\(another cvchat sender\\?\\)\\. Stop it or choose another with --port`),
    });
    blocker.close();
    await assert.rejects(listen(net.createServer(), { host: '192.0.2.1', port: 0 }, names, () => undefined), {
      code: 'CVCHAT_BAD_ADDRESS',
      message: /use --host 0\.0\.0\.0 to listen on all of them/,
    });
  });

  it('reports an accept error once it listens, and keeps accepting', async () => {
    const server = net.createServer((socket) => socket.end('hi'));
    const reported: CvchatError[] = [];
    await listen(server, { host: '127.0.0.1', port: 0 }, names, (error) => reported.push(error));
    // What net.Server emits when accept() fails (libuv hands it the error after listening).
    const failure = Object.assign(new Error('accept ENFILE'), { code: 'ENFILE', syscall: 'accept' });
    server.emit('error', failure);
    server.emit('error', failure); // the same cause a moment later: said once
    assert.equal(reported.length, 1);
    assert.equal(reported[0].code, 'CVCHAT_TOO_MANY_FILES');
    assert.match(reported[0].message, /too many open files \(ENFILE\); it keeps trying\. Raise the limit \(ulimit -n\)/);
    const { port } = server.address() as net.AddressInfo;
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      let text = '';
      socket.on('data', (d) => (text += d));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    assert.equal(reply, 'hi', 'still listening');
    server.close();
  });

  it('a sender at its file-descriptor limit survives a flood of connections and serves afterwards', async () => {
    const port = await freePort();
    // 64 open files: the flood below (up to 64 pending handshakes) takes the rest.
    const sender = spawn('bash', ['-c', `ulimit -n 64; exec "${process.execPath}" "${cli}" sender --source test --size 160x120 --no-window --host 127.0.0.1 --port ${port} --key ${TEST_KEY} --max-viewers 100`], {
      env: { ...process.env, DISPLAY: '', QT_QPA_PLATFORM: '' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    sender.stderr!.on('data', (d) => (stderr += d));
    let exited: number | null | undefined;
    sender.once('exit', (code) => (exited = code));
    try {
      await waitFor('the sender', () => (stderr.includes('sending') ? true : undefined));
      const flood: net.Socket[] = [];
      for (let i = 0; i < 120; i++) {
        const socket = net.connect(port, '127.0.0.1');
        socket.on('error', () => undefined);
        flood.push(socket);
      }
      await sleep(1500);
      assert.equal(exited, undefined, `the sender is still running:\n${stderr}`);
      for (const socket of flood) socket.destroy();
      await sleep(500);
      const receiver = new Receiver({ connect: { host: '127.0.0.1', port }, key: TEST_KEY, frames: 5 });
      assert.equal(await receiver.run(), 'limit', 'a viewer is served once the flood has gone');
    } finally {
      sender.kill('SIGTERM');
      await new Promise((resolve) => (exited === undefined ? sender.once('exit', resolve) : resolve(undefined)));
    }
  });
});

describe('dialling a local port nobody listens on', () => {
  it('recognises a connection that reached itself (TCP simultaneous open), which dial() treats as refused', async () => {
    const port = await freePort();
    // Asking for the destination port as the source port makes the kernel connect the socket to itself.
    const self = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.1', localPort: port });
    await new Promise<void>((resolve, reject) => {
      self.once('connect', resolve);
      self.once('error', reject);
    });
    assert.equal(connectedToItself(self), true);
    self.destroy();
    const server = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const other = net.connect({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port });
    await new Promise((resolve) => other.once('connect', resolve));
    assert.equal(connectedToItself(other), false, 'a connection to a listener is not one to itself');
    other.destroy();
    server.close();
  });
});
