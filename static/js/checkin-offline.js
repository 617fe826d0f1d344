// Race-day check-in that keeps working without signal (the check-in page, templates/manage/checkin.html).
//
// Online, the page is the search-and-tap desk served by the app (htmx). This script also keeps the race's
// roster in IndexedDB ("Ready for offline: 1,234 runners, updated 07:02"). Offline, the search and the
// Check in / Undo buttons work against that roster; each tap is queued on the device with the device's time
// and synced (POST /api/v1/races/<slug>/check-ins, idempotent by the tap's own id) on load, when the browser
// comes back online, and on a retry timer. Both calls are the JSON API's, with the page's cookies and its CSRF
// token (X-CSRFToken); the roster (GET /api/v1/races/<slug>/roster) brings the session's token as it is now. Rows not yet synced say so. The Scan button reads a ticket's QR code with
// the camera (BarcodeDetector, or the vendored ZXing-based ponyfill) and checks in against the same roster.
// The roster is wiped on Sign out (which asks first when taps have not synced; the sign-out answer's Clear-Site-Data
// empties this database too), after race day + 2, and when the page belongs to another account than the one that
// kept it. A session that merely lapsed (the server answers 401) keeps both roster and queue: the taps sync once
// the organizer signs in again, as the same account; they are never sent under another account's session.
(function () {
  "use strict";

  var section = document.querySelector("section.checkin[data-roster-url]");
  if (!section || !window.indexedDB) return;

  var RACE = Number(section.dataset.raceId);
  var ROSTER_URL = section.dataset.rosterUrl;
  var SYNC_URL = section.dataset.syncUrl;
  var RETRY_MS = 20000;
  // The signed-in account's opaque key (templates/base.html, for the service worker too): what this phone keeps
  // belongs to it.
  var accountScript = document.querySelector("script[data-account]");
  var ACCOUNT = accountScript ? accountScript.getAttribute("data-account") || "" : "";
  // The texts people read, in the page's language (templates/manage/_checkin_texts.html): say(key, {num: 3}).
  var textsHolder = document.getElementById("checkin-texts");
  var TEXTS = textsHolder ? JSON.parse(textsHolder.dataset.texts) : {};
  var LANG = document.documentElement.lang || "en";
  var plurals = window.Intl && Intl.PluralRules ? new Intl.PluralRules(LANG) : null;
  function say(key, values) {
    var text = TEXTS[key] || "";
    if (typeof text === "object") {
      var category = plurals ? plurals.select(values.count) : (values.count === 1 ? "one" : "other");
      text = text[category] || text.other || "";
    }
    Object.keys(values || {}).forEach(function (name) { text = text.split("{" + name + "}").join(values[name]); });
    return text;
  }
  function number(n) { return n.toLocaleString(LANG); }
  var BATCH = 200;
  var panel = document.getElementById("checkin-offline");
  var statusLine = document.getElementById("checkin-offline-status");
  var results = function () { return document.getElementById("checkin-results"); };
  var searchBox = document.getElementById("checkin-q");

  var roster = null;       // {race, messages, runners: [...], etag, saved_at}
  var pending = {};        // ticket code -> number of queued taps
  var syncing = false;
  var retryTimer = null;
  var lastSync = null;
  var signedOut = false;   // the server said 401: kept as it is until a call succeeds again

  // --- IndexedDB, plainly ----------------------------------------------------------------------------------

  var dbPromise = null;
  function openDb() {
    if (!dbPromise) {
      dbPromise = new Promise(function (resolve, reject) {
        var request = indexedDB.open("startline-checkin", 1);
        request.onupgradeneeded = function () {
          var db = request.result;
          db.createObjectStore("rosters", { keyPath: "race_id" });
          db.createObjectStore("queue", { keyPath: "id" }).createIndex("race_id", "race_id");
        };
        request.onsuccess = function () { resolve(request.result); };
        request.onerror = function () { reject(request.error); };
      });
    }
    return dbPromise;
  }

  function tx(stores, mode, work) {
    return openDb().then(function (db) {
      return new Promise(function (resolve, reject) {
        var t = db.transaction(stores, mode);
        var answer;
        t.oncomplete = function () { resolve(answer); };
        t.onerror = t.onabort = function () { reject(t.error); };
        answer = work(t);
      });
    });
  }

  function requestValue(request) {
    var box = {};
    request.onsuccess = function () { box.value = request.result; };
    return box;
  }

  // This race's roster, if this account kept it; another account's rosters are dropped (names and codes are
  // not theirs to keep on a phone someone else now uses).
  function loadRoster() {
    var box;
    return tx(["rosters"], "readwrite", function (t) {
      var store = t.objectStore("rosters");
      box = requestValue(store.getAll());
    }).then(function () {
      var mine = null;
      var others = (box.value || []).filter(function (kept) {
        if (kept.account === ACCOUNT) { if (kept.race_id === RACE) mine = kept; return false; }
        return true;
      });
      if (!others.length) return mine;
      return tx(["rosters"], "readwrite", function (t) {
        others.forEach(function (kept) { t.objectStore("rosters").delete(kept.race_id); });
      }).then(function () { return mine; });
    });
  }

  function saveRoster() {
    return tx(["rosters"], "readwrite", function (t) { t.objectStore("rosters").put(roster); });
  }

  function queued() {
    var box;
    return tx(["queue"], "readonly", function (t) {
      box = requestValue(t.objectStore("queue").index("race_id").getAll(RACE));
    }).then(function () {
      // Only this account's taps: another's wait for them to sign in again here.
      return (box.value || []).filter(function (item) { return (item.account || "") === ACCOUNT; })
        .sort(function (a, b) { return a.seq - b.seq; });
    });
  }

  function enqueue(item) {
    item.account = ACCOUNT;
    return tx(["queue"], "readwrite", function (t) { t.objectStore("queue").put(item); });
  }

  function dequeue(ids) {
    return tx(["queue"], "readwrite", function (t) {
      var store = t.objectStore("queue");
      ids.forEach(function (id) { store.delete(id); });
    });
  }

  function wipe(reason) {
    roster = null;
    pending = {};
    return tx(["rosters", "queue"], "readwrite", function (t) {
      t.objectStore("rosters").clear();
      t.objectStore("queue").clear();
    }).then(function () { showStatus(reason); });
  }

  // --- the roster ----------------------------------------------------------------------------------------

  function byCode(code) {
    if (!roster) return null;
    for (var i = 0; i < roster.runners.length; i++) {
      if (roster.runners[i].code === code) return roster.runners[i];
    }
    return null;
  }

  function fold(text) {
    return (text || "").normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }

  function countPending() {
    return queued().then(function (items) {
      pending = {};
      items.forEach(function (item) { pending[item.ticket_code] = (pending[item.ticket_code] || 0) + 1; });
      return items.length;
    });
  }

  function download(whole) {
    var headers = { Accept: "application/json" };
    if (roster && roster.etag && whole !== true) headers["If-None-Match"] = roster.etag;
    return fetch(ROSTER_URL, { headers: headers, credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (response.status === 401) { signedOut = true; return render(); }
        if (response.status === 304) {
          signedOut = false;
          roster.saved_at = new Date().toISOString();
          roster.csrf_token = response.headers.get("X-CSRFToken") || roster.csrf_token;
          return saveRoster().then(render);
        }
        if (!response.ok) throw new Error("roster " + response.status);
        signedOut = false;
        return response.json().then(function (data) {
          data.race_id = RACE;
          data.account = ACCOUNT;
          data.etag = response.headers.get("ETag");
          data.csrf_token = response.headers.get("X-CSRFToken");
          data.saved_at = new Date().toISOString();
          roster = data;
          if (expired()) return wipe(say("over"));
          return reapplyPending().then(saveRoster).then(render);
        });
      });
  }

  // A fresh roster from the server does not know the taps still queued here: lay them over it again.
  function reapplyPending() {
    return queued().then(function (items) {
      items.forEach(function (item) { applyLocally(item); });
    });
  }

  function applyLocally(item) {
    var runner = byCode(item.ticket_code);
    if (!runner) return;
    runner.checked_in_at = item.action === "check_in" ? (runner.checked_in_at || item.at) : null;
  }


  function expired() {
    if (!roster || !roster.race || !roster.race.keep_until) return false;
    var today = new Date();
    var local = today.getFullYear() + "-" + String(today.getMonth() + 1).padStart(2, "0") + "-" +
      String(today.getDate()).padStart(2, "0");
    return local > roster.race.keep_until;
  }

  // --- what the page shows -------------------------------------------------------------------------------

  // "7:12 AM" in the race's own timezone, as the desk's rows say it.
  function clock(iso) {
    var options = { hour: "numeric", minute: "2-digit" };
    if (roster && roster.race && roster.race.timezone) options.timeZone = roster.race.timezone;
    try { return new Intl.DateTimeFormat(LANG, options).format(new Date(iso)); } catch (e) {
      return new Date(iso).toLocaleTimeString(LANG, { hour: "numeric", minute: "2-digit" });
    }
  }

  function showStatus(text) {
    panel.hidden = false;
    statusLine.textContent = text;
  }

  function render() {
    if (!roster) return;
    var waiting = Object.keys(pending).reduce(function (sum, code) { return sum + pending[code]; }, 0);
    // Runners as the counter counts them (paid tickets); the refunded ones are kept too, to turn them away.
    var runners = roster.runners.filter(function (r) { return r.status === "paid"; }).length;
    var text = say("ready", { count: runners, num: number(runners), time: clock(roster.saved_at) });
    if (!navigator.onLine) text = say("offline") + " " + text;
    if (waiting) text += " " + say("waiting", { count: waiting, num: number(waiting) });
    if (signedOut) text += " " + say("signed_out");
    panel.classList.toggle("is-offline", !navigator.onLine);
    if (scanButton && canScan) scanButton.hidden = !roster.runners.length;  // nobody signed up: nothing to scan
    showStatus(text);
    updateCounter();
  }

  function updateCounter() {
    var counter = document.getElementById("checkin-counter");
    if (!counter || !roster || navigator.onLine) return;
    var paid = roster.runners.filter(function (r) { return r.status === "paid"; });
    var arrived = paid.filter(function (r) { return r.checked_in_at; }).length;
    var strong = counter.querySelector("strong");
    if (strong) strong.textContent = number(arrived);
  }

  function search(q) {
    var words = fold(q).split(/\s+/).filter(Boolean).slice(0, 8);
    if (!words.length || !roster) return [];
    var found = roster.runners.filter(function (r) {
      return words.every(function (word) {
        var term = word.indexOf("/tickets/") >= 0 ? word.replace(/\/+$/, "").split("/").pop() : word;
        if (/^\d+$/.test(term)) return String(r.bib) === String(Number(term));
        return fold(r.name).indexOf(term) >= 0 || fold(r.code) === term;
      });
    });
    return found.slice(0, 25);
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function rowFor(runner, message) {
    var li = el("li", "checkin-row");
    li.id = "reg-" + runner.id;
    var refused = runner.status !== "paid";
    var unsigned = !refused && !runner.checked_in_at && runner.waiver === "missing";
    li.classList.toggle("is-in", !!runner.checked_in_at);
    li.classList.toggle("is-invalid", refused);
    li.classList.toggle("is-unsigned", unsigned);
    li.classList.toggle("is-pending", !!pending[runner.code]);
    var who = el("div", "checkin-who");
    who.appendChild(el("span", "checkin-name", runner.name || say("no_name")));
    var meta = el("span", "checkin-meta");
    if (runner.bib) meta.appendChild(el("strong", "", say("bib", { bib: runner.bib })));
    if (runner.bib) meta.appendChild(document.createTextNode(" · "));
    meta.appendChild(el("span", "", runner.ticket));
    who.appendChild(meta);
    if (unsigned) who.appendChild(el("p", "checkin-warning", say("waiver_offline")));
    if (pending[runner.code]) who.appendChild(el("p", "checkin-pending", say("not_synced")));
    if (message) {
      var note = el("p", "checkin-message" + (message.problem ? " is-problem" : ""), message.text);
      note.setAttribute("role", "alert");
      who.appendChild(note);
    }
    li.appendChild(who);
    var action = el("div", "checkin-action");
    if (refused) {
      action.appendChild(el("span", "badge status-" + runner.status, runner.status === "refunded" ? say("refunded") : say("not_paid")));
      action.appendChild(el("span", "checkin-note", say("cant_check_in")));
    } else if (runner.checked_in_at) {
      action.appendChild(el("span", "checked-mark", "✓ " + say("in_at", { time: clock(runner.checked_in_at) })));
      var undo = el("button", "link-button checkin-undo", say("undo"));
      undo.type = "button";
      undo.dataset.offlineAction = "undo";
      undo.dataset.code = runner.code;
      undo.appendChild(el("span", "visually-hidden", " " + say("undo_of", { name: runner.name })));
      action.appendChild(undo);
    } else if (unsigned) {
      action.appendChild(el("span", "checkin-note", say("cant_check_in_offline")));
    } else {
      var button = el("button", "checkin-button", say("check_in"));
      button.type = "button";
      button.dataset.offlineAction = "check_in";
      button.dataset.code = runner.code;
      button.appendChild(el("span", "visually-hidden", " " + runner.name));
      action.appendChild(button);
    }
    li.appendChild(action);
    return li;
  }

  // The answer to the last tap stays on its row until the next tap or a new search, whatever
  // re-renders the list meanwhile (a failed request, the network going, a sync finishing).
  var notes = {};

  function renderResults(q) {
    var box = results();
    if (!box || !roster) return;
    box.textContent = "";
    q = (q || "").trim();
    if (!q) {
      box.appendChild(el("p", "muted checkin-hint", say("hint")));
      return;
    }
    var found = search(q);
    if (!found.length) {
      box.appendChild(el("p", "empty", say("nobody", { q: q })));
      return;
    }
    var list = el("ul", "checkin-list");
    list.setAttribute("role", "list");
    found.forEach(function (runner) { list.appendChild(rowFor(runner, notes[runner.code])); });
    box.appendChild(list);
  }

  // --- a tap, on the device ------------------------------------------------------------------------------

  var seq = Date.now();
  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var bytes = crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
  }

  // What a tap on this device does to the local roster, and what to tell the person holding the phone.
  // The server decides for good when the tap syncs (first check-in wins, a later undo wins).
  function tap(code, action) {
    var runner = byCode(code);
    if (!runner) return Promise.resolve({ ok: false, headline: say("wrong_race"), text: say("unknown") });
    if (action === "check_in") {
      if (runner.status === "refunded") return Promise.resolve({ ok: false, runner: runner, headline: say("refunded"), text: say("refused_refunded") });
      if (runner.status !== "paid") return Promise.resolve({ ok: false, runner: runner, headline: say("not_paid"), text: say("refused_not_paid") });
      if (runner.checked_in_at) {
        var at = { time: clock(runner.checked_in_at) };
        return Promise.resolve({ ok: false, runner: runner, headline: say("already", at), text: say("already_sentence", at) });
      }
      if (runner.waiver === "missing") {
        return Promise.resolve({ ok: false, runner: runner, headline: say("waiver_missing_headline"),
          text: say("waiver_missing", { name: runner.name || say("this_runner") }) });
      }
    } else if (!runner.checked_in_at) {
      return Promise.resolve({ ok: true, runner: runner, text: say("not_checked_in") });
    }
    var item = { id: newId(), race_id: RACE, ticket_code: code, action: action, at: new Date().toISOString(), seq: seq++ };
    applyLocally(item);
    pending[code] = (pending[code] || 0) + 1;
    return enqueue(item).then(saveRoster).then(function () {
      render();
      if (navigator.onLine) sync();
      return { ok: true, runner: runner, text: action === "check_in" ? say("checked_in_sentence") : say("taken_back") };
    });
  }

  // --- syncing -------------------------------------------------------------------------------------------

  function csrfToken() {
    if (roster && roster.csrf_token) return roster.csrf_token;
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""; } catch (e) { return ""; }
  }

  function scheduleRetry() {
    clearTimeout(retryTimer);
    retryTimer = setTimeout(sync, RETRY_MS);
  }

  function sync() {
    if (syncing || !roster) return Promise.resolve();
    syncing = true;
    return queued().then(function (items) {
      if (!items.length) return null;
      var batch = items.slice(0, BATCH);
      return fetch(SYNC_URL, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify({ items: batch.map(function (i) {
          return { id: i.id, ticket_code: i.ticket_code, action: i.action, at: i.at };
        }) })
      }).then(function (response) {
        if (response.status === 401) { signedOut = true; return render(); }
        if (response.status === 400 || response.status === 403 || response.status === 404) {
          // A stale CSRF token (signed in again elsewhere), or no longer an organizer: the roster says which,
          // and brings a fresh token; the retry timer sends the queue again.
          return download(true);
        }
        if (response.status === 413 || response.status === 422) {
          return response.json().then(function (body) { showStatus(say("sync_refused", { detail: body.detail })); });
        }
        if (!response.ok) throw new Error("sync " + response.status);
        signedOut = false;
        return response.json().then(function (body) {
          lastSync = new Date();
          return dequeue(batch.map(function (i) { return i.id; })).then(function () {
            (body.runners || []).forEach(function (fresh) {
              var runner = byCode(fresh.code);
              if (runner) runner.checked_in_at = fresh.checked_in_at;
            });
            return reapplyPending();
          }).then(saveRoster).then(countPending).then(function (left) {
            render();
            if (!navigator.onLine) return;
            if (left) return "more";
            return download();
          });
        });
      });
    }).then(function (more) {
      syncing = false;
      if (more === "more") return sync();
    }, function () {
      syncing = false;
      scheduleRetry();
    }).then(function () {
      return countPending().then(function (left) { if (left) scheduleRetry(); render(); });
    });
  }

  // --- wiring --------------------------------------------------------------------------------------------

  function offline() { return !navigator.onLine; }

  // Offline, htmx's requests would fail: the search and the taps are answered here instead.
  document.body.addEventListener("htmx:beforeRequest", function (event) {
    if (!offline() || !roster) return;
    var source = event.detail.elt;
    if (source && source.closest && source.closest("form.checkin-search")) {
      event.preventDefault();
      renderResults(searchBox.value);
      return;
    }
    var form = source && source.closest && source.closest("li.checkin-row form");
    if (form) {
      event.preventDefault();
      var parts = form.getAttribute("action").split("/");
      var undo = parts[parts.length - 1] === "undo";
      var code = undo ? parts[parts.length - 2] : parts[parts.length - 1];
      tapAndShow(code, undo ? "undo" : "check_in");
    }
  });

  // A request that failed on the network (the signal went as the tap was made) is answered here too.
  document.body.addEventListener("htmx:sendError", function () {
    if (roster) renderResults(searchBox.value);
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-offline-action]");
    if (!button) return;
    tapAndShow(button.dataset.code, button.dataset.offlineAction);
  });

  function tapAndShow(code, action) {
    return tap(code, action).then(function (answer) {
      notes = {};
      notes[code] = { text: answer.text, problem: !answer.ok };
      renderResults(searchBox.value);
      var row = document.getElementById("reg-" + (answer.runner && answer.runner.id));
      var focus = row && row.querySelector("button");
      if (focus) focus.focus();
    });
  }

  // Offline, typing searches the roster at once (htmx would not get the input event's request through).
  searchBox && searchBox.addEventListener("input", function () {
    notes = {};
    if (offline() && roster) renderResults(searchBox.value);
  });
  var form = document.querySelector("form.checkin-search");
  form && form.addEventListener("submit", function (event) {
    if (offline() && roster) { event.preventDefault(); renderResults(searchBox.value); }
  });

  window.addEventListener("online", function () { render(); sync(); });
  window.addEventListener("offline", function () { render(); if (searchBox.value) renderResults(searchBox.value); });

  // Signing out forgets the roster (the server's Clear-Site-Data does too); unsynced check-ins are asked about.
  document.addEventListener("submit", function (event) {
    var target = event.target;
    if (!target.action || target.action.indexOf("/auth/sign-out") < 0) return;
    var waiting = Object.keys(pending).length;
    if (waiting && !window.confirm(say("confirm_sign_out", { count: waiting, num: number(waiting) }))) {
      event.preventDefault();
      return;
    }
    roster = null;
    indexedDB.deleteDatabase("startline-checkin");
  }, true);

  // --- scanning ------------------------------------------------------------------------------------------

  var dialog = document.getElementById("checkin-scanner");
  var video = document.getElementById("checkin-scanner-video");
  var answerBox = document.getElementById("checkin-scan-answer");
  var scanButton = document.getElementById("checkin-scan");
  var stream = null;
  var detector = null;
  var lastCode = null;
  var lastAt = 0;
  var audio = null;

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = src;
      script.onload = resolve;
      script.onerror = reject;
      document.head.appendChild(script);
    });
  }

  function makeDetector() {
    if (detector) return Promise.resolve(detector);
    var native = window.BarcodeDetector && BarcodeDetector.getSupportedFormats ?
      BarcodeDetector.getSupportedFormats().then(function (formats) { return formats.indexOf("qr_code") >= 0; }) :
      Promise.resolve(false);
    return native.then(function (hasQr) {
      if (hasQr) return new window.BarcodeDetector({ formats: ["qr_code"] });
      return loadScript(section.dataset.scannerUrl).then(function () {
        var api = window.BarcodeDetectionAPI;
        api.prepareZXingModule({
          fireImmediately: true,
          overrides: {
            locateFile: function (path, prefix) {
              return path.slice(-5) === ".wasm" ? section.dataset.scannerWasmUrl : prefix + path;
            }
          }
        });
        return new api.BarcodeDetector({ formats: ["qr_code"] });
      });
    }).then(function (made) { detector = made; return made; });
  }

  function beep(ok) {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var tone = audio.createOscillator();
      var gain = audio.createGain();
      tone.frequency.value = ok ? 880 : 220;
      gain.gain.value = 0.2;
      tone.connect(gain).connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + (ok ? 0.15 : 0.4));
    } catch (e) { /* no sound: the answer is on screen */ }
    if (navigator.vibrate) navigator.vibrate(ok ? 80 : [120, 80, 120]);
  }

  function codeFrom(text) {
    var value = (text || "").trim();
    var at = value.indexOf("/tickets/");
    if (at >= 0) value = value.slice(at + 9).split(/[/?#]/)[0];
    return value;
  }

  function answer(ok, text, detail) {
    answerBox.className = "checkin-scan-answer " + (ok ? "is-ok" : "is-problem");
    answerBox.textContent = "";
    answerBox.appendChild(el("strong", "", (ok ? "✓ " : "✕ ") + text));
    if (detail) answerBox.appendChild(el("span", "", detail));
    beep(ok);
  }

  function scanned(raw) {
    var code = codeFrom(raw);
    var now = Date.now();
    if (code === lastCode && now - lastAt < 4000) return Promise.resolve();
    lastCode = code;
    lastAt = now;
    return tap(code, "check_in").then(function (result) {
      var runner = result.runner;
      var detail = runner ? [runner.name, runner.bib ? say("bib", { bib: runner.bib }) : "", runner.ticket].filter(Boolean).join(" · ") : "";
      if (!result.ok) detail = (detail ? detail + ". " : "") + result.text;
      answer(result.ok, result.ok ? say("checked_in") : result.headline, detail);
      if (searchBox.value && offline()) renderResults(searchBox.value);
    });
  }

  function scanLoop() {
    if (!stream) return;
    var next = function () { if (stream) setTimeout(scanLoop, 150); };
    if (video.readyState < 2) return next();
    detector.detect(video).then(function (codes) {
      if (codes && codes.length) return scanned(codes[0].rawValue);
    }).then(next, next);
  }

  function stopScanning() {
    if (stream) stream.getTracks().forEach(function (track) { track.stop(); });
    stream = null;
    video.srcObject = null;
  }

  function startScanning() {
    if (!roster) return;
    lastCode = null;
    answerBox.className = "checkin-scan-answer";
    answerBox.textContent = say("starting_camera");
    if (dialog.showModal) dialog.showModal(); else dialog.setAttribute("open", "");
    document.getElementById("checkin-scanner-close").focus();
    try { audio = audio || new (window.AudioContext || window.webkitAudioContext)(); } catch (e) { audio = null; }
    Promise.all([
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false }),
      makeDetector()
    ]).then(function (both) {
      stream = both[0];
      video.srcObject = stream;
      return video.play();
    }).then(function () {
      answerBox.textContent = say("hold_code");
      scanLoop();
    }, function (error) {
      if (window.console) console.warn("scanner:", error);
      stopScanning();
      answerBox.className = "checkin-scan-answer is-problem";
      answerBox.textContent = say("no_camera");
    });
  }

  // Online, the QR reader is made at once, so the Scan button works after the signal goes: one look at a blank
  // image makes the fallback reader fetch and compile its WebAssembly now (it does so lazily otherwise).
  var scannerReady = false;
  function readyScanner() {
    if (!roster || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return;
    return makeDetector().then(function (made) {
      var blank = document.createElement("canvas");
      blank.width = blank.height = 8;
      return made.detect(blank);
    }).then(function () { scannerReady = true; }, function () {});
  }

  var canScan = !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
  if (scanButton && canScan) {
    scanButton.addEventListener("click", startScanning);
    document.getElementById("checkin-scanner-close").addEventListener("click", function () { dialog.close(); });
    dialog.addEventListener("close", function () { stopScanning(); scanButton.focus(); });
  } else if (scanButton) {
    scanButton.hidden = true;
  }

  // --- start ---------------------------------------------------------------------------------------------

  loadRoster().then(function (saved) {
    roster = saved;
    if (expired()) return wipe(say("over"));
    return countPending().then(function () {
      render();
      if (navigator.onLine) return download().then(sync).then(readyScanner);
      if (!roster) showStatus(say("no_roster"));
    });
  }).catch(function () {
    scheduleRetry();
  });

  // For the browser tests (and a curious organizer's console): sync now, fetch the roster again, count what is kept.
  window.startlineCheckin = {
    sync: sync,
    refresh: download,
    lastSync: function () { return lastSync; },
    scannerReady: function () { return scannerReady; },
    kept: function () {
      return loadRoster().then(function (saved) {
        return queued().then(function (items) { return { runners: saved ? saved.runners.length : 0, queued: items.length }; });
      });
    }
  };
})();
