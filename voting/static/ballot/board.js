/* The receipt check on the ballot board (/val/<slug>/anslagstavla). A plain script, not part of
 * the ballot bundle.
 *
 * The member's receipt code is looked up here, among the ballots the page already shows, and is
 * never sent anywhere: no query string, no form post (issue 14, F3). Coming from the receipt, the
 * ballot page leaves the code in this tab's sessionStorage ("kongressval.v1.lookup"), which is
 * read once and removed, so the code never lands in an address or the browser's history (F13).
 * Receipts stored on this device past their keeping time are removed here too. */
(function () {
  "use strict";

  var LOOKUP_KEY = "kongressval.v1.lookup";
  var RECEIPT_PREFIX = "kongressval.v1.receipt.";
  var HASH = /^[0-9a-f]{64}$/;

  /* Stored receipts whose keeping time (forget_after) has passed, of any member or election. */
  function forgetExpiredReceipts() {
    try {
      var storage = window.localStorage;
      for (var i = storage.length - 1; i >= 0; i--) {
        var key = storage.key(i);
        if (!key || key.indexOf(RECEIPT_PREFIX) !== 0) {
          continue;
        }
        var entry = null;
        try {
          entry = JSON.parse(storage.getItem(key));
        } catch (e) {
          entry = null;
        }
        var until = entry ? Date.parse(entry.forget_after) : NaN;
        if (isFinite(until) && Date.now() > until) {
          storage.removeItem(key);
        }
      }
    } catch (e) {
      /* Storage unavailable: nothing is kept there either. */
    }
  }

  forgetExpiredReceipts();

  var app = document.getElementById("board-app");
  if (!app) {
    return;
  }
  var form = document.getElementById("board-search");
  var input = document.getElementById("board-hash");
  var error = document.getElementById("board-hash-error");
  var result = document.getElementById("board-result");
  var messages = {};
  var template = document.getElementById("board-messages");
  Array.prototype.forEach.call(template.content.querySelectorAll("[data-key]"), function (el) {
    messages[el.getAttribute("data-key")] = el.textContent.trim().replace(/\s+/g, " ");
  });

  function message(key, values) {
    return (messages[key] || "").replace(/\{(\w+)\}/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(values || {}, name) ? values[name] : whole;
    });
  }

  /* The krets whose list on this page holds `hash`, or null. */
  function find(hash) {
    var sections = document.querySelectorAll(".board-krets");
    for (var i = 0; i < sections.length; i++) {
      var codes = sections[i].querySelectorAll("[data-ballot-hash]");
      for (var j = 0; j < codes.length; j++) {
        if (codes[j].textContent.trim() === hash) {
          return sections[i].getAttribute("data-krets");
        }
      }
    }
    return null;
  }

  function showError(text) {
    error.textContent = text;
    error.hidden = false;
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", "board-hash-hint board-hash-error");
    result.textContent = "";
    result.removeAttribute("data-outcome");
  }

  function showResult(lines) {
    error.hidden = true;
    error.textContent = "";
    input.removeAttribute("aria-invalid");
    input.setAttribute("aria-describedby", "board-hash-hint");
    result.textContent = "";
    /* Why a box inside the live region: the region itself stays in place and empty until there
     * is something to say, so screen readers announce what is put into it. */
    var box = document.createElement("div");
    box.className = "notice";
    lines.forEach(function (line, index) {
      var p = document.createElement("p");
      if (index === 0) {
        var strong = document.createElement("strong");
        strong.textContent = line;
        p.appendChild(strong);
      } else {
        p.textContent = line;
      }
      box.appendChild(p);
    });
    result.appendChild(box);
  }

  function check() {
    /* Spaces and capitals are forgiven: a code copied from a PDF or a phone may carry them. */
    var typed = input.value.replace(/\s+/g, "").toLowerCase();
    if (!typed) {
      showError(message("empty"));
      return;
    }
    if (!HASH.test(typed)) {
      showError(message("invalid"));
      return;
    }
    var krets = find(typed);
    if (krets !== null) {
      showResult([message("found", { krets: krets })]);
      result.setAttribute("data-outcome", "found");
    } else {
      showResult([message("missing"), message("missing_more")]);
      result.setAttribute("data-outcome", "missing");
    }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    check();
  });

  /* The code handed over by the receipt, once. */
  var handed = null;
  try {
    handed = JSON.parse(window.sessionStorage.getItem(LOOKUP_KEY));
    window.sessionStorage.removeItem(LOOKUP_KEY);
  } catch (e) {
    handed = null;
  }
  if (
    handed &&
    handed.election === app.getAttribute("data-election") &&
    typeof handed.hash === "string"
  ) {
    input.value = handed.hash;
    check();
  }
})();
