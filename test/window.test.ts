// Real windows: a private Xvfb, a screenshot of the window and a key sent by xdotool.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { closeTo, execFileP, findWindow, screenshot, startXvfb, waitFor, type Xvfb } from './helpers';

const child = path.join(__dirname, 'fixtures', 'window-child.js');

function showWindow(env: NodeJS.ProcessEnv, title: string, bgr: string) {
  const proc = spawn(process.execPath, [child, title, bgr], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code, signal) => resolve(signal ? -1 : code)));
  return { proc, out: () => out, exited };
}

function withoutDisplay(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.DISPLAY;
  delete env.WAYLAND_DISPLAY;
  delete env.QT_QPA_PLATFORM;
  return env;
}

describe('windows under Xvfb', () => {
  let xvfb: Xvfb;
  before(async () => {
    xvfb = await startXvfb();
  });
  after(() => xvfb?.stop());

  it('shows the frame (pixel check) and reads a key sent with xdotool', async () => {
    const shown = showWindow({ ...withoutDisplay(), DISPLAY: xvfb.display }, 'cvchat window test', '30,200,90');
    const id = await findWindow(xvfb.display, 'cvchat window test');
    const shot = await waitFor('the frame on screen', async () => {
      const s = await screenshot(xvfb.display, id);
      return s.width >= 320 && closeTo(s.mean(s.width / 2 - 20, s.height / 2 - 20, 40, 40), [30, 200, 90], 6) ? s : undefined;
    });
    assert.ok(shot.height >= 200);
    await execFileP('xdotool', ['key', '--window', id, 'x'], { env: { ...process.env, DISPLAY: xvfb.display } });
    await waitFor('key x', () => (shown.out().includes('"key":"x"') ? true : undefined));
    await execFileP('xdotool', ['key', '--window', id, 'q'], { env: { ...process.env, DISPLAY: xvfb.display } });
    assert.equal(await shown.exited, 0);
  });
});

describe('windows without a display', () => {
  it('throws CVCHAT_NO_DISPLAY instead of aborting when DISPLAY is unset', async () => {
    const shown = showWindow(withoutDisplay(), 't', '0,0,0');
    assert.equal(await shown.exited, 0, 'the process was not aborted');
    const result = JSON.parse(shown.out());
    assert.equal(result.error, 'CVCHAT_NO_DISPLAY');
    assert.match(result.message, /DISPLAY is not set.*--no-window/);
  });

  it('throws CVCHAT_NO_DISPLAY when no X server answers on DISPLAY', async () => {
    const shown = showWindow({ ...withoutDisplay(), DISPLAY: ':987' }, 't', '0,0,0');
    assert.equal(await shown.exited, 0);
    const result = JSON.parse(shown.out());
    assert.equal(result.error, 'CVCHAT_NO_DISPLAY');
    assert.match(result.message, /No X server answers on DISPLAY=:987/);
  });

  it('shows windows with QT_QPA_PLATFORM=offscreen and no X server', async () => {
    const shown = showWindow({ ...withoutDisplay(), QT_QPA_PLATFORM: 'offscreen' }, 'offscreen', '0,0,0');
    await waitFor('the window', () => (shown.out().includes('"shown"') ? true : undefined));
    shown.proc.kill('SIGTERM');
    await shown.exited;
  });
});
