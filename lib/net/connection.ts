// One object per connection, as ws has one WebSocket per socket. A Connection owns its socket
// from the moment it is ready for frames (after the TLS handshake, if any): it registers its
// listeners once and removes them on close, parses what arrives (frames, control messages, ACKs),
// checks a plain connection's first bytes for a TLS handshake, keeps the idle and stall timeouts,
// writes frames newest-first with ACK flow control (outbound.ts), and reports each frame's send
// and ACK times. Sender, receiver and chat hold Connections; none of them touches a socket.
import { EventEmitter } from 'node:events';
import net from 'node:net';

import { formatAddress } from '../base/address';
import { wallClock } from '../base/clock';
import { CvchatError } from '../base/errors';
import {
  CLOSE_GRACE_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_STALL_TIMEOUT_MS,
  DEFAULT_UNSENT_LIMIT_BYTES,
  MAX_VIEWER_PAYLOAD_BYTES,
} from '../base/limits';
import { ackText, controlMessage, type AckNotes, looksLikeTlsHandshake, PLAIN_ANSWER, parseAck, parseControl, type ControlKind, type FrameArrival } from '../wire/control';
import { FrameReader } from '../wire/framing';
import { FrameWriter, type FrameTiming, type OutgoingFrame } from './outbound';
import { RateEstimator, type RateEstimate } from './rate';
import { limitUnsentBytes } from './socket-options';
import type { WebSocketStream } from './web-stream';

export type { FrameTiming, OutgoingFrame, RateEstimate };

/** When a received frame's first and last bytes were read, by this process's monotonic clock. */
export type FrameReceipt = Pick<FrameArrival, 'firstByteAt' | 'lastByteAt'>;

/** What a connection runs on: a TCP socket, a TLS socket, or a browser page's WebSocket (web-stream.ts). */
export type ConnectionSocket = net.Socket | WebSocketStream;

export interface ConnectionOptions {
  /** tls: the socket finished its handshake. plain: an accepted socket's first bytes are checked for
   * a TLS handshake (an encrypted peer on the plain wire), which is answered with PLAIN and closed.
   * web: a page that passed the web server's checks (net/web.ts); like every peer inside TLS, it ACKs. */
  security: 'tls' | 'plain' | 'web';
  /** accepted by a listener, or dialled: a peer we dialled is a server and never opens with a
   * TLS handshake, so its first bytes are a frame's whatever they look like. */
  side: 'accepted' | 'dialled';
  /**
   * What the peer sends. frames: frames and control messages (a sender, a chat partner); the
   * connection closes when no complete payload comes for idleTimeoutMs. acks: only ACKs (a viewer);
   * anything else ends it.
   */
  inbound: 'frames' | 'acks';
  /** inbound frames: declared lengths above this are refused before anything is allocated. */
  maxFrameBytes?: number;
  idleTimeoutMs?: number;
  /** A peer that takes no frame for this long while one waits for it is cut off. */
  stallTimeoutMs?: number;
  /** Unsent bytes the kernel may keep for the socket (TCP_NOTSENT_LOWAT); 0: the kernel's default. */
  unsentLimitBytes?: number;
}

export type ConnectionState = 'open' | 'closing' | 'closed';

export interface ConnectionEnd {
  /** Why this side ended it (bad data, a timeout, a stalled peer...); undefined when the peer or
   * the network ended it, or close() was called. */
  error: CvchatError | undefined;
  /** Bytes received, so a caller can tell "closed at once" from "closed mid-stream". */
  bytesReceived: number;
}

export interface ConnectionEvents {
  /** A complete frame payload (inbound frames), received at `receivedAt` (wall clock). */
  frame: [payload: Buffer, receivedAt: number, receipt: FrameReceipt];
  /** A control message other than ACK (those are handled here). */
  control: [kind: string, text: string];
  /** The peer could take a frame now. */
  ready: [];
  /** A frame was handed to the socket (one that was replaced while it waited never is). */
  sent: [timing: FrameTiming];
  /** The peer acknowledged a frame. */
  acked: [timing: FrameTiming];
  /** The video codecs the peer decodes, by its preference, when it first says so or changes its mind. */
  codecs: [codecs: readonly string[]];
  /** The peer's decoder needs a keyframe; `seq` is the frame its ACK acknowledged. */
  keyframe: [seq: number];
  /** Once, when the socket has closed. */
  close: [end: ConnectionEnd];
}

export class Connection extends EventEmitter<ConnectionEvents> {
  /** The peer's address, "host:port", for logs. */
  readonly remote: string;
  private readonly reader: FrameReader;
  private readonly writer: FrameWriter;
  private readonly rate = new RateEstimator();
  /** performance.now() when the first byte of the payload being read arrived. */
  private payloadStartedAt = 0;
  private readonly idleTimeoutMs: number;
  private idleTimer: NodeJS.Timeout | undefined;
  private endError: CvchatError | undefined;
  private stateValue: ConnectionState = 'open';
  bytesReceived = 0;
  /** The video codecs the peer said it decodes (none until it says): the 'codecs' event fires on a change. */
  private peerCodecs: readonly string[] = [];

  constructor(
    private readonly socket: ConnectionSocket,
    private readonly options: ConnectionOptions,
  ) {
    super();
    this.remote = formatAddress({ host: socket.remoteAddress ?? '?', port: socket.remotePort ?? 0 });
    this.reader =
      options.inbound === 'acks'
        ? new FrameReader({ maxFrameBytes: MAX_VIEWER_PAYLOAD_BYTES, limitName: 'a viewer sends only small ACKs' })
        : new FrameReader({ maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES });
    this.idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.writer = new FrameWriter(
      socket,
      {
        ready: () => this.emit('ready'),
        sent: (timing) => {
          this.rate.onSent(timing.bytes, timing.sentAt);
          this.emit('sent', timing);
        },
        acked: (timing) => {
          this.rate.onAcked(timing);
          this.emit('acked', timing);
        },
        stalled: () => this.fail(new CvchatError(
          options.inbound === 'acks' ? 'CVCHAT_VIEWER_STALLED' : 'CVCHAT_PEER_STALLED',
          `it took no frame for ${(options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS) / 1000} s`,
        )),
      },
      options.stallTimeoutMs,
      // Inside TLS the peer is a cvchat, and a page is cvchat's: it ACKs, and its first ACK comes before frames sent blind.
      options.security !== 'plain',
    );
    this.onData = this.onData.bind(this);
    this.onClose = this.onClose.bind(this);
    this.onError = this.onError.bind(this);
    socket.setNoDelay(true);
    const unsentLimit = options.unsentLimitBytes ?? DEFAULT_UNSENT_LIMIT_BYTES;
    // Where the platform cannot (or the socket is already gone), frames queue in the kernel as
    // before: the ACK window still bounds them for cvchat peers.
    if (unsentLimit > 0) {
      try {
        limitUnsentBytes(socket instanceof net.Socket ? socket : socket.tcp, unsentLimit);
      } catch {
        // CVCHAT_SOCKET_OPTION: the kernel refused; the connection works without the limit.
      }
    }
    socket.on('data', this.onData);
    socket.on('error', this.onError);
    socket.once('close', this.onClose);
    if (options.inbound === 'frames') this.armIdleTimer();
  }

  get state(): ConnectionState {
    return this.stateValue;
  }

  /** True when a frame sent now would go at once. */
  get ready(): boolean {
    return this.stateValue === 'open' && this.writer.ready;
  }

  /** True when a frame sent now would go at once or wait without replacing another. */
  get wantsFrame(): boolean {
    return this.stateValue === 'open' && this.writer.wantsFrame;
  }

  /** Frames replaced by a newer one before they could be sent. */
  get dropped(): number {
    return this.writer.dropped;
  }

  /**
   * How fast the path to the peer takes frames, from the arrival times its ACKs report; null until
   * an ACK has reported one (a peer that does not ack, or an older cvchat, never does).
   */
  get rateEstimate(): RateEstimate | null {
    return this.rate.estimate;
  }

  /** Bytes waiting in this process to be written (newest-frame-wins keeps it near one frame). */
  get backlogBytes(): number {
    // A page's stream hands each message straight to the TCP (or TLS) socket beneath, where it waits.
    return this.socket.writableLength + (this.socket instanceof net.Socket ? 0 : this.socket.tcp.writableLength);
  }

  /** Forgets the frame waiting to be sent, if any (counted as dropped). */
  dropWaiting(): void {
    this.writer.dropWaiting();
  }

  /** Sends a frame now, or keeps it as the next to send (replacing an older one). */
  send(frame: OutgoingFrame): void {
    if (this.stateValue === 'open') this.writer.offer(frame);
  }

  sendControl(kind: ControlKind, text = ''): void {
    if (this.stateValue === 'open' && this.socket.writable) this.socket.write(controlMessage(kind, text));
  }

  /**
   * Tells the peer frame `seq` (and every older one) is done with: its flow control moves on. With
   * the frame's receipt, the ACK also says when it arrived, for the peer's rate estimate.
   */
  ack(seq: number, receipt?: FrameReceipt, notes?: AckNotes): void {
    const arrival = receipt && { ...receipt, holdMs: Math.max(0, performance.now() - receipt.lastByteAt) };
    this.sendControl('ACK', ackText(seq, arrival, notes));
  }

  /**
   * Ends the connection after `last` (a BYE, a BUSY) and whatever was already written, giving the
   * peer `graceMs` to read it before the socket is destroyed.
   */
  close(last?: Buffer, graceMs = CLOSE_GRACE_MS): void {
    if (this.stateValue !== 'open') return;
    this.stateValue = 'closing';
    this.stopWork();
    if (last) this.socket.end(last);
    else this.socket.end();
    setTimeout(() => this.socket.destroy(), graceMs).unref();
  }

  /** Ends the connection at once; `error` says why (it is reported in the close event). */
  destroy(error?: CvchatError): void {
    if (this.stateValue === 'closed') return;
    this.endError ??= error;
    this.stateValue = 'closing';
    this.stopWork();
    this.socket.destroy();
  }

  private fail(error: CvchatError, answer?: Buffer): void {
    if (this.stateValue !== 'open') return;
    this.endError = error;
    if (answer) this.close(answer);
    else this.destroy(error);
  }

  private onData(chunk: Buffer): void {
    if (this.stateValue !== 'open') return;
    // Only a plain connection we accepted can open with a ClientHello: inside TLS, or from a server
    // we dialled, a frame's first bytes may look like anything.
    if (this.options.security === 'plain' && this.options.side === 'accepted' && this.bytesReceived === 0 && looksLikeTlsHandshake(chunk)) {
      // An encrypted peer on our plain wire: tell it so (see PLAIN), instead of a bare reset.
      this.fail(new CvchatError('CVCHAT_PEER_ENCRYPTED', 'the peer speaks TLS but this side runs --insecure'), PLAIN_ANSWER());
      return;
    }
    this.bytesReceived += chunk.length;
    // A payload whose first byte came in an earlier chunk started then; any other started in this one.
    const now = performance.now();
    const firstStartedAt = this.reader.inPayload ? this.payloadStartedAt : now;
    let payloads: Buffer[];
    try {
      payloads = this.reader.push(chunk);
    } catch (error) {
      this.fail(error as CvchatError);
      return;
    }
    this.payloadStartedAt = payloads.length === 0 ? firstStartedAt : now;
    if (payloads.length === 0) return;
    if (this.options.inbound === 'frames') this.armIdleTimer();
    const receivedAt = wallClock();
    for (let index = 0; index < payloads.length; index++) {
      if (this.stateValue !== 'open') return;
      const payload = payloads[index];
      const control = parseControl(payload);
      const ack = control?.kind === 'ACK' ? parseAck(control.text) : null;
      if (ack !== null) {
        // The codecs first: a sink that starts a video stream on them drops the JPEG frame waiting
        // to go, before the ACK would release it.
        if (ack.codecs && ack.codecs.join() !== this.peerCodecs.join()) {
          this.peerCodecs = ack.codecs;
          this.emit('codecs', ack.codecs);
        }
        this.writer.ack(ack.seq, ack.arrival);
        if (ack.keyframe) this.emit('keyframe', ack.seq);
      } else if (this.options.inbound === 'acks') {
        this.fail(new CvchatError('CVCHAT_BAD_VIEWER_DATA', 'a viewer sent something other than ACKs'));
      } else if (control) {
        if (control.kind !== 'ACK') this.emit('control', control.kind, control.text);
      } else {
        this.emit('frame', payload, receivedAt, { firstByteAt: index === 0 ? firstStartedAt : now, lastByteAt: now });
      }
    }
  }

  private armIdleTimer(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.fail(new CvchatError('CVCHAT_IDLE_TIMEOUT', `no complete frame for ${this.idleTimeoutMs / 1000} s`));
    }, this.idleTimeoutMs);
    this.idleTimer.unref();
  }

  private stopWork(): void {
    clearTimeout(this.idleTimer);
    this.writer.close();
  }

  private onError(): void {
    // The network's errors end the connection: 'close' follows, and says how it ended.
  }

  private onClose(): void {
    this.stateValue = 'closed';
    this.stopWork();
    this.socket.off('data', this.onData);
    this.emit('close', { error: this.endError, bytesReceived: this.bytesReceived });
    this.removeAllListeners();
  }
}
