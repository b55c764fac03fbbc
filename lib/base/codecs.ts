// The video codecs cvchat can use between its own peers, by name: the media layer encodes and
// decodes them, the wire names them, the sessions negotiate them.

export type VideoCodecName = 'h264' | 'vp8';

/**
 * Every codec cvchat knows, in its order of preference when both peers take both: H.264 (x264)
 * gives the better picture for the bytes at a lower CPU cost here (README, "The video codec").
 */
export const VIDEO_CODECS: readonly VideoCodecName[] = ['h264', 'vp8'];

/** What --codec takes: auto (the best both peers have), jpeg (no codec), or one codec. */
export type CodecChoice = 'auto' | 'jpeg' | VideoCodecName;

export function isVideoCodecName(name: unknown): name is VideoCodecName {
  return typeof name === 'string' && (VIDEO_CODECS as readonly string[]).includes(name);
}
