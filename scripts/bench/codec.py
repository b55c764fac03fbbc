# The codec limit: OpenCV's own JPEG encode and decode of the scene's frames, one thread each.
# No JPEG pipeline can beat max(encode, decode) per frame. Prints JSON.
# Usage: codec.py SCENE W H QUALITY
import json
import sys
import time

import cv2
import numpy as np

cv2.setNumThreads(1)
path, w, h, quality = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
frames = np.fromfile(path, np.uint8).reshape(-1, h, w, 3)
params = [cv2.IMWRITE_JPEG_QUALITY, quality]
encoded = [cv2.imencode(".jpg", f, params)[1] for f in frames]  # warm-up
passes = max(1, 120 // len(frames))
start = time.perf_counter()
for _ in range(passes):
    encoded = [cv2.imencode(".jpg", f, params)[1] for f in frames]
encode_ms = (time.perf_counter() - start) * 1000 / (passes * len(frames))
start = time.perf_counter()
for _ in range(passes):
    for e in encoded:
        cv2.imdecode(e, cv2.IMREAD_COLOR)
decode_ms = (time.perf_counter() - start) * 1000 / (passes * len(frames))
print(json.dumps({"encodeMs": encode_ms, "decodeMs": decode_ms, "bytesPerFrame": sum(len(e) for e in encoded) / len(encoded),
                  "limitFps": 1000 / max(encode_ms, decode_ms)}))
