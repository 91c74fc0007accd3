/* The letter code form (/rosta/kod). A plain script, not part of the ballot bundle.
 *
 * The letter's QR code opens /rosta/kod#CODE: the fragment never leaves the browser, so the code
 * reaches no server log. This copies it into the field and drops it from the address bar and the
 * history; the member still presses the button. */
(function () {
  "use strict";

  var input = document.getElementById("code");
  var code = window.location.hash.replace(/^#/, "");
  if (!input || !code) {
    return;
  }
  try {
    code = decodeURIComponent(code);
  } catch (e) {
    return;
  }
  if (/^[0-9A-Za-z\s\-]{1,80}$/.test(code)) {
    input.value = code.toUpperCase();
  }
  if (window.history && window.history.replaceState) {
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
  }
})();
