import { invalidOption } from '../../base/errors';
import type { BackendName, VideoBackend } from '../backend';
import { createNativeBackend } from './native';
import { createOpencv4nodejsBackend, isOpencv4nodejsFrame } from './opencv4nodejs';

const backends = new Map<BackendName, VideoBackend>();

export function checkBackendName(name: unknown, optionName = 'backend'): BackendName {
  if (name !== 'native' && name !== 'opencv4nodejs') throw invalidOption(optionName, "'native' or 'opencv4nodejs'", name);
  return name;
}

export function getBackend(name: BackendName = 'native'): VideoBackend {
  checkBackendName(name);
  let backend = backends.get(name);
  if (!backend) {
    backend = name === 'native' ? createNativeBackend() : createOpencv4nodejsBackend();
    backends.set(name, backend);
  }
  return backend;
}

/** The backend that made `frame`, or undefined when it is not a frame of either. */
export function backendOf(frame: unknown): VideoBackend | undefined {
  // An opencv4nodejs frame can exist only once that backend is loaded, so it is asked first
  // without loading anything; the native addon is loaded on demand.
  if (isOpencv4nodejsFrame(frame)) return getBackend('opencv4nodejs');
  const nativeBackend = getBackend('native');
  return nativeBackend.owns(frame) ? nativeBackend : undefined;
}
