/**
 * Finds a member's value in the JSON text of an object, as written, so a relayed SDP or candidate is
 * passed on from the sender's own text instead of being serialized again (JSON.stringify of a 3 KB SDP,
 * with its escaped line breaks, was the largest single cost of the relay's own JavaScript).
 *
 * Only for text that JSON.parse has already accepted: the scan trusts the syntax and looks only for
 * string boundaries and nesting. It uses indexOf to skip through strings, so a 3 KB SDP, which has no
 * quotes, is crossed in one native call.
 */

const QUOTE = 0x22
const BACKSLASH = 0x5c
const COLON = 0x3a
const COMMA = 0x2c
const OPEN_OBJECT = 0x7b
const CLOSE_OBJECT = 0x7d
const OPEN_ARRAY = 0x5b
const CLOSE_ARRAY = 0x5d

function isSpace (c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09
}

function skipSpace (text: string, i: number): number {
  while (isSpace(text.charCodeAt(i))) i++
  return i
}

/** The index just past the string that opens at `start`, or -1. A quote after an odd run of backslashes is escaped. */
function stringEnd (text: string, start: number): number {
  let from = start + 1
  for (;;) {
    const quote = text.indexOf('"', from)
    if (quote < 0) return -1
    let k = quote - 1
    while (text.charCodeAt(k) === BACKSLASH) k--
    if (((quote - 1 - k) & 1) === 0) return quote + 1
    from = quote + 1
  }
}

/** The index just past the value that starts at `i` (string, object, array, number or literal), or -1. */
function valueEnd (text: string, i: number): number {
  const first = text.charCodeAt(i)
  if (first === QUOTE) return stringEnd(text, i)
  if (first === OPEN_OBJECT || first === OPEN_ARRAY) {
    let depth = 0
    for (;;) {
      const c = text.charCodeAt(i)
      if (c !== c) return -1 // NaN: past the end
      if (c === QUOTE) {
        i = stringEnd(text, i)
        if (i < 0) return -1
        continue
      }
      if (c === OPEN_OBJECT || c === OPEN_ARRAY) depth++
      else if ((c === CLOSE_OBJECT || c === CLOSE_ARRAY) && --depth === 0) return i + 1
      i++
    }
  }
  for (;;) {
    const c = text.charCodeAt(i)
    if (c !== c || c === COMMA || c === CLOSE_OBJECT || c === CLOSE_ARRAY || isSpace(c)) return i
    i++
  }
}

/*
 * The member walkMembers was asked to find: where its value is and how many times the key occurred.
 * Module state rather than a callback or a result object, so a scan allocates nothing.
 */
let matchStart = -1
let matchEnd = -1
let matches = 0

/**
 * Walks the members of the object written at the start of `text`, noting in matchStart/matchEnd/matches
 * where the value of `key` (written without escapes) is. Returns how many members there were, or -1 if
 * `text` is not an object.
 */
function walkMembers (text: string, key: string): number {
  matches = 0
  let i = skipSpace(text, 0)
  if (text.charCodeAt(i) !== OPEN_OBJECT) return -1
  i = skipSpace(text, i + 1)
  if (text.charCodeAt(i) === CLOSE_OBJECT) return 0
  let members = 0
  for (;;) {
    if (text.charCodeAt(i) !== QUOTE) return -1
    const keyStart = i
    const keyEnd = stringEnd(text, i)
    if (keyEnd < 0) return -1
    i = skipSpace(text, keyEnd)
    if (text.charCodeAt(i) !== COLON) return -1
    const valueStart = skipSpace(text, i + 1)
    i = valueEnd(text, valueStart)
    if (i < 0) return -1
    members++
    if (keyEnd - keyStart === key.length + 2 && text.startsWith(key, keyStart + 1)) {
      matches++
      matchStart = valueStart
      matchEnd = i
    }
    i = skipSpace(text, i)
    const c = text.charCodeAt(i)
    if (c === CLOSE_OBJECT) return members
    if (c !== COMMA) return -1
    i = skipSpace(text, i + 1)
  }
}

/**
 * The text of the value of member `key` in the object `text` (which JSON.parse accepted), or undefined
 * when it cannot be told for certain which member JSON.parse took: the key written with escapes, or
 * written twice, or any key written twice. `members` is how many keys the parsed object has; the text
 * must have as many members, so no key was repeated (JSON.parse keeps the last of duplicates, a parser
 * on the recipient's side might keep the first, and the recipient would see what was never checked).
 */
export function memberText (text: string, key: string, members: number): string | undefined {
  return walkMembers(text, key) === members && matches === 1 ? text.slice(matchStart, matchEnd) : undefined
}

/** How many members the object written in `text` has (duplicates counted), or -1 if it is not an object. */
export function memberCount (text: string): number {
  return walkMembers(text, '')
}
