// Addresses and sizes as users type them, checked and named in the error.
import { checkInteger, invalidOption } from './errors';
import { MAX_DIMENSION } from './limits';

export interface Address {
  host: string;
  port: number;
}

export function checkPort(name: string, value: unknown, allowZero = false): number {
  return checkInteger(name, value, allowZero ? 0 : 1, 65535);
}

/** "host:port", "[v6]:port" or, with a default host, a bare port. */
export function parseAddress(name: string, text: unknown, defaultHost?: string): Address {
  if (typeof text !== 'string' || text.trim() === '') throw invalidOption(name, 'HOST:PORT', text);
  const value = text.trim();
  const match = /^\[([^\]]+)\]:(\d+)$/.exec(value) ?? /^([^:]+):(\d+)$/.exec(value);
  if (match) return { host: match[1], port: checkPort(name, Number(match[2])) };
  if (defaultHost !== undefined && /^\d+$/.test(value)) return { host: defaultHost, port: checkPort(name, Number(value)) };
  throw invalidOption(name, defaultHost !== undefined ? '[HOST:]PORT' : 'HOST:PORT', text);
}

/** "640x480" -> { width, height }. */
export function parseSize(name: string, text: unknown): { width: number; height: number } {
  const match = typeof text === 'string' ? /^(\d+)x(\d+)$/i.exec(text.trim()) : null;
  if (!match) throw invalidOption(name, 'WIDTHxHEIGHT such as 1280x720', text);
  return { width: checkInteger(`${name} width`, Number(match[1]), 1, MAX_DIMENSION), height: checkInteger(`${name} height`, Number(match[2]), 1, MAX_DIMENSION) };
}

export function formatAddress({ host, port }: Address): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
