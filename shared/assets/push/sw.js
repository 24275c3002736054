// Herald's service worker: shows each push as a notification and opens its link on click.
'use strict';

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (e) => e.waitUntil(self.clients.claim()));

self.addEventListener('push', (event) => {
  let doc = {};
  try { doc = event.data ? event.data.json() : {}; } catch (_) { doc = { body: event.data ? event.data.text() : '' }; }
  const options = { body: doc.body || '', tag: doc.tag, icon: 'icon.svg', badge: 'icon.svg', data: { link: doc.link || null } };
  if (doc.image) options.image = doc.image;
  event.waitUntil(self.registration.showNotification(doc.title || 'Notification', options));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const link = event.notification.data && event.notification.data.link;
  if (link) event.waitUntil(self.clients.openWindow(link));
});
