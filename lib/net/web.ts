// The web page's server (--web): Node's https (http with --insecure) serves the page's files from
// web/, and ws a WebSocket at /ws. A socket becomes a connection only after the page proves it
// holds the key; from then on it carries the cvchat wire (web-stream.ts). Like the TLS listener,
// this only accepts, checks and hands over: it never reads a frame.
//
// The proof (the page's half is web/auth.js), with K = HKDF-SHA256(key, "cvchat web salt v1",
// "cvchat web auth v1", 32 bytes) and 32-byte random nonces S (ours) and C (the page's):
//   server: {"type":"challenge","version":1,"role":R,"nonce":S}
//   page:   {"type":"proof","nonce":C,"proof":HMAC-SHA256(K, "cvchat web client v1" | S | C)}
//   server: {"type":"welcome","version":1,"role":R,"proof":HMAC-SHA256(K, "cvchat web server v1" | S | C)}
//           or {"type":"refused","code":...,"message":...} and close code 4003.
// The key itself never travels: it is in the URL's #fragment, which browsers keep to themselves.
// On the plain wire (--insecure) there is no key: the server says welcome at once.
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { WebSocketServer, type WebSocket } from 'ws';

import { formatAddress, type Address } from '../base/address';
import { CvchatError } from '../base/errors';
import { HANDSHAKE_TIMEOUT_MS, MAX_PENDING_HANDSHAKES } from '../base/limits';
import { packageRoot } from '../media/addon';
import { listen, listeningPort, type ListenNames } from './listen';
import { HandshakeGuard, type Security } from './tls';
import { WebSocketStream } from './web-stream';

/** viewer: a sender's page, which watches. chat: a chat's page, which sends its camera too. */
export type WebRole = 'viewer' | 'chat';

export const WEB_PROTOCOL = 'cvchat.v1';
const PROOF_VERSION = 1;
const NONCE_BYTES = 32;
/** The close code that goes with a refusal (4000-4999 are the application's). */
const REFUSED_CLOSE = 4003;
/** Text messages of the handshake are small; anything larger is not one. */
const MAX_HANDSHAKE_MESSAGE = 1024;
/** A refused page gets this long to read why before its socket is cut. */
const REFUSAL_GRACE_MS = 1000;

/** Text from the network, made safe to print in a log line. */
const printable = (text: string) => JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}...` : text);

export interface WebServerOptions {
  security: Security;
  /** The certificate for https; required with a key (tls), unused on the plain wire. */
  certificate?: { cert: string; key: string };
  role: WebRole;
  /** The largest WebSocket message a page may send (before the key is proved too). */
  maxMessageBytes: number;
  /** Pages that may be connected at once (viewers, or a chat's one partner): with maxPending, it bounds sockets. */
  maxPages: number;
  handshakeTimeoutMs?: number;
  /** Pages still proving the key; more are refused at once. */
  maxPending?: number;
}

export interface WebHooks {
  /** A page that proved the key (or any page, on the plain wire): its wire, ready for frames. */
  connection(stream: WebSocketStream): void;
  /** A page refused before it became a connection. */
  refused(address: string, code: string, reason: string): void;
}

/** The page's files, read once at start: only these are served, whatever the path asks for. */
interface PageFile {
  body: Buffer;
  type: string;
  headers: Record<string, string>;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/** Everything the page needs comes from here; nothing inline, nothing from elsewhere. */
const PAGE_HEADERS = {
  'Content-Security-Policy': "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; connect-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-cache',
  'Permissions-Policy': 'camera=(self), microphone=(), geolocation=()',
};

/**
 * The Janus viewer's page (janus.html) talks to a Janus server that is not this one, wherever the
 * address says (janus.js's HTTP API or WebSocket): it may connect anywhere; all else is as strict
 * as the main page's. It takes no camera.
 */
const JANUS_PAGE_HEADERS = {
  ...PAGE_HEADERS,
  'Content-Security-Policy': PAGE_HEADERS['Content-Security-Policy'].replace("connect-src 'self'", "connect-src 'self' http: https: ws: wss:"),
  'Permissions-Policy': 'camera=(), microphone=(), geolocation=()',
};

export const PAGE_DIR = path.join(packageRoot, 'web');

/**
 * The Janus viewer's scripts, from Debian's packages (libjs-webrtc-adapter, libjs-janus-gateway), at
 * the page's own origin: nothing comes from a CDN. Served when installed; the page says when not.
 */
export const JANUS_SCRIPTS: Record<string, string> = {
  '/adapter.js': '/usr/share/javascript/webrtc-adapter/adapter.js',
  '/janus.js': '/usr/share/javascript/janus-gateway/janus.js',
};

async function readPage(dir: string): Promise<Map<string, PageFile>> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    throw new CvchatError('CVCHAT_PAGE_MISSING', `The web page's files are missing (${dir}): reinstall cvchat`);
  }
  const files = new Map<string, PageFile>();
  for (const name of names) {
    const type = CONTENT_TYPES[path.extname(name)];
    const headers = name === 'janus.html' ? JANUS_PAGE_HEADERS : PAGE_HEADERS;
    if (type) files.set(`/${name}`, { body: await fs.readFile(path.join(dir, name)), type, headers });
  }
  for (const [name, file] of Object.entries(JANUS_SCRIPTS)) {
    try {
      files.set(name, { body: await fs.readFile(file), type: CONTENT_TYPES['.js'], headers: PAGE_HEADERS });
    } catch {
      // not installed: janus.html says what to install
    }
  }
  const index = files.get('/index.html');
  if (!index) throw new CvchatError('CVCHAT_PAGE_MISSING', `The web page's index.html is missing in ${dir}: reinstall cvchat`);
  files.set('/', index);
  return files;
}

function authKey(key: string): Buffer {
  return Buffer.from(hkdfSync('sha256', key, 'cvchat web salt v1', 'cvchat web auth v1', 32));
}

function proof(key: Buffer, label: string, serverNonce: Buffer, clientNonce: Buffer): Buffer {
  return createHmac('sha256', key).update(label).update(serverNonce).update(clientNonce).digest();
}

/** A base64 field of a handshake message, decoded, or null when it is not `bytes` long. */
function base64Field(message: Record<string, unknown>, name: string, bytes: number): Buffer | null {
  const text = message[name];
  if (typeof text !== 'string' || text.length > 4 * Math.ceil(bytes / 3) + 4) return null;
  const value = Buffer.from(text, 'base64');
  return value.length === bytes ? value : null;
}

export class WebServer {
  private readonly server: http.Server | https.Server;
  private readonly sockets: WebSocketServer;
  private readonly key: Buffer | null;
  private readonly guard = new HandshakeGuard();
  /** Pages in their handshake, to cap them and to end them on close(). */
  private readonly pending = new Set<WebSocket>();
  private readonly maxPending: number;
  private readonly handshakeTimeoutMs: number;
  private files = new Map<string, PageFile>();
  private requestedPort = 0;
  private closed = false;

  constructor(
    private readonly options: WebServerOptions,
    private readonly hooks: WebHooks,
  ) {
    if (options.security.mode === 'tls') {
      if (!options.certificate) throw new CvchatError('CVCHAT_INVALID_OPTION', 'An encrypted web page needs a certificate');
      this.key = authKey(options.security.key);
      this.server = https.createServer({
        cert: options.certificate.cert, key: options.certificate.key, minVersion: 'TLSv1.2',
        handshakeTimeout: options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS,
      });
    } else {
      this.key = null;
      this.server = http.createServer();
    }
    this.maxPending = options.maxPending ?? MAX_PENDING_HANDSHAKES;
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS;
    this.server.headersTimeout = this.handshakeTimeoutMs;
    this.server.requestTimeout = this.handshakeTimeoutMs;
    // Every socket counts, in whatever state: each page holds its WebSocket and, for a while, one
    // or two for its files; beyond that, new connections are dropped by the kernel's listener.
    this.server.maxConnections = 3 * options.maxPages + 2 * this.maxPending;
    this.server.on('request', (request, response) => this.serve(request, response));
    this.sockets = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxMessageBytes,
      handleProtocols: (protocols) => (protocols.has(WEB_PROTOCOL) ? WEB_PROTOCOL : false),
    });
    this.server.on('upgrade', (request: http.IncomingMessage, socket: net.Socket, head: Buffer) => this.upgrade(request, socket, head));
  }

  get port(): number {
    return listeningPort(this.server as net.Server, this.requestedPort);
  }

  /** https, or http on the plain wire. */
  get scheme(): 'https' | 'http' {
    return this.key ? 'https' : 'http';
  }

  async listen(at: Address, names: ListenNames, onError: (error: CvchatError) => void): Promise<void> {
    this.files = await readPage(PAGE_DIR);
    this.requestedPort = at.port;
    await listen(this.server as net.Server, at, names, onError);
  }

  /** Stops serving: pages still proving the key are cut; connections already handed over are their owners'. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.server.close();
    for (const socket of this.pending) socket.terminate();
    // The page and connections in their last moments must not keep the process alive.
    this.server.closeIdleConnections();
  }

  /**
   * On the plain wire, only names that cannot be another site's: an IP address, localhost or this
   * machine's name. Otherwise a site whose name an attacker points at this machine (DNS rebinding)
   * would be the page's own origin to the browser. Under https the certificate's name stops that.
   */
  private hostAllowed(host: string | undefined): boolean {
    if (this.key) return true;
    const name = (host ?? '').replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1').toLowerCase();
    return net.isIP(name) !== 0 || name === 'localhost' || name === os.hostname().toLowerCase();
  }

  private serve(request: http.IncomingMessage, response: http.ServerResponse): void {
    const file = this.files.get((request.url ?? '/').split('?')[0]);
    if (!this.hostAllowed(request.headers.host)) {
      response.writeHead(421, { 'Content-Type': 'text/plain' }).end('open the address cvchat printed\n');
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('only GET\n');
      return;
    }
    if (!file) {
      response.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
      return;
    }
    response.writeHead(200, { ...file.headers, 'Content-Type': file.type, 'Content-Length': file.body.length });
    response.end(request.method === 'HEAD' ? undefined : file.body);
  }

  private upgrade(request: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    const address = socket.remoteAddress ?? '?';
    const refuse = (status: number, code: string, reason: string) => {
      this.hooks.refused(address, code, reason);
      socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\n${reason}\n`);
      socket.destroy();
    };
    if (this.closed) return void socket.destroy();
    if ((request.url ?? '').split('?')[0] !== '/ws') return refuse(404, 'CVCHAT_NOT_FOUND', `no WebSocket at ${printable(request.url ?? '')}`);
    // A page from another site must not use a visitor's browser to reach us: only our own page's origin.
    const origin = request.headers.origin;
    if ((origin !== undefined && origin !== `${this.scheme}://${request.headers.host}`) || !this.hostAllowed(request.headers.host)) {
      return refuse(403, 'CVCHAT_FOREIGN_ORIGIN', `a page from ${printable(origin ?? request.headers.host ?? '?')} may not connect`);
    }
    if (this.pending.size >= this.maxPending) return refuse(503, 'CVCHAT_TOO_MANY_PENDING', `more than ${this.maxPending} pages are proving the key`);
    this.sockets.handleUpgrade(request, socket, head, (ws) => {
      // ws reports bad framing, a message above maxPayload or bad UTF-8 as an 'error' and closes
      // the socket; unheard, that error would end the process.
      ws.on('error', onSocketError);
      if (ws.protocol !== WEB_PROTOCOL) {
        this.hooks.refused(address, 'CVCHAT_NOT_A_PAGE', 'not the cvchat page\'s protocol');
        closeRefused(ws, 'not a cvchat page');
      } else if (this.guard.blocked(address)) {
        // Refused over the WebSocket rather than in HTTP, where a page would see only a failed connection.
        this.hooks.refused(address, 'CVCHAT_SLOWED_DOWN', 'too many wrong keys from this address; refused for now');
        refuseWith(ws, 'CVCHAT_SLOWED_DOWN', SLOWED_DOWN_MESSAGE);
      } else this.handshake(ws, socket);
    });
  }

  /** Challenge, proof, welcome (or refusal); then the socket is handed over as a stream. */
  private handshake(ws: WebSocket, socket: net.Socket): void {
    const address = socket.remoteAddress ?? '?';
    const role = this.options.role;
    if (!this.key) {
      ws.send(JSON.stringify({ type: 'welcome', version: PROOF_VERSION, role, insecure: true }));
      this.hooks.connection(new WebSocketStream(ws, socket));
      return;
    }
    const key = this.key;
    this.pending.add(ws);
    const serverNonce = randomBytes(NONCE_BYTES);
    const done = () => {
      clearTimeout(timer);
      this.pending.delete(ws);
      ws.off('message', onMessage);
      ws.off('close', done);
    };
    const refuse = (code: string, message: string, reason: string) => {
      done();
      this.hooks.refused(address, code, reason);
      refuseWith(ws, code, message);
    };
    const timer = setTimeout(() => refuse('CVCHAT_AUTH_TIMEOUT', 'The page did not prove the key in time. Reload it.', 'no proof of the key in time'), this.handshakeTimeoutMs);
    const onMessage = (data: Buffer, isBinary: boolean) => {
      let message: Record<string, unknown> | null = null;
      if (!isBinary && data.length <= MAX_HANDSHAKE_MESSAGE) {
        try {
          const parsed: unknown = JSON.parse(data.toString('utf8'));
          if (parsed && typeof parsed === 'object') message = parsed as Record<string, unknown>;
        } catch {
          // not JSON: refused below
        }
      }
      const clientNonce = message?.type === 'proof' ? base64Field(message, 'nonce', NONCE_BYTES) : null;
      const given = message && clientNonce ? base64Field(message, 'proof', 32) : null;
      if (!clientNonce || !given) return refuse('CVCHAT_BAD_HANDSHAKE', 'The page and this cvchat do not speak the same version: reload the page.', 'not a proof of the key');
      // Pages opened before the address was slowed down must not guess on, in parallel.
      if (this.guard.blocked(address)) return refuse('CVCHAT_SLOWED_DOWN', SLOWED_DOWN_MESSAGE, 'too many wrong keys from this address; refused for now');
      if (!timingSafeEqual(given, proof(key, 'cvchat web client v1', serverNonce, clientNonce))) {
        const failures = this.guard.failed(address);
        return refuse('CVCHAT_WRONG_KEY', 'Wrong key: open the exact address the sender printed, including everything after #.',
          `wrong key${failures >= 3 ? ` (failure ${failures}; slowing this address down)` : ''}`);
      }
      done();
      this.guard.succeeded(address);
      ws.send(JSON.stringify({ type: 'welcome', version: PROOF_VERSION, role, proof: proof(key, 'cvchat web server v1', serverNonce, clientNonce).toString('base64') }));
      // In the same turn as the welcome: the page's first bytes of the wire cannot come before the stream listens.
      this.hooks.connection(new WebSocketStream(ws, socket));
    };
    ws.on('message', onMessage);
    ws.once('close', done);
    ws.send(JSON.stringify({ type: 'challenge', version: PROOF_VERSION, role, nonce: serverNonce.toString('base64') }));
  }
}

const SLOWED_DOWN_MESSAGE = 'Too many wrong keys came from this address: wait a minute, then open the exact address the sender printed.';

function onSocketError(): void {
  // The socket closes after the error; its close is what the handshake or the stream acts on.
}

/** Closes a refused page's socket, and cuts it if the page does not close its side soon. */
function closeRefused(ws: WebSocket, reason: string): void {
  ws.close(REFUSED_CLOSE, reason);
  setTimeout(() => ws.terminate(), REFUSAL_GRACE_MS).unref();
}

/** Tells a page why it is refused (it shows `message`), then closes. */
function refuseWith(ws: WebSocket, code: string, message: string): void {
  ws.send(JSON.stringify({ type: 'refused', code, message }));
  closeRefused(ws, code);
}

/** The addresses to print for a server listening on `host` (every address of this machine for 0.0.0.0). */
export function pageAddresses(host: string, port: number, scheme: string, fragment: string): string[] {
  const hosts = host === '0.0.0.0' || host === '::' ? localAddresses(host === '::') : [host];
  return hosts.map((name) => `${scheme}://${formatAddress({ host: name, port })}/${fragment ? `#${fragment}` : ''}`);
}

/** This machine's addresses others reach it by (IPv6 ones too when listening on ::), then localhost. */
function localAddresses(withIPv6: boolean): string[] {
  const found: string[] = [];
  for (const addresses of Object.values(os.networkInterfaces())) {
    for (const address of addresses ?? []) {
      if (address.internal) continue;
      // Link-local IPv6 addresses need an interface name in the URL, which browsers refuse.
      if (address.family === 'IPv4' || (withIPv6 && !address.address.toLowerCase().startsWith('fe80:'))) found.push(address.address);
    }
  }
  return [...found, 'localhost'];
}
