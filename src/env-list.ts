/**
 * Splits a comma-separated variable into trimmed, non-empty entries. Its own module so the plugins'
 * config pieces can use it without importing src/config.ts (which imports them).
 */
export function list (value: string | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter(Boolean)
}
