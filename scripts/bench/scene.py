# The benchmark's scenes: a pan across real photographs (scikit-image's sample images) with mild
# noise (sigma 3, new in every frame, as a camera sensor's), so that JPEG sizes and codec times
# are those of camera-like content. Writes raw BGR frames of W x H to OUT.
# Usage: scene.py W H N OUT [STEP]
#   Without STEP: N frames that cross the whole panorama (at 720p and N = 30, 125 pixels a frame),
#   played in a loop: the JPEG benchmark's scene. A frame coded on its own (JPEG) does not care how
#   far the picture moved, but for a video codec this is a fast pan and a cut at every loop.
#   With STEP: a camera turning slowly, STEP pixels a frame for N frames, then back the same way
#   (2N - 2 frames in all), so that the loop has no cut: the video codec's scene.
import sys

import cv2
import numpy as np
from skimage import data

w, h, n, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
pan_step = int(sys.argv[5]) if len(sys.argv) > 5 else None
tiles = []
for name in ("astronaut", "coffee", "chelsea", "rocket", "cat"):
    image = getattr(data, name)()
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    image = cv2.cvtColor(image[:, :, :3], cv2.COLOR_RGB2BGR)
    tiles.append(cv2.resize(image, (int(image.shape[1] * h / image.shape[0]), h), interpolation=cv2.INTER_CUBIC))
panorama = np.concatenate(tiles, axis=1)
while panorama.shape[1] < w * 2:
    panorama = np.concatenate([panorama, panorama], axis=1)
if pan_step is None:
    step = max(1, (panorama.shape[1] - w) // max(1, n))
    offsets = [i * step for i in range(n)]
else:
    step = min(pan_step, (panorama.shape[1] - w) // max(1, n - 1))
    forward = [i * step for i in range(n)]
    offsets = forward + forward[-2:0:-1]
rng = np.random.default_rng(7)
with open(out, "wb") as f:
    for x in offsets:
        frame = panorama[:, x : x + w].astype(np.int16)
        frame += rng.normal(0, 3, frame.shape).astype(np.int16)
        f.write(np.clip(frame, 0, 255).astype(np.uint8).tobytes())
