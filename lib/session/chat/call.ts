// The call on one connection: our frames go out with an echo of the partner's newest capture time
// (so the partner can measure the round trip without synchronised clocks), the partner's frames
// are decoded and shown, and BYE tells a partner who left on purpose from a lost network.
import type { VideoCodecName } from '../../base/codecs';
import { wallClock } from '../../base/clock';
import type { Size, VideoBackend } from '../../media/backend';
import type { Connection } from '../../net/connection';
import { controlMessage } from '../../wire/control';
import type { FrameMeta, Wire } from '../../wire/meta';
import { decodeFrom, type DecodedFrame } from '../decoder';
import { ConnectionSink, type Adaptation, type EncodedFrame } from '../sinks';
import type { StreamStats } from '../stats';

export interface CallEvents {
  /** A decoded frame of the partner's; the handler owns it. */
  frame(decoded: DecodedFrame): void;
}

export class Call {
  /** Our frames' way out: a sink of the capture pipeline while the call lasts. */
  readonly sink: ConnectionSink;
  /** Round-trip time from the newest echo, or null before one came back. */
  rttMs: number | null = null;
  /** Frames of the partner's shown in this call. */
  framesShown = 0;
  /** The partner said BYE: it left on purpose. */
  partnerLeft = false;
  /** The partner's capture time of the newest frame we decoded, and when, echoed back for its round trip. */
  private echo = { time: 0, receivedAt: 0 };

  constructor(
    readonly connection: Connection,
    backend: VideoBackend,
    options: { maxPixels: number; view?: Size; wire?: Wire; adapt?: Adaptation; codecs: readonly VideoCodecName[] },
    received: StreamStats,
    private readonly events: CallEvents,
  ) {
    this.sink = new ConnectionSink(connection, { adapt: options.adapt, meta: (frame) => this.metaFor(frame), video: { backend, codecs: options.codecs } });
    // A stalled partner is reported as a lost connection (the chat says so); other reasons as bad data.
    decodeFrom(connection, backend, options, received, (decoded) => this.onFrame(decoded), (error) =>
      error.code === 'CVCHAT_PEER_STALLED' ? null : `chat: bad data from the partner [${error.code}]: ${error.message}`);
    connection.on('control', (kind) => {
      if (kind !== 'BYE') return;
      this.partnerLeft = true;
      connection.destroy();
    });
  }

  /** Frames of ours replaced before they could be sent. */
  get dropped(): number {
    return this.connection.dropped;
  }

  /** Leaves the call: the partner is told (BYE) and sees "partner left". */
  hangUp(): void {
    this.connection.close(controlMessage('BYE', 'partner left'));
  }

  /** Ends this call without a word (it lost the tie-break to another connection, or the chat ends). */
  drop(): void {
    this.connection.destroy(); // its close ends the decoder
  }

  private metaFor(frame: Pick<EncodedFrame, 'seq' | 'captureTime'>): FrameMeta {
    const hold = this.echo.time > 0 ? wallClock() - this.echo.receivedAt : 0;
    return { seq: frame.seq, captureTime: frame.captureTime, echoTime: this.echo.time, echoHoldMs: hold };
  }

  private onFrame(decoded: DecodedFrame): void {
    const { meta } = decoded;
    if (meta) {
      this.echo = { time: meta.captureTime, receivedAt: wallClock() };
      if (meta.echoTime > 0) this.rttMs = Math.max(0, wallClock() - meta.echoTime - meta.echoHoldMs);
    }
    this.framesShown++;
    this.events.frame(decoded);
  }
}
