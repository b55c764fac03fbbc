// The web page (--web), in Debian's Chromium through playwright-core: a browser watches a sender
// and joins a chat, beside native peers; the key is proved before any frame; the page is served
// over https with a self-signed certificate kept between runs.
import assert from 'node:assert/strict';
import { createHmac, hkdfSync, randomBytes, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';

import type { Browser, Page } from 'playwright-core';
import WebSocket from 'ws';

import { labelColor } from '../lib/media/source';
import { framePixels } from '../lib/media/video';
import { Chat, type ChatEnd, type ChatOptions } from '../lib/session/chat/chat';
import { Receiver } from '../lib/session/receiver';
import { Sender, type SenderOptions } from '../lib/session/sender';
import { canvasPicture, launchChromium, openPage, pageState } from './browser';
import { closeTo, execFileP, exitWithin, root, runCli, sleep, TEST_KEY, tempDir, waitFor } from './helpers';

/** The certificate every test's sender keeps, made once for the file. */
const certDir = tempDir('cvchat-web-cert-');

async function startSender(label: string, extra: Partial<SenderOptions> = {}): Promise<{ sender: Sender; url: string; done: Promise<unknown> }> {
  const sender = new Sender({
    source: 'test', width: 320, height: 240, label, key: TEST_KEY,
    host: '127.0.0.1', port: 0, web: { port: 0, certDir },
    ...extra,
  });
  await sender.start();
  const done = sender.run();
  return { sender, url: sender.webPage!.urls[0], done };
}

/** Waits until the page has drawn `count` more frames than it had, and returns its state then. */
async function drawsFrames(page: Page, count = 10, timeoutMs = 15_000) {
  const start = (await pageState(page)).framesDrawn;
  return waitFor(`${count} frames drawn on the page`, async () => {
    const state = await pageState(page);
    if (state.state === 'refused' || state.state === 'error') throw new Error(`the page says ${state.state}: ${state.message}`);
    return state.framesDrawn >= start + count ? state : undefined;
  }, timeoutMs);
}

/** The label's bar colour (BGR from the source) as the canvas has it (RGB). */
const rgb = (label: string) => [...labelColor(label)].reverse();

/** Answers the web server's challenge as the page does, with `key`; resolves with the server's first answer and every binary byte count. */
function proveKey(url: string, key: string): Promise<{ answer: Record<string, unknown>; binaryBytes: () => number; socket: WebSocket }> {
  const address = new URL(url);
  const socket = new WebSocket(`wss://${address.host}/ws`, 'cvchat.v1', { rejectUnauthorized: false, origin: `https://${address.host}` });
  let binary = 0;
  return new Promise((resolve, reject) => {
    const clientNonce = randomBytes(32);
    socket.on('message', (data: Buffer, isBinary) => {
      if (isBinary) {
        binary += data.length;
        return;
      }
      const message = JSON.parse(data.toString()) as Record<string, unknown>;
      if (message.type !== 'challenge') {
        resolve({ answer: message, binaryBytes: () => binary, socket });
        return;
      }
      const authKey = Buffer.from(hkdfSync('sha256', key, 'cvchat web salt v1', 'cvchat web auth v1', 32));
      const proof = createHmac('sha256', authKey).update('cvchat web client v1').update(Buffer.from(message.nonce as string, 'base64')).update(clientNonce).digest();
      socket.send(JSON.stringify({ type: 'proof', nonce: clientNonce.toString('base64'), proof: proof.toString('base64') }));
    });
    socket.once('error', reject);
  });
}

describe('web page', () => {
  let browser: Browser;
  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });

  it('the page scripts type-check', async () => {
    await execFileP(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(root, 'web', 'tsconfig.json')]);
  });

  for (const codec of ['auto', 'jpeg'] as const) {
    it(`a browser watches the test picture over https (${codec === 'auto' ? 'H.264 by default' : '--codec jpeg'}): frames, latency, the picture's colours`, async () => {
      const label = `web-${codec}`;
      const { sender, url, done } = await startSender(label, { codec });
      const { context, page } = await openPage(browser, url);
      try {
        const state = await drawsFrames(page, 30);
        assert.equal(state.state, 'streaming');
        assert.equal(state.role, 'viewer');
        assert.equal(state.codec, codec === 'auto' ? 'h264' : 'jpeg');
        assert.ok(state.latencyMs !== null && state.latencyMs >= 0 && state.latencyMs < 1000, `latency ${state.latencyMs}`);
        assert.ok(state.fps > 5, `fps ${state.fps}`);
        const picture = await canvasPicture(page);
        assert.deepEqual([picture.width, picture.height], [320, 240]);
        assert.ok(picture.spread > 40, `the canvas is not flat (spread ${picture.spread})`);
        assert.ok(closeTo(picture.corner, rgb(label), 40), `corner ${picture.corner} is the label's colour ${rgb(label)}`);
        const hud = await page.textContent('#hud');
        assert.match(hud ?? '', /fps.*latency \d+ ms/s);
        assert.equal(sender.viewerCount, 1);
        // The keys: h hides the HUD and shows it again, f asks for full screen.
        await page.keyboard.press('h');
        assert.equal((await pageState(page)).hud, false);
        assert.equal(await page.isVisible('#hud'), false);
        await page.keyboard.press('h');
        assert.equal(await page.isVisible('#hud'), true);
        await page.keyboard.press('f');
        await waitFor('full screen', async () => ((await page.evaluate('document.fullscreenElement !== null')) ? true : undefined), 5000);
      } finally {
        await context.close();
        await sender.stop();
        await done;
      }
    });
  }

  it('--insecure: plain http without a key, said on the page', async () => {
    const { sender, url, done } = await startSender('web-plain', { key: undefined, insecure: true });
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const { context, page } = await openPage(browser, url);
    try {
      await drawsFrames(page, 10);
      assert.match((await page.textContent('#hud')) ?? '', /unencrypted/i);
      assert.equal(sender.webPage!.certificate, undefined);
    } finally {
      await context.close();
      await sender.stop();
      await done;
    }
  });

  it('on a phone: the picture fits the screen in portrait, and a tap toggles the HUD', async () => {
    const { sender, url, done } = await startSender('web-phone', { width: 1280, height: 720 });
    const { context, page } = await openPage(browser, url, { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 3 });
    try {
      await drawsFrames(page, 10);
      const box = await page.locator('#view').boundingBox();
      assert.ok(box && box.x >= 0 && box.y >= 0 && box.x + box.width <= 390.5 && box.y + box.height <= 844.5, `the canvas at ${JSON.stringify(box)} fits 390x844`);
      assert.ok(box!.width >= 380, `the picture uses the screen's width (${box!.width})`);
      for (const button of ['#hud-button', '#fullscreen-button', '#leave-button']) assert.equal(await page.isVisible(button), true, button);
      await page.locator('#view').tap();
      assert.equal((await pageState(page)).hud, false);
      await page.locator('#view').tap();
      assert.equal((await pageState(page)).hud, true);
    } finally {
      await context.close();
      await sender.stop();
      await done;
    }
  });

  it('a wrong key or none gets no frame and says so; the right key proves the server', async () => {
    const { sender, url, done } = await startSender('web-keys');
    try {
      const wrong = await openPage(browser, url.replace(/#.*/, '#not-the-key-at-all'));
      const refused = await waitFor('the wrong key refused', async () => {
        const state = await pageState(wrong.page);
        return state.state === 'refused' ? state : undefined;
      });
      assert.match(refused.message, /wrong key/i);
      assert.match((await wrong.page.textContent('#message')) ?? '', /wrong key/i);
      assert.equal(refused.framesDrawn, 0);
      const none = await openPage(browser, url.replace(/#.*/, ''));
      const noKey = await waitFor('no key', async () => {
        const state = await pageState(none.page);
        return state.state === 'no-key' ? state : undefined;
      });
      assert.match(noKey.message, /no key/i);
      assert.equal(noKey.framesDrawn, 0);
      assert.equal(sender.viewerCount, 0);
      // Below the page: the server says no before a single byte of the wire, and tells the right key's holder who it is.
      const bad = await proveKey(url, 'not-the-key-at-all');
      assert.equal(bad.answer.type, 'refused');
      assert.equal(bad.answer.code, 'CVCHAT_WRONG_KEY');
      await new Promise((resolve) => bad.socket.once('close', resolve));
      assert.equal(bad.binaryBytes(), 0);
      // A third wrong key from this address: it is slowed down (for 1 s, then 2...), and the page says why.
      // The page is loaded first and its script held back, so that it asks within that second.
      const slowed = await browser.newContext({ ignoreHTTPSErrors: true });
      let release: () => void = () => undefined;
      const held = new Promise<void>((resolve) => (release = resolve));
      await slowed.route('**/app.js', async (route) => {
        await held;
        await route.continue();
      });
      const slowedPage = await slowed.newPage();
      const loading = slowedPage.goto(url);
      assert.equal((await proveKey(url, 'still-not-the-key')).answer.code, 'CVCHAT_WRONG_KEY');
      release();
      await loading;
      const pause = await waitFor('the address slowed down', async () => {
        const state = await pageState(slowedPage);
        return state.state === 'refused' ? state : undefined;
      });
      assert.match(pause.message, /Too many wrong keys/);
      await slowed.close();
      await sleep(1100); // the first pause is 1 s
      const good = await proveKey(url, TEST_KEY);
      assert.equal(good.answer.type, 'welcome');
      await waitFor('frame bytes for the right key', () => (good.binaryBytes() > 1000 ? true : undefined));
      good.socket.close();
      await Promise.all([wrong.context.close(), none.context.close()]);
    } finally {
      await sender.stop();
      await done;
    }
  });

  it('two browsers and a native receiver at once; a fourth is told the sender is full; a closed tab frees its slot at once', async () => {
    const { sender, url, done } = await startSender('web-many', { maxViewers: 3 });
    const receiver = new Receiver({ connect: { host: '127.0.0.1', port: sender.port }, key: TEST_KEY });
    const receiving = receiver.run();
    const first = await openPage(browser, url);
    const second = await openPage(browser, url);
    try {
      await Promise.all([drawsFrames(first.page), drawsFrames(second.page), waitFor('native frames', () => (receiver.stats.frames >= 10 ? true : undefined))]);
      assert.equal(sender.viewerCount, 3);
      const fourth = await openPage(browser, url);
      const full = await waitFor('the fourth refused', async () => {
        const state = await pageState(fourth.page);
        return state.state === 'refused' || state.state === 'ended' ? state : undefined;
      });
      assert.match(full.message, /maximum of 3 viewers/);
      assert.equal(full.framesDrawn, 0);
      await fourth.context.close();
      // Closing a tab ends its socket; the sender must free the place then, not at a timeout (20 s).
      await first.context.close();
      const closedAt = performance.now();
      await waitFor('the slot freed', () => (sender.viewerCount === 2 ? true : undefined), 5000);
      assert.ok(performance.now() - closedAt < 2000, `freed in ${(performance.now() - closedAt).toFixed(0)} ms`);
      const fifth = await openPage(browser, url);
      await drawsFrames(fifth.page);
      await drawsFrames(second.page);
      assert.equal(sender.viewerCount, 3);
      await fifth.context.close();
    } finally {
      await second.context.close();
      receiver.stop();
      await receiving;
      await sender.stop();
      await done;
    }
  });

  async function chatWithBrowser(label: string, extra: Partial<ChatOptions> = {}) {
    /** Per frame from the browser: its size, how much its pixels vary, and its video codec (none: a JPEG). */
    const partnerFrames: Array<{ width: number; height: number; spread: number; codec: string | undefined }> = [];
    const chat = new Chat({
      source: 'test', width: 320, height: 240, label, key: TEST_KEY,
      listen: { host: '127.0.0.1', port: 0 }, web: { port: 0, certDir },
      onFrame: ({ frame, meta }) => {
        const pixels = framePixels(frame);
        let [min, max] = [255, 0];
        // By brightness: Chromium's fake camera is a green picture, with little in any one channel but green.
        for (let i = 0; i < pixels.length; i += 3 * 101) {
          const luma = (pixels[i] + pixels[i + 1] + pixels[i + 2]) / 3;
          [min, max] = [Math.min(min, luma), Math.max(max, luma)];
        }
        partnerFrames.push({ width: frame.width, height: frame.height, spread: max - min, codec: meta?.point?.codec });
      },
      ...extra,
    });
    await chat.start();
    const ended = chat.run();
    const { context, page } = await openPage(browser, chat.webPage!.urls[0]);
    return { chat, ended, context, page, partnerFrames };
  }

  it('a browser joins a chat: each sees the other (the fake camera one way, the test picture the other); q in the browser ends the call', async () => {
    const { chat, ended, context, page, partnerFrames } = await chatWithBrowser('web-chat');
    try {
      const state = await drawsFrames(page, 20);
      assert.equal(state.role, 'chat');
      assert.ok(closeTo((await canvasPicture(page)).corner, rgb('web-chat'), 40), 'the browser shows the chat\'s test picture');
      await waitFor('the browser\'s camera at the chat', () => (chat.received.frames >= 20 ? true : undefined));
      // Chromium's fake camera: 640x480 (the test picture is 320x240), a pattern, not one colour.
      const last = partnerFrames[partnerFrames.length - 1];
      assert.deepEqual([last.width, last.height], [640, 480]);
      assert.ok(last.spread > 40, `the browser's camera frame is not flat (spread ${last.spread})`);
      const after = await pageState(page);
      assert.equal(after.camera, 'on');
      // The page's own flow control: at most two of its frames unacknowledged.
      assert.ok(after.framesSent >= 10 && after.framesSent - after.framesAcked <= 2, `sent ${after.framesSent}, acked up to ${after.framesAcked}`);
      assert.ok(chat.rttMs !== null && chat.rttMs < 1000, `the chat measured the round trip through the browser: ${chat.rttMs}`);
      // A second browser while the call is on is told so.
      const second = await openPage(browser, chat.webPage!.urls[0]);
      const busy = await waitFor('the second browser refused', async () => {
        const s = await pageState(second.page);
        return s.state === 'refused' || s.state === 'ended' ? s : undefined;
      });
      assert.match(busy.message, /already in a call/);
      await second.context.close();
      await page.keyboard.press('q');
      const end: ChatEnd = await ended;
      assert.equal(end, 'partner-left');
      assert.equal((await pageState(page)).state, 'ended');
    } finally {
      await context.close();
      chat.stop();
    }
  });

  it('the browser sends its camera as video (H.264 or VP8) when the chat offers it, and as JPEG to a chat with codec jpeg', async () => {
    const cameraCodec = (page: Page) => page.evaluate('window.cvchat.cameraCodec') as Promise<string>;
    const video = await chatWithBrowser('web-chat-video');
    try {
      // The first frames are JPEGs (their ACKs carry the offer); then the encoder's stream.
      const frame = await waitFor('a video frame from the browser', () => video.partnerFrames.find((f) => f.codec !== undefined), 20_000);
      assert.ok(frame.codec === 'h264' || frame.codec === 'vp8', `codec ${frame.codec}`);
      await waitFor('the page says so', async () => ((await cameraCodec(video.page)) === frame.codec ? true : undefined), 5000);
      const count = video.partnerFrames.length;
      await waitFor('20 more frames from the browser', () => (video.partnerFrames.length >= count + 20 ? true : undefined), 20_000);
      const recent = video.partnerFrames.slice(count);
      assert.ok(recent.every((f) => f.codec === frame.codec), `all video after the switch: ${recent.map((f) => f.codec).join(' ')}`);
      const last = recent[recent.length - 1];
      assert.deepEqual([last.width, last.height], [640, 480]);
      assert.ok(last.spread > 40, `the browser's video frame is not flat (spread ${last.spread})`);
      const state = await pageState(video.page);
      assert.ok(state.framesSent - state.framesAcked <= 2, `sent ${state.framesSent}, acked up to ${state.framesAcked}`);
    } finally {
      await video.context.close();
      video.chat.stop();
      await video.ended;
    }
    const jpeg = await chatWithBrowser('web-chat-jpeg', { codec: 'jpeg' });
    try {
      await waitFor('20 frames from the browser', () => (jpeg.partnerFrames.length >= 20 ? true : undefined), 20_000);
      assert.ok(jpeg.partnerFrames.every((f) => f.codec === undefined), 'JPEG only');
      assert.deepEqual([jpeg.partnerFrames[19].width, jpeg.partnerFrames[19].height], [640, 480]);
      assert.equal(await cameraCodec(jpeg.page), 'jpeg');
    } finally {
      await jpeg.context.close();
      jpeg.chat.stop();
      await jpeg.ended;
    }
  });

  it('the cvchat side leaving (q) ends the call in the browser, which says so', async () => {
    const { chat, ended, context, page } = await chatWithBrowser('web-chat-2');
    try {
      await drawsFrames(page, 10);
      chat.stop(); // what q in the chat's window does
      assert.equal(await ended, 'quit');
      const state = await waitFor('the page ended', async () => {
        const s = await pageState(page);
        return s.state === 'ended' ? s : undefined;
      });
      assert.match(state.message, /left/i);
    } finally {
      await context.close();
    }
  });

  it('the self-signed certificate is made once, kept, served and printed with its fingerprint; a given one is used instead', async () => {
    const dir = tempDir('cvchat-web-kept-');
    const run = runCli(['sender', '--web', '0', '--port', '0', '--host', '127.0.0.1', '--no-window', '--source', 'test', '--frames', '60'], { CVCHAT_KEY: TEST_KEY, CVCHAT_CONFIG_DIR: dir });
    await exitWithin(run, 30_000);
    const printed = /([0-9A-F]{2}(?::[0-9A-F]{2}){31})/.exec(run.stderr())?.[1];
    assert.ok(printed, run.stderr());
    assert.match(run.stderr(), /made a self-signed certificate/);
    const kept = new X509Certificate(fs.readFileSync(path.join(dir, 'web-cert.pem')));
    assert.equal(kept.fingerprint256, printed);
    assert.equal((fs.statSync(path.join(dir, 'web-key.pem')).mode & 0o077), 0, 'the key is readable by its owner only');
    // A second run keeps it, and serves it.
    const { sender, done } = await startSender('web-cert', { web: { port: 0, certDir: dir } });
    try {
      assert.equal(sender.webPage!.certificate!.origin, 'kept');
      const served = await new Promise<string>((resolve, reject) => {
        const socket = tls.connect({ host: '127.0.0.1', port: sender.webPage!.port, rejectUnauthorized: false }, () => {
          resolve(socket.getPeerX509Certificate()!.fingerprint256);
          socket.end();
        });
        socket.once('error', reject);
      });
      assert.equal(served, printed);
    } finally {
      await sender.stop();
      await done;
    }
    // One given with --web-cert and --web-key, and a pair that does not belong together.
    const other = tempDir('cvchat-web-other-');
    await execFileP('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=given',
      '-keyout', path.join(other, 'key.pem'), '-out', path.join(other, 'cert.pem')]);
    const given = await startSender('web-given', { web: { port: 0, certFile: path.join(other, 'cert.pem'), keyFile: path.join(other, 'key.pem') } });
    try {
      assert.equal(given.sender.webPage!.certificate!.origin, 'given');
      const { context, page } = await openPage(browser, given.url);
      await drawsFrames(page, 5);
      await context.close();
    } finally {
      await given.sender.stop();
      await given.done;
    }
    const mismatch = new Sender({ source: 'test', key: TEST_KEY, host: '127.0.0.1', port: 0, web: { port: 0, certFile: path.join(other, 'cert.pem'), keyFile: path.join(dir, 'web-key.pem') } });
    await assert.rejects(mismatch.start(), /the key does not belong to the certificate/);
  });

  it('the server refuses other sites\' pages, other paths and other protocols, and outlives a client that breaks the rules before proving the key', async () => {
    const { sender, url, done } = await startSender('web-origin');
    try {
      const host = new URL(url).host;
      const foreign = new WebSocket(`wss://${host}/ws`, 'cvchat.v1', { rejectUnauthorized: false, origin: 'https://evil.example' });
      const status = await new Promise<number>((resolve) => foreign.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0)));
      assert.equal(status, 403);
      // Another subprotocol: the socket is closed unanswered.
      const other = new WebSocket(`wss://${host}/ws`, 'chat', { rejectUnauthorized: false });
      other.on('error', () => undefined);
      let otherBytes = 0;
      other.on('message', (data: Buffer) => (otherBytes += data.length));
      await new Promise((resolve) => other.once('close', resolve));
      assert.equal(otherBytes, 0);
      // Before the proof: a message above a viewer's limit, then a frame that breaks the protocol.
      // ws reports both as errors on the socket; the sender must carry on.
      for (const abuse of [(socket: WebSocket) => socket.send('x'.repeat(8000)), (socket: WebSocket) => (socket as unknown as { _socket: import('node:net').Socket })._socket.write(Buffer.from([0x8f, 0x00]))]) {
        const rogue = new WebSocket(`wss://${host}/ws`, 'cvchat.v1', { rejectUnauthorized: false });
        rogue.on('error', () => undefined);
        await new Promise((resolve) => rogue.once('message', resolve)); // the challenge
        abuse(rogue);
        await new Promise((resolve) => rogue.once('close', resolve));
      }
      const { context, page } = await openPage(browser, url);
      await drawsFrames(page, 5);
      assert.equal(await page.evaluate("fetch('/package.json').then((response) => response.status)"), 404);
      assert.equal(await page.evaluate("fetch('/%2e%2e/package.json').then((response) => response.status)"), 404);
      const csp = await page.evaluate("fetch('/').then((response) => response.headers.get('content-security-policy'))");
      assert.match(String(csp), /default-src 'self'/);
      await context.close();
    } finally {
      await sender.stop();
      await done;
    }
  });
});
