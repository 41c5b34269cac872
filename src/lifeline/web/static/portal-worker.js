"use strict";
// The portal's service worker (issue 25), served as /portal/worker.js with its scope /portal
// (web/pages/portal/installable.py puts FILES and CACHE above this line: the offline page and the
// static files under their hashed names). When the portal cannot be reached, a page of the portal
// is answered with the offline page. Nothing else is ever stored: no page of the record, no data,
// no image; a page asked for always comes from the network (a shared phone keeps nothing of
// anyone's record). https://www.w3.org/TR/service-workers/
const PREFIX = "lifeline-portal-";
const OFFLINE = "/portal/offline";

self.addEventListener("install", (event) => {
  // Without the session's cookie: the offline page names no one, whoever is logged in.
  const requests = FILES.map((url) => new Request(url, { credentials: "omit" }));
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(requests)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  const stale = (names) => names.filter((name) => name.startsWith(PREFIX) && name !== CACHE);
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(stale(names).map((name) => caches.delete(name))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) {
    return;
  }
  if (request.mode === "navigate") {
    // The network's answer as it is, never stored; only a failure to reach the node is replaced.
    event.respondWith(fetch(request).catch(() => caches.match(OFFLINE, { cacheName: CACHE })));
    return;
  }
  if (FILES.includes(url.pathname) && url.pathname.startsWith("/static/")) {
    // A hashed name never changes meaning (web/assets.py): the stored copy is the file.
    event.respondWith(caches.match(url.pathname, { cacheName: CACHE }).then((hit) => hit || fetch(request)));
  }
});
