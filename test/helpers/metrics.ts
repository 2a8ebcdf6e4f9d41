/** Reads one sample from Prometheus text: `name{labels} value`, labels given in the order they are printed. */
export function sample (text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(labels === '' ? `${name} ` : `${name}{${labels}} `))
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1))
}

/** Scrapes a running instance's GET /metrics and reads one sample. */
export async function scrape (base: string, name: string, labels = ''): Promise<number | undefined> {
  return sample(await (await fetch(`${base}/metrics`)).text(), name, labels)
}
