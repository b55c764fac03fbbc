// Browsers watch what cvchat publishes, through a real Janus: `scripts/janus.sh` (the repository's
// configuration), `cvchat sender --publish rtp://...` and headless Chromium on web/janus.html
// (janus.js, WebRTC), all in one network namespace. Janus never offers ICE candidates on a loopback
// interface, so the namespace has a veth holding 127.0.0.2 that Janus is told to use
// (--ice-enforce-list); the browser's peer-reflexive candidate reaches it. Deadlines are for waiting,
// not thresholds: this checks that frames arrive and what they show, never how fast.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { chromium, type Browser, type Page } from 'playwright-core';

import { labelColor } from '../lib/media/source';
import { JANUS_ICE_INTERFACE, makeJanusNamespace } from '../scripts/bench/janus-section';
import { canvasPicture, CHROMIUM } from './browser';
import { canUseNetns, cli, closeTo, root, sleep, TEST_KEY, tempDir, waitFor } from './helpers';

const LABEL = 'janus';
const VIEWERS = 3;
const WEB_PORT = 8443;
const JANUS_API = 'http://127.0.0.1:8088/janus';
const viewerUrl = (id: number | string = 1) => `https://127.0.0.1:${WEB_PORT}/janus.html#server=${JANUS_API}&id=${id}`;
/** The label bar's colour, as a browser gives it (RGB). */
const LABEL_RGB = [...labelColor(LABEL)].reverse();

function hasCommand(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function skipReason(): string | false {
  if (!canUseNetns()) return 'needs root and ip netns';
  if (!hasCommand('janus')) return 'needs Janus: apt-get install janus libjs-janus-gateway libjs-webrtc-adapter';
  if (!fs.existsSync('/usr/share/javascript/janus-gateway/janus.js') || !fs.existsSync('/usr/share/javascript/webrtc-adapter/adapter.js')) {
    return 'needs janus.js and adapter.js: apt-get install libjs-janus-gateway libjs-webrtc-adapter';
  }
  if (!fs.existsSync(CHROMIUM)) return 'needs Chromium: apt-get install chromium';
  return false;
}

/** What web/janus-viewer.js keeps in window.cvchatJanus. */
interface ViewerState {
  state: string;
  message: string;
  framesDecoded: number;
  framesShown: number;
  width: number;
  height: number;
  fps: number;
  codec: string | null;
  rewatches: number;
}

// What runs in the page is text: this project compiles for Node, without the DOM's types.
/** The page's state; before its script has run (or when it could not), 'no script' and what the page said. */
async function viewerState(page: Page): Promise<ViewerState> {
  const state = (await page.evaluate('window.cvchatJanus ? JSON.parse(JSON.stringify(window.cvchatJanus)) : null')) as ViewerState | null;
  return state ?? { state: 'no script', message: (problems.get(page) ?? []).join('; '), framesDecoded: 0, framesShown: 0, width: 0, height: 0, fps: 0, codec: null, rewatches: 0 };
}

/** What each page reported going wrong (script errors, failed requests), for a failure's message. */
const problems = new WeakMap<Page, string[]>();

function watchProblems(page: Page): void {
  const list: string[] = [];
  problems.set(page, list);
  page.on('pageerror', (error) => list.push(`page error: ${error.message}`));
  page.on('requestfailed', (request) => list.push(`request failed: ${request.url()} (${request.failure()?.errorText ?? '?'})`));
  page.on('crash', () => list.push('the page crashed'));
}

interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<unknown>;
}

describe('Janus: browsers watch what cvchat publishes (a namespace, janus.js in headless Chromium)', { skip: skipReason() }, () => {
  const ns = `cvj${process.pid % 100000}`;
  const dir = tempDir('cvchat-janus-test-');
  const inNs = (args: string[], env: NodeJS.ProcessEnv = {}): Started => {
    const child = spawn('ip', ['netns', 'exec', ns, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout!.on('data', (d: Buffer) => (text += d));
    child.stderr!.on('data', (d: Buffer) => (text += d));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    return { child, output: () => text, exited };
  };
  let janus: Started | undefined;
  let sender: Started | undefined;
  let browser: Browser | undefined;
  const pages: Page[] = [];

  async function stop(run: Started | undefined): Promise<void> {
    if (!run || run.child.exitCode !== null || run.child.signalCode !== null) return;
    run.child.kill('SIGTERM');
    const timer = setTimeout(() => run.child.kill('SIGKILL'), 5000);
    await run.exited;
    clearTimeout(timer);
  }

  async function startJanus(): Promise<Started> {
    // A runtime folder of its own: a `npm run janus` beside this one keeps its own.
    const run = inNs(['bash', path.join(root, 'scripts', 'janus.sh'), `--ice-enforce-list=${JANUS_ICE_INTERFACE}`], { CVCHAT_JANUS_DIR: path.join(dir, 'janus') });
    await waitFor('Janus ready', () => {
      if (run.child.exitCode !== null) throw new Error(`janus.sh exited:\n${run.output()}`);
      return run.output().includes('cvchat janus: ready') ? true : undefined;
    }, 30_000);
    return run;
  }

  async function startSender(): Promise<Started> {
    const run = inNs([process.execPath, cli, 'sender', '--source', 'test', '--size', '640x480', '--fps', '30', '--label', LABEL, '--no-window',
      '--publish', 'rtp://127.0.0.1:5004', '--web', String(WEB_PORT), '--key', TEST_KEY], { DISPLAY: '', CVCHAT_CONFIG_DIR: dir });
    await waitFor('the sender publishing', () => (/publishing vp8/.test(run.output()) ? true : undefined), 30_000);
    return run;
  }

  /** Waits until every page has decoded `more` frames beyond `from` (each its own count). */
  async function framesRise(from: number[], more: number, what: string): Promise<ViewerState[]> {
    let last: ViewerState[] = [];
    try {
      return await waitFor(what, async () => {
        last = await Promise.all(pages.map(viewerState));
        return last.every((s, i) => s.framesDecoded >= from[i] + more && s.state === 'streaming') ? last : undefined;
      }, 45_000);
    } catch (error) {
      throw new Error(`${(error as Error).message}; the pages: ${JSON.stringify(last.map((s) => ({ state: s.state, message: s.message, framesDecoded: s.framesDecoded })))}`);
    }
  }

  before(async () => {
    makeJanusNamespace(ns);
    janus = await startJanus();
    sender = await startSender();
    // Chromium in the namespace too: playwright starts this wrapper, which keeps its pipes.
    const wrapper = path.join(dir, 'chromium-in-namespace');
    fs.writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${ns} ${CHROMIUM} "$@"\n`, { mode: 0o755 });
    browser = await chromium.launch({ executablePath: wrapper });
  });

  after(async () => {
    // The pages end their sessions on Janus; closing the browser alone would leave them to time out.
    await Promise.all(pages.map((page) => page.evaluate('window.cvchatJanus?.leave()').catch(() => undefined)));
    await browser?.close().catch(() => undefined);
    await stop(sender);
    await stop(janus);
    try {
      execFileSync('ip', ['netns', 'delete', ns], { stdio: 'ignore' });
    } catch {
      // not made
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it(`${VIEWERS} viewers see the test picture, served with a CSP that lets the page reach Janus`, async () => {
    for (let i = 0; i < VIEWERS; i++) {
      const context = await browser!.newContext({ ignoreHTTPSErrors: true });
      const page = await context.newPage();
      watchProblems(page);
      const response = await page.goto(viewerUrl());
      const csp = response?.headers()['content-security-policy'] ?? '';
      assert.match(csp, /connect-src 'self' http: https: ws: wss:/, 'the page may connect to Janus');
      assert.match(csp, /script-src 'self';/, 'scripts only from the page\'s origin');
      pages.push(page);
    }
    const states = await framesRise(pages.map(() => 0), 60, 'frames on every viewer');
    for (const [i, page] of pages.entries()) {
      assert.equal(states[i].codec, 'VP8');
      assert.deepEqual([states[i].width, states[i].height], [640, 480]);
      const picture = await canvasPicture(page, 4);
      assert.ok(picture.spread > 50, `viewer ${i}: the picture is not flat (spread ${picture.spread})`);
      assert.ok(closeTo(picture.corner, LABEL_RGB, 40), `viewer ${i}: corner ${picture.corner} is the label's colour ${LABEL_RGB}`);
    }
  });

  it('a mountpoint Janus does not have is named, and watched for again', async () => {
    const context = await browser!.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    watchProblems(page);
    await page.goto(viewerUrl(77));
    const state = await waitFor('no such mountpoint', async () => {
      const s = await viewerState(page);
      return s.state === 'no-mountpoint' ? s : undefined;
    });
    assert.match(state.message, /no mountpoint 77/);
    await waitFor('a second try', async () => ((await viewerState(page)).rewatches >= 2 ? true : undefined));
    await page.evaluate('window.cvchatJanus.leave()');
    await context.close();
  });

  it('the viewers carry on, without a reload, when the publisher stops and starts again', async () => {
    await stop(sender);
    const stopped = await waitFor('the viewers saying the stream stopped', async () => {
      const states = await Promise.all(pages.map(viewerState));
      return states.every((s) => s.state === 'stopped') ? states : undefined;
    });
    assert.match(stopped[0].message, /stopped/);
    const before = stopped.map((s) => s.framesDecoded);
    sender = await startSender();
    await framesRise(before, 60, 'frames again after the publisher restarted');
    for (const [i, page] of pages.entries()) {
      assert.ok(closeTo((await canvasPicture(page, 4)).corner, LABEL_RGB, 40), `viewer ${i} shows the test picture again`);
    }
  });

  it('the viewers watch again when Janus restarts', async () => {
    await stop(janus);
    await waitFor('the viewers saying Janus is gone', async () => {
      const states = await Promise.all(pages.map(viewerState));
      return states.every((s) => s.state === 'unreachable') ? true : undefined;
    });
    const before = (await Promise.all(pages.map(viewerState))).map((s) => s.framesDecoded);
    await sleep(1000);
    janus = await startJanus();
    await framesRise(before, 60, 'frames again after Janus restarted');
  });
});
