// Finding the chat partner: each side listens and dials the other, so start order does not matter
// and neither side is "the server". Every connection, dialled or accepted, opens with HELLO and a
// random nonce. The first connection to complete the exchange becomes the call; when both dials
// succeed, both sides keep the one dialled by the side with the smaller nonce and close the other.
// After a call ends, dialling resumes (the partner may also call us back), paced like the
// receiver's: at once after a call that showed frames, backing off after calls that showed none.
import { randomBytes } from 'node:crypto';
import type net from 'node:net';

import { formatAddress, type Address } from '../../base/address';
import type { CvchatError } from '../../base/errors';
import { BACKOFF_MAX_MS, MAX_PARTNER_LINKS } from '../../base/limits';
import { notice } from '../../base/log';
import { Connection } from '../../net/connection';
import { listen, listeningPort } from '../../net/listen';
import { RedialPolicy } from '../../net/redial';
import { classifyDialError, createListener, dial, type Security } from '../../net/tls';
import type { WebSocketStream } from '../../net/web-stream';
import { controlMessage } from '../../wire/control';

export interface PartnerHooks {
  /** `connection` is now the call (replacing a previous one that lost the tie-break, if any). */
  call(connection: Connection, from: 'partner' | 'browser'): void;
  /** The call's connection closed. Returns whether the call showed frames, and whether to call again. */
  lost(connection: Connection): { showedFrames: boolean; callAgain: boolean };
  /** Retrying cannot help (a wrong key, an unknown host): the chat ends with this error. */
  fatal(error: CvchatError): void;
}

export interface PartnerOptions {
  maxFrameBytes: number;
  idleTimeoutMs?: number;
}

interface Link {
  connection: Connection;
  dialedByMe: boolean;
  peerNonce: bigint | null;
  /** A browser's page (--web): the call from its first byte, no HELLO, never traded for another link. */
  page: boolean;
}

export class PartnerFinder {
  private readonly nonce = randomBytes(8).readBigUInt64BE();
  private readonly server: net.Server;
  private readonly links = new Set<Link>();
  private active: Link | null = null;
  private stopped = false;
  private wakeDialer: (() => void) | undefined;
  /** How the last call ended, for the dial loop's pacing; null while none has ended since it looked. */
  private ended: { showedFrames: boolean } | null = null;

  constructor(
    private readonly security: Security,
    readonly listenAt: Address,
    /** Whom to dial; none when only a browser's page (--web) may call. */
    readonly peer: Address | undefined,
    private readonly options: PartnerOptions,
    private readonly hooks: PartnerHooks,
  ) {
    this.server = createListener(security, {
      connection: (socket) => this.adopt(socket, 'accepted'),
      refused: (address, code, reason) => notice(`chat: refused ${address}: ${reason} [${code}]`),
    });
  }

  get port(): number {
    return listeningPort(this.server, this.listenAt.port);
  }

  listen(): Promise<void> {
    return listen(
      this.server,
      this.listenAt,
      { port: '--listen', anyHost: `--listen 0.0.0.0:${this.listenAt.port}`, usualHolder: 'another cvchat chat' },
      (error) => notice(`chat: ${error.message} [${error.code}]`),
    );
  }

  /** Starts dialling the partner, if there is one to dial (and keeps accepting calls). */
  start(): void {
    if (this.peer) void this.dialLoop(this.peer);
  }

  /**
   * A browser's page that proved the key (the web server checked it): the call, unless one is on,
   * in which case it is told the chat is busy.
   */
  adoptPage(stream: WebSocketStream): void {
    const connection = new Connection(stream, {
      security: 'web',
      side: 'accepted',
      inbound: 'frames',
      maxFrameBytes: this.options.maxFrameBytes,
      idleTimeoutMs: this.options.idleTimeoutMs,
    });
    if (this.stopped) {
      connection.destroy();
      return;
    }
    if (this.active) {
      notice(`chat: refused the browser at ${connection.remote}: already in a call`);
      connection.close(controlMessage('BUSY', 'this chat is already in a call'));
      return;
    }
    const link: Link = { connection, dialedByMe: false, peerNonce: null, page: true };
    this.links.add(link);
    connection.once('close', () => this.onClosed(link));
    this.active = link;
    this.hooks.call(connection, 'browser');
    this.wakeDialer?.();
  }

  /** Stops dialling and accepting; connections other than the call are closed. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.wakeDialer?.();
    this.server.close();
    for (const link of this.links) if (link !== this.active) link.connection.destroy();
  }

  private async dialLoop(peer: Address): Promise<void> {
    const policy = new RedialPolicy();
    while (!this.stopped) {
      if (this.active) {
        await this.pause(); // until the call ends
        continue;
      }
      if (this.ended) {
        const step = policy.sessionEnded(this.ended.showedFrames);
        this.ended = null;
        if (step.startedBackingOff) {
          notice(`chat: ${formatAddress(peer)} ended ${policy.frameless} calls in a row without a frame we could show; ` +
            `calling less often (up to every ${BACKOFF_MAX_MS / 1000} s)`);
        }
        await this.pause(step.delayMs);
        if (this.stopped || this.active) continue;
      }
      const outcome = await this.dialOnce(peer);
      if (this.stopped || this.active) continue;
      // Dialled: its HELLO may still come (and wake us), or the partner chose another connection.
      const step = outcome === 'dialled' ? policy.connectedWithoutSession() : policy.dialFailed();
      if (step.startedBackingOff) {
        notice(`chat: waiting for ${formatAddress(peer)} (${outcome}); it can also call us on port ${this.port}`);
      }
      await this.pause(step.delayMs);
    }
  }

  /** Sleeps for `ms` (forever when undefined), or until something changes. */
  private pause(ms?: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(resolve, ms);
      this.wakeDialer = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async dialOnce(peer: Address): Promise<string> {
    try {
      const socket = await dial(this.security, peer);
      this.adopt(socket, 'dialled');
      return 'dialled';
    } catch (error) {
      const { error: explained, fatal } = classifyDialError(error as NodeJS.ErrnoException, this.security, formatAddress(peer));
      if (fatal) this.hooks.fatal(explained);
      return explained.message;
    }
  }

  /** A new connection, dialled or accepted: say HELLO and wait for the partner's. */
  private adopt(socket: net.Socket, side: 'accepted' | 'dialled'): void {
    const dialedByMe = side === 'dialled';
    const connection = new Connection(socket, {
      security: this.security.mode,
      side,
      inbound: 'frames',
      maxFrameBytes: this.options.maxFrameBytes,
      idleTimeoutMs: this.options.idleTimeoutMs,
    });
    if (this.stopped || this.links.size >= MAX_PARTNER_LINKS) {
      connection.destroy();
      return;
    }
    if (this.active?.page) {
      // A browser has the call. No HELLO, so the caller never takes this for a call of its own.
      connection.close(controlMessage('BUSY', 'this chat is already in a call with a browser'));
      return;
    }
    const link: Link = { connection, dialedByMe, peerNonce: null, page: false };
    this.links.add(link);
    connection.sendControl('HELLO', this.nonce.toString());
    connection.on('control', (kind, text) => {
      if (kind === 'HELLO' && link.peerNonce === null) this.onHello(link, text);
      // The partner is in a call with someone else (a browser): our dialling backs off until it ends.
      else if (kind === 'BUSY' && link.peerNonce === null) notice(`chat: ${connection.remote} is busy: ${text.slice(0, 200)}`);
    });
    connection.once('close', ({ error }) => {
      // The call's own end is the chat's to report; another link's end only when this side ended it for a reason.
      if (link !== this.active && error) notice(`chat: refused ${connection.remote}: ${error.message} [${error.code}]`);
      this.onClosed(link);
    });
  }

  private onHello(link: Link, text: string): void {
    if (!/^\d{1,20}$/.test(text)) {
      link.connection.destroy();
      return;
    }
    link.peerNonce = BigInt(text);
    if (link.peerNonce === this.nonce) {
      // Dialled ourselves (the peer address points back at this process).
      notice(`chat: ${this.peer ? formatAddress(this.peer) : 'the caller'} is this chat itself; give --peer your partner's address`);
      link.connection.destroy();
      return;
    }
    const current = this.active;
    if (current?.page) {
      // A browser has the call: a native partner calling now is told so, as a full sender tells a viewer.
      link.connection.close(controlMessage('BUSY', 'this chat is already in a call with a browser'));
      return;
    }
    if (current) {
      // Keep one: both sides prefer the connection dialled by the smaller nonce, so they agree.
      const dialer = (l: Link) => (l.dialedByMe ? this.nonce : (l.peerNonce as bigint));
      const preferred = dialer(link) < dialer(current) ? link : current;
      const loser = preferred === link ? current : link;
      this.links.delete(loser);
      if (loser === current) this.active = null;
      loser.connection.destroy();
      if (preferred === current) return;
    }
    this.active = link;
    this.hooks.call(link.connection, 'partner');
    this.wakeDialer?.();
  }

  private onClosed(link: Link): void {
    const wasActive = this.links.delete(link) && link === this.active;
    if (!wasActive) return;
    this.active = null;
    const { showedFrames, callAgain } = this.hooks.lost(link.connection);
    if (!callAgain) {
      this.stop();
      return;
    }
    this.ended = { showedFrames };
    this.wakeDialer?.();
  }
}
