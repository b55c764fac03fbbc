// The package's API: capture, codecs and windows over OpenCV (media), the wire's bytes (wire),
// and the sender, receiver and chat (session).
export { CvchatError } from './base/errors';
export { VIDEO_CODECS, type CodecChoice, type VideoCodecName } from './base/codecs';
export * from './media/video';
export { getBackend } from './media/backends';
export { Display } from './media/display';
export { FrameReader, lengthHeader } from './wire/framing';
export { frameHead, readFrameMeta, type FrameMeta, type Wire } from './wire/meta';
export { readVideoPayload, type VideoFrameInfo, type VideoPayload } from './wire/video';
export { pickleImage, unpickleImage, type PickledImage } from './wire/pickle';
export { generateKey } from './net/tls';
export { Connection, type ConnectionOptions, type ConnectionEnd, type FrameTiming } from './net/connection';
export { Sender, SENDER_WINDOW, type SenderOptions } from './session/sender';
export { Receiver, RECEIVER_WINDOW, type ReceiverOptions } from './session/receiver';
export { Chat, CHAT_WINDOW, type ChatOptions } from './session/chat/chat';
export type { FrameSink, EncodedFrame } from './session/sinks';
