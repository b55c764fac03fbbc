// What is drawn over a shown picture: the HUD's lines of text and the chat's inset of one's own
// camera. Drawn on the frame about to be shown, never on one that is shared.
import type { VideoBackend, VideoFrame } from './backend';

/** Lines of green text below the top tenth of the picture, clear of the test picture's bar and its text at the bottom. */
export function drawHudLines(backend: VideoBackend, frame: VideoFrame, lines: string[]): void {
  const scale = Math.max(0.4, frame.height / 900);
  lines.forEach((line, i) => {
    backend.drawText(frame, line, 8, Math.round(frame.height * 0.1 + (24 + 28 * i) * scale), scale, [0, 255, 0]);
  });
}

/** `picture` scaled to a quarter of the frame's width, framed in white, in the bottom-right corner. */
export function drawInset(backend: VideoBackend, frame: VideoFrame, picture: VideoFrame): void {
  const width = Math.round(frame.width / 4);
  const height = Math.round((width * picture.height) / Math.max(1, picture.width));
  const x = frame.width - width - 8;
  const y = frame.height - height - 8;
  backend.drawBox(frame, x - 2, y - 2, width + 4, height + 4, [255, 255, 255], -1);
  backend.overlay(frame, picture, x, y, width, height);
}
