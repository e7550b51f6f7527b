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

// --- Reveal and copy of credential secrets (vault/partials/revealed_secret.html) ---------
// A revealed secret is shown as text for 30 seconds with a visible countdown, then replaced
// by the mask. A copied secret goes to the clipboard without being shown: its value is read
// from a <template> and removed from the DOM at once; after 30 seconds the clipboard is
// cleared, but only when reading it confirms it still holds that value. The last ticket
// reference (never a secret) is remembered for this tab in sessionStorage.
(function () {
  "use strict";

  var SECONDS = 30;
  var TICKET_KEY = "keyhold.lastTicket";
  var timers = new WeakMap();

  function mask() {
    var span = document.createElement("span");
    span.className = "badge badge-muted";
    span.setAttribute("aria-label", "Secret hidden");
    span.textContent = "•••••••• Hidden";
    return span;
  }

  function hide(slot) {
    var timer = timers.get(slot);
    if (timer) {
      clearInterval(timer);
      timers.delete(slot);
    }
    slot.replaceChildren(mask());
  }

  function startCountdown(slot, revealed) {
    var left = parseInt(revealed.getAttribute("data-seconds"), 10) || SECONDS;
    var countdown = revealed.querySelector("[data-countdown]");
    var timer = setInterval(function () {
      left -= 1;
      if (left <= 0) {
        hide(slot);
      } else if (countdown) {
        countdown.textContent = "Hides in " + left + " s";
      }
    }, 1000);
    timers.set(slot, timer);
  }

  function clearClipboardLater(value, status) {
    // Cleared only when the browser lets us read it back, so say "when allowed".
    var canRead = navigator.clipboard && typeof navigator.clipboard.readText === "function";
    status.textContent = "Copied — clipboard clears in 30 s when allowed";
    if (!canRead) {
      return;
    }
    setTimeout(function () {
      navigator.clipboard
        .readText()
        .then(function (current) {
          if (current === value) {
            return navigator.clipboard.writeText("");
          }
          return null;
        })
        .catch(function () {
          // Reading was refused: leave the clipboard alone rather than clobber other content.
        });
    }, SECONDS * 1000);
  }

  function copy(result) {
    var holder = result.querySelector("template[data-copy-value]");
    var status = result.querySelector("[data-copy-status]");
    if (!holder) {
      return;
    }
    var value = holder.content.textContent;
    holder.remove();
    if (!navigator.clipboard || typeof navigator.clipboard.writeText !== "function") {
      status.textContent = "This browser does not allow copying here; use Reveal instead.";
      return;
    }
    navigator.clipboard.writeText(value).then(
      function () {
        clearClipboardLater(value, status);
      },
      function () {
        status.textContent = "The browser refused clipboard access; nothing was copied.";
      }
    );
  }

  // Error fragments of the reveal endpoint (403, 404, 400, 503) are swapped in like success.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var form = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (form && form.closest && form.closest("[data-reveal-form]") && event.detail.xhr.status >= 400) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var slot = event.detail.target;
    if (!slot || !slot.querySelector) {
      return;
    }
    var previous = timers.get(slot);
    if (previous) {
      clearInterval(previous);
      timers.delete(slot);
    }
    var revealed = slot.querySelector("[data-revealed]");
    if (revealed) {
      startCountdown(slot, revealed);
    }
    var copied = slot.querySelector("[data-copy-result]");
    if (copied) {
      copy(copied);
    }
  });

  // Remember the ticket used in this tab (never the secret), and pre-fill it.
  document.addEventListener("htmx:configRequest", function (event) {
    var form = event.detail.elt && event.detail.elt.closest && event.detail.elt.closest("[data-reveal-form]");
    var input = form && form.querySelector("[data-ticket-input]");
    if (input && input.value.trim()) {
      try {
        sessionStorage.setItem(TICKET_KEY, input.value.trim());
      } catch (error) {
        // Storage unavailable (private mode): the ticket is simply not remembered.
      }
    }
  });

  function prefillTickets() {
    var last = null;
    try {
      last = sessionStorage.getItem(TICKET_KEY);
    } catch (error) {
      return;
    }
    if (!last) {
      return;
    }
    document.querySelectorAll("[data-reveal-form] [data-ticket-input]").forEach(function (input) {
      if (!input.value) {
        input.value = last;
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", prefillTickets);
  } else {
    prefillTickets();
  }

  // Never keep a revealed value in htmx's history snapshot.
  document.addEventListener("htmx:beforeHistorySave", function () {
    document.querySelectorAll("[data-revealed], [data-copy-result]").forEach(function (node) {
      var slot = node.parentElement;
      if (slot) {
        hide(slot);
      }
    });
  });
})();

// --- One-time share links (vault/share_links/*.html) -------------------------------------
// "Copy" buttons copy the text (or value) of the element named by data-copy-from; the share
// panel's error fragments (400, 403) are swapped in like success so the form shows them.
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-copy-from]") : null;
    if (!button) {
      return;
    }
    var source = document.getElementById(button.getAttribute("data-copy-from"));
    var status = button.parentElement && button.parentElement.querySelector("[data-copy-status]");
    if (!source) {
      return;
    }
    var value = "value" in source && source.tagName === "INPUT" ? source.value : source.textContent;
    function say(text) {
      if (status) {
        status.textContent = text;
      }
    }
    if (!navigator.clipboard || typeof navigator.clipboard.writeText !== "function") {
      if (source.select) {
        source.select();
      }
      say("Select the text and copy it with Ctrl+C.");
      return;
    }
    navigator.clipboard.writeText(value.trim()).then(
      function () {
        say("Copied");
      },
      function () {
        say("The browser refused clipboard access; select the text and copy it.");
      }
    );
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    var elt = event.detail.requestConfig && event.detail.requestConfig.elt;
    var status = event.detail.xhr.status;
    if (elt && elt.closest && elt.closest("[data-share-panel]") && status >= 400 && status < 500) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();

// --- Live TOTP codes (vault/history/totp_code.html, vault/partials/totp_panel.html) -------
// "Show code" posts once; the fragment carries the code and the seconds left in its 30 s
// window. The countdown runs each second; when the window rolls over, the form is posted
// again (each post is audited) for the next code, until Hide is pressed or 2 minutes have
// passed since the person asked, when the code is masked again.
(function () {
  "use strict";

  var SHOW_SECONDS = 120;
  var timers = new WeakMap();
  var shownAt = new WeakMap();
  var refreshing = new WeakSet();

  function masked() {
    var span = document.createElement("span");
    span.className = "badge badge-muted";
    span.setAttribute("aria-label", "Code hidden");
    span.textContent = "Stored, hidden";
    return span;
  }

  function stop(slot) {
    var timer = timers.get(slot);
    if (timer) {
      clearInterval(timer);
      timers.delete(slot);
    }
  }

  function hide(slot) {
    stop(slot);
    shownAt.delete(slot);
    refreshing.delete(slot);
    slot.replaceChildren(masked());
  }

  function formFor(slot) {
    return document.querySelector('[data-totp-form][hx-target="#' + slot.id + '"]');
  }

  function run(slot, result) {
    var left = parseInt(result.getAttribute("data-seconds-left"), 10) || 30;
    var limit = parseInt(result.getAttribute("data-show-seconds"), 10) || SHOW_SECONDS;
    var countdown = result.querySelector("[data-totp-countdown]");
    var hideButton = result.querySelector("[data-totp-hide]");
    if (hideButton) {
      hideButton.addEventListener("click", function () {
        hide(slot);
      });
    }
    var timer = setInterval(function () {
      var elapsed = (Date.now() - shownAt.get(slot)) / 1000;
      left -= 1;
      if (elapsed >= limit) {
        hide(slot);
      } else if (left <= 0) {
        stop(slot);
        var form = formFor(slot);
        if (!form) {
          hide(slot);
          return;
        }
        refreshing.add(slot);
        htmx.trigger(form, "submit");
      } else if (countdown) {
        countdown.textContent = "New code in " + left + " s";
      }
    }, 1000);
    timers.set(slot, timer);
  }

  // Error fragments (403, 404, 400, 503) are swapped in like a code, and end the showing.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var form = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (form && form.closest && form.closest("[data-totp-form]") && event.detail.xhr.status >= 400) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var slot = event.detail.target;
    if (!slot || !slot.querySelector || !formFor(slot)) {
      return;
    }
    stop(slot);
    var result = slot.querySelector("[data-totp-code]");
    if (!result) {
      shownAt.delete(slot);
      refreshing.delete(slot);
      return;
    }
    if (!refreshing.has(slot) || !shownAt.has(slot)) {
      shownAt.set(slot, Date.now());
    }
    refreshing.delete(slot);
    run(slot, result);
  });

  // Never keep a shown code in htmx's history snapshot.
  document.addEventListener("htmx:beforeHistorySave", function () {
    document.querySelectorAll("[data-totp-code]").forEach(function (node) {
      var slot = node.parentElement;
      if (slot) {
        hide(slot);
      }
    });
  });
})();

// --- Checkouts (vault/partials/checkout_panel.html, vault/checkouts/request.html) ----------
// The checkout form's ticket field shares the tab's remembered ticket with the reveal form
// (sessionStorage "keyhold.lastTicket"; a ticket reference, never a secret).
(function () {
  "use strict";

  var TICKET_KEY = "keyhold.lastTicket";

  function remember(form) {
    var input = form.querySelector("input[name=ticket]");
    if (input && input.value.trim()) {
      try {
        sessionStorage.setItem(TICKET_KEY, input.value.trim());
      } catch (error) {
        // Storage unavailable (private mode): the ticket is simply not remembered.
      }
    }
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form && form.matches && form.matches("[data-checkout-form]")) {
      remember(form);
    }
  });

  function prefill() {
    var last = null;
    try {
      last = sessionStorage.getItem(TICKET_KEY);
    } catch (error) {
      return;
    }
    if (!last) {
      return;
    }
    document.querySelectorAll("[data-checkout-form] input[name=ticket]").forEach(function (input) {
      if (!input.value) {
        input.value = last;
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", prefill);
  } else {
    prefill();
  }
})();
