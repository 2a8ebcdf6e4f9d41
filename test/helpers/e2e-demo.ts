import type { Browser, BrowserContext, Page } from 'playwright-core'
import type { DemoState } from '../../demo/state.js'

/**
 * Drives the demo page (/demo/) the way a user does: fill the form, press Join, type in the chat.
 * What it checks comes from `window.switchboardDemo.state`, the same data the page renders.
 */

export interface JoinOptions {
  room: string
  name?: string
  /** Tick "Force relay" (iceTransportPolicy: 'relay'). */
  relay?: boolean
  /** Camera and microphone (Chromium's fake devices); false = data-channel chat only. */
  camera?: boolean
  /** A JWT handed over as `#token=` (servers without development tokens). */
  token?: string
  /** `?statsInterval=`: how often the page sends call-quality reports (default 5000 ms). */
  statsIntervalMs?: number
}

export interface DemoPage {
  page: Page
  context: BrowserContext
  /** Presses Join with the options given to loadDemo(), and waits until the room is joined. */
  join (): Promise<DemoState>
  /** Uncaught exceptions and console errors seen on the page. */
  readonly problems: string[]
  state (): Promise<DemoState>
  /** Polls the page state until `predicate` holds; fails with the last state (and events) after `timeoutMs`. */
  waitFor (what: string, predicate: (s: DemoState) => boolean, timeoutMs?: number): Promise<DemoState>
  /** Sends a chat line over the data channel and waits for the other side's acknowledgement. */
  chat (text: string): Promise<number>
  close (): Promise<void>
}

/** A short summary of a state for failure messages: no SDP or credentials are ever in it. */
export function describeState (s: DemoState): string {
  return JSON.stringify({
    signaling: s.signaling,
    peerId: s.peerId,
    partner: s.partner?.peerId,
    connection: s.connection,
    ice: s.ice,
    gathering: s.gathering,
    selected: s.selected,
    candidates: s.localCandidateTypes,
    candidateErrors: s.candidateErrors.map((e) => e.errorCode),
    iceRestarts: s.iceRestarts,
    error: s.error,
    events: s.events
  })
}

/** Opens the page and fills the form; nothing is sent to signaling until join(). */
export async function loadDemo (browser: Browser, origin: string, options: JoinOptions): Promise<DemoPage> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 } })
  const page = await context.newPage()
  const problems: string[] = []
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`))
  page.on('console', (message) => { if (message.type() === 'error') problems.push(`console: ${message.text()}`) })

  const fragment = options.token === undefined ? '' : `#token=${encodeURIComponent(options.token)}`
  const stats = options.statsIntervalMs === undefined ? '' : `&statsInterval=${options.statsIntervalMs}`
  await page.goto(`${origin}/demo/?room=${encodeURIComponent(options.room)}${stats}${fragment}`)
  await page.waitForFunction(() => window.switchboardDemo !== undefined, undefined, { timeout: 10_000 })
  if (options.name !== undefined) await page.fill('#name', options.name)
  if (options.relay === true) await page.check('#relay')
  if (options.camera === false) await page.uncheck('#camera')

  const state = async (): Promise<DemoState> => page.evaluate(() => {
    const demo = window.switchboardDemo
    if (demo === undefined) throw new Error('window.switchboardDemo is missing')
    return demo.state
  })

  const waitFor = async (what: string, predicate: (s: DemoState) => boolean, timeoutMs = 10_000): Promise<DemoState> => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const s = await state()
      if (predicate(s)) return s
      if (Date.now() > deadline) {
        throw new Error(`${options.name ?? 'page'}: not ${what} within ${timeoutMs} ms; state: ${describeState(s)}; problems: ${problems.join(' | ') || 'none'}`)
      }
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  return {
    page,
    async join () {
      await page.click('#join')
      return waitFor('in the room', (s) => s.events.includes('joined'))
    },
    context,
    problems,
    state,
    waitFor,
    async chat (text) {
      await page.fill('#chat-input', text)
      await page.press('#chat-input', 'Enter')
      const s = await waitFor(`acknowledged "${text}"`, (st) => st.chat.some((c) => c.from === 'me' && c.text === text && c.roundTripMs !== undefined))
      return s.chat.find((c) => c.from === 'me' && c.text === text)?.roundTripMs ?? -1
    },
    async close () {
      await context.close().catch(() => {})
    }
  }
}

/**
 * Two users (separate browser contexts) in `room`: both pages load at once, then A joins and B
 * after it (B finds A in `joined` and makes the offer). `beforeB` runs between the two joins (e.g. to
 * send B's connection to another instance).
 */
export async function openPair (
  browser: Browser,
  origin: string,
  options: Omit<JoinOptions, 'name' | 'token'> & { tokens?: { a: string, b: string }, beforeB?: () => void },
  t: { teardown (fn: () => unknown): void }
): Promise<{ a: DemoPage, b: DemoPage }> {
  const { tokens, beforeB, ...join } = options
  const [a, b] = await Promise.all([
    loadDemo(browser, origin, { ...join, name: 'Alice', ...(tokens && { token: tokens.a }) }),
    loadDemo(browser, origin, { ...join, name: 'Bob', ...(tokens && { token: tokens.b }) })
  ])
  t.teardown(() => a.close())
  t.teardown(() => b.close())
  await a.join()
  beforeB?.()
  await b.join()
  return { a, b }
}

export const connected = (s: DemoState): boolean => s.connection === 'connected' && s.chatOpen && s.selected !== undefined
