// The runner cards on the cart page (templates/cart/_runner.html). Everything here has a server-side
// twin, so the page works without JavaScript: this only saves typing and keeps the keyboard in place.
(function () {
  var SHARED = ["emergency_name", "emergency_phone", "address", "city", "country", "club"];

  function firstCard() {
    return document.querySelector("[data-runner-card]");
  }

  // "Same as runner 1": fill this card's fields from runner 1's, as typed there now (the server copies on save too).
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("input[data-same-as-first]") || !box.checked) return;
    var first = firstCard();
    if (!first) return;
    var from = first.id.replace("runner-", "r") + "-";
    var to = box.getAttribute("data-same-as-first");
    SHARED.forEach(function (name) {
      var source = document.getElementById(from + name);
      var target = document.getElementById(to + name);
      if (!source || !target || target.value === source.value) return;
      target.value = source.value;
      target.dispatchEvent(new Event("change", { bubbles: true })); // its inline check
    });
  });

  // Enter in a runner's field saves that runner, not every card on the page.
  document.addEventListener("keydown", function (event) {
    var field = event.target;
    if (event.key !== "Enter" || !field.matches || !field.matches("[data-runner-card] input")) return;
    if (field.type === "checkbox" || field.type === "radio" || !window.htmx) return;
    var save = field.closest("[data-runner-card]").querySelector("[data-save-runner]");
    if (!save) return;
    event.preventDefault();
    save.click();
  });

  // After a card is swapped: errors take the focus; after "This is me" the first empty field does; a saved
  // runner's card closes and the next one to fill opens.
  document.addEventListener("htmx:afterSettle", function (event) {
    var card = event.detail.elt;
    if (!card.matches || !card.matches("[data-runner-card]")) return;
    var invalid = card.querySelector("[aria-invalid=true]");
    if (invalid) {
      invalid.focus();
      return;
    }
    if (card.open) {  // "This is me" filled it in: on to the first field still empty
      var empty = Array.prototype.find.call(card.querySelectorAll("input:not([type=hidden]):not([type=radio]):not([type=checkbox]), select"), function (input) {
        return !input.value && input.offsetParent !== null;
      });
      if (empty) empty.focus();
      return;
    }
    if (card.getAttribute("data-complete") !== "true") return;
    var next = document.querySelector("[data-runner-card][data-complete=false]");
    if (next) {
      next.open = true;
      next.querySelector("summary").focus();
      next.scrollIntoView({ block: "start" });
    } else {
      card.querySelector("summary").focus();
    }
  });
})();
