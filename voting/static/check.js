/* The voter-code check (/val/<slug>/kontrollera). A plain script, not part of the ballot bundle.
 *
 * The published lists are fetched once, without cookies; the code the member types is looked up
 * here, in the browser, and never sent anywhere. The code's form is docs/election-record.md's:
 * ten symbols of 23456789ABCDEFGHJKMNPQRSTVWXYZ, written in groups of 4, 4 and 2. */
(function () {
  "use strict";

  var ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ";
  var SEPARATORS = /[\s\-\u2010-\u2015\u2212]+/g;

  var app = document.getElementById("check-app");
  if (!app) {
    return;
  }
  var form = document.getElementById("check-form");
  var input = document.getElementById("check-code");
  var result = document.getElementById("check-result");
  var report = document.getElementById("check-report");
  var kretsar = JSON.parse(document.getElementById("check-kretsar").textContent);
  var messages = {};
  var template = document.getElementById("check-messages");
  Array.prototype.forEach.call(template.content.querySelectorAll("[data-key]"), function (el) {
    messages[el.getAttribute("data-key")] = el.textContent;
  });

  /* A typed code in its written form, or null: case, spaces and dashes are forgiven. */
  function normalize(text) {
    var symbols = text.replace(SEPARATORS, "").toUpperCase();
    if (symbols.length !== 10) {
      return null;
    }
    for (var i = 0; i < symbols.length; i++) {
      if (ALPHABET.indexOf(symbols.charAt(i)) < 0) {
        return null;
      }
    }
    return symbols.slice(0, 4) + "-" + symbols.slice(4, 8) + "-" + symbols.slice(8);
  }

  function message(key, values) {
    return (messages[key] || "").replace(/\{(\w+)\}/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(values || {}, name) ? values[name] : whole;
    });
  }

  /* Every code of every roll: its krets and whether a signature was issued for it. */
  var lookup = null;
  function load() {
    if (lookup) {
      return lookup;
    }
    lookup = fetch(app.getAttribute("data-codes-url"), {
      credentials: "omit",
      headers: { Accept: "application/json" },
    })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (lists) {
        var codes = new Map();
        lists.contests.forEach(function (contest) {
          var issued = new Set(contest.issued_codes);
          contest.roll_codes.forEach(function (code) {
            codes.set(code, { krets: contest.krets, issued: issued.has(code) });
          });
        });
        return codes;
      })
      .catch(function (error) {
        lookup = null; /* try again on the next submit */
        throw error;
      });
    return lookup;
  }

  function show(lines, withReport) {
    result.textContent = "";
    lines.forEach(function (line, index) {
      var p = document.createElement("p");
      if (index === 0) {
        var strong = document.createElement("strong");
        strong.textContent = line;
        p.appendChild(strong);
      } else {
        p.textContent = line;
      }
      result.appendChild(p);
    });
    result.setAttribute("data-outcome", withReport);
    report.hidden = !withReport;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var typed = input.value.trim();
    if (!typed) {
      show([message("empty")], "");
      return;
    }
    var code = normalize(typed);
    if (code === null) {
      input.setAttribute("aria-invalid", "true");
      show([message("invalid")], "");
      return;
    }
    input.removeAttribute("aria-invalid");
    load().then(
      function (codes) {
        var found = codes.get(code);
        if (!found) {
          show([message("not_on_roll", { code: code })], "not_on_roll");
          return;
        }
        var values = { code: code, krets: kretsar[found.krets] || found.krets };
        if (found.issued) {
          show([message("issued", values), message("issued_more")], "issued");
        } else {
          show([message("not_issued", values), message("not_issued_more")], "not_issued");
        }
      },
      function () {
        show([message("load_error")], "");
      }
    );
  });
})();
