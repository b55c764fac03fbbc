// Listening, for the sender and each side of a chat: the errors users meet named with the option
// that fixes them, and a lasting 'error' listener once listening, so that a failed accept (too
// many open files, say) is reported and the server carries on instead of ending the process.
import type net from 'node:net';

import { formatAddress, type Address } from '../base/address';
import { CvchatError } from '../base/errors';

export interface ListenNames {
  /** The option that sets the port, for "choose another with ..." (--port, --listen). */
  port: string;
  /** The option, with its value, that listens on every address (--host 0.0.0.0, --listen 0.0.0.0:9999). */
  anyHost: string;
  /** What usually holds the port, for "(another cvchat sender?)". */
  usualHolder: string;
}

function explain(error: NodeJS.ErrnoException, at: Address, names: ListenNames): CvchatError {
  const where = formatAddress(at);
  switch (error.code) {
    case 'EADDRINUSE':
      return new CvchatError('CVCHAT_PORT_IN_USE', `Port ${at.port} is already in use on ${at.host} (${names.usualHolder}?). Stop it or choose another with ${names.port}`);
    case 'EADDRNOTAVAIL':
      return new CvchatError('CVCHAT_BAD_ADDRESS', `${at.host} is not an address of this machine; use ${names.anyHost} to listen on all of them`);
    case 'EACCES':
      return new CvchatError('CVCHAT_PORT_DENIED', `Not allowed to listen on ${where}; ports below 1024 need root: choose ${names.port} 9999 or above`);
    default:
      return new CvchatError('CVCHAT_LISTEN_FAILED', `Could not listen on ${where}: ${error.message}`);
  }
}

/** What a failed accept means for the user, and what to do about it. */
function explainAcceptError(error: NodeJS.ErrnoException): CvchatError {
  if (error.code === 'EMFILE' || error.code === 'ENFILE') {
    return new CvchatError('CVCHAT_TOO_MANY_FILES', `cannot accept connections: this process has too many open files (${error.code}); it keeps trying. Raise the limit (ulimit -n) or lower --max-viewers`);
  }
  return new CvchatError('CVCHAT_ACCEPT_FAILED', `cannot accept a connection (${error.code ?? error.message}); it keeps trying`);
}

/**
 * Starts `server` listening at `at`. Resolves once it listens; rejects with a CvchatError that
 * names the problem and the option to change. Errors after that (failed accepts) go to `onError`,
 * at most once a second, and the server keeps listening.
 */
export function listen(server: net.Server, at: Address, names: ListenNames, onError: (error: CvchatError) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const onStartError = (error: NodeJS.ErrnoException) => reject(explain(error, at, names));
    server.once('error', onStartError);
    // The default backlog: it bounds connections not yet accepted, not viewers (--max-viewers does that).
    server.listen({ host: at.host, port: at.port }, () => {
      server.off('error', onStartError);
      let lastReport = -Infinity;
      server.on('error', (error: NodeJS.ErrnoException) => {
        // An accept that fails keeps failing while its cause lasts: say so once a second, not per try.
        const now = performance.now();
        if (now - lastReport < 1000) return;
        lastReport = now;
        onError(explainAcceptError(error));
      });
      resolve();
    });
  });
}

/** The port a listening server has (the one asked for before it listens, 0 meaning "any"). */
export function listeningPort(server: net.Server, requested: number): number {
  const address = server.address();
  return typeof address === 'object' && address ? address.port : requested;
}
