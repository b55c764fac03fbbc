// The unsent-bytes limit (TCP_NOTSENT_LOWAT) on real loopback sockets, plain and TLS, both ends.
// What the kernel holds is read back through the fd that /proc names for each socket's ports, not
// through the code under test, so a limit set on the wrong fd (the peer's, in this one process)
// fails. Linux only: elsewhere there is no /proc to check against.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { afterEach, describe, it } from 'node:test';

import { native } from '../lib/media/addon';
import { limitUnsentBytes } from '../lib/net/socket-options';
import type { Security } from '../lib/net/tls';
import { connectedPair, TEST_KEY, tempDir } from './helpers';

const servers: net.Server[] = [];
const sockets: net.Socket[] = [];
afterEach(() => {
  sockets.splice(0).forEach((socket) => socket.destroy());
  servers.splice(0).forEach((server) => server.close());
});

/** A connected pair on loopback (after the handshake, in TLS mode): [accepted, dialled], destroyed after each test. */
async function socketPair(security: Security): Promise<[net.Socket, net.Socket]> {
  const pair = await connectedPair(security, servers);
  sockets.push(...pair);
  return pair;
}

/** The fd of this process's IPv4 TCP socket with these ports, found through /proc. */
function kernelFd(socket: net.Socket): number {
  const port = (hexAddress: string) => parseInt(hexAddress.split(':')[1], 16);
  const row = fs
    .readFileSync('/proc/self/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .find((fields) => fields.length > 9 && port(fields[1]) === socket.localPort && port(fields[2]) === socket.remotePort);
  assert.ok(row, `a TCP socket ${socket.localPort} -> ${socket.remotePort} in /proc`);
  const link = `socket:[${row[9]}]`;
  const fd = fs.readdirSync('/proc/self/fd').find((name) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${name}`) === link;
    } catch {
      return false; // the directory's own fd, gone by now
    }
  });
  assert.ok(fd !== undefined, `an fd of this process for ${link}`);
  return Number(fd);
}

const limitOf = (socket: net.Socket) => native().unsentLimit(kernelFd(socket));

/**
 * Writes to `sender`, whose peer never reads, until no 'drain' comes for `quietMs`; returns how
 * many bytes the kernel took (written minus what Node still buffers).
 */
async function bytesTakenByKernel(sender: net.Socket, quietMs = 300): Promise<number> {
  const chunk = Buffer.alloc(16 * 1024);
  let written = 0;
  for (;;) {
    while (sender.write(chunk)) written += chunk.length;
    written += chunk.length;
    const drained = await new Promise<boolean>((resolve) => {
      const onDrain = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        sender.off('drain', onDrain);
        resolve(false);
      }, quietMs);
      sender.once('drain', onDrain);
    });
    if (!drained) return written - sender.writableLength;
  }
}

describe('limitUnsentBytes', { skip: process.platform === 'linux' ? false : 'reads the limit back through /proc' }, () => {
  for (const security of [{ mode: 'plain' }, { mode: 'tls', key: TEST_KEY }] as Security[]) {
    it(`sets the limit on the accepted and on the dialled ${security.mode} socket, each on its own`, async () => {
      const [accepted, dialled] = await socketPair(security);
      if (security.mode === 'tls') assert.ok(accepted instanceof tls.TLSSocket && dialled instanceof tls.TLSSocket);
      assert.equal(limitOf(accepted), 0, 'no limit yet: the system default');
      assert.equal(limitUnsentBytes(accepted, 16384), true);
      assert.equal(limitOf(accepted), 16384);
      assert.equal(limitOf(dialled), 0, 'the peer, in this same process, is untouched');
      assert.equal(limitUnsentBytes(dialled, 16384), true);
      assert.equal(limitOf(dialled), 16384);
      assert.equal(limitUnsentBytes(dialled, 0), true);
      assert.equal(limitOf(dialled), 0, '0 lifts the limit');
    });
  }

  it('a bad fd gives the coded error from the native call', () => {
    const bad = 2 ** 30;
    const error = { code: 'CVCHAT_SOCKET_OPTION', message: `setsockopt(TCP_NOTSENT_LOWAT) on fd ${bad} failed: Bad file descriptor` };
    assert.throws(() => native().setUnsentLimit(bad, 16384), error);
    assert.throws(() => native().unsentLimit(bad), { ...error, message: error.message.replace('set', 'get') });
  });

  it('refuses a byte count that is not an integer from 0 to 2^31-1', async () => {
    const [socket] = await socketPair({ mode: 'plain' });
    for (const bytes of [-1, 1.5, 2 ** 31, Number.NaN]) {
      assert.throws(() => limitUnsentBytes(socket, bytes), { code: 'CVCHAT_INVALID_OPTION', message: /^Expected integer between 0 and 2147483647 for bytes/ });
    }
  });

  it('is false, and throws nothing, for a socket with no TCP connection beneath it', async () => {
    const [plain] = await socketPair({ mode: 'plain' });
    const [encrypted] = await socketPair({ mode: 'tls', key: TEST_KEY });
    plain.destroy();
    encrypted.destroy();
    assert.equal(limitUnsentBytes(plain, 16384), false, 'a destroyed plain socket');
    assert.equal(limitUnsentBytes(encrypted, 16384), false, 'a destroyed TLS socket');
    assert.equal(limitUnsentBytes(new net.Socket(), 16384), false, 'a socket never connected');

    // A Unix socket has an fd, but not a TCP one; TLS over it has a TLSWrap that reports that fd.
    const socketPath = path.join(tempDir(), 'unix.sock');
    const server = net.createServer();
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    const unix = net.connect(socketPath);
    sockets.push(unix);
    await new Promise((resolve) => unix.once('connect', resolve));
    assert.equal(limitUnsentBytes(unix, 16384), false, 'a Unix socket');
    const overUnix = new tls.TLSSocket(unix);
    sockets.push(overUnix);
    assert.equal(limitUnsentBytes(overUnix, 16384), false, 'TLS over a Unix socket');
  });

  it('makes a sender whose peer does not read stop far sooner: the kernel keeps few unsent bytes', async () => {
    const taken: number[] = [];
    for (const limit of [undefined, 16384]) {
      // pauseOnConnect: the accepted socket never reads, so only the kernels hold what is written.
      const server = net.createServer({ pauseOnConnect: true });
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      server.on('connection', (socket) => sockets.push(socket));
      const sender = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
      sockets.push(sender);
      await new Promise((resolve) => sender.once('connect', resolve));
      if (limit !== undefined) assert.equal(limitUnsentBytes(sender, limit), true);
      taken.push(await bytesTakenByKernel(sender));
    }
    const [unlimited, limited] = taken;
    // Without the limit the send buffer grows to megabytes (tcp_wmem); with it the kernel holds
    // little more than the peer's receive window. Measured here: 3.9 MB against 128 KB.
    assert.ok(limited * 2 < unlimited, `with the limit the kernel took ${limited} bytes, without it ${unlimited}`);
  });
});
