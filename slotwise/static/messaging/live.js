/* Live pages without reload (the staff inbox, a conversation, the chat pages).

   An element with data-live-socket="/ws/…/" opens that WebSocket. Every event that arrives makes
   the page fetch the part named by data-live-target again with htmx (from data-live-url, or from
   the page's own address with data-live-follow-location; data-live-read adds read=1 while the
   page is in view, so a conversation being looked at is marked read). Events that arrive close
   together cause one fetch.

   When the socket closes it reconnects with back-off (1 s, 2 s, 4 s … at most 30 s, with jitter)
   and, while it is down, the page polls every 15 seconds (data-live-state="offline" shows a
   note). When it is back, one fetch catches up on whatever was missed.

   Also here: validation errors (HTTP 422) are swapped in like any answer, the thread stays
   scrolled to the newest message, and canned replies: typing "/" plus a shortcut and then a
   space, Tab or Enter puts the reply's text in its place (or pick one from the list). */
(function () {
  "use strict";

  var POLL_MS = 15000;
  var REFRESH_MS = 60000; // the list's "waiting 12 minutes" moves on even when nothing happens
  var MAX_BACKOFF_MS = 30000;
  var DEBOUNCE_MS = 250;

  if (window.htmx && htmx.config && Array.isArray(htmx.config.responseHandling)) {
    htmx.config.responseHandling.unshift({ code: "422", swap: true, error: false });
  }

  // --- the thread's scroll position ---------------------------------------------------------

  function threadBox() {
    return document.querySelector(".thread-box");
  }

  function atBottom(box) {
    return !box || box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  }

  function toBottom() {
    var box = threadBox();
    if (box) box.scrollTop = box.scrollHeight;
  }

  // --- one live element ---------------------------------------------------------------------

  function start(el) {
    var socketPath = el.getAttribute("data-live-socket");
    var state = { attempts: 0, poll: null, refreshTimer: null, socket: null };

    function setState(value) {
      el.setAttribute("data-live-state", value);
    }

    function url() {
      var u = el.hasAttribute("data-live-follow-location")
        ? window.location.pathname + window.location.search
        : el.getAttribute("data-live-url");
      if (el.hasAttribute("data-live-read") && document.visibilityState === "visible") {
        u += (u.indexOf("?") < 0 ? "?" : "&") + "read=1";
      }
      return u;
    }

    function refresh() {
      clearTimeout(state.refreshTimer);
      state.refreshTimer = setTimeout(function () {
        var target = el.getAttribute("data-live-target");
        if (!window.htmx || !document.querySelector(target)) return;
        var box = threadBox();
        var stick = atBottom(box);
        var top = box ? box.scrollTop : 0;
        var done = htmx.ajax("GET", url(), { target: target, select: target, swap: "outerHTML" });
        if (done && done.then) {
          done.then(function () {
            var fresh = threadBox();
            if (!fresh) return;
            if (stick) toBottom();
            else fresh.scrollTop = top;
          });
        }
      }, DEBOUNCE_MS);
    }

    function startPolling() {
      if (!state.poll) state.poll = setInterval(refresh, POLL_MS);
    }

    function stopPolling() {
      clearInterval(state.poll);
      state.poll = null;
    }

    function reconnectLater() {
      var delay = Math.min(MAX_BACKOFF_MS, 1000 * Math.pow(2, state.attempts));
      delay = delay * (0.8 + Math.random() * 0.4);
      state.attempts += 1;
      setTimeout(connect, delay);
    }

    function connect() {
      var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      var socket;
      try {
        socket = new WebSocket(scheme + window.location.host + socketPath);
      } catch (e) {
        setState("offline");
        startPolling();
        reconnectLater();
        return;
      }
      state.socket = socket;
      socket.onopen = function () {
        var missed = state.attempts > 0;
        state.attempts = 0;
        stopPolling();
        setState("live");
        if (missed) refresh();
      };
      socket.onmessage = function () {
        refresh();
      };
      socket.onclose = function () {
        state.socket = null;
        setState("offline");
        startPolling();
        reconnectLater();
      };
    }

    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible" && el.hasAttribute("data-live-read")) refresh();
    });
    window.addEventListener("pagehide", function () {
      if (state.socket) {
        state.socket.onclose = null;
        state.socket.close();
      }
    });
    if (el.hasAttribute("data-live-follow-location")) setInterval(refresh, REFRESH_MS);
    connect();
  }

  // --- canned replies -----------------------------------------------------------------------

  function cannedReplies() {
    var data = document.getElementById("canned-replies");
    if (!data) return [];
    try {
      return JSON.parse(data.textContent) || [];
    } catch (e) {
      return [];
    }
  }

  function typedShortcut(textarea) {
    var before = textarea.value.slice(0, textarea.selectionStart);
    var match = /(^|\s)\/([\w-]*)$/.exec(before);
    return match ? match[2] : null;
  }

  function insert(textarea, text, replaceLength) {
    var end = textarea.selectionStart;
    var start = end - replaceLength;
    textarea.value = textarea.value.slice(0, start) + text + textarea.value.slice(end);
    var caret = start + text.length;
    textarea.focus();
    textarea.setSelectionRange(caret, caret);
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function suggestionsFor(textarea) {
    var form = textarea.closest("form");
    return form ? form.querySelector("[data-canned-suggestions]") : null;
  }

  function showSuggestions(textarea) {
    var box = suggestionsFor(textarea);
    if (!box) return;
    var typed = typedShortcut(textarea);
    box.textContent = "";
    if (typed === null) {
      box.hidden = true;
      return;
    }
    var lower = typed.toLowerCase();
    var matches = cannedReplies().filter(function (r) {
      return r.shortcut.toLowerCase().indexOf(lower) === 0;
    });
    matches.slice(0, 8).forEach(function (reply) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = "/" + reply.shortcut + " · " + reply.title;
      button.setAttribute("data-testid", "canned-suggestion");
      button.addEventListener("click", function () {
        var current = typedShortcut(textarea);
        insert(textarea, reply.text, current === null ? 0 : current.length + 1);
      });
      box.appendChild(button);
    });
    box.hidden = matches.length === 0;
  }

  document.addEventListener("input", function (event) {
    var target = event.target;
    if (target.matches && target.matches("[data-canned-input]")) showSuggestions(target);
  });

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (!target.matches || !target.matches("[data-canned-input]")) return;
    if (event.key !== " " && event.key !== "Tab" && event.key !== "Enter") return;
    var typed = typedShortcut(target);
    if (!typed) return;
    var reply = cannedReplies().find(function (r) {
      return r.shortcut.toLowerCase() === typed.toLowerCase();
    });
    if (!reply) return;
    event.preventDefault();
    insert(target, reply.text, typed.length + 1);
  });

  document.addEventListener("change", function (event) {
    var select = event.target;
    if (!select.matches || !select.matches("[data-canned-pick]") || !select.value) return;
    var reply = cannedReplies().find(function (r) {
      return r.shortcut === select.value;
    });
    var textarea = select.closest("form").querySelector("[data-canned-input]");
    select.value = "";
    if (reply && textarea) insert(textarea, reply.text, 0);
  });

  // --- start --------------------------------------------------------------------------------

  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail && event.detail.target && event.detail.target.id === "conversation") {
      toBottom();
    }
  });

  function init() {
    toBottom();
    document.querySelectorAll("[data-live-socket]").forEach(start);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
