// Keyhold's page behaviour, kept in a static file so the CSP needs no inline script.
(function () {
  "use strict";

  // htmx requests carry the CSRF token from the page's meta tag (the cookie is HttpOnly).
  document.addEventListener("htmx:configRequest", function (event) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta) {
      event.detail.headers["X-CSRFToken"] = meta.content;
    }
  });

  // "/" focuses the global search from anywhere except while typing in a field.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    var target = event.target;
    var typing = target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName);
    var search = document.querySelector("[data-search-shortcut]");
    if (!typing && search) {
      event.preventDefault();
      search.focus();
      search.select();
    }
  });

  // Arrow keys move between search results; Enter follows the focused link.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") {
      return;
    }
    var links = Array.prototype.slice.call(document.querySelectorAll("[data-result-list] a"));
    if (links.length === 0) {
      return;
    }
    var index = links.indexOf(document.activeElement);
    var search = document.querySelector("[data-search-shortcut]");
    if (index === -1 && document.activeElement !== search) {
      return;
    }
    event.preventDefault();
    var next = event.key === "ArrowDown" ? index + 1 : index - 1;
    if (next < 0) {
      search.focus();
    } else {
      links[Math.min(next, links.length - 1)].focus();
    }
  });
})();
