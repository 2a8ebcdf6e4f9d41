import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'

/**
 * Where the page sources live: `demo/` at the repository root. From `dist/plugins/demo` (compiled
 * build) the root is one level further up, so both places are tried.
 */
export function findDemoSources (here: string = import.meta.dirname): string | undefined {
  return ['../..', '../../..'].map((up) => resolve(here, up, 'demo')).find(isDemoSources)
}

export function isDemoSources (dir: string): boolean {
  return ['index.html', 'demo.css', 'demo.ts'].every((file) => existsSync(join(dir, file)))
}

export interface DemoBundle {
  /** The page script: demo.ts with the TypeScript client, as one ES module. */
  js: string
  /** A strong validator for conditional requests. */
  etag: string
}

/**
 * Bundles demo.ts (and the client it imports) in memory with esbuild. The browser gets one small
 * module and no build step is needed to try the demo; esbuild is imported only when the page is
 * first requested, so instances that never serve it pay nothing.
 */
export async function bundleDemo (sourcesDir: string): Promise<DemoBundle> {
  const { build } = await import('esbuild')
  const result = await build({
    entryPoints: [join(sourcesDir, 'demo.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    // What the page needs anyway (RTCPeerConnection.restartIce, top-level await): evergreen browsers.
    target: ['chrome111', 'firefox111', 'safari16.4'],
    minify: true,
    legalComments: 'none',
    logLevel: 'silent'
  })
  const file = result.outputFiles[0]
  if (file === undefined) throw new Error('esbuild produced no output')
  const { createHash } = await import('node:crypto')
  return { js: file.text, etag: `"${createHash('sha256').update(file.contents).digest('base64url').slice(0, 27)}"` }
}
