// The catalog (/v2/catalog): every configured stream with its settings and schema, its events and
// validation errors per minute over the last hours (plots drawn with uPlot), its last errors, and links.
// Plots are drawn only for the cards on screen, so hundreds of streams stay fast.
"use strict";

const $ = (id) => document.getElementById(id);
const cards = new Map();  // stream -> {card, plotBox, errorsBox, plot}
let rates = { streams: {}, start: 0, step: 60000, points: 0 };

function definition(dl, term, value) {
  if (value === null || value === undefined || value === "" || (Array.isArray(value) && !value.length)) return;
  dl.append(el("dt", { textContent: term }));
  const dd = el("dd");
  if (value instanceof Node) dd.append(value); else dd.textContent = typeof value === "object" ? JSON.stringify(value) : String(value);
  dl.append(dd);
}

function card(s) {
  const box = el("section", { className: "card", id: `stream-${s.name}` });
  box.dataset.stream = s.name;
  const links = el("span", { className: "muted" },
    " ", el("a", { href: `/v2/ui?streams=${encodeURIComponent(s.name)}`, textContent: "watch live" }));
  if (s.schema_title && s.latest_version) {
    links.append(" · ", el("a", { href: `/v2/schema?title=${encodeURIComponent(s.schema_title)}&version=${encodeURIComponent(s.latest_version)}`, textContent: "schema" }));
  }
  box.append(el("h2", {}, s.name, links));
  const grid = el("div", { className: "grid" });
  const dl = el("dl");
  definition(dl, "schema", s.schema_title);
  definition(dl, "latest version", s.latest_version);
  definition(dl, "versions", s.versions.join(", "));
  definition(dl, "alias of", s.alias_of);
  definition(dl, "destination", s.destination);
  definition(dl, "sampling", s.sampling);
  definition(dl, "canary events", s.canary_events_enabled ? "enabled" : "disabled");
  definition(dl, "topics", s.topics.join(", "));
  for (const [k, v] of Object.entries(s.settings)) definition(dl, k, v);
  const right = el("div");
  const plotBox = el("div", { className: "plot" });
  const errorsBox = el("div");
  right.append(plotBox, errorsBox);
  grid.append(dl, right);
  box.append(grid);
  cards.set(s.name, { card: box, plotBox, errorsBox, plot: null, visible: false, errorsShown: -1 });
  return box;
}

function series(name) {
  const r = rates.streams[name] || {};
  const xs = Array.from({ length: rates.points }, (_, i) => (rates.start + i * rates.step) / 1000);
  const zeros = () => new Array(rates.points).fill(0);
  return [xs, r.events || zeros(), r.errors || zeros()];
}

function draw(name) {
  const c = cards.get(name);
  if (!c || !c.visible || !rates.points) return;
  const data = series(name);
  if (c.plot) { c.plot.setData(data); showErrors(name); return; }
  const width = Math.max(300, c.plotBox.clientWidth || 500);
  c.plot = new uPlot({
    width, height: 120,
    series: [{}, { label: "events/min", stroke: "#36c", fill: "rgba(51,102,204,.1)" }, { label: "errors/min", stroke: "#d33" }],
    axes: [{}, { size: 40 }],
    legend: { show: true },
  }, data, c.plotBox);
  c.card.dataset.plotted = "1";
  showErrors(name);
}

async function showErrors(name) {
  const c = cards.get(name);
  const total = ((rates.streams[name] || {}).errors || []).reduce((a, b) => a + b, 0);
  if (total === c.errorsShown) return;
  c.errorsShown = total;
  c.errorsBox.textContent = "";
  if (!total) return;
  const { errors } = await getJSON(`/v2/api/errors/${encodeURIComponent(name)}`);
  const list = el("ul", { className: "errors" });
  for (const e of errors.slice().reverse()) list.append(el("li", { textContent: `${e.dt || ""} ${e.error_type || ""}: ${e.message}` }));
  c.errorsBox.append(el("strong", { textContent: "Last validation errors" }), list);
}

async function refresh() {
  try { rates = await getJSON("/v2/api/rates"); } catch { return; }
  for (const name of cards.keys()) draw(name);
}

async function main() {
  const { streams } = await getJSON("/v2/api/streams");
  const observer = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      const c = cards.get(entry.target.dataset.stream);
      c.visible = entry.isIntersecting;
      if (c.visible) draw(entry.target.dataset.stream);
    }
  });
  const container = $("streams");
  for (const s of streams) { const box = card(s); container.append(box); observer.observe(box); }
  const filter = () => {
    const text = $("filter").value.toLowerCase();
    let shown = 0;
    for (const [name, c] of cards) { const on = name.toLowerCase().includes(text); c.card.hidden = !on; shown += on; }
    $("summary").textContent = `${shown} of ${cards.size} streams; events and validation errors per minute, last hours`;
  };
  $("filter").addEventListener("input", filter);
  filter();
  await refresh();
  setInterval(refresh, 10000);
}

main();
