// Command-line arguments to the options Sender, Receiver and Chat take. The options' own checks
// (session/options) name what is wrong; here the text is turned into numbers and names.
import type { ParseArgsConfig } from 'node:util';

import { parseSize } from '../base/address';
import { isVideoCodecName, VIDEO_CODECS, type CodecChoice } from '../base/codecs';
import { CvchatError, invalidOption } from '../base/errors';
import { notice } from '../base/log';
import type { BackendName } from '../media/backend';
import { checkBackendName } from '../media/backends';
import type { PublishOptions } from '../session/publish';
import type { WebPageOptions } from '../session/web';
import type { Wire } from '../wire/meta';
import type { Command } from './help';

export type Values = Record<string, string | boolean | undefined>;

const COMMON: ParseArgsConfig['options'] = {
  help: { type: 'boolean', short: 'h' },
  'no-window': { type: 'boolean' },
  frames: { type: 'string' },
  stats: { type: 'boolean' },
  insecure: { type: 'boolean' },
  key: { type: 'string' },
  wire: { type: 'string' },
  backend: { type: 'string' },
  codec: { type: 'string' },
};
const RECORD: ParseArgsConfig['options'] = {
  record: { type: 'string' },
};
const SOURCE: ParseArgsConfig['options'] = {
  source: { type: 'string' },
  size: { type: 'string' },
  fps: { type: 'string' },
  quality: { type: 'string' },
  'no-adapt': { type: 'boolean' },
  loop: { type: 'boolean' },
  label: { type: 'string' },
  timecode: { type: 'boolean' },
  'no-passthrough': { type: 'boolean' },
};
const LIMITS: ParseArgsConfig['options'] = {
  'max-frame-bytes': { type: 'string' },
  'max-pixels': { type: 'string' },
  view: { type: 'string' },
};

const WEB: ParseArgsConfig['options'] = {
  web: { type: 'string' },
  'web-cert': { type: 'string' },
  'web-key': { type: 'string' },
};

const PUBLISH: ParseArgsConfig['options'] = {
  publish: { type: 'string' },
  'publish-codec': { type: 'string' },
  'publish-bitrate': { type: 'string' },
};

export const OPTIONS: Record<Command, ParseArgsConfig['options']> = {
  sender: { ...COMMON, ...RECORD, ...SOURCE, ...WEB, ...PUBLISH, host: { type: 'string' }, port: { type: 'string' }, 'max-viewers': { type: 'string' } },
  receiver: { ...COMMON, ...RECORD, ...LIMITS, connect: { type: 'string' } },
  demo: { ...COMMON, ...SOURCE },
  chat: { ...COMMON, ...RECORD, ...SOURCE, ...LIMITS, ...WEB, listen: { type: 'string' }, peer: { type: 'string' }, stay: { type: 'boolean' } },
};

/** A bitrate: bits per second, or with k or M (1500k, 1.5M). */
function bitrate(values: Values, name: string): number | undefined {
  const text = values[name];
  if (text === undefined) return undefined;
  const match = typeof text === 'string' ? /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(text) : null;
  if (!match) throw invalidOption(`--${name}`, 'bits per second, e.g. 1500000, 1500k or 1.5M', text);
  const scale = { '': 1, k: 1e3, K: 1e3, m: 1e6, M: 1e6 }[match[2]] ?? 1;
  return Math.round(Number(match[1]) * scale);
}

/** --publish URL with its codec and bitrate, or undefined; those need --publish. */
export function publishOption(values: Values): PublishOptions | undefined {
  const url = values.publish as string | undefined;
  const codec = values['publish-codec'] as string | undefined;
  const bitrateBps = bitrate(values, 'publish-bitrate');
  if (url === undefined) {
    if (codec !== undefined || bitrateBps !== undefined) throw new CvchatError('CVCHAT_INVALID_OPTION', '--publish-codec and --publish-bitrate are for publishing: add --publish rtp://HOST:PORT');
    return undefined;
  }
  if (codec !== undefined && codec !== 'vp8' && codec !== 'h264') throw invalidOption('--publish-codec', 'vp8 or h264', codec);
  return { url, codec, bitrateBps };
}

/** --web PORT with its certificate options, or undefined; the certificate options need --web. */
export function webOption(values: Values): WebPageOptions | undefined {
  const port = integer(values, 'web');
  const certFile = values['web-cert'] as string | undefined;
  const keyFile = values['web-key'] as string | undefined;
  if (port === undefined) {
    if (certFile !== undefined || keyFile !== undefined) throw new CvchatError('CVCHAT_INVALID_OPTION', '--web-cert and --web-key are for the web page: add --web PORT');
    return undefined;
  }
  return { port, certFile, keyFile };
}

export function integer(values: Values, name: string): number | undefined {
  const text = values[name];
  if (text === undefined) return undefined;
  if (typeof text !== 'string' || !/^\d+$/.test(text)) throw invalidOption(`--${name}`, 'whole number', text);
  return Number(text);
}

function decimal(values: Values, name: string): number | undefined {
  const text = values[name];
  if (text === undefined) return undefined;
  const value = Number(text);
  if (typeof text !== 'string' || text.trim() === '' || !Number.isFinite(value)) throw invalidOption(`--${name}`, 'number', text);
  return value;
}

/** --codec: auto (the default), jpeg, or a codec by name (whether this build has it is checked by the session). */
export function codecOption(values: Values): CodecChoice {
  const codec = values.codec ?? 'auto';
  if (codec !== 'auto' && codec !== 'jpeg' && !isVideoCodecName(codec)) {
    throw invalidOption('--codec', `auto, jpeg, ${VIDEO_CODECS.join(' or ')}`, codec);
  }
  return codec;
}

export function backendOption(values: Values): BackendName {
  return checkBackendName(values.backend ?? 'native', '--backend');
}

export function sourceOptions(values: Values) {
  const size = values.size === undefined ? undefined : parseSize('--size', values.size);
  return {
    source: values.source as string | undefined,
    width: size?.width,
    height: size?.height,
    fps: decimal(values, 'fps'),
    quality: integer(values, 'quality'),
    adapt: values['no-adapt'] === true ? false : undefined,
    loop: values.loop === true ? true : undefined,
    label: values.label as string | undefined,
    timecode: values.timecode === true ? true : undefined,
    passthrough: values['no-passthrough'] === true ? false : undefined,
  };
}

export function limitOptions(values: Values) {
  const view = values.view === undefined ? undefined : parseSize('--view', values.view);
  return { maxFrameBytes: integer(values, 'max-frame-bytes'), maxPixels: integer(values, 'max-pixels'), view };
}

/** --wire pickle has no encryption: it implies --insecure, and says what that costs. */
export function applyWire(values: Values): void {
  const wire = values.wire ?? 'jpeg';
  if (wire !== 'jpeg' && wire !== 'pickle') throw invalidOption('--wire', "'jpeg' or 'pickle'", wire);
  if (wire !== 'pickle') return;
  if (values.key !== undefined) throw new CvchatError('CVCHAT_INVALID_OPTION', '--wire pickle has no encryption, so --key cannot apply: drop one of them');
  values.insecure = true;
  notice('--wire pickle: numpy pickles, uncompressed and unauthenticated (implies --insecure); cvchat parses them without running them');
}

function wireOption(values: Values): Wire {
  return values.wire === 'pickle' ? 'pickle' : 'jpeg';
}

/** --key, else CVCHAT_KEY, else undefined. */
export function keyOption(values: Values): string | undefined {
  if (values.insecure) {
    if (values.key !== undefined) throw new CvchatError('CVCHAT_INVALID_OPTION', '--key and --insecure contradict each other: choose one');
    return undefined;
  }
  const key = (values.key as string | undefined) ?? process.env.CVCHAT_KEY;
  return key === '' ? undefined : key;
}

/** The security options every command passes on. */
export function securityOptions(values: Values, key: string | undefined) {
  return { wire: wireOption(values), key: key || undefined, insecure: values.insecure === true };
}
