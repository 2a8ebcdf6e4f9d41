import t from 'tap'
import { spawn } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { build, listen } from '../helpers/build.js'
import { signTestToken } from '../helpers/tokens.js'
import { ROOT, runOrExplain } from '../helpers/client-package.js'

/**
 * The TypeScript code blocks of docs/client.md are compiled under `strict` against the package as
 * it ships (its package.json exports and the declaration files tsc builds from client/), and the Node
 * two-party call runs twice against a real instance: the two copies call each other over
 * node-datachannel. A sample that drifts from the API fails here, not in a reader's editor.
 */

const TSC = join(ROOT, 'node_modules/typescript/bin/tsc')
const DOC = readFileSync(join(ROOT, 'docs/client.md'), 'utf8')
const SAMPLE_URL = 'https://signal.example.com'
// Two tsc runs (the package's declarations, then the samples) take seconds on an idle machine, more on a busy one.
// The call may take two attempts of up to 60 s each (below).
t.setTimeout(300_000)

/** Each ```ts block, named after the heading above it. */
function samples (markdown: string): Array<{ heading: string, code: string }> {
  const found: Array<{ heading: string, code: string }> = []
  let heading = '(top)'
  const lines = markdown.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? ''
    if (/^#{1,6} /.test(line)) heading = line.replace(/^#+ /, '')
    if (line.trim() !== '```ts') continue
    const code: string[] = []
    for (i++; i < lines.length && lines[i]?.trim() !== '```'; i++) code.push(lines[i] ?? '')
    found.push({ heading, code: code.join('\n') })
  }
  return found
}

// What the browser samples take from the page around them and from the app's login: declared, not
// written, as a reader's app would have them.
const APP_GLOBALS = `
declare function fetchMyJwt (): Promise<string>
declare function showNotice (text: string): void
declare const remoteVideo: HTMLVideoElement
declare const localVideo: HTMLVideoElement
declare const statusLine: HTMLElement
declare const hangUpButton: HTMLButtonElement
`

/** The sample's output lines as they come, and its exit. */
function runSample (t: { teardown (fn: () => unknown): void }, cwd: string, file: string, env: Record<string, string>) {
  const child = spawn(process.execPath, [file], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  let out = ''
  let err = ''
  child.stderr.on('data', (chunk: Buffer) => { err += chunk.toString() })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return {
    child,
    exited,
    output: () => `${out}${err === '' ? '' : `\nstderr: ${err.slice(-1000)}`}`,
    /** Resolves once stdout has a line containing `text`; rejects if the call closes or the process exits first, or after timeoutMs. */
    printed: (text: string, timeoutMs: number) => new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "${text}" within ${timeoutMs} ms: ${out}\nstderr: ${err.slice(-1000)}`)), timeoutMs)
      const check = (): void => {
        if (out.includes(text)) {
          clearTimeout(timer)
          resolve()
        } else if (out.includes('call closed')) {
          // The sample prints why its call ended: nothing more can arrive over it.
          clearTimeout(timer)
          reject(new Error(`the call closed before "${text}": ${out}\nstderr: ${err.slice(-1000)}`))
        }
      }
      child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString(); check() })
      void exited.then((code) => { clearTimeout(timer); reject(new Error(`exited ${code} before printing "${text}": ${out}\nstderr: ${err.slice(-1000)}`)) })
    })
  }
}

t.test('docs/client.md: every TypeScript sample compiles under strict against the package; the Node call runs', async (t) => {
  const blocks = samples(DOC)
  t.ok(blocks.length >= 2, `found the samples (${blocks.map((b) => b.heading).join('; ')})`)
  const nodeSample = blocks.findIndex((b) => b.code.includes('node-datachannel/polyfill'))
  t.ok(nodeSample >= 0, 'one sample is the Node call')
  t.ok(blocks.some((b) => b.code.includes('getUserMedia')), 'one sample is the browser call')

  const dir = mkdtempSync(join(tmpdir(), 'swb-doc-samples-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  // The package as it ships, minus the browser bundle no sample imports: package.json + tsc's dist/.
  const pkg = join(dir, 'pkg')
  mkdirSync(pkg)
  copyFileSync(join(ROOT, 'client/package.json'), join(pkg, 'package.json'))
  await runOrExplain(process.execPath, [TSC, '-p', join(ROOT, 'client/tsconfig.json'), '--outDir', join(pkg, 'dist')], { cwd: ROOT })

  const app = join(dir, 'app')
  mkdirSync(join(app, 'node_modules/@switchboard'), { recursive: true })
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'swb-doc-samples', private: true, type: 'module' }))
  symlinkSync(pkg, join(app, 'node_modules/@switchboard/client'), 'dir')
  // What the samples import besides the package, from the repository (no registry round trip).
  for (const name of ['ws', '@types/ws', '@types/node', 'undici-types', 'node-datachannel', '@node-datachannel']) {
    mkdirSync(join(app, 'node_modules', name, '..'), { recursive: true })
    symlinkSync(join(ROOT, 'node_modules', name), join(app, 'node_modules', name), 'dir')
  }
  writeFileSync(join(app, 'app-globals.d.ts'), APP_GLOBALS)
  const files = blocks.map((block, i) => {
    const file = `sample-${i}.ts`
    // A block without imports is still a module of its own (top-level await, no shared names).
    writeFileSync(join(app, file), /^(import|export) /m.test(block.code) ? block.code : `${block.code}\nexport {}\n`)
    return file
  })
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
    // skipLibCheck: node-datachannel 0.33's own declarations do not check against lib DOM (its
    // polyfill's event types clash with the DOM's). The package's declarations are checked with
    // skipLibCheck false by test/client/package.test.ts.
    compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2022', 'DOM'], types: ['node'], strict: true, skipLibCheck: true, outDir: 'out' },
    files: ['app-globals.d.ts', ...files]
  }))
  await runOrExplain(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: app })
  t.pass(`${files.length} samples type-check under strict`)

  // The Node call, twice, against a real instance: the sample's placeholder URL is the only change.
  const compiled = readFileSync(join(app, 'out', `sample-${nodeSample}.js`), 'utf8')
  t.ok(compiled.includes(SAMPLE_URL), `the Node sample connects to ${SAMPLE_URL}`)
  let attempts = 0
  /** Both copies, on an instance of their own, until each printed the other's message; the outputs of both if one did not. */
  const call = async (): Promise<{ sides: Array<ReturnType<typeof runSample>>, failure?: string }> => {
    // A fresh instance: the copies of an attempt before would still hold the sample's room (their sessions wait for a resume).
    const url = await listen(await build(t, { AUDIT_LOG_LEVEL: 'silent' }))
    const file = join(app, 'out', `node-call-${++attempts}.js`)
    writeFileSync(file, compiled.replace(SAMPLE_URL, url))
    const suffix = randomBytes(3).toString('hex')
    const sides = [
      runSample(t, app, file, { SWB_TOKEN: await signTestToken({ sub: `sensor-a-${suffix}` }) }),
      runSample(t, app, file, { SWB_TOKEN: await signTestToken({ sub: `sensor-b-${suffix}` }) })
    ]
    const results = await Promise.allSettled(sides.map(async (side) => side.printed('received {"temperature":21.5}', 60_000)))
    if (results.every((r) => r.status === 'fulfilled')) return { sides }
    for (const side of sides) side.child.kill('SIGKILL')
    return { sides, failure: sides.map((side, i) => `copy ${i + 1}: ${results[i]?.status === 'rejected' ? String(results[i].reason) : 'received the message'}; output: ${side.output()}`).join('\n') }
  }
  let attempt = await call()
  // libdatachannel gave up on the connection (ICE or DTLS, on a loaded machine) and the call closed as
  // failed, as the sample prints: what a user's app would do then, start a new call, once, loudly.
  if (attempt.failure !== undefined && attempt.sides.some((side) => side.output().includes('call closed failed'))) {
    t.comment(`!!! the WebRTC connection failed; trying once more. ${attempt.failure} !!!`)
    attempt = await call()
  }
  if (attempt.failure !== undefined) {
    t.fail(`the Node call did not carry the message both ways:\n${attempt.failure}`)
    return
  }
  t.pass('both copies received the other\'s message over the data channel')
  for (const side of attempt.sides) side.child.kill('SIGINT')
  t.same(await Promise.all(attempt.sides.map(async (side) => side.exited)), [0, 0], 'both exit 0 on SIGINT (the sample closes its call and client)')
})
