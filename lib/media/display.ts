// Windows live on the main thread (GUI toolkits require it). One loop serves every window of the
// process: it shows the newest frame of each, draws overlays, and polls keys with waitKey(1) a
// few hundred times a second, so q works even when no frames arrive. Frames come from pool
// threads through show(); a frame that was never shown because a newer one came is released.
import fs from 'node:fs';

import type { BGR, VideoBackend, VideoFrame } from './backend';

const KEY_ESC = 27;
const POLL_MS = 4;

export interface DisplayEvents {
  /** q, Q, Esc, or the window closed. */
  quit(): void;
  /** Any other key, lower-cased where it is a letter. */
  key?(key: string): void;
}

interface WindowState {
  title: string;
  width: number;
  height: number;
  /** The newest frame not yet drawn. */
  pending: VideoFrame | null;
  /** The frame on screen; kept so a notice can be redrawn on it. */
  shown: VideoFrame | null;
  notice: string | null;
  overlay: ((frame: VideoFrame) => void) | null;
  dirty: boolean;
  /** Seen mapped on screen at least once. Until then "not visible" only means "not mapped yet". */
  seenVisible: boolean;
  /** Where to place the window; with no window manager (Xvfb) windows would otherwise stack. */
  position: { x: number; y: number } | null;
}

export class Display {
  private readonly windows = new Map<string, WindowState>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly backend: VideoBackend,
    private readonly events: DisplayEvents,
  ) {
    // Qt warns on every start without it; this is the folder it would fall back to anyway.
    if (!process.env.XDG_RUNTIME_DIR && typeof process.getuid === 'function') {
      const dir = `/tmp/runtime-${process.getuid()}`;
      try {
        fs.mkdirSync(dir, { mode: 0o700, recursive: true });
        process.env.XDG_RUNTIME_DIR = dir;
      } catch {
        // Qt will say so itself.
      }
    }
  }

  /** Opens a window at once, with `notice` on a dark placeholder until the first frame. */
  open(title: string, width: number, height: number, notice: string | null = null): void {
    // Side by side: each new window starts where the previous ones end.
    let x = 0;
    for (const window of this.windows.values()) x += window.width + 16;
    this.windows.set(title, {
      title, width, height, pending: null, shown: null, notice, overlay: null, dirty: true, seenVisible: false,
      position: { x, y: 0 },
    });
    if (!this.timer) this.tick();
  }

  show(title: string, frame: VideoFrame): void {
    const window = this.windows.get(title);
    if (!window || this.closed) {
      frame.release();
      return;
    }
    window.pending?.release();
    window.pending = frame;
    window.dirty = true;
  }

  /** True while a frame given to show() waits to be drawn (a newer one would replace it). */
  waiting(title: string): boolean {
    return this.windows.get(title)?.pending != null;
  }

  /** A line of text over the picture (waiting, reconnecting...), or null to clear it. */
  setNotice(title: string, notice: string | null): void {
    const window = this.windows.get(title);
    if (!window || window.notice === notice) return;
    window.notice = notice;
    window.dirty = true;
  }

  /** Drawn on every frame just before it is shown (the HUD). */
  setOverlay(title: string, overlay: ((frame: VideoFrame) => void) | null): void {
    const window = this.windows.get(title);
    if (window) window.overlay = overlay;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    for (const window of this.windows.values()) {
      window.pending?.release();
      window.shown?.release();
      this.backend.destroyWindow(window.title);
    }
    this.windows.clear();
  }

  private tick(): void {
    if (this.closed) return;
    for (const window of this.windows.values()) {
      if (window.dirty) this.draw(window);
    }
    const key = this.backend.waitKey(1);
    if (key >= 0) this.onKey(key & 0xff);
    if (this.closed) return;
    for (const window of this.windows.values()) {
      // A window the user closed with its title-bar button counts as q. Right after the first
      // imshow a window is not mapped yet and also reads as invisible, so only a window that was
      // seen on screen can have been closed.
      const visible = this.backend.windowVisible(window.title);
      if (visible) window.seenVisible = true;
      else if (window.seenVisible) {
        this.events.quit();
        return;
      }
    }
    this.timer = setTimeout(() => this.tick(), POLL_MS);
  }

  private onKey(code: number): void {
    if (code === KEY_ESC || code === 0x71 || code === 0x51) {
      this.events.quit();
      return;
    }
    if (code >= 0x20 && code < 0x7f) this.events.key?.(String.fromCharCode(code).toLowerCase());
  }

  private draw(window: WindowState): void {
    window.dirty = false;
    if (window.pending) {
      window.shown?.release();
      window.shown = window.pending;
      window.pending = null;
      window.overlay?.(window.shown);
    }
    let frame = window.shown;
    let temporary = false;
    if (!frame) {
      frame = this.placeholder(window.width, window.height);
      temporary = true;
    }
    if (window.notice) this.drawNotice(frame, window.notice);
    this.backend.imshow(window.title, frame);
    if (window.position) {
      this.backend.moveWindow(window.title, window.position.x, window.position.y);
      window.position = null;
    }
    if (temporary) frame.release();
  }

  private placeholder(width: number, height: number): VideoFrame {
    const pixels = Buffer.alloc(width * height * 3, 40);
    return this.backend.fromPixels(pixels, width, height, 3);
  }

  private drawNotice(frame: VideoFrame, text: string): void {
    const scale = Math.max(0.5, frame.height / 720);
    const y = Math.round(frame.height / 2);
    const color: BGR = [0, 255, 255];
    this.backend.drawBox(frame, 0, y - Math.round(32 * scale), frame.width, Math.round(48 * scale), [0, 0, 0], -1);
    this.backend.drawText(frame, text, Math.round(12 * scale), y, scale * 0.8, color);
  }
}
