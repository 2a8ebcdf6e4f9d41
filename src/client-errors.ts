import { randomUUID } from 'node:crypto'
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { ERROR_PREFIX } from './errors.js'
import { PROBLEM_CONTENT_TYPE, problemType, type Problem } from './problem.js'

/**
 * Errors Node's HTTP parser raises before a request exists (headers over the limit, a request that
 * never finishes, bytes that are not HTTP) get problem+json too, instead of Fastify's own JSON shape.
 */
function problemFor (err: NodeJS.ErrnoException): Problem {
  const [status, code, detail] = err.code === 'HPE_HEADER_OVERFLOW'
    ? [431, `${ERROR_PREFIX}_HEADERS_TOO_LARGE`, 'The request headers exceed the server limit (a token this large is not a JWT we issue)']
    : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, `${ERROR_PREFIX}_REQUEST_TIMEOUT`, 'The request was not received in time']
      : [400, `${ERROR_PREFIX}_BAD_REQUEST`, 'The request is not valid HTTP']
  // No route ran, so no request id was assigned: this one still lets a client report the failure.
  return { type: problemType(code), title: STATUS_CODES[status] ?? 'Error', status, code, detail, requestId: randomUUID() }
}

/** Fastify's `clientErrorHandler`, called with the instance as `this`. */
export function clientErrorHandler (this: FastifyInstance, err: NodeJS.ErrnoException, socket: Duplex): void {
  // A reset connection has nobody left to answer (https://nodejs.org/api/http.html#event-clienterror).
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const problem = problemFor(err)
  // Usually a scanner or a misconfigured proxy: worth a debug line, not an info one per probe of the internet.
  this.log.debug({ code: problem.code, status: problem.status, requestId: problem.requestId }, 'client error')
  if (socket.writable) {
    const body = JSON.stringify(problem)
    socket.end(`HTTP/1.1 ${problem.status} ${problem.title}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
    // Read and drop what the client is still sending (the rest of a 100 KB header, say): a socket closed
    // with unread data is reset by the kernel, and the client can lose this answer (seen on Node 24).
    socket.on('data', () => {})
    socket.resume()
    setTimeout(() => socket.destroy(), 1000).unref()
    return
  }
  socket.destroy(err)
}
