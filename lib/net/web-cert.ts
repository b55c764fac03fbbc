// The web page's certificate: the one the user gives (--web-cert, --web-key), or a self-signed one
// made on first use and kept, so that a browser that was shown its fingerprint once can recognise
// it later. Node cannot make an X.509 certificate, so the kept library of the field does: openssl.
import { execFile } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { CvchatError } from '../base/errors';

export interface WebCertificate {
  /** PEM text, for https.createServer. */
  cert: string;
  key: string;
  /** SHA-256 of the certificate, as browsers show it (AB:CD:...). */
  fingerprint: string;
  /** given: --web-cert and --web-key; made: self-signed just now; kept: self-signed earlier. */
  origin: 'given' | 'made' | 'kept';
  /** Where the certificate is. */
  certPath: string;
  /** A given certificate past its end date (browsers refuse it; the user is told). */
  expired?: boolean;
}

export interface WebCertificateOptions {
  certFile?: string;
  keyFile?: string;
  /** Where a self-signed certificate is kept (default: CVCHAT_CONFIG_DIR, else ~/.config/cvchat). */
  dir?: string;
}

/** The directory cvchat keeps its files in: CVCHAT_CONFIG_DIR, else $XDG_CONFIG_HOME/cvchat, else ~/.config/cvchat. */
export function configDir(): string {
  if (process.env.CVCHAT_CONFIG_DIR) return process.env.CVCHAT_CONFIG_DIR;
  const base = process.env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
  return path.join(base, 'cvchat');
}

/** The certificate the page is served with; see the module comment. */
export async function webCertificate(options: WebCertificateOptions = {}): Promise<WebCertificate> {
  if ((options.certFile === undefined) !== (options.keyFile === undefined)) {
    throw new CvchatError('CVCHAT_INVALID_OPTION', '--web-cert and --web-key go together: give both (a certificate and its private key, PEM), or neither for a self-signed one');
  }
  if (options.certFile !== undefined && options.keyFile !== undefined) {
    const cert = await readPem(options.certFile, '--web-cert');
    const key = await readPem(options.keyFile, '--web-key');
    const { fingerprint, expired } = checkPair(cert, key, `--web-cert ${options.certFile} and --web-key ${options.keyFile}`);
    return { fingerprint, expired, cert, key, origin: 'given', certPath: options.certFile };
  }
  const dir = options.dir ?? configDir();
  const certPath = path.join(dir, 'web-cert.pem');
  const keyPath = path.join(dir, 'web-key.pem');
  const kept = await readKept(certPath, keyPath);
  if (kept) return { ...kept, origin: 'kept', certPath };
  await makeSelfSigned(dir, certPath, keyPath);
  // Two first runs at once each rename their pair into place, key then certificate: a read between
  // the other's two renames sees a mismatch, which its second rename ends a moment later.
  for (let attempt = 0; attempt < 10; attempt++) {
    const made = await readKept(certPath, keyPath);
    if (made) return { ...made, origin: 'made', certPath };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new CvchatError('CVCHAT_CERTIFICATE', `openssl made no usable certificate in ${dir}`);
}

async function readPem(file: string, option: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (error) {
    throw new CvchatError('CVCHAT_CERTIFICATE', `Cannot read ${option} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/** The pair's fingerprint, once the certificate parses, the key parses and the two belong together. */
function checkPair(cert: string, key: string, what: string): { fingerprint: string; expired: boolean } {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    throw new CvchatError('CVCHAT_CERTIFICATE', `${what}: the certificate is not a PEM X.509 certificate`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new CvchatError('CVCHAT_CERTIFICATE', `${what}: the key is not an unencrypted PEM private key`);
  }
  if (!x509.checkPrivateKey(privateKey)) throw new CvchatError('CVCHAT_CERTIFICATE', `${what}: the key does not belong to the certificate`);
  return { fingerprint: x509.fingerprint256, expired: Date.parse(x509.validTo) < Date.now() };
}

/**
 * The kept self-signed pair, or null when there is none (or it expired, or is damaged: it is made
 * again). A kept key that others may read is not used: anyone who can read it can pose as the page.
 */
async function readKept(certPath: string, keyPath: string): Promise<Omit<WebCertificate, 'origin' | 'certPath'> | null> {
  let cert: string;
  let key: string;
  const mode = await fs.stat(keyPath).then((stats) => stats.mode, () => null);
  if (mode !== null && (mode & 0o077) !== 0) {
    throw new CvchatError('CVCHAT_CERTIFICATE', `The web page's kept key ${keyPath} can be read by other users: run chmod 600 ${keyPath}, or delete it (and ${certPath}) to have a new pair made`);
  }
  try {
    [cert, key] = await Promise.all([fs.readFile(certPath, 'utf8'), fs.readFile(keyPath, 'utf8')]);
  } catch {
    return null;
  }
  try {
    const { fingerprint, expired } = checkPair(cert, key, certPath);
    return expired ? null : { cert, key, fingerprint };
  } catch {
    return null;
  }
}

/** Names a browser may reach this machine by, for the certificate's subjectAltName. */
function altNames(): string {
  const names = new Set(['DNS:localhost', 'IP:127.0.0.1', 'IP:::1']);
  const host = os.hostname();
  if (/^[A-Za-z0-9.-]{1,253}$/.test(host)) names.add(`DNS:${host}`);
  for (const addresses of Object.values(os.networkInterfaces())) {
    for (const address of addresses ?? []) if (!address.internal) names.add(`IP:${address.address.replace(/%.*$/, '')}`);
  }
  return [...names].join(',');
}

/** An ECDSA P-256 self-signed certificate, written next to its key (readable by this user only). */
async function makeSelfSigned(dir: string, certPath: string, keyPath: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  // Written under temporary names and renamed: a reader never sees half a pair.
  const tmpCert = `${certPath}.${process.pid}.tmp`;
  const tmpKey = `${keyPath}.${process.pid}.tmp`;
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-sha256', '-days', '825',
    '-subj', '/CN=cvchat', '-addext', `subjectAltName=${altNames()}`, '-keyout', tmpKey, '-out', tmpCert];
  try {
    await new Promise<void>((resolve, reject) => {
      execFile('openssl', args, { timeout: 30_000 }, (error, _stdout, stderr) => {
        if (!error) resolve();
        else if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
          reject(new CvchatError('CVCHAT_CERTIFICATE', 'Making the web page\'s certificate needs openssl, which is not installed: install it (apt-get install openssl), or give --web-cert and --web-key'));
        } else reject(new CvchatError('CVCHAT_CERTIFICATE', `openssl could not make a certificate: ${String(stderr).trim().split('\n').pop() || error.message}`));
      });
    });
    await fs.chmod(tmpKey, 0o600);
    await fs.rename(tmpKey, keyPath);
    await fs.rename(tmpCert, certPath);
  } finally {
    await Promise.all([fs.rm(tmpCert, { force: true }), fs.rm(tmpKey, { force: true })]);
  }
}
