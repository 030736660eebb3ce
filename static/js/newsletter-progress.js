// Admin → Newsletter: while a send runs, ask for its counts every few seconds and update the
// page in place. Without this script the page shows the counts of when it was loaded.
(function () {
  const list = document.getElementById("newsletter-sends");
  if (!list) return;
  const items = () => Array.from(list.querySelectorAll("li[data-send]"));
  const running = () => items().filter((item) => item.dataset.status === "sending");

  async function refresh() {
    const ids = running().map((item) => item.dataset.send);
    if (!ids.length) return;
    const query = ids.map((id) => "id=" + encodeURIComponent(id)).join("&");
    try {
      const answer = await fetch(list.dataset.progress + "?" + query, {credentials: "same-origin"});
      if (!answer.ok) throw new Error(answer.status);
      const found = await answer.json();
      for (const item of items()) {
        const counts = found[item.dataset.send];
        if (!counts) continue;
        item.dataset.status = counts.status;
        item.querySelector(".send-status").textContent = counts.status;
        item.querySelector('[data-count="sent"]').textContent = counts.sent;
        item.querySelector('[data-count="queued"]').textContent = counts.queued + counts.sending;
        item.querySelector('[data-count="failed"]').textContent = counts.failed;
        item.querySelector('[data-count="bounced"]').textContent = counts.bounced;
        item.querySelector('[data-count="handed_over"]').textContent = counts.handed_over;
        item.querySelector("[data-unheard]").hidden = !counts.handed_over || counts.status === "sending";
        const done = counts.sent + counts.handed_over + counts.bounced + counts.failed + counts.cancelled;
        item.querySelector("progress").value = done;
      }
    } catch (error) {
      // A missed refresh is tried again at the next tick.
    }
    if (running().length) window.setTimeout(refresh, 2000);
  }
  window.setTimeout(refresh, 2000);
})();
