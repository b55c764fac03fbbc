// The Python design's original wire, spoken safely. Its scripts send `pickle.dumps(frame)` of a numpy
// uint8 array; Python's pickle.loads of such bytes from the network can run any code. This module
// reads only the exact shapes pickle.dumps produces for such an array (protocols 2 to 5, numpy 1.x
// and 2.x module paths) with a small interpreter that knows a fixed list of opcodes and globals and
// *evaluates nothing*: a "call" is a recognised pattern, never an import or a function call. Any
// other opcode, global or shape is refused with a coded error.
import { CvchatError } from '../base/errors';
import { MAX_DIMENSION } from '../base/limits';

export interface PickledImage {
  width: number;
  height: number;
  channels: 1 | 3 | 4;
  /** Row after row, BGR(A) or grey, as numpy held it. A view of the input where possible. */
  pixels: Buffer;
}

const ALLOWED_GLOBALS = new Map<string, string>([
  ['numpy.core.multiarray _reconstruct', 'reconstruct'],
  ['numpy._core.multiarray _reconstruct', 'reconstruct'],
  ['numpy.core.numeric _frombuffer', 'frombuffer'],
  ['numpy._core.numeric _frombuffer', 'frombuffer'],
  ['numpy ndarray', 'ndarray'],
  ['numpy dtype', 'dtype'],
  ['_codecs encode', 'encode'],
]);

const MAX_STACK = 64;
const MAX_MEMO = 64;

// Values on the interpreter's stack. Only these shapes can exist.
type Value =
  | { t: 'none' }
  | { t: 'bool'; v: boolean }
  | { t: 'int'; v: number }
  | { t: 'str'; v: string }
  | { t: 'bytes'; v: Buffer }
  | { t: 'tuple'; v: Value[] }
  | { t: 'global'; v: string }
  | { t: 'dtype'; built: boolean }
  | { t: 'empty-array' }
  | { t: 'array'; shape: number[]; data: Buffer };

const MARK = Symbol('mark');

function refuse(message: string): never {
  throw new CvchatError('CVCHAT_PICKLE_REFUSED', `Refused pickle: ${message}. cvchat reads only numpy uint8 image arrays and never runs pickled code`);
}

function invalid(message: string): never {
  throw new CvchatError('CVCHAT_PICKLE_INVALID', `Invalid pickle: ${message}`);
}

export interface UnpickleOptions {
  /** Refuse arrays of more pixels than this. */
  maxPixels?: number;
}

/** Reads a pickled numpy image; throws CvchatError (CVCHAT_PICKLE_REFUSED or _INVALID) otherwise. */
export function unpickleImage(data: Buffer, options: UnpickleOptions = {}): PickledImage {
  const maxPixels = options.maxPixels ?? 7680 * 4320;
  const stack: Array<Value | typeof MARK> = [];
  const memo: Value[] = [];
  let at = 0;

  const need = (n: number) => {
    if (at + n > data.length) invalid(`truncated at byte ${data.length} (wanted ${n} more at ${at})`);
  };
  const u8 = () => (need(1), data[at++]);
  const u16 = () => (need(2), (at += 2), data.readUInt16LE(at - 2));
  const i32 = () => (need(4), (at += 4), data.readInt32LE(at - 4));
  const u32 = () => (need(4), (at += 4), data.readUInt32LE(at - 4));
  const u64 = () => {
    need(8);
    const n = data.readBigUInt64LE(at);
    at += 8;
    if (n > BigInt(data.length)) invalid(`a length of ${n} bytes exceeds the pickle`);
    return Number(n);
  };
  const bytes = (n: number) => (need(n), (at += n), data.subarray(at - n, at));
  const line = () => {
    const end = data.indexOf(0x0a, at);
    if (end < 0 || end - at > 256) invalid('unterminated text line');
    const text = data.toString('latin1', at, end);
    at = end + 1;
    return text;
  };
  const push = (value: Value) => {
    if (stack.length >= MAX_STACK) refuse('stack too deep');
    stack.push(value);
  };
  const pop = (): Value => {
    const value = stack.pop();
    if (value === undefined || value === MARK) invalid('stack underflow');
    return value;
  };
  const top = (): Value => {
    const value = stack[stack.length - 1];
    if (value === undefined || value === MARK) invalid('stack underflow');
    return value;
  };
  const popToMark = (): Value[] => {
    const index = stack.lastIndexOf(MARK);
    if (index < 0) invalid('no MARK');
    const items = stack.splice(index) as Array<Value | typeof MARK>;
    return items.slice(1) as Value[];
  };
  const memoize = (index: number) => {
    if (index >= MAX_MEMO) refuse('too many memo entries');
    memo[index] = top();
  };
  const global = (name: string) => {
    const kind = ALLOWED_GLOBALS.get(name);
    if (!kind) refuse(`global '${name}' is not allowed`);
    push({ t: 'global', v: kind });
  };

  for (;;) {
    const offset = at;
    const op = u8();
    switch (op) {
      case 0x80: { // PROTO
        const protocol = u8();
        if (protocol < 2 || protocol > 5) refuse(`protocol ${protocol}`);
        break;
      }
      case 0x95: at += 8; need(0); break; // FRAME: a hint only
      case 0x63: global(`${line()} ${line()}`); break; // GLOBAL
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (module.t !== 'str' || name.t !== 'str') invalid('STACK_GLOBAL needs two strings');
        global(`${module.v} ${name.v}`);
        break;
      }
      case 0x8c: { const n = u8(); push({ t: 'str', v: bytes(n).toString('utf8') }); break; } // SHORT_BINUNICODE
      case 0x58: { const n = u32(); push({ t: 'str', v: bytes(n).toString('utf8') }); break; } // BINUNICODE
      case 0x43: { const n = u8(); push({ t: 'bytes', v: bytes(n) }); break; } // SHORT_BINBYTES
      case 0x42: { const n = u32(); push({ t: 'bytes', v: bytes(n) }); break; } // BINBYTES
      case 0x8e: { const n = u64(); push({ t: 'bytes', v: bytes(n) }); break; } // BINBYTES8
      case 0x96: { const n = u64(); push({ t: 'bytes', v: bytes(n) }); break; } // BYTEARRAY8
      case 0x4b: push({ t: 'int', v: u8() }); break; // BININT1
      case 0x4d: push({ t: 'int', v: u16() }); break; // BININT2
      case 0x4a: push({ t: 'int', v: i32() }); break; // BININT
      case 0x4e: push({ t: 'none' }); break; // NONE
      case 0x88: push({ t: 'bool', v: true }); break; // NEWTRUE
      case 0x89: push({ t: 'bool', v: false }); break; // NEWFALSE
      case 0x28: // MARK
        if (stack.length >= MAX_STACK) refuse('stack too deep');
        stack.push(MARK);
        break;
      case 0x29: push({ t: 'tuple', v: [] }); break; // EMPTY_TUPLE
      case 0x74: push({ t: 'tuple', v: popToMark() }); break; // TUPLE
      case 0x85: push({ t: 'tuple', v: [pop()] }); break; // TUPLE1
      case 0x86: { const b = pop(); const a = pop(); push({ t: 'tuple', v: [a, b] }); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); const a = pop(); push({ t: 'tuple', v: [a, b, c] }); break; } // TUPLE3
      case 0x94: memoize(memo.length); break; // MEMOIZE
      case 0x71: memoize(u8()); break; // BINPUT
      case 0x72: memoize(u32()); break; // LONG_BINPUT
      case 0x68: case 0x6a: { // BINGET, LONG_BINGET
        const index = op === 0x68 ? u8() : u32();
        const value = memo[index];
        if (!value) invalid(`memo ${index} is empty`);
        push(value);
        break;
      }
      case 0x52: { // REDUCE: only the calls numpy's own pickles make, recognised, never performed
        const args = pop();
        const callable = pop();
        if (callable.t !== 'global' || args.t !== 'tuple') refuse(`REDUCE of ${callable.t}`);
        push(reduce(callable.v, args.v, maxPixels));
        break;
      }
      case 0x62: { // BUILD: only numpy's dtype and array states
        const state = pop();
        const target = pop();
        push(build(target, state, maxPixels));
        break;
      }
      case 0x2e: { // STOP
        const result = pop();
        if (stack.length !== 0) invalid('values left on the stack');
        if (at !== data.length) invalid(`${data.length - at} bytes after STOP`);
        if (result.t !== 'array') refuse(`the pickle holds a ${result.t}, not an image array`);
        return toImage(result, maxPixels);
      }
      default:
        refuse(`opcode 0x${op.toString(16).padStart(2, '0')} ('${String.fromCharCode(op)}') at byte ${offset} is not allowed`);
    }
  }
}

function reduce(callable: string, args: Value[], maxPixels: number): Value {
  if (callable === 'encode') {
    // Protocol 2 carries bytes as _codecs.encode(latin-1 text, 'latin1').
    const [text, codec] = args;
    if (args.length !== 2 || text?.t !== 'str' || codec?.t !== 'str' || codec.v !== 'latin1') refuse('_codecs.encode other than (str, "latin1")');
    const out = Buffer.from(text.v, 'latin1');
    if (out.toString('latin1') !== text.v) refuse('_codecs.encode of text outside latin-1');
    return { t: 'bytes', v: out };
  }
  if (callable === 'dtype') {
    const [name, align, copy] = args;
    if (args.length !== 3 || name?.t !== 'str' || name.v !== 'u1' || align?.t !== 'bool' || copy?.t !== 'bool') {
      refuse(`numpy.dtype(${args.map((a) => (a.t === 'str' ? `'${a.v}'` : a.t)).join(', ')}): only uint8 ('u1') images are read`);
    }
    return { t: 'dtype', built: false };
  }
  if (callable === 'reconstruct') {
    const [cls, shape, typecode] = args;
    if (args.length !== 3 || cls?.t !== 'global' || cls.v !== 'ndarray' || shape?.t !== 'tuple' || typecode?.t !== 'bytes') {
      refuse('_reconstruct other than (ndarray, (0,), b"b")');
    }
    return { t: 'empty-array' };
  }
  if (callable === 'frombuffer') {
    const [buffer, dtype, shape, order] = args;
    if (args.length !== 4 || buffer?.t !== 'bytes' || dtype?.t !== 'dtype' || !dtype.built || shape?.t !== 'tuple' || order?.t !== 'str') {
      refuse('_frombuffer other than (bytes, uint8 dtype, shape, order)');
    }
    if (order.v !== 'C') refuse(`order '${order.v}': only C-contiguous arrays are read`);
    return { t: 'array', shape: checkShape(shape.v, maxPixels), data: buffer.v };
  }
  refuse(`calling '${callable}' is not allowed`);
}

function build(target: Value, state: Value, maxPixels: number): Value {
  if (target.t === 'dtype' && !target.built) {
    // (3, '|', None, None, None, -1, -1, 0): version, byte order, no subarray/names/fields, sizes, flags.
    const s = state.t === 'tuple' ? state.v : [];
    const ok =
      s.length === 8 && s[0].t === 'int' && s[0].v === 3 && s[1].t === 'str' && s[1].v === '|' &&
      s[2].t === 'none' && s[3].t === 'none' && s[4].t === 'none' &&
      s[5].t === 'int' && s[5].v === -1 && s[6].t === 'int' && s[6].v === -1 && s[7].t === 'int' && s[7].v === 0;
    if (!ok) refuse('a uint8 dtype state other than numpy\'s own');
    return { t: 'dtype', built: true };
  }
  if (target.t === 'empty-array') {
    // (1, shape, dtype, is_fortran, raw bytes)
    const s = state.t === 'tuple' ? state.v : [];
    const [version, shape, dtype, fortran, raw] = s;
    if (s.length !== 5 || version.t !== 'int' || version.v !== 1 || shape.t !== 'tuple' || dtype.t !== 'dtype' || !dtype.built || fortran.t !== 'bool' || raw.t !== 'bytes') {
      refuse('an array state other than numpy\'s own');
    }
    if (fortran.v) refuse('Fortran-ordered arrays are not read');
    return { t: 'array', shape: checkShape(shape.v, maxPixels), data: raw.v };
  }
  refuse(`BUILD on a ${target.t}`);
}

function checkShape(items: Value[], maxPixels: number): number[] {
  if (items.length !== 2 && items.length !== 3) refuse(`an array of ${items.length} dimensions is not an image`);
  const shape = items.map((item) => {
    if (item.t !== 'int' || item.v < 1 || item.v > MAX_DIMENSION) refuse(`dimension ${item.t === 'int' ? item.v : item.t} (1 to ${MAX_DIMENSION})`);
    return item.v;
  });
  if (shape.length === 3 && shape[2] !== 1 && shape[2] !== 3 && shape[2] !== 4) refuse(`${shape[2]} channels (1, 3 or 4)`);
  if (shape[0] * shape[1] > maxPixels) refuse(`${shape[1]}x${shape[0]} pixels, above the limit of ${maxPixels}`);
  return shape;
}

function toImage(array: { shape: number[]; data: Buffer }, maxPixels: number): PickledImage {
  const [height, width, channels = 1] = checkShape(array.shape.map((v) => ({ t: 'int', v }) as Value), maxPixels);
  if (array.data.length !== width * height * channels) {
    refuse(`shape ${height}x${width}x${channels} needs ${width * height * channels} bytes but the pickle holds ${array.data.length}`);
  }
  return { width, height, channels: channels as 1 | 3 | 4, pixels: array.data };
}

// ---- Writing: the bytes Python's pickle.dumps (protocol 4, numpy 1.x) produces for such an array.

const FRAME_SIZE_TARGET = 64 * 1024;

function smallInt(n: number): Buffer {
  if (n < 256) return Buffer.from([0x4b, n]);
  if (n < 65536) return Buffer.from([0x4d, n & 0xff, n >> 8]);
  const b = Buffer.alloc(5);
  b[0] = 0x4a;
  b.writeInt32LE(n, 1);
  return b;
}

function shortText(text: string): Buffer {
  const utf8 = Buffer.from(text, 'utf8');
  return Buffer.concat([Buffer.from([0x8c, utf8.length]), utf8, Buffer.from([0x94])]);
}

/**
 * Pickles an image as numpy would, in parts: the pixels are passed through as a view, not copied.
 * Python's protocol-4 framer writes a large bytes object outside any frame, so the parts are
 * [framed head, BINBYTES header, pixels, framed tail], or one frame holding everything when small.
 */
export function pickleImage(pixels: Buffer, height: number, width: number, channels: 1 | 3 | 4): Buffer[] {
  const shapeInts = channels === 1 ? [height, width] : [height, width, channels];
  const op = (...codes: number[]) => Buffer.from(codes);
  const head = Buffer.concat([
    shortText('numpy.core.multiarray'), shortText('_reconstruct'), op(0x93, 0x94),
    shortText('numpy'), shortText('ndarray'), op(0x93, 0x94),
    smallInt(0), op(0x85, 0x94), op(0x43, 1, 0x62, 0x94), op(0x87, 0x94, 0x52, 0x94),
    op(0x28), smallInt(1), ...shapeInts.map(smallInt), op(shapeInts.length === 2 ? 0x86 : 0x87, 0x94),
    // BINGET 3: the memoised 'numpy' string, as Python's memo would have it.
    op(0x68, 3), shortText('dtype'), op(0x93, 0x94), shortText('u1'), op(0x89, 0x88, 0x87, 0x94, 0x52, 0x94),
    // The dtype's state (3, '|', None, None, None, -1, -1, 0); -1 is a BININT.
    op(0x28), smallInt(3), shortText('|'), op(0x4e, 0x4e, 0x4e),
    op(0x4a, 0xff, 0xff, 0xff, 0xff, 0x4a, 0xff, 0xff, 0xff, 0xff), smallInt(0), op(0x74, 0x94, 0x62),
    op(0x89),
  ]);
  const bytesHeader = pixels.length < 256 ? op(0x43, pixels.length) : Buffer.concat([op(0x42), u32le(pixels.length)]);
  const tail = op(0x94, 0x74, 0x94, 0x62, 0x2e);
  const frameOp = (length: number) => Buffer.concat([op(0x95), u64le(length)]);
  const proto = op(0x80, 4);
  if (pixels.length >= FRAME_SIZE_TARGET) {
    return [Buffer.concat([proto, frameOp(head.length), head, bytesHeader]), pixels, Buffer.concat([frameOp(tail.length), tail])];
    // (the bytes header and pixels stand outside any frame, as Python's framer writes large bytes)
  }
  const body = Buffer.concat([head, bytesHeader, pixels, tail]);
  return [Buffer.concat([proto, frameOp(body.length), body])];
}

function u32le(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

function u64le(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}
