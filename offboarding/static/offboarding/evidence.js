// The evidence report: a Print button, and each UTC time also in the viewer's own time zone
// and locale. A static file, so the CSP needs no inline script; without JavaScript the
// report still shows every time in UTC and prints from the browser's menu.
(function () {
  "use strict";

  // dateStyle and timeStyle cannot be combined with timeZoneName: name each part.
  var format = new Intl.DateTimeFormat(undefined, {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    timeZoneName: "short",
  });

  function localTimes() {
    document.querySelectorAll("time[data-local-time]").forEach(function (node) {
      var slot = node.parentElement.querySelector("[data-local-slot]");
      var moment = new Date(node.getAttribute("datetime"));
      if (slot && !isNaN(moment.getTime())) {
        slot.textContent = format.format(moment);
      }
    });
  }

  function printButtons() {
    document.querySelectorAll("[data-print]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        window.print();
      });
    });
  }

  function start() {
    localTimes();
    printButtons();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
