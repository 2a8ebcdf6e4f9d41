import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { buildLayout, globalArgs, parseDockerfile, type Stage } from './dockerfile.js'

/*
 * No Docker engine runs on our machines, so the Dockerfile is checked by reading it; the runtime it
 * describes (production deps only, node as PID 1, the HEALTHCHECK script) is exercised for real in
 * production-start.test.ts.
 */

const REPO = join(import.meta.dirname, '..', '..')
const text = readFileSync(join(REPO, 'Dockerfile'), 'utf8')

const runs = (stage: Stage): string[] => stage.instructions.filter((i) => i.op === 'RUN').map((i) => i.args)
const last = (stage: Stage, op: string): string | undefined => stage.instructions.filter((i) => i.op === op).at(-1)?.args

t.test('the parser reads stages, continuations and comments', async (t) => {
  const stages = parseDockerfile([
    'ARG BASE=node:20',
    'FROM ${BASE} AS one',
    '# a comment',
    'RUN a \\',
    '  # a comment inside a continuation',
    '  && b',
    'FROM one',
    'USER node'
  ].join('\n'))
  t.same(stages.map((s) => [s.from, s.name]), [['${BASE}', 'one'], ['one', undefined]])
  t.same(stages[0]?.instructions, [{ op: 'RUN', args: 'a && b', line: 4 }])
  t.throws(() => parseDockerfile('RUN x\n'), /RUN before the first FROM/)
})

t.test('multi-stage build on node:24-bookworm-slim', async (t) => {
  const stages = parseDockerfile(text)
  t.ok(stages.length >= 2, 'at least a build and a runtime stage')
  const args = globalArgs(text)
  for (const stage of stages.filter((s) => s.from.startsWith('$'))) {
    t.equal(args[stage.from.replace(/^\$\{?(\w+)\}?$/, '$1')], 'node:24-bookworm-slim', `${stage.name ?? 'stage'} is node:24-bookworm-slim (the current LTS)`)
  }
  const build = stages.find((s) => runs(s).some((r) => /\bnpm run build\b/.test(r)))
  t.ok(build, 'a stage runs npm run build')
  if (build) t.ok(runs(build).some((r) => /^npm ci\b/.test(r) && !/--omit=dev/.test(r)), 'with dev dependencies (npm ci)')
})

t.test('the runtime stage is production-only, non-root, and runs node directly', async (t) => {
  const stages = parseDockerfile(text)
  const runtime = stages.at(-1)
  if (!runtime) return t.fail('no stages')

  t.ok(runs(runtime).some((r) => /^npm ci\b.*--omit=dev/.test(r)), 'production dependencies only (npm ci --omit=dev)')
  t.notOk(runs(runtime).some((r) => /npm run build|\btsc\b/.test(r)), 'no compiler in the runtime stage')
  t.ok(runtime.instructions.some((i) => i.op === 'COPY' && /^--from=\S+ \S*dist\b/.test(i.args)), 'copies the built dist/ from the build stage')

  const user = last(runtime, 'USER')
  t.ok(user, 'the final stage sets USER')
  t.notMatch(user ?? 'root', /^(root|0)(:|$)/, 'and it is not root')

  const env = runtime.instructions.filter((i) => i.op === 'ENV').map((i) => i.args).join(' ')
  t.match(env, /\bNODE_ENV=production\b/, 'NODE_ENV=production')

  const healthcheck = last(runtime, 'HEALTHCHECK')
  t.ok(healthcheck, 'HEALTHCHECK present')
  const hcCommand = /CMD (\[.*\])$/.exec(healthcheck ?? '')?.[1]
  const hc = hcCommand ? JSON.parse(hcCommand) as string[] : []
  t.equal(hc[0], 'node', 'the HEALTHCHECK uses node (no curl in the slim image)')
  // The script it runs is the tested deploy/docker/healthcheck.mjs, copied into the image.
  const script = hc[1] ?? ''
  t.ok(runtime.instructions.some((i) => i.op === 'COPY' && i.args === `deploy/docker/healthcheck.mjs ./${script}`), `${script} is copied from deploy/docker/healthcheck.mjs`)
  t.ok(existsSync(join(REPO, 'deploy/docker/healthcheck.mjs')))

  const cmd = last(runtime, 'CMD') ?? ''
  t.notOk(runtime.instructions.some((i) => i.op === 'ENTRYPOINT'), 'no ENTRYPOINT wrapper in front of node')
  let argv: unknown
  try { argv = JSON.parse(cmd) } catch { argv = undefined }
  t.ok(Array.isArray(argv), 'CMD is exec form (a JSON array), so node is PID 1 and receives SIGTERM')
  const parts = Array.isArray(argv) ? argv as string[] : []
  t.equal(parts[0], 'node', 'CMD starts with node, not npm or a shell')
  t.equal(parts.at(-1), buildLayout(REPO).server, 'CMD runs tsconfig.build.json outDir + src/server.js')
})

t.test('package.json engines: supported Node lines, the image\'s among them', async (t) => {
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { engines?: { node?: string } }
  const range = pkg.engines?.node ?? ''
  // A plain ">=major.minor" floor: Node 22 LTS (22.11) and newer. Node 20 is past its end of life;
  // the suite still runs on it (CI's first pass) but it is not a supported runtime.
  const m = /^>=(\d+)\.(\d+)$/.exec(range)
  t.ok(m, `engines.node is a >= floor: ${range}`)
  t.equal(Number(m?.[1]), 22, 'the oldest supported line is Node 22')
  const image = globalArgs(text).NODE_IMAGE ?? ''
  t.ok(Number(/^node:(\d+)/.exec(image)?.[1]) >= Number(m?.[1]), `the image's Node (${image}) satisfies engines`)
})

t.test('.dockerignore keeps secrets and local state out of the build context', async (t) => {
  const ignore = readFileSync(join(REPO, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim())
  for (const entry of ['.git', 'node_modules', 'dist', '.env', '.env.*']) t.ok(ignore.includes(entry), `ignores ${entry}`)
  t.ok(ignore.includes('!deploy/docker/healthcheck.mjs'), 'but keeps the HEALTHCHECK script')
})
