// Turns the user's --source text into a capture spec, with errors that say what was understood.
import fs from 'node:fs';

import type { CaptureSpec } from './backend';
import { CvchatError, invalidOption } from './errors';

/**
 * "0", "1"... a camera index; "test" the built-in test picture; text with " ! " a GStreamer
 * pipeline; "scheme://..." a URL; anything else a file path, which must exist.
 */
export function parseSource(source: string | number): CaptureSpec {
  if (typeof source === 'number') {
    if (!Number.isInteger(source) || source < 0) throw invalidOption('source', 'camera index (integer >= 0)', source);
    return { kind: 'camera', index: source };
  }
  if (typeof source !== 'string' || source.trim() === '') {
    throw invalidOption('source', 'camera index, file, URL, GStreamer pipeline or "test"', source);
  }
  const text = source.trim();
  if (/^\d+$/.test(text)) return { kind: 'camera', index: Number(text) };
  if (text === 'test') return { kind: 'test' };
  if (text.includes(' ! ') || /\bappsink\b/.test(text)) return { kind: 'gstreamer', location: text };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return { kind: 'url', location: text };
  if (!fs.existsSync(text)) {
    throw new CvchatError(
      'CVCHAT_SOURCE_NOT_FOUND',
      `No such video file: '${text}'. --source takes a camera index (0), a file, a URL, a GStreamer pipeline or "test"`,
    );
  }
  return { kind: 'file', location: text };
}
