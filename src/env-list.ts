/** Comma-separated entries; its own module so config pieces need not import src/config.ts (which imports them). */
export function list (value: string | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter(Boolean)
}
