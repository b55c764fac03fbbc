# The seed's design, measured: the sender pickles each frame and sends struct.pack("Q") + bytes
# with sendall; the receiver reads 4 KiB at a time into a growing bytes object and unpickles, as
# the blog does. Frames come from the benchmark's scene in memory. The capture time is stamped into
# the first 8 bytes of each frame, so that the receiver can measure latency.
# Usage: seed.py sender SCENE W H PORT FPS     (serves one receiver, until it leaves)
#        seed.py receiver HOST PORT FRAMES SECONDS   (prints JSON; stops at FRAMES or SECONDS)
import json
import pickle
import resource
import socket
import struct
import sys
import time

import numpy as np


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024


if sys.argv[1] == "sender":
    path, w, h, port, fps = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
    frames = np.fromfile(path, np.uint8).reshape(-1, h, w, 3)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(5)
    print("ready", flush=True)
    client_socket, addr = s.accept()
    due = time.time()
    i = 0
    try:
        while True:
            if fps > 0:
                due += 1 / fps
                time.sleep(max(0, due - time.time()))
            frame = frames[i % len(frames)]
            frame.reshape(-1)[:8] = np.frombuffer(struct.pack("<d", time.time()), np.uint8)
            a = pickle.dumps(frame)
            client_socket.sendall(struct.pack("Q", len(a)) + a)
            i += 1
    except OSError:
        pass
    print(json.dumps({"cpuMsPerFrame": time.process_time() * 1000 / max(1, i), "framesSent": i, "rssMb": rss_mb()}), flush=True)
else:
    host, port, wanted, seconds = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    started = time.time()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.connect((host, port))
    data = b""
    payload_size = struct.calcsize("Q")
    latencies, times = [], []
    first = None
    warm_cpu = warm_time = None
    warm_at = max(1, wanted // 10)
    for n in range(wanted):
        while len(data) < payload_size:
            packet = s.recv(4 * 1024)
            if not packet:
                break
            data += packet
        msg_size = struct.unpack("Q", data[:payload_size])[0]
        data = data[payload_size:]
        while len(data) < msg_size:
            data += s.recv(4 * 1024)
        frame_data, data = data[:msg_size], data[msg_size:]
        frame = pickle.loads(frame_data)
        now = time.time()
        latencies.append((now - struct.unpack("<d", frame.reshape(-1)[:8].tobytes())[0]) * 1000)
        times.append(now)
        if first is None:
            first = now
        if n == warm_at:
            warm_cpu, warm_time = time.process_time(), now
        if seconds > 0 and now - started > seconds:
            break
    end = time.time()
    received = len(latencies)
    if warm_time is None:  # fewer frames than the warm-up mark: count them all
        warm_cpu, warm_time, warm_at = 0.0, started, -1
    frames_after = max(1, received - 1 - warm_at)
    print(json.dumps({"frames": received, "fps": frames_after / max(1e-3, end - warm_time), "latencyMs": latencies, "times": [t - started for t in times],
                      "cpuMsPerFrame": (time.process_time() - warm_cpu) * 1000 / frames_after, "bytesPerFrame": msg_size,
                      "ttffMs": (first - started) * 1000, "rssMb": rss_mb()}))
    s.close()
