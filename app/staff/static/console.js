/* Staff console: small progressive enhancements. Everything works without this file. */
(function () {
  "use strict";
  function ready() {
    // Announce form errors: move focus to the summary (role=alert) so it is read first.
    var summary = document.querySelector("[data-error-summary]");
    if (summary) {
      summary.focus();
    }
    // Print buttons only make sense with script; they stay hidden without it.
    var printers = document.querySelectorAll("[data-print]");
    for (var i = 0; i < printers.length; i++) {
      printers[i].hidden = false;
      printers[i].addEventListener("click", function () { window.print(); });
    }
    // Links in the error summary: focus the field itself, not just scroll to it.
    var links = document.querySelectorAll(".error-summary a[href^='#']");
    for (var j = 0; j < links.length; j++) {
      links[j].addEventListener("click", function (event) {
        var target = document.getElementById(this.getAttribute("href").slice(1));
        if (target) {
          event.preventDefault();
          target.focus();
          target.scrollIntoView({ block: "center" });
        }
      });
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
