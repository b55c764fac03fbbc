// The receiver: connects to a sender (waiting for it if it is not up yet, and reconnecting with
// backoff when it goes away), decodes the newest frame off the main thread and shows it.
import net from 'node:net';

import type { BackendName, VideoBackend, VideoFrame } from './backend';
import { getBackend } from './backends';
import { sleep } from './clock';
import type { Display } from './display';
import { checkInteger, CvchatError } from './errors';
import { FrameStream, type DecodedFrame } from './frame-stream';
import { notice } from './log';
import { checkPort, formatAddress, type Address } from './options';
import { DEFAULT_MAX_FRAME_BYTES, type Wire } from './protocol';
import { BACKOFF_FIRST_MS, BACKOFF_MAX_MS, classifyDialError, dial, requiredSecurity, type Security } from './security';
import { StreamStats } from './stats';
import { DEFAULT_MAX_PIXELS } from './video';

export const RECEIVER_WINDOW = 'RECEIVING VIDEO';

export interface ReceiverOptions {
  connect?: Address;
  /** Exit after this many decoded frames. */
  frames?: number;
  maxFrameBytes?: number;
  maxPixels?: number;
  backend?: BackendName;
  display?: Display;
  /** Called with each decoded frame before it is shown (tests, tools). Must not keep it. */
  onFrame?: (decoded: DecodedFrame) => void;
  /** The sender's key (it prints it at start). Required unless insecure. */
  key?: string;
  /** The plain seed-compatible wire: no encryption, no authentication. */
  insecure?: boolean;
  /** Close a connection that delivers no complete frame for this long. */
  idleTimeoutMs?: number;
  /** jpeg (default), or pickle: the seed's own wire, which needs insecure. */
  wire?: Wire;
}

export type ReceiverEnd = 'limit' | 'stopped';

/** After a session ends, try again soon: the sender was there a moment ago (a restart, a glitch). */
const RETRY_AFTER_SESSION_MS = 50;
/**
 * Sessions in a row that may end without a single decoded frame before the receiver waits as it
 * does for a sender that is down. A peer that only ever sends bad data or hangs up at once would
 * otherwise be dialled (and reported) twenty times a second.
 */
export const FRAMELESS_SESSIONS_BEFORE_BACKOFF = 5;

export class Receiver {
  readonly stats = new StreamStats('receiver');
  readonly address: Address;
  private readonly backend: VideoBackend;
  private readonly maxFrameBytes: number;
  private readonly maxPixels: number;
  readonly security: Security;
  private socket: net.Socket | undefined;
  private stopping = false;
  private finish: ((end: ReceiverEnd) => void) | undefined;
  private fatal: ((error: Error) => void) | undefined;
  private hud = true;
  /** Frames decoded in the current session. */
  private sessionFrames = 0;

  constructor(private readonly options: ReceiverOptions = {}) {
    const address = options.connect ?? { host: '127.0.0.1', port: 9999 };
    this.address = { host: address.host, port: checkPort('connect port', address.port) };
    this.maxFrameBytes = checkInteger('maxFrameBytes', options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES, 1, 2 ** 31);
    this.maxPixels = checkInteger('maxPixels', options.maxPixels ?? DEFAULT_MAX_PIXELS, 1, 2 ** 31);
    if (options.frames !== undefined) checkInteger('frames', options.frames, 1, Number.MAX_SAFE_INTEGER);
    this.backend = getBackend(options.backend ?? 'native');
    if (options.idleTimeoutMs !== undefined) checkInteger('idleTimeoutMs', options.idleTimeoutMs, 1, 3_600_000);
    this.security = requiredSecurity(options, 'pass --key (or set CVCHAT_KEY) with the key the sender printed, or --insecure for a sender on the plain wire');
  }

  /** Connects (and reconnects) until the frame limit, stop(), or a refusal. */
  run(): Promise<ReceiverEnd> {
    const display = this.options.display;
    display?.open(RECEIVER_WINDOW, 640, 480, `waiting for the sender at ${formatAddress(this.address)}...`);
    display?.setOverlay(RECEIVER_WINDOW, (frame) => this.drawHud(frame));
    return new Promise<ReceiverEnd>((resolve, reject) => {
      this.finish = resolve;
      this.fatal = reject;
      void this.connectLoop();
    });
  }

  /** h toggles the HUD. */
  onKey(key: string): void {
    if (key === 'h') this.hud = !this.hud;
  }

  stop(): void {
    this.end('stopped');
  }

  private end(how: ReceiverEnd, error?: Error): void {
    if (this.stopping) return;
    this.stopping = true;
    this.socket?.destroy();
    if (error) this.fatal?.(error);
    else this.finish?.(how);
  }

  private async connectLoop(): Promise<void> {
    let delay = BACKOFF_FIRST_MS;
    let announced = false;
    let frameless = 0;
    while (!this.stopping) {
      const outcome = await this.connectOnce();
      if (this.stopping) return;
      if (outcome === 'connected') {
        frameless = this.sessionFrames > 0 ? 0 : frameless + 1;
        if (frameless < FRAMELESS_SESSIONS_BEFORE_BACKOFF) {
          delay = BACKOFF_FIRST_MS;
          announced = false;
          notice(`the sender at ${formatAddress(this.address)} went away; reconnecting...`);
          this.options.display?.setNotice(RECEIVER_WINDOW, 'sender went away; reconnecting...');
          await sleep(RETRY_AFTER_SESSION_MS);
          continue;
        }
        if (frameless === FRAMELESS_SESSIONS_BEFORE_BACKOFF) {
          notice(`the sender at ${formatAddress(this.address)} closed ${frameless} connections in a row without a frame we could show; ` +
            `retrying less often (up to every ${BACKOFF_MAX_MS / 1000} s), q or Ctrl+C to give up`);
          this.options.display?.setNotice(RECEIVER_WINDOW, 'the sender sends nothing we can show; retrying...');
        }
      } else if (!announced) {
        announced = true;
        notice(`waiting for the sender at ${formatAddress(this.address)} (${outcome}); retrying until it is up, q or Ctrl+C to give up`);
      }
      await sleep(delay);
      delay = Math.min(BACKOFF_MAX_MS, delay * 2);
    }
  }

  /** Resolves 'connected' after a session that ended, or a reason the connection failed. */
  private async connectOnce(): Promise<string> {
    const where = formatAddress(this.address);
    let socket: net.Socket;
    try {
      socket = await dial(this.security, this.address);
    } catch (error) {
      const { error: explained, fatal } = classifyDialError(error as NodeJS.ErrnoException, this.security, where);
      if (fatal) this.end('stopped', explained);
      return explained.message;
    }
    if (this.stopping) {
      socket.destroy();
      return 'stopped';
    }
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('error', () => undefined); // 'close' follows, and the loop reconnects
    notice(`connected to ${where}${this.security.mode === 'plain' ? ' (unencrypted)' : ''}`);
    this.options.display?.setNotice(RECEIVER_WINDOW, null);
    this.sessionFrames = 0;
    const stream = this.attach(socket);
    await new Promise((resolve) => socket.once('close', resolve));
    if (stream.bytesReceived === 0 && this.security.mode === 'plain' && !this.stopping) {
      notice(`${where} closed the connection without sending anything: if it runs encrypted (the default), pass its --key instead of --insecure`);
    }
    return 'connected';
  }

  private attach(socket: net.Socket): FrameStream {
    const limits = { maxFrameBytes: this.maxFrameBytes, maxPixels: this.maxPixels, idleTimeoutMs: this.options.idleTimeoutMs, wire: this.options.wire };
    return new FrameStream(socket, this.backend, limits, this.stats, {
      frame: (decoded) => {
        this.sessionFrames++;
        this.onFrame(decoded);
      },
      control: (kind, text) => {
        if (kind === 'BUSY') {
          this.end('stopped', new CvchatError('CVCHAT_SENDER_BUSY', `The sender refused this viewer: ${text}`));
        }
      },
      error: (error) => notice(`bad data from the sender [${error.code}]: ${error.message}; reconnecting`),
    });
  }

  private onFrame(decoded: DecodedFrame): void {
    this.options.onFrame?.(decoded);
    const limit = this.options.frames;
    if (this.options.display && !this.stopping) this.options.display.show(RECEIVER_WINDOW, decoded.frame);
    else decoded.frame.release();
    if (limit !== undefined && this.stats.frames >= limit) this.end('limit');
  }

  private drawHud(frame: VideoFrame): void {
    if (!this.hud) return;
    const { fps, p50 } = this.stats.recent;
    const scale = Math.max(0.4, frame.height / 900);
    const text = `${fps.toFixed(1)} fps  latency ${p50 === null ? '-' : `${p50.toFixed(0)} ms`}  dropped ${this.stats.dropped}  (h: hide)`;
    // Below the top tenth of the picture, clear of the test source's bar and its text at the bottom.
    this.backend.drawText(frame, text, 8, Math.round(frame.height * 0.1 + 24 * scale), scale, [0, 255, 0]);
  }
}
