# The plain wire's reading side, shared by the benchmark's Python viewers: exactly n bytes from a
# socket, read in chunks of at most 1 MiB and joined once.
def read_exactly(sock, n):
    parts = []
    while n > 0:
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            raise EOFError
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)
