// The web page of a sender or a chat (--web): its options checked and named, its certificate
// found or made, its server started, and the address to open printed. Pages it accepts are
// handed to the role as connections, the same kind its native peers have.
import { checkPort } from '../base/address';
import { checkString, CvchatError } from '../base/errors';
import { MAX_WEB_CHAT_MESSAGE_BYTES } from '../base/limits';
import { notice } from '../base/log';
import { webCertificate, type WebCertificate } from '../net/web-cert';
import { pageAddresses, WebServer, type WebRole } from '../net/web';
import type { WebSocketStream } from '../net/web-stream';
import type { Security } from '../net/tls';

export interface WebPageOptions {
  /** The page's port (0: any free one). */
  port: number;
  /** The certificate and its key, PEM files; without them a self-signed one is made once and kept. */
  certFile?: string;
  keyFile?: string;
  /** Where the self-signed certificate is kept (default: CVCHAT_CONFIG_DIR, else ~/.config/cvchat). */
  certDir?: string;
}

export function checkWebOptions(web: unknown): WebPageOptions | undefined {
  if (web === undefined) return undefined;
  if (!web || typeof web !== 'object') throw new CvchatError('CVCHAT_INVALID_OPTION', `Expected an object for web ({ port }) but received ${String(web)}`);
  const options = web as Record<string, unknown>;
  const checked: WebPageOptions = { port: checkPort('web port', options.port, true) };
  if (options.certFile !== undefined) checked.certFile = checkString('web certFile', options.certFile);
  if (options.keyFile !== undefined) checked.keyFile = checkString('web keyFile', options.keyFile);
  if (options.certDir !== undefined) checked.certDir = checkString('web certDir', options.certDir);
  return checked;
}

export class WebPage {
  private constructor(
    private readonly role: WebRole,
    private readonly server: WebServer,
    /** The addresses to open, key included. */
    readonly urls: string[],
    readonly certificate: WebCertificate | undefined,
  ) {}

  get port(): number {
    return this.server.port;
  }

  /**
   * Serves the page on `host` and `options.port`; `connection` gets each page that proved the key.
   * `maxPages`: pages the role takes at once (its viewers, or a chat's one partner).
   */
  static async open(
    role: WebRole,
    security: Security,
    host: string,
    options: WebPageOptions,
    maxPages: number,
    connection: (stream: WebSocketStream) => void,
  ): Promise<WebPage> {
    if (security.mode === 'plain' && (options.certFile !== undefined || options.keyFile !== undefined)) {
      throw new CvchatError('CVCHAT_INVALID_OPTION', '--insecure serves the page over plain http, so --web-cert and --web-key cannot apply: drop one of them');
    }
    const certificate = security.mode === 'tls' ? await webCertificate({ certFile: options.certFile, keyFile: options.keyFile, dir: options.certDir }) : undefined;
    const server = new WebServer(
      // A viewer's page sends ACKs alone (a few hundred bytes); a chat's page sends its camera's
      // frames in messages of 64 KiB at most (web/link.js), so nothing large is buffered whole.
      { security, certificate, role, maxMessageBytes: role === 'chat' ? MAX_WEB_CHAT_MESSAGE_BYTES : 4096, maxPages },
      {
        connection,
        refused: (address, code, reason) => notice(`web: refused ${address}: ${reason} [${code}]`),
      },
    );
    await server.listen(
      { host, port: options.port },
      { port: '--web', anyHost: '--host 0.0.0.0', usualHolder: 'another cvchat page, or a web server' },
      (error) => notice(`web: ${error.message} [${error.code}]`),
    );
    const fragment = security.mode === 'tls' ? encodeURIComponent(security.key) : '';
    return new WebPage(role, server, pageAddresses(host, server.port, server.scheme, fragment), certificate);
  }

  close(): void {
    this.server.close();
  }

  /** Prints the addresses to open and how to recognise the certificate. */
  announce(): void {
    const what = this.role === 'chat' ? 'to join the chat from a browser' : 'to watch in a browser';
    notice(`web: ${what}, open ${this.urls.length > 1 ? 'one of ' : ''}${this.urls.join('  ')}`);
    const certificate = this.certificate;
    if (!certificate) {
      notice('web: WARNING --insecure: the page is plain http; anyone on the network can watch. Browsers allow the camera only on http://localhost');
      return;
    }
    if (certificate.origin === 'given') {
      notice(`web: certificate ${certificate.certPath}`);
      if (certificate.expired) notice(`web: WARNING the certificate ${certificate.certPath} has expired: browsers will refuse the page until it is renewed`);
      return;
    }
    const made = certificate.origin === 'made' ? 'made a self-signed certificate' : 'self-signed certificate';
    notice(`web: ${made} (${certificate.certPath}); browsers warn about it: proceed only if the SHA-256 fingerprint they show is`);
    notice(`web:   ${certificate.fingerprint}`);
  }
}
