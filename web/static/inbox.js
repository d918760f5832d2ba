/*
 * The inbox, live. The page is rendered by the server; this script keeps it current without
 * a reload, over server-sent events (GET /api/events, authenticated by the session cookie):
 *
 *   message.added      a message of the open customer's history is appended; any other
 *                      customer message marks its row unread
 *   conversation.*     the queue and "my conversations" are re-read (/api/inbox/lists)
 *   customer.typing    "... is typing" under the open conversation
 *
 * and drives the composer from the keyboard: Ctrl+Enter (or Cmd+Enter) sends, the arrow keys
 * move between Reply and Internal note (a radio group), canned responses and checklists are
 * inserted as plain text.
 *
 * Everything from the server goes into the page with textContent or as attribute values,
 * never as HTML. Requests that change state carry the session's CSRF token (X-CSRF-Token).
 */
(() => {
  "use strict";

  const KINDS = [
    "message.added",
    "message.edited",
    "message.retracted",
    "conversation.opened",
    "conversation.reopened",
    "conversation.updated",
    "agent.updated",
    "customer.typing",
    "sla.breached",
  ];
  const TYPING_SHOWN_MS = 6000;
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const section = document.getElementById("conversation");
  const openId = Number((section && section.dataset.conversationId) || 0);
  const customerId = Number((section && section.dataset.customerId) || 0);
  const history = document.getElementById("history");
  const typing = document.getElementById("typing");
  const composer = document.getElementById("composer");
  const text = document.getElementById("composer-text");

  function el(tag, attrs, content) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== undefined && value !== null && value !== false) node.setAttribute(name, String(value));
    }
    if (content !== undefined) node.textContent = String(content);
    return node;
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body || {}),
    });
  }

  // --- the composer ----------------------------------------------------------------------

  function syncMode() {
    if (!composer) return;
    const note = composer.querySelector("#mode-note").checked;
    composer.classList.toggle("mode-note", note);
    composer.classList.toggle("mode-reply", !note);
  }

  if (composer && text) {
    syncMode();
    composer.addEventListener("change", (event) => {
      if (event.target.name === "mode") syncMode();
    });
    composer.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !event.isComposing) {
        event.preventDefault();
        composer.requestSubmit();
      }
    });
    composer.addEventListener("submit", (event) => {
      if (!text.value.trim() && !composer.querySelector('input[type="file"]').files.length) {
        event.preventDefault();
        text.focus();
        return;
      }
      // One post per message: a second Ctrl+Enter while the first is on its way does nothing.
      if (composer.dataset.sending) event.preventDefault();
      composer.dataset.sending = "true";
    });
  }

  function insert(value) {
    const start = text.selectionStart ?? text.value.length;
    const end = text.selectionEnd ?? text.value.length;
    text.value = text.value.slice(0, start) + value + text.value.slice(end);
    text.focus();
    const caret = start + value.length;
    text.setSelectionRange(caret, caret);
  }

  const canned = document.getElementById("canned");
  const checklist = document.getElementById("checklist");
  const checklistItems = document.getElementById("checklist-items");
  if (canned && text) {
    canned.addEventListener("change", () => {
      const option = canned.selectedOptions[0];
      if (!option || !option.value) return;
      let items = [];
      try {
        items = JSON.parse(option.dataset.checklist || "[]");
      } catch (_) {
        items = [];
      }
      if (!items.length) {
        insert(option.dataset.body || "");
        canned.value = "";
        checklist.hidden = true;
        return;
      }
      checklistItems.replaceChildren(
        ...items.map((item, n) => {
          const id = "check-" + n;
          const row = el("div", { class: "check" });
          const box = el("input", { type: "checkbox", id, checked: "checked" });
          box.dataset.item = item;
          row.append(box, el("label", { for: id }, item));
          return row;
        }),
      );
      checklist.hidden = false;
      checklist.querySelector("input").focus();
    });
    document.getElementById("checklist-insert").addEventListener("click", () => {
      const option = canned.selectedOptions[0];
      const chosen = Array.from(checklistItems.querySelectorAll("input:checked"), (b) => b.dataset.item);
      const listed = chosen.map((item, n) => n + 1 + ". " + item).join("\n");
      insert((option.dataset.body || "").trimEnd() + (listed ? "\n\n" + listed : ""));
      checklist.hidden = true;
      canned.value = "";
    });
  }

  // --- rendering what arrives ------------------------------------------------------------

  function clock(iso) {
    const when = new Date(iso);
    if (isNaN(when)) return "";
    return when.toLocaleString([], { day: "2-digit", month: "short", hour: "2-digit", minute: "2-digit" });
  }

  // The same padlock as the server's template (an emoji would depend on the fonts installed).
  function lock() {
    const SVG = "http://www.w3.org/2000/svg";
    const icon = document.createElementNS(SVG, "svg");
    icon.setAttribute("class", "lock");
    icon.setAttribute("viewBox", "0 0 16 16");
    icon.setAttribute("width", "12");
    icon.setAttribute("height", "12");
    icon.setAttribute("aria-hidden", "true");
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("fill", "currentColor");
    path.setAttribute("d", "M4 7V5a4 4 0 1 1 8 0v2h1a1 1 0 0 1 1 1v7a1 1 0 0 1-1 1H3a1 1 0 0 1-1-1V8a1 1 0 0 1 1-1h1zm2 0h4V5a2 2 0 1 0-4 0v2z");
    icon.append(path);
    return icon;
  }

  function messageNode(m) {
    const internal = m.visibility !== "public";
    const css = internal ? "note" : ["customer", "agent", "bot", "system"].includes(m.author) ? m.author : "system";
    const item = el("li", {
      class: "message " + css + " live",
      "data-id": m.id,
      "data-testid": "message",
      "data-visibility": m.visibility,
      "data-author": m.author,
    });
    const meta = el("div", { class: "meta" });
    if (internal) {
      const badge = el("span", { class: "internal-badge", "data-testid": "internal-badge" });
      badge.append(lock(), document.createTextNode(" Internal note"));
      meta.append(badge);
    }
    meta.append(
      el("span", { class: "author" }, m.author_name || ""),
      el("span", { class: "muted" }, internal ? "internal note" : m.author),
      el("time", { datetime: m.created_at }, clock(m.created_at)),
    );
    item.append(meta, el("div", { class: "text" }, m.text || ""));
    if (m.attachments && m.attachments.length) {
      const list = el("ul", { class: "attachments" });
      for (const a of m.attachments) {
        const href = "/api/files/" + encodeURIComponent(a.storage_key) + "?name=" + encodeURIComponent(a.name);
        const link = el("a", { href, download: "" }, a.name);
        const li = el("li");
        li.append(link);
        list.append(li);
      }
      item.append(list);
    }
    return item;
  }

  function onMessage(payload) {
    const m = payload.message;
    const c = payload.conversation;
    scheduleLists();
    if (history && c.customer_id === customerId) {
      if (!history.querySelector('[data-id="' + m.id + '"]')) {
        history.append(messageNode(m));
        history.lastElementChild.scrollIntoView({ block: "end" });
      }
      if (c.id === openId && m.author === "customer") {
        if (typing) typing.hidden = true;
        if (!document.hidden) post("/api/conversations/" + openId + "/read", { message_id: m.id });
      }
    } else if (m.author === "customer") {
      document.querySelectorAll('.row[data-conversation="' + c.id + '"]').forEach((row) => row.classList.add("unread"));
    }
  }

  function onEdited(payload) {
    const node = history && history.querySelector('[data-id="' + payload.message.id + '"] .text');
    if (node) node.textContent = payload.message.text;
  }

  function onRetracted(payload) {
    const node = history && history.querySelector('[data-id="' + payload.message.id + '"] .meta');
    if (node && !node.querySelector(".withdrawn")) {
      node.append(el("span", { class: "badge warn withdrawn" }, "withdrawn, never sent"));
    }
  }

  let typingTimer = null;
  function onTyping(payload) {
    if (!section || !typing) return;
    const t = payload.thread || {};
    const d = section.dataset;
    if (t.channel !== d.channel || t.account !== d.account || t.thread_key !== d.thread) return;
    typing.hidden = false;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => (typing.hidden = true), TYPING_SHOWN_MS);
  }

  // --- the lists -------------------------------------------------------------------------

  function rowNode(row) {
    const item = el("li", {
      class: "row" + (row.unread ? " unread" : "") + (row.id === openId ? " current" : ""),
      "data-conversation": row.id,
      "data-testid": "row",
    });
    const link = el("a", { href: "/inbox?c=" + row.id });
    const top = el("span", { class: "row-top" });
    top.append(
      el("span", { class: "ref" }, row.reference),
      el("span", { class: "name" }, row.customer_name),
      el("span", { class: "unread-dot", title: "Unread", "aria-label": "unread" }),
      el("span", { class: "badge channel" }, row.channel),
    );
    link.append(top);
    if (row.preview) link.append(el("span", { class: "preview" }, row.preview));
    const meta = el("span", { class: "row-meta" });
    meta.append(el("span", { class: "badge status-" + row.status }, row.status_label));
    if (row.waiting_since) {
      const waited = el("span", {}, "waiting ");
      waited.append(el("time", { "data-since": row.waiting_since }, row.waiting_for));
      meta.append(waited);
    }
    if (row.due) {
      const due = el("span", { class: "due" }, "reply due ");
      due.append(el("time", { "data-due": row.due }, row.due_in));
      meta.append(due);
    }
    if (row.rating) meta.append(el("span", { class: "rating" }, "\u2605 " + row.rating + "/5"));
    link.append(meta);
    item.append(link);
    return item;
  }

  function fill(list, rows) {
    if (!list) return;
    list.replaceChildren(...rows.map(rowNode));
    const empty = list.parentElement.querySelector(".empty");
    if (empty) empty.hidden = rows.length > 0;
  }

  let listsTimer = null;
  function scheduleLists() {
    if (listsTimer) return;
    listsTimer = setTimeout(refreshLists, 150); // one re-read for a burst of events
  }

  async function refreshLists() {
    listsTimer = null;
    try {
      const response = await fetch("/api/inbox/lists", { credentials: "same-origin" });
      if (response.status === 401) return location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
      if (!response.ok) return;
      const body = await response.json();
      fill(document.getElementById("queue-list"), body.queue);
      fill(document.getElementById("mine-list"), body.mine);
      const length = document.getElementById("queue-length");
      if (length) length.textContent = String(body.queue_length);
      if (window.bridgeTick) window.bridgeTick();
    } catch (_) {
      // offline for a moment: the next event or the reconnect refreshes again
    }
  }

  // --- the event stream ------------------------------------------------------------------

  function connect() {
    const source = new EventSource("/api/events?kinds=" + KINDS.join(","));
    const on = (kind, handler) =>
      source.addEventListener(kind, (event) => {
        try {
          handler(JSON.parse(event.data));
        } catch (error) {
          console.error("inbox: could not apply", kind, error);
        }
      });
    on("message.added", onMessage);
    on("message.edited", onEdited);
    on("message.retracted", onRetracted);
    on("customer.typing", onTyping);
    for (const kind of ["conversation.opened", "conversation.reopened", "conversation.updated", "agent.updated", "sla.breached"]) {
      on(kind, scheduleLists);
    }
    source.addEventListener("open", () => {
      document.body.dataset.live = "true";
      scheduleLists(); // catch up on what happened while the stream was down
    });
    source.addEventListener("error", () => delete document.body.dataset.live);
  }
  connect();
})();
