// Two-way video chat: each side listens and dials its partner, so start order does not matter and
// neither side is "the server". Each connection opens with HELLO and a random nonce; when both
// dials succeed, both sides keep the connection dialled by the side with the smaller nonce and
// close the other. Video flows both ways on the kept connection through the same parts as sender
// and receiver: the capture pipeline, newest-frame-wins writing, and the frame stream.
import { randomBytes } from 'node:crypto';
import net from 'node:net';

import type { BackendName, CaptureSource, VideoBackend, VideoFrame } from './backend';
import { getBackend } from './backends';
import { sleep, wallClock } from './clock';
import type { Display } from './display';
import { checkInteger, checkNumber, CvchatError } from './errors';
import { FrameStream, type DecodedFrame } from './frame-stream';
import { LatestFrameWriter } from './latest-writer';
import { notice } from './log';
import { checkPort, formatAddress, type Address } from './options';
import { CapturePipeline, type EncodedFrame } from './pipeline';
import { controlMessage, DEFAULT_MAX_FRAME_BYTES, wireParts, type Wire } from './protocol';
import { BACKOFF_FIRST_MS, BACKOFF_MAX_MS, classifyDialError, createListener, dial, requiredSecurity, type Security } from './security';
import { openSource, type SourceOptions } from './source-open';
import { StreamStats } from './stats';
import { DEFAULT_MAX_PIXELS } from './video';

export const CHAT_WINDOW = 'VIDEO CHAT';

export interface ChatOptions extends SourceOptions {
  listen?: Address;
  peer: Address;
  quality?: number;
  /** Leave after this many frames from the partner. */
  frames?: number;
  /** When the partner leaves, wait for a new call instead of exiting. */
  stay?: boolean;
  backend?: BackendName;
  display?: Display;
  onFrame?: (decoded: DecodedFrame) => void;
  /** The key both sides share. Required unless insecure. */
  key?: string;
  /** The plain wire: no encryption, no authentication. */
  insecure?: boolean;
  /** jpeg (default), or pickle, which needs insecure. */
  wire?: Wire;
}

export type ChatEnd = 'quit' | 'partner-left' | 'limit';

interface Link {
  socket: net.Socket;
  dialedByMe: boolean;
  peerNonce: bigint | null;
  writer: LatestFrameWriter;
}

const MAX_PENDING_LINKS = 4;

export class Chat {
  readonly received = new StreamStats('receiver');
  readonly listen: Address;
  readonly peer: Address;
  private readonly backend: VideoBackend;
  private readonly quality: number;
  private readonly nonce = randomBytes(8).readBigUInt64BE();
  private readonly server: net.Server;
  readonly security: Security;
  private readonly links = new Set<Link>();
  private active: Link | null = null;
  private capture: CaptureSource | undefined;
  private pipeline: CapturePipeline | undefined;
  private ownFrame: VideoFrame | null = null;
  private insetShown = true;
  private hudShown = true;
  private stopping = false;
  private finish: ((end: ChatEnd) => void) | undefined;
  private fatal: ((error: Error) => void) | undefined;
  private wakeDialer: (() => void) | undefined;
  /** The partner's capture time of the newest frame we decoded, echoed back for round-trip time. */
  private echo = { time: 0, receivedAt: 0 };
  rttMs: number | null = null;
  calls = 0;

  constructor(private readonly options: ChatOptions) {
    this.listen = options.listen ?? { host: '0.0.0.0', port: 9999 };
    checkPort('listen port', this.listen.port, true);
    if (!options.peer) throw new CvchatError('CVCHAT_INVALID_OPTION', "Expected HOST:PORT for peer (your partner's address)");
    this.peer = { host: options.peer.host, port: checkPort('peer port', options.peer.port) };
    this.quality = checkInteger('quality', options.quality ?? 80, 1, 100);
    if (options.frames !== undefined) checkInteger('frames', options.frames, 1, Number.MAX_SAFE_INTEGER);
    if (options.fps !== undefined) checkNumber('fps', options.fps, 0, 1000);
    this.backend = getBackend(options.backend ?? 'native');
    this.security = requiredSecurity(options, 'both sides of a chat need the same --key (or CVCHAT_KEY), or --insecure on both');
    this.server = createListener(this.security, {
      connection: (socket) => this.adopt(socket, false),
      refused: (address, code, reason) => notice(`chat: refused ${address}: ${reason} [${code}]`),
    });
  }

  get sent(): StreamStats | undefined {
    return this.pipeline?.stats;
  }

  get port(): number {
    const address = this.server.address();
    return typeof address === 'object' && address ? address.port : this.listen.port;
  }

  get connected(): boolean {
    return this.active !== null;
  }

  get dropped(): number {
    return this.active?.writer.dropped ?? 0;
  }

  async start(): Promise<void> {
    const opened = await openSource(this.backend, this.options);
    this.capture = opened.capture;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', (error: NodeJS.ErrnoException) =>
        reject(error.code === 'EADDRINUSE'
          ? new CvchatError('CVCHAT_PORT_IN_USE', `Port ${this.listen.port} is already in use on ${this.listen.host}; choose another with --listen`)
          : new CvchatError('CVCHAT_LISTEN_FAILED', `Could not listen on ${formatAddress(this.listen)}: ${error.message}`)));
      this.server.listen({ host: this.listen.host, port: this.listen.port }, () => resolve());
    }).catch(async (error) => {
      await this.capture?.release();
      throw error;
    });
    const info = this.capture.info;
    const display = this.options.display;
    display?.open(CHAT_WINDOW, info.width || 640, info.height || 480, `calling ${formatAddress(this.peer)}...`);
    display?.setOverlay(CHAT_WINDOW, (frame) => this.decorate(frame));
    this.pipeline = new CapturePipeline(
      this.backend,
      this.capture,
      {
        fps: opened.fps,
        quality: this.quality,
        wire: this.options.wire,
        preview: (frame) => this.keepOwnFrame(frame),
      },
      (frame) => this.send(frame),
    );
    notice(`chat: listening on ${formatAddress({ host: this.listen.host, port: this.port })}, calling ${formatAddress(this.peer)}`);
  }

  /** Runs the call until q, the partner leaving (without --stay) or the frame limit. */
  run(): Promise<ChatEnd> {
    if (!this.pipeline) throw new CvchatError('CVCHAT_NOT_STARTED', 'Chat.run() before start()');
    const pipeline = this.pipeline.run();
    const done = new Promise<ChatEnd>((resolve, reject) => {
      this.finish = resolve;
      this.fatal = reject;
    });
    void this.dialLoop();
    return Promise.race([done, pipeline.then(() => 'quit' as const)]).finally(() => this.close());
  }

  /** Leaves the call: the partner is told (BYE) and sees "partner left". */
  stop(): void {
    this.end('quit');
  }

  onKey(key: string): void {
    if (key === 'i') this.insetShown = !this.insetShown;
    if (key === 'h') this.hudShown = !this.hudShown;
  }

  private end(how: ChatEnd, error?: Error): void {
    if (this.stopping) return;
    this.stopping = true;
    if (error) this.fatal?.(error);
    else this.finish?.(how);
  }

  private async close(): Promise<void> {
    this.stopping = true;
    this.pipeline?.stop();
    this.wakeDialer?.();
    this.server.close();
    for (const link of this.links) {
      if (link === this.active) link.socket.end(controlMessage('BYE', 'partner left'));
      else link.socket.destroy();
      setTimeout(() => link.socket.destroy(), 500).unref();
    }
    this.ownFrame?.release();
    this.ownFrame = null;
    await this.capture?.release();
  }

  private async dialLoop(): Promise<void> {
    let delay = BACKOFF_FIRST_MS;
    let announced = false;
    while (!this.stopping) {
      if (this.active) {
        // Connected: sleep until the call drops.
        await new Promise<void>((resolve) => (this.wakeDialer = resolve));
        delay = BACKOFF_FIRST_MS;
        announced = false;
        continue;
      }
      const outcome = await this.dialOnce();
      if (this.stopping || this.active) continue;
      if (!announced && outcome !== 'connected') {
        announced = true;
        notice(`chat: waiting for ${formatAddress(this.peer)} (${outcome}); it can also call us on port ${this.port}`);
      }
      await Promise.race([sleep(delay), new Promise<void>((resolve) => (this.wakeDialer = resolve))]);
      delay = Math.min(BACKOFF_MAX_MS, delay * 2);
    }
  }

  private async dialOnce(): Promise<string> {
    try {
      const socket = await dial(this.security, this.peer);
      this.adopt(socket, true);
      return 'connected';
    } catch (error) {
      const { error: explained, fatal } = classifyDialError(error as NodeJS.ErrnoException, this.security, formatAddress(this.peer));
      if (fatal) this.end('quit', explained);
      return explained.message;
    }
  }

  /** A new connection, dialled or accepted: say HELLO and wait for the partner's. */
  private adopt(socket: net.Socket, dialedByMe: boolean): void {
    socket.on('error', () => undefined);
    if (this.stopping || this.links.size >= MAX_PENDING_LINKS) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const link: Link = { socket, dialedByMe, peerNonce: null, writer: new LatestFrameWriter(socket, () => socket.destroy()) };
    this.links.add(link);
    socket.write(controlMessage('HELLO', this.nonce.toString()));
    const options = { maxFrameBytes: DEFAULT_MAX_FRAME_BYTES, maxPixels: DEFAULT_MAX_PIXELS, wire: this.options.wire };
    new FrameStream(socket, this.backend, options, this.received, {
      frame: (decoded) => this.onFrame(link, decoded),
      control: (kind, text) => this.onControl(link, kind, text),
      error: (error) => notice(`chat: bad data from the partner [${error.code}]: ${error.message}`),
    });
    socket.once('close', () => this.onLinkClosed(link));
  }

  private onControl(link: Link, kind: string, text: string): void {
    if (kind === 'HELLO') {
      if (!/^\d{1,20}$/.test(text)) {
        link.socket.destroy();
        return;
      }
      link.peerNonce = BigInt(text);
      this.choose(link);
    } else if (kind === 'ACK' && /^\d{1,10}$/.test(text)) {
      link.writer.ack(Number(text));
    } else if (kind === 'BYE' && link === this.active) {
      link.socket.destroy();
      this.partnerLeft();
    }
  }

  /** Keeps one connection: the first, unless a duplicate is the one both sides agree on. */
  private choose(link: Link): void {
    if (link.peerNonce === this.nonce) {
      // Dialled ourselves (peer address points back at this process).
      notice(`chat: ${formatAddress(this.peer)} is this chat itself; give --peer your partner's address`);
      link.socket.destroy();
      return;
    }
    const current = this.active;
    if (current && current !== link) {
      const dialer = (l: Link) => (l.dialedByMe ? this.nonce : (l.peerNonce as bigint));
      const preferred = dialer(link) < dialer(current) ? link : current;
      const loser = preferred === link ? current : link;
      this.links.delete(loser);
      loser.socket.destroy();
      if (preferred === current) return;
    }
    this.active = link;
    if (!current) {
      this.calls++;
      notice(`chat: connected with ${formatAddress({ host: link.socket.remoteAddress ?? '?', port: link.socket.remotePort ?? 0 })}`);
      this.options.display?.setNotice(CHAT_WINDOW, null);
    }
    this.wakeDialer?.();
  }

  private onLinkClosed(link: Link): void {
    this.links.delete(link);
    if (link !== this.active) return;
    this.active = null;
    this.rttMs = null;
    if (this.stopping) return;
    notice(`chat: lost the connection to ${formatAddress(this.peer)}; reconnecting...`);
    this.options.display?.setNotice(CHAT_WINDOW, 'reconnecting...');
    this.wakeDialer?.();
  }

  private partnerLeft(): void {
    this.active = null;
    notice('chat: partner left');
    if (!this.options.stay) {
      this.end('partner-left');
      return;
    }
    this.options.display?.setNotice(CHAT_WINDOW, 'partner left; waiting for a new call...');
    this.wakeDialer?.();
  }

  private onFrame(link: Link, decoded: DecodedFrame): void {
    if (link !== this.active || this.stopping) {
      decoded.frame.release();
      return;
    }
    const { meta } = decoded;
    if (meta) {
      this.echo = { time: meta.captureTime, receivedAt: wallClock() };
      if (meta.echoTime > 0) this.rttMs = Math.max(0, wallClock() - meta.echoTime - meta.echoHoldMs);
    }
    this.options.onFrame?.(decoded);
    if (this.options.display) this.options.display.show(CHAT_WINDOW, decoded.frame);
    else decoded.frame.release();
    if (this.options.frames !== undefined && this.received.frames >= this.options.frames) this.end('limit');
  }

  private send(frame: EncodedFrame): void {
    const link = this.active;
    if (!link) return;
    const hold = this.echo.time > 0 ? wallClock() - this.echo.receivedAt : 0;
    const meta = { seq: frame.seq, captureTime: frame.captureTime, echoTime: this.echo.time, echoHoldMs: hold };
    link.writer.offer({ parts: wireParts(frame.wire, frame.payload, meta), seq: frame.seq });
  }

  private keepOwnFrame(frame: VideoFrame): void {
    this.ownFrame?.release();
    this.ownFrame = frame;
  }

  /** One's own camera as an inset (i toggles it) and a HUD of both directions (h toggles it). */
  private decorate(frame: VideoFrame): void {
    if (this.insetShown && this.ownFrame) {
      const width = Math.round(frame.width / 4);
      const height = Math.round((width * this.ownFrame.height) / Math.max(1, this.ownFrame.width));
      const x = frame.width - width - 8;
      const y = frame.height - height - 8;
      this.backend.drawBox(frame, x - 2, y - 2, width + 4, height + 4, [255, 255, 255], -1);
      this.backend.overlay(frame, this.ownFrame, x, y, width, height);
    }
    if (!this.hudShown) return;
    const scale = Math.max(0.4, frame.height / 900);
    const sent = this.pipeline?.stats.recent;
    const got = this.received.recent;
    const line1 = `in ${got.fps.toFixed(1)} fps ${got.p50 === null ? '' : `${got.p50.toFixed(0)} ms`}  out ${sent ? sent.fps.toFixed(1) : '-'} fps`;
    const line2 = `rtt ${this.rttMs === null ? '-' : `${this.rttMs.toFixed(0)} ms`}  dropped ${this.received.dropped + this.dropped}  (h hud, i inset)`;
    this.backend.drawText(frame, line1, 8, Math.round(frame.height * 0.1 + 24 * scale), scale, [0, 255, 0]);
    this.backend.drawText(frame, line2, 8, Math.round(frame.height * 0.1 + 52 * scale), scale, [0, 255, 0]);
  }
}
