// The native video encoder and decoder (native/video_codec.cc), through the addon's own API: round
// trips, keyframes, damaged and hostile input, the bitrate followed frame by frame, scaling, and
// the event loop left free while they work.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { monitorEventLoopDelay } from 'node:perf_hooks';

import { native, type EncodedVideoFrame, type NativeFrame, type VideoCodecName } from '../lib/media/addon';
import { frameFromPixels, framePixels, openCapture } from '../lib/media/video';
import { psnr } from './helpers';


/** `count` frames of the test source (moving content) at width x height. */
async function sourceFrames(width: number, height: number, count: number): Promise<NativeFrame[]> {
  const capture = await openCapture({ source: 'test', width, height });
  const frames: NativeFrame[] = [];
  for (let i = 0; i < count; i++) {
    const frame = await capture.read();
    assert.ok(frame);
    frames.push(frame as unknown as NativeFrame);
  }
  await capture.release();
  return frames;
}

interface Encoded extends EncodedVideoFrame {
  source: NativeFrame;
}

/** Encodes `frames` in order; `plan(i)` gives frame i's bitrate and whether to force a keyframe. */
async function encodeAll(
  codec: VideoCodecName,
  frames: NativeFrame[],
  plan: (i: number) => { bitrate: number; keyframe?: boolean } = () => ({ bitrate: 1.5e6 }),
): Promise<Encoded[]> {
  const encoder = new (native().VideoEncoder)(codec, frames[0].width, frames[0].height, 30);
  const out: Encoded[] = [];
  for (let i = 0; i < frames.length; i++) {
    const { bitrate, keyframe = false } = plan(i);
    out.push({ ...(await encoder.encode(frames[i], bitrate, keyframe)), source: frames[i] });
  }
  encoder.close();
  return out;
}

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
const MAX_PIXELS = 4096 * 4096;

const codecs = native().videoCodecs();

describe('video codecs', () => {
  it('lists h264 and vp8 on Debian 12 (libavcodec59 has libx264; libvpx is linked)', () => {
    assert.deepEqual(codecs, ['h264', 'vp8']);
  });

  it('refuses odd sizes, unknown codecs and wrong argument types with coded errors', () => {
    const { VideoEncoder, VideoDecoder } = native();
    assert.throws(() => new VideoEncoder('h264', 641, 360, 30), { code: 'CVCHAT_INVALID_ARGUMENT', message: /even/ });
    assert.throws(() => new VideoEncoder('vp8', 640, 0, 30), { code: 'CVCHAT_INVALID_ARGUMENT' });
    assert.throws(() => new VideoEncoder('av1' as VideoCodecName, 640, 360, 30), { code: 'CVCHAT_INVALID_ARGUMENT', message: /Unknown video codec/ });
    assert.throws(() => new VideoEncoder('h264', 640, 360, 0), { code: 'CVCHAT_INVALID_ARGUMENT', message: /fps/ });
    assert.throws(() => new VideoDecoder('mjpeg' as VideoCodecName), { code: 'CVCHAT_INVALID_ARGUMENT' });
    const encoder = new VideoEncoder('h264', 64, 64, 30);
    assert.equal(encoder.codec, 'h264');
    assert.equal(encoder.width, 64);
    assert.equal(encoder.height, 64);
    const call = encoder.encode as unknown as (...args: unknown[]) => unknown;
    assert.throws(() => call.call(encoder, {}, 1e6, false), { code: 'CVCHAT_INVALID_ARGUMENT' });
    assert.throws(() => call.call(encoder, frameFromPixels(Buffer.alloc(64 * 64 * 3), 64, 64), 1e6, 'yes'), { code: 'CVCHAT_INVALID_ARGUMENT' });
    assert.throws(() => call.call(encoder, frameFromPixels(Buffer.alloc(64 * 64 * 3), 64, 64), -1, false), { code: 'CVCHAT_INVALID_ARGUMENT' });
    encoder.close();
    const decoder = new VideoDecoder('vp8');
    const decode = decoder.decode as unknown as (...args: unknown[]) => unknown;
    assert.throws(() => decode.call(decoder, 'bytes', MAX_PIXELS), { code: 'CVCHAT_INVALID_ARGUMENT' });
    assert.throws(() => decode.call(decoder, Buffer.alloc(10), 0), { code: 'CVCHAT_INVALID_ARGUMENT' });
    decoder.close();
  });

  for (const codec of codecs) {
    describe(codec, () => {
      it('round-trips 30 frames at 640x360 and 1.5 Mbit/s above 30 dB PSNR; only the first is a keyframe', async () => {
        const frames = await sourceFrames(640, 360, 30);
        const packets = await encodeAll(codec, frames);
        assert.deepEqual(
          packets.map((p) => p.keyframe),
          packets.map((_, i) => i === 0),
        );
        const decoder = new (native().VideoDecoder)(codec);
        const scores: number[] = [];
        for (const packet of packets) {
          const result = await decoder.decode(packet.data, MAX_PIXELS);
          assert.equal(result.status, 'ok', result.reason);
          assert.ok(result.frame);
          assert.equal(result.keyframe, packet.keyframe);
          assert.deepEqual([result.width, result.height, result.frame.width, result.frame.height, result.frame.channels], [640, 360, 640, 360, 3]);
          scores.push(psnr(framePixels(packet.source), result.frame.toBuffer()));
        }
        decoder.close();
        const bytes = mean(packets.map((p) => p.data.length));
        assert.ok(mean(scores) > 30, `mean PSNR ${mean(scores).toFixed(1)} dB`);
        assert.ok(Math.min(...scores) > 27, `worst PSNR ${Math.min(...scores).toFixed(1)} dB`);
        // 1.5 Mbit/s at 30 fps is 6250 bytes a frame; the rate control keeps to it on average.
        assert.ok(bytes < 6250 * 1.5, `${bytes.toFixed(0)} bytes a frame`);
      });

      it('makes a keyframe on request, and a decoder that joins there shows every frame from it on', async () => {
        const frames = await sourceFrames(320, 240, 20);
        const packets = await encodeAll(codec, frames, (i) => ({ bitrate: 1e6, keyframe: i === 10 }));
        assert.deepEqual(
          packets.map((p, i) => (p.keyframe ? i : -1)).filter((i) => i >= 0),
          [0, 10],
        );
        const late = new (native().VideoDecoder)(codec);
        for (const packet of packets.slice(10)) assert.equal((await late.decode(packet.data, MAX_PIXELS)).status, 'ok');
        late.close();
      });

      it('shows nothing from a stream joined at a P-frame, and recovers at the next keyframe', async () => {
        const frames = await sourceFrames(320, 240, 16);
        const packets = await encodeAll(codec, frames, (i) => ({ bitrate: 1e6, keyframe: i === 8 }));
        const decoder = new (native().VideoDecoder)(codec);
        for (const packet of packets.slice(3, 8)) {
          const result = await decoder.decode(packet.data, MAX_PIXELS);
          assert.ok(result.status === 'error' || result.status === 'none', result.status);
          assert.equal(result.frame, null);
          assert.equal(result.keyframe, false);
        }
        for (const packet of packets.slice(8)) {
          const result = await decoder.decode(packet.data, MAX_PIXELS);
          assert.equal(result.status, 'ok', result.reason);
          assert.ok(psnr(framePixels(packet.source), result.frame!.toBuffer()) > 28);
        }
        decoder.close();
      });

      it('refuses a truncated frame, then everything up to the next keyframe', async () => {
        const frames = await sourceFrames(320, 240, 12);
        const packets = await encodeAll(codec, frames, (i) => ({ bitrate: 1e6, keyframe: i === 8 }));
        const decoder = new (native().VideoDecoder)(codec);
        for (const packet of packets.slice(0, 4)) assert.equal((await decoder.decode(packet.data, MAX_PIXELS)).status, 'ok');
        const half = packets[4].data.subarray(0, packets[4].data.length >> 1);
        const truncated = await decoder.decode(half, MAX_PIXELS);
        assert.equal(truncated.status, 'error');
        assert.equal(truncated.frame, null);
        for (const packet of packets.slice(5, 8)) assert.equal((await decoder.decode(packet.data, MAX_PIXELS)).status, 'error');
        for (const packet of packets.slice(8)) assert.equal((await decoder.decode(packet.data, MAX_PIXELS)).status, 'ok');
        // A truncated keyframe too: the decoder then waits for a whole one.
        const key = packets[8].data;
        assert.equal((await decoder.decode(key.subarray(0, key.length >> 1), MAX_PIXELS)).status, 'error');
        assert.equal((await decoder.decode(packets[9].data, MAX_PIXELS)).status, 'error');
        assert.equal((await decoder.decode(key, MAX_PIXELS)).status, 'ok');
        decoder.close();
      });

      it('after any damaged frame shows nothing until a keyframe, whatever bits flip', async () => {
        const frames = await sourceFrames(320, 240, 40);
        const packets = await encodeAll(codec, frames, (i) => ({ bitrate: 1e6, keyframe: i % 10 === 0 }));
        const decoder = new (native().VideoDecoder)(codec);
        let errors = 0;
        let waiting = false;
        let seed = 1;
        const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
        for (let round = 0; round < 3; round++) {
          for (const [i, packet] of packets.entries()) {
            let data = packet.data;
            if (i % 10 !== 0 && random() < 0.3) {
              data = Buffer.from(data);
              for (let flips = 0; flips < 4; flips++) data[Math.floor(random() * data.length)] ^= 1 << Math.floor(random() * 8);
            }
            const result = await decoder.decode(data, MAX_PIXELS);
            if (result.status === 'error') {
              errors++;
              waiting = true;
              assert.equal(result.frame, null);
            } else if (packet.keyframe) {
              waiting = false;
            }
            if (waiting) assert.notEqual(result.status, 'ok', `frame ${i} shown before a keyframe after an error`);
          }
        }
        decoder.close();
        assert.ok(errors > 0, 'no flipped frame was noticed at all');
      });

      it('refuses a stream larger than maxPixels before decoding it, and reports its size', async () => {
        const [key] = await encodeAll(codec, await sourceFrames(640, 360, 1));
        const decoder = new (native().VideoDecoder)(codec);
        const refused = await decoder.decode(key.data, 640 * 360 - 1);
        assert.deepEqual([refused.status, refused.frame, refused.width, refused.height], ['error', null, 640, 360]);
        assert.match(refused.reason ?? '', /above the limit/);
        assert.equal((await decoder.decode(key.data, 640 * 360)).status, 'ok');
        decoder.close();
      });

      it('follows a bitrate drop from 4 to 0.5 Mbit/s within a few frames, without a keyframe', async () => {
        const frames = await sourceFrames(640, 360, 60);
        const packets = await encodeAll(codec, frames, (i) => ({ bitrate: i < 30 ? 4e6 : 0.5e6 }));
        assert.equal(packets.filter((p) => p.keyframe).length, 1);
        const before = mean(packets.slice(10, 30).map((p) => p.data.length));
        const after = mean(packets.slice(35).map((p) => p.data.length));
        assert.ok(after / before < 0.5, `${before.toFixed(0)} -> ${after.toFixed(0)} bytes a frame`);
        // 0.5 Mbit/s at 30 fps is 2083 bytes a frame.
        assert.ok(after < 2083 * 1.5, `${after.toFixed(0)} bytes a frame at 0.5 Mbit/s`);
        const decoder = new (native().VideoDecoder)(codec);
        for (const packet of packets) assert.equal((await decoder.decode(packet.data, MAX_PIXELS)).status, 'ok');
        decoder.close();
      });

      it('survives random, truncated and bit-flipped input without a crash', async () => {
        const frames = await sourceFrames(160, 120, 6);
        const packets = await encodeAll(codec, frames, () => ({ bitrate: 300e3 }));
        const decoder = new (native().VideoDecoder)(codec);
        const statuses = new Set<string>();
        let seed = 7;
        const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
        for (let i = 0; i < 3000; i++) {
          const packet = packets[i % packets.length].data;
          let data: Buffer;
          switch (i % 4) {
            case 0:
              data = randomBytes(Math.floor(random() * 4000));
              break;
            case 1:
              data = packet.subarray(0, Math.floor(random() * packet.length));
              break;
            case 2:
              data = Buffer.from(packet);
              for (let flips = 1 + Math.floor(random() * 8); flips > 0; flips--) data[Math.floor(random() * data.length)] ^= 1 << Math.floor(random() * 8);
              break;
            default:
              // A real header followed by garbage: reaches deep into the decoder.
              data = Buffer.concat([packets[0].data.subarray(0, 40), randomBytes(Math.floor(random() * 2000))]);
          }
          const result = await decoder.decode(data, MAX_PIXELS);
          statuses.add(result.status);
          if (result.status !== 'ok') assert.equal(result.frame, null);
          else result.frame!.release();
          if (i % 50 === 0) decoder.reset();
        }
        // Still a working decoder afterwards.
        decoder.reset();
        for (const packet of packets) assert.equal((await decoder.decode(packet.data, MAX_PIXELS)).status, 'ok');
        decoder.close();
        assert.ok(statuses.has('error'));
      });

      it('scales on encode (720p into a 640x360 encoder) and on decode, and takes gray and BGRA frames', async () => {
        const { VideoEncoder, VideoDecoder, resize } = native();
        const [big] = await sourceFrames(1280, 720, 1);
        const encoder = new VideoEncoder(codec, 640, 360, 30);
        const key = await encoder.encode(big, 2e6, false);
        const decoder = new VideoDecoder(codec);
        const shown = await decoder.decode(key.data, MAX_PIXELS);
        assert.deepEqual([shown.frame?.width, shown.frame?.height], [640, 360]);
        assert.ok(psnr(framePixels(resize(big, 640, 360)), shown.frame!.toBuffer()) > 28);
        const gray = frameFromPixels(Buffer.alloc(320 * 180, 128), 320, 180, 1) as unknown as NativeFrame;
        const bgra = frameFromPixels(Buffer.alloc(640 * 360 * 4, 200), 640, 360, 4) as unknown as NativeFrame;
        const grayShown = await decoder.decode((await encoder.encode(gray, 2e6, false)).data, MAX_PIXELS, 320, 180);
        assert.equal(grayShown.status, 'ok');
        assert.deepEqual([grayShown.frame?.width, grayShown.frame?.height, grayShown.width, grayShown.height], [320, 180, 640, 360]);
        const bgraShown = await decoder.decode((await encoder.encode(bgra, 2e6, false)).data, MAX_PIXELS, 1280, 720);
        assert.deepEqual([bgraShown.status, bgraShown.frame?.width, bgraShown.frame?.height], ['ok', 1280, 720]);
        encoder.close();
        decoder.close();
      });

      it('allows one call at a time, and close() waits for the call in flight', async () => {
        const { VideoEncoder, VideoDecoder } = native();
        const [frame] = await sourceFrames(640, 360, 1);
        const encoder = new VideoEncoder(codec, 640, 360, 30);
        const first = encoder.encode(frame, 1e6, false);
        await assert.rejects(encoder.encode(frame, 1e6, false), { code: 'CVCHAT_VIDEO_BUSY' });
        encoder.close();
        const packet = await first;
        assert.ok(packet.keyframe && packet.data.length > 0);
        await assert.rejects(encoder.encode(frame, 1e6, false), { code: 'CVCHAT_VIDEO_CLOSED' });
        const decoder = new VideoDecoder(codec);
        const decoding = decoder.decode(packet.data, MAX_PIXELS);
        await assert.rejects(decoder.decode(packet.data, MAX_PIXELS), { code: 'CVCHAT_VIDEO_BUSY' });
        decoder.close();
        assert.equal((await decoding).status, 'ok');
        await assert.rejects(decoder.decode(packet.data, MAX_PIXELS), { code: 'CVCHAT_VIDEO_CLOSED' });
      });

      it('encodes and decodes 30 frames at 720p off the main thread', async () => {
        const { VideoEncoder, VideoDecoder } = native();
        const frames = await sourceFrames(1280, 720, 30);
        const encoder = new VideoEncoder(codec, 1280, 720, 30);
        const decoder = new VideoDecoder(codec);
        const delay = monitorEventLoopDelay({ resolution: 5 });
        let ticks = 0;
        const timer = setInterval(() => ticks++, 5);
        const started = performance.now();
        delay.enable();
        for (const frame of frames) {
          const packet = await encoder.encode(frame, 2e6, false);
          assert.equal((await decoder.decode(packet.data, MAX_PIXELS)).status, 'ok');
        }
        delay.disable();
        clearInterval(timer);
        const elapsed = performance.now() - started;
        encoder.close();
        decoder.close();
        const worstMs = delay.max / 1e6;
        // The work takes hundreds of ms; on the main thread the timer would barely have run.
        assert.ok(ticks > elapsed / 5 / 3, `${ticks} ticks of 5 ms in ${elapsed.toFixed(0)} ms`);
        assert.ok(worstMs < 40, `the event loop was held for ${worstMs.toFixed(1)} ms`);
      });
    });
  }
});
