/**
 * The demo call page: two tabs, one room, a video call (or a data-channel chat without a camera).
 * Signaling, TURN credentials and the peer connection's negotiation go through the client package
 * (SwitchboardClient and PeerCall); call.ts adds the chat and what the page shows. Served by
 * plugins/demo at /demo/ and bundled there with esbuild.
 */
import { DEFAULT_STATS_INTERVAL_MS, MIN_STATS_INTERVAL_MS, SwitchboardClient, SwitchboardError, type IceServersResult, type PeerInfo, type ServerMessageOf, type WelcomeMessage } from '../client/index.js'
import { Call, randomId, relayProblem, type ChatEntry } from './call.js'
import { initialState, type DemoState } from './state.js'

// ---- elements -------------------------------------------------------------------------------

function $<T extends HTMLElement> (id: string): T {
  const element = document.getElementById(id)
  if (element === null) throw new Error(`#${id} is missing from index.html`)
  return element as T
}

const ui = {
  form: $<HTMLFormElement>('join-form'),
  room: $<HTMLInputElement>('room'),
  name: $<HTMLInputElement>('name'),
  camera: $<HTMLInputElement>('camera'),
  relay: $<HTMLInputElement>('relay'),
  tokenRow: $<HTMLDivElement>('token-row'),
  token: $<HTMLInputElement>('token'),
  join: $<HTMLButtonElement>('join'),
  leave: $<HTMLButtonElement>('leave'),
  restart: $<HTMLButtonElement>('restart'),
  error: $<HTMLParagraphElement>('error'),
  remoteVideo: $<HTMLVideoElement>('remote-video'),
  localVideo: $<HTMLVideoElement>('local-video'),
  remoteCaption: $<HTMLElement>('remote-caption'),
  signaling: $<HTMLElement>('st-signaling'),
  peer: $<HTMLElement>('st-peer'),
  connection: $<HTMLElement>('st-connection'),
  ice: $<HTMLElement>('st-ice'),
  candidate: $<HTMLElement>('st-candidate'),
  rtt: $<HTMLElement>('st-rtt'),
  servers: $<HTMLElement>('st-servers'),
  restarts: $<HTMLElement>('st-restarts'),
  chatLog: $<HTMLOListElement>('chat-log'),
  chatForm: $<HTMLFormElement>('chat-form'),
  chatInput: $<HTMLInputElement>('chat-input'),
  chatSend: $<HTMLButtonElement>('chat-send'),
  eventLog: $<HTMLOListElement>('event-log')
}

// ---- state ----------------------------------------------------------------------------------

const state: DemoState = initialState()
/** Tells this page load apart from a reload by the same user: only the same page still has the call. */
const pageId = randomId(4)
window.switchboardDemo = { get state () { return structuredClone(state) } }

let client: SwitchboardClient | undefined
let call: Call | undefined
let localStream: MediaStream | undefined
/** TURN credentials fetched before joining (undefined: none, direct paths only). */
let iceServers: IceServersResult | undefined
let statsTimer: ReturnType<typeof setInterval> | undefined
/** Stops the call-quality reports to the server (client.monitorCall) of the current call. */
let stopQualityReports: (() => void) | undefined
const started = performance.now()
/** `?statsInterval=<ms>`: how often the call reports its quality to the server (the e2e tests shorten it). */
const statsIntervalMs = ((): number => {
  const asked = Number(new URLSearchParams(location.search).get('statsInterval') ?? Number.NaN)
  return Number.isFinite(asked) && asked >= MIN_STATS_INTERVAL_MS ? asked : DEFAULT_STATS_INTERVAL_MS
})()

/** The address bar's query for `room`: shareable, and keeping a statsInterval the page was opened with. */
function pageQuery (room: string): string {
  const query = new URLSearchParams({ room })
  if (statsIntervalMs !== DEFAULT_STATS_INTERVAL_MS) query.set('statsInterval', String(statsIntervalMs))
  return `?${query.toString()}`
}
const MAX_EVENTS = 500

function event (text: string): void {
  const line = `${((performance.now() - started) / 1000).toFixed(1)}s ${text}`
  state.events.push(text)
  const item = document.createElement('li')
  item.textContent = line
  ui.eventLog.append(item)
  // A long call must not grow the page without bound.
  if (state.events.length > MAX_EVENTS) state.events.splice(0, state.events.length - MAX_EVENTS)
  while (ui.eventLog.childElementCount > MAX_EVENTS) ui.eventLog.firstElementChild?.remove()
  ui.eventLog.scrollTop = ui.eventLog.scrollHeight
}

function showError (err: unknown): void {
  const code = err instanceof SwitchboardError ? err.code : 'SWB_DEMO_ERROR'
  const message = err instanceof Error ? err.message : String(err)
  state.error = { code, message }
  ui.error.textContent = `${message} (${code})`
  ui.error.hidden = false
  event(`error ${code}`)
}

function clearError (): void {
  delete state.error
  ui.error.hidden = true
}

// ---- tokens ---------------------------------------------------------------------------------

/** One user per tab, kept across reloads of that tab: a resume must present the same user. */
function tabUserId (): string {
  const key = 'switchboard-demo-sub'
  let sub = sessionStorage.getItem(key)
  if (sub === null) {
    sub = `demo-${randomId(4)}`
    sessionStorage.setItem(key, sub)
  }
  return sub
}

/** `#token=<jwt>` hands the page a token without it reaching any server log; removed from the address bar at once. */
function takeFragmentToken (): string | undefined {
  const token = new URLSearchParams(location.hash.slice(1)).get('token') ?? undefined
  if (token !== undefined) history.replaceState(null, '', location.pathname + location.search)
  return token
}

class NoDevTokens extends Error {}

/**
 * The client's token function. Development servers mint tokens at POST /v1/dev/token (kept until a
 * minute before expiry); elsewhere the token comes from the fragment or the token field.
 */
function tokenSource (room: string, name: string, pasted: string | undefined): () => Promise<string> {
  let cached: { token: string, expiresAtMs: number } | undefined
  return async () => {
    if (pasted !== undefined) return pasted
    if (cached !== undefined && cached.expiresAtMs - Date.now() > 60_000) return cached.token
    const response = await fetch('/v1/dev/token', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sub: tabUserId(), ...(name !== '' && { name }), rooms: [room], ttl: 3600 }),
      cache: 'no-store'
    })
    if (response.status === 404) throw new NoDevTokens('This server mints no development tokens: paste a token')
    const body = await response.json() as { token?: string, expiresAt?: string, code?: string, detail?: string }
    if (!response.ok || body.token === undefined) {
      throw new SwitchboardError(body.code ?? 'SWB_CLIENT_BAD_RESPONSE', body.detail ?? `POST /v1/dev/token: HTTP ${response.status}`, { status: response.status })
    }
    cached = { token: body.token, expiresAtMs: Date.parse(body.expiresAt ?? '') || Date.now() + 3_600_000 }
    return body.token
  }
}

// ---- media ----------------------------------------------------------------------------------

async function openCamera (): Promise<MediaStream | undefined> {
  if (!ui.camera.checked) return undefined
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 480 } })
    ui.localVideo.srcObject = stream
    return stream
  } catch (err) {
    // No camera, or permission refused: the call still runs, with the chat only.
    event(`no camera or microphone (${err instanceof Error ? err.name : 'error'}): chat only`)
    return undefined
  }
}

// ---- the call -------------------------------------------------------------------------------

/** Both sides agree on who yields in an offer collision without talking about it. */
function isPolite (me: WelcomeMessage, partner: PeerInfo): boolean {
  return me.userId === partner.userId ? me.peerId > partner.peerId : me.userId > partner.userId
}

function onChat (entry: ChatEntry): void {
  const existing = state.chat.find((c) => c.id === entry.id && c.from === entry.from)
  if (existing !== undefined && entry.roundTripMs !== undefined) existing.roundTripMs = entry.roundTripMs
  else if (existing === undefined) state.chat.push(entry)
  renderChat()
}

function createCall (): Call {
  const welcome = client?.welcome
  const partner = state.partner
  if (welcome === undefined || partner === undefined) throw new Error('no session or partner')
  if (client === undefined || state.room === undefined) throw new Error('no client or room')
  call = new Call({
    client,
    room: state.room,
    peerId: partner.peerId,
    iceServers,
    forceRelay: state.forceRelay,
    polite: isPolite(welcome, { peerId: partner.peerId, userId: partner.userId }),
    localStream,
    onChange: render,
    onChat,
    onRemoteStream (stream) {
      ui.remoteVideo.srcObject = stream
      ui.remoteVideo.play().catch(() => { /* autoplay refused: the user can press play */ })
    }
  })
  call.peer.on('iceservers', ({ expiresAt }) => {
    if (state.iceServers !== undefined) state.iceServers.expiresAt = expiresAt
    render()
  })
  event('call created')
  clearInterval(statsTimer)
  statsTimer = setInterval(() => { void refreshStats() }, 500)
  // RTT, jitter, loss, bitrate and candidate type go to the server's metrics while the call lasts.
  stopQualityReports?.()
  stopQualityReports = client?.monitorCall(call.pc, statsIntervalMs)
  return call
}

/** The other peer is here. The newcomer (who found them in `joined`) makes the first offer. */
function partnerPresent (peer: PeerInfo, newcomer: boolean): void {
  const name = typeof peer.meta?.name === 'string' ? peer.meta.name : undefined
  const page = typeof peer.meta?.page === 'string' ? peer.meta.page : undefined
  const partner = { peerId: peer.peerId, userId: peer.userId, ...(name !== undefined && { name }), ...(page !== undefined && { page }) }
  const current = state.partner
  if (current !== undefined && current.peerId !== peer.peerId && current.userId === peer.userId) {
    if (call !== undefined && call.pc.connectionState !== 'closed' && page !== undefined && current.page === page) {
      // The same page on a new session (its instance went away without sharing state): its
      // RTCPeerConnection is alive, so keep the media path, re-address signaling, and have one side
      // restart ICE over the new signaling.
      state.partner = partner
      call.peer.setPeerId(peer.peerId)
      event('partner back on a new session')
      if (newcomer) void restartIce()
      render()
      return
    }
    // The same person from a new page (a reload): the old call cannot be resumed, start over.
    endCall('They rejoined from a new page')
  }
  if (state.partner !== undefined && state.partner.peerId !== peer.peerId) {
    event('someone else joined: this demo calls one peer at a time')
    return
  }
  state.partner = partner
  ui.remoteCaption.textContent = name ?? peer.userId
  if (newcomer && call === undefined) createCall()
  render()
}

function endCall (why: string): void {
  clearInterval(statsTimer)
  stopQualityReports?.()
  stopQualityReports = undefined
  call?.close()
  call = undefined
  delete state.partner
  delete state.selected
  ui.remoteVideo.srcObject = null
  ui.remoteCaption.textContent = why
  event(why)
  render()
}

async function refreshIceServers (): Promise<void> {
  if (client === undefined) return
  try {
    const config = await client.getIceServers()
    iceServers = config
    const count = (scheme: RegExp): number => config.iceServers.filter((s) => s.urls.some((u) => scheme.test(u))).length
    state.iceServers = { stun: count(/^stuns?:/), turn: count(/^turns?:/), expiresAt: config.expiresAt }
  } catch (err) {
    // No TURN configured (or refused): direct connections still work on one network.
    iceServers = undefined
    delete state.iceServers
    event(`no ICE servers (${err instanceof SwitchboardError ? err.code : 'error'})`)
  }
}

/** New ICE credentials and candidates, negotiated over signaling (after a resume, or from the button). */
async function restartIce (): Promise<void> {
  if (call === undefined) return
  const current = call
  event('ICE restart')
  await current.restartIce()
}

// ---- signaling ------------------------------------------------------------------------------

function wire (c: SwitchboardClient): void {
  c.on('state', ({ state: s }) => { state.signaling = s; render() })
  c.on('welcome', (w) => {
    state.peerId = w.peerId
    state.userId = w.userId
    event(w.resumed ? 'welcome (resumed)' : 'welcome')
  })
  c.on('resumed', () => {
    // Our network path may have changed with the socket: refresh candidates over the resumed signaling.
    if (call !== undefined) void restartIce()
  })
  c.on('session-lost', ({ code }) => {
    event(`session lost (${code}): joining again`)
    if (state.room !== undefined) joinRoom(c, state.room).catch(showError)
  })
  c.on('reconnecting', ({ reason, attempt }) => event(`reconnecting (${reason}, attempt ${attempt})`))
  c.on('reconnect', () => event('server is draining: moving'))
  c.on('close', ({ code, willReconnect, error }) => {
    // Our own leave() closes too: only a close we did not ask for is an error.
    if (!willReconnect && client === c && state.room !== undefined) {
      showError(error ?? new SwitchboardError('SWB_CLIENT_CLOSED', `Signaling closed (${code})`))
      void leave(false)
    }
  })
  c.on('error', (m) => event(`server error ${m.code}`))
  c.on('peer-joined', (m) => {
    if (m.room !== state.room) return
    event('peer-joined')
    partnerPresent(m.peer, false)
  })
  c.on('peer-left', (m) => {
    if (m.room !== state.room) return
    event(`peer-left (${m.reason})`)
    if (m.peerId === state.partner?.peerId) endCall(PARTNER_LEFT[m.reason])
  })
  // The room's backend ended the consultation, or took this device out of it: the call is over.
  c.on('room-ended', (m) => {
    if (m.room !== state.room) return
    event(`room-ended (${m.reason})`)
    void leave(false).then(() => showError(new SwitchboardError('SWB_DEMO_ROOM_ENDED',
      m.reason === 'max-duration' ? 'The room reached its maximum duration and ended' : 'The room was ended by the service')))
  })
  c.on('removed', (m) => {
    if (m.room !== state.room) return
    event(`removed (${m.reason})`)
    void leave(false).then(() => showError(new SwitchboardError('SWB_DEMO_REMOVED', 'You were removed from the room')))
  })
  // The call's PeerCall handles offers, answers and candidates itself; the page lists them, and
  // creates its call on the first offer (and hands that offer over: the call was not listening yet).
  for (const type of ['offer', 'answer'] as const) {
    c.on(type, (m) => {
      if (m.room !== state.room || m.from !== state.partner?.peerId) return
      event(type)
      if (call === undefined && m.type === 'offer') createCall().peer.receive(m)
    })
  }
}

/** What the page says when the partner's peer-left arrives, by its reason. */
const PARTNER_LEFT: Record<ServerMessageOf<'peer-left'>['reason'], string> = {
  left: 'They left the call',
  timeout: 'They lost their connection',
  removed: 'They were removed from the room',
  revoked: 'Their session was ended by the service'
}

async function joinRoom (c: SwitchboardClient, room: string): Promise<void> {
  const joined = await c.join(room, { name: ui.name.value.trim() || tabUserId(), page: pageId })
  event('joined')
  const first = joined.peers[0]
  if (first !== undefined) partnerPresent(first, true)
}

async function join (): Promise<void> {
  clearError()
  const room = ui.room.value.trim()
  if (!ui.room.checkValidity() || room === '') {
    showError(new SwitchboardError('SWB_DEMO_BAD_ROOM', 'Room: letters, digits and . _ ~ : / - only'))
    return
  }
  setJoined(true)
  state.room = room
  state.forceRelay = ui.relay.checked
  history.replaceState(null, '', pageQuery(room))
  const pasted = ui.token.value.trim() || undefined
  const name = ui.name.value.trim()
  sessionStorage.setItem('switchboard-demo-name', name)
  const c = new SwitchboardClient({ url: location.origin, token: tokenSource(room, name, pasted) })
  client = c
  wire(c)
  try {
    localStream = await openCamera()
    state.media.local = localStream?.getTracks().map((t) => t.kind) ?? []
    await c.connect()
    await refreshIceServers()
    // Refuse before joining: the partner would otherwise wait on a call that can never gather a candidate.
    const noRelay = relayProblem(state.forceRelay, iceServers?.iceServers ?? [])
    if (noRelay !== undefined) throw new SwitchboardError('SWB_DEMO_NO_TURN', noRelay)
    await joinRoom(c, room)
  } catch (err) {
    if (err instanceof SwitchboardError && err.cause instanceof NoDevTokens) {
      ui.tokenRow.hidden = false
      ui.token.focus()
    }
    showError(err)
    await leave(false)
  }
  render()
}

/** Leaves the room and ends the session (close code 1000: the other side sees peer-left `left` at once). */
async function leave (sayGoodbye = true): Promise<void> {
  const c = client
  client = undefined
  if (call !== undefined) endCall('You left')
  for (const track of localStream?.getTracks() ?? []) track.stop()
  localStream = undefined
  ui.localVideo.srcObject = null
  if (c !== undefined) {
    if (sayGoodbye && state.room !== undefined && c.state === 'open') await c.leave(state.room).catch(() => {})
    await c.close('left the demo')
  }
  delete state.room
  delete state.peerId
  state.signaling = 'idle'
  setJoined(false)
  render()
}

// ---- rendering ------------------------------------------------------------------------------

function setJoined (joined: boolean): void {
  // The transport policy is fixed for the call: Chromium applies a later change (setConfiguration plus
  // restartIce) to the candidates it signals, yet keeps using host ports for connectivity checks.
  for (const input of [ui.room, ui.name, ui.camera, ui.relay, ui.token]) input.disabled = joined
  ui.join.disabled = joined
  ui.leave.disabled = !joined
}

function tone (value: string): string {
  if (['open', 'connected', 'completed'].includes(value)) return 'good'
  if (['failed', 'closed', 'disconnected'].includes(value)) return 'bad'
  if (['connecting', 'reconnecting', 'checking', 'new'].includes(value)) return 'warn'
  return 'idle'
}

function setText (element: HTMLElement, text: string, toneOf?: string): void {
  if (element.textContent !== text) element.textContent = text
  if (toneOf !== undefined) element.dataset.tone = tone(toneOf)
}

async function refreshStats (): Promise<void> {
  if (call === undefined) return
  const stats = await call.stats()
  if (stats.selected !== undefined) state.selected = stats.selected
  state.media.videoFramesDecoded = stats.videoFramesDecoded
  state.media.audioPacketsReceived = stats.audioPacketsReceived
  render()
}

function render (): void {
  if (call !== undefined) {
    state.connection = call.pc.connectionState
    state.ice = call.pc.iceConnectionState
    state.gathering = call.pc.iceGatheringState
    state.localCandidateTypes = [...call.localCandidateTypes]
    state.candidateErrors = [...call.candidateErrors]
    state.noCandidates = call.noCandidates
    state.iceRestarts = call.iceRestarts
    state.chatOpen = call.chat.readyState === 'open'
  } else {
    state.connection = 'none'
    state.ice = 'none'
    state.gathering = 'none'
    state.chatOpen = false
  }
  setText(ui.signaling, state.signaling, state.signaling)
  setText(ui.peer, state.peerId === undefined ? '–' : `${state.peerId}${state.partner ? ` ↔ ${state.partner.peerId}` : ''}`)
  setText(ui.connection, state.connection === 'none' ? '–' : state.connection, state.connection)
  setText(ui.ice, state.ice === 'none' ? '–' : `${state.ice} · gathering ${state.gathering}`)
  const pair = state.selected
  const turnError = state.candidateErrors.find((e) => e.errorCode === 401 || e.errorCode === 403)
  if (pair !== undefined) {
    setText(ui.candidate, `${pair.local}${pair.relayProtocol ? `/${pair.relayProtocol}` : ''} → ${pair.remote}`, 'connected')
  } else if (state.noCandidates) {
    setText(ui.candidate, turnError ? `none: TURN refused the credentials (${turnError.errorCode} ${turnError.errorText})` : 'none gathered', 'failed')
  } else {
    setText(ui.candidate, '–', 'idle')
  }
  setText(ui.rtt, pair?.rttMs === undefined ? '–' : `${pair.rttMs} ms`)
  const servers = state.iceServers
  setText(ui.servers, servers === undefined
    ? 'none'
    : `${servers.stun} STUN, ${servers.turn} TURN · until ${new Date(servers.expiresAt).toLocaleTimeString()}${state.forceRelay ? ' · relay only' : ''}`)
  setText(ui.restarts, String(state.iceRestarts))
  ui.restart.disabled = call === undefined
  ui.chatInput.disabled = !state.chatOpen
  ui.chatSend.disabled = !state.chatOpen
}

function renderChat (): void {
  ui.chatLog.replaceChildren(...state.chat.map((entry) => {
    const item = document.createElement('li')
    item.className = entry.from
    item.textContent = entry.text
    if (entry.from === 'me') {
      const note = document.createElement('small')
      note.textContent = entry.roundTripMs === undefined ? '…' : `✓ ${entry.roundTripMs} ms`
      item.append(note)
    }
    return item
  }))
  ui.chatLog.scrollTop = ui.chatLog.scrollHeight
}

// ---- start ----------------------------------------------------------------------------------

// A token from the fragment goes into the (hidden) token field, where the user can replace it.
ui.token.value = takeFragmentToken() ?? ''
const params = new URLSearchParams(location.search)
// A room in the address bar makes the link shareable; without one, invent one and put it there.
ui.room.value = params.get('room') ?? `room-${randomId(3)}`
if (!params.has('room')) history.replaceState(null, '', pageQuery(ui.room.value))
ui.name.value = sessionStorage.getItem('switchboard-demo-name') ?? ''
ui.name.placeholder = tabUserId()
ui.relay.checked = params.get('relay') === '1'

ui.form.addEventListener('submit', (e) => {
  e.preventDefault()
  void join()
})
ui.leave.addEventListener('click', () => { void leave() })
ui.restart.addEventListener('click', () => { void restartIce() })
ui.chatForm.addEventListener('submit', (e) => {
  e.preventDefault()
  const entry = call?.sendChat(ui.chatInput.value)
  if (entry === undefined) return
  ui.chatInput.value = ''
  onChat(entry)
})
// Closing the tab ends the session at once instead of leaving a ghost for the resume grace period.
addEventListener('pagehide', () => { void client?.close('page closed') })
render()
