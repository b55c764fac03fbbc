// A limit on the bytes the kernel keeps unsent for a TCP socket (TCP_NOTSENT_LOWAT, Linux and
// macOS). Below it the socket polls writable and Node's write callbacks complete; above it they
// wait. So the queue of frames a slow peer causes stays with us, where a newer frame can replace an
// old one, instead of piling up in the kernel's send buffer (megabytes on Linux), where nothing can.
import net from 'node:net';
import tls from 'node:tls';

import { checkInteger } from '../base/errors';
import { native } from '../media/addon';

/**
 * The parts of Node's internal stream handles read here (Node 20). A net.Socket's `_handle` is a
 * TCP handle (or a Pipe, for a Unix socket). A TLSSocket's `_handle` is a TLSWrap, whose `_parent`
 * is the handle beneath it: TCP, Pipe, or a JSStream over a Duplex with no fd of its own. The
 * TLSWrap itself is no help: its `fd` is whatever its parent's is, and it forwards setNoDelay
 * whatever its parent is.
 */
interface StreamHandle {
  fd?: unknown;
  setNoDelay?: unknown;
  _parent?: StreamHandle | null;
}

/** The file descriptor of the TCP socket beneath `socket`, or undefined when there is none. */
function tcpDescriptor(socket: net.Socket): number | undefined {
  const own = (socket as unknown as { _handle?: StreamHandle | null })._handle;
  const handle = socket instanceof tls.TLSSocket ? own?._parent : own;
  // Only TCP handles have setNoDelay; net.Socket#setNoDelay tells them apart the same way.
  if (!handle || typeof handle.setNoDelay !== 'function') return undefined;
  // -1 before libuv has made the socket (a connect still resolving its host), and on Windows.
  const fd = handle.fd;
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : undefined;
}

/**
 * Lets the kernel keep at most `bytes` unsent bytes for `socket` (plain or TLS; 0 lifts the limit).
 * False, changing nothing, where that cannot be done: a platform without the option, or a socket
 * with no TCP connection beneath it (destroyed, not yet connecting, a Unix socket, a TLS stream
 * over something else). Throws CVCHAT_SOCKET_OPTION when the kernel refuses.
 */
export function limitUnsentBytes(socket: net.Socket, bytes: number): boolean {
  checkInteger('bytes', bytes, 0, 2 ** 31 - 1);
  const fd = tcpDescriptor(socket);
  return fd === undefined ? false : native().setUnsentLimit(fd, bytes);
}
