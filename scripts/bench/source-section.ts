// The sources section: what a source that already delivers JPEG costs cvchat (pass-through) against
// decoding and encoding it again, and against the plain Python cv2 loop on the same file; and the
// memory source against the two-core limit of cvchat's own codec. Run by run.ts.

/** The quality the scene's MJPEG file is written at: about what webcams deliver. */
export const SOURCE_FILE_QUALITY = 85;

/** One run's figures, as run.ts summarises them. */
export interface SourceRun {
  system: 'python' | 'cvchat' | 'cvchat-reencode';
  fps: number | null;
  senderCpuMs: number | null;
  receiverCpuMs: number | null;
  bytesPerFrame: number | null;
  latencyP50?: number | null;
  latencyP99?: number | null;
}

export interface SourceResults {
  width: number;
  height: number;
  frames: number;
  /** The file, unpaced: Python, cvchat and cvchat --no-passthrough in turn, round after round. */
  file: SourceRun[];
  /** The MJPEG camera's stand-in at 30 fps: cvchat, then --no-passthrough. */
  camera: SourceRun[];
  /** cvchat's codec, one call at a time. */
  codec?: { encodeMs: number; decodeMs: number; bytesPerFrame: number };
  /** The scene from memory, unpaced (cvchat encodes every frame). */
  memory?: SourceRun | { fps: number | null; senderCpuMs: number | null; receiverCpuMs: number | null; bytesPerFrame: number | null };
}

const median = (values: Array<number | null>): number | null => {
  const known = values.filter((v): v is number => v !== null).sort((a, b) => a - b);
  if (known.length === 0) return null;
  const mid = Math.floor(known.length / 2);
  return known.length % 2 ? known[mid] : (known[mid - 1] + known[mid]) / 2;
};
const round = (v: number | null, digits = 2) => (v === null ? null : Math.round(v * 10 ** digits) / 10 ** digits);
const ratio = (a: number | null, b: number | null) => (a && b ? Math.round((a / b) * 100) / 100 : null);

/** Each system's median over the rounds. */
function medianOf(runs: SourceRun[], system: SourceRun['system']) {
  const mine = runs.filter((run) => run.system === system);
  return {
    fps: round(median(mine.map((run) => run.fps)), 1),
    senderCpuMs: round(median(mine.map((run) => run.senderCpuMs))),
    receiverCpuMs: round(median(mine.map((run) => run.receiverCpuMs))),
    bytesPerFrame: median(mine.map((run) => run.bytesPerFrame)),
    latencyP50: round(median(mine.map((run) => run.latencyP50 ?? null)), 1),
    rounds: mine.length,
  };
}

/** The two-core limit of cvchat's codec: frames a second when its encode and decode share two cores. */
export function twoCoreLimit(codec: SourceResults['codec']): number | null {
  return codec ? 2000 / (codec.encodeMs + codec.decodeMs) : null;
}

export function sourceGoals(results: SourceResults, goal: (text: string, value: number | null, target: number, atMost?: boolean) => void): void {
  const python = medianOf(results.file, 'python');
  const cvchat = medianOf(results.file, 'cvchat');
  goal(`file source ${results.width}x${results.height} MJPEG: cvchat fps / plain Python cv2 loop fps`, ratio(cvchat.fps, python.fps), 2);
  const camera = results.camera.find((run) => run.system === 'cvchat');
  goal(`MJPEG camera ${results.width}x${results.height} with pass-through: sender CPU ms per frame`, round(camera?.senderCpuMs ?? null), 0.5, true);
  goal(`memory source ${results.width}x${results.height}: fps / two-core limit of cvchat's codec`, ratio(results.memory?.fps ?? null, twoCoreLimit(results.codec)), 0.9);
}

export function sourceMarkdown(results: SourceResults): string[] {
  const fmt = (v: unknown) => (v === null || v === undefined ? '-' : String(v));
  const size = `${results.width}x${results.height}`;
  const python = medianOf(results.file, 'python');
  const rounds = python.rounds;
  const lines = [
    `## Sources that deliver JPEG (${size})`,
    '',
    `A ${size} MJPEG AVI of the scene (its frames encoded by cv2.imencode at quality ${SOURCE_FILE_QUALITY}, muxed by GStreamer's avimux), played in a loop as fast as each side goes, ${results.frames} frames, on loopback; ` +
      `the median of ${rounds} round${rounds === 1 ? '' : 's'} taken in turn. cvchat runs encrypted; the Python loop (read, imencode at quality 80, sendall; recv, imdecode) on the plain wire. ` +
      'With pass-through, cvchat sends the file\'s own JPEGs: its sender reads packets and decodes nothing.',
    '',
    '| source | system | fps | x Python loop | sender CPU ms/frame | receiver CPU ms/frame | bytes/frame |',
    '|---|---|---|---|---|---|---|',
  ];
  const row = (source: string, label: string, x: { fps: number | null; senderCpuMs: number | null; receiverCpuMs: number | null; bytesPerFrame: number | null }) =>
    lines.push(`| ${source} | ${label} | ${fmt(x.fps)} | ${fmt(ratio(x.fps, python.fps))} | ${fmt(x.senderCpuMs)} | ${fmt(x.receiverCpuMs)} | ${fmt(x.bytesPerFrame === null ? null : Math.round(x.bytesPerFrame))} |`);
  row('MJPEG file', 'plain Python cv2 loop', python);
  row('MJPEG file', 'cvchat, pass-through', medianOf(results.file, 'cvchat'));
  row('MJPEG file', 'cvchat --no-passthrough', medianOf(results.file, 'cvchat-reencode'));
  for (const run of results.camera) {
    lines.push(`| MJPEG camera (GStreamer image/jpeg), 30 fps | ${run.system === 'cvchat' ? 'cvchat, pass-through' : 'cvchat --no-passthrough'} | ${fmt(run.fps)} | - | ${fmt(run.senderCpuMs)} | ${fmt(run.receiverCpuMs)} | ${fmt(run.bytesPerFrame)} |`);
  }
  const limit = twoCoreLimit(results.codec);
  if (results.codec && results.memory) {
    lines.push(
      '',
      `The memory source (the scene's raw frames, encoded by cvchat at quality 80), unpaced: ${fmt(results.memory.fps)} fps. cvchat's codec takes ${results.codec.encodeMs.toFixed(2)} ms to encode and ${results.codec.decodeMs.toFixed(2)} ms to decode a frame; ` +
        `shared over two cores that allows ${fmt(round(limit, 1))} fps, so the memory source runs at ${fmt(ratio(results.memory.fps, limit))}x that limit.`,
    );
  }
  return lines;
}

/** A chart: fps and sender CPU per frame, for the file (each system's median) and the camera. */
export function sourceChartSpec(results: SourceResults): object {
  const labels: Record<SourceRun['system'], string> = { python: 'plain Python cv2 loop', cvchat: 'cvchat, pass-through', 'cvchat-reencode': 'cvchat --no-passthrough' };
  const values: Array<{ source: string; system: string; measure: string; value: number }> = [];
  for (const system of ['python', 'cvchat', 'cvchat-reencode'] as const) {
    const m = medianOf(results.file, system);
    if (m.fps !== null) values.push({ source: 'MJPEG file, unpaced', system: labels[system], measure: 'frames per second', value: m.fps });
    if (m.senderCpuMs !== null) values.push({ source: 'MJPEG file, unpaced', system: labels[system], measure: 'sender CPU ms per frame', value: m.senderCpuMs });
  }
  for (const run of results.camera) {
    if (run.senderCpuMs !== null) values.push({ source: 'MJPEG camera, 30 fps', system: labels[run.system], measure: 'sender CPU ms per frame', value: run.senderCpuMs });
  }
  return {
    title: `Sources that deliver JPEG, ${results.width}x${results.height}`,
    data: { values },
    facet: { column: { field: 'measure', type: 'nominal', title: null } },
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 260, height: 220, mark: 'bar',
      encoding: {
        x: { field: 'source', type: 'nominal', title: null },
        xOffset: { field: 'system', type: 'nominal' },
        y: { field: 'value', type: 'quantitative', title: null },
        color: { field: 'system', type: 'nominal', legend: { labelLimit: 300 } },
      },
    },
  };
}
