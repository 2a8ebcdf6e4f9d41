import { execFile } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'

/**
 * Packs client/ the way a publisher would (`npm pack`, whose prepack script builds dist/) and
 * installs the tarball into a fresh project, as a user of `@switchboard/client` would. Everything
 * happens in a temporary directory: the repository's client/ never gets a dist/ of its own.
 */

const run = promisify(execFile)
export const ROOT = resolve(import.meta.dirname, '../..')
const ROOT_MODULES = join(ROOT, 'node_modules')

interface Teardown { teardown (fn: () => unknown): void }

export interface PackedClient {
  /** The temporary directory holding everything below (removed at teardown). */
  dir: string
  tarball: string
  /** Paths inside the tarball (`package/...`). */
  files: string[]
  /** A fresh project with the tarball installed: node_modules/@switchboard/client. */
  app: string
}

/** Runs a command, failing with its output (npm and tsc explain themselves on stdout). */
export async function runOrExplain (file: string, args: string[], options: { cwd: string, env?: NodeJS.ProcessEnv, timeout?: number }): Promise<string> {
  try {
    const { stdout } = await run(file, args, { ...options, timeout: options.timeout ?? 120_000, maxBuffer: 16 * 1024 * 1024 })
    return stdout
  } catch (err) {
    const e = err as { stdout?: string, stderr?: string, message: string }
    throw new Error(`${file} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`)
  }
}

export async function packAndInstallClient (t: Teardown): Promise<PackedClient> {
  const dir = mkdtempSync(join(tmpdir(), 'swb-client-pack-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const source = join(dir, 'source')
  cpSync(join(ROOT, 'client'), source, { recursive: true, filter: (path) => !/[/\\](dist|node_modules)$/.test(path) })
  // The build tools (tsc, esbuild) are the repository's dev dependencies, as in a monorepo checkout.
  symlinkSync(ROOT_MODULES, join(source, 'node_modules'), 'dir')
  const npmEnv = { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' }
  const packed = await runOrExplain('npm', ['pack', '--json', '--pack-destination', dir], { cwd: source, env: npmEnv })
  const [info] = JSON.parse(packed.slice(packed.indexOf('['))) as Array<{ filename: string, files: Array<{ path: string }> }>
  if (info === undefined) throw new Error(`npm pack printed no package: ${packed}`)
  const tarball = join(dir, info.filename)

  const app = join(dir, 'app')
  mkdirSync(app)
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'swb-client-consumer', private: true, type: 'module' }))
  // A local tarball with no dependencies installs without the network.
  await runOrExplain('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball], { cwd: app, env: npmEnv })
  // ws and the type packages a Node program needs, taken from the repository (no registry round trip).
  for (const name of ['ws', '@types/ws', '@types/node', 'undici-types', 'node-datachannel', '@node-datachannel']) {
    if (!existsSync(join(ROOT_MODULES, name))) continue
    mkdirSync(join(app, 'node_modules', name, '..'), { recursive: true })
    symlinkSync(join(ROOT_MODULES, name), join(app, 'node_modules', name), 'dir')
  }
  return { dir, tarball, files: info.files.map((f) => `package/${f.path}`), app }
}
