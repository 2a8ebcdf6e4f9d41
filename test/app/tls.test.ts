import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'node:https'
import WebSocket from 'ws'
import { build, listen } from '../helpers/build.js'
import { signTestToken } from '../helpers/tokens.js'

/** A throwaway self-signed certificate for 127.0.0.1, made with Debian's openssl. */
function selfSigned (dir: string): { cert: string, key: string } {
  const cert = join(dir, 'cert.pem')
  const key = join(dir, 'key.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' })
  return { cert, key }
}

t.test('TLS_CERT_FILE/TLS_KEY_FILE serve https and wss directly', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'swb-tls-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const { cert, key } = selfSigned(dir)
  const app = await build(t, { TLS_CERT_FILE: cert, TLS_KEY_FILE: key })
  const base = await listen(app)
  t.match(base, /^https:\/\//)

  const body = await new Promise<string>((resolve, reject) => {
    request(`${base}/health/live`, { ca: [readFileSync(cert)] }, (res) => {
      let data = ''
      res.on('data', (c: Buffer) => { data += c.toString() })
      res.on('end', () => resolve(data))
    }).on('error', reject).end()
  })
  t.same(JSON.parse(body), { status: 'ok' })

  const socket = new WebSocket(`${base.replace('https', 'wss')}/v1/signal`, {
    headers: { authorization: `Bearer ${await signTestToken({ sub: 'tls-user' })}` },
    ca: [readFileSync(cert)]
  })
  t.teardown(() => socket.terminate())
  const welcome = await new Promise<Record<string, unknown>>((resolve, reject) => {
    socket.once('message', (data) => resolve(JSON.parse(data.toString()) as Record<string, unknown>))
    socket.once('error', reject)
  })
  t.match(welcome, { type: 'welcome', userId: 'tls-user' })
})
