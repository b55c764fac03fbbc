// A Janus server's HTTP API (its REST transport), as much as publishing needs: a session with the
// streaming plugin, a mountpoint found by id (with its secret) or made, and the port it takes RTP
// on. Janus answers plugin errors with HTTP 200 and an error_code; they are turned here into
// errors that name the problem and the fix.
import { isIP } from 'node:net';

import { CvchatError, invalidOption } from '../base/errors';

export interface JanusMountpointAddress {
  /** The HTTP API: http://HOST:PORT/janus. */
  api: string;
  host: string;
  id: number;
  secret: string | undefined;
  /** The streaming plugin's admin_key, needed to make a mountpoint where the server sets one. */
  adminKey: string | undefined;
}

const DEFAULT_API_PORT = 8088;
const REQUEST_TIMEOUT_MS = 5000;

/** janus://HOST[:PORT]/ID?secret=S[&admin_key=K]. */
export function parseJanusUrl(text: string): JanusMountpointAddress {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalidOption('--publish', 'janus://HOST[:PORT]/ID?secret=...', text);
  }
  const id = /^\/(\d{1,15})\/?$/.exec(url.pathname)?.[1];
  if (url.protocol !== 'janus:' || !url.hostname || !id || Number(id) < 1) {
    throw invalidOption('--publish', 'janus://HOST[:PORT]/ID?secret=... (ID: the mountpoint, a positive number)', text);
  }
  for (const name of url.searchParams.keys()) {
    if (name !== 'secret' && name !== 'admin_key') throw invalidOption('--publish', 'janus://... with only secret= and admin_key= after ?', text);
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = url.port ? Number(url.port) : DEFAULT_API_PORT;
  return {
    api: `http://${isIP(host) === 6 ? `[${host}]` : host}:${port}/janus`,
    host,
    id: Number(id),
    secret: url.searchParams.get('secret') ?? undefined,
    adminKey: url.searchParams.get('admin_key') ?? undefined,
  };
}

type Json = Record<string, unknown>;

/** One session with the streaming plugin. */
class StreamingHandle {
  private transactions = 0;

  private constructor(
    private readonly api: string,
    private readonly path: string,
  ) {}

  static async open(api: string): Promise<StreamingHandle> {
    const bare = new StreamingHandle(api, '');
    const session = await bare.call('', { janus: 'create' });
    const handle = await bare.call(`/${session}`, { janus: 'attach', plugin: 'janus.plugin.streaming' });
    return new StreamingHandle(api, `/${session}/${handle}`);
  }

  /** A streaming request; resolves with the plugin's answer (its error_code, if any, included). */
  async request(body: Json): Promise<Json> {
    const answer = await this.post(this.path, { janus: 'message', body });
    const data = (answer.plugindata as { data?: Json } | undefined)?.data;
    if (!data) throw new CvchatError('CVCHAT_JANUS_FAILED', `Janus at ${this.api} answered a streaming request without plugin data`);
    return data;
  }

  async close(): Promise<void> {
    const session = this.path.split('/')[1];
    if (session) await this.post(`/${session}`, { janus: 'destroy' }).catch(() => undefined);
  }

  /** A Janus request whose answer carries data.id (a session, a handle). */
  private async call(path: string, message: Json): Promise<number> {
    const answer = await this.post(path, message);
    const id = (answer.data as { id?: unknown } | undefined)?.id;
    if (typeof id !== 'number') throw new CvchatError('CVCHAT_JANUS_FAILED', `Janus at ${this.api} answered ${String(message.janus)} without an id`);
    return id;
  }

  private async post(path: string, message: Json): Promise<Json> {
    let response: Response;
    try {
      response = await fetch(`${this.api}${path}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ ...message, transaction: `cvchat${++this.transactions}` }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
      throw new CvchatError('CVCHAT_JANUS_UNREACHABLE', `Janus is not reachable at ${this.api} (${cause}): is it running (npm run janus), and is its HTTP API on that port?`);
    }
    let answer: Json;
    try {
      answer = (await response.json()) as Json;
    } catch {
      throw new CvchatError('CVCHAT_JANUS_FAILED', `${this.api} answered HTTP ${response.status} with something that is not Janus's JSON: is it the Janus HTTP API?`);
    }
    if (answer.janus === 'error') {
      const error = answer.error as { code?: number; reason?: string } | undefined;
      throw new CvchatError('CVCHAT_JANUS_FAILED', `Janus at ${this.api} refused ${String(message.janus)}: ${error?.reason ?? 'no reason given'} (${error?.code ?? '?'})`);
    }
    return answer;
  }
}

export interface MountpointStream {
  codec: 'vp8' | 'h264';
  payloadType: number;
}

/** Where to send the mountpoint's RTP, and whether cvchat made it. */
export interface Mountpoint {
  host: string;
  port: number;
  created: boolean;
}

/** Throws the error a streaming answer carries, in the user's terms; returns it when it has none. */
function checked(answer: Json, address: JanusMountpointAddress, doing: string): Json {
  const code = answer.error_code;
  if (code === undefined) return answer;
  const reason = String(answer.error ?? '');
  const where = `mountpoint ${address.id} on ${address.api}`;
  if (code === 457 && /admin_key/.test(reason)) {
    throw new CvchatError('CVCHAT_JANUS_REFUSED', `Janus refused to make ${where}: wrong admin key; give the streaming plugin's admin_key in the URL (...?secret=S&admin_key=K)`);
  }
  if (code === 453 && /admin_key/.test(reason)) {
    throw new CvchatError('CVCHAT_JANUS_REFUSED', `Janus needs the streaming plugin's admin key to make ${where}: add &admin_key=K to the URL`);
  }
  if (code === 457) throw new CvchatError('CVCHAT_JANUS_REFUSED', `Wrong secret for ${where}: give its secret in the URL (...?secret=S)`);
  if (code === 456 && /data source/.test(reason)) {
    throw new CvchatError('CVCHAT_JANUS_REFUSED', `Janus could not open a UDP port for ${where} (taken by another mountpoint or program?): ${reason}`);
  }
  throw new CvchatError('CVCHAT_JANUS_REFUSED', `Janus refused to ${doing} ${where}: ${reason} (${String(code)})`);
}

/**
 * The mountpoint `address.id`, made when it does not exist (a VP8 or H.264 RTP mountpoint with
 * `address.secret`, not kept across Janus restarts); its video port and host. An existing one
 * must take the same codec.
 */
export async function findOrMakeMountpoint(address: JanusMountpointAddress, stream: MountpointStream): Promise<Mountpoint> {
  const handle = await StreamingHandle.open(address.api);
  try {
    const info = await handle.request({ request: 'info', id: address.id, ...(address.secret ? { secret: address.secret } : {}) });
    if (info.error_code !== 455) {
      const found = checked(info, address, 'read').info as { media?: Array<{ type?: string; codec?: string; port?: number }>; host?: string } | undefined;
      const video = found?.media?.find((media) => media.type === 'video');
      // Janus shows a mountpoint's ports only to the holder of its secret (a wrong one is not an error).
      if (!video || video.port === undefined) {
        throw new CvchatError('CVCHAT_JANUS_REFUSED', address.secret
          ? `Wrong secret for mountpoint ${address.id} on ${address.api} (Janus shows its port only to its secret's holder): give the mountpoint's secret (...?secret=S)`
          : `Mountpoint ${address.id} on ${address.api} exists and has a secret: give it in the URL (...?secret=S)`);
      }
      if (video.codec && video.codec !== stream.codec) {
        throw new CvchatError('CVCHAT_JANUS_REFUSED', `Mountpoint ${address.id} on ${address.api} takes ${video.codec}, not ${stream.codec}: use --publish-codec ${video.codec}, or another mountpoint id`);
      }
      return { host: rtpHost(address.host, found?.host), port: video.port, created: false };
    }
    const loopback = address.host === 'localhost' || address.host.startsWith('127.') || address.host === '::1';
    const made = checked(await handle.request({
      request: 'create',
      ...(address.adminKey ? { admin_key: address.adminKey } : {}),
      type: 'rtp',
      id: address.id,
      description: `cvchat ${address.id}`,
      ...(address.secret ? { secret: address.secret } : {}),
      is_private: false,
      permanent: false,
      media: [{
        type: 'video', mid: 'v', label: 'video', port: 0, pt: stream.payloadType, codec: stream.codec,
        // Janus keeps the last keyframe and gives it to a viewer who joins: the picture starts at once.
        bufferkf: true,
        ...(loopback ? { iface: '127.0.0.1' } : {}),
        ...(stream.codec === 'h264' ? { fmtp: 'profile-level-id=42e01f;packetization-mode=1' } : {}),
      }],
    }), address, 'make');
    const created = made.stream as { ports?: Array<{ type?: string; port?: number }>; host?: string } | undefined;
    const port = created?.ports?.find((entry) => entry.type === 'video')?.port;
    if (port === undefined) throw new CvchatError('CVCHAT_JANUS_FAILED', `Janus made mountpoint ${address.id} but said no port for it`);
    return { host: rtpHost(address.host, created?.host), port, created: true };
  } finally {
    await handle.close();
  }
}

/** The mountpoint's RTP goes to the host Janus names, unless that is "all interfaces": then to the API's host. */
function rtpHost(apiHost: string, mountpointHost: string | undefined): string {
  if (!mountpointHost || mountpointHost === '0.0.0.0' || mountpointHost === '::') return apiHost;
  // Janus on this machine names its loopback; one elsewhere names its own address for us.
  return mountpointHost.startsWith('127.') && !(apiHost === 'localhost' || apiHost.startsWith('127.')) ? apiHost : mountpointHost;
}
