# Picture quality of what a receiver showed: SSIM of each saved frame against the scene frame it
# was made from. The sender's memory source plays the scene's frames in a loop from frame 0 and
# numbers every captured frame from 0, so frame `seq` came from scene frame seq % N.
# Usage: ssim.py SCENE W H DIR   (SCENE: N raw BGR frames of W x H, as scene.py writes them)
#   DIR holds SEQ.jpg (a JPEG payload as received) or SEQ.png (a video codec's decoded picture,
#   lossless). Prints {"ssim": {"SEQ": value, ...}} as one line of JSON.
# SSIM as Wang et al. (2004) define it: on luma, an 11x11 Gaussian window of sigma 1.5,
# C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2, the mean of the map over the window's valid region.
import json
import os
import sys
from multiprocessing import Pool

import cv2
import numpy as np

C1 = (0.01 * 255) ** 2
C2 = (0.03 * 255) ** 2
HALF_WINDOW = 5  # of the 11x11 window: the border where it would reach outside the picture


def blur(image):
    return cv2.GaussianBlur(image, (11, 11), 1.5, borderType=cv2.BORDER_REPLICATE)


def ssim(a, b):
    a = a.astype(np.float32)
    b = b.astype(np.float32)
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a * mu_a
    var_b = blur(b * b) - mu_b * mu_b
    cov = blur(a * b) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + C1) * (2 * cov + C2)) / ((mu_a * mu_a + mu_b * mu_b + C1) * (var_a + var_b + C2))
    h = HALF_WINDOW
    return float(ssim_map[h:-h, h:-h].mean())


def luma(bgr):
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)


def init(scene_path, w, h):
    global scene_luma
    frames = np.fromfile(scene_path, np.uint8).reshape(-1, h, w, 3)
    scene_luma = [luma(f) for f in frames]


def measure(path):
    seq = int(os.path.basename(path).split(".")[0])
    shown = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR)
    if shown is None:
        return seq, None
    target = scene_luma[0].shape
    if shown.shape[:2] != target:
        # A smaller frame is shown scaled up to the window, as the receiver's window does it.
        shown = cv2.resize(shown, (target[1], target[0]), interpolation=cv2.INTER_LINEAR)
    return seq, ssim(luma(shown), scene_luma[seq % len(scene_luma)])


if __name__ == "__main__":
    scene_path, w, h, folder = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    files = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith((".jpg", ".png")))
    # Nothing else runs while this does, so it may use every core.
    with Pool(os.cpu_count() or 1, initializer=init, initargs=(scene_path, w, h)) as pool:
        results = pool.map(measure, files, chunksize=8)
    print(json.dumps({"ssim": {str(seq): value for seq, value in results}}))
