# The plain Python cv2 loop a user would write to stream a video file, for the file-source row:
# the sender reads a frame (OpenCV decodes it), encodes it with cv2.imencode at the quality cvchat
# uses, and sends an 8-byte length and the JPEG with sendall; the receiver reads both and decodes
# with cv2.imdecode. The file plays in a loop, as fast as the two sides go.
# Usage: file_loop.py sender FILE PORT QUALITY   (serves one receiver; prints its CPU per frame as JSON at the end)
#        file_loop.py receiver HOST PORT FRAMES   (prints {"fps", "cpuMsPerFrame", "bytesPerFrame"} as JSON)
import json
import socket
import struct
import sys
import time

import cv2
import numpy as np

from framing import read_exactly



if sys.argv[1] == "sender":
    path, port, quality = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(1)
    print("ready", flush=True)
    client, _ = server.accept()
    capture = cv2.VideoCapture(path)
    sent = 0
    # CPU from here: importing cv2 and waiting for the receiver are not per-frame work.
    started_cpu = time.process_time()
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                continue
            ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
            data = jpeg.tobytes()
            client.sendall(struct.pack("<Q", len(data)) + data)
            sent += 1
    except OSError:
        pass
    print(json.dumps({"cpuMsPerFrame": (time.process_time() - started_cpu) * 1000 / max(1, sent), "framesSent": sent}), flush=True)
else:
    host, port, wanted = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    sock = socket.create_connection((host, port))
    warm_at = max(1, wanted // 10)
    sizes = 0
    warm = None
    for n in range(wanted):
        (length,) = struct.unpack("<Q", read_exactly(sock, 8))
        jpeg = read_exactly(sock, length)
        picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        if picture is None:
            sys.exit("a frame did not decode")
        if n == warm_at:
            warm = (time.time(), time.process_time())
        elif n > warm_at:
            sizes += length
    counted = wanted - 1 - warm_at
    elapsed = time.time() - warm[0]
    print(json.dumps({"fps": counted / elapsed, "cpuMsPerFrame": (time.process_time() - warm[1]) * 1000 / counted, "bytesPerFrame": sizes / counted, "frames": wanted}), flush=True)
