import type { AddressInfo } from 'node:net'
import type { Config } from './config.js'

/** Every interface in production (probes must reach the pod); loopback otherwise, as development mints tokens for anyone. */
export function listenHost (config: Pick<Config, 'HOST' | 'NODE_ENV'>): string {
  return config.HOST ?? (config.NODE_ENV === 'production' ? '0.0.0.0' : '127.0.0.1')
}

/** The demo page's URL as a browser on this machine reaches it. */
export function demoPageUrl (address: AddressInfo, https: boolean): string {
  // A wildcard address is not something to type into a browser; loopback reaches it from this machine.
  const wildcard = address.address === '0.0.0.0' || address.address === '::'
  const host = wildcard ? 'localhost' : address.family === 'IPv6' ? `[${address.address}]` : address.address
  return `${https ? 'https' : 'http'}://${host}:${address.port}/demo/`
}
