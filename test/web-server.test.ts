// The web server's own rules, below any browser: the addresses it prints, and on the plain wire
// (no certificate name to check) the names it answers to, against DNS rebinding.
import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, it } from 'node:test';

import { pageAddresses } from '../lib/net/web';
import { Sender } from '../lib/session/sender';

function get(port: number, host: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path: '/', headers: { Host: host, ...headers } }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.once('error', reject);
  });
}

/** An upgrade to the WebSocket with this Host: the HTTP status of the answer. */
function upgrade(port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.request({
      host: '127.0.0.1', port, path: '/ws',
      headers: { Host: host, Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Protocol': 'cvchat.v1' },
    });
    request.once('upgrade', (response, socket) => {
      socket.destroy();
      resolve(response.statusCode ?? 0);
    });
    request.once('response', (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.once('error', reject);
    request.end();
  });
}

describe('web server', () => {
  it('prints one address per way to reach it, the key after #, IPv6 in brackets', () => {
    assert.deepEqual(pageAddresses('127.0.0.1', 8443, 'https', 'K3M9Q'), ['https://127.0.0.1:8443/#K3M9Q']);
    assert.deepEqual(pageAddresses('::1', 8080, 'http', ''), ['http://[::1]:8080/']);
    const any = pageAddresses('0.0.0.0', 8443, 'https', 'KEY');
    assert.equal(any[any.length - 1], 'https://localhost:8443/#KEY');
    assert.ok(any.every((url) => url.endsWith(':8443/#KEY') && !url.includes('fe80')), any.join(' '));
  });

  it('on the plain wire, answers only names that cannot be another site\'s (DNS rebinding)', async () => {
    const sender = new Sender({ source: 'test', insecure: true, host: '127.0.0.1', port: 0, web: { port: 0 } });
    await sender.start();
    const done = sender.run();
    try {
      const port = sender.webPage!.port;
      assert.equal(await get(port, `127.0.0.1:${port}`), 200);
      assert.equal(await get(port, `localhost:${port}`), 200);
      // A site whose name now points here: its page would be this page's own origin to a browser.
      assert.equal(await get(port, `attacker.example:${port}`), 421);
      assert.equal(await upgrade(port, `attacker.example:${port}`), 403);
      assert.equal(await upgrade(port, `127.0.0.1:${port}`), 101);
    } finally {
      await sender.stop();
      await done;
    }
  });
});
