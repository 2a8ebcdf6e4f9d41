import { SIGNAL_PATH } from './protocol.js'

export interface Endpoints {
  /** ws(s)://…/v1/signal */
  signal: string
  /** http(s)://… base for the HTTP routes (no trailing slash). */
  http: string
}

/**
 * Accepts either the service base (`https://host[/prefix]`) or the socket URL
 * (`wss://host[/prefix]/v1/signal`) and derives the other.
 */
export function endpoints (url: string): Endpoints {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new TypeError(`url: not an absolute URL: ${url}`)
  }
  parsed.hash = ''
  const path = parsed.pathname.replace(/\/+$/, '')
  switch (parsed.protocol) {
    case 'http:':
    case 'https:': {
      const http = `${parsed.origin}${path}`
      const signal = new URL(`${http}${SIGNAL_PATH}`)
      signal.protocol = parsed.protocol === 'https:' ? 'wss:' : 'ws:'
      signal.search = parsed.search
      return { http, signal: signal.toString() }
    }
    case 'ws:':
    case 'wss:': {
      const base = path.endsWith(SIGNAL_PATH) ? path.slice(0, -SIGNAL_PATH.length) : path
      const httpOrigin = `${parsed.protocol === 'wss:' ? 'https:' : 'http:'}//${parsed.host}`
      const signal = new URL(parsed.toString())
      if (!path.endsWith(SIGNAL_PATH)) signal.pathname = `${path}${SIGNAL_PATH}`
      return { http: `${httpOrigin}${base}`, signal: signal.toString() }
    }
    default:
      throw new TypeError(`url: expected http(s):// or ws(s)://, got ${parsed.protocol}`)
  }
}
