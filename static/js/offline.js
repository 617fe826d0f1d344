// The installable app, on every page: registers the service worker (static/sw.js, at /sw.js), tells it whose
// page this is so that it drops another account's kept pages, and on a kept copy shown offline says when it
// was saved. Without service workers (or JavaScript) the site works as before, online only.
(function () {
  "use strict";
  var script = document.currentScript;
  var savedAt = document.querySelector('meta[name="offline-saved-at"]');

  function tellWorker(account) {
    if (!("serviceWorker" in navigator)) return;
    navigator.serviceWorker.ready.then(function (registration) {
      if (registration.active) registration.active.postMessage({type: "account", account: account});
    });
  }

  // The page's words from base.html, "{time}" and the like filled in.
  function text(name, values) {
    return ((script && script.getAttribute("data-" + name)) || "").replace(/\{(\w+)\}/g, function (all, key) {
      return values[key] || all;
    });
  }

  function savedLine(iso) {
    var when = new Date(iso);
    if (isNaN(when.getTime())) return text("saved-earlier", {});
    var lang = document.documentElement.lang || [];
    var time = when.toLocaleTimeString(lang, {hour: "numeric", minute: "2-digit"});
    if (when.toDateString() === new Date().toDateString()) return text("saved-at", {time: time});
    return text("saved-on", {time: time, day: when.toLocaleDateString(lang, {weekday: "short", day: "numeric", month: "short"})});
  }

  function showSaved(iso) {
    var main = document.getElementById("main");
    if (!main) return;
    var line = document.createElement("p");
    line.className = "notice notice-warning";
    line.id = "offline-saved";
    line.setAttribute("role", "status");
    var saved = savedLine(iso);
    // Shown offline, or online when the network was too slow to wait for (static/sw.js, SLOW_MS).
    line.textContent = text(navigator.onLine ? "slow" : "offline", {saved: saved});
    main.insertBefore(line, main.firstChild);
    window.addEventListener("online", function () {
      line.textContent = text("online", {saved: saved});
    });
  }

  if (savedAt) {
    showSaved(savedAt.getAttribute("content"));  // a kept copy: it says nothing about who is signed in now
  } else if (script && !document.querySelector('meta[name="offline-page"]')) {
    tellWorker(script.getAttribute("data-account") || "");
  }

  // Signing out drops the kept pages at once (the answer's Clear-Site-Data then clears the rest).
  document.addEventListener("submit", function (event) {
    if (event.target.matches && event.target.matches("form[data-sign-out]")) tellWorker("");
  });

  if ("serviceWorker" in navigator && script && script.getAttribute("data-sw")) {
    navigator.serviceWorker.register(script.getAttribute("data-sw"), {scope: "/"}).catch(function () {
      // Private windows and some browsers refuse; the site works online as before.
    });
  }
})();
