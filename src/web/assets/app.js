// The pages are whole without this script; it only makes them quicker to use:
// the year bundles' "More", the Live block kept current, and period changes
// without a reload.

// Folds the year bundles' household and building-bound under "More" (both the
// wide table and the one with months as rows).
function foldYearBundles() {
  const more = document.getElementById("year-more");
  const tables = document.querySelectorAll(".year-bundles");
  if (!more || tables.length === 0) return;
  tables.forEach((t) => t.classList.add("folded"));
  more.setAttribute("aria-expanded", "false");
  more.hidden = false;
  more.addEventListener("click", () => {
    const open = more.getAttribute("aria-expanded") !== "true";
    tables.forEach((t) => t.classList.toggle("folded", !open));
    more.setAttribute("aria-expanded", String(open));
  });
}
foldYearBundles();

// Keeps the Live block current from /api/v1/live/stream (Server-Sent Events). The
// stream is closed when the page is left (so a page kept in the back/forward cache
// holds no connection) and opened again when it is shown.
(function () {
  const lang = document.documentElement.lang || "nl";
  const locale = lang === "nl" ? "nl-NL" : "en-GB";
  const fmt = (v, d) => v.toLocaleString(locale, { minimumFractionDigits: d, maximumFractionDigits: d });
  // Only a real change is written, so a screen reader hears "updated at" once a minute.
  const set = (id, text) => { const e = document.getElementById(id); if (e && e.textContent !== text) e.textContent = text; };
  const clock = () => new Date().toLocaleTimeString(locale,
    { hour: "2-digit", minute: "2-digit", timeZone: "Europe/Amsterdam" });
  let source = null;

  // "updated at 14:03", or "connection lost" while the stream is down.
  function state(ok) {
    const live = document.querySelector("section.live");
    if (!live) return;
    live.dataset.state = ok ? "ok" : "lost";
    set("live-state", ok ? live.dataset.updated + " " + clock() : live.dataset.lost);
  }

  function show(ev) {
    const l = JSON.parse(ev.data);
    const live = document.querySelector("section.live");
    if (!live) return;
    const w = (v) => (v === null ? "–" : fmt(v, 0) + " W");
    const c = (v) => (v === null ? "–" : fmt(v, 1) + " °C");
    set("live-pv_w", w(l.pv_w));
    set("live-home_w", w(l.home_w));
    set("live-grid_w", w(l.grid_w === null ? null : Math.abs(l.grid_w)));
    set("live-grid_dir", l.grid_w === null ? "" : (l.grid_w < 0 ? live.dataset.export : live.dataset.import));
    set("live-tank_c", c(l.tank_c));
    set("live-room_c", c(l.room_c));
    state(true);
    document.body.dataset.liveUpdates = String(Number(document.body.dataset.liveUpdates || 0) + 1);
  }

  function open() {
    if (source || !document.getElementById("live-pv_w") || !window.EventSource) return;
    source = new EventSource("/api/v1/live/stream");
    source.addEventListener("live", show);
    source.addEventListener("open", () => state(true));
    source.addEventListener("error", () => state(false));
  }

  function close() {
    if (source) source.close();
    source = null;
  }

  window.addEventListener("pagehide", close);
  window.addEventListener("pageshow", open);
  open();
})();

// Period changes (month/year, ‹ ›, a graph's bundle) fetch the page and swap its
// <main> in place: no reload, no jump to the top. The address changes with them, so
// back, forward and a bookmark give the same page. The Live block stays as it is.
(function () {
  if (!window.fetch || !window.history.pushState || !window.DOMParser) return;
  const links = "main nav.toggle a, main nav.steps a";

  // `anchor`: the selector of what was clicked's bar; it stays where it was on the
  // screen, under the finger, whatever changed in height above it.
  async function go(href, push, anchor) {
    const before = anchor && document.querySelector(anchor);
    const top = before ? before.getBoundingClientRect().top : null;
    const y = window.scrollY;
    let page;
    try {
      const res = await fetch(href, { credentials: "same-origin", headers: { Accept: "text/html" } });
      // A login page after a session ran out, or an error: the browser shows it whole.
      if (!res.ok || res.redirected) throw new Error(String(res.status));
      page = new DOMParser().parseFromString(await res.text(), "text/html");
    } catch (e) {
      window.location.assign(href);
      return;
    }
    const main = page.querySelector("main");
    if (!main) { window.location.assign(href); return; }
    const live = document.querySelector("main section.live");
    const fresh = main.querySelector("section.live");
    if (live && fresh) fresh.replaceWith(live);
    document.querySelector("main").replaceWith(main);
    const after = anchor && document.querySelector(anchor);
    if (after && top !== null) window.scrollBy(0, after.getBoundingClientRect().top - top);
    else window.scrollTo(0, y);
    document.title = page.title;
    const lang = page.getElementById("lang");
    if (lang) document.getElementById("lang").setAttribute("href", lang.getAttribute("href"));
    if (push) window.history.pushState({ nomhub: true }, "", href);
    document.body.dataset.swaps = String(Number(document.body.dataset.swaps || 0) + 1);
  }

  document.addEventListener("click", (ev) => {
    const a = ev.target.closest(links);
    if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    ev.preventDefault();
    go(a.href, true, a.closest("nav.steps") ? "main nav.steps" : "main nav.toggle");
  });
  // The first entry gets a state too, so going back to it is swapped in as well.
  window.history.replaceState({ nomhub: true }, "");
  window.addEventListener("popstate", (ev) => {
    if (ev.state && ev.state.nomhub) go(window.location.href, false);
  });
})();
