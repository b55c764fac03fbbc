// The sender: one capture, each frame encoded once and handed to every sink (each viewer's
// connection, the preview window), newest frame winning per viewer. Like the classic Python
// server, it listens and lets viewers connect, up to --max-viewers.
import type net from 'node:net';

import { checkPort, formatAddress } from '../base/address';
import { checkInteger, CvchatError } from '../base/errors';
import { BUSY_GRACE_MS, DEFAULT_MAX_VIEWERS, DEFAULT_PORT, MAX_VIEWERS } from '../base/limits';
import { notice } from '../base/log';
import type { CaptureSource, Size, VideoBackend, VideoFrame } from '../media/backend';
import type { Display } from '../media/display';
import { openSource, type OpenedSource } from '../media/source';
import { Connection, type ConnectionSocket } from '../net/connection';
import { listen, listeningPort } from '../net/listen';
import { createListener, type Security } from '../net/tls';
import { WebSocketStream } from '../net/web-stream';
import { controlMessage } from '../wire/control';
import { backendFor, checkCodec, checkFrameLimit, checkSendOptions, checkTimeout, offeredSecurity, sourceToOpen, type SendOptions, type SessionOptions } from './options';
import { FrameSizeModel } from './adapt';
import { CapturePipeline, type SourceJpegStats } from './pipeline';
import { ConnectionSink, FanOut, type Adaptation, type FrameSink, type SendingStatus, type VideoSending } from './sinks';
import { checkPublishOptions, Publisher, publishTarget, type CheckedPublish, type PublishOptions, type PublishStatus } from './publish';
import { checkRecordPath, Recording, RecordingSink } from './record';
import { checkWebOptions, WebPage, type WebPageOptions } from './web';

export const SENDER_WINDOW = 'TRANSMITTING VIDEO';

/** `key`: the shared key; when absent (and not insecure) a strong one is generated: see `security`. */
export interface SenderOptions extends SessionOptions, SendOptions {
  host?: string;
  port?: number;
  maxViewers?: number;
  /** Stop after this many captured frames. */
  frames?: number;
  handshakeTimeoutMs?: number;
  /** Cut off a viewer that has not taken a whole frame for this long. */
  stallTimeoutMs?: number;
  /** Unsent bytes the kernel may keep per viewer (TCP_NOTSENT_LOWAT); 0: the kernel's default. */
  unsentLimitBytes?: number;
  /** A source opened beforehand (openCapture, openMemoryCapture), used instead of `source`. */
  capture?: CaptureSource;
  /** Serve a web page on this port too (on `host`): browsers watch as viewers, within maxViewers. */
  web?: WebPageOptions;
  /** Publish the video to a media server too (RTP, a fixed bitrate), beside the direct viewers. */
  publish?: PublishOptions;
}

export type SenderEnd = 'ended' | 'limit' | 'stopped';

/** A preview of a source that yields JPEG is decoded at half its sides until it fits this. */
const PREVIEW_FIT: Size = { width: 960, height: 540 };

/** The preview window as a sink: it shows what viewers are sent and never asks for frames. */
class WindowSink implements FrameSink {
  readonly wantsFrame = false;

  /** The preview's size for a source that yields JPEG; null for one that yields pixels (shown as they are). */
  private preview: Size | null = null;

  constructor(
    private readonly backend: VideoBackend,
    private readonly display: Display,
    private readonly title: string,
  ) {}

  deliverPixels(frame: VideoFrame): void {
    // Decoded larger for another sink (a viewer sent a larger point): brought to the preview's
    // size, so that the window keeps one size whatever the viewers' links do.
    const preview = this.preview;
    if (preview && (frame.width > preview.width || frame.height > preview.height)) {
      const smaller = this.backend.resize(frame, preview.width, preview.height);
      frame.release();
      frame = smaller;
    }
    this.display.show(this.title, frame);
  }

  /**
   * A source's own JPEG is decoded for the preview only when the window drew the last one, and at
   * a reduced DCT scale (halves of each side) for a large source: a preview, not the picture sent.
   */
  pixelSize(full: Size): Size | null {
    let { width, height } = full;
    while (width > PREVIEW_FIT.width || height > PREVIEW_FIT.height) {
      width = Math.max(1, Math.round(width / 2));
      height = Math.max(1, Math.round(height / 2));
    }
    this.preview = { width, height };
    return this.display.waiting(this.title) ? null : this.preview;
  }
}

export class Sender {
  readonly host: string;
  private readonly requestedPort: number;
  private readonly quality: number;
  private readonly passthrough: boolean;
  /** How viewers' streams adapt to their links; undefined with adapt: false. */
  private readonly adaptation: Adaptation | undefined;
  private readonly maxViewers: number;
  private readonly frames: number | undefined;
  private readonly stallTimeoutMs: number | undefined;
  private readonly unsentLimitBytes: number | undefined;
  private readonly backend: VideoBackend;
  /** The video codecs viewers may be sent, by preference (none: JPEG to everyone). */
  private readonly video: VideoSending;
  private readonly viewers = new Set<ConnectionSink>();
  private readonly sinks: FanOut;
  private readonly server: net.Server;
  private readonly webOptions: WebPageOptions | undefined;
  private readonly publishOptions: CheckedPublish | undefined;
  private publisher: Publisher | undefined;
  /** --record's file, checked at once; recorded from start(), at the source's rate. */
  private readonly recordFile: string | undefined;
  /** --record: the source, as sent at full quality. */
  recording: Recording | undefined;
  /** The web page, once started with `web`. */
  webPage: WebPage | undefined;
  readonly security: Security;
  /** True when no key was given and `security.key` was generated here. */
  readonly keyGenerated: boolean;
  private capture: CaptureSource | undefined;
  private pipeline: CapturePipeline | undefined;
  private droppedByViewersThatLeft = 0;
  private stopped = false;

  constructor(private readonly options: SenderOptions) {
    this.host = options.host ?? '0.0.0.0';
    this.requestedPort = checkPort('port', options.port ?? DEFAULT_PORT, true);
    this.maxViewers = checkInteger('maxViewers', options.maxViewers ?? DEFAULT_MAX_VIEWERS, 1, MAX_VIEWERS);
    this.frames = checkFrameLimit(options.frames);
    this.stallTimeoutMs = checkTimeout('stallTimeoutMs', options.stallTimeoutMs);
    this.unsentLimitBytes = options.unsentLimitBytes === undefined ? undefined : checkInteger('unsentLimitBytes', options.unsentLimitBytes, 0, 2 ** 31 - 1);
    const { quality, adapt, passthrough } = checkSendOptions(options);
    this.quality = quality;
    this.passthrough = passthrough;
    this.adaptation = adapt ? { model: new FrameSizeModel(), quality } : undefined;
    this.backend = backendFor(options.backend);
    this.video = { backend: this.backend, codecs: checkCodec(options.codec, this.backend, options.wire) };
    ({ security: this.security, keyGenerated: this.keyGenerated } = offeredSecurity(options));
    this.webOptions = checkWebOptions(options.web);
    this.publishOptions = checkPublishOptions(options.publish);
    if (this.publishOptions && this.backend.name !== 'native') {
      throw new CvchatError('CVCHAT_INVALID_OPTION', 'Publishing feeds GStreamer through the native addon: drop --backend opencv4nodejs or --publish');
    }
    this.recordFile = options.record === undefined ? undefined : checkRecordPath(options.record);
    if (this.recordFile !== undefined) Recording.checkBackend(this.backend);
    this.sinks = new FanOut(this.backend);
    this.server = createListener(
      this.security,
      {
        connection: (socket) => this.accept(socket),
        refused: (address, code, reason) => notice(`refused ${address}: ${reason} [${code}]`),
      },
      { handshakeTimeoutMs: checkTimeout('handshakeTimeoutMs', options.handshakeTimeoutMs) },
    );
  }

  get port(): number {
    return listeningPort(this.server, this.requestedPort);
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
    for (const viewer of this.viewers) total += viewer.connection.dropped;
    return total;
  }

  /** What is published (--publish), or null. */
  get publishing(): PublishStatus | null {
    return this.publisher?.status ?? null;
  }

  /** A source that yields JPEG (--stats): its frames sent as they came, and those decoded for pixels. */
  sourceStatus(): { sourceJpeg?: SourceJpegStats } {
    const stats = this.pipeline?.sourceStats;
    return stats && (stats.passedThrough > 0 || stats.decoded > 0 || stats.undecodable > 0) ? { sourceJpeg: { ...stats } } : {};
  }

  /** Per viewer: its rate estimate and the size and quality it is sent. */
  viewerStates(): SendingStatus[] {
    return [...this.viewers].map((viewer) => viewer.status);
  }

  /** Bytes waiting in the process for the most backed-up viewer (newest-frame-wins keeps it near one frame). */
  get maxViewerBacklog(): number {
    let most = 0;
    for (const viewer of this.viewers) most = Math.max(most, viewer.connection.backlogBytes);
    return most;
  }

  /** Opens the source and starts listening; resolves once both are ready. */
  async start(): Promise<void> {
    const opened: OpenedSource = this.options.capture
      ? { capture: this.options.capture, fps: this.options.fps ?? (this.options.capture.info.fps || 30), live: false }
      : await openSource(this.backend, sourceToOpen(this.options, this.passthrough, this.backend));
    this.capture = opened.capture;
    try {
      // The page first (its certificate may take openssl a moment): no viewer is taken while it may still fail.
      if (this.webOptions) {
        this.webPage = await WebPage.open('viewer', this.security, this.host, this.webOptions, this.maxViewers, (stream) => this.accept(stream));
      }
      await listen(
        this.server,
        { host: this.host, port: this.requestedPort },
        { port: '--port', anyHost: '--host 0.0.0.0', usualHolder: 'another cvchat sender' },
        (error) => notice(`${error.message} [${error.code}]`),
      );
    } catch (error) {
      this.webPage?.close();
      this.server.close();
      await this.capture.release();
      throw error;
    }
    const info = this.capture.info;
    let publishing = '';
    if (this.publishOptions) {
      try {
        const { target, described } = await publishTarget(this.publishOptions);
        publishing = described;
        this.publisher = await Publisher.open(target, this.publishOptions.stream, info.width, info.height, opened.fps);
      } catch (error) {
        this.webPage?.close();
        this.server.close();
        await this.capture.release();
        throw error;
      }
      this.sinks.add(this.publisher);
    }
    const mode = this.security.mode === 'tls' ? 'encrypted' : 'UNENCRYPTED (--insecure)';
    notice(`sending ${info.width}x${info.height} from ${info.backend} on ${formatAddress({ host: this.host, port: this.port })}, ${mode}, up to ${this.maxViewers} viewers`);
    this.webPage?.announce();
    if (this.publishOptions) {
      const { stream } = this.publishOptions;
      notice(`publishing ${stream.codec} at ${(stream.bitrateBps / 1e6).toFixed(2)} Mbit/s (RTP payload type ${stream.payloadType}, a keyframe every 2 s) to ${publishing}`);
      // The page for Janus's viewers, when this sender serves pages and knows the mountpoint.
      const to = this.publishOptions.to;
      if (this.webPage && 'janus' in to) {
        const page = this.webPage.urls[0].replace(/#.*$/, '').replace(/\/?$/, '/janus.html');
        notice(`web: Janus's viewers (no key needed) watch at ${page}#server=${to.janus.api}&id=${to.janus.id}`);
      }
    }
    const display = this.options.display;
    if (display) {
      display.open(SENDER_WINDOW, info.width || 640, info.height || 480, 'starting...');
      this.sinks.add(new WindowSink(this.backend, display, SENDER_WINDOW));
    }
    if (this.recordFile !== undefined) {
      this.recording = new Recording(this.backend, this.recordFile, opened.fps);
      this.sinks.add(new RecordingSink(this.recording, this.options.wire ?? 'jpeg'));
    }
    this.pipeline = new CapturePipeline(
      this.backend,
      this.capture,
      { fps: opened.fps, quality: this.quality, wire: this.options.wire, maxFrames: this.frames, onDemand: opened.fps === 0 && !opened.live, sizeModel: this.adaptation?.model },
      this.sinks,
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

  /** A viewer: a native one from the listener, or a browser from the web page. */
  private accept(socket: ConnectionSocket): void {
    const browser = socket instanceof WebSocketStream;
    const connection = new Connection(socket, {
      security: browser ? 'web' : this.security.mode,
      side: 'accepted',
      inbound: 'acks', // viewers send only ACKs (cvchat) or nothing (Python peers)
      stallTimeoutMs: this.stallTimeoutMs,
      unsentLimitBytes: this.unsentLimitBytes,
    });
    if (this.stopped) {
      connection.destroy();
      return;
    }
    if (this.viewers.size >= this.maxViewers) {
      notice(`refused viewer ${connection.remote}: already ${this.viewers.size} viewers (--max-viewers ${this.maxViewers})`);
      connection.close(controlMessage('BUSY', `the sender already has its maximum of ${this.maxViewers} viewers`), BUSY_GRACE_MS);
      return;
    }
    const viewer = new ConnectionSink(connection, { adapt: this.adaptation, video: this.video });
    this.viewers.add(viewer);
    this.sinks.add(viewer);
    connection.on('ready', () => this.sinks.wake());
    const who = `${browser ? 'browser ' : ''}viewer ${connection.remote}`;
    notice(`${who} joined (${this.viewers.size}/${this.maxViewers})`);
    connection.once('close', ({ error }) => {
      this.viewers.delete(viewer);
      this.sinks.delete(viewer);
      this.droppedByViewersThatLeft += connection.dropped;
      if (error?.code === 'CVCHAT_PEER_ENCRYPTED') notice(`refused ${connection.remote}: it speaks TLS but this sender runs --insecure [${error.code}]`);
      else if (error) notice(`cut off ${who}: ${error.message} [${error.code}]`);
      if (!this.stopped) notice(`${who} left (${this.viewers.size}/${this.maxViewers})`);
    });
  }

  private async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.sinks.close();
    this.server.close();
    this.webPage?.close();
    await this.publisher?.close();
    // Viewers get a moment to read what was sent, then nothing is left open.
    for (const viewer of this.viewers) viewer.connection.close();
    await Promise.all([this.capture?.release(), this.recording?.close()]);
  }
}
