// Switchboard dashboard: plain JS, no dependencies. Reads the REST API, then follows
// /api/v1/events (Server-Sent Events) to update the views without reloading. With an
// api_token configured, the token is asked once and kept in sessionStorage; fetch sends
// it as a bearer token, EventSource (which cannot send headers) as ?access_token=.
'use strict';

const state = {
  token: sessionStorage.getItem('sb_token') || '',
  registrations: new Map(), // key aor + ' ' + contact -> entry
  processes: [],
  stats: null,
  source: null,
};

function $(id) { return document.getElementById(id); }

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  const sent = state.token;
  if (sent) headers['Authorization'] = 'Bearer ' + sent;
  const res = await fetch(path, Object.assign({}, options, { headers }));
  if (res.status === 401) {
    // Several reads fail at once: only the first asks, the others retry with its answer.
    if (state.token !== sent) return api(path, options);
    const t = window.prompt('API token (main.cf api_token):');
    if (t) {
      state.token = t;
      sessionStorage.setItem('sb_token', t);
      startEvents();
      return api(path, options);
    }
  }
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new Error((body && body.error) || res.statusText);
  return body;
}

function duration(s) {
  if (s === null || s === undefined) return '-';
  s = Math.max(0, Math.floor(s));
  const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
  if (d) return d + 'd ' + h + 'h';
  if (h) return h + 'h ' + m + 'm';
  if (m) return m + 'm ' + (s % 60) + 's';
  return s + 's';
}

// ---- views ----

function renderStats() {
  const s = state.stats;
  if (!s) return;
  $('node').textContent = s.node_id || '';
  $('ov-sip').textContent = s.sip_requests;
  $('ov-registers').textContent = s.registers;
  $('ov-dialogs').textContent = s.active_dialogs;
  $('ov-uptime').textContent = duration(s.uptime_seconds);
  $('ov-redis').textContent = s.redis;
}

function renderRegistrations() {
  const tbody = document.querySelector('#registrations tbody');
  const rows = [...state.registrations.values()].sort((a, b) =>
    a.aor === b.aor ? (a.contact < b.contact ? -1 : 1) : (a.aor < b.aor ? -1 : 1));
  tbody.replaceChildren(...rows.map((r) => {
    const tr = el('tr');
    tr.dataset.aor = r.aor;
    tr.dataset.contact = r.contact;
    if (r.fresh) { tr.className = 'fresh'; r.fresh = false; }
    const left = r.expires_at_ms ? (r.expires_at_ms - Date.now()) / 1000 : r.expires;
    tr.append(el('td', r.aor, 'aor'), el('td', r.contact, 'contact'),
      el('td', duration(left), 'expires'), el('td', r.registered_at || '-'),
      el('td', r.user_agent || ''));
    const td = el('td');
    const b = el('button', 'Unregister');
    b.onclick = () => unregister(r.aor, r.contact);
    td.append(b);
    tr.append(td);
    return tr;
  }));
  $('reg-count').textContent = '(' + rows.length + ')';
  $('ov-registrations').textContent = rows.length;
}

function renderProcesses() {
  const tbody = document.querySelector('#processes tbody');
  let ready = 0, restarts = 0;
  tbody.replaceChildren(...state.processes.map((p) => {
    if (p.state === 'ready') ready++;
    restarts += p.restarts;
    const tr = el('tr');
    tr.dataset.service = p.service;
    tr.dataset.instance = p.instance;
    if (p.fresh) { tr.className = 'fresh'; p.fresh = false; }
    tr.append(el('td', p.service), el('td', p.instance), el('td', p.pid, 'pid'),
      el('td', p.state, 'state state-' + p.state), el('td', duration(p.uptime_seconds)),
      el('td', p.restarts, 'restarts'),
      el('td', p.heartbeat_age_ms === null ? '-' : p.heartbeat_age_ms + ' ms'));
    return tr;
  }));
  $('ov-processes').textContent = ready + ' / ' + state.processes.length;
  $('ov-restarts').textContent = restarts;
}

function logEvent(type, data) {
  const ul = $('events');
  const li = el('li', new Date().toLocaleTimeString() + '  ' + type + '  ' +
    (data.aor ? data.aor + ' ' + (data.contact || '') : (data.service ? data.service + '/' + data.instance + ' pid ' + data.pid : '')));
  li.dataset.type = type;
  ul.prepend(li);
  while (ul.children.length > 50) ul.lastChild.remove();
}

// ---- data ----

async function loadRegistrations() {
  const doc = await api('/api/v1/registrations');
  const next = new Map();
  for (const r of doc.registrations) {
    const key = r.aor + ' ' + r.contact;
    r.expires_at_ms = Date.parse(r.expires_at);
    r.fresh = !state.registrations.has(key);
    next.set(key, r);
  }
  state.registrations = next;
  renderRegistrations();
}

async function loadProcesses() {
  const doc = await api('/api/v1/processes');
  state.processes = doc.processes;
  renderProcesses();
}

async function loadStats() {
  state.stats = await api('/api/v1/stats');
  renderStats();
}

function refreshAll() {
  return Promise.all([loadStats(), loadRegistrations(), loadProcesses()]).catch((e) => {
    console.warn('refresh failed:', e.message);
  });
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

let reloadTimer = null;
function reloadSoon(what) { // coalesces bursts of events into one read
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(() => { what().catch(() => {}); loadStats().catch(() => {}); }, 250);
}

function onRegistrationEvent(ev) {
  const d = JSON.parse(ev.data);
  const key = d.aor + ' ' + d.contact;
  if (d.type === 'registration.removed') {
    state.registrations.delete(key);
  } else {
    const old = state.registrations.get(key) || {};
    state.registrations.set(key, Object.assign({}, old, {
      aor: d.aor, contact: d.contact, expires: d.expires,
      expires_at_ms: (d.ts_ms || Date.now()) + d.expires * 1000,
      registered_at: old.registered_at || new Date(d.ts_ms || Date.now()).toISOString(),
      fresh: true,
    }));
  }
  renderRegistrations();
  logEvent(d.type, d);
  reloadSoon(loadRegistrations); // the full records (user agent) from Redis
}

function onProcessEvent(ev) {
  const d = JSON.parse(ev.data);
  const p = state.processes.find((x) => x.service === d.service && x.instance === d.instance);
  if (p) {
    p.pid = d.pid; p.restarts = d.restarts; p.state = d.state; p.fresh = true;
    if (d.type === 'process.respawned') p.uptime_seconds = 0;
    renderProcesses();
  }
  logEvent(d.type, d);
  reloadSoon(loadProcesses);
}

function startEvents() {
  if (state.source) state.source.close();
  const url = '/api/v1/events' + (state.token ? '?access_token=' + encodeURIComponent(state.token) : '');
  const src = new EventSource(url);
  state.source = src;
  src.onopen = () => { $('live').textContent = 'live'; $('live').className = 'badge on'; refreshAll(); };
  src.onerror = () => { $('live').textContent = 'offline'; $('live').className = 'badge off'; };
  for (const t of ['registration.added', 'registration.refreshed', 'registration.removed'])
    src.addEventListener(t, onRegistrationEvent);
  for (const t of ['process.died', 'process.respawned'])
    src.addEventListener(t, onProcessEvent);
}

// ---- navigation ----

function show() {
  const view = (location.hash || '#overview').slice(1);
  for (const s of document.querySelectorAll('.view')) s.hidden = s.id !== 'view-' + view;
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.view === view);
}

window.addEventListener('hashchange', show);
show();
refreshAll().then(startEvents);
// A slow resync besides the stream: counters, ages, and anything an event did not carry
// (bindings that expire by themselves publish nothing).
setInterval(() => { refreshAll(); }, 3000);
setInterval(renderRegistrations, 1000);
