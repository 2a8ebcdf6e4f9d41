import t from 'tap'
import { checkIceUrl, filterIceUrls, parseIceUrlList } from '../../../plugins/turn/urls.js'
import { ConfigError, loadConfig } from '../../../src/config.js'

t.test('URLs browsers accept', async (t) => {
  for (const url of [
    'stun:stun.example.org',
    'stun:192.0.2.1:3478',
    'stuns:stun.example.org:5349',
    'turn:turn.example.org:3478?transport=udp',
    'turn:turn.example.org:3478?transport=tcp',
    'turns:turn.example.org:443?transport=tcp',
    'turn:[2001:db8::1]:3478',
    'TURN:Turn.Example.org'
  ]) t.ok(checkIceUrl(url).ok, url)
  t.same(checkIceUrl('turns:h.example').ok && checkIceUrl('turns:h.example'), { ok: true, url: { scheme: 'turns', host: 'h.example', port: 5349 } }, 'default TLS port')
  t.same(checkIceUrl('turn:h:3478?transport=tcp'), { ok: true, url: { scheme: 'turn', host: 'h', port: 3478, transport: 'tcp' } })
})

t.test('URLs browsers refuse (SyntaxError) or cannot use', async (t) => {
  const refused: Array<[string, RegExp]> = [
    ['http://turn.example.org', /scheme/],
    ['turn://turn.example.org:3478', /no "\/"/],
    ['turn:user@turn.example.org', /user@/],
    ['turn:turn.example.org#frag', /fragment/],
    ['stun:stun.example.org?transport=udp', /no query/],
    ['stun:stun.example.org?', /no query/],
    ['turn:turn.example.org?transport=tls', /transport=udp or transport=tcp/],
    ['turn:turn.example.org?', /transport=udp or transport=tcp/],
    ['turn:turn.example.org:53?transport=udp', /port 53/],
    ['stun:stun.example.org:53', /port 53/],
    ['turn:turn.example.org:0', /1-65535/],
    ['turn:turn.example.org:70000', /1-65535/],
    ['turn:turn.example.org:abc', /host or port/],
    ['turn:', /host or port/],
    ['turn:bad host', /whitespace/],
    ['', /empty/]
  ]
  for (const [url, reason] of refused) {
    const check = checkIceUrl(url)
    t.equal(check.ok, false, `refused: ${url}`)
    if (!check.ok) t.match(check.reason, reason, url)
  }
})

t.test('filterIceUrls keeps the good ones', async (t) => {
  t.same(filterIceUrls(['turn:a:3478', 'turn:a:53', 'turn:a:80?transport=tcp']), { kept: ['turn:a:3478', 'turn:a:80?transport=tcp'], dropped: ['turn:a:53'] })
})

t.test('parseIceUrlList names the variable and the bad entry', async (t) => {
  t.same(parseIceUrlList('TURN_URLS', ' turn:a:3478 , turns:a:443?transport=tcp ,', 'turn'), ['turn:a:3478', 'turns:a:443?transport=tcp'])
  t.same(parseIceUrlList('STUN_URLS', '', 'stun'), [])
  t.throws(() => parseIceUrlList('TURN_URLS', 'turn:a,turn:b?transport=sctp', 'turn'), /^TURN_URLS: "turn:b\?transport=sctp"/)
  t.throws(() => parseIceUrlList('TURN_URLS', 'stun:a', 'turn'), /TURN_URLS: "stun:a" must be a turn: or turns: URL/)
  t.throws(() => parseIceUrlList('STUN_URLS', 'turn:a', 'stun'), /STUN_URLS: "turn:a" must be a stun: or stuns: URL/)
})

t.test('loadConfig refuses bad TURN settings at start, naming the variable', async (t) => {
  t.throws(() => loadConfig({ TURN_URLS: 'turn:turn.example.org:53?transport=udp' }), { name: 'ConfigError', message: /^TURN_URLS: .*port 53/ })
  t.throws(() => loadConfig({ STUN_URLS: 'stun:user@stun.example.org' }), { name: 'ConfigError', message: /^STUN_URLS: / })
  t.throws(() => loadConfig({ TURN_PROVIDER: 'xirsys' }), ConfigError)
  t.throws(() => loadConfig({ TURN_PROVIDER: 'xirsys' }), { message: /TURN_PROVIDER/ }, 'an unknown provider is named')
  t.throws(() => loadConfig({ TURN_REST_API_KEYS: 'short' }), { name: 'ConfigError', message: /^TURN_REST_API_KEYS: .*16 characters/ })
  t.throws(() => loadConfig({ TURN_PROVIDER: 'cloudflare' }), { message: /CLOUDFLARE_TURN_KEY_ID/ })
  t.throws(() => loadConfig({ TURN_TTL_SECONDS: '30' }), { message: /TURN_TTL_SECONDS/ })
  const ok = loadConfig({ STUN_URLS: 'stun:stun.example.org', TURN_URLS: 'turn:turn.example.org:3478?transport=udp,turns:turn.example.org:443?transport=tcp' })
  t.equal(ok.TURN_PROVIDER, 'hmac', 'hmac is the default provider')
})
