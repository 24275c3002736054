// Herald's Web Push page: the person's link (#t=TOKEN) lets this page read their name and
// subscriptions, and register or remove this browser's subscription. Nothing else.
'use strict';

const zh = (navigator.language || '').toLowerCase().startsWith('zh');
const T = zh ? {
  title: '通知', hello: (n) => `${n}，在这台设备上接收通知。`, on: '开启通知', off: '在此设备上关闭',
  subscribed: '这台设备会收到通知。', not: '这台设备还没有开启通知。', denied: '通知已被浏览器阻止：请在浏览器的网站设置中允许通知。',
  unsupported: '这个浏览器不支持网页推送。', expired: '链接已失效：请回到原网站重新打开。', devices: '已开启通知的设备：',
  ios: '在 iPhone 或 iPad 上（iOS 16.4 及以上）：先用 Safari 的“分享 → 添加到主屏幕”，再从主屏幕打开本页。', failed: '没有成功：',
} : {
  title: 'Notifications', hello: (n) => `${n}, get your notifications on this device.`, on: 'Turn on notifications', off: 'Turn off on this device',
  subscribed: 'This device gets notifications.', not: 'This device does not get notifications yet.', denied: 'Notifications are blocked in this browser: allow them in the site settings.',
  unsupported: 'This browser does not support web push.', expired: 'This link has expired: open it again from the site that sent it.', devices: 'Devices with notifications on:',
  ios: 'On iPhone or iPad (iOS 16.4 or later): in Safari choose Share → Add to Home Screen, then open this page from the Home Screen.', failed: 'That did not work: ',
};

const $ = (id) => document.getElementById(id);
// The link's token; kept for this site, so that the page opened again (from the Home Screen,
// with no link) still knows it while it is valid.
const token = (() => {
  const t = new URLSearchParams(location.hash.slice(1)).get('t');
  try {
    if (t) localStorage.setItem('herald-push-token', t);
    return t || localStorage.getItem('herald-push-token') || '';
  } catch (_) {
    return t || '';
  }
})();
let me = null;

function say(text) { $('status').textContent = text; }

async function api(method, path, body) {
  const r = await fetch('/api/v1/' + path, {
    method,
    headers: Object.assign({ authorization: 'Bearer ' + token }, body ? { 'content-type': 'application/json' } : {}),
    body: body ? JSON.stringify(body) : undefined,
  });
  if (r.status === 401) throw new Error(T.expired);
  if (!r.ok) throw new Error((await r.json().catch(() => ({}))).message || ('HTTP ' + r.status));
  return r.status === 204 ? null : r.json();
}

function fromBase64Url(s) {
  const b = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - s.length % 4) % 4));
  return Uint8Array.from(b, (c) => c.charCodeAt(0));
}

// The id Herald gives a subscription: the first 16 hex digits of SHA-256(endpoint).
async function idOf(endpoint) {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(endpoint)));
  return Array.from(d.slice(0, 8), (b) => b.toString(16).padStart(2, '0')).join('');
}

function label() {
  const ua = navigator.userAgent;
  const browser = /Edg\//.test(ua) ? 'Edge' : /Firefox\//.test(ua) ? 'Firefox' : /Chrome\//.test(ua) ? 'Chrome' : /Safari\//.test(ua) ? 'Safari' : 'Browser';
  const os = /iPhone|iPad/.test(ua) ? 'iOS' : /Android/.test(ua) ? 'Android' : /Mac OS X/.test(ua) ? 'macOS' : /Windows/.test(ua) ? 'Windows' : /Linux/.test(ua) ? 'Linux' : '';
  return os ? `${browser} · ${os}` : browser;
}

async function current() {
  const reg = await navigator.serviceWorker.ready;
  return reg.pushManager.getSubscription();
}

async function show() {
  me = await api('GET', 'webpush/me');
  $('hello').textContent = T.hello(me.name || me.user);
  const list = $('devices');
  list.replaceChildren(...me.subscriptions.map((s) => {
    const li = document.createElement('li');
    li.textContent = `${s.label || s.push_service} (${new Date(s.created_at).toLocaleDateString()})`;
    return li;
  }));
  $('devices-title').hidden = me.subscriptions.length === 0;
  const sub = await current();
  const id = sub && await idOf(sub.endpoint);
  const mine = !!sub && me.subscriptions.some((s) => s.id === id);
  if (Notification.permission === 'denied') say(T.denied);
  else say(mine ? T.subscribed : T.not);
  $('on').hidden = mine || Notification.permission === 'denied';
  $('off').hidden = !mine;
}

async function turnOn() {
  if (await Notification.requestPermission() !== 'granted') return show();
  const reg = await navigator.serviceWorker.ready;
  const sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: fromBase64Url(me.public_key) });
  await api('POST', 'webpush/subscriptions', Object.assign(sub.toJSON(), { label: label() }));
  await show();
}

async function turnOff() {
  const sub = await current();
  if (sub) {
    await api('DELETE', 'webpush/subscriptions/' + await idOf(sub.endpoint));
    await sub.unsubscribe();
  }
  await show();
}

function guard(f) {
  return () => f().catch((e) => say(T.failed + e.message));
}

async function main() {
  document.documentElement.lang = zh ? 'zh-CN' : 'en';
  document.title = T.title;
  $('title').textContent = T.title;
  $('on').textContent = T.on;
  $('off').textContent = T.off;
  $('devices-title').textContent = T.devices;
  $('ios').textContent = T.ios;
  $('ios').hidden = !/iPhone|iPad/.test(navigator.userAgent) || navigator.standalone === true;
  if (!token) return say(T.expired);
  if (!('serviceWorker' in navigator) || !('PushManager' in window) || !('Notification' in window)) return say(T.unsupported);
  await navigator.serviceWorker.register('sw.js', { scope: './' });
  $('on').onclick = guard(turnOn);
  $('off').onclick = guard(turnOff);
  await show();
}

guard(main)();
