// Container HEALTHCHECK probe: exits 0 when GET /health/live answers 2xx, 1 otherwise.
// A file rather than `node -e` so the production-start test can run exactly what the image runs.
// The slim image has no curl or wget; Node's own fetch is enough.
const port = process.env.PORT || '8080'
const https = Boolean(process.env.TLS_CERT_FILE)
// With TLS_CERT_FILE the server speaks HTTPS, usually with a certificate not issued for 127.0.0.1.
if (https) process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0'
const url = `${https ? 'https' : 'http'}://127.0.0.1:${port}/health/live`

try {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) })
  process.exit(res.ok ? 0 : 1)
} catch {
  process.exit(1)
}
