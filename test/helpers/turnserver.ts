import { execFile, spawn } from 'node:child_process'
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { createHash, randomBytes, randomInt, X509Certificate } from 'node:crypto'
import tls from 'node:tls'
import { promisify } from 'node:util'
import { ATTR, METHOD, UDP_PROTOCOL, attribute, decode, encode, errorOf, u32, xorAddress, stunBinding, turnRealm, type AllocateResult, type StunMessage } from './turn-allocate.js'
import { exited, tcpPortFree, udpPortFree } from './processes.js'

/**
 * Starts Debian's coturn (`turnserver`) on 127.0.0.1 as a foreground child process with a generated
 * config (use-auth-secret + static-auth-secret lines), for tests that prove credentials against a real
 * TURN server. See /work/shared/recipes/turn-credentials.md §5-6 for why ports are chosen as they are.
 */

interface TestLike {
  teardown (fn: () => unknown): void
  fail (message: string): void
  comment (message: string): void
}

export function binaryOnPath (name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue
    const candidate = join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {}
  }
  return undefined
}

/**
 * `{ skip }` option for tests that need a system binary: a loud skip locally, a FAILURE under CI=true
 * (a CI image without coturn must not pass by skipping the TURN proofs).
 */
export function requireBinaries (t: TestLike, ...names: string[]): { skip: string | false } {
  const missing = names.filter((n) => binaryOnPath(n) === undefined)
  if (missing.length === 0) return { skip: false }
  const packages = [...new Set(missing.map((n) => n === 'openssl' ? 'openssl' : 'coturn'))].join(' and ')
  const reason = `${missing.join(', ')} not found on PATH (install the ${packages} package)`
  if (process.env.CI === 'true') {
    t.fail(`CI=true: ${reason}; the coturn-backed tests cannot be skipped in CI`)
  } else {
    t.comment(`!!! SKIPPING coturn-backed tests: ${reason} !!!`)
  }
  return { skip: reason }
}

export interface TurnServer {
  host: '127.0.0.1'
  port: number
  /** The TLS (turns:) listener, when started with `tls`. */
  tlsPort?: number
  realm: string
  /** What coturn wrote to its log file so far (for failure messages). */
  log (): string
  stop (): Promise<void>
}

export interface TurnServerOptions {
  /** static-auth-secret lines, tried in turn by coturn (several = rotation window). */
  secrets: string[]
  /**
   * PEM files for a TLS listener (turns:) on a port of its own. Without it coturn runs with no-tls,
   * as before. DTLS stays off either way: browsers do not speak DTLS to TURN servers.
   */
  tls?: { certFile: string, keyFile: string }
  /** Also listen on ::1 (relays stay IPv4 on 127.0.0.1): a client there has no IPv4 path but its relay. */
  ipv6?: boolean
  /**
   * Listen on this port (a TURN server coming back where a stopped one was, as clients' ICE servers
   * still name it) instead of a free one picked at random. It must be free for UDP and TCP.
   */
  port?: number
}

/**
 * A listening port below the ephemeral range (32768-60999, where a client socket can squat it) that is
 * free for both UDP and TCP. coturn binds with SO_REUSEPORT, so a busy port would not make it fail:
 * it would silently share packets with another server. Hence the explicit check (and the realm check later).
 */
async function freeListeningPort (): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = randomInt(20000, 32000)
    if (await udpPortFree(port) && await tcpPortFree(port)) return port
  }
  throw new Error('no free UDP+TCP port found in 20000-31999')
}

export async function startTurnServer (t: TestLike, options: TurnServerOptions): Promise<TurnServer> {
  const port = options.port ?? await freeListeningPort()
  if (options.port !== undefined && !(await udpPortFree(port) && await tcpPortFree(port))) throw new Error(`port ${port} is taken: cannot start turnserver there`)
  const dir = mkdtempSync(join(tmpdir(), 'swb-coturn-'))
  let tlsPort: number | undefined
  while (options.tls !== undefined && (tlsPort === undefined || tlsPort === port)) tlsPort = await freeListeningPort()
  // Relay ports above the ephemeral range; a random block so parallel test files rarely overlap
  // (coturn picks another port in its range when one is taken).
  const minRelay = randomInt(61000, 65400)
  const realm = `swb-${randomBytes(4).toString('hex')}.test`
  const logFile = join(dir, 'turnserver.log')
  const conf = [
    'listening-ip=127.0.0.1',
    ...(options.ipv6 === true ? ['listening-ip=::1'] : []),
    'relay-ip=127.0.0.1',
    `listening-port=${port}`,
    `min-port=${minRelay}`,
    `max-port=${minRelay + 100}`,
    // Test only: the relay addresses are 127.0.0.1, so loopback peers must be allowed.
    'allow-loopback-peers',
    ...(options.tls === undefined || tlsPort === undefined
      ? ['no-tls']
      : [`tls-listening-port=${tlsPort}`, `cert=${options.tls.certFile}`, `pkey=${options.tls.keyFile}`, 'no-tlsv1', 'no-tlsv1_1']),
    'no-dtls',
    'no-cli',
    'no-rfc5780',
    'no-multicast-peers',
    `realm=${realm}`,
    'fingerprint',
    'use-auth-secret',
    ...options.secrets.map((s) => `static-auth-secret=${s}`),
    // An isolated SQLite userdb: the default /var/lib/turn/turndb may be shared or unwritable.
    `userdb=${join(dir, 'turndb')}`,
    `log-file=${logFile}`,
    'simple-log',
    'verbose',
    `pidfile=${join(dir, 'turnserver.pid')}`
  ].join('\n') + '\n'
  const confFile = join(dir, 'turnserver.conf')
  writeFileSync(confFile, conf, { mode: 0o600 })

  // Foreground (no -o): the process is our child, so we know its pid and can always stop it.
  const child = spawn('turnserver', ['-c', confFile], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const keep = (chunk: Buffer): void => { output = (output + chunk.toString('utf8')).slice(-8192) }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const readLog = (): string => { try { return readFileSync(logFile, 'utf8') } catch { return output } }

  const stop = async (): Promise<void> => {
    if (!await exited(child, 0)) {
      child.kill('SIGTERM')
      if (!await exited(child, 3000)) {
        child.kill('SIGKILL')
        await exited(child, 3000)
      }
    }
    rmSync(dir, { recursive: true, force: true })
  }
  t.teardown(stop)

  // Readiness: poll with STUN Binding requests instead of sleeping a fixed time.
  const deadline = Date.now() + 10_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`turnserver exited with ${child.exitCode} before it was ready:\n${output}`)
    if ((await stunBinding('127.0.0.1', port, 200)).ok) break
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`turnserver did not answer STUN on 127.0.0.1:${port} within 10 s:\n${readLog().slice(-4000)}`)
    }
  }
  // Whoever answered must be *our* server (see SO_REUSEPORT above).
  const announced = await turnRealm('127.0.0.1', port)
  if (announced !== realm) {
    await stop()
    throw new Error(`127.0.0.1:${port} answered with realm ${String(announced)}, not ${realm}: another TURN server shares the port`)
  }
  if (options.tls !== undefined && tlsPort !== undefined) {
    // coturn opens its TCP/TLS listeners before the UDP one that answered above, so one handshake
    // that presents our certificate proves the TLS port is ours and ready (no polling needed).
    const expected = new X509Certificate(readFileSync(options.tls.certFile)).fingerprint256
    const seen = await tlsFingerprint('127.0.0.1', tlsPort).catch((err: Error) => err.message)
    if (seen !== expected) {
      await stop()
      throw new Error(`127.0.0.1:${tlsPort} did not present the test certificate (${seen}):\n${readLog().slice(-4000)}`)
    }
  }
  return { host: '127.0.0.1', port, ...(tlsPort === undefined ? {} : { tlsPort }), realm, log: readLog, stop }
}

/** The SHA-256 fingerprint of the certificate a TLS server presents (no verification: only to identify it). */
export async function tlsFingerprint (host: string, port: number, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host, port, rejectUnauthorized: false, timeout: timeoutMs })
    socket.once('secureConnect', () => { resolve(socket.getPeerCertificate().fingerprint256); socket.destroy() })
    socket.once('timeout', () => { socket.destroy(); reject(new Error(`no TLS handshake with ${host}:${port} within ${timeoutMs} ms`)) })
    socket.once('error', reject)
  })
}

export interface TestCertificate {
  dir: string
  certFile: string
  keyFile: string
  /** The certificate itself, PEM: a client's only trust anchor (`ca`) in the tests. */
  pem: string
  fingerprint256: string
}

const execFileAsync = promisify(execFile)

/**
 * A fresh self-signed certificate (EC P-256, one day) for `names`: IP addresses become IP SANs, the
 * rest DNS SANs. Made with the openssl CLI because node:crypto can make keys but not certificates.
 * The files live in a private temp dir that the test removes.
 */
export async function selfSignedCertificate (t: Pick<TestLike, 'teardown'>, names: string[] = ['127.0.0.1']): Promise<TestCertificate> {
  const dir = mkdtempSync(join(tmpdir(), 'swb-cert-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const certFile = join(dir, 'tls.crt')
  const keyFile = join(dir, 'tls.key')
  const san = names.map((n) => /^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`).join(',')
  await execFileAsync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', `/CN=${names[0] ?? 'localhost'}`,
    '-addext', `subjectAltName=${san}`
  ], { timeout: 20_000 })
  const pem = readFileSync(certFile, 'utf8')
  return { dir, certFile, keyFile, pem, fingerprint256: new X509Certificate(pem).fingerprint256 }
}

export type TlsAllocateResult = AllocateResult & {
  tls?: { protocol: string | null, authorized: boolean, fingerprint256: string }
}

/**
 * TURN Allocate over TLS (a `turns:` URL): the same challenge/response as turn-allocate.ts's UDP client,
 * with STUN messages framed back to back on one TLS stream (RFC 8656 §3.2). The server certificate
 * is verified against `ca` and the host name or IP, as a browser would; a failed handshake rejects.
 *
 * Why not turnutils_uclient -S: with coturn 4.6.1 (Debian bookworm) its TLS client stalls now and
 * then: the server logs the first ALLOCATE of a session, never answers it, and its watchdog closes the
 * session 30 s later, so uclient hangs. Node's TLS client did not show that in our runs.
 */
export async function turnAllocateTls (host: string, port: number, username: string, password: string, ca: string, timeoutMs = 5000): Promise<TlsAllocateResult> {
  const socket = tls.connect({ host, port, ca, ...(/^[\d.]+$/.test(host) ? {} : { servername: host }) })
  let buffered = Buffer.alloc(0)
  const waiting = new Map<string, (m: Buffer) => void>()
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk])
    while (buffered.length >= 20 && buffered.length >= 20 + buffered.readUInt16BE(2)) {
      const message = buffered.subarray(0, 20 + buffered.readUInt16BE(2))
      buffered = buffered.subarray(message.length)
      waiting.get(message.subarray(8, 20).toString('hex'))?.(message)
    }
  })
  const closed = new Promise<never>((_resolve, reject) => {
    // `on`, not `once`: a second error event after the first must not go unhandled.
    socket.on('error', reject)
    socket.once('close', () => reject(new Error('TLS connection closed')))
  })
  closed.catch(() => {})
  const exchange = async (message: Buffer): Promise<Buffer | undefined> => {
    const id = message.subarray(8, 20).toString('hex')
    let timer: ReturnType<typeof setTimeout> | undefined
    try {
      return await Promise.race([
        new Promise<Buffer>((resolve) => { waiting.set(id, resolve); socket.write(message) }),
        new Promise<undefined>((resolve) => { timer = setTimeout(() => { resolve(undefined) }, timeoutMs) }),
        closed
      ])
    } finally {
      clearTimeout(timer)
      waiting.delete(id)
    }
  }
  try {
    await Promise.race([new Promise((resolve) => socket.once('secureConnect', resolve)), closed])
    const info = { protocol: socket.getProtocol(), authorized: socket.authorized, fingerprint256: socket.getPeerCertificate().fingerprint256 }
    const transport = attribute(ATTR.REQUESTED_TRANSPORT, Buffer.from([UDP_PROTOCOL, 0, 0, 0]))
    const request = async (method: number, attrs: Buffer[], key?: Buffer): Promise<StunMessage | undefined> => {
      const answer = await exchange(encode(method, attrs, key).message)
      return answer === undefined ? undefined : decode(answer)
    }
    const challenge = await request(METHOD.ALLOCATE, [transport])
    if (challenge === undefined) return { ok: false, code: 0, reason: 'timeout', tls: info }
    const realm = challenge.attrs.get(ATTR.REALM)?.toString('utf8')
    const nonce = challenge.attrs.get(ATTR.NONCE)
    if (realm === undefined || nonce === undefined) return { ok: false, code: errorOf(challenge)?.code ?? 0, reason: 'no 401 challenge with REALM and NONCE', tls: info }
    const key = createHash('md5').update(`${username}:${realm}:${password}`, 'utf8').digest()
    const auth = [attribute(ATTR.USERNAME, Buffer.from(username, 'utf8')), attribute(ATTR.REALM, Buffer.from(realm, 'utf8')), attribute(ATTR.NONCE, nonce)]
    const answer = await request(METHOD.ALLOCATE, [transport, ...auth], key)
    if (answer === undefined) return { ok: false, code: 0, reason: 'timeout', realm, tls: info }
    if (answer.cls !== 'success') {
      const error = errorOf(answer)
      return { ok: false, code: error?.code ?? 0, reason: error?.reason ?? 'unexpected answer', realm, tls: info }
    }
    const relayed = xorAddress(answer.attrs.get(ATTR.XOR_RELAYED_ADDRESS)) ?? 'unknown'
    // Release the relay at once (Refresh with LIFETIME 0).
    await request(METHOD.REFRESH, [attribute(ATTR.LIFETIME, u32(0)), ...auth], key)
    return { ok: true, relayed, realm, tls: info }
  } finally {
    socket.destroy()
  }
}
