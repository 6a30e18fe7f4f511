// The technician app's offline queue (S2.4).
//
// On every technician page (included by workorders/tech/_offline.html):
// - A status change (a `form[data-offline="action"]` submit: accept, decline, get started, pause,
//   resume) made while the phone is offline is kept in localStorage — {id, order, action, reason,
//   version, client_at} — and shown on the page as "Waiting to be sent". The service worker
//   (core/sw.js) queues the same way a submit that fails with a network error.
// - Back online, the queue is posted as JSON to workorders:tech_sync (session + CSRF token) and
//   each result is shown: sent, or "the office changed this order: it is now …" (the server
//   wins). The page then reloads to show the server's state.
// - A queued change of an order is given the version the previous queued change will lead to,
//   so several changes made offline in a row (start, then pause) apply in turn.
// - Today's order cards are warmed into the service worker's cache so they open offline.
// The queue's key carries the user's id: another user on the same phone never sends it.
(function () {
  "use strict";

  const configNode = document.getElementById("offline-config");
  const root = document.getElementById("offline-queue");
  if (!configNode || !root) return;
  const cfg = JSON.parse(configNode.textContent);
  if (!cfg.user) return;

  const QUEUE_KEY = "slotwise.offline.queue." + cfg.user;
  const RESULTS_KEY = "slotwise.offline.results." + cfg.user;
  const MAX_RESULTS = 20;
  const RETRY_MS = 20000;
  let syncing = false;
  let retryTimer = null;

  // -- storage ------------------------------------------------------------------------------------

  function read(key) {
    try {
      const value = JSON.parse(window.localStorage.getItem(key) || "[]");
      return Array.isArray(value) ? value : [];
    } catch (err) {
      return [];
    }
  }

  function write(key, list) {
    try {
      window.localStorage.setItem(key, JSON.stringify(list));
    } catch (err) {
      /* storage full or disabled: nothing more to do */
    }
  }

  function newId() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    return "q-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 12);
  }

  function format(text, values) {
    return text.replace(/%\((\w+)\)s/g, (m, name) => (name in values ? String(values[name]) : m));
  }

  function statusLabel(status) {
    return (status && cfg.statuses[status]) || status || "";
  }

  function actionLabel(action) {
    return (cfg.actions[action] && cfg.actions[action].label) || action;
  }

  function pendingFor(order) {
    return read(QUEUE_KEY).filter((item) => item.order === order);
  }

  // The version a new change of `order` is made on: the one after the last queued change, or the
  // one the page showed.
  function versionFor(order, pageVersion) {
    const pending = pendingFor(order);
    if (pending.length && pending[pending.length - 1].version) {
      return pending[pending.length - 1].version + 1;
    }
    const parsed = parseInt(pageVersion, 10);
    return Number.isFinite(parsed) ? parsed : null;
  }

  // The status the order will have once its queued changes are applied.
  function predictedStatus(order, status) {
    let current = status;
    pendingFor(order).forEach((item) => {
      const t = cfg.actions[item.action];
      if (t && t.target) current = t.target;
    });
    return current;
  }

  function enqueue(fields) {
    const queue = read(QUEUE_KEY);
    const item = {
      id: newId(),
      order: fields.order,
      action: fields.action,
      reason: fields.reason || "",
      version: versionFor(fields.order, fields.version),
      client_at: new Date().toISOString(),
      title: fields.title || "",
    };
    queue.push(item);
    write(QUEUE_KEY, queue);
    return item;
  }

  // -- the forms ----------------------------------------------------------------------------------

  function pageTitle() {
    const h = document.querySelector("[data-testid=order-title]") || document.querySelector("h1");
    return h ? h.textContent.trim() : document.title;
  }

  function onSubmit(event) {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || form.dataset.offline !== "action") return;
    const submitter = event.submitter;
    const action =
      (submitter && submitter.name === "action" && submitter.value) ||
      (form.querySelector("[name=action]") || {}).value;
    const order = form.dataset.order;
    if (!action || !order || !cfg.actions[action]) return;
    // Online with nothing queued for this order: the ordinary submit (the service worker queues
    // it if the network fails on the way).
    if (navigator.onLine && pendingFor(order).length === 0) return;
    event.preventDefault();
    const reasonInput = form.querySelector("[name=reason]");
    const reason = reasonInput ? reasonInput.value.trim() : "";
    if (cfg.actions[action].needsReason && !reason) {
      if (reasonInput) reasonInput.reportValidity();
      return;
    }
    enqueue({ order, action, reason, version: form.dataset.version, title: pageTitle() });
    if (reasonInput) reasonInput.value = "";
    const details = form.closest("details");
    if (details) details.open = false;
    render();
    if (navigator.onLine) sync();
  }

  // On the order card, show the buttons that follow the queued changes: hide the ones the
  // predicted status no longer allows, add a copy of an action form for the ones it allows.
  function updateCard() {
    if (!cfg.order || !cfg.orderStatus) return;
    const pending = pendingFor(cfg.order);
    const status = predictedStatus(cfg.order, cfg.orderStatus);
    const pill = document.querySelector("[data-testid=order-status]");
    let note = document.querySelector("[data-testid=offline-status]");
    if (pending.length) {
      if (!note && pill) {
        note = document.createElement("span");
        note.className = "offline-status";
        note.dataset.testid = "offline-status";
        pill.insertAdjacentElement("afterend", note);
      }
      if (note) {
        note.dataset.status = status;
        note.textContent = format(cfg.text.willBe, { status: statusLabel(status) });
      }
    } else if (note) {
      note.remove();
    }
    const forms = Array.from(document.querySelectorAll('form[data-offline="action"]')).filter(
      (f) => f.dataset.order === cfg.order
    );
    const present = new Set();
    forms.forEach((form) => {
      const button = form.querySelector("button[name=action]");
      if (!button || !cfg.actions[button.value]) return;
      const allowed = cfg.actions[button.value].sources.includes(status);
      const holder = form.closest("details") || form;
      holder.hidden = !allowed;
      if (allowed) present.add(button.value);
    });
    const template = forms.find((f) => !f.querySelector("[name=reason]"));
    if (!template) return;
    Object.keys(cfg.actions).forEach((action) => {
      const t = cfg.actions[action];
      if (t.needsReason || present.has(action) || !t.sources.includes(status)) return;
      const copy = template.cloneNode(true);
      copy.hidden = false;
      copy.dataset.offlineCopy = "1";
      const button = copy.querySelector("button[name=action]");
      button.value = action;
      button.textContent = t.label;
      button.className = button.className.replace(/action-\w+/, "action-" + action);
      button.dataset.testid = "act-" + action;
      template.parentNode.appendChild(copy);
      present.add(action);
    });
  }

  // Rows of the lists (Today, Tomorrow, Month): mark the orders with queued changes.
  function updateRows() {
    const queued = new Set(read(QUEUE_KEY).map((item) => item.order));
    document.querySelectorAll("[data-testid=order-row][data-order]").forEach((row) => {
      let tag = row.querySelector(".offline-tag");
      if (queued.has(row.dataset.order)) {
        if (!tag) {
          tag = document.createElement("span");
          tag.className = "offline-tag";
          tag.dataset.testid = "row-queued";
          tag.textContent = cfg.text.queued;
          (row.querySelector(".tech-meta") || row).appendChild(tag);
        }
      } else if (tag) {
        tag.remove();
      }
    });
  }

  // -- the panel ----------------------------------------------------------------------------------

  function li(text, testid, extra) {
    const node = document.createElement("li");
    node.textContent = text;
    if (testid) node.dataset.testid = testid;
    Object.assign(node.dataset, extra || {});
    return node;
  }

  function resultText(r) {
    const status = r.status_label || statusLabel(r.status);
    if (r.result === "applied" || r.result === "duplicate") {
      return format(cfg.text.applied, { status });
    }
    if (r.result === "conflict") return format(cfg.text.conflict, { status });
    if (r.result === "not_found") return cfg.text.notFound;
    return format(cfg.text.rejected, { message: r.message || "" });
  }

  function render(problem) {
    const queue = read(QUEUE_KEY);
    const results = read(RESULTS_KEY);
    const offline = !navigator.onLine;
    const banner = root.querySelector(".offline-banner");
    banner.textContent = problem || cfg.text.offline;
    banner.hidden = !offline && !problem;
    banner.classList.toggle("problem", Boolean(problem));

    const pending = root.querySelector(".offline-pending");
    pending.querySelector(".offline-heading").textContent = cfg.text.queueTitle;
    const pendingList = pending.querySelector(".offline-items");
    pendingList.replaceChildren(
      ...queue.map((item) =>
        li(
          (item.title ? item.title + " — " : "") +
            actionLabel(item.action) +
            ": " +
            (syncing ? cfg.text.sending : cfg.text.queued),
          "offline-item",
          { order: item.order, action: item.action }
        )
      )
    );
    pending.hidden = queue.length === 0;

    const done = root.querySelector(".offline-results");
    done.querySelector(".offline-heading").textContent = cfg.text.resultsTitle;
    done.querySelector(".offline-dismiss").textContent = cfg.text.dismiss;
    done.querySelector(".offline-items").replaceChildren(
      ...results.map((r) =>
        li(
          (r.title ? r.title + " — " : "") + actionLabel(r.action) + ": " + resultText(r),
          "offline-result",
          { result: r.result, status: r.status || "", order: r.order || "" }
        )
      )
    );
    done.hidden = results.length === 0;
    root.hidden = banner.hidden && pending.hidden && done.hidden;
    document.documentElement.classList.toggle("is-offline", offline);
    updateCard();
    updateRows();
  }

  // -- sending ------------------------------------------------------------------------------------

  function csrfToken() {
    const name = (cfg.csrfCookie || "csrftoken") + "=";
    const cookie = document.cookie.split("; ").find((c) => c.startsWith(name));
    if (cookie) return decodeURIComponent(cookie.slice(name.length));
    const field = document.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function scheduleRetry() {
    if (retryTimer) return;
    retryTimer = window.setTimeout(() => {
      retryTimer = null;
      sync();
    }, RETRY_MS);
  }

  async function sync() {
    const queue = read(QUEUE_KEY);
    if (syncing || queue.length === 0 || !navigator.onLine) return;
    syncing = true;
    render();
    const sent = queue.map(({ id, order, action, reason, version, client_at }) => ({
      id,
      order,
      action,
      reason,
      version,
      client_at,
    }));
    let response;
    try {
      response = await fetch(cfg.syncUrl, {
        method: "POST",
        credentials: "same-origin",
        cache: "no-store",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
          "X-CSRFToken": csrfToken(),
        },
        body: JSON.stringify({ changes: sent }),
      });
    } catch (err) {
      syncing = false; // the network is not back yet
      render();
      scheduleRetry();
      return;
    }
    let body = null;
    try {
      body = await response.json();
    } catch (err) {
      body = null;
    }
    syncing = false;
    if (response.status === 401 || response.status === 403) {
      render(cfg.text.loginAgain);
      return;
    }
    if (!response.ok || !body || !Array.isArray(body.results)) {
      if (response.status === 400) {
        // the server can't read these changes: they would be refused forever
        const ids = new Set(sent.map((c) => c.id));
        write(
          QUEUE_KEY,
          read(QUEUE_KEY).filter((item) => !ids.has(item.id))
        );
      } else {
        scheduleRetry();
      }
      render(format(cfg.text.failed, { message: (body && body.error) || response.status }));
      return;
    }
    const titles = {};
    queue.forEach((item) => (titles[item.id] = item.title));
    const answered = new Set(body.results.map((r) => r.id));
    write(
      QUEUE_KEY,
      read(QUEUE_KEY).filter((item) => !answered.has(item.id))
    );
    const results = body.results.map((r) => ({ ...r, title: titles[r.id] || "" }));
    write(RESULTS_KEY, read(RESULTS_KEY).concat(results).slice(-MAX_RESULTS));
    // The page shows the state before the changes: load the server's (Today when this card's
    // order is no longer the technician's, e.g. declined).
    const gone = results.some(
      (r) =>
        r.order === cfg.order &&
        (r.result === "not_found" || ((r.result === "applied" || r.result === "duplicate") && r.status === "draft"))
    );
    if (gone && cfg.todayUrl) window.location.replace(cfg.todayUrl);
    else window.location.reload();
  }

  // -- the service worker's cache -----------------------------------------------------------------

  // Today's (and the other lists') order cards, so they open without a connection.
  function warmCards() {
    if (!navigator.onLine || !("serviceWorker" in navigator)) return;
    const urls = Array.from(document.querySelectorAll('a[href*="/work/tech/o/"]'))
      .map((a) => new URL(a.href, window.location.href))
      .filter((u) => u.origin === window.location.origin && /^\/work\/tech\/o\/[^/]+\/$/.test(u.pathname))
      .map((u) => u.pathname);
    if (!urls.length) return;
    navigator.serviceWorker.ready
      .then((registration) => {
        const worker = navigator.serviceWorker.controller || registration.active;
        if (worker) {
          worker.postMessage({ type: "warm", user: cfg.user, urls: Array.from(new Set(urls)).slice(0, 60) });
        }
      })
      .catch(() => null);
  }

  // Tell the service worker whose page this is: a worker made for another user (or for nobody,
  // before the log-in) replaces itself.
  function hello() {
    if (!("serviceWorker" in navigator) || !navigator.serviceWorker.controller) return;
    try {
      navigator.serviceWorker.controller.postMessage({ type: "hello", user: cfg.user });
    } catch (err) {
      /* no worker to tell */
    }
  }

  // -- start --------------------------------------------------------------------------------------

  root.querySelector(".offline-dismiss").addEventListener("click", () => {
    write(RESULTS_KEY, []);
    render();
  });
  document.addEventListener("submit", onSubmit, true);
  window.addEventListener("online", () => {
    render();
    sync();
  });
  window.addEventListener("offline", () => render());
  window.addEventListener("storage", (event) => {
    if (event.key === QUEUE_KEY || event.key === RESULTS_KEY) render();
  });
  window.SlotwiseOffline = { enqueue, sync, queue: () => read(QUEUE_KEY), render };
  render();
  hello();
  if (navigator.onLine) {
    if (read(QUEUE_KEY).length) sync();
    window.setTimeout(warmCards, 1000);
  }
})();
