// The race editor's script (one file, one request): "Copy link" and the time zone menu.

// "Copy link" buttons (a[data-copy-link]): copy the link's address instead of following it, and say so.
// Without JavaScript, or where the clipboard is not allowed, the link simply opens the page.
document.addEventListener("click", function (event) {
  var link = event.target.closest && event.target.closest("a[data-copy-link]");
  if (!link || !navigator.clipboard || !window.isSecureContext) return;
  event.preventDefault();
  var status = document.getElementById(link.getAttribute("aria-describedby"));
  navigator.clipboard.writeText(link.href).then(function () {
    // The page says it in its language (data-copied on the link); "Copied." until every page does.
    if (status) status.textContent = link.getAttribute("data-copied") || "Copied.";
  }, function () {
    window.location.href = link.href;
  });
});

// The race editor's time zone menu arrives with the common zones and the race's own. The other ~430 (two fifths
// of the editor's elements and of its HTML) are fetched once the page is idle and join the menu when it is first
// used (focus, pointer or key: before it opens), the chosen zone still chosen; a page nobody opens the menu on
// never builds them. If the fetch fails the short menu stays. Without JavaScript a link under the menu opens
// the editor with every zone in it.
(function () {
  "use strict";

  function setUp(select) {
    var html = null, wanted = false;

    function fill() {
      wanted = true;
      if (html === null || !select.hasAttribute("data-more-options")) return;
      var options = document.createElement("template");
      options.innerHTML = html;
      var value = select.value;
      select.replaceChildren(options.content);
      select.value = value;
      select.removeAttribute("data-more-options");
    }

    function fetchOptions() {
      fetch(select.getAttribute("data-more-options"), {credentials: "same-origin"}).then(function (response) {
        return response.ok ? response.text() : Promise.reject(response.status);
      }).then(function (text) {
        html = text;
        if (wanted) fill();
      }).catch(function () {});
    }

    ["focus", "pointerdown", "keydown"].forEach(function (name) { select.addEventListener(name, fill); });
    var idle = window.requestIdleCallback || function (callback) { return window.setTimeout(callback, 1); };
    if (document.readyState === "complete") idle(fetchOptions);
    else window.addEventListener("load", function () { idle(fetchOptions); });
  }

  document.querySelectorAll("select[data-more-options]").forEach(setUp);
})();
