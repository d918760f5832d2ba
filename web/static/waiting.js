/*
 * The banner of replies waiting to be delivered (templates/_waiting.html), kept current: it
 * re-reads GET /api/deliveries/waiting every 10 seconds while the page is visible, and at once
 * when the page comes back into view. An outage starts and ends without anyone reloading.
 *
 * Everything from the server goes into the page with textContent or as attribute values.
 */
(() => {
  "use strict";

  const EVERY_MS = 10000;
  const banner = document.getElementById("waiting-deliveries");
  if (!banner) return;
  const headline = banner.querySelector(".waiting-headline");
  const list = banner.querySelector(".waiting-destinations");

  function el(tag, attrs, content) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
    if (content !== undefined && content !== null) node.textContent = String(content);
    return node;
  }

  function apply(body) {
    banner.hidden = !body.total;
    headline.textContent = body.total
      ? body.total + (body.total === 1 ? " reply" : " replies") + " waiting to be delivered"
      : "";
    list.replaceChildren(
      ...body.destinations.map((d) => {
        const item = el("li", { "data-channel": d.channel, "data-testid": "waiting-destination" });
        item.append(el("span", { class: "waiting-summary" }, d.summary), " ");
        for (const id of d.conversation_ids) {
          item.append(el("a", { href: "/inbox?c=" + id, "data-testid": "waiting-conversation" }, "#" + id), " ");
        }
        return item;
      }),
    );
  }

  async function refresh() {
    if (document.hidden) return;
    try {
      const response = await fetch("/api/deliveries/waiting?limit=1", { credentials: "same-origin" });
      if (response.ok) apply(await response.json());
    } catch (_) {
      // offline for a moment: the next round tries again
    }
  }

  setInterval(refresh, EVERY_MS);
  document.addEventListener("visibilitychange", refresh);
})();
