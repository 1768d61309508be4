/**
 * A throwaway certificate authority for TLS tests, made with the openssl CLI: a CA, server
 * certificates for given DNS names and IPs, and client certificates (for mTLS). Files are PEM in
 * `dir`; nothing is trusted outside the test that made them.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export type Pem = { cert: string; key: string; certPath: string; keyPath: string };

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function pemOf(dir: string, name: string): Pem {
  const certPath = path.join(dir, `${name}.crt`);
  const keyPath = path.join(dir, `${name}.key`);
  return { cert: fs.readFileSync(certPath, 'utf8'), key: fs.readFileSync(keyPath, 'utf8'), certPath, keyPath };
}

/** A self-signed CA (EC P-256, one day). */
export function makeCa(dir: string, name = 'ca', subject = '/CN=mlo test CA'): Pem {
  fs.mkdirSync(dir, { recursive: true });
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`], dir);
  openssl(
    [
      'req',
      '-x509',
      '-new',
      '-key',
      `${name}.key`,
      '-sha256',
      '-days',
      '1',
      '-subj',
      subject,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-out',
      `${name}.crt`,
    ],
    dir,
  );
  return pemOf(dir, name);
}

/** A leaf certificate signed by `ca`: a server's (names in subjectAltName) or a client's. */
export function makeLeaf(
  dir: string,
  ca: Pem,
  name: string,
  opts: { dns?: string[]; ips?: string[]; client?: boolean },
): Pem {
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`], dir);
  openssl(['req', '-new', '-key', `${name}.key`, '-subj', `/CN=${opts.dns?.[0] ?? name}`, '-out', `${name}.csr`], dir);
  const san = [...(opts.dns ?? []).map((d) => `DNS:${d}`), ...(opts.ips ?? []).map((i) => `IP:${i}`)];
  const ext = [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage=${opts.client ? 'clientAuth' : 'serverAuth'}`,
    ...(san.length > 0 ? [`subjectAltName=${san.join(',')}`] : []),
  ].join('\n');
  fs.writeFileSync(path.join(dir, `${name}.ext`), `${ext}\n`);
  openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      ca.certPath,
      '-CAkey',
      ca.keyPath,
      '-CAcreateserial',
      '-days',
      '1',
      '-sha256',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.crt`,
    ],
    dir,
  );
  return pemOf(dir, name);
}
