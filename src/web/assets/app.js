// Folds the year bundles' household and building-bound rows under "More".
(function () {
  const table = document.getElementById("year-bundles");
  const more = document.getElementById("year-more");
  if (!table || !more) return;
  table.classList.add("folded");
  more.addEventListener("click", () => {
    const open = table.classList.toggle("folded") === false;
    more.setAttribute("aria-expanded", String(open));
  });
})();

// Keeps the Live block current from /api/v1/live/stream (Server-Sent Events).
(function () {
  const lang = document.documentElement.lang || "nl";
  const fmt = (v, d) => v.toLocaleString(lang === "nl" ? "nl-NL" : "en-GB",
    { minimumFractionDigits: d, maximumFractionDigits: d });
  const set = (id, text) => { const e = document.getElementById(id); if (e) e.textContent = text; };
  if (!document.getElementById("live-pv_w") || !window.EventSource) return;
  const words = lang === "nl" ? { import: "afname", export: "teruglevering" } : { import: "import", export: "export" };
  const source = new EventSource("/api/v1/live/stream");
  source.addEventListener("live", (ev) => {
    const l = JSON.parse(ev.data);
    const w = (v) => (v === null ? "–" : fmt(v, 0) + " W");
    const c = (v) => (v === null ? "–" : fmt(v, 1) + " °C");
    set("live-pv_w", w(l.pv_w));
    set("live-home_w", w(l.home_w));
    set("live-grid_w", w(l.grid_w === null ? null : Math.abs(l.grid_w)));
    set("live-grid_dir", l.grid_w === null ? "" : (l.grid_w < 0 ? words.export : words.import));
    set("live-tank_c", c(l.tank_c));
    set("live-room_c", c(l.room_c));
    document.body.dataset.liveUpdates = String(Number(document.body.dataset.liveUpdates || 0) + 1);
  });
})();
