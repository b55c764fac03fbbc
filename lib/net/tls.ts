// Authenticated encryption for every connection, with standard primitives only: TLS 1.2 with an
// ECDHE-PSK cipher suite (forward secrecy from ECDHE, authentication from the shared key), where
// the PSK is derived from the user's key with HKDF-SHA256. A peer without the key fails the
// handshake and never receives a byte of application data. `--insecure` selects the plain wire.
import { hkdfSync, randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';

import { formatAddress, type Address } from '../base/address';
import { CvchatError } from '../base/errors';
import { DIAL_TIMEOUT_MS, HANDSHAKE_TIMEOUT_MS, MAX_PENDING_HANDSHAKES, MIN_KEY_LENGTH } from '../base/limits';

export type Security = { mode: 'tls'; key: string } | { mode: 'plain' };

const CIPHERS = 'ECDHE-PSK-CHACHA20-POLY1305:ECDHE-PSK-AES256-CBC-SHA384';
const IDENTITY = 'cvchat-v1';

/** 130 random bits as 26 characters of Crockford's base32 (no I, L, O, U), in groups of five. */
export function generateKey(): string {
  const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  const bytes = randomBytes(17);
  let bits = 0n;
  for (const byte of bytes) bits = (bits << 8n) | BigInt(byte);
  let text = '';
  for (let i = 0; i < 26; i++) {
    text += alphabet[Number(bits & 31n)];
    bits >>= 5n;
  }
  return text.match(/.{1,5}/g)!.join('-');
}

export function checkKey(key: string): string {
  const trimmed = key.trim();
  if (trimmed.length < MIN_KEY_LENGTH) {
    throw new CvchatError('CVCHAT_WEAK_KEY', `The key must have at least ${MIN_KEY_LENGTH} characters; leave --key out to have a strong one generated`);
  }
  return trimmed;
}

function psk(key: string): Buffer {
  return Buffer.from(hkdfSync('sha256', key, 'cvchat tls-psk salt v1', 'cvchat tls 1.2 psk', 32));
}

const tlsCommon = { ciphers: CIPHERS, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' } as const;

export interface ListenerHooks {
  /** A connection that is ready for frames (after the handshake in TLS mode). */
  connection(socket: net.Socket): void;
  /** A connection refused before it became ready: failed handshake, slowed-down address, too many pending. */
  refused(address: string, code: string, reason: string): void;
}

/**
 * Slows down addresses that keep failing the handshake: after 3 failures in a row an address is
 * refused at once for 1 s, then 2 s, 4 s... up to a minute. A success clears its record.
 */
export class HandshakeGuard {
  private readonly records = new Map<string, { failures: number; blockedUntil: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  blocked(address: string): boolean {
    const record = this.records.get(address);
    return record !== undefined && record.blockedUntil > this.now();
  }

  failed(address: string): number {
    const record = this.records.get(address) ?? { failures: 0, blockedUntil: 0 };
    record.failures++;
    if (record.failures >= 3) record.blockedUntil = this.now() + Math.min(60_000, 1000 * 2 ** (record.failures - 3));
    this.records.delete(address); // re-insert: the map stays in least-recently-failed order
    this.records.set(address, record);
    if (this.records.size > 10_000) this.records.delete(this.records.keys().next().value as string);
    return record.failures;
  }

  succeeded(address: string): void {
    this.records.delete(address);
  }
}

export interface ListenerOptions {
  handshakeTimeoutMs?: number;
  /** Connections still in their handshake; more are refused at once. */
  maxPending?: number;
}

export function createListener(security: Security, hooks: ListenerHooks, options: ListenerOptions = {}): net.Server {
  if (security.mode === 'plain') {
    return net.createServer((socket) => hooks.connection(socket));
  }
  const key = psk(security.key);
  const guard = new HandshakeGuard();
  const maxPending = options.maxPending ?? MAX_PENDING_HANDSHAKES;
  /**
   * Connections in their handshake, by remote address and port (the raw socket and the TLS socket
   * made from it share them). A connection leaves this set when its handshake ends either way, so
   * the cap bounds handshakes, not the connections that completed one.
   */
  const handshaking = new Set<string>();
  const endpoint = (socket: net.Socket) => `${socket.remoteAddress}|${socket.remotePort}`;
  const server = tls.createServer({
    ...tlsCommon,
    pskIdentityHint: IDENTITY,
    pskCallback: (_socket, identity) => (identity === IDENTITY ? key : null),
    handshakeTimeout: options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS,
  });
  // Raw TCP connections, before any TLS byte: refuse slowed-down addresses and floods here.
  server.on('connection', (raw: net.Socket) => {
    const address = raw.remoteAddress ?? '?';
    if (guard.blocked(address)) {
      hooks.refused(address, 'CVCHAT_SLOWED_DOWN', 'too many failed handshakes from this address; refused for now');
      raw.destroy();
      return;
    }
    if (handshaking.size >= maxPending) {
      hooks.refused(address, 'CVCHAT_TOO_MANY_PENDING', `more than ${maxPending} connections are in their handshake`);
      raw.destroy();
      return;
    }
    const id = endpoint(raw);
    handshaking.add(id);
    raw.once('close', () => handshaking.delete(id));
  });
  server.on('secureConnection', (socket: tls.TLSSocket) => {
    handshaking.delete(endpoint(socket));
    guard.succeeded(socket.remoteAddress ?? '?');
    hooks.connection(socket);
  });
  server.on('tlsClientError', (error: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
    const address = socket.remoteAddress;
    if (address === undefined) return; // refused above, before its handshake began
    handshaking.delete(endpoint(socket));
    const failures = guard.failed(address);
    const why = /timed out/i.test(error.message) ? 'no handshake in time' : 'handshake failed: wrong key, or not a cvchat peer';
    hooks.refused(address, 'CVCHAT_HANDSHAKE_FAILED', `${why}${failures >= 3 ? ` (failure ${failures}; slowing this address down)` : ''}`);
    socket.destroy();
  });
  return server;
}

/** Explains a failed dial in the user's terms; `fatal` when retrying cannot help. */
export function classifyDialError(error: NodeJS.ErrnoException, security: Security, address: string): { error: CvchatError; fatal: boolean } {
  const code = error.code ?? '';
  if (/BAD_RECORD_MAC|DECRYPT|DECRYPTION_FAILED/.test(code)) {
    return { fatal: true, error: new CvchatError('CVCHAT_WRONG_KEY', `${address} refused our key: use the key its side printed (--key or CVCHAT_KEY)`) };
  }
  if (/WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|RECORD_LAYER_FAILURE|UNEXPECTED_RECORD|HTTP_REQUEST/.test(code)) {
    return { fatal: true, error: new CvchatError('CVCHAT_PEER_NOT_ENCRYPTED', `${address} does not speak cvchat's encrypted mode: it runs with --insecure, so pass --insecure here too (or drop it there)`) };
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return { fatal: true, error: new CvchatError('CVCHAT_UNKNOWN_HOST', `No such host in ${address}: check the address`) };
  }
  const reason = code === 'ECONNREFUSED' ? 'nothing listens there yet'
    : code === 'EHOSTUNREACH' || code === 'ENETUNREACH' ? 'host unreachable'
    : code === 'ECONNRESET' && security.mode === 'tls' ? 'the connection was reset during the handshake'
    : error.message;
  return { fatal: false, error: new CvchatError('CVCHAT_UNREACHABLE', reason) };
}

/** Connects, and in TLS mode completes the handshake, before resolving. */
/** True for a socket whose two ends are the same address and port (a TCP self-connect). */
export function connectedToItself(socket: net.Socket): boolean {
  return socket.localPort !== undefined && socket.localPort === socket.remotePort && socket.localAddress === socket.remoteAddress;
}

export function dial(security: Security, address: Address, localAddress?: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const options = { host: address.host, port: address.port, localAddress };
    const socket =
      security.mode === 'plain'
        ? net.connect(options)
        : tls.connect({
            ...options,
            ...tlsCommon,
            pskCallback: () => ({ psk: psk(security.key), identity: IDENTITY }),
            checkServerIdentity: () => undefined, // the PSK authenticates the peer; there is no certificate
          });
    const ready = security.mode === 'plain' ? 'connect' : 'secureConnect';
    const onError = (error: Error) => reject(error);
    socket.once('error', onError);
    // A dial to a local port nobody listens on can connect to itself (TCP's simultaneous open, when
    // the kernel picks that very port as the source). It is not a peer, and while it lasts it holds
    // the port the peer wants to listen on: treat it as the refused connection it stands for.
    socket.once('connect', () => {
      if (!connectedToItself(socket)) return;
      socket.destroy(Object.assign(new Error(`connect ECONNREFUSED ${formatAddress(address)} (the connection reached itself: nothing listens there)`), { code: 'ECONNREFUSED' }));
    });
    socket.once(ready, () => {
      socket.off('error', onError);
      resolve(socket);
    });
    socket.setTimeout(DIAL_TIMEOUT_MS, () => socket.destroy(Object.assign(new Error('connection timed out'), { code: 'ETIMEDOUT' })));
    socket.once(ready, () => socket.setTimeout(0));
  });
}
