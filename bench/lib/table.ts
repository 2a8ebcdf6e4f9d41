/** A Markdown table padded to line up in a terminal too; the first column left-aligned, the rest right. */
export function markdownTable (header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: readonly string[]): string =>
    '| ' + widths.map((w, i) => i === 0 ? (cells[i] ?? '').padEnd(w) : (cells[i] ?? '').padStart(w)).join(' | ') + ' |'
  const rule = '|' + widths.map((w, i) => i === 0 ? ` ${'-'.repeat(w)} ` : ` ${'-'.repeat(w - 1)}: `).join('|') + '|'
  return [line(header), rule, ...rows.map(line)].join('\n')
}

/** A number with thousands separators and at most `digits` decimals. */
export function num (value: number, digits = 0): string {
  return value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
}

/** `a / b` as "1.23×", or "–" when it means nothing. */
export function ratio (a: number, b: number): string {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return '–'
  const r = a / b
  return `${r >= 10 ? num(r, 1) : num(r, 2)}×`
}
