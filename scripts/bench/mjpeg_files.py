# The sources section's inputs, from the benchmark's scene (raw BGR frames): each frame as a JPEG
# file (cv2.imencode at QUALITY, 4:2:0, the libjpeg tables most cameras' MJPEG uses), and those
# JPEGs in a 30 fps MJPEG AVI muxed by GStreamer's avimux without re-encoding. The files feed the
# GStreamer stand-in of an MJPEG camera (multifilesrc), the AVI the file-source row: the same bytes.
# Usage: mjpeg_files.py SCENE W H QUALITY OUT.avi FRAME_DIR
import os
import subprocess
import sys

import cv2
import numpy as np

scene, w, h, quality, avi, frame_dir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
frames = np.fromfile(scene, np.uint8).reshape(-1, h, w, 3)
os.makedirs(frame_dir, exist_ok=True)
jpegs = []
for i, frame in enumerate(frames):
    ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    jpegs.append(jpeg.tobytes())
    with open(os.path.join(frame_dir, "f%03d.jpg" % i), "wb") as f:
        f.write(jpegs[-1])
caps = "image/jpeg,framerate=30/1,width=%d,height=%d" % (w, h)
# multifilesrc's byte segments make avimux print assertions (jpegparse, which would retime them, is
# in plugins-bad); the bytes are checked below, so its chatter is shown only when it fails.
muxed = subprocess.run(["gst-launch-1.0", "-q", "multifilesrc", "location=" + os.path.join(frame_dir, "f%03d.jpg"), "index=0",
                        "stop-index=%d" % (len(jpegs) - 1), "caps=" + caps, "!", "avimux", "!", "filesink", "location=" + avi],
                       capture_output=True, text=True)
if muxed.returncode != 0:
    sys.exit("gst-launch-1.0 could not make the AVI:\n" + muxed.stderr)
# The AVI's packets must be those JPEGs, as they are.
capture = cv2.VideoCapture(avi, cv2.CAP_FFMPEG)
capture.set(cv2.CAP_PROP_FORMAT, -1)
count = 0
while True:
    ok, packet = capture.read()
    if not ok:
        break
    if packet.tobytes() != jpegs[count]:
        sys.exit("the AVI's frame %d is not the JPEG written" % count)
    count += 1
if count != len(jpegs):
    sys.exit("read back %d of %d frames" % (count, len(jpegs)))
