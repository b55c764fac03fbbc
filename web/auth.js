// @ts-check
// The key check, both ways, with WebCrypto. The key never travels (it sits in the address's
// fragment, which browsers do not send): each side proves it holds it by an HMAC over both sides'
// random nonces, so neither a recorded answer nor an impostor server passes.

const utf8 = (/** @type {string} */ text) => new TextEncoder().encode(text);
const SALT = utf8('cvchat web salt v1');
const INFO = utf8('cvchat web auth v1');
const CLIENT_LABEL = utf8('cvchat web client v1');
const SERVER_LABEL = utf8('cvchat web server v1');
const NONCE_BYTES = 32;

/** crypto.subtle exists only in secure contexts (https, or http on localhost). */
export const canCheckKeys = () => typeof crypto !== 'undefined' && crypto.subtle !== undefined;

/** @param {Uint8Array} bytes */
export const toBase64 = (bytes) => btoa(String.fromCharCode(...bytes));

/** Standard base64 to bytes; null when it is not base64. @param {unknown} text */
export function fromBase64(text) {
  if (typeof text !== 'string') return null;
  try {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

/** @param {Uint8Array[]} parts */
function joined(...parts) {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** HKDF-SHA256 of the key, as an HMAC-SHA256 key. @param {string} key */
async function authKeyOf(key) {
  const ikm = await crypto.subtle.importKey('raw', utf8(key), 'HKDF', false, ['deriveKey']);
  return crypto.subtle.deriveKey({ name: 'HKDF', hash: 'SHA-256', salt: SALT, info: INFO }, ikm, { name: 'HMAC', hash: 'SHA-256', length: 256 }, false, ['sign', 'verify']);
}

/**
 * Our answer to the server's challenge, and the check of the proof its welcome will carry.
 * Null when the server's nonce is not 32 bytes of base64.
 * @param {string} key @param {unknown} serverNonceBase64
 * @returns {Promise<{ proof: { type: 'proof', nonce: string, proof: string }, verifyServer: (proof: unknown) => Promise<boolean> } | null>}
 */
export async function answerChallenge(key, serverNonceBase64) {
  const serverNonce = fromBase64(serverNonceBase64);
  if (!serverNonce || serverNonce.length !== NONCE_BYTES) return null;
  const authKey = await authKeyOf(key);
  const clientNonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
  const proof = new Uint8Array(await crypto.subtle.sign('HMAC', authKey, joined(CLIENT_LABEL, serverNonce, clientNonce)));
  return {
    proof: { type: 'proof', nonce: toBase64(clientNonce), proof: toBase64(proof) },
    async verifyServer(serverProofBase64) {
      const serverProof = fromBase64(serverProofBase64);
      return serverProof !== null && crypto.subtle.verify('HMAC', authKey, serverProof, joined(SERVER_LABEL, serverNonce, clientNonce));
    },
  };
}
