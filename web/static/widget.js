/*
 * The support bridge's web chat widget. Embed it with one tag:
 *
 *   <script src="https://bridge.example/webchat/widget.js" async></script>
 *
 * Hand-written, no build step, no libraries. It renders a launcher button and a chat panel
 * inside an open shadow root, so the host page's CSS cannot reach in (and ours cannot leak
 * out). The protocol is in DESIGN.md ("Web chat frames"):
 *
 *   POST /webchat/sessions        -> {token, visitor_id, expires_at}
 *   GET  /webchat/ws?token=...    websocket; frames are JSON objects with a "type"
 *
 * Nothing typed by a person is ever parsed as HTML: every text goes in with textContent.
 */
(() => {
  "use strict";

  const WIDGET_PATH = "/webchat/widget.js";
  const TYPING_EVERY_MS = 2000;
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 15000;
  const MAX_TEXT_BYTES = 64 * 1024;
  const STATES = {
    new: "Ask us anything",
    queued: "Waiting for an agent",
    assigned: "An agent is on it",
    pending_customer: "Waiting for your reply",
    resolved: "Resolved. Write again any time",
  };

  // document.currentScript is null when the tag was inserted by another script in some
  // loaders; then find our tag by its path (a query string such as ?v=2 is allowed).
  const script =
    document.currentScript ||
    Array.from(document.getElementsByTagName("script")).find((s) => {
      try {
        return new URL(s.src, location.href).pathname.endsWith(WIDGET_PATH);
      } catch (_) {
        return false;
      }
    });
  if (!script || window.__supportBridgeWidget) return; // embedded twice: keep the first
  window.__supportBridgeWidget = true;

  const scriptUrl = new URL(script.src, location.href);
  // The bridge may live under a path prefix (https://example.com/support/webchat/widget.js).
  const base = scriptUrl.origin + scriptUrl.pathname.slice(0, -WIDGET_PATH.length);
  const wsBase = base.replace(/^http/, "ws");
  const KEY = "support-bridge:" + base; // one session per bridge, even on a shared origin

  // --- storage: localStorage can throw (privacy modes, quotas); then keep state in memory.
  const memory = new Map();
  function load(name, fallback) {
    let raw = memory.get(name);
    try { raw = localStorage.getItem(KEY + ":" + name) ?? raw; } catch (_) {}
    try { return raw ? JSON.parse(raw) : fallback; } catch (_) { return fallback; }
  }
  function save(name, value) {
    const raw = JSON.stringify(value);
    memory.set(name, raw);
    try { localStorage.setItem(KEY + ":" + name, raw); } catch (_) {}
  }

  let session = load("session", null); // {token, visitorId, title}
  let outbox = load("outbox", []); // [{client_msg_id, text}] until the echo arrives
  let lastRead = load("lastRead", 0); // highest message id seen with the panel open
  let ws = null;
  let connected = false;
  let attempt = 0; // reconnect attempts since the last successful open
  let reconnectTimer = null;
  let connecting = false; // a session is being created: don't create a second one
  let lastTypingAt = 0;
  let maxId = 0;
  let status = { state: "new", reference: null };
  const byId = new Map(); // message id -> element: frames are deduplicated by id
  const pending = new Map(); // client_msg_id -> element shown as "sending"
  const retryTimers = new Map(); // client_msg_id -> timer of a scheduled resend

  function zoneName() {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || undefined;
    } catch (_) {
      return undefined;
    }
  }

  // --- the DOM ---------------------------------------------------------------------------

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const title = script.dataset.title || (session && session.title) || "Support";
  const host = el("div", { "data-support-bridge": "" });
  const root = host.attachShadow({ mode: "open" });
  // aria-label and aria-expanded are set by setOpen() below.
  const launcher = el("button", { type: "button", class: "launcher", "data-testid": "launcher" });
  // A speech bubble drawn as SVG: an emoji would depend on the visitor's fonts.
  const SVG = "http://www.w3.org/2000/svg";
  const icon = document.createElementNS(SVG, "svg");
  icon.setAttribute("viewBox", "0 0 24 24");
  icon.setAttribute("width", "26");
  icon.setAttribute("height", "26");
  icon.setAttribute("aria-hidden", "true");
  const iconPath = document.createElementNS(SVG, "path");
  iconPath.setAttribute("fill", "currentColor");
  iconPath.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z");
  icon.append(iconPath);
  launcher.append(icon);
  const panel = el("section", { class: "panel", role: "dialog", "data-testid": "panel" });
  panel.setAttribute("aria-label", title);
  const header = el("header");
  const closeButton = el("button", { type: "button", class: "close", "aria-label": "Close chat" });
  closeButton.textContent = "\u00D7";
  header.append(el("h2", {}, title), closeButton);
  const statusLine = el("div", { class: "status", role: "status", "data-testid": "status" });
  // role=log is a polite live region already; aria-live is repeated for older readers.
  const list = el("div", { class: "messages", role: "log", "data-testid": "messages" });
  list.setAttribute("aria-live", "polite");
  // Shown when the conversation is resolved: 1-5, sent as a "csat" frame.
  const rateBar = el("div", { class: "rate", role: "group", "data-testid": "csat" });
  rateBar.setAttribute("aria-label", "Rate this conversation");
  rateBar.hidden = true;
  const errorLine = el("div", { class: "error", role: "alert" });
  errorLine.hidden = true;
  const form = el("form", { class: "composer" });
  const input = el("textarea", { rows: "2", "aria-label": "Message", "data-testid": "input" });
  input.placeholder = "Write a message\u2026";
  const sendButton = el("button", {
    type: "submit",
    "aria-label": "Send message",
    "data-testid": "send",
  });
  sendButton.textContent = "Send";
  form.append(input, sendButton);
  panel.append(header, statusLine, list, rateBar, errorLine, form);
  root.append(launcher, panel);

  const CSS = `
    :host { all: initial; position: fixed; right: 20px; bottom: 20px; z-index: 2147483000;
      font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328; }
    button { font: inherit; cursor: pointer; }
    .launcher { width: 56px; height: 56px; border: 0; border-radius: 50%; background: #2457d6;
      color: #fff; font-size: 24px; box-shadow: 0 4px 14px rgba(0,0,0,.25); position: relative; }
    .launcher.unread::after { content: ""; position: absolute; top: 6px; right: 6px; width: 12px;
      height: 12px; border-radius: 50%; background: #e5484d; border: 2px solid #fff; }
    .panel { position: absolute; right: 0; bottom: 68px; width: min(360px, calc(100vw - 40px));
      height: min(520px, calc(100vh - 110px)); display: flex; flex-direction: column;
      background: #fff; border-radius: 12px; box-shadow: 0 8px 30px rgba(0,0,0,.25); overflow: hidden; }
    .panel[hidden] { display: none; }
    header { display: flex; align-items: center; justify-content: space-between; padding: 10px 14px;
      background: #2457d6; color: #fff; }
    h2 { margin: 0; font-size: 16px; font-weight: 600; }
    .close { background: none; border: 0; color: #fff; font-size: 22px; line-height: 1; }
    .status { padding: 6px 14px; font-size: 12px; color: #57606a; border-bottom: 1px solid #eaeef2; }
    .messages { flex: 1; overflow-y: auto; padding: 12px; display: flex; flex-direction: column;
      gap: 8px; }
    .msg { max-width: 80%; padding: 8px 10px; border-radius: 10px; white-space: pre-wrap;
      overflow-wrap: anywhere; }
    .msg .meta { font-size: 11px; color: #57606a; margin-bottom: 2px; }
    .customer { align-self: flex-end; background: #dbe6ff; }
    .agent { align-self: flex-start; background: #f1f3f5; }
    .bot { align-self: flex-start; background: #fff4d6; }
    .system { align-self: center; background: none; color: #57606a; font-style: italic;
      font-size: 12px; }
    .sending { opacity: .6; }
    .failed { background: #ffe1e1; }
    .rate { padding: 8px 14px; border-top: 1px solid #eaeef2; display: flex; gap: 6px;
      align-items: center; flex-wrap: wrap; font-size: 13px; }
    .rate[hidden] { display: none; }
    .rate button { border: 1px solid #d0d7de; background: #fff; border-radius: 6px; min-width: 32px;
      padding: 4px 8px; }
    .rate button:hover, .rate button:focus-visible { background: #dbe6ff; }
    .error { padding: 6px 14px; font-size: 12px; color: #b42318; background: #fff1f0; }
    .composer { display: flex; gap: 8px; padding: 10px; border-top: 1px solid #eaeef2; }
    textarea { flex: 1; resize: none; font: inherit; padding: 6px 8px; border: 1px solid #d0d7de;
      border-radius: 8px; }
    .composer button { border: 0; border-radius: 8px; background: #2457d6; color: #fff;
      padding: 0 14px; }
  `;
  // A constructed stylesheet is not inline style as far as the host page's CSP is concerned;
  // older browsers get a <style> element.
  if ("adoptedStyleSheets" in root && window.CSSStyleSheet && "replaceSync" in CSSStyleSheet.prototype) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
  } else {
    root.prepend(el("style", {}, CSS));
  }

  // --- rendering -------------------------------------------------------------------------

  function time(iso) {
    const when = new Date(iso);
    return isNaN(when) ? "" : when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function bubble(author, meta, text) {
    const item = el("div", { class: "msg " + author, "data-testid": "message" });
    item.dataset.author = author;
    item.append(el("div", { class: "meta" }, meta), el("div", { class: "text" }, text));
    return item;
  }

  function scrollDown() {
    list.scrollTop = list.scrollHeight;
  }

  // Messages are kept in id order (live frames can overtake a catch-up); messages still
  // being sent have no id yet and stay at the end.
  function insertInOrder(item, id) {
    const after = Array.from(list.children).find((n) => !n.dataset.id || Number(n.dataset.id) > id);
    list.insertBefore(item, after || null);
  }

  function onMessage(frame) {
    const known = ["customer", "agent", "bot", "system"].includes(frame.author);
    const author = known ? frame.author : "system";
    if (frame.client_msg_id) acknowledge(frame.client_msg_id);
    if (typeof frame.id !== "number" || byId.has(frame.id)) return;
    const who = author === "customer" ? "You" : frame.author_name || "Support";
    const item = bubble(author, who + " \u00B7 " + time(frame.created_at), String(frame.text ?? ""));
    item.dataset.id = String(frame.id);
    insertInOrder(item, frame.id);
    byId.set(frame.id, item);
    maxId = Math.max(maxId, frame.id);
    if (!panel.hidden) markRead();
    else if (author !== "customer" && frame.id > lastRead) launcher.classList.add("unread");
    scrollDown();
  }

  function markRead() {
    launcher.classList.remove("unread");
    if (maxId > lastRead) save("lastRead", (lastRead = maxId));
  }

  function renderStatus() {
    const parts = [STATES[status.state] || String(status.state)];
    if (status.reference) parts.push(String(status.reference));
    if (status.position != null) parts.push("position " + status.position + " in line");
    // The server rounds the estimate up to whole minutes: never show less than it expects.
    if (status.eta_seconds != null) {
      parts.push("reply in about " + Math.max(1, Math.round(status.eta_seconds / 60)) + " min");
    }
    if (status.assignee) parts.push("with " + status.assignee);
    if (!connected && session) parts.push("reconnecting\u2026");
    statusLine.textContent = parts.join(" \u00B7 ");
  }

  // --- rating ----------------------------------------------------------------------------

  function rated(reference) {
    return Boolean(reference) && load("rated:" + reference, false);
  }

  function showRating() {
    const open = status.state === "resolved" && status.csat && !rated(status.reference);
    if (!open) {
      if (!rateBar.dataset.thanks) rateBar.hidden = true;
      return;
    }
    delete rateBar.dataset.thanks;
    const buttons = [1, 2, 3, 4, 5].map((n) => {
      const button = el("button", { type: "button", "data-testid": "csat-" + n }, String(n));
      button.setAttribute("aria-label", n + " out of 5");
      button.addEventListener("click", () => frameOut({ type: "csat", rating: n }));
      return button;
    });
    rateBar.replaceChildren(el("span", {}, "How did we do? 1 (poor) to 5 (great):"), ...buttons);
    rateBar.hidden = false;
  }

  function onRated(frame) {
    if (frame.reference) save("rated:" + frame.reference, true);
    rateBar.dataset.thanks = "true";
    rateBar.replaceChildren(el("span", {}, "Thank you for rating us " + frame.rating + " out of 5!"));
    rateBar.hidden = false;
  }

  function showError(message) {
    errorLine.textContent = message;
    errorLine.hidden = !message;
  }

  // --- sending ---------------------------------------------------------------------------

  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID(); // secure contexts only
    const bytes = new Uint8Array(16);
    if (window.crypto && crypto.getRandomValues) crypto.getRandomValues(bytes);
    else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function frameOut(frame) {
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  function transmit(item) {
    frameOut({ type: "message", text: item.text, client_msg_id: item.client_msg_id });
  }

  function showPending(item) {
    const node = bubble("customer", "Sending\u2026", item.text);
    node.classList.add("sending");
    node.dataset.pending = "true";
    list.append(node);
    pending.set(item.client_msg_id, node);
    scrollDown();
  }

  // The echo (or the ack of a resend) arrived: the message is stored on the server.
  function acknowledge(clientMsgId) {
    const node = pending.get(clientMsgId);
    if (node) node.remove();
    pending.delete(clientMsgId);
    if (retryTimers.has(clientMsgId)) showError(""); // the rate limit or outage has passed
    clearTimeout(retryTimers.get(clientMsgId));
    retryTimers.delete(clientMsgId);
    const kept = outbox.filter((item) => item.client_msg_id !== clientMsgId);
    if (kept.length !== outbox.length) save("outbox", (outbox = kept));
  }

  function submit() {
    const text = input.value;
    if (!text.trim()) return;
    if (new TextEncoder().encode(text).length > MAX_TEXT_BYTES) {
      showError("That message is too long; please shorten it.");
      return;
    }
    const item = { client_msg_id: newId(), text };
    save("outbox", (outbox = outbox.concat(item)));
    showPending(item);
    input.value = "";
    showError("");
    transmit(item); // if the socket is down, the outbox is sent after the next open
    connect();
  }

  function resendLater(clientMsgId, ms) {
    clearTimeout(retryTimers.get(clientMsgId));
    retryTimers.set(
      clientMsgId,
      setTimeout(() => {
        const item = outbox.find((o) => o.client_msg_id === clientMsgId);
        if (item) transmit(item);
      }, ms),
    );
  }

  function onError(frame) {
    const id = frame.client_msg_id;
    showError(frame.message || "Something went wrong.");
    if (!id || !pending.has(id)) return;
    if (frame.reason === "rate_limited") {
      resendLater(id, Math.max(1, Number(frame.retry_after) || 1) * 1000);
    } else if (frame.reason === "temporarily_unavailable" || frame.reason === "unavailable") {
      resendLater(id, 5000);
    } else {
      // Refused for good (too long, empty): resending cannot help.
      const node = pending.get(id);
      node.classList.replace("sending", "failed");
      node.querySelector(".meta").textContent = "Not sent: " + (frame.message || frame.reason);
      pending.delete(id);
      save("outbox", (outbox = outbox.filter((o) => o.client_msg_id !== id)));
    }
  }

  // --- the connection --------------------------------------------------------------------

  async function ensureSession() {
    if (session && session.token) return;
    const response = await fetch(base + "/webchat/sessions", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        language: navigator.language || undefined,
        // So opening hours are told in the visitor's own time.
        timezone: zoneName(),
      }),
    });
    if (!response.ok) throw new Error("session refused: " + response.status);
    const body = await response.json();
    session = { token: body.token, visitorId: body.visitor_id, title: body.title };
    save("session", session);
  }

  // Browsers hide the HTTP status of a refused websocket upgrade, so ask the same URL with a
  // plain GET: 401 means the token is unknown or expired (anything else: the server is busy,
  // restarting or unreachable, and the token is kept).
  async function sessionRejected() {
    try {
      const response = await fetch(base + "/webchat/ws?token=" + encodeURIComponent(session.token));
      return response.status === 401;
    } catch (_) {
      return false;
    }
  }

  function forgetSession() {
    session = null;
    save("session", null);
    // A new visitor is a new thread: the old one's messages are not theirs to resume.
    byId.clear();
    maxId = 0;
    list.querySelectorAll("[data-id]").forEach((n) => n.remove());
  }

  async function connect() {
    if (ws || reconnectTimer || connecting) return; // open, opening, or a retry is scheduled
    connecting = true;
    try {
      await ensureSession();
    } catch (_) {
      scheduleReconnect();
      return;
    } finally {
      connecting = false;
    }
    const socket = new WebSocket(wsBase + "/webchat/ws?token=" + encodeURIComponent(session.token));
    let opened = false;
    ws = socket;
    socket.onopen = () => {
      opened = true;
      connected = true;
      attempt = 0;
      renderStatus();
      // Catch up first; the server handles frames in order. Then resend what was never
      // acknowledged: the server drops repeats of a client_msg_id and acks them again.
      frameOut({ type: "resume", after_id: maxId });
      outbox.forEach(transmit);
    };
    socket.onmessage = (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (_) {
        return;
      }
      if (frame.type === "message") onMessage(frame);
      else if (frame.type === "status") {
        status = frame;
        renderStatus();
        showRating();
      } else if (frame.type === "csat") onRated(frame);
      else if (frame.type === "error") onError(frame);
      else if (frame.type === "resumed" && frame.more) {
        frameOut({ type: "resume", after_id: frame.last_id }); // the catch-up hit its limit
      }
    };
    socket.onclose = async () => {
      if (ws === socket) ws = null;
      connected = false;
      renderStatus();
      // Refused before opening: an expired or unknown token, or a server that is down.
      if (!opened && session && (await sessionRejected())) forgetSession();
      scheduleReconnect();
    };
  }

  // Exponential backoff with jitter: 0.5 s doubling to 15 s, so that a restarted server is
  // not hit by every tab at the same instant.
  function scheduleReconnect() {
    if (reconnectTimer) return;
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempt);
    attempt += 1;
    reconnectTimer = setTimeout(() => {
      reconnectTimer = null;
      connect();
    }, ceiling / 2 + (Math.random() * ceiling) / 2);
  }

  // --- events ----------------------------------------------------------------------------

  function setOpen(open) {
    panel.hidden = !open;
    launcher.setAttribute("aria-expanded", String(open));
    launcher.setAttribute("aria-label", open ? "Close chat" : "Open chat");
    if (!open) return;
    markRead();
    renderStatus();
    input.focus();
    scrollDown();
    connect(); // the first visit creates its session only now, not on every page view
  }

  launcher.addEventListener("click", () => setOpen(panel.hidden));
  closeButton.addEventListener("click", () => {
    setOpen(false);
    launcher.focus();
  });
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      setOpen(false);
      launcher.focus();
    }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
    input.focus();
  });
  input.addEventListener("keydown", (event) => {
    // Enter sends, Shift+Enter is a newline; never send half-composed IME input.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
  input.addEventListener("input", () => {
    const now = Date.now();
    if (!input.value.trim() || now - lastTypingAt < TYPING_EVERY_MS) return;
    if (frameOut({ type: "typing" })) lastTypingAt = now;
  });
  window.addEventListener("online", () => {
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    attempt = 0;
    connect();
  });

  function mount() {
    setOpen(false);
    document.body.append(host);
    outbox.forEach(showPending); // unsent messages from an earlier page survive a reload
    renderStatus();
    if (session) connect(); // a returning visitor gets replies even before opening the panel
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
