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
