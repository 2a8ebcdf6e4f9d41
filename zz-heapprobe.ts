// Temporary: heap composition of N idle joined Switchboard peers (not committed).
import { spawn } from 'node:child_process'
import { readFileSync, readdirSync, mkdirSync, rmSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import WebSocket from 'ws'
import { SignJWT } from 'jose'

const N = Number(process.argv[2] ?? 2000)
const port = 18000 + Math.floor(Math.random() * 1000)
const secret = randomBytes(32).toString('base64url')
const dir = '/tmp/heapprobe'; rmSync(dir, { recursive: true, force: true }); mkdirSync(dir)
const child = spawn(process.execPath, ['--import', 'tsx', '--heapsnapshot-signal=SIGUSR2', '--diagnostic-dir=' + dir, 'src/server.ts'], {
  cwd: process.cwd(), stdio: ['ignore', 'inherit', 'inherit'],
  env: { PATH: process.env.PATH, NODE_ENV: 'test', LOG_LEVEL: 'warn', PORT: String(port), HOST: '127.0.0.1', JWT_SECRET: secret, TURN_SECRET: randomBytes(24).toString('base64url'), WS_MESSAGES_PER_SECOND: '100000', WS_MESSAGE_BURST: '100000', MAX_CONNECTIONS_PER_USER: '10', SHUTDOWN_DRAIN_SECONDS: '0' }
})
for (;;) { try { const r = await fetch(`http://127.0.0.1:${port}/health/ready`); if (r.ok) break } catch {} await sleep(200) }
const key = new TextEncoder().encode(secret)
async function snap (label: string): Promise<string> {
  const before = new Set(readdirSync(dir))
  child.kill('SIGUSR2')
  for (;;) { await sleep(500); const f = readdirSync(dir).filter((x) => !before.has(x) && x.endsWith('.heapsnapshot')); if (f.length) { await sleep(1500); console.error('snap', label, f[0]); return dir + '/' + f[0] } }
}
const s0 = await snap('0')
const sockets: WebSocket[] = []
for (let i = 0; i < N; i += 50) {
  await Promise.all(Array.from({ length: Math.min(50, N - i) }, async (_, j) => {
    const k = i + j; const room = 'r' + Math.floor(k / 2)
    const tok = await new SignJWT({ rooms: [room] }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject('u' + k).setIssuedAt().setExpirationTime('1h').sign(key)
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/signal`, ['switchboard.v1'], { headers: { authorization: `Bearer ${tok}` }, perMessageDeflate: false })
    sockets.push(ws)
    await new Promise<void>((resolve, reject) => {
      ws.on('message', (d) => { const m = JSON.parse(String(d)); if (m.type === 'welcome') ws.send(JSON.stringify({ type: 'join', room })); if (m.type === 'joined') resolve() })
      ws.on('error', reject)
    })
  }))
}
await sleep(1000)
const s1 = await snap(String(N))
child.kill('SIGTERM'); for (const s of sockets) s.terminate()
console.log(JSON.stringify({ s0, s1 }))
process.exit(0)
