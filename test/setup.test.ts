// scripts/setup.sh, run as each npm command runs it (the command is read from package.json), in a
// sandbox: a copy of the script in a temporary package folder, with fake dpkg-query, apt-get, sudo,
// npm and npx first on PATH. The fakes record their arguments; the machine's packages, this
// package's node modules and its build are never touched.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';

import { execFileP, root, tempDir } from './helpers';

/** The local media server that publishing is tried with, and its viewer page's scripts. */
const JANUS_PACKAGES = ['janus', 'libjs-janus-gateway', 'libjs-webrtc-adapter'];
const packageJson = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

/** The set-up step of an npm script: what it runs before `&&`. */
function setupCommand(script: 'start' | 'test' | 'bench' | 'janus'): string {
  const command = String(packageJson.scripts[script]).split('&&')[0].trim();
  assert.match(command, /^bash scripts\/setup\.sh\b/, `npm ${script} starts with the set-up step`);
  return command;
}

interface Sandbox {
  dir: string;
  /** Each recorded call, as "program arg arg...". */
  calls(): string[];
}

/**
 * A package folder holding a copy of setup.sh and, unless told otherwise, node modules, the addon
 * and the compiled TypeScript, all up to date. `installed: 'none'` fakes dpkg-query to report
 * every package missing; `'real'` leaves the machine's own dpkg-query to answer.
 */
function sandbox(t: TestContext, { installed, built = true }: { installed: 'none' | 'real'; built?: boolean }): Sandbox {
  const dir = tempDir('cvchat-setup-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const log = path.join(dir, 'calls.log');
  const write = (file: string, text = '', mode = 0o644) => {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), text, { mode });
  };
  const record = (name: string) => `#!/bin/sh\necho "${name} $*" >> '${log}'\nexit 0\n`;
  fs.writeFileSync(log, '');

  write('scripts/setup.sh', fs.readFileSync(path.join(root, 'scripts', 'setup.sh'), 'utf8'), 0o755);
  write('package.json', JSON.stringify(packageJson));
  // Older than everything below, as after an `npm install`.
  const past = new Date(Date.now() - 3600_000);
  fs.utimesSync(path.join(dir, 'package.json'), past, past);
  write('node_modules/node-gyp-build/package.json', '{}');
  write('node_modules/typescript/package.json', '{}');
  write('node_modules/.package-lock.json', '{}');
  fs.mkdirSync(path.join(dir, 'dist'));
  if (built) {
    write('build/Release/cvchat.node', 'addon');
    write('dist/.built');
  }

  if (installed === 'none') write('fake-bin/dpkg-query', '#!/bin/sh\necho "dpkg-query: no packages found matching $*" >&2\nexit 1\n', 0o755);
  write('fake-bin/apt-get', record('apt-get'), 0o755);
  write('fake-bin/npm', record('npm'), 0o755);
  write('fake-bin/npx', record('npx'), 0o755);
  // For a run as a user other than root: password-less sudo that just runs the command.
  write('fake-bin/sudo', '#!/bin/sh\n[ "$1" = -n ] && shift\nexec "$@"\n', 0o755);
  return { dir, calls: () => fs.readFileSync(log, 'utf8').split('\n').filter(Boolean) };
}

async function runSetup(box: Sandbox, command: string) {
  const env = { ...process.env, PATH: `${path.join(box.dir, 'fake-bin')}:${process.env.PATH}` };
  return execFileP('sh', ['-c', command], { cwd: box.dir, env });
}

/** The packages of the recorded `apt-get install`. */
function installedPackages(calls: string[]): string[] {
  const install = calls.filter((c) => /^apt-get install\b/.test(c));
  assert.equal(install.length, 1, `one apt-get install; calls:\n${calls.join('\n')}`);
  return install[0].split(/\s+/).slice(2).filter((word) => !word.startsWith('-'));
}

describe('scripts/setup.sh installs what each npm command needs', () => {
  it('npm start: OpenCV and the build tools, none of the test or benchmark tools', async (t) => {
    const box = sandbox(t, { installed: 'none' });
    await runSetup(box, setupCommand('start'));
    const calls = box.calls();
    assert.deepEqual(calls.filter((c) => !c.startsWith('apt-get ')), [], 'only the apt step acts');
    const packages = installedPackages(calls);
    for (const p of ['libopencv-dev', 'libjpeg-dev', 'libavformat-dev', 'libavcodec-dev', 'libavutil-dev', 'libvpx-dev', 'pkg-config', 'g++', 'make', 'openssl']) assert.ok(packages.includes(p), `${p} in ${packages}`);
    for (const p of ['xvfb', 'xdotool', 'imagemagick', 'python3-opencv', 'python3-skimage', 'cmake', ...JANUS_PACKAGES]) {
      assert.ok(!packages.includes(p), `${p} not in ${packages}`);
    }
  });

  it('npm test: that and the test tools', async (t) => {
    const box = sandbox(t, { installed: 'none' });
    await runSetup(box, setupCommand('test'));
    const packages = installedPackages(box.calls());
    for (const p of ['libopencv-dev', 'xvfb', 'xdotool', 'imagemagick', 'python3-opencv', 'cmake', 'chromium', 'gstreamer1.0-plugins-ugly', ...JANUS_PACKAGES]) assert.ok(packages.includes(p), `${p} in ${packages}`);
    assert.ok(!packages.includes('python3-skimage'), `python3-skimage not in ${packages}`);
  });

  it('npm run bench: that and the benchmark tools', async (t) => {
    const box = sandbox(t, { installed: 'none' });
    await runSetup(box, setupCommand('bench'));
    const packages = installedPackages(box.calls());
    for (const p of ['libopencv-dev', 'python3-skimage', 'python3-opencv', 'xvfb', 'chromium', ...JANUS_PACKAGES]) assert.ok(packages.includes(p), `${p} in ${packages}`);
    for (const p of ['xdotool', 'imagemagick']) assert.ok(!packages.includes(p), `${p} not in ${packages}`);
  });

  it('npm run janus: Janus and its page\'s scripts alone, and nothing built', async (t) => {
    const box = sandbox(t, { installed: 'none', built: false });
    await runSetup(box, setupCommand('janus'));
    const calls = box.calls();
    assert.deepEqual(calls.filter((c) => !c.startsWith('apt-get ')), [], 'neither npm nor the compiler runs');
    assert.deepEqual(installedPackages(calls).sort(), [...JANUS_PACKAGES].sort());
  });

  // The test run has installed what tests need (npm test runs setup.sh first), and that includes
  // what running needs: the machine's own dpkg-query answers here.
  for (const script of ['start', 'test', 'janus'] as const) {
    it(`npm ${script} with everything in place: only checks, quietly`, async (t) => {
      const box = sandbox(t, { installed: 'real' });
      const { stdout, stderr } = await runSetup(box, setupCommand(script));
      assert.deepEqual(box.calls(), []);
      assert.equal(stdout + stderr, '');
    });
  }

  it('builds the addon and compiles the TypeScript when they are missing', async (t) => {
    const box = sandbox(t, { installed: 'real', built: false });
    await runSetup(box, setupCommand('start'));
    assert.deepEqual(box.calls(), ['npm run --silent build:native', 'npx --no-install tsc -p tsconfig.json']);
    assert.ok(fs.existsSync(path.join(box.dir, 'dist', '.built')), 'the compile is stamped');
  });
});
