// Startline's service worker (served at /sw.js, scope "/"): race day without signal.
//
// - Pages a device may keep (a runner's tickets, an organizer's check-in page) are fetched from the network
//   first; a copy is kept whenever the server marks the answer with X-Offline-Account (blueprints/offline.py),
//   under that account's key. Offline, or when the network takes more than SLOW_MS to answer, the copy is
//   shown, with the time it was saved (static/js/offline.js).
// - Static files under their hashed names never change: served from the cache first, kept on first use.
// - Any other address, offline: the offline page, kept at install.
// - Never touched: a request other than GET (a form post always goes to the network), another origin's
//   request, an htmx request, a page the server did not mark. Copies of another account's pages are thrown
//   away as soon as a page names a different account or nobody (offline.js tells), and at sign-out.
"use strict";

var PARAMS = new URL(self.location.href).searchParams;
var VERSION = PARAMS.get("v") || "dev";
var LANGUAGE = (PARAMS.get("lang") || "").replace(/[^A-Za-z-]/g, "");  // the pages' language, "" for English
var SHELL_CACHE = "startline-shell-" + VERSION + (LANGUAGE ? "-" + LANGUAGE : "");  // the offline page
var STATIC_CACHE = "startline-static";             // hashed static files, whatever the version
var PAGES_PREFIX = "startline-pages-";             // + the account key: the kept pages of one account
var OFFLINE_URL = "/offline";
var ACCOUNT_HEADER = "X-Offline-Account";
var SAVED_HEADER = "X-Offline-Saved-At";
var STATIC_KEEP = 120;  // entries; the oldest go first (old deploys' files)
var SLOW_MS = 4000;     // a kept page's network answer slower than this: the kept copy is shown
// The same pages as OFFLINE_PAGES in blueprints/offline.py; the server's mark is needed as well.
var CHECKIN_PAGE = /^\/manage\/races\/\d+\/checkin$/;
var KEPT_PAGES = [/^\/tickets\/$/, /^\/tickets\/[A-Za-z0-9_-]{8,40}$/, CHECKIN_PAGE];
var CHECKIN_SHORTCUT = "/manage/checkin";  // the manifest's shortcut (blueprints/site.py)
// "/static/css/site.0123456789ab.css", or with FLASK_DEBUG "/static/css/site.css?v=0123456789ab".
var HASHED_STATIC = /^\/static\/(.+\.[0-9a-f]{12}(\.[A-Za-z0-9]+)?|[^?]+\?v=[0-9a-f]{12})$/;
var ASSET_IN_HTML = /(?:href|src)="(\/static\/[^"#]+)"/g;

self.addEventListener("install", function (event) {
  event.waitUntil(keepOfflinePage().then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) {
      return name.indexOf("startline-shell-") === 0 && name !== SHELL_CACHE;
    }).map(function (name) { return caches.delete(name); }));
  }).then(trimStatic).then(function () { return self.clients.claim(); }));
});

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (HASHED_STATIC.test(url.pathname + url.search)) {
    event.respondWith(cacheFirst(request));
  } else if (request.mode === "navigate") {
    event.respondWith(networkFirst(event, request, url));
  }
});

// offline.js says which account the page it runs on belongs to ("" for nobody, at sign-out too).
self.addEventListener("message", function (event) {
  var data = event.data || {};
  if (data.type === "account" && typeof data.account === "string" && event.origin === self.location.origin) {
    event.waitUntil(keepOnly(data.account));
  }
});

function keepOfflinePage() {
  // Without cookies: the offline page names nobody, whoever is signed in when it is kept. In the language of
  // the page that registered this worker (its ?lang=), kept under the one address it is looked up by.
  var address = LANGUAGE ? OFFLINE_URL + "?lang=" + encodeURIComponent(LANGUAGE) : OFFLINE_URL;
  return fetch(address, {credentials: "omit", cache: "no-cache"}).then(function (response) {
    if (!response.ok) throw new Error("offline page: " + response.status);
    return caches.open(SHELL_CACHE).then(function (cache) {
      return Promise.all([cache.put(OFFLINE_URL, response.clone()), keepAssetsOf(response)]);
    });
  });
}

// The hashed static files a kept page loads, so that it is whole offline even if it was never shown under
// this worker's control before.
function keepAssetsOf(response) {
  return response.text().then(function (html) {
    var urls = [];
    var match;
    while ((match = ASSET_IN_HTML.exec(html)) !== null) {
      if (HASHED_STATIC.test(match[1]) && urls.indexOf(match[1]) < 0) urls.push(match[1]);
    }
    return caches.open(STATIC_CACHE).then(function (cache) {
      return Promise.all(urls.map(function (url) {
        return cache.match(url).then(function (hit) { return hit || cache.add(url); });
      }));
    });
  });
}

function cacheFirst(request) {
  return caches.open(STATIC_CACHE).then(function (cache) {
    return cache.match(request).then(function (hit) {
      return hit || fetch(request).then(function (response) {
        if (response.ok && response.type === "basic") cache.put(request, response.clone());
        return response;
      });
    });
  });
}

function networkFirst(event, request, url) {
  var network = fetch(request).then(function (response) {
    var account = response.headers.get(ACCOUNT_HEADER);
    if (account && isKept(url) && response.status === 200 && response.type === "basic" && !response.redirected) {
      event.waitUntil(keepPage(account, url.pathname, response.clone()));
    }
    return response;
  });
  var offline = function () {
    return savedCopy(url).then(function (copy) {
      return copy || caches.match(OFFLINE_URL, {cacheName: SHELL_CACHE}).then(function (page) {
        return page || new Response("You're offline.", {status: 503, headers: {"Content-Type": "text/plain"}});
      });
    });
  };
  if (!keptPath(url)) return network.catch(offline);
  // A kept page on a network that answers slowly (one bar of signal at the start line): after SLOW_MS the
  // kept copy, while the answer, when it comes, still replaces the copy for next time.
  event.waitUntil(network.catch(function () {}));
  return new Promise(function (resolve) {
    var answered = false;
    var answer = function (response) {
      if (!answered) { answered = true; resolve(response); }
    };
    var timer = setTimeout(function () {
      savedCopy(url).then(function (copy) { if (copy) answer(copy); });
    }, SLOW_MS);
    network.then(function (response) { clearTimeout(timer); answer(response); },
                 function () { clearTimeout(timer); answer(offline()); });
  });
}

// The address a page is kept under ("/tickets" as typed is "/tickets/"), or null for a page never kept.
function keptPath(url) {
  var path = url.pathname === "/tickets" ? "/tickets/" : url.pathname;
  return KEPT_PAGES.some(function (pattern) { return pattern.test(path); }) ? path : null;
}

// Whether to keep this answer: a kept page's own address, without a query (a search is not the page).
function isKept(url) {
  return url.search === "" && keptPath(url) === url.pathname;
}

function keepPage(account, path, response) {
  return keepOnly(account).then(function () {
    return response.blob();
  }).then(function (body) {
    var headers = new Headers(response.headers);
    headers.delete("Content-Encoding");  // the body here is already decoded
    headers.delete("Content-Length");
    headers.set(SAVED_HEADER, new Date().toISOString());
    var copy = new Response(body, {status: 200, statusText: response.statusText, headers: headers});
    return caches.open(PAGES_PREFIX + account).then(function (cache) {
      return Promise.all([cache.put(path, copy.clone()), keepAssetsOf(copy)]);
    });
  });
}

// Drop every account's kept pages but `account`'s (all of them for "").
function keepOnly(account) {
  return caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) {
      return name.indexOf(PAGES_PREFIX) === 0 && name !== PAGES_PREFIX + account;
    }).map(function (name) { return caches.delete(name); }));
  });
}

// The kept copy of a page, marked for offline.js with the time it was saved (a meta element in its head). For the
// manifest's Check-in shortcut (which online redirects to the desk of the race on now), the check-in page kept last.
function savedCopy(url) {
  var path = keptPath(url);
  var shortcut = url.pathname === CHECKIN_SHORTCUT;
  if (!path && !shortcut) return Promise.resolve(null);
  return caches.keys().then(function (names) {
    var mine = names.filter(function (name) { return name.indexOf(PAGES_PREFIX) === 0; });
    if (mine.length !== 1) return null;
    return path ? caches.match(path, {cacheName: mine[0], ignoreVary: true}) : lastCheckInPage(mine[0]);
  }).then(function (copy) {
    if (!copy) return null;
    var saved = copy.headers.get(SAVED_HEADER) || "";
    return copy.text().then(function (html) {
      var mark = '<meta name="offline-saved-at" content="' + saved.replace(/[^0-9TZ:.-]/g, "") + '">';
      return new Response(html.replace(/<head>/i, "<head>" + mark),
                          {status: 200, headers: copy.headers});
    });
  });
}

function lastCheckInPage(cacheName) {
  return caches.open(cacheName).then(function (cache) {
    return cache.keys().then(function (requests) {
      var desks = requests.filter(function (request) { return CHECKIN_PAGE.test(new URL(request.url).pathname); });
      return Promise.all(desks.map(function (request) { return cache.match(request); }));
    });
  }).then(function (copies) {
    var saved = function (copy) { return copy.headers.get(SAVED_HEADER) || ""; };
    return copies.reduce(function (last, copy) { return !last || saved(copy) > saved(last) ? copy : last; }, null);
  });
}

function trimStatic() {
  return caches.open(STATIC_CACHE).then(function (cache) {
    return cache.keys().then(function (requests) {
      return Promise.all(requests.slice(0, Math.max(0, requests.length - STATIC_KEEP)).map(function (request) {
        return cache.delete(request);
      }));
    });
  });
}
