// The optional backend over @u4/opencv4nodejs, used the way its documentation suggests (its async
// API). It is not a dependency: its build takes minutes, so scripts/install-opencv4nodejs.sh
// installs it into .opencv4nodejs/ (or CVCHAT_OPENCV4NODEJS_DIR) on demand, built against the
// system OpenCV. It exists so that the benchmark and the backend tests compare like with like.
import fs from 'node:fs';
import path from 'node:path';

import { CvchatError } from '../../base/errors';
import { native, packageRoot } from '../addon';
import { isSourceJpeg, type BGR, type CaptureSource, type CaptureSpec, type ImageFormat, type VideoBackend, type VideoFrame } from '../backend';

/* The slice of @u4/opencv4nodejs used here (its own typings are not installed with cvchat). */
interface CvMat {
  rows: number;
  cols: number;
  channels: number;
  empty: boolean;
  getData(): Buffer;
  release(): void;
  resize(rows: number, cols: number): CvMat;
  copyTo(dst: CvMat): CvMat;
  getRegion(rect: unknown): CvMat;
  putText(text: string, origin: unknown, font: number, scale: number, color: unknown, thickness: number, lineType: number): void;
  drawRectangle(rect: unknown, color: unknown, thickness: number): void;
}
interface Cv {
  Mat: new (data: Buffer, rows: number, cols: number, type: number) => CvMat;
  VideoCapture: new (source: string | number, api?: number) => {
    get(prop: number): number;
    set(prop: number, value: number): boolean;
    readAsync(): Promise<CvMat>;
    release(): void;
  };
  Point2: new (x: number, y: number) => unknown;
  Vec3: new (a: number, b: number, c: number) => unknown;
  Rect: new (x: number, y: number, w: number, h: number) => unknown;
  imencodeAsync(ext: string, mat: CvMat, flags: number[]): Promise<Buffer>;
  imdecodeAsync(bytes: Buffer, flags?: number): Promise<CvMat>;
  imshow(title: string, mat: CvMat): void;
  waitKey(delay: number): number;
  destroyWindow(title: string): void;
  [constant: string]: unknown;
}

export function opencv4nodejsDir(): string {
  return process.env.CVCHAT_OPENCV4NODEJS_DIR ?? path.join(packageRoot, '.opencv4nodejs');
}

function loadCv(): Cv {
  const modulePath = path.join(opencv4nodejsDir(), 'node_modules', '@u4', 'opencv4nodejs');
  if (!fs.existsSync(modulePath)) {
    throw new CvchatError(
      'CVCHAT_BACKEND_MISSING',
      `The opencv4nodejs backend is not installed (looked in ${modulePath}). ` +
        'Install it with `bash scripts/install-opencv4nodejs.sh` (a few minutes: it compiles against the system OpenCV).',
    );
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(modulePath) as Cv;
}

class CvFrame implements VideoFrame {
  private released = false;

  /**
   * `handles` counts the frames that share `mat` (see share()); the last one to be released frees
   * it. null: read from a memory source, whose mat belongs to the source and is never freed here.
   */
  constructor(
    public mat: CvMat,
    private readonly handles: { count: number } | null = { count: 1 },
  ) {}
  get width() {
    return this.mat.cols;
  }
  get height() {
    return this.mat.rows;
  }
  get channels() {
    return this.mat.channels;
  }
  share(): CvFrame {
    if (this.handles) this.handles.count++;
    return new CvFrame(this.mat, this.handles);
  }
  release() {
    if (this.released || !this.handles) return;
    this.released = true;
    if (--this.handles.count === 0) this.mat.release();
  }
}

export function isOpencv4nodejsFrame(frame: unknown): frame is VideoFrame {
  return frame instanceof CvFrame;
}

const EXTENSION: Record<ImageFormat, string> = { jpeg: '.jpg', png: '.png', webp: '.webp' };

export function createOpencv4nodejsBackend(): VideoBackend {
  const cv = loadCv();
  const num = (name: string) => cv[name] as number;
  const matType = (channels: number) => num(channels === 1 ? 'CV_8UC1' : channels === 4 ? 'CV_8UC4' : 'CV_8UC3');
  const matOf = (frame: VideoFrame) => (frame as CvFrame).mat;
  const vec = (c: BGR) => new cv.Vec3(c[0], c[1], c[2]);
  const fromPixels = (pixels: Buffer, width: number, height: number, channels: number) =>
    new CvFrame(new cv.Mat(pixels, height, width, matType(channels)));

  async function openTestSource(spec: CaptureSpec): Promise<CaptureSource> {
    // opencv4nodejs has no synthetic source: take cvchat's and copy each frame across. The test
    // source has no JPEG of its own, and without `jpeg` no native capture passes one on.
    const inner = await native().Capture.open({ ...spec, jpeg: false });
    return {
      get info() {
        return inner.info;
      },
      async read() {
        const frame = await inner.read();
        if (!frame) return null;
        if (isSourceJpeg(frame)) throw new CvchatError('CVCHAT_NATIVE_ERROR', 'The test source gave JPEG bytes instead of a frame');
        const copy = fromPixels(frame.toBuffer(), frame.width, frame.height, frame.channels);
        frame.release();
        return copy;
      },
      release: () => inner.release(),
    };
  }

  return {
    name: 'opencv4nodejs',
    async openCapture(spec) {
      if (spec.kind === 'test') return openTestSource(spec);
      if (spec.kind === 'memory') {
        const mats = (spec.frames ?? []).map((f) => matOf(f));
        let index = 0;
        return {
          info: { width: mats[0].cols, height: mats[0].rows, fps: spec.fps || 30, frameCount: -1, backend: 'memory' },
          read: async () => new CvFrame(mats[index++ % mats.length], null),
          release: async () => undefined,
        };
      }
      let capture: InstanceType<Cv['VideoCapture']>;
      try {
        capture =
          spec.kind === 'camera'
            ? new cv.VideoCapture(spec.index ?? 0)
            : spec.kind === 'gstreamer'
              ? new cv.VideoCapture(spec.location ?? '', num('CAP_GSTREAMER'))
              : new cv.VideoCapture(spec.location ?? '');
      } catch (error) {
        throw new CvchatError('CVCHAT_CAPTURE_OPEN_FAILED', `Could not open ${spec.kind} ${spec.location ?? spec.index}`, {
          cause: error,
        });
      }
      if (spec.kind === 'camera') {
        if (spec.width) capture.set(num('CAP_PROP_FRAME_WIDTH'), spec.width);
        if (spec.height) capture.set(num('CAP_PROP_FRAME_HEIGHT'), spec.height);
        if (spec.fps) capture.set(num('CAP_PROP_FPS'), spec.fps);
      }
      let released = false;
      let pending: Promise<unknown> = Promise.resolve();
      return {
        info: {
          width: capture.get(num('CAP_PROP_FRAME_WIDTH')),
          height: capture.get(num('CAP_PROP_FRAME_HEIGHT')),
          fps: capture.get(num('CAP_PROP_FPS')),
          frameCount: spec.kind === 'file' ? capture.get(num('CAP_PROP_FRAME_COUNT')) : -1,
          backend: 'opencv4nodejs',
          jpeg: false, // spec.jpeg is not followed here: reads are always frames
        },
        async read() {
          if (released) throw new CvchatError('CVCHAT_CAPTURE_CLOSED', 'read() on a released capture');
          const reading = capture.readAsync();
          pending = reading.catch(() => undefined);
          const mat = await reading;
          return mat.empty ? null : new CvFrame(mat);
        },
        async release() {
          released = true;
          await pending;
          capture.release();
        },
      };
    },
    owns: isOpencv4nodejsFrame,
    encode(frame, format, quality) {
      const flag = format === 'png' ? 'IMWRITE_PNG_COMPRESSION' : format === 'webp' ? 'IMWRITE_WEBP_QUALITY' : 'IMWRITE_JPEG_QUALITY';
      return cv.imencodeAsync(EXTENSION[format], matOf(frame), [num(flag), quality]);
    },
    // opencv4nodejs scales on the calling thread (its resizeAsync allocates a second frame the same way).
    encodeJpeg: (frame, quality, size) => {
      const mat = matOf(frame);
      const source = size && (size.width !== mat.cols || size.height !== mat.rows) ? mat.resize(size.height, size.width) : mat;
      return cv.imencodeAsync('.jpg', source, [num('IMWRITE_JPEG_QUALITY'), quality]);
    },
    async decode(bytes, maxPixels, size) {
      // The same header check as the native backend, so both refuse decompression bombs.
      const header = native().probeImage(bytes);
      if (!header) throw new CvchatError('CVCHAT_UNSUPPORTED_IMAGE', 'The data is not a JPEG, PNG or WebP image');
      if (header.width * header.height > maxPixels) {
        throw new CvchatError('CVCHAT_IMAGE_TOO_LARGE', `The ${header.format} header declares ${header.width}x${header.height} pixels, above the limit of ${maxPixels}`);
      }
      let mat: CvMat;
      try {
        mat = await cv.imdecodeAsync(bytes);
      } catch (error) {
        throw new CvchatError('CVCHAT_DECODE_FAILED', `The ${header.format} data is corrupt or truncated`, { cause: error });
      }
      if (mat.empty) throw new CvchatError('CVCHAT_DECODE_FAILED', `The ${header.format} data is corrupt or truncated`);
      if (size && (size.width !== mat.cols || size.height !== mat.rows)) mat = mat.resize(size.height, size.width);
      return new CvFrame(mat);
    },
    fromPixels,
    toPixels: (frame) => matOf(frame).getData(),
    share: (frame) => (frame as CvFrame).share(),
    resize: (frame, width, height) => new CvFrame(matOf(frame).resize(height, width)),
    imshow(title, frame) {
      const problem = native().displayProblem();
      if (problem) throw new CvchatError('CVCHAT_NO_DISPLAY', problem);
      cv.imshow(title, matOf(frame));
    },
    moveWindow: (title, x, y) => (cv as unknown as { moveWindow(t: string, x: number, y: number): void }).moveWindow(title, x, y),
    waitKey: (delayMs) => cv.waitKey(Math.max(1, delayMs)),
    destroyWindow: (title) => cv.destroyWindow(title),
    // opencv4nodejs does not expose getWindowProperty; q and Esc still end the program.
    windowVisible: () => true,
    drawText(frame, text, x, y, scale, color) {
      const thickness = Math.max(1, Math.round(scale * 2));
      const at = new cv.Point2(x, y);
      matOf(frame).putText(text, at, num('FONT_HERSHEY_SIMPLEX'), scale, vec([0, 0, 0]), thickness + 2, num('LINE_AA'));
      matOf(frame).putText(text, at, num('FONT_HERSHEY_SIMPLEX'), scale, vec(color), thickness, num('LINE_AA'));
    },
    drawBox(frame, x, y, width, height, color, thickness) {
      matOf(frame).drawRectangle(new cv.Rect(x, y, width, height), vec(color), thickness < 0 ? -1 : thickness);
    },
    overlay(target, picture, x, y, width, height) {
      const t = matOf(target);
      const w = Math.min(width, t.cols - x);
      const h = Math.min(height, t.rows - y);
      if (w <= 0 || h <= 0) return;
      matOf(picture).resize(h, w).copyTo(t.getRegion(new cv.Rect(x, y, w, h)));
    },
    // opencv4nodejs has no video codec API: its peers negotiate JPEG.
    videoCodecs: () => [],
    openVideoEncoder: (codec) => {
      throw new CvchatError('CVCHAT_NO_VIDEO_CODEC', `The opencv4nodejs backend has no ${codec} encoder: use the native backend, or --codec jpeg`);
    },
    openVideoDecoder: (codec) => {
      throw new CvchatError('CVCHAT_NO_VIDEO_CODEC', `The opencv4nodejs backend has no ${codec} decoder: use the native backend, or --codec jpeg`);
    },
  };
}
