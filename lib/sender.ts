// The sender: one capture, each frame encoded once and offered to every viewer, newest frame
// winning per viewer. Like the seed's server, it listens and lets up to --max-viewers connect.
import net from 'node:net';

import type { BackendName, CaptureSource, VideoBackend } from './backend';
import { getBackend } from './backends';
import type { Display } from './display';
import { checkBoolean, checkInteger, checkNumber, CvchatError } from './errors';
import { DEFAULT_STALL_TIMEOUT_MS, LatestFrameWriter } from './latest-writer';
import { notice } from './log';
import { checkPort, formatAddress } from './options';
import { CapturePipeline, type EncodedFrame } from './pipeline';
import { controlMessage, FrameReader, looksLikeTlsHandshake, parseControl, PLAIN_ANSWER, wireParts, type Wire } from './protocol';
import { checkKey, checkWire, createListener, generateKey, type Security } from './security';
import { openSource, type SourceOptions } from './source-open';
import { captureSpec } from './video';

export const SENDER_WINDOW = 'TRANSMITTING VIDEO';

export interface SenderOptions extends SourceOptions {
  host?: string;
  port?: number;
  quality?: number;
  maxViewers?: number;
  /** Stop after this many captured frames. */
  frames?: number;
  backend?: BackendName;
  /** Show the preview in this display; none means headless. */
  display?: Display;
  /** The shared key; when absent (and not insecure) a strong one is generated: see `key`. */
  key?: string;
  /** The plain seed-compatible wire: no encryption, no authentication. */
  insecure?: boolean;
  handshakeTimeoutMs?: number;
  /** Cut off a viewer that has not taken a whole frame for this long. */
  stallTimeoutMs?: number;
  /** jpeg (default), or pickle: the seed's own wire, which needs insecure. */
  wire?: Wire;
  /** A source opened beforehand (openCapture, openMemoryCapture), used instead of `source`. */
  capture?: CaptureSource;
}

interface Viewer {
  socket: net.Socket;
  writer: LatestFrameWriter;
  address: string;
}

export type SenderEnd = 'quit' | 'ended' | 'limit' | 'stopped';

export class Sender {
  readonly host: string;
  private readonly requestedPort: number;
  private readonly quality: number;
  private readonly maxViewers: number;
  private readonly backend: VideoBackend;
  private readonly viewers = new Set<Viewer>();
  private readonly server: net.Server;
  readonly security: Security;
  /** True when no key was given and `security.key` was generated here. */
  readonly keyGenerated: boolean;
  private capture: CaptureSource | undefined;
  private pipeline: CapturePipeline | undefined;
  private droppedByViewersThatLeft = 0;
  private demandWaiters: Array<() => void> = [];
  private stopped = false;

  constructor(private readonly options: SenderOptions) {
    this.host = options.host ?? '0.0.0.0';
    this.requestedPort = checkPort('port', options.port ?? 9999, true);
    this.quality = checkInteger('quality', options.quality ?? 80, 1, 100);
    this.maxViewers = checkInteger('maxViewers', options.maxViewers ?? 5, 1, 1000);
    if (options.frames !== undefined) checkInteger('frames', options.frames, 1, Number.MAX_SAFE_INTEGER);
    if (options.fps !== undefined) checkNumber('fps', options.fps, 0, 1000);
    if (options.loop !== undefined) checkBoolean('loop', options.loop);
    if (options.source !== undefined) captureSpec({ source: options.source }); // fail fast on a bad source
    this.backend = getBackend(options.backend ?? 'native');
    if (options.stallTimeoutMs !== undefined) checkInteger('stallTimeoutMs', options.stallTimeoutMs, 1, 3_600_000);
    checkWire(options.wire, options.insecure);
    this.keyGenerated = !options.insecure && options.key === undefined;
    this.security = options.insecure ? { mode: 'plain' } : { mode: 'tls', key: options.key === undefined ? generateKey() : checkKey(options.key) };
    this.server = createListener(
      this.security,
      {
        connection: (socket) => this.accept(socket),
        refused: (address, code, reason) => notice(`refused ${address}: ${reason} [${code}]`),
      },
      { handshakeTimeoutMs: options.handshakeTimeoutMs },
    );
  }

  get port(): number {
    const address = this.server.address();
    return typeof address === 'object' && address ? address.port : this.requestedPort;
  }

  get stats() {
    return this.pipeline?.stats;
  }

  get viewerCount(): number {
    return this.viewers.size;
  }

  /** Frames replaced before they could be sent, over all viewers. */
  get dropped(): number {
    let total = this.droppedByViewersThatLeft;
    for (const viewer of this.viewers) total += viewer.writer.dropped;
    return total;
  }

  /** Bytes waiting in the process for the most backed-up viewer (newest-frame-wins keeps it near one frame). */
  get maxViewerBacklog(): number {
    let most = 0;
    for (const viewer of this.viewers) most = Math.max(most, viewer.socket.writableLength);
    return most;
  }

  /** Opens the source and starts listening; resolves once both are ready. */
  async start(): Promise<void> {
    const opened = this.options.capture
      ? { capture: this.options.capture, fps: this.options.fps ?? (this.options.capture.info.fps || 30), live: false }
      : await openSource(this.backend, this.options);
    this.capture = opened.capture;
    try {
      await this.listen();
    } catch (error) {
      await this.capture.release();
      throw error;
    }
    const info = this.capture.info;
    const mode = this.security.mode === 'tls' ? 'encrypted' : 'UNENCRYPTED (--insecure)';
    notice(`sending ${info.width}x${info.height} from ${info.backend} on ${formatAddress({ host: this.host, port: this.port })}, ${mode}, up to ${this.maxViewers} viewers`);
    const display = this.options.display;
    display?.open(SENDER_WINDOW, info.width || 640, info.height || 480, 'starting...');
    this.pipeline = new CapturePipeline(
      this.backend,
      this.capture,
      {
        fps: opened.fps,
        quality: this.quality,
        wire: this.options.wire,
        maxFrames: this.options.frames,
        demand: opened.fps === 0 && !opened.live ? () => this.demand() : undefined,
        preview: display ? (frame) => display.show(SENDER_WINDOW, frame) : undefined,
      },
      (frame) => this.broadcast(frame),
    );
    display?.setNotice(SENDER_WINDOW, null);
  }

  /** Runs until the source ends, the frame limit is reached or stop() is called. */
  async run(): Promise<SenderEnd> {
    if (!this.pipeline) throw new CvchatError('CVCHAT_NOT_STARTED', 'Sender.run() before start()');
    const end = await this.pipeline.run();
    if (end === 'ended') notice('the source has ended');
    await this.close();
    return end;
  }

  async stop(): Promise<void> {
    this.pipeline?.stop();
    await this.close();
  }

  private listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException) => {
        const where = formatAddress({ host: this.host, port: this.requestedPort });
        if (error.code === 'EADDRINUSE') {
          reject(new CvchatError('CVCHAT_PORT_IN_USE', `Port ${this.requestedPort} is already in use on ${this.host} (another cvchat sender?). Stop it or choose another with --port`));
        } else if (error.code === 'EADDRNOTAVAIL') {
          reject(new CvchatError('CVCHAT_BAD_ADDRESS', `${this.host} is not an address of this machine; use --host 0.0.0.0 to listen on all of them`));
        } else if (error.code === 'EACCES') {
          reject(new CvchatError('CVCHAT_PORT_DENIED', `Not allowed to listen on ${where}; ports below 1024 need root: choose --port 9999 or above`));
        } else {
          reject(new CvchatError('CVCHAT_LISTEN_FAILED', `Could not listen on ${where}: ${error.message}`));
        }
      };
      this.server.once('error', onError);
      // The default backlog: it bounds connections not yet accepted, not viewers (--max-viewers does that).
      this.server.listen({ host: this.host, port: this.requestedPort }, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
  }

  /**
   * Resolves when some viewer could take a frame now. A source that is not live (memory, a file
   * or the test picture read unpaced) waits for this before each read, instead of encoding frames
   * only to drop them; a live source must be read anyway, or it serves stale frames.
   */
  private demand(): Promise<void> {
    for (const viewer of this.viewers) if (viewer.writer.wantsFrame) return Promise.resolve();
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => this.demandWaiters.push(resolve));
  }

  private wakeDemand(): void {
    const waiters = this.demandWaiters;
    this.demandWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private accept(socket: net.Socket): void {
    const address = formatAddress({ host: socket.remoteAddress ?? '?', port: socket.remotePort ?? 0 });
    socket.on('error', () => undefined); // a viewer's network error only ends that viewer
    if (this.stopped) {
      socket.destroy();
      return;
    }
    if (this.viewers.size >= this.maxViewers) {
      notice(`refused viewer ${address}: already ${this.viewers.size} viewers (--max-viewers ${this.maxViewers})`);
      socket.end(controlMessage('BUSY', `the sender already has its maximum of ${this.maxViewers} viewers`));
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    socket.setNoDelay(true);
    // Viewers send only ACKs (cvchat) or nothing (the seed's receiver). Anything else ends them.
    const acks = new FrameReader({ maxFrameBytes: 256, limitName: 'a viewer sends only small ACKs' });
    const onStalled = () => {
      notice(`cut off viewer ${address}: it took no frame for ${(this.options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS) / 1000} s [CVCHAT_VIEWER_STALLED]`);
      socket.destroy();
    };
    const viewer: Viewer = { socket, writer: new LatestFrameWriter(socket, onStalled, this.options.stallTimeoutMs), address };
    viewer.writer.onReady = () => this.wakeDemand();
    let first = true;
    socket.on('data', (chunk: Buffer) => {
      if (first && looksLikeTlsHandshake(chunk)) {
        notice(`refused ${address}: it speaks TLS but this sender runs --insecure [CVCHAT_PEER_ENCRYPTED]`);
        socket.end(PLAIN_ANSWER());
        return;
      }
      first = false;
      try {
        for (const payload of acks.push(chunk)) {
          const control = parseControl(payload);
          if (control?.kind === 'ACK' && /^\d{1,10}$/.test(control.text)) viewer.writer.ack(Number(control.text));
          else throw new CvchatError('CVCHAT_BAD_VIEWER_DATA', 'a viewer sent something other than ACKs');
        }
      } catch (error) {
        notice(`cut off viewer ${address}: ${(error as Error).message} [${(error as CvchatError).code}]`);
        socket.destroy();
      }
    });
    this.viewers.add(viewer);
    this.wakeDemand();
    notice(`viewer ${address} joined (${this.viewers.size}/${this.maxViewers})`);
    socket.once('close', () => {
      this.viewers.delete(viewer);
      this.droppedByViewersThatLeft += viewer.writer.dropped;
      if (!this.stopped) notice(`viewer ${address} left (${this.viewers.size}/${this.maxViewers})`);
    });
  }

  private broadcast(frame: EncodedFrame): void {
    if (this.viewers.size === 0) return;
    const parts = wireParts(frame.wire, frame.payload, { seq: frame.seq, captureTime: frame.captureTime, echoTime: 0, echoHoldMs: 0 });
    for (const viewer of this.viewers) viewer.writer.offer({ parts, seq: frame.seq });
  }

  private async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.wakeDemand();
    this.server.close();
    for (const viewer of this.viewers) viewer.socket.end();
    // Give viewers a moment to read what was sent, then make sure nothing is left open.
    const sockets = [...this.viewers].map((v) => v.socket);
    setTimeout(() => sockets.forEach((s) => s.destroy()), 500).unref();
    await this.capture?.release();
  }
}
