// A browser's WebSocket as the byte stream a Connection reads and writes, so that a page gets the
// very wire a native peer gets (8-byte lengths, payloads, ACKs) and the same flow control. Its
// messages are slices of that stream: their edges mean nothing to either side's parser. Each part
// of a frame goes as a message of its own: the small head (length and metadata) first, so that the
// page's time for the frame's first byte is when it started to arrive, as a native receiver's is
// (a browser hands over only whole messages). The write callback fires when the socket beneath
// took the part, as for a TCP socket.
//
// Unlike ws's own createWebSocketStream, the stream is destroyed (and says 'close') the moment the
// WebSocket closes: a closed tab must free its viewer slot at once, even while nothing is written.
import { Duplex } from 'node:stream';
import type net from 'node:net';

import type { WebSocket } from 'ws';

export class WebSocketStream extends Duplex {
  constructor(
    private readonly socket: WebSocket,
    /** The TCP socket beneath (a TLSSocket under https): its address, and the socket options. */
    readonly tcp: net.Socket,
  ) {
    super({ allowHalfOpen: false });
    this.onMessage = this.onMessage.bind(this);
    this.onClose = this.onClose.bind(this);
    this.onError = this.onError.bind(this);
    socket.on('message', this.onMessage);
    socket.once('close', this.onClose);
    socket.on('error', this.onError);
  }

  get remoteAddress(): string | undefined {
    return this.tcp.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.tcp.remotePort;
  }

  setNoDelay(noDelay = true): this {
    this.tcp.setNoDelay(noDelay);
    return this;
  }

  private onMessage(data: Buffer | ArrayBuffer | Buffer[]): void {
    const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    if (!this.push(bytes)) this.socket.pause();
  }

  private onClose(): void {
    this.socket.off('message', this.onMessage);
    this.push(null);
    this.destroy();
  }

  private onError(): void {
    // ws closes the socket after an error (a message above maxPayload, bad framing): 'close' follows.
  }

  override _read(): void {
    if (this.socket.isPaused) this.socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.socket.send(chunk, { binary: true }, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    // A close frame after what was written; the browser answers it and the socket closes.
    this.socket.close(1000);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.socket.readyState !== this.socket.CLOSED) this.socket.terminate();
    callback(error);
  }
}
