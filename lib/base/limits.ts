// Every limit and default of cvchat, in one place. Options checks, the wire, the sockets and the
// sessions all read them from here, so a limit is changed once and the help text, the errors and
// the behaviour agree.

// What the user can set, with its default and its range.
export const DEFAULT_PORT = 9999;
export const DEFAULT_QUALITY = 80;
export const DEFAULT_MAX_VIEWERS = 5;
export const MAX_VIEWERS = 1000;
export const MAX_FPS = 1000;
export const DEFAULT_TEST_FPS = 30;
/** A file's own frame rate is trusted up to this; above it (or unknown) files play at the test rate. */
export const MAX_FILE_FPS = 240;

// What a peer may send. Each is checked before anything is allocated or decoded.
/** Declared frame lengths above this are refused (--max-frame-bytes). */
export const DEFAULT_MAX_FRAME_BYTES = 32 * 1024 * 1024;
export const MAX_FRAME_BYTES = 2 ** 31;
/** 8K UHD: images whose header declares more pixels are refused (--max-pixels). */
export const DEFAULT_MAX_PIXELS = 7680 * 4320;
export const MAX_PIXELS = 2 ** 31;
/** The largest side of a picture anywhere in cvchat (sizes, writers, raw pixels). */
export const MAX_DIMENSION = 16384;
/** Control messages (BUSY, BYE, HELLO, ACK, PLAIN) are short text; longer "CVCHAT:" payloads are frames. */
export const MAX_CONTROL_BYTES = 4096;
/** A viewer sends only ACKs: any payload declared larger than this ends it. */
export const MAX_VIEWER_PAYLOAD_BYTES = 256;

// Time limits.
/** A TLS handshake must finish in this long. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/** A dial gives up when the connection and its handshake take longer than this. */
export const DIAL_TIMEOUT_MS = HANDSHAKE_TIMEOUT_MS + 5000;
/** Connections in their TLS handshake at once; more are refused until some finish. */
export const MAX_PENDING_HANDSHAKES = 64;
/** A connection that delivers no complete payload for this long is closed (a byte-a-minute drip). */
export const DEFAULT_IDLE_TIMEOUT_MS = 10_000;
/** A peer that takes no frame for this long while one waits for it is cut off, freeing its slot. */
export const DEFAULT_STALL_TIMEOUT_MS = 20_000;
/** Longest accepted idle and stall timeouts (an hour). */
export const MAX_TIMEOUT_MS = 3_600_000;
/** A connection being closed gets this long to take what was sent before it is destroyed. */
export const CLOSE_GRACE_MS = 500;
/** A refused viewer gets this long to read why (BUSY). */
export const BUSY_GRACE_MS = 1000;

// Flow control.
/** Frames in flight to an acknowledging peer: one decoding while the next travels. */
export const MAX_UNACKED = 2;
/**
 * A peer inside TLS (a cvchat, so it ACKs) gets its first frame alone, and the next when that is
 * acknowledged or after this long: long enough for a 720p JPEG on a 2 Mbit/s link, short enough
 * that a peer that never ACKs only sees a pause at its start.
 */
export const FIRST_ACK_WAIT_MS = 1500;
/** Sent frames remembered for their timing while unacknowledged; a peer that stops acking stays bounded. */
export const MAX_TRACKED_FRAMES = 64;
/**
 * Unsent bytes the kernel may keep per connection (TCP_NOTSENT_LOWAT): about half a 720p frame.
 * Above it, writes wait in the process, where a newer frame replaces an older one; Linux would
 * otherwise queue megabytes, seconds of video on a slow link, for a peer that does not ACK.
 */
export const DEFAULT_UNSENT_LIMIT_BYTES = 64 * 1024;
/**
 * Operating points encoded per frame at most: with more viewers at more points, the viewers of the
 * points left out get the next point with fewer bytes, so CPU does not grow with the audience.
 */
export const MAX_POINTS_PER_FRAME = 3;
/** Decodes in flight per connection: two keep both cores busy when frames come faster than one decoder. */
export const MAX_DECODES = 2;
/**
 * Video frames waiting for their stream's decoder (which takes them one at a time, in order). A
 * sender keeps at most MAX_UNACKED unacknowledged; more come only from a peer that ignores that.
 */
export const MAX_QUEUED_VIDEO_FRAMES = 8;

// Reconnecting.
/** After a failed dial: the first pause, doubling to the longest. */
export const BACKOFF_FIRST_MS = 200;
export const BACKOFF_MAX_MS = 2000;
/** After a session that showed frames, try again soon: the peer was there a moment ago. */
export const RETRY_AFTER_SESSION_MS = 50;
/** Sessions in a row that may end without a frame shown before redialling backs off as after a failed dial. */
export const FRAMELESS_SESSIONS_BEFORE_BACKOFF = 5;

// Keys.
export const MIN_KEY_LENGTH = 12;

// Chat.
/** Connections to or from the partner that may be open at once while one is chosen. */
export const MAX_PARTNER_LINKS = 4;
/**
 * The largest WebSocket message a chat's web page may send, before and after it proves the key:
 * the page splits its frames into messages of 64 KiB (web/link.js), so none is buffered whole.
 */
export const MAX_WEB_CHAT_MESSAGE_BYTES = 256 * 1024;
