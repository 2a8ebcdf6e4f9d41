import { ClientMessageSchemas, type ClientMessage } from './messages.js'
import { SignalCode, SignalError } from './errors.js'
import { compileMessageCheck, type MessageCheck } from './closed-check.js'

/**
 * One compiled validator per message type, built once at load: nothing is compiled per message, and
 * checking a relayed message allocates nothing (closed-check.ts).
 */
const validators = new Map<string, MessageCheck<(typeof ClientMessageSchemas)[number]>>(
  ClientMessageSchemas.map((schema) => [schema.properties.type.const, compileMessageCheck(schema)])
)

export const CLIENT_MESSAGE_TYPES = [...validators.keys()]

/**
 * Deepest object/array nesting a message may have (the envelope counts as one level). JSON.parse
 * copes with any depth but JSON.stringify recurses: a `data` nested 20 000 deep would throw when
 * relayed, and such a `meta` would be re-sent in every later `joined` of its room, breaking the room.
 */
export const MAX_NESTING_DEPTH = 32

/** True when valid JSON `text` nests deeper than `max`; a linear scan, no recursion. */
function nestsDeeperThan (text: string, max: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++ // backslash: skip the escaped character
      else if (c === 0x22) inString = false
    } else if (c === 0x22) {
      inString = true
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true
    } else if (c === 0x5d || c === 0x7d) {
      depth--
    }
  }
  return false
}

export type ParseResult =
  | { ok: true, message: ClientMessage }
  | { ok: false, error: SignalError, ref?: string }

/** Parses and validates one text frame. Never throws: every failure is a typed refusal. */
export function parseClientMessage (text: string): ParseResult {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return { ok: false, error: new SignalError(SignalCode.MALFORMED_JSON, 'Message is not valid JSON') }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, error: new SignalError(SignalCode.INVALID_MESSAGE, 'Message must be a JSON object') }
  }
  const record = value as Record<string, unknown>
  const ref = typeof record.id === 'string' && record.id.length <= 64 ? record.id : undefined
  // Only free-form fields can nest (`data`, `meta`); every other type has a fixed shape that the schema
  // checks without recursing, so the per-character scan is spent only where it can matter.
  if ((record.type === 'message' || record.type === 'join') && nestsDeeperThan(text, MAX_NESTING_DEPTH)) {
    return { ok: false, error: new SignalError(SignalCode.INVALID_MESSAGE, `Message is nested deeper than ${MAX_NESTING_DEPTH} levels`), ref }
  }
  const type = record.type
  const check = typeof type === 'string' ? validators.get(type) : undefined
  if (check === undefined) {
    const what = typeof type === 'string' ? `Unknown message type "${type.slice(0, 32)}"` : 'Message has no string "type"'
    return { ok: false, error: new SignalError(SignalCode.UNKNOWN_TYPE, what), ref }
  }
  if (!check.Check(value)) {
    const first = check.Errors(value).First()
    const where = first?.path !== undefined && first.path !== '' ? first.path : '/'
    return { ok: false, error: new SignalError(SignalCode.INVALID_MESSAGE, `Invalid "${type as string}" message at ${where}: ${first?.message ?? 'invalid'}`), ref }
  }
  return { ok: true, message: value as ClientMessage }
}
