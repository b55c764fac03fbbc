# A viewer that never ACKs, as the classic Python receiver: it reads the plain wire (an 8-byte
# length, then a JPEG) from a cvchat sender run with --insecure, and decodes each frame with
# cv2.imdecode. cvchat's APP11 segment in each JPEG carries the capture time (wall clock, ms), so
# latency is measured on one machine's clock without changing what the viewer does.
# Usage: plain_viewer.py HOST PORT SECONDS   (prints {"fps", "latencyMs": [...], "bytesPerFrame"} as JSON)
import json
import socket
import struct
import sys
import time

import cv2
import numpy as np

from framing import read_exactly

META_TAG = b"CVCHAT\0"


def capture_time(jpeg):
    """The capture time cvchat stamped into the frame's first APP11 segment, or None."""
    if len(jpeg) < 41 or jpeg[2:4] != b"\xff\xeb" or jpeg[6:13] != META_TAG:
        return None
    return struct.unpack_from("<d", jpeg, 6 + len(META_TAG) + 1 + 4)[0]



host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
sock = socket.create_connection((host, port))
latencies, sizes = [], []
started = None
try:
    while started is None or time.time() - started < seconds:
        (length,) = struct.unpack("<Q", read_exactly(sock, 8))
        jpeg = read_exactly(sock, length)
        picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        now = time.time() * 1000
        started = started or now / 1000
        stamp = capture_time(jpeg)
        if picture is not None and stamp is not None:
            latencies.append(now - stamp)
            sizes.append(length)
except EOFError:
    pass
elapsed = time.time() - (started or time.time())
print(json.dumps({"fps": len(latencies) / max(elapsed, 1e-3), "latencyMs": latencies, "bytesPerFrame": sum(sizes) / max(1, len(sizes))}), flush=True)
