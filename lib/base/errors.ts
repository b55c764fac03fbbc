// Errors with a stable `code`, so callers branch on codes rather than on message text.

export class CvchatError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CvchatError';
    this.code = code;
  }
}

function describe(actual: unknown): string {
  if (actual === null) return 'null';
  if (typeof actual === 'string') return `'${actual}' of type string`;
  if (typeof actual === 'object') return `a value of type ${Array.isArray(actual) ? 'array' : 'object'}`;
  return `${String(actual)} of type ${typeof actual}`;
}

/** "Expected positive integer for fps but received -1 of type number". */
export function invalidOption(name: string, expected: string, actual: unknown): CvchatError {
  return new CvchatError('CVCHAT_INVALID_OPTION', `Expected ${expected} for ${name} but received ${describe(actual)}`);
}

export function isInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value);
}

export function checkInteger(name: string, value: unknown, min: number, max: number): number {
  if (!isInteger(value) || value < min || value > max) {
    throw invalidOption(name, `integer between ${min} and ${max}`, value);
  }
  return value;
}

export function checkNumber(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw invalidOption(name, `number between ${min} and ${max}`, value);
  }
  return value;
}

export function checkString(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) throw invalidOption(name, 'non-empty string', value);
  return value;
}

export function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw invalidOption(name, 'boolean', value);
  return value;
}

/**
 * Native errors are raised on a libuv thread and reach JS with no useful stack. This re-throws them
 * as CvchatError with the stack of the place the caller awaited, keeping the native code.
 */
export async function withCallerStack<T>(work: () => Promise<T>): Promise<T> {
  const site = new Error();
  try {
    return await work();
  } catch (error) {
    throw rethrown(error, site);
  }
}

export function rethrown(error: unknown, site: Error): unknown {
  if (!(error instanceof Error)) return error;
  const code = (error as { code?: unknown }).code;
  const wrapped = new CvchatError(typeof code === 'string' ? code : 'CVCHAT_NATIVE_ERROR', error.message);
  const frames = (site.stack ?? '').split('\n').slice(1).join('\n');
  wrapped.stack = `${wrapped.name} [${wrapped.code}]: ${wrapped.message}\n${frames}`;
  return wrapped;
}
