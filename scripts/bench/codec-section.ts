// The benchmark's "video codec" section, apart from running processes (run.ts does that): what is
// made of the bitrate ladder (bytes at JPEG's SSIM, CPU against JPEG's), of the runs with 1, 2 and
// 4 viewers (the cost of an encoder per viewer), and of the codec's runs on shaped links; the
// goals, the Markdown and the chart.
import type { VideoCodecName } from '../../lib/base/codecs';
import { CODEC_LABELS, WARMUP_SECONDS, type AdaptiveResults, type ScenarioResult } from './adaptive';

type CodecName = 'jpeg' | VideoCodecName;

/** One codec at one bitrate (JPEG: quality 80) on the scene, frame by frame (codec-runs.ts). */
export interface LadderRun {
  codec: CodecName;
  /** bits per second; null for JPEG. */
  bitrate: number | null;
  encodeMs: number;
  encodeCpuMs: number;
  decodeMs: number;
  decodeCpuMs: number;
  bytesPerFrame: number;
  keyframeBytes: number;
  psnr: number;
  ssim: number | null;
  ssimFrames: number;
  delayFrames: number;
  frames: number;
}

/** A sender at 30 fps with `viewers` receivers on loopback, all sent `codec`. */
export interface ViewersRun {
  codec: CodecName;
  viewers: number;
  senderCpuMsPerFrame: number | null;
  viewerFps: Array<number | null>;
  viewerCpuMsPerFrame: Array<number | null>;
  bytesPerFrame: number | null;
}

export interface CodecResults {
  /** On the codec's scene: a camera turning slowly (scene.py with a pan step). */
  ladder: LadderRun[];
  /** JPEG and H.264 on the JPEG benchmark's scene: a whole panorama a second, a cut at every loop. */
  fastPanLadder: LadderRun[];
  viewers: ViewersRun[];
  /** The codec's runs on shaped links and loopback (adaptive.ts codecScenarios). */
  links: AdaptiveResults;
}

/** The bitrate the CPU goal is read at: the issue's operating point. */
export const CPU_AT_BPS = 2e6;

export interface CodecComparison {
  codec: VideoCodecName;
  /** Bytes per frame at JPEG q80's SSIM, interpolated along the ladder; null: not reached at its top. */
  bytesAtJpegSsim: number | null;
  /** The ladder's lowest bitrate already beats JPEG's SSIM: its bytes are an upper bound. */
  atMost: boolean;
  fractionOfJpegBytes: number | null;
  /** Encode + decode CPU per frame at CPU_AT_BPS, as a multiple of JPEG's. */
  cpuTimesJpeg: number | null;
}

const round = (v: number | null | undefined, digits = 1) => (v === null || v === undefined || !Number.isFinite(v) ? null : Math.round(v * 10 ** digits) / 10 ** digits);

export function codecSummary(results: CodecResults): CodecComparison[] {
  const jpeg = results.ladder.find((r) => r.codec === 'jpeg');
  const codecs = [...new Set(results.ladder.map((r) => r.codec))].filter((c): c is VideoCodecName => c !== 'jpeg');
  return codecs.map((codec) => {
    const ladder = results.ladder.filter((r) => r.codec === codec && r.ssim !== null).sort((a, b) => (a.bitrate ?? 0) - (b.bitrate ?? 0));
    let bytes: number | null = null;
    let atMost = false;
    const target = jpeg?.ssim ?? null;
    if (target !== null && ladder.length > 0) {
      if ((ladder[0].ssim as number) >= target) {
        bytes = ladder[0].bytesPerFrame;
        atMost = true;
      }
      for (let i = 1; i < ladder.length && bytes === null; i++) {
        const [a, b] = [ladder[i - 1], ladder[i]];
        if ((a.ssim as number) < target && (b.ssim as number) >= target) {
          bytes = a.bytesPerFrame + ((target - (a.ssim as number)) / ((b.ssim as number) - (a.ssim as number))) * (b.bytesPerFrame - a.bytesPerFrame);
        }
      }
    }
    const at = results.ladder.find((r) => r.codec === codec && r.bitrate === CPU_AT_BPS);
    const cpu = (r: LadderRun | undefined) => (r ? r.encodeCpuMs + r.decodeCpuMs : null);
    const cpuJpeg = cpu(jpeg);
    const cpuCodec = cpu(at);
    return {
      codec, bytesAtJpegSsim: round(bytes, 0), atMost,
      fractionOfJpegBytes: bytes !== null && jpeg ? round(bytes / jpeg.bytesPerFrame, 3) : null,
      cpuTimesJpeg: cpuJpeg && cpuCodec ? round(cpuCodec / cpuJpeg, 2) : null,
    };
  });
}

type GoalFn = (text: string, value: number | null, target: number, atMost?: boolean, nullMeans?: 'not measured' | 'never') => void;

const run = (results: AdaptiveResults, name: string) => (typeof results[name] === 'object' ? (results[name] as ScenarioResult) : null);

/** The issue's four goals for the codec (H.264, the default between cvchat peers). */
export function codecGoals(results: CodecResults, goal: GoalFn): void {
  const at2 = run(results.links, 'h2642mbit');
  goal('H.264 at 2 Mbit/s: fps', at2?.summary.fps ?? null, 29);
  goal('H.264 at 2 Mbit/s: latency p99 ms', at2?.summary.latencyP99 ?? null, 150, true);
  goal('H.264 at 2 Mbit/s: SSIM', at2?.summary.ssim ?? null, 0.93);
  const h264 = codecSummary(results).find((c) => c.codec === 'h264');
  // Not reached at the ladder's top: a miss, not a missing measurement.
  goal(`H.264 bytes at JPEG q80's SSIM / JPEG's bytes`, h264?.fractionOfJpegBytes ?? null, 0.2, true, h264 ? 'never' : 'not measured');
  goal(`H.264 encode + decode CPU per frame at ${CPU_AT_BPS / 1e6} Mbit/s / JPEG's`, h264?.cpuTimesJpeg ?? null, 2, true);
  goal('H.264 latency p50 ms, 1280x720 at 30 fps, loopback', run(results.links, 'h264Loopback')?.summary.latencyP50 ?? null, 15, true);
}

const fmt = (v: unknown) => (v === null || v === undefined ? '-' : String(v));
const label = (r: { codec: CodecName; bitrate: number | null }) => (r.codec === 'jpeg' ? 'JPEG q80' : `${CODEC_LABELS[r.codec]} ${r.bitrate! / 1e6} Mbit/s`);

/** The mean bitrate the encoder was asked for, from WARMUP_SECONDS on (video frames only). */
function meanBitrateMbit(r: ScenarioResult): number | null {
  const seconds = r.perSecond.filter((s) => s.t >= WARMUP_SECONDS && s.bitrateKbps !== null);
  return seconds.length === 0 ? null : round(seconds.reduce((n, s) => n + (s.bitrateKbps as number), 0) / seconds.length / 1000, 2);
}

export function codecMarkdown(results: CodecResults): string[] {
  const jpeg = results.ladder.find((r) => r.codec === 'jpeg');
  const lines = ['## The video codec (1280x720, 30 fps)', '',
    `Each frame encoded then decoded, one call at a time through the addon, in a fresh process per row; the encoders are told 30 fps. ${results.ladder[0]?.frames ?? '-'} frames of the codec's scene (the photographs panned 4 pixels a frame, forward and back, noise sigma 3); SSIM as ssim.py, of every ${results.ladder[0] && results.ladder[0].ssimFrames ? Math.round(results.ladder[0].frames / results.ladder[0].ssimFrames) : '-'}th decoded picture. CPU: the process's, over the call (x264's second thread included).`, '',
    ...ladderTable(results.ladder)];
  lines.push('', `At JPEG q80's SSIM (${fmt(round(jpeg?.ssim, 4))}, ${jpeg ? Math.round(jpeg.bytesPerFrame) : '-'} bytes/frame):`, '');
  for (const c of codecSummary(results)) {
    const bytes = c.bytesAtJpegSsim === null ? 'not reached at the top of the ladder' : `${c.atMost ? 'at most ' : ''}${c.bytesAtJpegSsim} bytes/frame, ${fmt(c.fractionOfJpegBytes)} of JPEG's`;
    lines.push(`- ${CODEC_LABELS[c.codec]}: ${bytes}; encode + decode CPU at ${CPU_AT_BPS / 1e6} Mbit/s ${fmt(c.cpuTimesJpeg)} x JPEG's.`);
  }
  if (results.fastPanLadder.length > 0) {
    const fastJpeg = results.fastPanLadder.find((r) => r.codec === 'jpeg');
    lines.push('', 'The hard case, on the JPEG benchmark\'s scene (the whole panorama in a second, and a cut at every loop):', '', ...ladderTable(results.fastPanLadder));
    const summary = codecSummary({ ...results, ladder: results.fastPanLadder }).find((c) => c.codec === 'h264');
    if (summary && fastJpeg) lines.push('', `There, at JPEG q80's SSIM (${fmt(round(fastJpeg.ssim, 4))}): H.264 ${summary.bytesAtJpegSsim === null ? 'does not reach it at the top of the ladder' : `needs ${summary.bytesAtJpegSsim} bytes/frame, ${fmt(summary.fractionOfJpegBytes)} of JPEG's`}.`);
  }
  if (results.viewers.length > 0) {
    lines.push('', '### An encoder per viewer: the sender\'s CPU with 1, 2 and 4 viewers', '',
      'A sender (memory source of the scene at 30 fps, TLS) and N receivers without a window, all on loopback; CPU per captured frame while all N are joined.', '',
      '| codec | viewers | sender CPU ms/frame | added per viewer after the first | each viewer\'s fps | each viewer\'s CPU ms/frame | bytes/frame |', '|---|---|---|---|---|---|---|');
    for (const v of results.viewers) {
      const one = results.viewers.find((w) => w.codec === v.codec && w.viewers === 1)?.senderCpuMsPerFrame ?? null;
      const added = v.viewers > 1 && one !== null && v.senderCpuMsPerFrame !== null ? (v.senderCpuMsPerFrame - one) / (v.viewers - 1) : null;
      lines.push(`| ${CODEC_LABELS[v.codec]} | ${v.viewers} | ${fmt(round(v.senderCpuMsPerFrame, 2))} | ${fmt(round(added, 2))} | ${v.viewerFps.map((f) => fmt(round(f))).join(', ')} | ${v.viewerCpuMsPerFrame.map((c) => fmt(c)).join(', ')} | ${fmt(v.bytesPerFrame)} |`);
    }
  }
  const links = Object.entries(results.links);
  if (links.length > 0) {
    lines.push('', '### On the shaped links and on loopback (720p, 30 fps)', '',
      `As the adaptive section: fps, latency, bytes and SSIM from ${WARMUP_SECONDS} s on; SSIM of the decoded pictures shown. "bitrate": the mean the encoder was asked for.`, '',
      '| scenario | fps | latency p50 / p99 (ms) | p99 whole (ms) | bytes/frame | SSIM | bitrate (Mbit/s) | dropped |', '|---|---|---|---|---|---|---|---|');
    for (const [name, r] of links) {
      if (typeof r === 'string') {
        lines.push(`| ${name} | ${r} | | | | | | |`);
        continue;
      }
      const s = r.summary;
      lines.push(`| ${r.label} | ${fmt(s.fps)} | ${fmt(s.latencyP50)} / ${fmt(s.latencyP99)} | ${fmt(r.wholeRun.latencyP99)} | ${fmt(s.bytesPerFrame)} | ${fmt(s.ssim)} | ${fmt(meanBitrateMbit(r))} | ${r.dropped} |`);
    }
    const step = run(results.links, 'h264Step20to5to20');
    if (step) {
      lines.push('', 'H.264 through the step, per segment:', '', '| segment | fps | latency p50 / p99 (ms) | bytes/frame | SSIM | settle s (p99 < 250 ms) |', '|---|---|---|---|---|---|');
      step.segments.forEach((seg, i) => lines.push(`| ${seg.at}-${seg.until} s at ${fmt(seg.mbit)} Mbit/s | ${fmt(seg.fps)} | ${fmt(seg.latencyP50)} / ${fmt(seg.latencyP99)} | ${fmt(seg.bytesPerFrame)} | ${fmt(seg.ssim)} | ${fmt(step.steps[i]?.latencySettleSeconds ?? 'never')} |`));
    }
  }
  return lines;
}

function ladderTable(ladder: LadderRun[]): string[] {
  const jpeg = ladder.find((r) => r.codec === 'jpeg');
  const jpegCpu = jpeg ? jpeg.encodeCpuMs + jpeg.decodeCpuMs : null;
  const lines = ['| codec | bytes/frame | first frame (bytes) | SSIM | PSNR (dB) | encode ms (CPU) | decode ms (CPU) | encode + decode CPU x JPEG | delay (frames) |', '|---|---|---|---|---|---|---|---|---|'];
  for (const r of ladder) {
    const cpu = r.encodeCpuMs + r.decodeCpuMs;
    lines.push(`| ${label(r)} | ${Math.round(r.bytesPerFrame)} | ${r.keyframeBytes} | ${fmt(round(r.ssim, 4))} | ${fmt(round(r.psnr, 2))} | ${fmt(round(r.encodeMs, 2))} (${fmt(round(r.encodeCpuMs, 2))}) | ${fmt(round(r.decodeMs, 2))} (${fmt(round(r.decodeCpuMs, 2))}) | ${jpegCpu ? fmt(round(cpu / jpegCpu, 2)) : '-'} | ${r.delayFrames} |`);
  }
  return lines;
}

/** Bytes per frame against SSIM along each codec's ladder, JPEG q80 as one point. */
export function codecChartSpec(results: CodecResults): object {
  const jpeg = results.ladder.find((r) => r.codec === 'jpeg');
  const values = results.ladder.filter((r) => r.ssim !== null).map((r) => ({
    codec: r.codec === 'jpeg' ? 'JPEG q80' : CODEC_LABELS[r.codec], kb: r.bytesPerFrame / 1000, ssim: r.ssim, label: r.codec === 'jpeg' ? 'JPEG q80' : `${r.bitrate! / 1e6}`,
  }));
  const kb = values.map((v) => v.kb);
  const encoding = {
    // Some room either side, so that the end points and their labels are not cut.
    x: { field: 'kb', type: 'quantitative', scale: { type: 'log', domain: [Math.min(...kb) * 0.7, Math.max(...kb) * 1.5], nice: false }, title: 'kB per frame (log)' },
    y: { field: 'ssim', type: 'quantitative', scale: { zero: false }, title: 'SSIM' },
    color: { field: 'codec', type: 'nominal', title: null },
  };
  return {
    title: 'Bytes and picture quality at 720p: JPEG q80 against the video codecs (labels: Mbit/s at 30 fps)',
    width: 520, height: 300, data: { values },
    layer: [
      { transform: [{ filter: "datum.codec !== 'JPEG q80'" }], mark: { type: 'line', point: true }, encoding },
      { transform: [{ filter: "datum.codec === 'JPEG q80'" }], mark: { type: 'point', shape: 'diamond', size: 120, filled: true }, encoding },
      { mark: { type: 'text', dy: -10, fontSize: 10 }, encoding: { ...encoding, text: { field: 'label' } } },
      // The goal: JPEG's SSIM in a fifth of its bytes, the square left of this line and under JPEG's point.
      ...(jpeg ? [{ data: { values: [{ kb: jpeg.bytesPerFrame / 5000, text: 'a fifth of JPEG' }] }, mark: { type: 'rule', strokeDash: [4, 4], color: 'gray' }, encoding: { x: encoding.x } },
        { data: { values: [{ kb: jpeg.bytesPerFrame / 5000, text: 'a fifth of JPEG\'s bytes' }] }, mark: { type: 'text', align: 'left', dx: 4, y: 8, fontSize: 10, color: 'gray' }, encoding: { x: encoding.x, text: { field: 'text' } } }] : []),
    ],
  };
}
