// The package's API: capture, codecs and windows over OpenCV, and the sender and receiver.
export { CvchatError } from './errors';
export * from './video';
export { Sender, SENDER_WINDOW, type SenderOptions } from './sender';
export { Receiver, RECEIVER_WINDOW, type ReceiverOptions } from './receiver';
export { Chat, CHAT_WINDOW, type ChatOptions } from './chat';
export { FrameReader, frameHead, lengthHeader, readFrameMeta, type FrameMeta, type Wire } from './protocol';
export { getBackend } from './backends';
export { Display } from './display';
export { generateKey } from './security';
export { pickleImage, unpickleImage, type PickledImage } from './pickle';
