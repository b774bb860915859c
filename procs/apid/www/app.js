// Switchboard dashboard: plain JS, no dependencies. Reads the REST API, then follows
// /api/v1/events (Server-Sent Events) to update the views without reloading; a slow
// resync besides the stream keeps counters fresh and shows what no event announces.
// The API token is asked once, in a login form shown at the first 401, and kept in the
// tab's sessionStorage (never a cookie); fetch sends it as a bearer token, EventSource
// (which cannot send headers) as ?access_token=.
// The other nodes of an HA pair (GET /api/v1/nodes) are read directly from the browser
// with the same token; a node that does not answer is shown as down.
// Every field of every answer may be missing: apids of other versions, other nodes.
'use strict';

const REFRESH_MS = 3000; // the slow resync of everything
const MEDIA_MS = 1000; // sessions and drains while the media view is shown
const FETCH_TIMEOUT_MS = 5000; // this node
const PEER_TIMEOUT_MS = 2000; // other nodes: a dead one must not hold the page
const CPS_WINDOW_MS = 10000;

const state = {
  token: sessionStorage.getItem('sb_token') || '',
  registrations: new Map(), // aor + ' ' + contact -> entry
  processes: [],
  stats: null,
  source: null,
  sourceToken: null, // the token the open stream was opened with
  eventSeq: 0, // counts events; a read started before an event cannot undo it
  calls: new Map(), // key (the A-leg's Call-ID) -> call
  ended: new Map(), // Call-ID -> ms: calls whose call.ended came (kept 60 s)
  hangups: new Map(), // key -> 'pending' | error text
  sessions: [],
  rtpm: null, // GET rtpmanagers
  drains: new Map(), // node_id -> GET .../drain answer, merged with drain.* events
  drainErrors: new Map(), // node_id -> text of the last refused action
  nodes: [], // [{node_id, url, self, up, error, stats, calls, ready, total}]
  nodesKnown: true, // false when this apid has no /api/v1/nodes
  cpsSamples: [], // [{t, started}]
  missing: new Set(), // endpoints this apid answers 404 for
};

function $(id) { return document.getElementById(id); }

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function setText(e, text) { // only when it changed: no repaint, no lost selection
  const t = text === undefined || text === null ? '' : String(text);
  if (e.textContent !== t) e.textContent = t;
}

function num(v) { return typeof v === 'number' && isFinite(v) ? v : null; }

function show_(x) { return x === undefined || x === null || x === '' ? '-' : x; }

// The login form: one pending login, however many reads met a 401 together; resolves once
// a token was entered (wrong: the last token sent was refused).
let loginWait = null;
function askToken(wrong) {
  if (loginWait) return loginWait;
  loginWait = new Promise((resolve) => {
    const form = $('login');
    setText($('login-error'), wrong ? 'That token was refused; try again.' : '');
    for (const v of document.querySelectorAll('main')) v.hidden = true;
    form.hidden = false;
    $('login-token').value = '';
    $('login-token').focus();
    form.onsubmit = (ev) => {
      ev.preventDefault();
      const t = $('login-token').value.trim();
      if (!t) return;
      state.token = t;
      sessionStorage.setItem('sb_token', t);
      form.hidden = true;
      for (const v of document.querySelectorAll('main')) v.hidden = false;
      $('logout').hidden = false;
      loginWait = null;
      startEvents();
      resolve();
    };
  });
  return loginWait;
}

$('logout').hidden = !state.token;
$('logout').addEventListener('click', () => {
  sessionStorage.removeItem('sb_token');
  location.reload();
});

// A read of this node's API. A 401 asks for the token (once, however many reads fail
// together); errors carry the status so a 404 (endpoint not served) can be told apart.
async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  const sent = state.token;
  if (sent) headers['Authorization'] = 'Bearer ' + sent;
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), FETCH_TIMEOUT_MS);
  let res;
  try {
    res = await fetch(path, Object.assign({}, options, { headers, signal: ctl.signal }));
  } finally { clearTimeout(timer); }
  if (res.status === 401) {
    if (state.token !== sent) return api(path, options);
    await askToken(Boolean(sent));
    return api(path, options);
  }
  const body = await res.json().catch(() => null);
  if (!res.ok) {
    const e = new Error((body && body.error) || res.statusText || ('HTTP ' + res.status));
    e.status = res.status;
    throw e;
  }
  return body;
}

// A read of another node (BASE is its URL): the same token, a short timeout, no prompt.
async function peerApi(base, path, options = {}) {
  if (!base) return api(path, options);
  const headers = Object.assign({}, options.headers || {});
  if (state.token) headers['Authorization'] = 'Bearer ' + state.token;
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), PEER_TIMEOUT_MS);
  try {
    const res = await fetch(base.replace(/\/+$/, '') + path,
      Object.assign({}, options, { headers, signal: ctl.signal, mode: 'cors' }));
    const body = await res.json().catch(() => null);
    if (!res.ok) {
      const e = new Error((body && body.error) || ('HTTP ' + res.status));
      e.status = res.status;
      throw e;
    }
    return body;
  } catch (e) {
    if (e.name === 'AbortError') throw new Error('no answer within ' + PEER_TIMEOUT_MS / 1000 + ' s');
    // the browser says no more for a refused connection, a CORS or a CSP refusal
    if (e instanceof TypeError) throw new Error('unreachable (connection, CORS or CSP refused)');
    throw e;
  } finally { clearTimeout(timer); }
}

// Notes an endpoint's 404 (an apid without it) so its view says so instead of failing.
function track(name, p) {
  return p.then((v) => { state.missing.delete(name); return v; }, (e) => {
    if (e.status === 404) state.missing.add(name);
    throw e;
  });
}

// One read at a time per loader; a call during a read runs once more after it.
function single(fn) {
  let running = null, again = false;
  const run = async () => {
    if (running) { again = true; return running; }
    running = (async () => {
      try {
        do { again = false; await fn(); } while (again);
      } finally { running = null; }
    })();
    return running;
  };
  return run;
}

function duration(s) {
  if (s === null || s === undefined || !isFinite(s)) return '-';
  s = Math.max(0, Math.floor(s));
  const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
  if (d) return d + 'd ' + h + 'h';
  if (h) return h + 'h ' + m + 'm';
  if (m) return m + 'm ' + (s % 60) + 's';
  return s + 's';
}

function clock(s) { // 0:07, 1:02:03: a call's length
  if (s === null || s === undefined || !isFinite(s)) return '-';
  s = Math.max(0, Math.floor(s));
  const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, x = String(s % 60).padStart(2, '0');
  return h ? h + ':' + String(m).padStart(2, '0') + ':' + x : m + ':' + x;
}

function userOf(uri) { // "Alice" <sip:alice@example.com>;tag=x -> sip:alice@example.com
  if (!uri) return '-';
  const m = /<([^>]*)>/.exec(uri);
  return m ? m[1] : String(uri);
}

// Keeps a table's rows in step with ITEMS by key: a row that stays is updated in place
// (its buttons keep working while the data refreshes), new rows are built, gone ones removed.
function syncRows(tbody, items, keyOf, build, update) {
  const old = new Map();
  for (const tr of [...tbody.children]) old.set(tr.dataset.key, tr);
  const rows = items.map((it) => {
    const k = keyOf(it);
    let tr = old.get(k);
    if (tr) old.delete(k);
    else { tr = build(it); tr.dataset.key = k; tr.classList.add('fresh'); }
    update(tr, it);
    return tr;
  });
  for (const tr of old.values()) tr.remove();
  rows.forEach((tr, i) => {
    if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] || null);
  });
}

function note(id, text) {
  const p = $(id);
  p.hidden = !text;
  setText(p, text || '');
}

function currentView() { return (location.hash || '#overview').slice(1); }

// ---- overview ----

function sumCounter(role, name) { // a counter summed over a role's processes, or null
  let sum = null;
  for (const p of state.processes) {
    if (p.role !== role || !p.counters) continue;
    const v = num(p.counters[name]);
    if (v !== null) sum = (sum || 0) + v;
  }
  return sum;
}

function callsStarted() {
  const s = state.stats || {};
  return num(s.calls_started) !== null ? s.calls_started : sumCounter('dialogd', 'calls_started');
}

function sampleCps() {
  const started = callsStarted();
  if (started === null) return;
  const now = Date.now(), samples = state.cpsSamples;
  samples.push({ t: now, started });
  while (samples.length > 2 && now - samples[1].t > CPS_WINDOW_MS) samples.shift();
}

function cps() {
  const s = state.cpsSamples;
  if (s.length < 2) return null;
  const a = s[0], b = s[s.length - 1];
  if (b.t - a.t < 500) return null;
  if (b.started < a.started) return 0; // dialogd restarted: its counters began again
  return (b.started - a.started) * 1000 / (b.t - a.t);
}

function renderOverview() {
  const s = state.stats || {};
  if (state.stats) {
    setText($('node'), s.node_id || '');
    setText($('ov-sip'), show_(s.sip_requests));
    setText($('ov-registers'), show_(s.registers));
    setText($('ov-dialogs'), show_(s.active_dialogs));
    setText($('ov-uptime'), duration(s.uptime_seconds));
    setText($('ov-redis'), show_(s.redis));
  }
  let active = num(s.calls_active);
  if (active === null) active = sumCounter('dialogd', 'calls_active');
  if (active === null && !state.missing.has('dialogs')) active = state.calls.size;
  setText($('ov-calls'), show_(active));
  const c = cps();
  setText($('ov-cps'), c === null ? '-' : (c < 10 ? c.toFixed(1) : Math.round(c)));
  let sessions = state.rtpm ? num(state.rtpm.active_sessions) : null;
  if (sessions === null) sessions = num(s.active_sessions);
  setText($('ov-sessions'), show_(sessions));
  renderMediaLoad();
}

// One bar per mediad: from GET rtpmanagers, or from mediad's own counters.
function renderMediaLoad() {
  let members = [];
  if (state.rtpm && Array.isArray(state.rtpm.members)) {
    members = state.rtpm.members.map((m) => ({
      name: m.node_id || m.address || '?', count: num(m.session_count) || 0,
      healthy: m.healthy !== false, drain: m.drain_state || 'active',
    }));
  } else {
    for (const p of state.processes) {
      if (p.role !== 'mediad') continue;
      members.push({ name: p.service + '/' + p.instance,
        count: (p.counters && num(p.counters.media_sessions)) || 0,
        healthy: p.state === 'ready', drain: 'active' });
    }
  }
  const box = $('ov-mediad');
  if (!members.length) { box.replaceChildren(el('span', '-', 'muted')); return; }
  const max = Math.max(1, ...members.map((m) => m.count));
  box.replaceChildren(...members.map((m) => {
    const row = el('div', null, 'bar-row');
    row.dataset.node = m.name;
    const bar = el('div', null, 'bar');
    const fill = el('div', null, 'fill' + (m.healthy ? '' : ' down') + (m.drain !== 'active' ? ' draining' : ''));
    fill.style.width = Math.round(100 * m.count / max) + '%';
    bar.append(fill);
    row.append(el('span', m.name, 'bar-name'), bar,
      el('span', m.count + ' session' + (m.count === 1 ? '' : 's') +
        (m.healthy ? '' : ', down') + (m.drain !== 'active' ? ', ' + m.drain : ''), 'bar-count'));
    return row;
  }));
}

// ---- registrations ----

function renderRegistrations() {
  const tbody = document.querySelector('#registrations tbody');
  const rows = [...state.registrations.values()].sort((a, b) =>
    a.aor === b.aor ? (a.contact < b.contact ? -1 : 1) : (a.aor < b.aor ? -1 : 1));
  syncRows(tbody, rows, (r) => r.aor + ' ' + r.contact, (r) => {
    const tr = el('tr');
    tr.dataset.aor = r.aor;
    tr.dataset.contact = r.contact;
    tr.append(el('td', r.aor, 'aor'), el('td', r.contact, 'contact'), el('td', '', 'expires'),
      el('td', '', 'registered'), el('td', '', 'ua'));
    const td = el('td');
    const b = el('button', 'Unregister');
    b.onclick = () => unregister(r.aor, r.contact);
    td.append(b);
    tr.append(td);
    return tr;
  }, (tr, r) => {
    const left = r.expires_at_ms ? (r.expires_at_ms - Date.now()) / 1000 : r.expires;
    setText(tr.querySelector('.expires'), duration(left));
    setText(tr.querySelector('.registered'), r.registered_at || '-');
    setText(tr.querySelector('.ua'), r.user_agent || '');
  });
  setText($('reg-count'), '(' + rows.length + ')');
  setText($('ov-registrations'), rows.length);
}

// ---- processes ----

function renderProcesses() {
  const tbody = document.querySelector('#processes tbody');
  let ready = 0, restarts = 0;
  syncRows(tbody, state.processes, (p) => p.service + '/' + p.instance, (p) => {
    const tr = el('tr');
    tr.dataset.service = p.service;
    tr.dataset.instance = p.instance;
    tr.append(el('td', p.service), el('td', p.instance), el('td', '', 'pid'), el('td', '', 'state'),
      el('td', '', 'uptime'), el('td', '', 'restarts'), el('td', '', 'heartbeat'));
    return tr;
  }, (tr, p) => {
    if (p.state === 'ready') ready++;
    restarts += num(p.restarts) || 0;
    if (p.fresh) { // an event changed it: flash again
      p.fresh = false;
      tr.classList.remove('fresh');
      void tr.offsetWidth;
      tr.classList.add('fresh');
    }
    setText(tr.querySelector('.pid'), show_(p.pid));
    const st = tr.querySelector('.state');
    setText(st, show_(p.state));
    st.className = 'state state-' + p.state;
    setText(tr.querySelector('.uptime'), duration(p.uptime_seconds));
    setText(tr.querySelector('.restarts'), show_(p.restarts));
    setText(tr.querySelector('.heartbeat'),
      p.heartbeat_age_ms === null || p.heartbeat_age_ms === undefined ? '-' : p.heartbeat_age_ms + ' ms');
  });
  setText($('ov-processes'), ready + ' / ' + state.processes.length);
  setText($('ov-restarts'), restarts);
}

// ---- calls ----

// Two dialogs per call (the A leg inbound, the B leg outbound, linked by peer_call_id)
// become one call; a leg whose partner is not listed (yet, or an IVR call) stands alone.
function groupCalls(dialogs, at) {
  const list = (Array.isArray(dialogs) ? dialogs : []).filter((d) => d && d.call_id);
  const byId = new Map(), outByPeer = new Map();
  for (const d of list) {
    if (!byId.has(d.call_id)) byId.set(d.call_id, d);
    if (d.direction === 'outbound' && d.peer_call_id) outByPeer.set(d.peer_call_id, d);
  }
  const used = new Set(), calls = [];
  const partner = (d, dir) => {
    const p = (d.peer_call_id && byId.get(d.peer_call_id)) ||
      (dir === 'outbound' ? outByPeer.get(d.call_id) : undefined);
    return p && p !== d && !used.has(p) && p.direction === dir ? p : null;
  };
  for (const d of list) {
    if (used.has(d) || d.direction === 'outbound') continue;
    const b = partner(d, 'outbound');
    used.add(d);
    if (b) used.add(b);
    calls.push(makeCall(d, b, at));
  }
  for (const d of list) {
    if (used.has(d)) continue;
    used.add(d);
    calls.push(makeCall(null, d, at));
  }
  return calls;
}

function makeCall(a, b, at) {
  const first = a || b;
  let base = num(first.duration_seconds);
  if (base === null) {
    const created = Date.parse(first.created_at);
    base = isFinite(created) ? Math.max(0, (at - created) / 1000) : 0;
  }
  return {
    key: first.call_id, a, b, base, at,
    from_uri: first.from_uri, to_uri: first.to_uri,
    node_id: first.node_id || (b && b.node_id) || '',
  };
}

function callIds(c) {
  const ids = [c.key];
  if (c.a && c.a.call_id) ids.push(c.a.call_id);
  if (c.b && c.b.call_id) ids.push(c.b.call_id);
  if (c.b_call_id) ids.push(c.b_call_id);
  return ids;
}

function callEnded(c) {
  if (callIds(c).some((id) => state.ended.has(id))) return true;
  const legs = [c.a, c.b].filter(Boolean);
  return legs.length > 0 && legs.every((l) => l.state === 'Terminated');
}

function legText(l) {
  if (!l) return '-';
  return (l.state || '?') + (l.remote_addr ? '  ' + l.remote_addr + (l.remote_port ? ':' + l.remote_port : '') : '');
}

function callSeconds(c) { return c.base + (Date.now() - c.at) / 1000; }

// A call row: used by the calls view (this node) and the nodes view (every node).
function buildCallRow(c, withNode) {
  const tr = el('tr');
  tr.dataset.callId = c.key;
  if (withNode) tr.append(el('td', '', 'node'));
  tr.append(el('td', '', 'from'), el('td', '', 'to'), el('td', '', 'leg leg-a'),
    el('td', '', 'leg leg-b'), el('td', '', 'duration'));
  if (!withNode) tr.append(el('td', '', 'node'));
  const td = el('td', null, 'actions');
  const b = el('button', 'Hang up', 'hangup danger');
  td.append(b, el('span', '', 'err'));
  tr.append(td);
  return tr;
}

function updateCallRow(tr, c, base) {
  setText(tr.querySelector('.from'), userOf(c.from_uri));
  setText(tr.querySelector('.to'), userOf(c.to_uri));
  for (const [cls, leg] of [['.leg-a', c.a], ['.leg-b', c.b]]) {
    const td = tr.querySelector(cls);
    setText(td, legText(leg));
    td.dataset.state = leg ? (leg.state || '') : '';
    if (leg && leg.call_id) td.title = leg.call_id; else td.removeAttribute('title');
  }
  setText(tr.querySelector('.duration'), clock(callSeconds(c)));
  setText(tr.querySelector('.node'), c.node_id || '-');
  const b = tr.querySelector('button.hangup');
  const h = state.hangups.get(c.key);
  b.disabled = h === 'pending';
  setText(b, h === 'pending' ? 'Hanging up…' : 'Hang up');
  setText(tr.querySelector('.err'), h && h !== 'pending' ? h : '');
  b.onclick = () => hangup(c, base);
}

function sortedCalls(map) {
  return [...map.values()].sort((x, y) => callSeconds(y) - callSeconds(x) || (x.key < y.key ? -1 : 1));
}

function renderCalls() {
  const calls = sortedCalls(state.calls);
  syncRows(document.querySelector('#calls tbody'), calls, (c) => c.key,
    (c) => buildCallRow(c, false), (tr, c) => updateCallRow(tr, c, ''));
  setText($('calls-count'), '(' + calls.length + ')');
  setText($('nav-calls'), calls.length ? calls.length : '');
  note('calls-note', state.missing.has('dialogs') ? 'This apid does not serve /api/v1/dialogs.' : '');
}

function tickDurations() { // the live duration, between reads
  for (const sel of ['#calls', '#node-calls']) {
    for (const tr of document.querySelectorAll(sel + ' tbody tr')) {
      const c = sel === '#calls' ? state.calls.get(tr.dataset.key) : nodeCall(tr.dataset.key);
      if (c) setText(tr.querySelector('.duration'), clock(callSeconds(c)));
    }
  }
}

async function loadDialogs() {
  const seq = state.eventSeq;
  const doc = await track('dialogs', api('/api/v1/dialogs'));
  const next = new Map();
  for (const c of groupCalls(doc && doc.dialogs, Date.now())) {
    if (callEnded(c)) continue;
    const old = state.calls.get(c.key);
    if (old && old.b_call_id && !c.b_call_id) c.b_call_id = old.b_call_id;
    next.set(c.key, c);
  }
  // a call announced by an event after this read began is kept until a later read
  for (const c of state.calls.values())
    if (c.provisional && c.provisional > seq && !next.has(c.key) && !callEnded(c)) next.set(c.key, c);
  state.calls = next;
  for (const k of [...state.hangups.keys()]) if (!next.has(k)) state.hangups.delete(k);
  renderCalls();
}

async function hangup(c, base) {
  state.hangups.set(c.key, 'pending');
  renderCalls();
  renderNodes();
  try {
    await peerApi(base, '/api/v1/dialogs/' + encodeURIComponent(c.key), { method: 'DELETE' });
  } catch (e) {
    state.hangups.set(c.key, 'hang-up failed: ' + e.message);
  }
  renderCalls();
  renderNodes();
  reloadSoon(loadCalls);
}

// ---- media ----

// The counters of a session, whatever their names, grouped by side: numeric fields (one
// level of nesting too: a, b) whose name says packets, bytes, lost or dropped. Packets and
// losses are shown, the rest is in the tooltip.
function counters(s) {
  const groups = new Map(); // '' or the side's name -> [[name, value]]
  const walk = (o, side) => {
    for (const [k, v] of Object.entries(o)) {
      if (v && typeof v === 'object' && !Array.isArray(v) && side === '') walk(v, k);
      else if (num(v) !== null && /packets|bytes|octets|lost|dropped|discard|jitter/i.test(k)) {
        if (!groups.has(side)) groups.set(side, []);
        groups.get(side).push([k, v]);
      }
    }
  };
  walk(s, '');
  return groups;
}

function counterGroup(side, list) {
  const g = el('span', null, 'ctr-group');
  g.dataset.side = side;
  if (side) g.append(el('b', side.toUpperCase() + ' '));
  g.title = list.map(([k, v]) => (side ? side + '.' : '') + k + ' ' + v).join('\n');
  const shown = list.filter(([k]) => /packets|lost/i.test(k));
  for (const [k, v] of shown.length ? shown : list) {
    const span = el('span', k.replace(/_packets$/, '').replace(/_/g, ' ') + ' ' + v, 'ctr');
    span.dataset.name = (side ? side + '.' : '') + k;
    span.dataset.value = v;
    g.append(span);
  }
  return g;
}

function renderSessions() {
  const sessions = state.sessions.filter((s) => s && (s.session_id || s.call_id));
  syncRows(document.querySelector('#sessions tbody'), sessions,
    (s) => String(s.session_id || s.call_id), (s) => {
      const tr = el('tr');
      tr.dataset.sessionId = s.session_id || '';
      tr.dataset.callId = s.call_id || '';
      tr.append(el('td', s.session_id, 'sid'), el('td', s.call_id, 'cid'), el('td', '', 'local'),
        el('td', '', 'remote'), el('td', '', 'codec'), el('td', '', 'state'), el('td', '', 'node'),
        el('td', '', 'age'), el('td', '', 'packets'));
      return tr;
    }, (tr, s) => {
      setText(tr.querySelector('.local'), show_(s.local_addr) + (s.local_port ? ':' + s.local_port : ''));
      setText(tr.querySelector('.remote'), show_(s.remote_addr) + (s.remote_port ? ':' + s.remote_port : ''));
      setText(tr.querySelector('.codec'), show_(s.codec));
      setText(tr.querySelector('.state'), show_(s.state));
      setText(tr.querySelector('.node'), show_(s.rtp_manager));
      const created = Date.parse(s.created_at);
      setText(tr.querySelector('.age'), isFinite(created) ? duration((Date.now() - created) / 1000) : '-');
      const td = tr.querySelector('.packets');
      const groups = counters(s);
      td.replaceChildren(...[...groups].map(([side, list]) => counterGroup(side, list)));
      if (!groups.size) td.textContent = '-';
    });
  setText($('sessions-count'), '(' + sessions.length + ')');
  note('sessions-note', state.missing.has('sessions') ? 'This apid does not serve /api/v1/sessions.' : '');
}

const DRAIN_OVER = /^(idle|completed|cancelled|canceled|done|failed)$/; // no drain running

function drainText(d) {
  if (!d || d.state === 'idle') return '';
  const parts = [d.state || ''];
  if (num(d.total_sessions) !== null)
    parts.push((num(d.migrated_count) || 0) + ' / ' + d.total_sessions + ' migrated');
  if (num(d.failed_count)) parts.push(d.failed_count + ' failed');
  if (num(d.waiting_playback)) parts.push(d.waiting_playback + ' waiting for playback');
  if (num(d.elapsed_seconds) !== null) parts.push(duration(d.elapsed_seconds));
  if (Array.isArray(d.errors) && d.errors.length) parts.push(d.errors.slice(-1)[0]);
  return parts.filter(Boolean).join(', ');
}

function renderRtpmanagers() {
  const r = state.rtpm || {};
  const members = Array.isArray(r.members) ? r.members.filter((m) => m && m.node_id) : [];
  syncRows(document.querySelector('#rtpmanagers tbody'), members, (m) => String(m.node_id), (m) => {
    const tr = el('tr');
    tr.dataset.node = m.node_id;
    tr.append(el('td', m.node_id, 'node'), el('td', '', 'address'), el('td', '', 'health'),
      el('td', '', 'count'), el('td', '', 'drain-state'), el('td', '', 'progress'));
    const td = el('td', null, 'actions');
    const mode = el('select', null, 'drain-mode');
    for (const v of ['graceful', 'aggressive']) { const o = el('option', v); o.value = v; mode.append(o); }
    const drain = el('button', 'Drain', 'drain');
    const cancel = el('button', 'Cancel drain', 'cancel-drain');
    drain.onclick = () => startDrain(m.node_id, mode.value);
    cancel.onclick = () => cancelDrain(m.node_id);
    td.append(mode, drain, cancel, el('span', '', 'err'));
    tr.append(td);
    return tr;
  }, (tr, m) => {
    setText(tr.querySelector('.address'), show_(m.address));
    const h = tr.querySelector('.health');
    setText(h, m.healthy === false ? 'down' : (m.healthy === true ? 'healthy' : '-'));
    h.className = 'health ' + (m.healthy === false ? 'bad' : 'good');
    setText(tr.querySelector('.count'), show_(m.session_count));
    const ds = m.drain_state || 'active';
    const d = state.drains.get(m.node_id);
    setText(tr.querySelector('.drain-state'), ds);
    tr.dataset.drainState = ds;
    setText(tr.querySelector('.progress'), drainText(d));
    const draining = ds !== 'active' || (d && d.state && !DRAIN_OVER.test(d.state));
    tr.querySelector('button.drain').disabled = draining;
    tr.querySelector('select.drain-mode').disabled = draining;
    tr.querySelector('button.cancel-drain').disabled = !draining;
    setText(tr.querySelector('.err'), state.drainErrors.get(m.node_id) || '');
  });
  const total = num(r.total_members), healthy = num(r.healthy_members);
  setText($('rtpm-summary'), total === null ? '' : '(' + (healthy === null ? '?' : healthy) + ' / ' + total +
    ' healthy, ' + show_(r.active_sessions) + ' sessions)');
  note('rtpm-note', state.missing.has('rtpmanagers') ? 'This apid does not serve /api/v1/rtpmanagers.' : '');
}

function drainPath(id) { return '/api/v1/rtpmanagers/' + encodeURIComponent(id) + '/drain'; }

async function loadDrains() {
  const members = (state.rtpm && Array.isArray(state.rtpm.members)) ? state.rtpm.members : [];
  await Promise.all(members.filter((m) => m && m.node_id).map(async (m) => {
    const d = state.drains.get(m.node_id);
    const running = d && d.state && !DRAIN_OVER.test(d.state);
    if ((m.drain_state || 'active') === 'active' && !running) return; // nothing to follow
    try {
      state.drains.set(m.node_id, await api(drainPath(m.node_id)));
    } catch (e) {
      if (e.status === 404) state.drains.delete(m.node_id);
    }
  }));
}

async function loadMedia() {
  // the sessions only while they are shown: the overview needs the members alone
  const wantSessions = currentView() === 'media';
  const [sessions, rtpm] = await Promise.allSettled([
    wantSessions ? track('sessions', api('/api/v1/sessions')) : Promise.reject(new Error('not shown')),
    track('rtpmanagers', api('/api/v1/rtpmanagers')),
  ]);
  if (sessions.status === 'fulfilled')
    state.sessions = (sessions.value && Array.isArray(sessions.value.sessions)) ? sessions.value.sessions : [];
  else if (wantSessions && state.missing.has('sessions')) state.sessions = [];
  if (rtpm.status === 'fulfilled') state.rtpm = rtpm.value || null;
  else if (state.missing.has('rtpmanagers')) state.rtpm = null;
  await loadDrains();
  if (wantSessions) renderSessions();
  renderRtpmanagers();
  renderOverview();
}

async function startDrain(id, mode) {
  state.drainErrors.delete(id);
  try {
    const r = await api(drainPath(id) + '?mode=' + encodeURIComponent(mode || 'graceful'), { method: 'POST' });
    state.drains.set(id, Object.assign({ state: 'draining', node_id: id }, r || {},
      { state: (r && r.state) || 'draining' }));
  } catch (e) {
    state.drainErrors.set(id, 'drain refused: ' + e.message);
  }
  renderRtpmanagers();
  loadMediaSoon();
}

async function cancelDrain(id) {
  state.drainErrors.delete(id);
  try {
    await api(drainPath(id), { method: 'DELETE' });
    state.drains.delete(id);
  } catch (e) {
    state.drainErrors.set(id, 'cancel refused: ' + e.message);
  }
  renderRtpmanagers();
  loadMediaSoon();
}

// ---- nodes (an HA pair) ----

function nodeCall(key) {
  for (const n of state.nodes) for (const c of n.calls || []) if (c.key === key) return c;
  return null;
}

async function loadNodes() {
  let nodes;
  try {
    const doc = await api('/api/v1/nodes');
    nodes = (doc && Array.isArray(doc.nodes)) ? doc.nodes.filter((n) => n && (n.node_id || n.url)) : [];
    state.nodesKnown = true;
  } catch (e) {
    if (e.status !== 404) throw e;
    state.nodesKnown = false;
    nodes = [];
  }
  if (!nodes.some((n) => n.self))
    nodes.unshift({ node_id: (state.stats && state.stats.node_id) || 'this node', url: location.origin, self: true });
  const read = await Promise.all(nodes.map(async (n) => {
    const base = n.self ? '' : String(n.url || '');
    const out = { node_id: n.node_id || '', url: n.url || '', self: !!n.self, base, up: false, error: '' };
    if (!n.self && !/^https?:\/\//.test(base)) { out.error = 'no URL'; return out; }
    const [stats, dialogs, procs] = await Promise.allSettled([
      peerApi(base, '/api/v1/stats'), peerApi(base, '/api/v1/dialogs'), peerApi(base, '/api/v1/processes'),
    ]);
    if (stats.status !== 'fulfilled') { out.error = stats.reason.message || 'down'; return out; }
    out.up = true;
    out.stats = stats.value || {};
    if (out.stats.node_id) out.node_id = out.stats.node_id; // peers are listed by URL only
    if (dialogs.status === 'fulfilled') {
      out.calls = groupCalls(dialogs.value && dialogs.value.dialogs, Date.now()).filter((c) => !callEnded(c));
      for (const c of out.calls) c.base_url = base;
    } else out.callsError = dialogs.reason.message;
    if (procs.status === 'fulfilled' && procs.value && Array.isArray(procs.value.processes)) {
      out.total = procs.value.processes.length;
      out.ready = procs.value.processes.filter((p) => p.state === 'ready').length;
    }
    return out;
  }));
  state.nodes = read;
  renderNodes();
}

function renderNodes() {
  syncRows(document.querySelector('#nodes tbody'), state.nodes, (n) => (n.self ? 'self ' : '') + n.url, (n) => {
    const tr = el('tr');
    tr.dataset.url = n.url;
    tr.append(el('td', '', 'node'), el('td', n.url, 'url'),
      el('td', '', 'status'), el('td', '', 'calls'), el('td', '', 'regs'), el('td', '', 'sessions'),
      el('td', '', 'ready'), el('td', '', 'uptime'));
    return tr;
  }, (tr, n) => {
    const s = n.stats || {};
    tr.dataset.node = n.node_id || '';
    tr.dataset.up = n.up ? '1' : '0';
    setText(tr.querySelector('.node'), show_(n.node_id) + (n.self ? ' (this node)' : ''));
    const st = tr.querySelector('.status');
    setText(st, n.up ? 'up' : 'down' + (n.error ? ': ' + n.error : ''));
    st.className = 'status ' + (n.up ? 'good' : 'bad');
    let calls = num(s.calls_active);
    if (calls === null && n.calls) calls = n.calls.length;
    setText(tr.querySelector('.calls'), n.up ? show_(calls) : '-');
    setText(tr.querySelector('.regs'), n.up ? show_(s.total_registrations) : '-');
    setText(tr.querySelector('.sessions'), n.up ? show_(s.active_sessions) : '-');
    setText(tr.querySelector('.ready'), n.up && n.total !== undefined ? n.ready + ' / ' + n.total : '-');
    setText(tr.querySelector('.uptime'), n.up ? duration(s.uptime_seconds) : '-');
  });
  // The nodes share Redis, so each may list the same calls: each call once, and a hang-up
  // goes to the node that holds it when that one answers.
  const all = new Map();
  for (const n of state.nodes) {
    for (const c of n.calls || []) {
      const owner = state.nodes.find((x) => x.up && x.node_id === c.node_id);
      if (!all.has(c.key) || owner === n) all.set(c.key, c);
    }
  }
  const calls = sortedCalls(all);
  syncRows(document.querySelector('#node-calls tbody'), calls, (c) => c.key,
    (c) => buildCallRow(c, true), (tr, c) => updateCallRow(tr, c, c.base_url || ''));
  setText($('node-calls-count'), '(' + calls.length + ')');
  const down = state.nodes.filter((n) => !n.up).length;
  note('nodes-note', !state.nodesKnown ? 'This apid does not serve /api/v1/nodes: this node only.' :
    (down ? down + ' of ' + state.nodes.length + ' nodes do not answer.' : ''));
}

// ---- reads ----

const loadRegistrations = single(async () => {
  const doc = await api('/api/v1/registrations');
  const next = new Map();
  for (const r of (doc && Array.isArray(doc.registrations) ? doc.registrations : [])) {
    if (!r || !r.aor) continue;
    r.expires_at_ms = Date.parse(r.expires_at);
    next.set(r.aor + ' ' + r.contact, r);
  }
  state.registrations = next;
  renderRegistrations();
});

const loadProcesses = single(async () => {
  const doc = await api('/api/v1/processes');
  state.processes = (doc && Array.isArray(doc.processes)) ? doc.processes : [];
  renderProcesses();
});

const loadStats = single(async () => {
  state.stats = await api('/api/v1/stats');
  renderOverview();
});

const loadCalls = single(() => loadDialogs().catch((e) => {
  if (e.status === 404) renderCalls(); // say so in the view
  throw e;
}));
const loadMediaOnce = single(loadMedia);
const loadNodesOnce = single(loadNodes);

async function refreshAll() {
  const jobs = [loadStats(), loadRegistrations(), loadProcesses(), loadCalls(), loadMediaOnce()];
  if (currentView() === 'nodes') jobs.push(loadNodesOnce());
  const results = await Promise.allSettled(jobs);
  for (const r of results)
    if (r.status === 'rejected' && r.reason && r.reason.status !== 404)
      console.warn('refresh failed:', r.reason.message);
  sampleCps();
  renderOverview();
}

async function unregister(aor, contact) {
  try {
    await api('/api/v1/registrations/' + encodeURIComponent(aor), {
      method: 'DELETE', body: JSON.stringify({ contact }),
      headers: { 'Content-Type': 'application/json' },
    });
  } catch (e) { window.alert('unregister failed: ' + e.message); }
}

// ---- events ----

const timers = new Map();
function reloadSoon(what) { // coalesces bursts of events into one read of each kind
  clearTimeout(timers.get(what));
  timers.set(what, setTimeout(() => {
    timers.delete(what);
    Promise.allSettled([what(), loadStats()]).then(() => { sampleCps(); renderOverview(); });
  }, 250));
}
function loadMediaSoon() { reloadSoon(loadMediaOnce); }

function describe(d) {
  if (d.aor) return d.aor + ' ' + (d.contact || '');
  if (d.service) return d.service + '/' + d.instance + ' pid ' + d.pid;
  if (d.call_id) {
    let s = d.call_id;
    if (d.from_uri || d.to_uri) s += '  ' + userOf(d.from_uri) + ' -> ' + userOf(d.to_uri);
    if (d.cause) s += '  ' + d.cause;
    if (d.status) s += ' ' + d.status;
    if (num(d.duration_ms) !== null) s += '  ' + (d.duration_ms / 1000).toFixed(1) + ' s';
    if (num(d.setup_ms) !== null) s += '  setup ' + d.setup_ms + ' ms';
    return s;
  }
  if (d.node_id && d.type && d.type.startsWith('drain.')) return d.node_id + '  ' + drainText(d);
  return '';
}

function logEvent(type, d) {
  const ul = $('events');
  const li = el('li', new Date().toLocaleTimeString() + '  ' + type + '  ' + describe(d));
  li.dataset.type = type;
  if (d.call_id) li.dataset.callId = d.call_id;
  ul.prepend(li);
  while (ul.children.length > 50) ul.lastChild.remove();
}

function parse(ev) {
  try {
    const d = JSON.parse(ev.data);
    return d && typeof d === 'object' ? d : null;
  } catch (e) { return null; }
}

function onRegistrationEvent(ev) {
  const d = parse(ev);
  if (!d) return;
  state.eventSeq++;
  const key = d.aor + ' ' + d.contact;
  if (d.type === 'registration.removed') {
    state.registrations.delete(key);
  } else if (d.aor) {
    const old = state.registrations.get(key) || {};
    const expires = num(d.expires) || 0;
    state.registrations.set(key, Object.assign({}, old, {
      aor: d.aor, contact: d.contact, expires,
      expires_at_ms: (d.ts_ms || Date.now()) + expires * 1000,
      registered_at: old.registered_at || new Date(d.ts_ms || Date.now()).toISOString(),
    }));
  }
  renderRegistrations();
  logEvent(d.type || ev.type, d);
  reloadSoon(loadRegistrations); // the full records (user agent) from Redis
}

function onProcessEvent(ev) {
  const d = parse(ev);
  if (!d) return;
  const p = state.processes.find((x) => x.service === d.service && x.instance === d.instance);
  if (p) {
    p.pid = d.pid; p.restarts = d.restarts; p.state = d.state; p.fresh = true;
    if (d.type === 'process.respawned') p.uptime_seconds = 0;
    renderProcesses();
  }
  logEvent(d.type || ev.type, d);
  reloadSoon(loadProcesses);
}

// The event draws the change at once; the read that follows brings the whole record.
function onCallEvent(ev) {
  const d = parse(ev);
  if (!d) return;
  const type = d.type || ev.type;
  state.eventSeq++;
  const id = d.call_id;
  let c = id ? state.calls.get(id) : undefined;
  if (!c && id) c = [...state.calls.values()].find((x) => callIds(x).includes(id));
  if (type === 'call.ended') {
    if (id) state.ended.set(id, Date.now());
    if (d.b_call_id) state.ended.set(d.b_call_id, Date.now());
    if (c) { for (const x of callIds(c)) state.ended.set(x, Date.now()); state.calls.delete(c.key); }
  } else if (id && !state.ended.has(id)) {
    if (!c) {
      c = { key: id, a: { call_id: id, direction: 'inbound', state: 'Initial' }, b: null,
        base: 0, at: d.ts_ms && Math.abs(Date.now() - d.ts_ms) < 60000 ? d.ts_ms : Date.now(),
        from_uri: d.from_uri, to_uri: d.to_uri, node_id: d.node_id || '', provisional: state.eventSeq };
      state.calls.set(id, c);
    } else if (c.provisional) c.provisional = state.eventSeq;
    if (d.b_call_id) c.b_call_id = d.b_call_id;
    const legState = type === 'call.ringing' ? 'Early' : (type === 'call.answered' ? 'Confirmed' : null);
    if (legState && c.provisional) {
      if (c.a) c.a.state = legState;
      if (c.b) c.b.state = legState;
    }
  }
  const now = Date.now();
  for (const [k, t] of state.ended) if (now - t > 60000) state.ended.delete(k);
  renderCalls();
  renderOverview();
  logEvent(type, d);
  reloadSoon(loadCalls);
  if (type === 'call.answered' || type === 'call.ended') loadMediaSoon();
}

function onDrainEvent(ev) {
  const d = parse(ev);
  if (!d) return;
  const type = d.type || ev.type;
  if (d.node_id) {
    const old = state.drains.get(d.node_id) || {};
    const next = Object.assign({}, old, d);
    delete next.type;
    if (!d.state) next.state = type === 'drain.completed' ? 'completed' : (type === 'drain.progress' ? 'draining' : old.state);
    state.drains.set(d.node_id, next);
    renderRtpmanagers();
  }
  logEvent(type, d);
  loadMediaSoon();
}

const CALL_EVENTS = ['call.started', 'call.ringing', 'call.answered', 'call.ended'];
const DRAIN_EVENTS = ['drain.started', 'drain.progress', 'drain.completed', 'drain.cancelled', 'drain.failed'];

// Opens the event stream, once per token: the first read that meets a 401 opens it with
// the new token, and the first refresh's end asks again; a second stream would replace
// the first, and an event published between the two would be lost. "live" is the badge
// of the stream in use only: the server has it registered when it opens.
function startEvents() {
  if (state.source && state.sourceToken === state.token && state.source.readyState !== EventSource.CLOSED) return;
  if (state.source) state.source.close();
  const url = '/api/v1/events' + (state.token ? '?access_token=' + encodeURIComponent(state.token) : '');
  const src = new EventSource(url);
  state.source = src;
  state.sourceToken = state.token;
  $('live').textContent = 'connecting'; $('live').className = 'badge off';
  src.onopen = () => {
    if (state.source !== src) return;
    $('live').textContent = 'live'; $('live').className = 'badge on'; refreshAll();
  };
  src.onerror = () => {
    if (state.source !== src) return;
    $('live').textContent = 'offline'; $('live').className = 'badge off';
  };
  for (const t of ['registration.added', 'registration.refreshed', 'registration.removed'])
    src.addEventListener(t, onRegistrationEvent);
  for (const t of ['process.died', 'process.respawned'])
    src.addEventListener(t, onProcessEvent);
  for (const t of CALL_EVENTS) src.addEventListener(t, onCallEvent);
  for (const t of DRAIN_EVENTS) src.addEventListener(t, onDrainEvent);
}

// ---- navigation ----

function show() {
  const view = currentView();
  for (const s of document.querySelectorAll('.view')) s.hidden = s.id !== 'view-' + view;
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.view === view);
  if (view === 'media') loadMediaOnce().catch(() => {});
  if (view === 'nodes') loadNodesOnce().catch((e) => note('nodes-note', 'nodes: ' + e.message));
}

window.addEventListener('hashchange', show);
show();
refreshAll().then(startEvents);
setInterval(() => { refreshAll(); }, REFRESH_MS);
setInterval(() => { if (currentView() === 'media') loadMediaOnce().catch(() => {}); }, MEDIA_MS);
setInterval(() => { renderRegistrations(); tickDurations(); }, 1000);
