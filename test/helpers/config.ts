import { ConfigSchema, type Config } from '../../src/config.js'
import { Value } from '@sinclair/typebox/value'

/** A valid config for tests: schema defaults, quiet logs, a fixed HS256 secret, TURN on loopback. */
export function testConfig (overrides: Partial<Config> = {}): Config {
  const base = Value.Default(ConfigSchema, {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    // The audit stream has its own level; tests that assert on it turn it back on.
    AUDIT_LOG_LEVEL: 'silent',
    HOST: '127.0.0.1',
    PORT: 0,
    JWT_SECRET: TEST_JWT_SECRET,
    TURN_SECRET: 'test-turn-secret-0123456789',
    STUN_URLS: 'stun:127.0.0.1:3478',
    TURN_URLS: 'turn:127.0.0.1:3478?transport=udp,turn:127.0.0.1:3478?transport=tcp'
  }) as Config
  return { ...base, ...overrides }
}

export const TEST_JWT_SECRET = 'test-jwt-secret-that-is-long-enough-0123456789'
