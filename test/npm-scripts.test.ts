// The npm scripts as a process manager runs them: `npm start` in its own process, stopped with
// SIGTERM sent to npm alone (systemd, a container runtime or `kill PID` do not signal the whole
// process group, as Ctrl+C on a terminal does). The command line lives in package.json only.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { describe, it } from 'node:test';

import { freePort, root, waitFor } from './helpers';

/** Processes whose command line has `--port PORT`: npm, its shell and cvchat itself. */
function processesOnPort(port: number): Array<{ pid: number; command: string }> {
  const found: Array<{ pid: number; command: string }> = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let argv: string[];
    try {
      argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // it exited while we looked
    }
    const at = argv.indexOf('--port');
    if (at >= 0 && argv[at + 1] === String(port)) found.push({ pid: Number(entry), command: argv.join(' ').trim() });
  }
  return found;
}

/** Resolves when a new server could listen on the port (and closes it again), rejects if not. */
function listenOnce(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => server.close(() => resolve()));
  });
}

describe('npm start under a process manager', () => {
  it('SIGTERM to the npm process ends the sender with status 0 and frees its port', async (t) => {
    const port = await freePort();
    const npm = spawn('npm', ['start', 'sender', '--', '--source', 'test', '--size', '160x120', '--no-window',
      '--host', '127.0.0.1', '--port', String(port), '--insecure'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    npm.stderr.on('data', (d) => (stderr += d));
    npm.stdout.resume();
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      npm.once('exit', (code, signal) => resolve({ code, signal })));
    // Whatever the outcome, leave no sender behind to hold the port for later tests.
    t.after(() => {
      npm.kill('SIGKILL');
      for (const { pid } of processesOnPort(port)) process.kill(pid, 'SIGKILL');
    });

    // The setup step may compile first (the TypeScript, after an edit).
    await waitFor('the sender to start', () => (/cvchat: sending /.test(stderr) ? true : undefined), 120_000)
      .catch((error: Error) => assert.fail(`${error.message}; stderr:\n${stderr}`));
    npm.kill('SIGTERM');

    const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 5_000).unref());
    const result = await Promise.race([exited, timeout]);
    assert.notEqual(result, 'timeout', `npm did not exit within 5 s of SIGTERM; stderr:\n${stderr}`);
    assert.deepEqual(result, { code: 0, signal: null }, `npm's exit; stderr:\n${stderr}`);
    assert.deepEqual(processesOnPort(port), [], 'no process of that npm start is left');
    await listenOnce(port); // throws EADDRINUSE while a left-over sender holds it
  });
});
