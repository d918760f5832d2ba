/*
 * Ticking times on the inbox and dashboard: "waiting 3m 05s" and "reply due in 1m 55s"
 * count every second from the ISO times the server rendered (data-since, data-due), and a
 * form marked data-autosubmit sends itself when a select changes (the presence switch).
 * Hand-written, no libraries; only textContent is ever set.
 */
(() => {
  "use strict";

  function duration(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    if (seconds < 60) return seconds + "s";
    let minutes = Math.floor(seconds / 60);
    seconds %= 60;
    if (minutes < 60) return minutes + "m " + String(seconds).padStart(2, "0") + "s";
    let hours = Math.floor(minutes / 60);
    minutes %= 60;
    if (hours < 48) return hours + "h " + String(minutes).padStart(2, "0") + "m";
    return Math.floor(hours / 24) + "d " + (hours % 24) + "h";
  }
  window.bridgeDuration = duration;

  function tick() {
    const now = Date.now();
    document.querySelectorAll("time[data-since]").forEach((node) => {
      const since = Date.parse(node.dataset.since);
      if (!isNaN(since)) node.textContent = duration((now - since) / 1000);
    });
    document.querySelectorAll("time[data-due]").forEach((node) => {
      const due = Date.parse(node.dataset.due);
      if (isNaN(due)) return;
      const left = (due - now) / 1000;
      node.textContent = left >= 0 ? duration(left) : "overdue " + duration(-left);
      const holder = node.closest(".due");
      if (holder) holder.classList.toggle("overdue", left < 0);
    });
  }
  window.bridgeTick = tick;

  document.addEventListener("DOMContentLoaded", () => {
    tick();
    setInterval(tick, 1000);
    document.querySelectorAll("form[data-autosubmit]").forEach((form) => {
      form.addEventListener("change", () => form.requestSubmit());
    });
  });
})();
