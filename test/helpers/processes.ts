import type { ChildProcess } from 'node:child_process'
import dgram from 'node:dgram'
import { createServer } from 'node:net'

/** True when nothing listens on 127.0.0.1:port over UDP (coturn binds with SO_REUSEPORT: check first). */
export async function udpPortFree (port: number): Promise<boolean> {
  const socket = dgram.createSocket('udp4')
  return new Promise((resolve) => {
    socket.once('error', () => { socket.close(); resolve(false) })
    socket.bind(port, '127.0.0.1', () => { socket.close(); resolve(true) })
  })
}

export async function tcpPortFree (port: number): Promise<boolean> {
  const server = createServer()
  return new Promise((resolve) => {
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

/** Resolves true once the child has exited, false if it is still running after `timeoutMs`. */
export async function exited (child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true
  return new Promise((resolve) => {
    const timer = setTimeout(() => { child.off('exit', onExit); resolve(false) }, timeoutMs)
    const onExit = (): void => { clearTimeout(timer); resolve(true) }
    child.once('exit', onExit)
  })
}
