// The package's one browser bundle: every module of the client in a single minified ES module,
// for pages without a bundler (<script type="module">, or import from a CDN-style URL).
import { build } from 'esbuild'

await build({
  entryPoints: [new URL('./index.ts', import.meta.url).pathname],
  outfile: new URL('./dist/switchboard-client.browser.js', import.meta.url).pathname,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  // What PeerCall needs anyway (restartIce, setLocalDescription() without arguments): evergreen browsers.
  target: ['chrome111', 'firefox111', 'safari16.4'],
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  logLevel: 'warning'
})
