// Debian's Chromium, driven by playwright-core, headless: the browser the web page's tests use.
// Its fake camera (a moving test pattern) stands in for a webcam, and the permission prompt is
// answered yes. Never a downloaded browser: `playwright install` is not part of any step.
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'],
  });
}

/** A tab of its own (a new context: no shared cache or storage), showing `url`. */
export async function openPage(browser: Browser, url: string, options: BrowserContextOptions = {}): Promise<{ context: BrowserContext; page: Page }> {
  // The self-signed certificate: a user clicks through the warning after checking its fingerprint.
  const context = await browser.newContext({ ignoreHTTPSErrors: true, ...options });
  const page = await context.newPage();
  await page.goto(url);
  return { context, page };
}

/** What the page says of itself (web/app.js keeps window.cvchat up to date). */
export interface PageState {
  state: string;
  message: string;
  role: string | null;
  framesDrawn: number;
  lastSeq: number;
  width: number;
  height: number;
  codec: string | null;
  fps: number;
  latencyMs: number | null;
  rttMs: number | null;
  bad: number;
  dropped: number;
  offeredCodecs: string[];
  camera: string;
  framesSent: number;
  framesAcked: number;
  hud: boolean;
}

// What runs in the page is text: this project compiles for Node, without the DOM's types.
export function pageState(page: Page): Promise<PageState> {
  return page.evaluate('JSON.parse(JSON.stringify(window.cvchat))') as Promise<PageState>;
}

/**
 * The picture on the page's #view (a canvas, or a video element): its size, one pixel `inset` px
 * from the top-left corner (RGB), and how much it varies.
 */
export function canvasPicture(page: Page, inset = 2): Promise<{ width: number; height: number; corner: number[]; spread: number }> {
  return page.evaluate(`(() => {
    const view = document.getElementById('view');
    // Copied through a 2D canvas: whatever context the page draws with, its pixels can be read here.
    const copy = document.createElement('canvas');
    copy.width = view.videoWidth ?? view.width;
    copy.height = view.videoHeight ?? view.height;
    const context = copy.getContext('2d');
    context.drawImage(view, 0, 0);
    const { data } = context.getImageData(0, 0, copy.width, copy.height);
    const at = (${inset} * copy.width + ${inset}) * 4;
    const corner = [data[at], data[at + 1], data[at + 2]];
    let min = 255;
    let max = 0;
    for (let i = 0; i < data.length; i += 4 * 97) {
      const luma = (data[i] + data[i + 1] + data[i + 2]) / 3;
      min = Math.min(min, luma);
      max = Math.max(max, luma);
    }
    return { width: copy.width, height: copy.height, corner, spread: max - min };
  })()`);
}
