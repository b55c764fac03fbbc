// The default backend: cvchat's own addon.
import { isVideoCodecName, type VideoCodecName } from '../../base/codecs';
import { checkInteger, checkNumber, checkString, invalidOption, withCallerStack } from '../../base/errors';
import { MAX_DIMENSION, MAX_FPS } from '../../base/limits';
import { native, type NativeAddon, type NativeFrame } from '../addon';
import type { CaptureSource, CaptureSpec, Recorder, Size, VideoBackend, VideoDecoder, VideoEncoder, VideoFrame } from '../backend';

/** The addon's encoder behind the backend interface: the caller's stack on its errors. */
function videoEncoder(addon: NativeAddon, codec: VideoCodecName, width: number, height: number, fps: number): VideoEncoder {
  const encoder = new addon.VideoEncoder(codec, width, height, fps);
  return {
    codec, width, height,
    encode: (frame, bitrateBps, keyframe) => withCallerStack(() => encoder.encode(frame as NativeFrame, bitrateBps, keyframe)),
    close: () => encoder.close(),
  };
}

function videoDecoder(addon: NativeAddon, codec: VideoCodecName): VideoDecoder {
  const decoder = new addon.VideoDecoder(codec);
  return {
    codec,
    decode: (data, maxPixels, size) => withCallerStack(() => decoder.decode(data, maxPixels, size?.width, size?.height)),
    reset: () => decoder.reset(),
    close: () => decoder.close(),
  };
}

/** The addon's recorder behind the backend interface: options checked once, the caller's stack on its errors. */
async function openRecorder(addon: NativeAddon, path: string, size: Size, fps: number): Promise<Recorder> {
  checkString('path', path);
  if (typeof size !== 'object' || size === null) throw invalidOption('size', '{ width, height }', size);
  const width = checkInteger('width', size.width, 1, MAX_DIMENSION);
  const height = checkInteger('height', size.height, 1, MAX_DIMENSION);
  checkNumber('fps', fps, 0.1, MAX_FPS);
  const recorder = await withCallerStack(() => addon.Recorder.open(path, width, height, fps));
  return {
    writeJpeg: (jpeg, timeMs) => withCallerStack(() => recorder.writeJpeg(jpeg, timeMs)),
    writeFrame: (frame, timeMs, quality) => withCallerStack(() => recorder.writeFrame(frame as NativeFrame, timeMs, quality)),
    close: () => withCallerStack(() => recorder.close()),
    get frames() {
      return recorder.frames;
    },
    get bytes() {
      return recorder.bytes;
    },
  };
}

export function createNativeBackend(): VideoBackend {
  const addon = native();
  const asNative = (frame: VideoFrame) => frame as NativeFrame;
  const owns = (frame: unknown): frame is NativeFrame => frame instanceof addon.Frame;
  return {
    name: 'native',
    async openCapture(spec: CaptureSpec): Promise<CaptureSource> {
      const capture = await withCallerStack(() => addon.Capture.open(spec));
      return {
        get info() {
          return capture.info;
        },
        read: () => withCallerStack(() => capture.read()),
        release: () => withCallerStack(() => capture.release()),
      };
    },
    owns,
    encode: (frame, format, quality) => withCallerStack(() => addon.encode(asNative(frame), format, quality)),
    encodeJpeg: (frame, quality, size) => withCallerStack(() => addon.encode(asNative(frame), 'jpeg', quality, size?.width, size?.height)),
    decode: (bytes, maxPixels, size) => withCallerStack(() => addon.decode(bytes, maxPixels, 3, size?.width, size?.height)),
    fromPixels: (pixels, width, height, channels) => addon.Frame.fromBuffer(pixels, width, height, channels),
    toPixels: (frame) => asNative(frame).toBuffer(),
    share: (frame) => asNative(frame).share(),
    resize: (frame, width, height) => addon.resize(asNative(frame), width, height),
    imshow: (title, frame) => addon.imshow(title, asNative(frame)),
    moveWindow: (title, x, y) => addon.moveWindow(title, x, y),
    waitKey: (delayMs) => addon.waitKey(delayMs),
    destroyWindow: (title) => addon.destroyWindow(title),
    windowVisible: (title) => addon.windowVisible(title),
    drawText: (frame, text, x, y, scale, color) =>
      addon.putText(asNative(frame), text, x, y, scale, color, Math.max(1, Math.round(scale * 2))),
    drawBox: (frame, x, y, width, height, color, thickness) =>
      addon.rectangle(asNative(frame), x, y, width, height, color, thickness),
    overlay: (target, picture, x, y, width, height) =>
      addon.overlay(asNative(target), asNative(picture), x, y, width, height),
    videoCodecs: () => addon.videoCodecs().filter(isVideoCodecName),
    openVideoEncoder: (codec, size, fps) => videoEncoder(addon, codec, size.width, size.height, fps),
    openVideoDecoder: (codec) => videoDecoder(addon, codec),
    openRecorder: (path, size, fps) => openRecorder(addon, path, size, fps),
  };
}
