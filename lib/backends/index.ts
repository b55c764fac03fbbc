import type { BackendName, VideoBackend } from '../backend';
import { invalidOption } from '../errors';
import { createNativeBackend } from './native';
import { createOpencv4nodejsBackend } from './opencv4nodejs';

const backends = new Map<BackendName, VideoBackend>();

export function getBackend(name: BackendName = 'native'): VideoBackend {
  if (name !== 'native' && name !== 'opencv4nodejs') {
    throw invalidOption('backend', "'native' or 'opencv4nodejs'", name);
  }
  let backend = backends.get(name);
  if (!backend) {
    backend = name === 'native' ? createNativeBackend() : createOpencv4nodejsBackend();
    backends.set(name, backend);
  }
  return backend;
}
