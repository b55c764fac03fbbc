// What janus-viewer.js uses of janus.js (Debian's libjs-janus-gateway 1.1) and WebRTC's adapter.js,
// classic scripts that janus.html loads first and that set the globals `Janus` and `adapter`.
// Only the calls made here are described, as janus.js documents them (janus.js.org, "JavaScript API").

interface JanusPluginMessage {
  streaming?: string;
  result?: { status?: string };
  error_code?: number;
  error?: string;
}

interface JanusJsep {
  type: string;
  sdp: string;
}

interface JanusPluginHandle {
  send(options: { message: Record<string, unknown>; jsep?: JanusJsep; success?: (data: unknown) => void; error?: (cause: string) => void }): void;
  createAnswer(options: {
    jsep: JanusJsep;
    tracks: Array<{ type: string; recv?: boolean; capture?: boolean }>;
    success: (answer: JanusJsep) => void;
    error: (cause: unknown) => void;
  }): void;
  /** The PeerConnection, once made. */
  webrtcStuff: { pc: RTCPeerConnection | null };
}

interface JanusAttachOptions {
  plugin: string;
  opaqueId?: string;
  success(handle: JanusPluginHandle): void;
  error(cause: string): void;
  onmessage?(message: JanusPluginMessage, jsep?: JanusJsep): void;
  onremotetrack?(track: MediaStreamTrack, mid: string, on: boolean, metadata?: unknown): void;
  iceState?(state: RTCIceConnectionState): void;
  webrtcState?(up: boolean, reason?: string): void;
  oncleanup?(): void;
}

interface JanusSessionOptions {
  server: string | string[];
  iceServers: RTCIceServer[];
  destroyOnUnload?: boolean;
  success(): void;
  error(cause: string): void;
  destroyed?(): void;
}

declare class Janus {
  constructor(options: JanusSessionOptions);
  static init(options: { debug?: boolean | string | string[]; dependencies?: unknown; callback(): void }): void;
  static useDefaultDependencies(deps?: Record<string, unknown>): unknown;
  static isWebrtcSupported(): boolean;
  static randomString(length: number): string;
  getSessionId(): number | null;
  isConnected(): boolean;
  attach(options: JanusAttachOptions): void;
  destroy(options?: { cleanupHandles?: boolean; notifyDestroyed?: boolean; unload?: boolean; success?(): void; error?(cause: string): void }): void;
}
