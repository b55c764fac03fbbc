# The benchmark's scene: a slow pan across real photographs (scikit-image's sample images)
# with mild noise, so that JPEG sizes and codec times are those of camera-like content.
# Writes N raw BGR frames of W x H to OUT. Usage: scene.py W H N OUT
import sys

import cv2
import numpy as np
from skimage import data

w, h, n, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
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
step = max(1, (panorama.shape[1] - w) // max(1, n))
rng = np.random.default_rng(7)
with open(out, "wb") as f:
    for i in range(n):
        frame = panorama[:, i * step : i * step + w].astype(np.int16)
        frame += rng.normal(0, 3, frame.shape).astype(np.int16)
        f.write(np.clip(frame, 0, 255).astype(np.uint8).tobytes())
