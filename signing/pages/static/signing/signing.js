/* Samtycke subject pages: progressive enhancement only; every page works without it.
 * - consent page: say "choose at least one purpose" before posting an empty choice;
 * - signing in progress: ask for the status every second, refresh the QR code,
 *   announce BankID's messages, and go to the receipt when the signature is in. */
(function () {
  "use strict";

  // The link's URLs may already carry a query (?lang=, the person's language choice).
  function withParam(url, name, value) {
    return url + (url.indexOf("?") === -1 ? "?" : "&") + name + "=" + encodeURIComponent(value);
  }

  function guardPurposes() {
    var form = document.getElementById("sign-form");
    if (!form) { return; }
    form.addEventListener("submit", function (event) {
      var boxes = form.querySelectorAll('input[name="purposes"]');
      var chosen = [];
      for (var i = 0; i < boxes.length; i += 1) {
        if (boxes[i].checked) { chosen.push(boxes[i].value); }
      }
      if (boxes.length && !chosen.length) {
        event.preventDefault();
        var message = document.getElementById("purposes-js-error");
        if (message) { message.textContent = message.getAttribute("data-message"); }
        boxes[0].focus();
        return;
      }
      // An identity provider is another origin: go there by navigation, not by posting the form
      // (without JavaScript the form's answer is a page with a link on).
      var oidcUrl = event.submitter && event.submitter.getAttribute("data-oidc-url");
      if (oidcUrl) {
        event.preventDefault();
        window.location.assign(chosen.length ? withParam(oidcUrl, "purposes", chosen.join(",")) : oidcUrl);
      }
    });
    form.addEventListener("change", function () {
      var message = document.getElementById("purposes-js-error");
      if (message && message.textContent) { message.textContent = ""; }
    });
  }

  function followAttempt() {
    var attempt = document.getElementById("attempt");
    if (!attempt || attempt.getAttribute("data-state") !== "pending" || !window.fetch) { return; }
    var statusUrl = attempt.getAttribute("data-status-url");
    var qrUrl = attempt.getAttribute("data-qr-url");
    var receiptUrl = attempt.getAttribute("data-receipt-url");
    var statusEl = document.getElementById("attempt-status");
    var failureEl = document.getElementById("attempt-failure");
    var qr = document.getElementById("qr-image");
    var retry = document.getElementById("retry");
    var tick = 0;
    var busy = false;
    var timer = null;

    function stop() {
      if (timer !== null) { window.clearInterval(timer); timer = null; }
    }

    function fail(message) {
      stop();
      var parts = attempt.querySelectorAll(".pending-part");
      for (var i = 0; i < parts.length; i += 1) { parts[i].hidden = true; }
      if (statusEl) { statusEl.textContent = ""; }
      if (failureEl) {
        failureEl.className = "failure alert bad";
        var p = document.createElement("p");
        p.textContent = message;
        failureEl.appendChild(p);
      }
      if (retry) { retry.hidden = false; }
    }

    function poll() {
      if (busy) { return; }
      busy = true;
      window.fetch(statusUrl, { headers: { "Accept": "application/json" }, credentials: "same-origin", cache: "no-store" })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (!data) { return; }
          if (data.status === "complete") {
            stop();
            if (statusEl) { statusEl.textContent = data.message; }
            window.location.assign(data.receipt_url || receiptUrl);
            return;
          }
          if (data.status === "failed") { fail(data.message); return; }
          if (statusEl && statusEl.textContent !== data.message) { statusEl.textContent = data.message; }
          if (qr && data.qr_data) {
            tick += 1;
            qr.src = withParam(qrUrl, "t", tick);
          }
        })
        .catch(function () { /* a missed poll is retried on the next tick */ })
        .then(function () { busy = false; });
    }

    if (qr) {
      qr.addEventListener("error", function () { qr.hidden = true; });
      qr.addEventListener("load", function () { qr.hidden = false; });
    }
    timer = window.setInterval(poll, 1000);
  }

  guardPurposes();
  followAttempt();
}());
