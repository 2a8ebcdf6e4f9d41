import type { Frame } from '../../plugins/registry/types.js'

/** A registry frame as text, whether the backend holds it as a string (Redis) or as its UTF-8 bytes (memory). */
export function frameText (frame: Frame): string {
  return typeof frame === 'string' ? frame : frame.toString('utf8')
}
