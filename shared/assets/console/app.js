// Herald's admin console: one page that signs in with the API token and calls /api/v1/.
// Everything from outside (titles, names, platform answers) is rendered as text by htm/Preact
// interpolation, never as HTML.

import {html, render, useState, useEffect, useRef, useCallback} from './vendor/preact-htm.js';
import qrcode from './vendor/qrcode.js';
import {KINDS, KIND_NAMES} from './kinds.js';
import {STRINGS, LANGS, detectLang, LANG_KEY} from './i18n.js';

// ---------------------------------------------------------------- language

let lang = detectLang();

function t(key, params) {
  const s = STRINGS[lang][key] ?? STRINGS.en[key] ?? key;
  return params ? s.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m)) : s;
}

// A dynamic key's string, or `fallback` when there is none (a category this console does not know).
const tOr = (key, fallback) => (key in STRINGS.en ? t(key) : fallback);

const help = (h) => (h ? h[lang] ?? h.en : '');

function fmtTime(iso) {
  return iso ? new Date(iso).toLocaleString(lang) : '';
}

function relTime(iso) {
  if (!iso) return t('never');
  const secs = (new Date(iso).getTime() - Date.now()) / 1000;
  const rtf = new Intl.RelativeTimeFormat(lang, {numeric: 'auto'});
  for (const [unit, size] of [['day', 86400], ['hour', 3600], ['minute', 60]]) {
    if (Math.abs(secs) >= size) return rtf.format(Math.round(secs / size), unit);
  }
  return rtf.format(Math.round(secs), 'second');
}

function fmtDuration(secs) {
  if (!secs) return '0';
  const d = Math.floor(secs / 86400), h = Math.floor((secs % 86400) / 3600), m = Math.floor((secs % 3600) / 60);
  const parts = [];
  if (d) parts.push(t('unit.d', {n: d}));
  if (h) parts.push(t('unit.h', {n: h}));
  if (m && !d) parts.push(t('unit.min', {n: m}));
  return parts.length ? parts.join(' ') : t('unit.s', {n: secs});
}

function fmtBytes(n) {
  if (n == null) return '—';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

// ---------------------------------------------------------------- session and API

const TOKEN_KEY = 'herald.token';
const session = {token: sessionStorage.getItem(TOKEN_KEY), onExpired: null};

// One request: the token as the Bearer header; an error answer becomes a thrown
// {status, error, field, message, body}.
async function request(token, method, path, body) {
  const headers = {Authorization: `Bearer ${token}`, Accept: 'application/json'};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(`/api/v1/${path}`, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer',
    });
  } catch (e) {
    throw {status: 0, error: 'network', field: null, message: t('err.network'), body: null};
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
  if (res.ok) return data;
  throw {
    status: res.status, error: data?.error ?? 'http', field: data?.field ?? null,
    message: data?.message ?? tOr(`err.${data?.error}`, t('err.http', {status: res.status})), body: data,
  };
}

async function api(method, path, body) {
  try {
    return await request(session.token, method, path, body);
  } catch (e) {
    if (e.status === 401 && session.onExpired) session.onExpired();
    throw e;
  }
}

// A query string of the values that are set.
function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== '' && v != null) p.set(k, v);
  const s = p.toString();
  return s ? `?${s}` : '';
}

const seg = encodeURIComponent;

// Loads with `fn` when `deps` change; keeps the last data while reloading.
function useLoad(fn, deps) {
  const [state, setState] = useState({loading: true, data: null, error: null});
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({...s, loading: true}));
    fn().then((data) => live && setState({loading: false, data, error: null}),
      (error) => live && setState((s) => ({loading: false, data: s.data, error})));
    return () => { live = false; };
  }, [...deps, n]);
  return {...state, reload: useCallback(() => setN((x) => x + 1), [])};
}

// A route answering 404 (not on this server yet) reads as null.
const optional = (p) => p.catch((e) => (e.status === 404 ? null : Promise.reject(e)));

// ---------------------------------------------------------------- routing

// The hash's parts, decoded; a part that does not decode, or is `.` or `..` (a path step, never
// an id: the server refuses ids of dots), makes the whole hash a not-found page.
function parseHash() {
  let parts;
  try {
    parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  } catch (e) {
    return ['notfound'];
  }
  if (parts.some((p) => p === '.' || p === '..')) return ['notfound'];
  return parts.length ? parts : ['overview'];
}

function useRoute() {
  const [route, setRoute] = useState(parseHash);
  useEffect(() => {
    const f = () => setRoute(parseHash());
    addEventListener('hashchange', f);
    return () => removeEventListener('hashchange', f);
  }, []);
  return route;
}

const go = (hash) => { location.hash = hash; };

// ---------------------------------------------------------------- small pieces

const STATUS_CLASS = {sent: 'ok', online: 'ok', failed: 'bad', offline: 'bad', skipped: 'mute', unknown: 'mute', queued: 'info', sending: 'warn'};

const Badge = ({tone, children}) => html`<span class=${`badge ${tone ? `badge-${tone}` : ''}`}>${children}</span>`;

const StatusBadge = ({status}) => html`<${Badge} tone=${STATUS_CLASS[status]}>${t(`status.${status}`)}<//>`;

const When = ({at}) => (at ? html`<time datetime=${at} title=${fmtTime(at)}>${relTime(at)}</time>` : html`<span class="muted">${t('never')}</span>`);

const ErrorNote = ({error, id}) => (error ? html`<div class="alert alert-error" role="alert" id=${id}>${error.message}</div>` : null);

const Loading = () => html`<div class="muted loading">${t('loading')}</div>`;

const ExtLink = ({href, children}) => html`<a href=${href} target="_blank" rel="noopener noreferrer">${children} ↗</a>`;

// Only web and app links become links; anything else (javascript:, data:) stays text.
const safeLink = (u) => typeof u === 'string' && /^(https?|tg):\/\//i.test(u);

// A random idempotency key (getRandomValues works outside secure contexts too).
function randomKey() {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

// Whether a URL points at the machine it is read on, which no platform can reach.
function isLocalUrl(u) {
  let host;
  try { host = new URL(u).hostname; } catch (e) { return false; }
  return host === 'localhost' || host.endsWith('.localhost') || /^127\./.test(host) || host === '[::1]' || host === '0.0.0.0';
}

// Scrolls to a form field (its data-field) and focuses its first control, once rendered.
function focusField(name) {
  setTimeout(() => {
    const el = document.querySelector(`[data-field="${CSS.escape(name)}"]`) ?? document.getElementById(name);
    if (!el) return;
    el.scrollIntoView({block: 'center', behavior: 'smooth'});
    const control = el.matches('input, select, textarea, button') ? el
      : el.querySelector('input:checked, input:not([type=hidden]):not([readonly]), select, textarea, button');
    control?.focus({preventScroll: true});
  }, 0);
}

// "Not saved — see FIELD" beside a Save button.
// `state`: null, {field: its label}, or {} (the message is at the top of the page).
const NotSaved = ({id, state}) => html`<span id=${id} class="not-saved" role="alert">${state ? (state.field ? t('notSaved.field', {field: state.field}) : t('notSaved.top')) : ''}</span>`;

function Page({title, actions, children, id}) {
  return html`<section id=${id} class="page">
    <div class="page-head"><h1>${title}</h1><div class="actions">${actions}</div></div>
    ${children}
  </section>`;
}

function Field({label, name, help: h, error, children, link, linkLabel, badge}) {
  return html`<div class=${`field ${error ? 'has-error' : ''}`} data-field=${name}>
    <label for=${name}>${label}${badge}</label>
    ${children}
    ${h || link ? html`<div class="help">${h} ${link ? html`<${ExtLink} href=${link}>${linkLabel ?? t('where')}<//>` : null}</div>` : null}
    ${error ? html`<div class="field-error" role="alert">${error}</div>` : null}
  </div>`;
}

function copyText(input) {
  const fallback = () => { input.focus(); input.select(); };
  if (navigator.clipboard?.writeText) navigator.clipboard.writeText(input.value).catch(fallback);
  else fallback();
}

function Copyable({id, value}) {
  const ref = useRef();
  const [copied, setCopied] = useState(false);
  const copy = () => { copyText(ref.current); setCopied(true); setTimeout(() => setCopied(false), 1500); };
  return html`<div class="copyable">
    <input id=${id} ref=${ref} readonly value=${value} onFocus=${(e) => e.target.select()} />
    <button type="button" class="btn" onClick=${copy}>${copied ? t('copied') : t('copy')}</button>
  </div>`;
}

// An API answer (register, ...) as key/value rows, every value as text.
function KeyValues({data}) {
  if (!data || typeof data !== 'object') return html`<span>${String(data)}</span>`;
  return html`<dl class="kv">${Object.entries(data).map(([k, v]) => html`
    <dt>${k}</dt><dd>${v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v)}</dd>`)}</dl>`;
}

// A platform's answer to a registration (on save, or the Register button): what happened in
// words, a hint when the callback URL is one no platform can reach, the raw answer behind
// "Details". `reg`: null (nothing registered), {ok: true, ...} or {ok: false, detail, callback_url}.
function Registration({id, reg, afterSave}) {
  const failed = reg?.ok === false;
  const detail = typeof reg?.detail === 'string' ? reg.detail : JSON.stringify(reg?.detail ?? '');
  const msg = afterSave ? (failed ? t('saved.regFailed', {detail}) : reg ? t('saved.registered') : t('saved'))
    : (failed ? t('register.failed', {detail}) : t('register.ok'));
  return html`<div id=${id} class=${`alert ${failed ? 'alert-warn' : 'alert-ok'}`} role=${failed ? 'alert' : 'status'}>
    <div class="alert-msg">${msg}</div>
    ${failed && isLocalUrl(reg.callback_url) && html`<div class="sub hint">${t('register.localHint', {url: reg.callback_url})}</div>`}
    ${reg && Object.keys(reg).length ? html`<details class="raw"><summary>${t('details')}</summary><${KeyValues} data=${reg} /></details>` : null}
  </div>`;
}

function Counts({counts}) {
  const shown = Object.entries(counts || {}).filter(([, n]) => n > 0);
  if (!shown.length) return html`<span class="muted">0</span>`;
  return shown.map(([s, n]) => html`<${Badge} tone=${STATUS_CLASS[s]}>${t(`status.${s}`)} ${n}<//> `);
}

const toText = (to) => (to === 'all' ? t('to.all') : to === 'admins' ? t('to.admins') : to?.user != null ? t('to.user', {id: to.user}) : '—');

// ---------------------------------------------------------------- sign-in and shell

function SignIn({onSignedIn, notice}) {
  const [error, setError] = useState(notice ? t(notice) : null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    const token = e.target.elements.token.value.trim();
    if (!token) return setError(t('signin.empty'));
    setBusy(true);
    try {
      await request(token, 'GET', 'status');
      onSignedIn(token);
    } catch (err) {
      setError(err.status === 401 ? t('signin.wrong') : err.message);
      setBusy(false);
    }
  };
  return html`<main class="signin">
    <form class="card signin-card" onSubmit=${submit}>
      <div class="brand big"><img src="icon.svg" alt="" width="36" height="36" /> Herald</div>
      <p class="muted">${t('signin.intro')}</p>
      <label for="token">${t('signin.token')}</label>
      <input id="token" name="token" type="password" autocomplete="current-password" autofocus />
      <div id="signin-error" class="field-error" role="alert">${error}</div>
      <button id="signin" class="btn btn-primary" type="submit" disabled=${busy}>${t('signin.button')}</button>
      <${LangSelect} />
    </form>
  </main>`;
}

function LangSelect() {
  return html`<select id="lang" class="lang" aria-label=${t('language')} value=${lang}
    onChange=${(e) => setLang(e.target.value)}>
    ${LANGS.map(([code, label]) => html`<option value=${code}>${label}</option>`)}
  </select>`;
}

const VIEWS = ['overview', 'channels', 'notifications', 'messages', 'users', 'nodes', 'settings'];

function Shell({route, onSignOut}) {
  const [view, arg] = route;
  const views = new Map([['overview', Overview], ['channels', arg ? ChannelForm : Channels], ['notifications', Notifications],
    ['messages', Messages], ['users', arg ? UserDetail : Users], ['nodes', Nodes], ['settings', SettingsView]]);
  const View = views.get(view) ?? NotFound;
  return html`<div class="app">
    <header class="top">
      <a class="brand" href="#/overview"><img src="icon.svg" alt="" width="24" height="24" /> Herald</a>
      <nav>${VIEWS.map((v) => html`<a href=${`#/${v}`} class=${v === view ? 'active' : ''}
        aria-current=${v === view ? 'page' : undefined}>${t(`nav.${v}`)}</a>`)}</nav>
      <div class="top-end">
        <${LangSelect} />
        <button id="signout" class="btn btn-ghost" type="button" onClick=${onSignOut}>${t('signout')}</button>
      </div>
    </header>
    <main class="content"><${View} key=${route.join('/')} arg=${arg} /></main>
  </div>`;
}

const NotFound = () => html`<${Page} title=${t('notfound')}><a href="#/overview">${t('nav.overview')}</a><//>`;

// ---------------------------------------------------------------- overview

const CHART_COLORS = {sent: '#16a34a', failed: '#dc2626', skipped: '#9ca3af'};

function KindChart({kind, days, series}) {
  const ref = useRef();
  useEffect(() => {
    const Chart = window.Chart;
    if (!Chart) return undefined;
    const chart = new Chart(ref.current, {
      type: 'bar',
      data: {
        labels: days.map((d) => d.slice(5)),
        datasets: ['sent', 'failed', 'skipped'].map((s) => ({
          label: t(`status.${s}`), data: series[s] || [], backgroundColor: CHART_COLORS[s], borderRadius: 2, maxBarThickness: 18,
        })),
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        plugins: {legend: {position: 'bottom', labels: {boxWidth: 10, boxHeight: 10}}},
        scales: {x: {stacked: true, grid: {display: false}, ticks: {maxRotation: 0, autoSkipPadding: 8}}, y: {stacked: true, beginAtZero: true, ticks: {precision: 0}}},
      },
    });
    return () => chart.destroy();
  }, [kind, days, series, lang]);
  const label = kind === 'none' ? t('kind.none') : KINDS[kind]?.label ?? kind;
  return html`<div class="card chart-card"><h3>${label}</h3>
    <div class="chart-box"><canvas id=${`chart-${kind}`} ref=${ref} aria-label=${label} role="img"></canvas></div></div>`;
}

function Stat({label, value, tone, id, href}) {
  const v = html`<div class=${`stat-value ${tone ? `tone-${tone}` : ''}`} id=${id}>${value}</div>`;
  return html`<div class="card stat"><div class="stat-label">${label}</div>${href ? html`<a href=${href}>${v}</a>` : v}</div>`;
}

// Per channel, the deliveries still queued or sending among the latest notifications that have
// some (the first page of each list, at most 16 notifications read): {NAME: {n, retrying, held,
// reason}}. null when this server cannot say.
async function pendingByChannel() {
  const lists = await Promise.all(['queued', 'sending'].map((s) => api('GET', `notifications${qs({status: s, limit: 8})}`)));
  const ids = [...new Set(lists.flatMap((l) => l.notifications ?? []).map((n) => n.id))].slice(0, 16);
  const all = await Promise.all(ids.map((id) => api('GET', `notifications/${seg(id)}`).catch(() => null)));
  const out = {};
  for (const d of all.flatMap((x) => x?.deliveries ?? [])) {
    if (d.status !== 'queued' && d.status !== 'sending') continue;
    const c = out[d.channel] ??= {n: 0, retrying: 0, held: 0, reason: null, at: ''};
    c.n++;
    if (d.hold_until) c.held++;
    // Tried before: queued again after a failure, or being sent once more.
    if (d.attempts > (d.status === 'sending' ? 1 : 0)) {
      c.retrying++;
      if (d.reason && d.updated_at > c.at) { c.reason = d.reason; c.at = d.updated_at; }
    }
  }
  return out;
}

function Overview() {
  // The deliveries still on their way are looked for only while the queue holds messages (each
  // look reads recent notifications and their deliveries; an idle queue has none to show).
  const {data, error, loading, reload} = useLoad(() => Promise.all([
    api('GET', 'channels'), api('GET', 'status'), optional(api('GET', 'stats?days=14')),
  ]).then(async ([channels, status, stats]) => {
    const busy = status && (status.queue.waiting + status.queue.in_flight) > 0;
    return [channels, status, stats, busy ? await pendingByChannel().catch(() => null) : {}];
  }), []);
  useEffect(() => { const i = setInterval(reload, 30000); return () => clearInterval(i); }, []);
  const [channels, status, stats, pending] = data ?? [{channels: []}, null, null, null];
  return html`<${Page} id="overview" title=${t('nav.overview')}
      actions=${html`<button class="btn" onClick=${reload} disabled=${loading}>${t('refresh')}</button>`}>
    <${ErrorNote} error=${error} />
    ${!data ? html`<${Loading} />` : html`
      <div class="stats">
        <${Stat} label=${t('queue.waiting')} value=${status.queue.waiting} id="queue-waiting" />
        <${Stat} label=${t('queue.in_flight')} value=${status.queue.in_flight} id="queue-in-flight" />
        <${Stat} label=${t('queue.dead')} value=${status.queue.dead} tone=${status.queue.dead ? 'bad' : ''} id="queue-dead" href="#/messages" />
        <${Stat} label=${t('nodes.online')} value=${`${status.nodes.online} / ${status.nodes.total}`} tone=${status.nodes.offline ? 'bad' : ''} href="#/nodes" />
        <${Stat} label=${t('users.count')} value=${status.users} href="#/users" />
        <${Stat} label=${t('today.sent')} value=${status.today?.sent ?? 0} />
      </div>
      <div class="card">
        <h2>${t('nav.channels')}</h2>
        <${ChannelHealth} channels=${channels.channels} stats=${stats} pending=${pending} />
      </div>
      <h2 class="section-title">${t('overview.chart')}</h2>
      ${!stats ? html`<p class="muted">${t('stats.missing')}</p>`
        : !Object.keys(stats.kinds).length ? html`<p class="muted">${t('overview.nodata')}</p>`
        : html`<div class="charts">${Object.entries(stats.kinds).map(([kind, series]) =>
            html`<${KindChart} key=${kind} kind=${kind} days=${stats.days} series=${series} />`)}</div>`}
    `}
  <//>`;
}

function ChannelHealth({channels, stats, pending}) {
  if (!channels.length) return html`<p class="muted">${t('channels.none')} <a href="#/channels/+new">${t('channels.new')}</a></p>`;
  return html`<div class="table-wrap"><table class="table stack health" id="channel-health">
    <thead><tr><th>${t('col.name')}</th><th>${t('col.kind')}</th><th>${t('col.enabled')}</th>
      <th>${t('col.last')}</th>${pending && html`<th title=${t('pending.help')}>${t('pending.col')}</th>`}<th class="num">${t('col.failed14')}</th></tr></thead>
    <tbody>${channels.map((c) => {
      const s = stats?.channels?.[c.name];
      const last = s?.last;
      const p = pending?.[c.name];
      return html`<tr data-channel=${c.name}>
        <td class="c-name"><a class="strong" href=${`#/channels/${seg(c.name)}`}>${c.name}</a></td>
        <td class="c-kind">${KINDS[c.kind]?.label ?? c.kind}</td>
        <td class="c-enabled">${c.enabled ? html`<${Badge} tone="ok">${t('on')}<//>` : html`<${Badge} tone="mute">${t('off')}<//>`}</td>
        <td class="wide" data-label=${t('col.last')}>${last ? html`<${StatusBadge} status=${last.status} /> <${When} at=${last.at} />
          ${last.reason ? html`<div class="reason">${last.reason}</div>` : null}` : html`<span class="muted">—</span>`}</td>
        ${pending && html`<td class=${`wide pending ${p ? '' : 'none'}`} data-label=${t('pending.col')}>${p ? html`<${Badge} tone="info">${p.n}<//>
          ${p.retrying ? html` <${Badge} tone="warn">${t('pending.retrying', {n: p.retrying})}<//>` : null}
          ${p.held ? html` <${Badge} tone="mute">${t('pending.held', {n: p.held})}<//>` : null}
          ${p.reason && !last?.reason?.includes(p.reason) ? html`<div class="reason">${p.reason}</div>` : null}` : html`<span class="muted">0</span>`}</td>`}
        <td class=${`num ${s?.failed ? 'tone-bad' : ''}`} data-label=${t('col.failed14')}>${s ? s.failed : '—'}</td>
      </tr>`;
    })}</tbody></table></div>`;
}

// ---------------------------------------------------------------- channels

function Channels() {
  const {data, error, reload} = useLoad(() => api('GET', 'channels'), []);
  const [rowError, setRowError] = useState(null);
  const toggle = async (c, enabled) => {
    setRowError(null);
    try { await api('PATCH', `channels/${seg(c.name)}`, {enabled}); } catch (e) { setRowError(e); }
    reload();
  };
  return html`<${Page} title=${t('nav.channels')}
      actions=${html`<button id="new-channel" class="btn btn-primary" onClick=${() => go('#/channels/+new')}>${t('channels.new')}</button>`}>
    <${ErrorNote} error=${error || rowError} />
    ${!data ? html`<${Loading} />` : !data.channels.length ? html`<div class="card empty">${t('channels.none')}</div>` : html`
    <div class="card table-wrap"><table class="table stack" id="channels">
      <thead><tr><th>${t('col.name')}</th><th>${t('col.kind')}</th><th>${t('col.enabled')}</th><th>${t('col.types')}</th></tr></thead>
      <tbody>${data.channels.map((c) => html`<tr data-channel=${c.name}>
        <td><a href=${`#/channels/${seg(c.name)}`}>${c.name}</a></td>
        <td>${KINDS[c.kind]?.label ?? c.kind}</td>
        <td data-label=${t('col.enabled')}><label class="switch"><input type="checkbox" checked=${c.enabled} aria-label=${t('col.enabled')}
          onChange=${(e) => toggle(c, e.target.checked)} /><span></span></label></td>
        <td class="wide" data-label=${t('col.types')}>${c.types.length ? c.types.map((ty) => html`<span class="chip">${ty}</span> `) : html`<span class="muted">${t('types.all')}</span>`}</td>
      </tr>`)}</tbody></table></div>`}
  <//>`;
}

const MASK = '********';

// A stored setting as the form holds it.
function toForm(f, v) {
  switch (f.type) {
    case 'bool': return !!v;
    case 'list': return Array.isArray(v) ? v.join(', ') : (v ?? '');
    case 'json': return v && Object.keys(v).length ? JSON.stringify(v, null, 2) : '';
    case 'secret': return '';
    default: return v == null ? '' : String(v);
  }
}

// What the form holds, as the API takes it (null: clear the field); throws {field, message}.
function fromForm(f, v) {
  switch (f.type) {
    case 'bool': return v;
    case 'list': return v.split(/[,\n]/).map((x) => x.trim()).filter(Boolean);
    case 'number': {
      if (v.trim() === '') return null;
      const n = Number(v);
      if (!Number.isFinite(n)) throw {field: f.name, message: t('err.number')};
      return n;
    }
    case 'json': {
      if (v.trim() === '') return null;
      try {
        const o = JSON.parse(v);
        if (o && typeof o === 'object' && !Array.isArray(o)) return o;
      } catch (e) { /* below */ }
      throw {field: f.name, message: t('err.json')};
    }
    default: return v.trim() === '' ? null : v.trim();
  }
}

// A JSON merge patch turning object `a` into `b` (keys gone from `b` become null).
function objectPatch(a, b) {
  const out = {};
  for (const k of Object.keys(a || {})) if (!(k in b)) out[k] = null;
  for (const [k, v] of Object.entries(b)) if (JSON.stringify(a?.[k]) !== JSON.stringify(v)) out[k] = v;
  return out;
}

// The form key an API error's field names (`settings.url`, `url`, `headers.X`, `types`).
function errorKey(field, fields) {
  if (!field) return null;
  const f = field.replace(/^settings\./, '');
  const base = f.split(/[.[]/)[0];
  if (fields.some((x) => x.name === base)) return base;
  if (['name', 'types', 'enabled', 'kind'].includes(base) && !field.startsWith('settings.')) return `@${base}`;
  return null;
}

let lastSaved = null; // the answer of the save that just created a channel, shown after navigating

// Where each form key's field is (its data-field) and what it is called.
const FORM_FIELDS = {'@kind': 'kind', '@name': 'channel-name', '@enabled': 'enabled', '@types': 'channel-types'};
const FORM_LABELS = {'@kind': 'channel.kind', '@name': 'channel.name', '@enabled': 'channel.enabled', '@types': 'channel.types'};

function ChannelForm({arg}) {
  const isNew = arg === '+new';
  const [stored, setStored] = useState(null);
  const [loadError, setLoadError] = useState(null);
  const [kind, setKind] = useState('');
  const [form, setForm] = useState({name: '', enabled: true, types: '', values: {}, secrets: {}});
  const [errors, setErrors] = useState({});
  const [topError, setTopError] = useState(null);
  const [notSaved, setNotSaved] = useState(null);
  const [saved, setSaved] = useState(null); // {reg}: the registration answer, or null
  const [busy, setBusy] = useState(false);

  const fill = (c) => {
    const spec = KINDS[c.kind]?.fields ?? [];
    setStored(c);
    setKind(c.kind);
    const values = {}, secrets = {};
    for (const f of spec) {
      values[f.name] = toForm(f, c.settings[f.name]);
      if (f.type === 'secret') secrets[f.name] = c.settings[f.name] ? 'set' : 'unset';
    }
    setForm({name: c.name, enabled: c.enabled, types: c.types.join(', '), values, secrets});
  };

  // After a registration: what Herald learned (bot username, ...), leaving the rest as edited.
  const refreshLearned = async () => {
    try {
      const c = await api('GET', `channels/${seg(arg)}`);
      setStored(c);
      const learned = (KINDS[c.kind]?.fields ?? []).filter((f) => f.learned);
      setForm((s) => {
        const values = {...s.values}, secrets = {...s.secrets};
        for (const f of learned) {
          values[f.name] = toForm(f, c.settings[f.name]);
          if (f.type === 'secret') secrets[f.name] = c.settings[f.name] ? 'set' : 'unset';
        }
        return {...s, values, secrets};
      });
    } catch (e) { /* the form keeps what it shows */ }
  };

  useEffect(() => {
    if (isNew) return;
    if (lastSaved?.name === arg) { setSaved({reg: lastSaved.reg}); lastSaved = null; }
    api('GET', `channels/${seg(arg)}`).then(fill, setLoadError);
  }, [arg]);

  const chooseKind = (k) => {
    setKind(k);
    const values = {}, secrets = {};
    for (const f of KINDS[k]?.fields ?? []) { values[f.name] = toForm(f, undefined); if (f.type === 'secret') secrets[f.name] = 'unset'; }
    setForm((s) => ({...s, values, secrets}));
    setErrors({});
    setNotSaved(null);
  };

  const spec = KINDS[kind]?.fields ?? [];
  const setValue = (name, v) => setForm((s) => ({...s, values: {...s.values, [name]: v}}));
  const setSecret = (name, state) => setForm((s) => ({...s, secrets: {...s.secrets, [name]: state}, values: {...s.values, [name]: ''}}));

  // The body of the PUT: for a new channel every value given; for a stored one what changed.
  // What Herald learns itself is never sent.
  const body = () => {
    const settings = {};
    for (const f of spec) {
      if (f.learned) continue;
      const v = form.values[f.name];
      if (f.type === 'secret') {
        if (form.secrets[f.name] === 'remove') settings[f.name] = null;
        else if (v !== '') settings[f.name] = v;
        continue;
      }
      if (!isNew && v === toForm(f, stored.settings[f.name])) continue;
      const parsed = fromForm(f, v);
      if (isNew && (parsed === null || (Array.isArray(parsed) && !parsed.length))) continue;
      settings[f.name] = f.type === 'json' && parsed && !isNew ? objectPatch(stored.settings[f.name], parsed) : parsed;
    }
    return {kind, enabled: form.enabled, types: form.types.split(',').map((x) => x.trim()).filter(Boolean), settings};
  };

  // Shows the errors, says which field beside the Save button and takes the person there.
  const fail = (errs) => {
    setErrors(errs);
    const order = ['@kind', '@name', '@enabled', '@types', ...spec.map((f) => f.name)];
    const first = order.find((k) => k in errs) ?? Object.keys(errs)[0];
    const f = spec.find((x) => x.name === first);
    setNotSaved({field: FORM_LABELS[first] ? t(FORM_LABELS[first]) : help(f?.label) || first});
    focusField(FORM_FIELDS[first] ?? `settings.${first}`);
  };

  const save = async (e) => {
    e.preventDefault();
    setErrors({}); setTopError(null); setSaved(null); setNotSaved(null);
    const name = form.name.trim();
    const errs = {};
    if (isNew && !/^[A-Za-z0-9_.@:-]{1,64}$/.test(name)) errs['@name'] = t('err.name');
    if (!kind) errs['@kind'] = t('err.kind');
    for (const f of spec) {
      const missing = f.type === 'secret' ? form.secrets[f.name] !== 'set' && !form.values[f.name] : !String(form.values[f.name]).trim();
      if (f.required && !f.learned && missing) errs[f.name] = t('err.required');
    }
    let b;
    try { b = body(); } catch (err) { errs[err.field] = err.message; }
    if (Object.keys(errs).length) return fail(errs);
    setBusy(true);
    try {
      if (isNew) {
        const {channels} = await api('GET', 'channels');
        if (channels.some((c) => c.name === name)) { setBusy(false); return fail({'@name': t('err.exists')}); }
      }
      const answer = await api('PUT', `channels/${seg(name)}`, b);
      if (isNew) { lastSaved = {name, reg: answer.registration ?? null}; go(`#/channels/${seg(name)}`); return; }
      fill(answer);
      setSaved({reg: answer.registration ?? null});
    } catch (err) {
      const key = errorKey(err.field, spec);
      if (key) fail({[key]: err.message});
      else {
        setTopError({message: err.field ? `${err.field}: ${err.message}` : err.message});
        setNotSaved({});
        focusField('channel-error');
      }
    }
    setBusy(false);
  };

  const remove = async () => {
    if (!confirm(t('channel.confirmDelete', {name: arg}))) return;
    try { await api('DELETE', `channels/${seg(arg)}`); go('#/channels'); } catch (err) { setTopError(err); }
  };

  if (loadError) return html`<${Page} title=${arg}><${ErrorNote} error=${loadError} /><a href="#/channels">${t('back')}</a><//>`;
  if (!isNew && !stored) return html`<${Loading} />`;
  const k = KINDS[kind];
  return html`<${Page} title=${isNew ? t('channels.new') : arg}
      actions=${!isNew && html`<button id="delete-channel" class="btn btn-danger" type="button" onClick=${remove}>${t('delete')}</button>`}>
    <a class="back" href="#/channels">← ${t('nav.channels')}</a>
    ${saved && html`<${Registration} id="save-result" reg=${saved.reg} afterSave />`}
    <${ErrorNote} error=${topError} id="channel-error" />
    <div class="columns">
    <form id="channel-form" class="card form" onSubmit=${save} novalidate>
      <${Field} label=${t('channel.kind')} name="kind" error=${errors['@kind']} link=${isNew ? null : k?.docs} linkLabel=${t('guide')}>
        ${isNew ? html`<select id="kind" name="kind" value=${kind} onChange=${(e) => chooseKind(e.target.value)}>
            <option value="">${t('channel.chooseKind')}</option>
            ${KIND_NAMES.map((n) => html`<option value=${n}>${KINDS[n].label}</option>`)}
          </select>`
          : html`<input id="kind" name="kind" class="fixed" value=${k?.label ?? kind} readonly />`}
      <//>
      <${Field} label=${t('channel.name')} name="channel-name" error=${errors['@name']} help=${isNew ? t('channel.nameHelp') : t('channel.nameFixed')}>
        <input id="channel-name" name="name" class=${isNew ? '' : 'fixed'} value=${form.name} readonly=${!isNew} autocomplete="off"
          onInput=${(e) => setForm((s) => ({...s, name: e.target.value}))} />
      <//>
      <div class="field inline" data-field="enabled">
        <label class="switch"><input id="channel-enabled" type="checkbox" name="enabled" checked=${form.enabled}
          onChange=${(e) => setForm((s) => ({...s, enabled: e.target.checked}))} /><span></span></label>
        <label for="channel-enabled">${t('channel.enabled')}</label>
      </div>
      <${Field} label=${t('channel.types')} name="channel-types" error=${errors['@types']} help=${t('channel.typesHelp')}>
        <input id="channel-types" name="types" value=${form.types} placeholder=${t('types.all')}
          onInput=${(e) => setForm((s) => ({...s, types: e.target.value}))} />
      <//>
      ${kind && html`<h3 class="form-section">${t('channel.settings', {kind: k?.label ?? kind})}</h3>`}
      ${spec.map((f) => html`<${SettingInput} key=${`${kind}.${f.name}`} f=${f} value=${form.values[f.name]}
        secret=${form.secrets[f.name]} error=${errors[f.name]}
        onValue=${(v) => setValue(f.name, v)} onSecret=${(s) => setSecret(f.name, s)} />`)}
      <div class="form-actions">
        <button id="save-channel" class="btn btn-primary" type="submit" disabled=${busy}>${busy ? t('saving') : t('save')}</button>
        <${NotSaved} id="channel-not-saved" state=${notSaved} />
      </div>
    </form>
    ${isNew && html`<aside class="side"><div class="card"><h3>${k ? k.label : t('channels.new')}</h3>
      <p class="help">${t('channel.newHelp')}</p>
      ${k?.docs && html`<${ExtLink} href=${k.docs}>${t('guide')}<//>`}</div></aside>`}
    ${!isNew && html`<aside class="side">
      ${stored.callback_url && html`<div class="card"><h3>${t('channel.callback')}</h3>
        <p class="help">${t('channel.callbackHelp')}</p><${Copyable} id="callback-url" value=${stored.callback_url} />
        ${isLocalUrl(stored.callback_url) && html`<p class="help hint-warn">${t('channel.localCallback')}</p>`}</div>`}
      ${KINDS[stored.kind]?.registers && html`<${RegisterPanel} name=${arg} onDone=${refreshLearned} />`}
      <${TestPanel} name=${arg} />
    </aside>`}
    </div>
  <//>`;
}

function SettingInput({f, value, secret, error, onValue, onSecret}) {
  const id = `settings.${f.name}`;
  const label = html`<span class="field-name">${help(f.label) || f.name}</span> <code class="key">${f.name}</code>`;
  const badge = html`${f.required && !f.learned ? html` <span class="req">${t('required')}</span>` : ''}${f.learned ? html` <span class="learned">${t('learned')}</span>` : ''}`;
  let input;
  if (f.learned) {
    // Herald fills these in when it registers the channel: shown, not edited.
    const known = f.type === 'secret' ? secret === 'set' : value !== '' && value != null;
    input = !known ? html`<div class="static muted" id=${id}>${t('learned.notYet')}</div>`
      : f.type === 'secret' ? html`<div class="secret-set" id=${id}><${Badge} tone="ok">${t('secret.set')}<//></div>`
      : html`<input id=${id} name=${id} class="fixed" value=${value} readonly />`;
  } else if (f.type === 'secret' && secret === 'set') {
    input = html`<div class="secret-set"><${Badge} tone="ok">${t('secret.set')}<//>
      <button type="button" class="btn btn-small" onClick=${() => onSecret('replace')}>${t('secret.replace')}</button>
      ${!f.required && html`<button type="button" class="btn btn-small btn-ghost" onClick=${() => onSecret('remove')}>${t('secret.remove')}</button>`}</div>`;
  } else if (f.type === 'secret' && secret === 'remove') {
    input = html`<div class="secret-set"><${Badge} tone="warn">${t('secret.removing')}<//>
      <button type="button" class="btn btn-small" onClick=${() => onSecret('set')}>${t('undo')}</button></div>`;
  } else if (f.type === 'bool') {
    input = html`<label class="switch"><input id=${id} name=${id} type="checkbox" checked=${value} onChange=${(e) => onValue(e.target.checked)} /><span></span></label>`;
  } else if (f.type === 'json') {
    input = html`<textarea id=${id} name=${id} rows="3" spellcheck="false" placeholder="{}" value=${value} onInput=${(e) => onValue(e.target.value)}></textarea>`;
  } else {
    const type = {secret: 'password', url: 'url', number: 'text'}[f.type] ?? 'text';
    input = html`<div class="secret-row"><input id=${id} name=${id} type=${type} value=${value} autocomplete=${f.type === 'secret' ? 'new-password' : 'off'}
      inputmode=${f.type === 'number' ? 'numeric' : undefined} spellcheck="false"
      placeholder=${f.type === 'list' ? t('list.placeholder') : f.type === 'secret' && secret === 'replace' ? t('secret.new') : ''}
      onInput=${(e) => onValue(e.target.value)} />
      ${secret === 'replace' && html`<button type="button" class="btn btn-small btn-ghost" onClick=${() => onSecret('set')}>${t('cancel')}</button>`}</div>`;
  }
  return html`<${Field} label=${label} name=${id} badge=${badge} help=${help(f.help)} link=${f.learned ? null : f.link} error=${error}>${input}<//>`;
}

function RegisterPanel({name, onDone}) {
  const [result, setResult] = useState(null);
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setBusy(true); setResult(null);
    try { setResult({reg: await api('POST', `channels/${seg(name)}/register`, {})}); }
    catch (e) { setResult(e.status === 502 && e.body ? {reg: e.body} : {error: e}); }
    setBusy(false);
    onDone?.();
  };
  return html`<div class="card"><h3>${t('register.title')}</h3><p class="help">${t('register.help')}</p>
    <button id="register" class="btn" type="button" onClick=${run} disabled=${busy}>${busy ? t('working') : t('register.button')}</button>
    ${result?.reg && html`<div class="result-gap"><${Registration} id="register-result" reg=${result.reg} /></div>`}
    ${result?.error && html`<div id="register-result" class="result bad">${result.error.field ? `${result.error.field}: ` : ''}${result.error.message}</div>`}
  </div>`;
}

const OUTCOME_TONE = {sent: 'ok', rate_limited: 'warn', transient: 'warn', moved: 'warn', permanent: 'bad'};

function TestPanel({name}) {
  const [result, setResult] = useState(null);
  const [busy, setBusy] = useState(false);
  const run = async (e) => {
    e.preventDefault();
    const el = e.target.elements;
    const body = {};
    if (el.recipient.value.trim()) body.recipient = el.recipient.value.trim();
    if (el.text.value.trim()) body.text = el.text.value.trim();
    setBusy(true); setResult(null);
    try { setResult(await api('POST', `channels/${seg(name)}/test`, body)); }
    catch (err) { setResult({ok: false, detail: err.field ? `${err.field}: ${err.message}` : err.message}); }
    setBusy(false);
  };
  // The outcome in words, and its code as the API says it (sent, transient, ...).
  const word = result && (result.outcome ? tOr(`outcome.${result.outcome}`, result.outcome) : result.ok ? t('test.ok') : t('test.failed'));
  return html`<form class="card" onSubmit=${run}><h3>${t('test.title')}</h3>
    <div class="field"><label for="test-recipient">${t('test.recipient')}</label>
      <input id="test-recipient" name="recipient" placeholder=${t('test.recipientHelp')} autocomplete="off" /></div>
    <div class="field"><label for="test-text">${t('test.text')}</label>
      <input id="test-text" name="text" maxlength="500" autocomplete="off" /></div>
    <button id="send-test" class="btn" type="submit" disabled=${busy}>${busy ? t('working') : t('test.button')}</button>
    ${result && html`<div id="test-result" class=${`result ${result.ok ? 'ok' : 'bad'}`}>
      <div class="test-line"><${Badge} tone=${result.ok ? 'ok' : OUTCOME_TONE[result.outcome] ?? 'bad'}>${word}<//>
        ${result.outcome && html` <code class="outcome">${result.outcome}</code>`}
        ${result.latency_ms != null && html` <span class="muted nowrap">${result.latency_ms} ms</span>`}
        ${result.recipient && html` <span class="muted recipient">→ ${result.recipient}</span>`}</div>
      ${result.detail && html`<div class="reason">${result.detail}</div>`}
    </div>`}
  </form>`;
}

// ---------------------------------------------------------------- notifications

const STATUSES = ['queued', 'sending', 'sent', 'failed', 'skipped'];
const BUILT_IN_TYPES = ['system', 'node', 'daily_report', 'account', 'announcement', 'user_registered', 'checkin'];

function Notifications({arg}) {
  const [filters, setFilters] = useState({type: '', status: '', user: ''});
  const [pages, setPages] = useState({items: [], cursor: null, loading: true, error: null});
  const [open, setOpen] = useState({});

  const load = async (cursor) => {
    setPages((p) => ({...p, loading: true, error: null}));
    try {
      // A page may come back empty while older days remain: follow a few cursors at once.
      let r = await api('GET', `notifications${qs({...filters, limit: 20, cursor})}`);
      for (let i = 0; i < 4 && !r.notifications.length && r.cursor; i++) {
        r = await api('GET', `notifications${qs({...filters, limit: 20, cursor: r.cursor})}`);
      }
      setPages((p) => ({items: cursor ? [...p.items, ...r.notifications] : r.notifications, cursor: r.cursor ?? null, loading: false, error: null}));
    } catch (error) {
      setPages((p) => ({...p, loading: false, error: error.status === 404 ? {message: t('list.missing')} : error}));
    }
  };
  useEffect(() => { load(null); }, [filters]);

  const applyFilters = (e) => {
    e.preventDefault();
    const el = e.target.elements;
    setFilters({type: el['f-type'].value.trim(), status: el['f-status'].value, user: el['f-user'].value.trim()});
  };
  const sent = (id) => { setOpen((o) => ({...o, [id]: true})); load(null); };
  // The deliveries table read them all again: the row's summary follows.
  const counted = (id, patch) => setPages((p) => ({...p, items: p.items.map((n) => (n.id === id ? {...n, ...patch} : n))}));
  const toggle = (id) => setOpen((o) => ({...o, [id]: !o[id]}));

  return html`<${Page} title=${t('nav.notifications')}>
    <${NotifyForm} onSent=${sent} />
    <form class="filters card" onSubmit=${applyFilters}>
      <input name="f-type" id="filter-type" placeholder=${t('col.type')} list="types-list" aria-label=${t('col.type')} />
      <select name="f-status" id="filter-status" aria-label=${t('col.status')}>
        <option value="">${t('filter.anyStatus')}</option>
        ${STATUSES.map((s) => html`<option value=${s}>${t(`status.${s}`)}</option>`)}
      </select>
      <input name="f-user" id="filter-user" placeholder=${t('filter.user')} aria-label=${t('filter.user')} />
      <button class="btn" type="submit" id="apply-filters">${t('filter.apply')}</button>
    </form>
    <datalist id="types-list">${BUILT_IN_TYPES.map((ty) => html`<option value=${ty} />`)}</datalist>
    ${arg && html`<div class="card"><h3>${t('notification')} <code>${arg}</code></h3><${Deliveries} id=${arg} onCounts=${counted} /></div>`}
    <${ErrorNote} error=${pages.error} />
    <div class="card table-wrap"><table class="table stack notifications" id="notifications">
      <thead><tr><th>${t('col.time')}</th><th>${t('col.type')}</th><th>${t('col.title')}</th><th>${t('col.to')}</th><th>${t('col.deliveries')}</th></tr></thead>
      <tbody>${pages.items.map((n) => html`
        <tr data-id=${n.id} class=${`clickable ${open[n.id] ? 'open' : ''}`} tabindex="0" aria-expanded=${!!open[n.id]}
          onClick=${() => toggle(n.id)}
          onKeyDown=${(e) => e.key === 'Enter' && toggle(n.id)}>
          <td class="nowrap c-time"><${When} at=${n.created_at} /></td>
          <td class="c-type"><span class="chip">${n.type}</span></td>
          <td class="title-cell wide"><div class="strong">${n.title ?? html`<span class="muted">${t('noTitle')}</span>`}</div><div class="muted clip">${n.text ?? ''}</div></td>
          <td data-label=${t('col.to')}>${toText(n.to)}</td>
          <td class="counts" data-label=${t('col.deliveries')}>${n.deliveries} · <${Counts} counts=${n.counts} />${n.complete ? null : html` <${Badge} tone="warn">${t('planning')}<//>`}</td>
        </tr>
        ${open[n.id] && html`<tr class="detail" data-detail=${n.id}><td colspan="5" class="wide"><${Deliveries} id=${n.id} onCounts=${counted} /></td></tr>`}`)}
      </tbody></table>
      ${!pages.loading && !pages.items.length && !pages.error && html`<div class="empty muted">${t('notifications.none')}</div>`}
    </div>
    <div class="more">
      ${pages.loading ? html`<${Loading} />` : pages.cursor != null && html`<button id="load-more" class="btn" onClick=${() => load(pages.cursor)}>${t('loadMore')}</button>`}
    </div>
  <//>`;
}

// The deliveries of notification `id`; `onCounts(id, {counts, deliveries, complete})` each time
// all of them were read, so that the list's summary row follows.
function Deliveries({id, onCounts}) {
  const [state, setState] = useState({items: [], cursor: null, error: null, loading: true});
  const load = async (cursor) => {
    try {
      const r = await api('GET', `notifications/${seg(id)}${qs({cursor})}`);
      setState((s) => ({items: cursor ? [...s.items, ...r.deliveries] : r.deliveries, cursor: r.cursor, error: null, loading: false}));
      if (!cursor && !r.cursor && onCounts) {
        const counts = Object.fromEntries(STATUSES.map((st) => [st, 0]));
        for (const d of r.deliveries) counts[d.status] = (counts[d.status] ?? 0) + 1;
        onCounts(id, {counts, deliveries: r.deliveries.length, complete: r.complete});
      }
    } catch (error) { setState((s) => ({...s, error, loading: false})); }
  };
  useEffect(() => { load(null); }, [id]);
  // While some are still on their way, look again now and then.
  const polls = useRef(0);
  const pending = state.items.some((d) => d.status === 'queued' || d.status === 'sending');
  useEffect(() => {
    if (!pending || state.cursor || polls.current++ >= 20) return undefined;
    const timer = setTimeout(() => load(null), 3000);
    return () => clearTimeout(timer);
  }, [state]);
  if (state.error) return html`<${ErrorNote} error=${state.error} />`;
  if (state.loading) return html`<${Loading} />`;
  if (!state.items.length) return html`<div class="muted">${t('deliveries.none')}</div>`;
  return html`<table class="table inner deliveries stack">
    <thead><tr><th>${t('col.channel')}</th><th>${t('col.recipient')}</th><th>${t('col.status')}</th>
      <th class="num">${t('col.attempts')}</th><th>${t('col.reason')}</th></tr></thead>
    <tbody>${state.items.map((d) => html`<tr data-channel=${d.channel}>
      <td><a href=${`#/channels/${seg(d.channel)}`}>${d.channel}</a></td>
      <td class="recipient-cell"><code class="recipient">${d.recipient}</code>${d.user && html` <a class="muted nowrap" href=${`#/users/${seg(d.user)}`}>(${d.user})</a>`}</td>
      <td class="nowrap"><${StatusBadge} status=${d.status} />${d.silent && html` <span class="muted">${t('silent')}</span>`}
        ${d.hold_until && html` <span class="muted">${t('heldUntil', {at: fmtTime(d.hold_until)})}</span>`}</td>
      <td class="num" data-label=${t('col.attempts')}>${d.attempts}</td>
      <td class=${`reason ${d.reason || d.note ? 'wide' : 'none'}`}>${d.reason}${d.note && html`<div class="muted">${d.note}</div>`}</td>
    </tr>`)}</tbody></table>
    ${state.cursor && html`<button class="btn btn-small" onClick=${() => load(state.cursor)}>${t('loadMore')}</button>`}`;
}

const BLANK_NOTIFY = {type: 'announcement', to: 'all', user: '', title: '', text: '', link: ''};

function NotifyForm({onSent}) {
  const [v, setV] = useState(BLANK_NOTIFY);
  const [result, setResult] = useState(null);
  const [errors, setErrors] = useState({});
  const [busy, setBusy] = useState(false);
  // One key per notification written: a second click (or a retry after a lost answer) sends
  // the same key, and Herald answers with the notification it already has. A new key once
  // one was accepted, or once the form says something else.
  const key = useRef(randomKey());
  const inFlight = useRef(false);
  const change = (name) => (e) => { key.current = randomKey(); const x = e.target.value; setV((s) => ({...s, [name]: x})); };
  const submit = async (e) => {
    e.preventDefault();
    if (inFlight.current) return;
    const body = {type: v.type.trim(), text: v.text, to: v.to === 'user' ? {user: v.user.trim()} : v.to, idempotency_key: key.current};
    if (v.title.trim()) body.title = v.title.trim();
    if (v.link.trim()) body.link = v.link.trim();
    inFlight.current = true;
    setErrors({}); setResult(null); setBusy(true);
    try {
      const r = await api('POST', 'notify', body);
      key.current = randomKey();
      setV((s) => ({...s, title: '', text: '', link: ''}));
      setResult(r);
      onSent(r.id);
    } catch (err) {
      const k = (err.field || '').split(/[.[]/)[0];
      if (['type', 'title', 'text', 'to', 'link'].includes(k)) setErrors({[k === 'to' && v.to === 'user' ? 'user' : k]: err.message});
      else setErrors({top: err.field ? `${err.field}: ${err.message}` : err.message});
    }
    inFlight.current = false;
    setBusy(false);
  };
  return html`<details class="card notify" open>
    <summary>${t('notify.title')}</summary>
    <form id="notify-form" class="form grid-form" onSubmit=${submit} novalidate>
      <${Field} label=${t('col.type')} name="notify-type" error=${errors.type}>
        <input id="notify-type" name="type" list="types-list" value=${v.type} onInput=${change('type')} required /><//>
      <${Field} label=${t('col.to')} name="notify-to" error=${errors.to}>
        <div class="row"><select id="notify-to" name="to" value=${v.to} onChange=${change('to')}>
          <option value="all">${t('to.all')}</option><option value="admins">${t('to.admins')}</option><option value="user">${t('to.aUser')}</option>
        </select>
        ${v.to === 'user' && html`<input id="notify-user" name="user" value=${v.user} onInput=${change('user')} placeholder=${t('notify.userId')} aria-label=${t('notify.userId')} />`}</div>
        ${errors.user && html`<div class="field-error">${errors.user}</div>`}<//>
      <${Field} label=${t('col.title')} name="notify-title" error=${errors.title}><input id="notify-title" name="title" value=${v.title} onInput=${change('title')} /><//>
      <${Field} label=${t('notify.text')} name="notify-text" error=${errors.text}><textarea id="notify-text" name="text" rows="2" required value=${v.text} onInput=${change('text')}></textarea><//>
      <${Field} label=${t('notify.link')} name="notify-link" error=${errors.link}><input id="notify-link" name="link" type="url" placeholder="https://" value=${v.link} onInput=${change('link')} /><//>
      <div class="form-actions">
        <button id="send-notify" class="btn btn-primary" type="submit" disabled=${busy}>${t('notify.send')}</button>
        <div id="notify-result" role="status">
          ${result && html`<span class="tone-ok">${t('notify.accepted', {n: result.deliveries})}</span> <code>${result.id}</code>`}
          ${errors.top && html`<span class="field-error">${errors.top}</span>`}
        </div>
      </div>
    </form>
  </details>`;
}

// ---------------------------------------------------------------- messages

function Messages() {
  const [state, setState] = useState({items: [], cursor: null, loading: true, error: null});
  const status = useLoad(() => api('GET', 'status'), []);
  const [redrive, setRedrive] = useState(null);
  const load = async (cursor) => {
    setState((s) => ({...s, loading: true}));
    try {
      const r = await api('GET', `messages${qs({limit: 50, cursor})}`);
      setState((s) => ({items: cursor ? [...s.items, ...r.messages] : r.messages, cursor: r.cursor, loading: false, error: null}));
    } catch (error) { setState((s) => ({...s, loading: false, error})); }
  };
  useEffect(() => { load(null); }, []);
  const markRead = async (m) => {
    try {
      await api('POST', `messages/${seg(m.id)}/read`);
      setState((s) => ({...s, items: s.items.map((x) => (x.id === m.id ? {...x, read: true} : x))}));
    } catch (error) { setState((s) => ({...s, error})); }
  };
  const doRedrive = async () => {
    setRedrive({busy: true});
    try { setRedrive({data: await api('POST', 'deadletters/redrive')}); } catch (error) { setRedrive({error}); }
    status.reload();
  };
  const dead = status.data?.queue.dead;
  const unread = state.items.filter((m) => !m.read).length;
  return html`<${Page} title=${t('nav.messages')}>
    <div class="card deadletters">
      <div><div class="stat-label">${t('queue.dead')}</div>
        <div id="dead-depth" class=${`stat-value ${dead ? 'tone-bad' : ''}`}>${dead ?? '…'}</div></div>
      <div class="help">${t('redrive.help')}</div>
      <div><button id="redrive" class="btn" onClick=${doRedrive} disabled=${redrive?.busy}>${t('redrive.button')}</button>
        <div id="redrive-result" role="status">${redrive?.data && t('redrive.result', redrive.data)}
          ${redrive?.error && html`<span class="field-error">${redrive.error.message}</span>`}</div></div>
    </div>
    <${ErrorNote} error=${state.error || status.error} />
    <h2 class="section-title">${t('messages.center')} ${unread ? html`<${Badge} tone="info">${t('messages.unread', {n: unread})}<//>` : null}</h2>
    ${!state.loading && !state.items.length ? html`<div class="card empty muted">${t('messages.none')}</div>` : html`
    <ul id="messages" class="card messages">${state.items.map((m) => html`
      <li data-id=${m.id} class=${m.read ? '' : 'unread'}>
        <span class="dot" aria-hidden="true"></span>
        <div class="msg-body">
          <div class="msg-head"><span class="msg-title">${m.title}</span>
            <${Badge} tone=${m.category === 'failure' ? 'bad' : ''}>${tOr(`category.${m.category}`, m.category)}<//>
            <span class="muted"><${When} at=${m.created_at} /></span></div>
          <div class="msg-text">${m.text}</div>
          ${m.notification && html`<a class="small" href=${`#/notifications/${seg(m.notification)}`}>${t('messages.see')}</a>`}
        </div>
        ${!m.read && html`<button class="btn btn-small mark-read" onClick=${() => markRead(m)}>${t('messages.markRead')}</button>`}
      </li>`)}</ul>`}
    <div class="more">${state.loading ? html`<${Loading} />` : state.cursor && html`<button class="btn" id="load-more" onClick=${() => load(state.cursor)}>${t('loadMore')}</button>`}</div>
  <//>`;
}

// ---------------------------------------------------------------- users

function Users() {
  const [q, setQ] = useState('');
  const [state, setState] = useState({items: [], cursor: null, loading: true, error: null});
  const load = async (query, cursor) => {
    setState((s) => ({...s, loading: true, error: null}));
    try {
      const r = await api('GET', `users${qs({q: query, limit: 50, cursor})}`);
      setState((s) => ({items: cursor ? [...s.items, ...r.users] : r.users, cursor: r.cursor, loading: false, error: null}));
    } catch (error) {
      if (error.status === 404 && query) {
        // No search on this server yet: look the id up directly.
        const u = await optional(api('GET', `users/${seg(query)}`)).catch(() => null);
        return setState({items: u ? [u] : [], cursor: null, loading: false, error: null});
      }
      setState((s) => ({...s, loading: false, error: error.status === 404 ? {message: t('list.missing')} : error}));
    }
  };
  useEffect(() => { load(q, null); }, [q]);
  return html`<${Page} title=${t('nav.users')}>
    <form class="filters card" onSubmit=${(e) => { e.preventDefault(); setQ(e.target.elements.q.value.trim()); }}>
      <input id="user-q" name="q" type="search" placeholder=${t('users.search')} aria-label=${t('users.search')} />
      <button class="btn btn-primary" type="submit" id="user-search">${t('search')}</button>
    </form>
    <${ErrorNote} error=${state.error} />
    <div class="card table-wrap"><table class="table stack" id="users">
      <thead><tr><th>${t('col.id')}</th><th>${t('col.name')}</th><th>${t('user.role')}</th><th>${t('user.locale')}</th><th>${t('user.bound')}</th></tr></thead>
      <tbody>${state.items.map((u) => html`<tr data-id=${u.id} class="clickable" onClick=${() => go(`#/users/${seg(u.id)}`)}>
        <td><a href=${`#/users/${seg(u.id)}`}>${u.id}</a></td><td>${u.name ?? ''}</td>
        <td>${u.role === 'admin' ? html`<${Badge} tone="info">${t('role.admin')}<//>` : t('role.user')}</td>
        <td data-label=${t('user.locale')}>${u.locale ?? '—'}</td>
        <td class="wide" data-label=${t('user.bound')}>${Object.keys(u.ids ?? {}).map((k) => html`<span class="chip">${k}</span> `)}</td>
      </tr>`)}</tbody></table>
      ${!state.loading && !state.items.length && !state.error && html`<div class="empty muted">${t('users.none')}</div>`}
    </div>
    <div class="more">${state.loading ? html`<${Loading} />` : state.cursor && html`<button class="btn" id="load-more" onClick=${() => load(q, state.cursor)}>${t('loadMore')}</button>`}</div>
  <//>`;
}

function UserDetail({arg}) {
  const {data: u, error} = useLoad(() => api('GET', `users/${seg(arg)}`), [arg]);
  if (error) return html`<${Page} title=${arg}><${ErrorNote} error=${error} /><a href="#/users">${t('back')}</a><//>`;
  if (!u) return html`<${Loading} />`;
  const p = u.preferences ?? {};
  const qh = p.quiet_hours;
  const row = (label, value) => html`<dt>${label}</dt><dd>${value ?? '—'}</dd>`;
  return html`<${Page} title=${u.name ? html`<bdi>${u.name}</bdi> (<bdi>${u.id}</bdi>)` : u.id}>
    <a class="back" href="#/users">← ${t('nav.users')}</a>
    <div class="columns">
      <div>
        <div class="card"><h3>${t('user.account')}</h3><dl class="kv">
          ${row(t('col.id'), html`<code>${u.id}</code>`)}${row(t('col.name'), u.name)}
          ${row(t('user.role'), u.role === 'admin' ? t('role.admin') : t('role.user'))}${row(t('user.locale'), u.locale)}
          ${row(t('user.plan'), u.plan)}${row(t('user.expires'), u.expires_at && fmtTime(u.expires_at))}
          ${row(t('user.traffic'), u.traffic_total != null || u.traffic_used != null ? `${fmtBytes(u.traffic_used ?? 0)} / ${fmtBytes(u.traffic_total)}` : null)}
          ${row(t('user.rewards'), u.rewards)}${row(t('user.devices'), (u.push ?? []).length)}
          ${row(t('user.created'), fmtTime(u.created_at))}
        </dl></div>
        <div class="card"><h3>${t('user.bound')}</h3>
          ${Object.keys(u.ids ?? {}).length ? html`<table class="table inner"><tbody>${Object.entries(u.ids).map(([k, v]) => html`
            <tr data-binding=${k}><td><span class="chip">${k}</span></td><td><code>${v}</code></td>
              <td>${u.unreachable?.[k] && html`<${Badge} tone="bad">${t('user.unreachable')}<//> <span class="reason">${u.unreachable[k]}</span>`}</td></tr>`)}
          </tbody></table>` : html`<p class="muted">${t('user.noIds')}</p>`}</div>
        <div class="card"><h3>${t('user.prefs')}</h3><dl class="kv">
          ${row(t('user.disabled'), p.disabled_types?.length ? p.disabled_types.map((x) => html`<span class="chip">${x}</span> `) : t('none'))}
          ${row(t('user.preferred'), p.preferred_channel)}
          ${row(t('user.quiet'), qh ? `${qh.start}–${qh.end} (${qh.time_zone})` : t('none'))}
        </dl></div>
      </div>
      <aside class="side"><${BindCode} id=${u.id} /></aside>
    </div>
  <//>`;
}

function BindCode({id}) {
  const [state, setState] = useState(null);
  const make = async () => {
    setState({busy: true});
    try {
      const [data, channels] = await Promise.all([api('POST', `users/${seg(id)}/bind-code`), api('GET', 'channels').catch(() => null)]);
      setState({data, telegram: channels ? channels.channels.some((c) => c.kind === 'telegram' && c.enabled) : true});
    } catch (error) { setState({error}); }
  };
  const d = state?.data;
  const links = Object.entries(d?.links ?? {}).filter(([, l]) => typeof l === 'string' && l);
  // The same text on several channels is one line naming them all.
  const groups = new Map();
  if (d) {
    groups.set(d.command, [t('bind.any')]);
    for (const [ch, c] of Object.entries(d.commands ?? {})) groups.set(c, [...(groups.get(c) ?? []), ch]);
  }
  return html`<div class="card"><h3>${t('bind.title')}</h3><p class="help">${t('bind.help')}</p>
    <button id="bind-code" class="btn btn-primary" onClick=${make} disabled=${state?.busy}>${t('bind.button')}</button>
    <${ErrorNote} error=${state?.error} />
    ${d && html`<div id="bind-result" class="bind">
      <div class="code"><code>${d.code}</code></div>
      <div class="muted">${t('bind.expires', {at: relTime(d.expires_at)})}</div>
      ${links.length ? html`<h4>${t('bind.links')}</h4>${links.map(([ch, l]) => {
        const qr = qrDataUrl(l);
        return html`<div class="bind-link" data-channel=${ch}>
          ${qr && html`<img class="qr" id=${links.length === 1 ? 'bind-qr' : undefined} src=${qr} alt=${t('bind.qrOf', {channel: ch, link: l})} />`}
          <div><span class="chip">${ch}</span> ${safeLink(l) ? html`<a class="link-text" href=${l} target="_blank" rel="noopener noreferrer">${l}</a>` : html`<span class="link-text">${l}</span>`}</div>
        </div>`;
      })}` : html`<p class="help hint-warn" id="bind-nolink">${state.telegram ? t('bind.noLink') : t('bind.noTelegram')}</p>`}
      <h4>${t('bind.commands')}</h4>
      <dl class="kv">${[...groups].map(([c, names]) => html`<dt>${names.join(', ')}</dt><dd><code>${c}</code></dd>`)}</dl>
    </div>`}
  </div>`;
}

function qrDataUrl(text) {
  if (!text) return null;
  try {
    const qr = qrcode(0, 'M');
    qr.addData(text);
    qr.make();
    return qr.createDataURL(4, 8);
  } catch (e) {
    return null;
  }
}

// ---------------------------------------------------------------- nodes

// How a host app adds a node and sends its heartbeats (README: "Nodes, daily report and reminders").
const nodeSample = () => [
  `curl -X PUT ${location.origin}/api/v1/nodes/hk1 \\`,
  '  -H "Authorization: Bearer $HERALD_API_TOKEN" \\',
  `  -d '{"name": "HK 1", "host": "hk1.example.net", "port": 443, "region": "cn", "key": "a-node-key-0123456789"}'`,
  `curl -X POST ${location.origin}/api/v1/nodes/hk1/heartbeat \\`,
  '  -H "Authorization: Bearer a-node-key-0123456789"',
].join('\n');

function Nodes() {
  const {data, error, loading, reload} = useLoad(() => Promise.all([api('GET', 'nodes'), optional(api('GET', 'stats?days=14'))]), []);
  const [list, stats] = data ?? [null, null];
  return html`<${Page} title=${t('nav.nodes')} actions=${html`<button class="btn" onClick=${reload} disabled=${loading}>${t('refresh')}</button>`}>
    <${ErrorNote} error=${error} />
    ${!list ? html`<${Loading} />` : !list.nodes.length ? html`<div class="card empty-help" id="nodes-empty">
      <h3>${t('nodes.none')}</h3>
      <p class="help">${t('nodes.howto')}</p>
      <pre class="sample">${nodeSample()}</pre>
      <p class="help">${t('nodes.readme')}</p>
    </div>` : html`
    <div class="card table-wrap"><table class="table stack" id="nodes">
      <thead><tr><th>${t('col.name')}</th><th>${t('node.address')}</th><th>${t('col.status')}</th><th>${t('node.blocked')}</th>
        <th>${t('node.heartbeat')}</th><th class="num">${t('node.downtime')}</th></tr></thead>
      <tbody>${list.nodes.map((n) => html`<tr data-id=${n.id}>
        <td><div class="strong">${n.name}</div><div class="muted small">${n.id}${n.enabled === false ? ` · ${t('off')}` : ''}</div></td>
        <td data-label=${t('node.address')}>${[n.host, n.port].filter((x) => x != null).join(':')}${n.region && html` <span class="chip">${n.region}</span>`}</td>
        <td><${StatusBadge} status=${n.status} />${n.status_since && html` <span class="muted small"><${When} at=${n.status_since} /></span>`}</td>
        <td data-label=${t('node.blocked')}>${n.blocked ? html`<${Badge} tone="bad">${t('node.isBlocked')}<//>` : html`<span class="muted">${t('no')}</span>`}</td>
        <td data-label=${t('node.heartbeat')}><${When} at=${n.last_heartbeat} /></td>
        <td class="num" data-label=${t('node.downtime')}>${stats ? fmtDuration(stats.nodes?.[n.id]?.downtime_secs ?? 0) : '—'}</td>
      </tr>`)}</tbody></table></div>`}
  <//>`;
}

// ---------------------------------------------------------------- settings

const SCOPES = ['admin', 'user', 'user,admin', 'all'];
const DEFAULT_SCOPES = {system: 'admin', node: 'admin', daily_report: 'admin', account: 'user', announcement: 'all', user_registered: 'admin', checkin: 'user'};

const getPath = (o, path) => path.split('.').reduce((x, k) => x?.[k], o);
function setPath(o, path, v) {
  const copy = structuredClone(o);
  const keys = path.split('.');
  let x = copy;
  for (const k of keys.slice(0, -1)) x = x[k] ??= {};
  x[keys.at(-1)] = v;
  return copy;
}

// A merge patch of what changed from `a` to `b` (nested objects field by field, lists whole).
function diff(a, b) {
  const out = {};
  for (const [k, v] of Object.entries(b)) {
    const old = a?.[k];
    if (v && typeof v === 'object' && !Array.isArray(v) && old && typeof old === 'object' && !Array.isArray(old)) {
      const d = diff(old, v);
      if (Object.keys(d).length) out[k] = d;
    } else if (JSON.stringify(old) !== JSON.stringify(v)) out[k] = v;
  }
  return out;
}

const ints = (s) => s.split(',').map((x) => x.trim()).filter(Boolean).map(Number);
const words = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);

// Inputs of the settings form: path, type, and for lists how they are read.
const SETTING_FIELDS = [
  ['daily', [['daily_report.enabled', 'bool'], ['daily_report.time', 'time'], ['time_zone', 'tz'], ['locale', 'locale']]],
  ['reminders', [['reminders.expiry_days', 'ints'], ['reminders.traffic_percent', 'number'], ['deferrable_types', 'words']]],
  ['nodes', [['node.offline_after_secs', 'number'], ['node.debounce', 'number']]],
  ['checkin', [['checkin.enabled', 'bool'], ['checkin.min', 'number'], ['checkin.max', 'number'], ['checkin.unit', 'text']]],
];

function SettingsView() {
  const [orig, setOrig] = useState(null);
  const [draft, setDraft] = useState(null);
  const [text, setText] = useState({}); // list inputs as typed
  const [errors, setErrors] = useState({});
  const [status, setStatus] = useState(null);
  const [notSaved, setNotSaved] = useState(null);
  const [newType, setNewType] = useState('');
  const [extra, setExtra] = useState([]);
  const load = (s) => { setOrig(s); setDraft(structuredClone(s)); setText({}); };
  useEffect(() => { api('GET', 'settings').then(load, (error) => setStatus({error})); }, []);
  if (!draft) return html`<${Page} title=${t('nav.settings')}>${status?.error ? html`<${ErrorNote} error=${status.error} />` : html`<${Loading} />`}<//>`;

  const types = [...new Set([...BUILT_IN_TYPES, ...Object.keys(orig.routes), ...Object.keys(draft.routes), ...extra])];
  const set = (path, v) => setDraft((d) => setPath(d, path, v));
  // '' puts the type back to its default: the key leaves `routes`, and the patch sends null.
  const setRoute = (ty, scope) => setDraft((d) => {
    const routes = {...d.routes};
    if (scope === '') delete routes[ty]; else routes[ty] = scope;
    return {...d, routes};
  });
  const fieldLabel = (key) => (key.startsWith('routes.') ? `${t('settings.routes')} (${key.slice(7)})` : key === 'routes' ? t('settings.routes') : t(`set.${key}`));
  // The error beside its field, "Not saved — see FIELD" beside Save, and the field in view.
  const fail = (key, message) => {
    setErrors({[key]: message, [key.split('.')[0]]: message});
    setNotSaved({field: fieldLabel(key)});
    focusField(key.startsWith('routes.') ? `route-${key.slice(7)}` : key === 'routes' ? 'routes' : `set-${key}`);
  };

  const save = async (e) => {
    e.preventDefault();
    setErrors({}); setStatus(null); setNotSaved(null);
    let next = draft;
    for (const [path, s] of Object.entries(text)) {
      const kind = SETTING_FIELDS.flatMap(([, fs]) => fs).find(([p]) => p === path)[1];
      const v = kind === 'ints' ? ints(s) : words(s);
      if (kind === 'ints' && v.some((n) => !Number.isInteger(n) || n < 0)) return fail(path, t('err.ints'));
      next = setPath(next, path, v);
    }
    const {routes, ...rest} = next;
    const {routes: origRoutes, ...origRest} = orig;
    const patch = diff(origRest, rest);
    const routesPatch = objectPatch(origRoutes, routes);
    if (Object.keys(routesPatch).length) patch.routes = routesPatch;
    if (!Object.keys(patch).length) return setStatus({ok: t('settings.unchanged')});
    try {
      load(await api('PUT', 'settings', patch));
      setExtra([]);
      setStatus({ok: t('saved')});
    } catch (err) {
      const key = (err.field || '').replace(/\[\d+\]$/, '');
      const known = key.startsWith('routes') || SETTING_FIELDS.some(([, fs]) => fs.some(([p]) => p === key));
      if (known) fail(key, err.message);
      else {
        setStatus({error: err.field ? {message: `${err.field}: ${err.message}`} : err});
        setNotSaved({});
        focusField('settings-error');
      }
    }
  };

  const input = (path, kind) => {
    const v = getPath(draft, path);
    const id = `set-${path}`;
    switch (kind) {
      case 'bool': return html`<label class="switch"><input id=${id} name=${path} type="checkbox" checked=${v} onChange=${(e) => set(path, e.target.checked)} /><span></span></label>`;
      case 'time': return html`<input id=${id} name=${path} type="time" value=${v} onInput=${(e) => set(path, e.target.value)} />`;
      case 'tz': return html`<input id=${id} name=${path} value=${v} list="tz-list" onInput=${(e) => set(path, e.target.value)} />`;
      case 'locale': return html`<select id=${id} name=${path} value=${v} onChange=${(e) => set(path, e.target.value)}>${LANGS.map(([c, l]) => html`<option value=${c}>${l}</option>`)}</select>`;
      case 'number': return html`<input id=${id} name=${path} type="number" value=${v} onInput=${(e) => set(path, e.target.value === '' ? '' : Number(e.target.value))} />`;
      case 'ints': case 'words': return html`<input id=${id} name=${path} value=${text[path] ?? v.join(', ')} onInput=${(e) => setText((x) => ({...x, [path]: e.target.value}))} />`;
      default: return html`<input id=${id} name=${path} value=${v} onInput=${(e) => set(path, e.target.value)} />`;
    }
  };

  const scopeName = (s) => t(`scope.${s}`);
  return html`<${Page} title=${t('nav.settings')}>
    <form id="settings-form" class="form" onSubmit=${save} novalidate>
      ${status?.error && html`<${ErrorNote} error=${status.error} id="settings-error" />`}
      <div class="card" data-field="routes"><h2>${t('settings.routes')}</h2><p class="help">${t('settings.routesHelp')}</p>
        ${errors.routes && html`<div class="field-error">${errors.routes}</div>`}
        <div class="table-wrap"><table class="table routes" id="routes">
          <thead><tr><th>${t('col.type')}</th>${SCOPES.map((s) => html`<th class="center">${scopeName(s)}</th>`)}<th class="center">${t('scope.default')}</th></tr></thead>
          <tbody>${types.map((ty) => {
            const current = draft.routes[ty] ?? '';
            const def = DEFAULT_SCOPES[ty] ? scopeName(DEFAULT_SCOPES[ty]) : t('scope.asSent');
            const radio = (s, label) => html`<label class="scope-opt"><input type="radio" name=${`routes.${ty}`} value=${s}
                aria-label=${`${ty}: ${label}`} checked=${current === s} onChange=${() => setRoute(ty, s)} /><span class="opt-name">${label}</span></label>`;
            return html`<tr data-type=${ty} data-field=${`route-${ty}`} class=${errors[`routes.${ty}`] ? 'has-error' : ''}>
              <td class="type-cell"><code>${ty}</code></td>
              ${SCOPES.map((s) => html`<td class="center opt">${radio(s, scopeName(s))}</td>`)}
              <td class="center opt def">${radio('', t('scope.default'))} <span class="muted small def-is">(${def})</span></td>
            </tr>`;
          })}</tbody></table></div>
        <div class="row add-type">
          <input id="new-type" value=${newType} placeholder=${t('settings.newType')} aria-label=${t('settings.newType')} onInput=${(e) => setNewType(e.target.value)} />
          <button class="btn btn-small" type="button" onClick=${() => { const ty = newType.trim(); if (ty) { setExtra((x) => [...x, ty]); setNewType(''); } }}>${t('settings.addType')}</button>
        </div>
      </div>
      <div class="settings-grid">${SETTING_FIELDS.map(([group, fields]) => html`<div class="card"><h2>${t(`settings.${group}`)}</h2>
        ${fields.map(([path, kind]) => html`<${Field} label=${t(`set.${path}`)} name=${`set-${path}`} help=${t(`set.${path}.help`)} error=${errors[path]}>${input(path, kind)}<//>`)}
      </div>`)}</div>
      <datalist id="tz-list">${(Intl.supportedValuesOf?.('timeZone') ?? []).map((z) => html`<option value=${z} />`)}</datalist>
      <div class="form-actions sticky">
        <button id="save-settings" class="btn btn-primary" type="submit">${t('save')}</button>
        <span id="settings-result" role="status" class="tone-ok">${status?.ok}</span>
        <${NotSaved} id="settings-not-saved" state=${notSaved} />
      </div>
    </form>
  <//>`;
}

// ---------------------------------------------------------------- the app

let rerender = () => {};

function setLang(l) {
  lang = l;
  localStorage.setItem(LANG_KEY, l);
  document.documentElement.lang = l;
  document.title = `Herald · ${t('console')}`;
  rerender();
}

function App() {
  const [, setTick] = useState(0);
  const [token, setToken] = useState(session.token);
  const [notice, setNotice] = useState(null);
  const route = useRoute();
  rerender = () => setTick((x) => x + 1);

  const signOut = (why) => {
    sessionStorage.removeItem(TOKEN_KEY);
    session.token = null;
    setNotice(why ?? null);
    setToken(null);
  };
  session.onExpired = () => signOut('signin.expired');

  if (!token) {
    return html`<${SignIn} notice=${notice} onSignedIn=${(tok) => {
      sessionStorage.setItem(TOKEN_KEY, tok);
      session.token = tok;
      setNotice(null);
      setToken(tok);
    }} />`;
  }
  return html`<${Shell} route=${route} onSignOut=${() => signOut()} />`;
}

document.documentElement.lang = lang;
document.title = `Herald · ${t('console')}`;
if (window.Chart) {
  window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  window.Chart.defaults.color = '#4b5563';
}
render(html`<${App} />`, document.getElementById('app'));
