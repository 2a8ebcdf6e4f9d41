import { existsSync, readFileSync } from 'node:fs'

/** package.json from src/ (tsx, tests) or from dist/src/ (the built image). */
function packageJson (): { version: string } {
  const candidates = [new URL('../package.json', import.meta.url), new URL('../../package.json', import.meta.url)]
  const found = candidates.find((url) => existsSync(url))
  return found === undefined ? { version: '0.0.0' } : JSON.parse(readFileSync(found, 'utf8')) as { version: string }
}

/** The service version: one definition for the OpenAPI document and GET /v1/admin/stats. */
export const VERSION: string = packageJson().version
