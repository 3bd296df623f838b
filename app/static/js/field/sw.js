/* The field app's service worker: keeps the app shell (page, scripts, styles,
 * Leaflet, icons) so /field opens with no network. FC_SHELL — {version, scope,
 * urls} — is written at the head of this file by the /field/sw.js view; a deploy
 * that changes any shell file changes the version, and the new worker re-caches.
 *
 * The API is never cached here: the app keeps the route and its queue of actions in
 * IndexedDB itself, and API calls either reach the server or fail. */
"use strict";

const SHELL = self.FC_SHELL;
const CACHE = `fc-field-${SHELL.version}`;

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(SHELL.urls.map((url) => new Request(url, { cache: "reload" })));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) {
      if (key.startsWith("fc-field-") && key !== CACHE) await caches.delete(key);
    }
    await self.clients.claim();
  })());
});

function shellKey(request) {
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || request.method !== "GET") return null;
  if (request.mode === "navigate" && (url.pathname === SHELL.scope || url.pathname === `${SHELL.scope}/`)) {
    return SHELL.scope;
  }
  return SHELL.urls.includes(url.pathname) ? url.pathname : null;
}

self.addEventListener("fetch", (event) => {
  const key = shellKey(event.request);
  if (key === null) return;  // not part of the shell (the API, other pages): the network as usual
  event.respondWith((async () => {
    const cached = await caches.match(key, { cacheName: CACHE, ignoreSearch: true });
    return cached || fetch(event.request);
  })());
});

self.addEventListener("message", (event) => {
  if (event.data === "version" && event.source) event.source.postMessage({ version: SHELL.version });
});
