{% load static i18n %}{% get_current_language as LANGUAGE_CODE %}// Slotwise service worker: makes the site installable and keeps the app shell for offline starts.
//
// - Static files: cache first (the app shell, precached on install).
// - The technician's app (/work/tech/…, S2.4): network first, the last good answer kept in a cache
//   of the logged-in user's own ("slotwise-tech-<user id>") and served when the phone is offline,
//   so Today's orders and their cards (warmed by workorders/offline.js) stay readable. Nothing else
//   is cached: no office page, no other user's page.
// - The script is rendered per user: when another user logs in (or the user logs out) the script
//   changes, the new worker replaces this one and deletes the other caches; a POST under
//   /accounts/ (log in, log out) clears the technician caches at once.
// - A status change (…/act/) whose POST fails with a network error is queued on the phone
//   (offline.js's queue) and the card is shown again from the cache.
const STATIC_CACHE = "slotwise-v2";
const USER = "{{ request.user.pk|default_if_none:''|escapejs }}";
const TECH_PREFIX = "slotwise-tech-";
const TECH_CACHE = USER ? TECH_PREFIX + USER : "";
const PRECACHE = [
  "{% static 'slotwise/app.css' %}",
  "{% static 'htmx.min.js' %}",
  "{% static 'slotwise/icon-192.png' %}",
  "{% static 'workorders/tech.css' %}",
  "{% static 'workorders/offline.css' %}",
  "{% static 'workorders/offline.js' %}",
];
const TECH_PATH = "/work/tech/";
const NOT_CACHED = ["/work/tech/sync/"];
const ACT = /^\/work\/tech\/o\/([0-9a-fA-F-]{36})\/act\/$/;
const CARD = /^\/work\/tech\/o\/[0-9a-fA-F-]{36}\/$/;
const FRESH_MS = 10 * 60 * 1000;
const OFFLINE_TEXT = {
  lang: "{{ LANGUAGE_CODE|escapejs }}",
  title: "{% filter escapejs %}{% translate 'You are offline' %}{% endfilter %}",
  body: "{% filter escapejs %}{% translate 'This page was not saved on this phone. Open the orders of today; they are kept for when there is no connection.' %}{% endfilter %}",
  today: "{% filter escapejs %}{% translate 'Today' %}{% endfilter %}",
  queued: "{% filter escapejs %}{% translate 'No connection: the change is kept on this phone and sent when it is back online.' %}{% endfilter %}",
};

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(STATIC_CACHE)
      .then((cache) => Promise.allSettled(PRECACHE.map((url) => cache.add(url))))
      .catch(() => null)
  );
  self.skipWaiting();
});

self.addEventListener("activate", (event) => {
  const keep = [STATIC_CACHE, TECH_CACHE];
  event.waitUntil(
    caches.keys().then((keys) => Promise.all(keys.filter((k) => !keep.includes(k)).map((k) => caches.delete(k))))
  );
  self.clients.claim();
});

function clearTechCaches() {
  return caches
    .keys()
    .then((keys) => Promise.all(keys.filter((k) => k.startsWith(TECH_PREFIX)).map((k) => caches.delete(k))));
}

function cacheable(response) {
  return (
    response &&
    response.ok &&
    response.type === "basic" &&
    !response.redirected &&
    (response.headers.get("content-type") || "").startsWith("text/html")
  );
}

function html(body, status) {
  return new Response(body, { status: status || 200, headers: { "Content-Type": "text/html; charset=utf-8" } });
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function offlinePage() {
  return html(
    `<!doctype html><html lang="${escapeHtml(OFFLINE_TEXT.lang)}"><head><meta charset="utf-8">` +
      `<meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(OFFLINE_TEXT.title)}</title>` +
      `<link rel="stylesheet" href="${PRECACHE[0]}"></head><body><main id="main" data-testid="offline-page">` +
      `<h1>${escapeHtml(OFFLINE_TEXT.title)}</h1><p>${escapeHtml(OFFLINE_TEXT.body)}</p>` +
      `<p><a class="button" href="${TECH_PATH}">${escapeHtml(OFFLINE_TEXT.today)}</a></p></main></body></html>`,
    503
  );
}

// JSON for an inline script: "<" escaped so no text can close the script element.
function inlineJson(value) {
  return JSON.stringify(value).replace(/</g, "\\u003c");
}

// The answer to a status change that could not reach the server: a page that adds the change
// to offline.js's queue (same key, same version rule) and shows the card again (from the cache).
function queuedPage(item, back) {
  const key = "slotwise.offline.queue." + USER;
  const script =
    `(function(){var key=${inlineJson(key)},item=${inlineJson(item)},q=[];` +
    `try{q=JSON.parse(localStorage.getItem(key)||"[]")||[];}catch(e){q=[];}` +
    `var mine=q.filter(function(i){return i.order===item.order;});` +
    `if(mine.length&&mine[mine.length-1].version){item.version=mine[mine.length-1].version+1;}` +
    `item.id=(self.crypto&&crypto.randomUUID)?crypto.randomUUID():"q-"+Date.now().toString(36)+"-"+Math.random().toString(36).slice(2,12);` +
    `item.client_at=new Date().toISOString();q.push(item);` +
    `try{localStorage.setItem(key,JSON.stringify(q));}catch(e){}` +
    `location.replace(${inlineJson(back)});})();`;
  return html(
    `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(OFFLINE_TEXT.title)}</title></head>` +
      `<body><p>${escapeHtml(OFFLINE_TEXT.queued)}</p><script>${script}</script></body></html>`
  );
}

async function actOrQueue(request, orderId) {
  const copy = request.clone();
  try {
    return await fetch(request);
  } catch (err) {
    if (!USER) return offlinePage();
    let form;
    try {
      form = await copy.formData();
    } catch (e) {
      return offlinePage();
    }
    const version = parseInt(form.get("version"), 10);
    const item = {
      order: orderId.toLowerCase(),
      action: String(form.get("action") || ""),
      reason: String(form.get("reason") || "").trim(),
      version: Number.isFinite(version) ? version : null,
      title: "",
    };
    if (!item.action) return offlinePage();
    return queuedPage(item, `${TECH_PATH}o/${item.order}/`);
  }
}

function cacheKey(url) {
  return url.origin + url.pathname + url.search;
}

async function networkFirst(request, url) {
  try {
    const response = await fetch(request);
    if (cacheable(response)) {
      const cache = await caches.open(TECH_CACHE);
      await cache.put(cacheKey(url), response.clone());
    }
    return response;
  } catch (err) {
    const cache = await caches.open(TECH_CACHE);
    const hit = await cache.match(cacheKey(url), { ignoreVary: true });
    if (hit) return hit;
    if (request.mode === "navigate") return offlinePage();
    return Response.error();
  }
}

async function cacheFirst(request) {
  const hit = await caches.match(request, { ignoreVary: true });
  if (hit) return hit;
  const response = await fetch(request);
  if (response && response.ok && response.type === "basic") {
    const cache = await caches.open(STATIC_CACHE);
    await cache.put(request, response.clone());
  }
  return response;
}

// Order cards linked from the page a technician looks at (offline.js sends them), fetched into
// the cache unless a fresh copy is there already.
async function warm(paths) {
  const cache = await caches.open(TECH_CACHE);
  for (const path of paths.slice(0, 60)) {
    const url = new URL(path, self.location.origin);
    if (url.origin !== self.location.origin || !CARD.test(url.pathname)) continue;
    const hit = await cache.match(cacheKey(url), { ignoreVary: true });
    const date = hit ? Date.parse(hit.headers.get("date") || "") : NaN;
    if (hit && Number.isFinite(date) && Date.now() - date < FRESH_MS) continue;
    try {
      const response = await fetch(url.href, { credentials: "same-origin" });
      if (cacheable(response)) await cache.put(cacheKey(url), response);
    } catch (err) {
      return; // offline again
    }
  }
}

// A page tells which user it belongs to (offline.js, on every technician page). Another user than
// this script's (the script is fetched again only from time to time): cache nothing more and
// fetch the new script now, whose worker replaces this one and deletes this user's cache.
let otherUser = false;

self.addEventListener("message", (event) => {
  const data = event.data || {};
  if (data.type === "hello") {
    otherUser = String(data.user || "") !== USER;
    if (event.ports && event.ports[0]) event.ports[0].postMessage({ user: USER });
    if (otherUser) event.waitUntil(self.registration.update().catch(() => null));
    return;
  }
  if (data.type === "warm" && TECH_CACHE && !otherUser && String(data.user) === USER && Array.isArray(data.urls)) {
    event.waitUntil(warm(data.urls));
  }
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.method === "POST") {
    if (url.pathname.startsWith("/accounts/")) {
      event.waitUntil(clearTechCaches());
      return;
    }
    const act = ACT.exec(url.pathname);
    if (act && request.mode === "navigate") event.respondWith(actOrQueue(request, act[1]));
    return;
  }
  if (request.method !== "GET") return;
  if (url.pathname.startsWith("/static/")) {
    event.respondWith(cacheFirst(request));
    return;
  }
  if (
    TECH_CACHE &&
    !otherUser &&
    url.pathname.startsWith(TECH_PATH) &&
    !NOT_CACHED.includes(url.pathname) &&
    !request.headers.get("HX-Request")
  ) {
    event.respondWith(networkFirst(request, url));
  }
});
