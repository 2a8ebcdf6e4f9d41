import t, { type Test } from 'tap'
import { build, listen } from '../../helpers/build.js'
import { signTestToken } from '../../helpers/tokens.js'
import {
  requireBinaries, selfSignedCertificate, startTurnServer, tlsFingerprint, turnAllocateTls, type TurnServer
} from '../../helpers/turnserver.js'
import { turnAllocate } from '../../helpers/turn-allocate.js'

/*
 * TURN over TLS (turns:), the transport for networks that pass only TLS: a real coturn with a
 * certificate made for this run, and credentials issued by the API over HTTP. The client verifies the
 * certificate against that one certificate as its only trust anchor, so a success means TLS to our
 * server, not a plain TCP session that coturn's port autodetection would also accept.
 */

const SECRET = 'tls-test-turn-secret-0123456789abcdef'

interface IceServer { urls: string[], username?: string, credential?: string }

/** POST /v1/turn/credentials on a real listening app whose TURN_URLS point at `turn`. */
async function issue (t: Test, turn: TurnServer, turnSecret = SECRET): Promise<IceServer & { username: string, credential: string }> {
  const urls = [
    `turn:127.0.0.1:${turn.port}?transport=udp`,
    `turn:127.0.0.1:${turn.port}?transport=tcp`,
    `turns:127.0.0.1:${String(turn.tlsPort)}?transport=tcp`
  ]
  const app = await build(t, { TURN_SECRET: turnSecret, TURN_URLS: urls.join(',') })
  const base = await listen(app)
  const res = await fetch(`${base}/v1/turn/credentials`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await signTestToken({ sub: 'alice' })}`, 'content-type': 'application/json' },
    body: JSON.stringify({ ttl: 600 })
  })
  t.equal(res.status, 200, 'the API issued a credential')
  const body = await res.json() as { iceServers: IceServer[] }
  const entry = body.iceServers.find((s) => s.username !== undefined)
  if (entry?.username === undefined || entry.credential === undefined) throw new Error(`no TURN entry in ${JSON.stringify(body)}`)
  t.same(entry.urls, urls, 'the turns: URL is handed out next to UDP and TCP')
  return { ...entry, username: entry.username, credential: entry.credential }
}

/** host and port of the answer's turns: URL: the client connects where the API says, not where the test knows. */
function turnsAddress (server: IceServer): { host: string, port: number } {
  const url = server.urls.find((u) => u.startsWith('turns:'))
  const m = /^turns:([^:?]+):(\d+)\?transport=tcp$/.exec(url ?? '')
  if (m === null) throw new Error(`no turns: URL with a port in ${JSON.stringify(server.urls)}`)
  return { host: m[1] ?? '', port: Number(m[2]) }
}

const binaries = requireBinaries(t, 'turnserver', 'openssl')

t.test('coturn with a TLS listener and a self-signed certificate', binaries, async (t) => {
  const cert = await selfSignedCertificate(t, ['127.0.0.1'])
  const turn = await startTurnServer(t, { secrets: [SECRET], tls: { certFile: cert.certFile, keyFile: cert.keyFile } })

  t.test('an API credential allocates a relay through the turns: URL', async (t) => {
    const server = await issue(t, turn)
    const { host, port } = turnsAddress(server)
    const result = await turnAllocateTls(host, port, server.username, server.credential, cert.pem)
    t.match(result, { ok: true, realm: turn.realm, relayed: /^127\.0\.0\.1:\d+$/ }, `allocated over TLS: ${JSON.stringify(result)}`)
    t.match(result.tls, { authorized: true, fingerprint256: cert.fingerprint256, protocol: /^TLSv1\.[23]$/ },
      'the handshake verified our certificate, at TLS 1.2 or later (no-tlsv1, no-tlsv1_1)')
    // The same credential on the plain port: one secret for every transport.
    t.equal((await turnAllocate(turn.host, turn.port, server.username, server.credential)).ok, true, 'and over UDP')
  })

  t.test('over TLS, a credential signed with another secret is refused with 401', async (t) => {
    const server = await issue(t, turn, 'not-the-coturn-secret-0123456789')
    const { host, port } = turnsAddress(server)
    t.match(await turnAllocateTls(host, port, server.username, server.credential, cert.pem),
      { ok: false, code: 401, realm: turn.realm, tls: { authorized: true } })
  })

  t.test('a client that does not trust the certificate gets no TURN session', async (t) => {
    // Proof that the check above is a real verification: another certificate as the trust anchor fails.
    const other = await selfSignedCertificate(t, ['127.0.0.1'])
    const server = await issue(t, turn)
    const { host, port } = turnsAddress(server)
    await t.rejects(turnAllocateTls(host, port, server.username, server.credential, other.pem), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' })
    // And a certificate for another name is refused even when trusted (the IP SAN is checked).
    const misnamed = await selfSignedCertificate(t, ['turn.example.test'])
    const turn2 = await startTurnServer(t, { secrets: [SECRET], tls: { certFile: misnamed.certFile, keyFile: misnamed.keyFile } })
    await t.rejects(turnAllocateTls('127.0.0.1', turn2.tlsPort ?? 0, server.username, server.credential, misnamed.pem), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' })
  })

  t.test('the plain port stays plain TURN and the TLS port presents the certificate', async (t) => {
    t.equal(await tlsFingerprint('127.0.0.1', turn.tlsPort ?? 0), cert.fingerprint256)
    t.not(turn.tlsPort, turn.port, 'turns: has a port of its own (443 or 5349 in production)')
  })
})
