// The opencv4nodejs loop as its documentation suggests writing it: async/await, one frame at a
// time (imencodeAsync, write; read, imdecodeAsync), on the seed's wire (8-byte length + JPEG),
// without encryption. Frames come from the benchmark's scene in memory. Prints its figures as JSON.
//   o4n-loop.js sender SCENE W H PORT        serves one receiver until killed
//   o4n-loop.js receiver HOST PORT FRAMES
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const cv = require(path.join(process.env.CVCHAT_OPENCV4NODEJS_DIR ?? path.join(__dirname, '..', '..', '..', '.opencv4nodejs'), 'node_modules', '@u4', 'opencv4nodejs'));

const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

async function sender(scene: string, width: number, height: number, port: number) {
  const bytes = fs.readFileSync(scene);
  const size = width * height * 3;
  const frames: unknown[] = [];
  for (let at = 0; at + size <= bytes.length; at += size) frames.push(new cv.Mat(bytes.subarray(at, at + size), height, width, cv.CV_8UC3));
  const server = net.createServer(async (socket) => {
    socket.on('error', () => undefined);
    let open = true;
    socket.on('close', () => (open = false));
    for (let i = 0; open; i++) {
      const jpeg: Buffer = await cv.imencodeAsync('.jpg', frames[i % frames.length], [cv.IMWRITE_JPEG_QUALITY, 80]);
      const header = Buffer.alloc(8);
      header.writeBigUInt64LE(BigInt(jpeg.length));
      if (!socket.write(Buffer.concat([header, jpeg]))) await once(socket, 'drain').catch(() => undefined);
    }
  });
  server.listen(port, '0.0.0.0', () => process.stdout.write(`${JSON.stringify({ ready: true })}\n`));
  process.once('SIGTERM', () => process.exit(0));
}

async function receiver(host: string, port: number, wanted: number) {
  const socket = net.connect(port, host);
  let data = Buffer.alloc(0);
  let frames = 0;
  let bytes = 0;
  let first = 0;
  const warmAt = Math.max(1, Math.floor(wanted / 10));
  let warm = { cpu: 0, time: 0, rss: 0 };
  for await (const chunk of socket) {
    data = Buffer.concat([data, chunk as Buffer]);
    while (data.length >= 8) {
      const length = Number(data.readBigUInt64LE(0));
      if (data.length < 8 + length) break;
      const payload = data.subarray(8, 8 + length);
      data = data.subarray(8 + length);
      const mat = await cv.imdecodeAsync(payload);
      void mat;
      frames++;
      bytes += length;
      if (frames === 1) first = performance.now();
      if (frames === warmAt) warm = { cpu: cpuMs(), time: performance.now(), rss: process.memoryUsage().rss / 1e6 };
      if (frames >= wanted) {
        const after = frames - warmAt;
        process.stdout.write(`${JSON.stringify({
          frames, fps: after / ((performance.now() - warm.time) / 1000), cpuMsPerFrame: (cpuMs() - warm.cpu) / after,
          bytesPerFrame: bytes / frames, latencyMs: [], ttffMs: first, rssMb: process.memoryUsage().rss / 1e6, rssMbAtWarm: warm.rss,
        })}\n`, () => process.exit(0));
        return;
      }
    }
  }
}

const [role, ...args] = process.argv.slice(2);
if (role === 'sender') void sender(args[0], Number(args[1]), Number(args[2]), Number(args[3]));
else void receiver(args[0], Number(args[1]), Number(args[2]));
