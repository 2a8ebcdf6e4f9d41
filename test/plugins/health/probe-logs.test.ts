import t from 'tap'
import { buildWithLogs } from '../../helpers/build.js'

/* Probes come every few seconds from every kubelet and load balancer: their request logs are at debug. */

const requestLines = (lines: Array<Record<string, unknown>>, path: string): Array<Record<string, unknown>> => {
  const ids = new Set(lines.filter((l) => (l.req as { url?: string } | undefined)?.url === path).map((l) => l.reqId))
  return lines.filter((l) => ids.has(l.reqId) && (l.msg === 'incoming request' || l.msg === 'request completed'))
}

t.test('at info, probes leave no request lines; other routes still do', async (t) => {
  const { app, logs } = await buildWithLogs(t, { LOG_LEVEL: 'info' })
  for (const url of ['/health/live', '/health/ready', '/health']) await app.inject({ url })
  await app.inject({ url: '/docs/json' })
  const lines = logs.lines
  t.same(lines.filter((l) => /^\/health/.test(String((l.req as { url?: string } | undefined)?.url))), [], 'no probe request line')
  const logged = new Set(lines.filter((l) => l.msg === 'incoming request').map((l) => l.reqId))
  t.same(lines.filter((l) => l.msg === 'request completed' && !logged.has(l.reqId)), [], 'no completed line without its (non-probe) request')
  t.equal(requestLines(lines, '/docs/json').length, 2, 'a normal route logs incoming and completed at info')
})

t.test('at debug, probes are logged at debug level', async (t) => {
  const { app, logs } = await buildWithLogs(t, { LOG_LEVEL: 'debug' })
  await app.inject({ url: '/health/live' })
  const lines = requestLines(logs.lines, '/health/live')
  t.equal(lines.length, 2, 'incoming and completed')
  t.same(lines.map((l) => l.level), [20, 20], 'both at debug')
})
