// Two-way video chat: the partner finder (partner.ts) keeps one connection to the partner, the call
// (call.ts) runs on it, and the capture pipeline feeds two sinks: the call, and the inset of one's
// own camera drawn over the partner's picture with the HUD (hud.ts).
import { checkPort, formatAddress, type Address } from '../../base/address';
import type { VideoCodecName } from '../../base/codecs';
import { CvchatError } from '../../base/errors';
import { DEFAULT_PORT } from '../../base/limits';
import { notice } from '../../base/log';
import type { CaptureSource, VideoBackend, VideoFrame } from '../../media/backend';
import { openSource } from '../../media/source';
import type { Connection } from '../../net/connection';
import type { Security } from '../../net/tls';
import type { PointMeta } from '../../wire/meta';
import { FrameSizeModel } from '../adapt';
import type { DecodedFrame } from '../decoder';
import { chatHudLines, Hud, Inset, insetSize } from '../hud';
import {
  backendFor,
  checkCodec,
  checkFrameLimit,
  checkReceiveLimits,
  checkSendOptions,
  offeredSecurity,
  sourceToOpen,
  type ReceiveLimitOptions,
  type ReceiveLimits,
  type SendOptions,
  type SessionOptions,
} from '../options';
import { CapturePipeline } from '../pipeline';
import { FanOut, type Adaptation, type FrameSink, type SendingStatus } from '../sinks';
import { checkRecordPath, recordShown, Recording } from '../record';
import { StreamStats } from '../stats';
import { checkWebOptions, WebPage, type WebPageOptions } from '../web';
import { Call } from './call';
import { PartnerFinder } from './partner';

export const CHAT_WINDOW = 'VIDEO CHAT';

/** `key`: the one both sides share; when absent (and not insecure) a strong one is generated: see `security`. */
export interface ChatOptions extends SessionOptions, SendOptions, ReceiveLimitOptions {
  listen?: Address;
  /** The partner's address, dialled until it answers; may be left out with `web` (a browser calls). */
  peer?: Address;
  /** Serve a web page on this port too (on the listen host): a browser joins the call with its camera. */
  web?: WebPageOptions;
  /** Leave after this many frames from the partner. */
  frames?: number;
  /** When the partner leaves, wait for a new call instead of exiting. */
  stay?: boolean;
  /** Called with each of the partner's decoded frames before it is shown. Must not keep it. */
  onFrame?: (decoded: DecodedFrame) => void;
}

/** quit: q, stop() or a signal; partner-left: the partner pressed q; limit: --frames; ended: our source (a file) ended. */
export type ChatEnd = 'quit' | 'partner-left' | 'limit' | 'ended';

export class Chat {
  readonly received = new StreamStats('receiver');
  readonly listen: Address;
  readonly peer: Address | undefined;
  private readonly webOptions: WebPageOptions | undefined;
  /** The web page, once started with `web`. */
  webPage: WebPage | undefined;
  readonly security: Security;
  /** True when no key was given and `security.key` was generated here: the partner needs it. */
  readonly keyGenerated: boolean;
  private readonly backend: VideoBackend;
  /** The video codecs we send and offer the partner, by preference (none: JPEG). */
  private readonly codecs: readonly VideoCodecName[];
  private readonly quality: number;
  private readonly passthrough: boolean;
  /** How our stream adapts to the partner's link; undefined with adapt: false. */
  /** How the partner's newest frame was adapted, if it was. */
  private receiving: PointMeta | undefined;
  private readonly adaptation: Adaptation | undefined;
  private readonly frames: number | undefined;
  private readonly limits: ReceiveLimits;
  private readonly finder: PartnerFinder;
  private readonly sinks: FanOut;
  private readonly inset: Inset;
  private readonly hud: Hud;
  private call: Call | null = null;
  /** Who the call is with: a cvchat partner, or a browser's page (--web). */
  private callFrom: 'partner' | 'browser' = 'partner';
  private capture: CaptureSource | undefined;
  private pipeline: CapturePipeline | undefined;
  private stopping = false;
  private finish: ((end: ChatEnd) => void) | undefined;
  private fatal: ((error: Error) => void) | undefined;
  /** Calls connected so far (a reconnection counts as a new one). */
  calls = 0;
  /** --record: the partner's video, as shown. */
  readonly recording: Recording | undefined;

  constructor(private readonly options: ChatOptions) {
    this.listen = options.listen ?? { host: '0.0.0.0', port: DEFAULT_PORT };
    checkPort('listen port', this.listen.port, true);
    this.webOptions = checkWebOptions(options.web);
    if (!options.peer && !this.webOptions) throw new CvchatError('CVCHAT_INVALID_OPTION', "Expected HOST:PORT for peer (your partner's address), or web (a browser's page to call from)");
    this.peer = options.peer && { host: options.peer.host, port: checkPort('peer port', options.peer.port) };
    const { quality, adapt, passthrough } = checkSendOptions(options);
    this.quality = quality;
    this.passthrough = passthrough;
    this.adaptation = adapt ? { model: new FrameSizeModel(), quality } : undefined;
    this.frames = checkFrameLimit(options.frames);
    this.limits = checkReceiveLimits(options);
    this.backend = backendFor(options.backend);
    this.codecs = checkCodec(options.codec, this.backend, options.wire);
    ({ security: this.security, keyGenerated: this.keyGenerated } = offeredSecurity(options));
    this.recording = options.record === undefined ? undefined : new Recording(this.backend, checkRecordPath(options.record));
    this.sinks = new FanOut(this.backend);
    this.inset = new Inset(this.backend);
    this.hud = new Hud(this.backend, () => chatHudLines(this.received, this.pipeline?.stats, this.rttMs, this.dropped, this.call?.sink.status, this.receiving));
    this.finder = new PartnerFinder(this.security, this.listen, this.peer, this.limits, {
      call: (connection, from) => this.onCall(connection, from),
      lost: (connection) => this.onLost(connection),
      fatal: (error) => this.end('quit', error),
    });
  }

  get sent(): StreamStats | undefined {
    return this.pipeline?.stats;
  }

  get port(): number {
    return this.finder.port;
  }

  get connected(): boolean {
    return this.call !== null;
  }

  /** Our frames replaced before they could be sent, in the current call. */
  get dropped(): number {
    return this.call?.dropped ?? 0;
  }

  /** What we send the partner in the current call (size, quality, rate estimate), or null. */
  get sending(): SendingStatus | null {
    return this.call?.sink.status ?? null;
  }

  /** Round-trip time of the current call, or null. */
  get rttMs(): number | null {
    return this.call?.rttMs ?? null;
  }

  async start(): Promise<void> {
    const opened = await openSource(this.backend, sourceToOpen(this.options, this.passthrough, this.backend));
    this.capture = opened.capture;
    try {
      // The page first (its certificate may take openssl a moment): no partner is taken while it may still fail.
      if (this.webOptions) {
        this.webPage = await WebPage.open('chat', this.security, this.listen.host, this.webOptions, 1, (stream) => this.finder.adoptPage(stream));
      }
      await this.finder.listen();
    } catch (error) {
      this.webPage?.close();
      this.finder.stop();
      await this.capture.release();
      throw error;
    }
    const info = this.capture.info;
    const display = this.options.display;
    display?.open(CHAT_WINDOW, info.width || 640, info.height || 480, this.peer ? `calling ${formatAddress(this.peer)}...` : 'waiting for a browser...');
    display?.setOverlay(CHAT_WINDOW, (frame) => {
      this.inset.draw(frame);
      this.hud.draw(frame);
    });
    // A source's own JPEG is decoded for the inset only with a window, at the inset's size.
    const ownCamera: FrameSink = {
      wantsFrame: false,
      deliverPixels: (frame: VideoFrame) => this.inset.keep(frame),
      pixelSize: (full) => (display ? insetSize(full) : null),
    };
    this.sinks.add(ownCamera);
    this.pipeline = new CapturePipeline(this.backend, this.capture, { fps: opened.fps, quality: this.quality, wire: this.options.wire, sizeModel: this.adaptation?.model }, this.sinks);
    const calling = this.peer ? `calling ${formatAddress(this.peer)}` : 'waiting for a browser';
    notice(`chat: listening on ${formatAddress({ host: this.listen.host, port: this.port })}, ${calling}`);
    this.webPage?.announce();
  }

  /** Runs the call until q, the partner leaving (without --stay), the frame limit or the end of our source. */
  run(): Promise<ChatEnd> {
    if (!this.pipeline) throw new CvchatError('CVCHAT_NOT_STARTED', 'Chat.run() before start()');
    const done = new Promise<ChatEnd>((resolve, reject) => {
      this.finish = resolve;
      this.fatal = reject;
    });
    this.pipeline.run().then(
      (end) => {
        if (end !== 'ended') return;
        notice('chat: the source has ended; leaving the call');
        this.end('ended');
      },
      (error: Error) => this.end('quit', error),
    );
    this.finder.start();
    return done.finally(() => this.close());
  }

  /** Leaves the call: the partner is told (BYE) and sees "partner left". */
  stop(): void {
    this.end('quit');
  }

  /** i toggles the inset, h the HUD. */
  onKey(key: string): void {
    if (!this.inset.onKey(key)) this.hud.onKey(key);
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
    this.finder.stop();
    this.webPage?.close();
    this.call?.hangUp();
    this.inset.release();
    await Promise.all([this.capture?.release(), this.recording?.close()]);
  }

  private onCall(connection: Connection, from: 'partner' | 'browser'): void {
    this.callFrom = from;
    const previous = this.call;
    if (previous) {
      // Both sides dialled at once and this connection won the tie-break: move the call over.
      this.sinks.delete(previous.sink);
      previous.drop();
    } else {
      this.calls++;
      notice(`chat: connected with ${connection.remote}`);
      this.options.display?.setNotice(CHAT_WINDOW, null);
    }
    const call = new Call(connection, this.backend, { maxPixels: this.limits.maxPixels, view: this.limits.view, wire: this.options.wire, adapt: this.adaptation, codecs: this.codecs }, this.received, {
      frame: (decoded) => this.onFrame(call, decoded),
    });
    this.call = call;
    this.sinks.add(call.sink);
  }

  private onLost(connection: Connection): { showedFrames: boolean; callAgain: boolean } {
    const call = this.call;
    if (!call || call.connection !== connection) return { showedFrames: false, callAgain: !this.stopping };
    this.call = null;
    this.sinks.delete(call.sink);
    if (this.stopping) return { showedFrames: call.framesShown > 0, callAgain: false };
    if (call.partnerLeft) {
      notice('chat: partner left');
      if (!this.options.stay) {
        this.end('partner-left');
        return { showedFrames: true, callAgain: false };
      }
      this.options.display?.setNotice(CHAT_WINDOW, 'partner left; waiting for a new call...');
    } else {
      // A browser's tab that closed says nothing: it may come back (a reload), or the partner may call.
      const browser = this.callFrom === 'browser';
      const lost = browser ? `the browser at ${connection.remote} went away` : `lost the connection to ${connection.remote}`;
      const next = !this.peer ? 'waiting for a new call' : browser ? `calling ${formatAddress(this.peer)}` : 'reconnecting';
      notice(`chat: ${lost}; ${next}...`);
      this.options.display?.setNotice(CHAT_WINDOW, `${next}...`);
    }
    return { showedFrames: call.framesShown > 0 || call.partnerLeft, callAgain: true };
  }

  private onFrame(call: Call, decoded: DecodedFrame): void {
    if (call !== this.call || this.stopping) {
      decoded.frame.release();
      return;
    }
    this.receiving = decoded.meta?.point;
    this.options.onFrame?.(decoded);
    if (this.recording) recordShown(this.recording, this.backend, decoded);
    if (this.options.display) this.options.display.show(CHAT_WINDOW, decoded.frame);
    else decoded.frame.release();
    if (this.frames !== undefined && this.received.frames >= this.frames) this.end('limit');
  }
}
