// @ts-check
// The one object that owns the WebSocket: it opens it, answers the key check, then turns the
// binary messages into the cvchat byte stream's payloads, and is the only place that decides how
// the connection ended and what to tell the user about it.
import { answerChallenge, canCheckKeys } from './auth.js';
import { StreamReader, WireError, controlMessage } from './wire.js';

export const NO_KEY_MESSAGE = 'This link has no key. Open the full address the sender printed, including the part after #.';
const NEEDS_SECURE_MESSAGE = 'This page needs a secure connection (https, or http on localhost) to check the key.';
const IMPOSTOR_MESSAGE = 'This server does not hold the key: it is not the sender you meant to reach.';
const LEFT_MESSAGE = 'You left. Reload to join again.';
/** The largest message this page sends; the server refuses messages above 256 KiB. */
const MAX_MESSAGE_BYTES = 64 * 1024;

/**
 * @typedef {'no-key' | 'connecting' | 'authenticating' | 'streaming' | 'refused' | 'ended' | 'error'} State
 * @typedef {'viewer' | 'chat'} Role
 * @typedef {import('./wire.js').Payload} Payload
 * @typedef {import('./wire.js').Bytes} Bytes
 * @typedef {{ state(state: State, message: string): void, welcome(role: Role, insecure: boolean): void, payload(payload: Payload): void }} LinkEvents
 */

/** States after which nothing more happens on this connection. */
export const isFinal = (/** @type {State} */ state) => state !== 'connecting' && state !== 'authenticating' && state !== 'streaming';

export class Link {
  /** @type {State} */
  state = 'connecting';
  #reader = new StreamReader();
  /** Handshake messages are handled one at a time, each after the previous one's crypto. */
  #handshake = Promise.resolve();
  /** Checks the proof in the welcome, once our own proof went out. @type {((proof: unknown) => Promise<boolean>) | null} */
  #verifyServer = null;
  /** Binary messages that arrived while the welcome was being checked, with their arrival times. @type {{ bytes: Bytes, at: number }[]} */
  #early = [];
  #opened = false;

  /** @param {string} url @param {string | null} key null: the address had no key at all @param {LinkEvents} events */
  constructor(url, key, events) {
    this.key = key;
    this.events = events;
    this.socket = new WebSocket(url, 'cvchat.v1');
    this.socket.binaryType = 'arraybuffer';
    this.socket.addEventListener('open', this.#onOpen);
    this.socket.addEventListener('message', this.#onMessage);
    this.socket.addEventListener('close', this.#onClose);
    events.state('connecting', 'Connecting…');
  }

  /**
   * Bytes of the wire, if the stream is open, in messages of MAX_MESSAGE_BYTES at most: the server
   * takes no larger message (message edges mean nothing to it). @param {Bytes} bytes
   */
  send(bytes) {
    if (this.state !== 'streaming' || this.socket.readyState !== WebSocket.OPEN) return;
    for (let at = 0; at < bytes.length; at += MAX_MESSAGE_BYTES) this.socket.send(bytes.subarray(at, at + MAX_MESSAGE_BYTES));
  }

  /**
   * The user leaves; the socket closes normally. A chat partner is told it was on purpose (BYE);
   * a sender takes nothing but ACKs from a viewer, and a normal close already says as much.
   * @param {Role | null} role
   */
  leave(role) {
    if (isFinal(this.state)) return;
    if (role === 'chat') this.send(controlMessage('BYE', 'partner left'));
    this.end('ended', LEFT_MESSAGE);
  }

  /** Ends the connection with what to tell the user; the first end wins. @param {State} state @param {string} message */
  end(state, message) {
    if (isFinal(this.state)) return;
    this.state = state;
    this.socket.removeEventListener('open', this.#onOpen);
    this.socket.removeEventListener('message', this.#onMessage);
    this.socket.removeEventListener('close', this.#onClose);
    if (this.socket.readyState !== WebSocket.CLOSED) this.socket.close(1000);
    this.#early = [];
    this.events.state(state, message);
  }

  /** @param {State} state @param {string} message */
  #setState(state, message) {
    this.state = state;
    this.events.state(state, message);
  }

  #onOpen = () => {
    this.#opened = true;
    this.#setState('authenticating', 'Checking the key…');
  };

  /** @param {MessageEvent} event */
  #onMessage = (event) => {
    const at = performance.now();
    if (typeof event.data === 'string') {
      /** @type {Record<string, unknown>} */
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return this.end('error', 'The server answered with something that is not cvchat (not JSON).');
      }
      // At once, not after the crypto in progress: the socket's close follows, and the server's words must win.
      if (message.type === 'refused') return this.end('refused', String(message.message ?? 'The server refused the connection.'));
      this.#handshake = this.#handshake.then(() => this.#onText(message)).catch((error) => this.end('error', `The key check failed: ${error instanceof Error ? error.message : error}`));
      return;
    }
    const bytes = new Uint8Array(/** @type {ArrayBuffer} */ (event.data));
    if (this.state === 'streaming') this.#onBytes(bytes, at);
    else this.#early.push({ bytes, at });
  };

  /** @param {Bytes} bytes @param {number} at */
  #onBytes(bytes, at) {
    let payloads;
    try {
      payloads = this.#reader.push(bytes, at);
    } catch (error) {
      const code = error instanceof WireError ? ` [${error.code}]` : '';
      this.end('error', `The server sent data this page cannot read${code}: ${error instanceof Error ? error.message : error}`);
      return;
    }
    for (const payload of payloads) {
      if (this.state !== 'streaming') return; // a payload ended the connection (BYE, BUSY)
      this.events.payload(payload);
    }
  }

  /** A handshake message. @param {Record<string, unknown>} message */
  async #onText(message) {
    if (this.state !== 'authenticating' && this.state !== 'connecting') return; // nothing else is expected after the welcome
    if (message.version !== 1) return this.end('error', `The server speaks cvchat web version ${message.version}; this page speaks version 1. Reload the page.`);
    if (message.type === 'challenge') return this.#answer(message.nonce);
    if (message.type !== 'welcome') return this.end('error', `The server sent "${message.type}" during the key check.`);
    const role = message.role;
    if (role !== 'viewer' && role !== 'chat') return this.end('error', `The server offers an unknown role "${role}".`);
    const insecure = message.insecure === true;
    // The address carried a key, so the sender meant asks for it: a server that does not is another one.
    if (insecure && this.key) return this.end('error', 'This server does not ask for the key in your address: it is not the sender you meant to reach (or it now runs with --insecure).');
    if (!insecure) {
      // A welcome that skips the key check, or carries the wrong proof, comes from a server without our key.
      if (!this.#verifyServer || !(await this.#verifyServer(message.proof))) return this.end('error', IMPOSTOR_MESSAGE);
      if (isFinal(this.state)) return;
    }
    this.#setState('streaming', '');
    this.events.welcome(role, insecure);
    const early = this.#early;
    this.#early = [];
    for (const { bytes, at } of early) this.#onBytes(bytes, at);
  }

  /** @param {unknown} serverNonce */
  async #answer(serverNonce) {
    if (this.key === null) return this.end('no-key', NO_KEY_MESSAGE);
    if (!canCheckKeys()) return this.end('error', NEEDS_SECURE_MESSAGE);
    if (this.#verifyServer) return this.end('error', 'The server sent a second challenge.');
    const answer = await answerChallenge(this.key, serverNonce);
    if (!answer) return this.end('error', 'The server sent a challenge this page cannot read.');
    if (isFinal(this.state)) return;
    this.#verifyServer = answer.verifyServer;
    this.socket.send(JSON.stringify(answer.proof));
  }

  /**
   * The socket closed. What the server said just before (a BUSY after the welcome, whose proof is
   * still being checked) is read first: it, not the close, says why.
   * @param {CloseEvent} event
   */
  #onClose = (event) => {
    void this.#handshake.then(() => this.#closed(event));
  };

  /** @param {CloseEvent} event */
  #closed(event) {
    const detail = ` (code ${event.code}${event.reason ? `: ${event.reason}` : ''})`;
    // A refusal before the WebSocket opens (too many wrong keys from here) looks the same to a page.
    if (!this.#opened) return this.end('error', `Could not connect to cvchat at ${location.host}: it has stopped, the network is down, or it refuses this address for a while after wrong keys.`);
    if (event.code === 4003) return this.end('refused', event.reason || 'The server refused the connection.');
    if (this.state !== 'streaming') return this.end('error', `The connection closed during the key check${detail}.`);
    if (event.code === 1000 || event.code === 1001) return this.end('ended', `The server closed the connection${detail}.`);
    this.end('error', `The connection was lost${detail}.`);
  }
}
