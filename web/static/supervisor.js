/*
 * The supervisor dashboard, live: on queue, agent and SLA events (server-sent events) and every
 * 30 seconds it re-reads /api/supervisor and updates the figures and tables in place; the
 * chart image is fetched again every five minutes. Only textContent is ever set.
 */
(() => {
  "use strict";

  const KINDS = ["conversation.opened", "conversation.reopened", "conversation.updated", "message.added", "agent.updated", "sla.breached"];

  function el(tag, attrs, content) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
    if (content !== undefined && content !== null) node.textContent = String(content);
    return node;
  }

  function cells(values) {
    const row = el("tr");
    for (const value of values) {
      const cell = el("td");
      if (value instanceof Node) cell.append(value);
      else cell.textContent = value === null || value === undefined ? "\u2013" : String(value);
      row.append(cell);
    }
    return row;
  }

  function link(id, text) {
    return el("a", { href: "/inbox?c=" + id }, text);
  }

  function pick(report, path) {
    return path.split(".").reduce((value, key) => (value == null ? value : value[key]), report);
  }

  function apply(report) {
    document.querySelectorAll("[data-stat]").forEach((node) => {
      let value = pick(report, node.dataset.stat);
      if (node.dataset.stat === "promises_kept_percent" && value != null) value += "%";
      node.textContent = value === null || value === undefined ? "\u2013" : String(value);
    });
    const table = (id, rows) => {
      const body = document.getElementById(id);
      if (body) body.replaceChildren(...rows);
    };
    const duration = window.bridgeDuration || ((s) => String(s));
    table("by-team", report.by_team.map((p) => cells([p.team, p.tier, p.length, p.oldest_wait_seconds == null ? null : duration(p.oldest_wait_seconds)])));
    table("by-channel", report.by_channel.map((c) => cells([c.channel, c.length])));
    table("by-tier", report.by_tier.map((t) => cells([t.tier, t.length])));
    table(
      "agents",
      report.agents.map((a) => {
        const meter = el("meter", { min: 0, max: a.capacity, value: a.load });
        const load = el("span");
        load.append(meter, document.createTextNode(" " + a.load + "/" + a.capacity));
        return cells([a.name, el("span", { class: "presence presence-" + a.presence }, a.presence_label), load]);
      }),
    );
    table("csat", report.csat_week.distribution.map((d) => cells(["\u2605".repeat(d.rating), d.count])));
    table("breached", report.breached_now.map((b) => cells([link(b.conversation_id, b.reference), b.customer_name, b.channel, b.kind, b.waiting])));
    table(
      "longest",
      report.longest_waiting.map((w) => cells([link(w.conversation_id, w.reference), w.customer_name, w.preview, w.channel, w.team + " / " + w.tier, w.waiting])),
    );
  }

  let timer = null;
  function schedule() {
    if (!timer) timer = setTimeout(refresh, 500);
  }

  async function refresh() {
    timer = null;
    try {
      const response = await fetch("/api/supervisor", { credentials: "same-origin" });
      if (response.ok) apply(await response.json());
    } catch (_) {
      // the next event or tick tries again
    }
  }

  const source = new EventSource("/api/events?kinds=" + KINDS.join(","));
  for (const kind of KINDS) source.addEventListener(kind, schedule);
  source.addEventListener("open", () => (document.body.dataset.live = "true"));
  setInterval(refresh, 30000);
  setInterval(() => {
    const chart = document.getElementById("chart");
    if (chart) chart.src = "/supervisor/chart.svg?t=" + Date.now();
  }, 300000);
})();
