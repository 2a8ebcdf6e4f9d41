import { FRAME_HEADROOM } from '../registry/types.js'

/** FIN + text opcode: the first byte of an unfragmented text frame (RFC 6455, section 5.2). */
const FIN_TEXT = 0x81
/** The payload-length value that says a 16-bit length follows. */
const LENGTH_16 = 126

/**
 * Makes a WebSocket text frame (server to client: unmasked, unfragmented) of a message given as its
 * UTF-8 bytes after FRAME_HEADROOM bytes of room (Sink.pushFrame): the header goes into that room, and
 * the frame is a view of the same bytes, ready for one write to the TCP socket. Undefined for a message
 * of 64 KiB or more, whose header does not fit (send it through ws).
 *
 * ws's own send builds the same header in a buffer of its own and writes header and message as two
 * pieces, with two option objects on the way: for a relayed message, that was most of what ws cost.
 */
export function textFrameIn (bytes: Buffer): Buffer | undefined {
  const length = bytes.length - FRAME_HEADROOM
  if (length < LENGTH_16) {
    // The shortest form is the one allowed: a 2-byte header, right in front of the message.
    bytes[FRAME_HEADROOM - 2] = FIN_TEXT
    bytes[FRAME_HEADROOM - 1] = length
    return bytes.subarray(FRAME_HEADROOM - 2)
  }
  if (length > 0xffff) return undefined
  bytes[0] = FIN_TEXT
  bytes[1] = LENGTH_16
  bytes[2] = length >>> 8
  bytes[3] = length & 0xff
  return bytes
}
