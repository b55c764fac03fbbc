// The receiver: connects to a sender (waiting for it if it is not up yet, and reconnecting when it
// goes away), decodes the newest frame off the main thread and shows it.
import { checkPort, formatAddress, type Address } from '../base/address';
import { sleep } from '../base/clock';
import type { VideoCodecName } from '../base/codecs';
import { CvchatError } from '../base/errors';
import { BACKOFF_MAX_MS, DEFAULT_PORT } from '../base/limits';
import { notice } from '../base/log';
import type { VideoBackend } from '../media/backend';
import { Connection, type ConnectionEnd } from '../net/connection';
import { RedialPolicy } from '../net/redial';
import { classifyDialError, dial, type Security } from '../net/tls';
import type { PointMeta } from '../wire/meta';
import { decodeFrom, type DecodedFrame } from './decoder';
import { Hud, receiverHudLines } from './hud';
import { backendFor, checkCodec, checkFrameLimit, checkReceiveLimits, requiredSecurity, type ReceiveLimitOptions, type ReceiveLimits, type SessionOptions } from './options';
import { checkRecordPath, recordShown, Recording } from './record';
import { StreamStats } from './stats';

export { FRAMELESS_SESSIONS_BEFORE_BACKOFF } from '../base/limits';

export const RECEIVER_WINDOW = 'RECEIVING VIDEO';

/** `key`: the sender's (it prints it at start), required unless insecure. */
export interface ReceiverOptions extends SessionOptions, ReceiveLimitOptions {
  connect?: Address;
  /** Exit after this many decoded frames. */
  frames?: number;
  /** Called with each decoded frame before it is shown (tests, tools). Must not keep it. */
  onFrame?: (decoded: DecodedFrame) => void;
}

export type ReceiverEnd = 'limit' | 'stopped';

export class Receiver {
  readonly stats = new StreamStats('receiver');
  readonly address: Address;
  private readonly backend: VideoBackend;
  /** The video codecs offered to the sender, by preference. */
  private readonly codecs: readonly VideoCodecName[];
  private readonly limits: ReceiveLimits;
  private readonly frames: number | undefined;
  readonly security: Security;
  private readonly hud: Hud;
  private connection: Connection | undefined;
  private stopping = false;
  private finish: ((end: ReceiverEnd) => void) | undefined;
  private fatal: ((error: Error) => void) | undefined;
  /** Frames decoded in the current session. */
  private sessionFrames = 0;
  /** How the newest frame was adapted by the sender, if it was. */
  receiving: PointMeta | undefined;
  /** --record: what this side shows. */
  readonly recording: Recording | undefined;

  constructor(private readonly options: ReceiverOptions = {}) {
    const address = options.connect ?? { host: '127.0.0.1', port: DEFAULT_PORT };
    this.address = { host: address.host, port: checkPort('connect port', address.port) };
    this.limits = checkReceiveLimits(options);
    this.frames = checkFrameLimit(options.frames);
    this.backend = backendFor(options.backend);
    this.codecs = checkCodec(options.codec, this.backend, options.wire);
    this.security = requiredSecurity(options, 'pass --key (or set CVCHAT_KEY) with the key the sender printed, or --insecure for a sender on the plain wire');
    this.hud = new Hud(this.backend, () => receiverHudLines(this.stats, this.receiving));
    this.recording = options.record === undefined ? undefined : new Recording(this.backend, checkRecordPath(options.record));
  }

  /** Connects (and reconnects) until the frame limit, stop(), or a refusal. */
  run(): Promise<ReceiverEnd> {
    const display = this.options.display;
    display?.open(RECEIVER_WINDOW, 640, 480, `waiting for the sender at ${formatAddress(this.address)}...`);
    display?.setOverlay(RECEIVER_WINDOW, (frame) => this.hud.draw(frame));
    const done = new Promise<ReceiverEnd>((resolve, reject) => {
      this.finish = resolve;
      this.fatal = reject;
      void this.connectLoop();
    });
    // The recording is finished (its file made whole) before the receiver says it has ended.
    return done.finally(() => this.recording?.close());
  }

  /** h toggles the HUD. */
  onKey(key: string): void {
    this.hud.onKey(key);
  }

  stop(): void {
    this.end('stopped');
  }

  private end(how: ReceiverEnd, error?: Error): void {
    if (this.stopping) return;
    this.stopping = true;
    this.connection?.destroy();
    if (error) this.fatal?.(error);
    else this.finish?.(how);
  }

  private async connectLoop(): Promise<void> {
    const policy = new RedialPolicy();
    const where = formatAddress(this.address);
    while (!this.stopping) {
      const outcome = await this.connectOnce();
      if (this.stopping) return;
      const step = outcome === 'session' ? policy.sessionEnded(this.sessionFrames > 0) : policy.dialFailed();
      if (outcome === 'session' && !step.backingOff) {
        notice(`the sender at ${where} went away; reconnecting...`);
        this.options.display?.setNotice(RECEIVER_WINDOW, 'sender went away; reconnecting...');
      } else if (outcome === 'session' && step.startedBackingOff) {
        notice(`the sender at ${where} closed ${policy.frameless} connections in a row without a frame we could show; ` +
          `retrying less often (up to every ${BACKOFF_MAX_MS / 1000} s), q or Ctrl+C to give up`);
        this.options.display?.setNotice(RECEIVER_WINDOW, 'the sender sends nothing we can show; retrying...');
      } else if (step.startedBackingOff) {
        notice(`waiting for the sender at ${where} (${outcome}); retrying until it is up, q or Ctrl+C to give up`);
      }
      await sleep(step.delayMs);
    }
  }

  /** Resolves 'session' after a session that ended, or why the connection failed. */
  private async connectOnce(): Promise<string> {
    const where = formatAddress(this.address);
    let socket;
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
    const connection = new Connection(socket, {
      security: this.security.mode,
      side: 'dialled',
      inbound: 'frames',
      maxFrameBytes: this.limits.maxFrameBytes,
      idleTimeoutMs: this.limits.idleTimeoutMs,
    });
    this.connection = connection;
    notice(`connected to ${where}${this.security.mode === 'plain' ? ' (unencrypted)' : ''}`);
    this.options.display?.setNotice(RECEIVER_WINDOW, null);
    this.sessionFrames = 0;
    const decoding = { maxPixels: this.limits.maxPixels, view: this.limits.view, wire: this.options.wire, codecs: this.codecs };
    const onFrame = (decoded: DecodedFrame) => {
      this.sessionFrames++;
      this.onFrame(decoded);
    };
    decodeFrom(connection, this.backend, decoding, this.stats, onFrame, (error) =>
      this.stopping ? null : `bad data from the sender [${error.code}]: ${error.message}; reconnecting`);
    connection.on('control', (kind, text) => {
      if (kind === 'BUSY') this.end('stopped', new CvchatError('CVCHAT_SENDER_BUSY', `The sender refused this viewer: ${text}`));
    });
    const end = await new Promise<ConnectionEnd>((resolve) => connection.once('close', resolve));
    if (this.stopping) return 'session';
    if (end.bytesReceived === 0 && this.security.mode === 'plain') {
      notice(`${where} closed the connection without sending anything: if it runs encrypted (the default), pass its --key instead of --insecure`);
    }
    return 'session';
  }

  private onFrame(decoded: DecodedFrame): void {
    this.receiving = decoded.meta?.point;
    this.options.onFrame?.(decoded);
    if (this.recording && !this.stopping) recordShown(this.recording, this.backend, decoded);
    if (this.options.display && !this.stopping) this.options.display.show(RECEIVER_WINDOW, decoded.frame);
    else decoded.frame.release();
    if (this.frames !== undefined && this.stats.frames >= this.frames) this.end('limit');
  }
}
