/**
 * ICE server URL checks with the browser's rules (webrtc-pc "validate an ICE server URL", RFC 7064/7065),
 * so a bad URL fails at start-up or is dropped from an upstream answer instead of making
 * `new RTCPeerConnection()` throw a SyntaxError in every client.
 */

export type IceScheme = 'stun' | 'stuns' | 'turn' | 'turns'

export interface ParsedIceUrl {
  scheme: IceScheme
  host: string
  port: number
  transport?: 'udp' | 'tcp'
}

export type IceUrlCheck = { ok: true, url: ParsedIceUrl } | { ok: false, reason: string }

const SCHEME = /^(stuns?|turns?):/i
// A DNS name / IPv4 address, or a bracketed IPv6 literal, then an optional port.
const HOST_PORT = /^(?:(\[[0-9A-Fa-f:.]+\])|([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?))(?::(\d{1,5}))?$/
const DEFAULT_PORT: Record<IceScheme, number> = { stun: 3478, turn: 3478, stuns: 5349, turns: 5349 }
// Browsers refuse to connect to port 53 (DNS) and the URL then just times out during ICE.
const BLOCKED_PORTS = new Set([53])

export function checkIceUrl (url: string): IceUrlCheck {
  if (url.length === 0 || url.length > 2048) return { ok: false, reason: 'is empty or too long' }
  if (/[\s\u0000-\u001f\u007f]/.test(url)) return { ok: false, reason: 'contains whitespace or control characters' }
  const scheme = SCHEME.exec(url)?.[1]?.toLowerCase() as IceScheme | undefined
  if (scheme === undefined) return { ok: false, reason: 'scheme must be stun:, stuns:, turn: or turns:' }
  if (url.includes('#')) return { ok: false, reason: 'must not have a fragment' }
  const rest = url.slice(scheme.length + 1)
  const q = rest.indexOf('?')
  const path = q === -1 ? rest : rest.slice(0, q)
  const query = q === -1 ? undefined : rest.slice(q + 1)
  if (path.includes('/') || path.includes('@')) return { ok: false, reason: 'must be scheme:host[:port] (no "/", no "user@")' }
  const hostPort = HOST_PORT.exec(path)
  if (hostPort === null) return { ok: false, reason: 'has an invalid host or port' }
  const port = hostPort[3] === undefined ? DEFAULT_PORT[scheme] : Number(hostPort[3])
  if (port < 1 || port > 65535) return { ok: false, reason: 'port must be 1-65535' }
  if (BLOCKED_PORTS.has(port)) return { ok: false, reason: `port ${port} is blocked by browsers` }
  const parsed: ParsedIceUrl = { scheme, host: hostPort[1] ?? hostPort[2] ?? '', port }
  if (query !== undefined) {
    // Even an empty "?" makes the browser throw.
    if (scheme === 'stun' || scheme === 'stuns') return { ok: false, reason: 'stun URLs take no query' }
    if (query !== 'transport=udp' && query !== 'transport=tcp') return { ok: false, reason: 'the only query allowed is transport=udp or transport=tcp' }
    parsed.transport = query === 'transport=udp' ? 'udp' : 'tcp'
  }
  return { ok: true, url: parsed }
}

export function isTurnUrl (url: string): boolean {
  return /^turns?:/i.test(url)
}

/** Keeps the URLs a browser accepts; returns what was dropped (for a log line with URLs only, no credentials). */
export function filterIceUrls (urls: string[]): { kept: string[], dropped: string[] } {
  const kept: string[] = []
  const dropped: string[] = []
  for (const url of urls) (checkIceUrl(url).ok ? kept : dropped).push(url)
  return { kept, dropped }
}

/**
 * Parses a comma-separated URL variable (STUN_URLS / TURN_URLS) and checks every entry, throwing an
 * error whose message names the variable. `kind` restricts the schemes allowed in that variable.
 */
export function parseIceUrlList (variable: string, value: string | undefined, kind: 'stun' | 'turn'): string[] {
  const urls = (value ?? '').split(',').map((s) => s.trim()).filter(Boolean)
  for (const url of urls) {
    const check = checkIceUrl(url)
    if (!check.ok) throw new Error(`${variable}: "${url}" ${check.reason}`)
    const turn = check.url.scheme === 'turn' || check.url.scheme === 'turns'
    if (kind === 'turn' && !turn) throw new Error(`${variable}: "${url}" must be a turn: or turns: URL`)
    if (kind === 'stun' && turn) throw new Error(`${variable}: "${url}" must be a stun: or stuns: URL (TURN URLs go in TURN_URLS)`)
  }
  return urls
}
