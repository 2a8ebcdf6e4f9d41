import { accessSync, constants } from 'node:fs'
import { chromium, type Browser } from 'playwright-core'
import { binaryOnPath } from './turnserver.js'

/**
 * Headless Chromium for end-to-end tests: Debian's /usr/bin/chromium driven by playwright-core
 * (no `playwright install`). Flags and why: /work/shared/recipes/webrtc-e2e.md.
 */

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Auto-accepts getUserMedia, and with it WebRTC uses raw IPs instead of mDNS names.
  '--use-fake-ui-for-media-stream',
  // A synthetic camera (moving pattern) and microphone (beeps).
  '--use-fake-device-for-media-stream',
  // Gathers 127.0.0.1: in a loopback-only CI container it is the only interface there is.
  '--allow-loopback-in-peer-connection'
  // No --disable-features here: it would replace Playwright's own list (recipe, gotcha 1).
]

interface TestLike {
  fail (message: string): void
  comment (message: string): void
}

function executable (path: string): boolean {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/**
 * `{ skip }` option for tests that need Chromium and coturn: a loud skip locally, a FAILURE under
 * CI=true, where a missing binary must not let the end-to-end proofs pass by skipping.
 */
export function requireE2E (t: TestLike, { turnserver = true }: { turnserver?: boolean } = {}): { skip: string | false } {
  const missing: string[] = []
  if (!executable(CHROMIUM_PATH)) missing.push(`chromium (${CHROMIUM_PATH}; set CHROMIUM_PATH or apt-get install chromium)`)
  if (turnserver && binaryOnPath('turnserver') === undefined) missing.push('turnserver (apt-get install coturn)')
  if (missing.length === 0) return { skip: false }
  const reason = `missing ${missing.join(' and ')}`
  if (process.env.CI === 'true') t.fail(`CI=true: ${reason}; the end-to-end tests cannot be skipped in CI`)
  else t.comment(`!!! SKIPPING end-to-end browser tests: ${reason} !!!`)
  return { skip: reason }
}

/** One browser process per test file; pages get their own contexts. Closed when the test ends. */
export async function launchBrowser (t: { teardown (fn: () => unknown): void }): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, timeout: 15_000 })
  t.teardown(async () => {
    // close() ends the process; if the CDP pipe is already broken it can reject, and the process is gone anyway.
    await browser.close().catch(() => {})
  })
  return browser
}
