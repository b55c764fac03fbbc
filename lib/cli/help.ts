// What --help prints. Defaults come from base/limits, so the text cannot drift from the behaviour.
import {
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_VIEWERS,
  DEFAULT_PORT,
  DEFAULT_QUALITY,
  DEFAULT_TEST_FPS,
} from '../base/limits';

export type Command = 'demo' | 'sender' | 'receiver' | 'chat';

const COMMON = `  --no-window            run without a window (also chosen when there is no display)
  --frames N             exit with status 0 after N frames
  --stats                print one JSON stats line a second (and one at exit) on stdout
  --key KEY              the shared key (or set CVCHAT_KEY); a sender or chat makes one when none is given
  --insecure             the plain wire (8-byte length + JPEG): NO encryption or authentication;
                         for Python peers and trusted networks only
  --wire pickle          numpy pickles instead of JPEG, as Python scripts that send
                         struct.pack("Q", len(data)) + pickle.dumps(frame) do. Implies --insecure.
                         Uncompressed (tens of times more bytes than JPEG) and unauthenticated.
                         cvchat parses these pickles without running them, where Python's
                         pickle.loads would run whatever a peer sends
  --codec C              auto (default): H.264, else VP8, with cvchat peers that have it (several times
                         fewer bytes than JPEG for the same picture), JPEG with any other peer;
                         jpeg: JPEG frames only; h264 or vp8: that codec where the peer has it
  --backend NAME         native (default) or opencv4nodejs (install: bash scripts/install-opencv4nodejs.sh)
  -h, --help             this text`;

const RECORD = (what: string) => `  --record FILE          record ${what} to FILE: .mkv (Matroska) or .avi, JPEG frames stored as
                         they are, each at the time it was shown. Finished on q, Ctrl+C or SIGTERM;
                         after a crash or kill -9 an .mkv or .avi still plays up to its last whole
                         frame. An existing FILE is never overwritten`;

const SOURCE = `  --source SRC           camera index, video file, URL, GStreamer pipeline or "test"
                         (default 0, falling back to "test" when no camera opens)
  --size WxH             ask the camera for this size (test source: its size; default 640x480)
  --fps N                frames per second (default: the source's own; test ${DEFAULT_TEST_FPS}; 0: as fast as it gives)
  --quality Q            JPEG quality 1-100 (default ${DEFAULT_QUALITY}); on a slow link each cvchat peer
                         gets a lower quality, then a smaller picture, to keep up to the frame rate
  --no-adapt             every peer gets every frame at the full size and --quality (fewer frames
                         reach a slow link instead)
  --loop                 start a video file again at its end
  --no-passthrough       decode and encode again a source that delivers JPEG (an MJPEG camera, file
                         or stream, a pipeline ending in image/jpeg), which is otherwise sent as it
                         came wherever it fits a peer's link
  --label TEXT           test source: text on the picture; its bar colour follows from it
  --timecode             test source: the capture time as black and white squares in the bottom
                         right corner, which Janus's viewer page reads back as end-to-end latency`;

const WEB = (what: string) => `  --web PORT             also serve a web page on PORT: ${what}.
                         It prints the address to open, with the key after # (browsers never
                         send that part). https with a self-signed certificate made once and kept
                         (its SHA-256 fingerprint is printed: check it when the browser warns);
                         plain http with --insecure
  --web-cert FILE        the page's certificate (PEM) instead of the self-signed one; with --web-key FILE`;

const LIMITS = `  --max-frame-bytes N    refuse frames declared larger than this (default ${DEFAULT_MAX_FRAME_BYTES})
  --max-pixels N         refuse images declaring more pixels than this (default 7680x4320)
  --view WxH             show a larger stream scaled down to fit WxH (decoded smaller, which costs less;
                         JPEG and video frames, not the pickle wire)`;

export const MAIN_HELP = `cvchat: live video over TCP with OpenCV windows: each frame an 8-byte length and a JPEG.

Usage: npm start [command] [-- options]     (or: cvchat [command] [options])

Commands:
  demo       a sender and a receiver on this machine, both windows shown (the default)
  sender     capture and serve video to up to --max-viewers receivers
  receiver   connect to a sender and show its video
  chat       two-way video chat: run it on both machines, each naming the other

In every window: q or Esc leaves; h toggles the HUD; i toggles the chat's own-camera inset.
Run a command with --help for its options.`;

export const COMMAND_HELP: Record<Command, string> = {
  sender: `Usage: npm start sender [-- options]

Captures video and sends it to every receiver that connects, as 8-byte length + JPEG frames.
Window: "TRANSMITTING VIDEO" (q or Esc to stop).

  --host IP              address to listen on (default 0.0.0.0: all)
  --port N               port to listen on (default ${DEFAULT_PORT})
  --max-viewers N        receivers at once, browsers included (default ${DEFAULT_MAX_VIEWERS})
${WEB('browsers watch there, as viewers')}
  --publish URL          also publish the video to a media server, beside the direct viewers:
                         rtp://HOST:PORT sends RTP there (a Janus streaming mountpoint's port; the
                         sample mountpoint 1 takes VP8 on port 5004); janus://HOST[:PORT]/ID?secret=S
                         [&admin_key=K] finds Janus's mountpoint ID through its HTTP API (port
                         8088), or makes it. A fixed bitrate, a keyframe every 2 s. See npm run janus
  --publish-codec C      vp8 (default, RTP payload type 100) or h264 (96; needs gstreamer1.0-plugins-ugly)
  --publish-bitrate B    bits per second, e.g. 1500k or 2M (default 1.5M)
${RECORD('the source as sent at full quality')}
${SOURCE}
${COMMON}`,
  receiver: `Usage: npm start receiver [-- options]

Connects to a sender, waits for it if it is not up yet and reconnects when it restarts.
Window: "RECEIVING VIDEO" (q or Esc to stop, h toggles the HUD).

  --connect HOST:PORT    the sender (default 127.0.0.1:${DEFAULT_PORT})
${RECORD('the video as shown')}
${LIMITS}
${COMMON}`,
  chat: `Usage: npm start chat -- --listen [HOST:]PORT --peer HOST:PORT [options]

Two-way video: each side listens and calls the other, so start order does not matter. The first
connection is kept. Window: "VIDEO CHAT", the partner large and one's own camera as an inset.
q leaves the call on both sides (the partner sees "partner left"); a lost network reconnects.

  --listen [HOST:]PORT   where to accept the partner's call (default 0.0.0.0:${DEFAULT_PORT})
  --peer HOST:PORT       the partner's --listen address (asked for on a terminal; not needed with --web)
  --stay                 when the partner leaves, wait for a new call instead of exiting
${WEB('a browser joins the call there with its camera')}
${RECORD("the partner's video as shown")}
${SOURCE}
${LIMITS}
${COMMON}`,
  demo: `Usage: npm start [demo] [-- options]

Runs a sender and a receiver on this machine, joined over loopback, with both windows.
Camera 0 when it opens, else the built-in test picture.

${SOURCE}
${COMMON}`,
};
