// The live page (/v2/ui): the reference GUI's features (choose streams, stream/stop, rows, JSON of an event,
// count and rate, a cap with "clear and continue", download, selection in the URL, the event as JSON or YAML)
// plus filters and pause. YAML is js-yaml's dump (vendored, MIT), coloured here line by line.
"use strict";

const CAP = 100;
const state = {
  streams: [], selected: new Set(), source: null, events: [], pending: [], paused: false,
  streamingMs: 0, since: null, rateTimer: null, tab: "json",
};
const $ = (id) => document.getElementById(id);

function readURL() {
  const q = new URLSearchParams(location.search);
  for (const s of (q.get("streams") || "").split(",")) if (s) state.selected.add(s);
  $("match").value = q.get("match") || "";
  $("canary").checked = q.get("canary") === "include";
}

function writeURL() {
  const q = new URLSearchParams();
  if (state.selected.size) q.set("streams", [...state.selected].join(","));
  if ($("match").value.trim()) q.set("match", $("match").value.trim());
  if ($("canary").checked) q.set("canary", "include");
  const query = q.toString().replaceAll("%2C", ",");
  history.replaceState(null, "", query ? `?${query}` : location.pathname);
}

function renderPicker() {
  const filter = $("stream-filter").value.toLowerCase();
  const list = $("stream-list");
  list.textContent = "";
  let shown = 0;
  for (const s of state.streams) {
    if (filter && !s.name.toLowerCase().includes(filter)) continue;
    shown++;
    const box = el("input", { type: "checkbox", checked: state.selected.has(s.name), value: s.name });
    box.addEventListener("change", () => {
      box.checked ? state.selected.add(s.name) : state.selected.delete(s.name);
      writeURL();
      if (state.source) start();  // streaming: follow the new selection
    });
    list.append(el("label", {}, box, " ", s.name));
  }
  $("stream-count").textContent = `${shown} of ${state.streams.length} streams, ${state.selected.size} selected`;
}

function streamURL() {
  const q = new URLSearchParams();
  for (const m of $("match").value.split(/\s+/)) if (m) q.append("match", m);
  if ($("canary").checked) q.set("canary", "include");
  const query = q.toString();
  return `/v2/stream/${[...state.selected].map(encodeURIComponent).join(",")}${query ? "?" + query : ""}`;
}

function start() {
  stop();
  if (!state.selected.size) { $("stream-count").textContent = "Choose at least one stream."; return; }
  const source = new EventSource(streamURL());
  source.addEventListener("message", (e) => receive(e.data));
  source.addEventListener("error", (e) => { if (e.data) showServerError(e.data); });
  state.source = source;
  state.since = Date.now();
  state.rateTimer = setInterval(renderStats, 1000);
  setStatus();
}

function stop() {
  if (state.source) { state.source.close(); state.source = null; }
  if (state.since) { state.streamingMs += Date.now() - state.since; state.since = null; }
  clearInterval(state.rateTimer);
  setStatus();
  renderStats();
}

function receive(data) {
  let event;
  try { event = JSON.parse(data); } catch { return; }
  if (state.paused) { state.pending.push(event); renderStats(); return; }
  add(event);
}

function add(event) {
  if (state.events.length >= CAP) return;
  state.events.push(event);
  const meta = event.meta || {};
  const row = el("tr");
  const when = meta.dt || event.dt || "";
  const cells = [el("td", { textContent: when.replace("T", " ").replace("Z", "") }), el("td", { textContent: meta.stream || meta.topic || "" })];
  if (event.errored_stream_name !== undefined && event.message) {
    cells.push(el("td", { className: "raw error", textContent: `${event.errored_stream_name}: ${event.message}` }));
  } else {
    cells.push(el("td", { className: "raw", textContent: JSON.stringify(event) }));
  }
  row.append(...cells);
  row.addEventListener("click", () => { row.classList.add("read"); showEvent(event); });
  $("events").prepend(row);
  renderStats();
  if (state.events.length >= CAP) { stop(); $("cap").textContent = CAP; $("cap-dialog").showModal(); }
}

function showEvent(event) {
  $("event-title").textContent = `${(event.meta || {}).stream || ""} @${(event.meta || {}).offset ?? ""}`;
  renderJSON(event, $("event-json"));
  renderYAML(event, $("event-yaml"));
  showTab(state.tab);
  $("event-dialog").showModal();
}

function showTab(tab) {
  state.tab = tab;
  for (const name of ["json", "yaml"]) {
    $(`tab-${name}`).setAttribute("aria-selected", String(name === tab));
    $(`event-${name}`).hidden = name !== tab;
  }
}

// YAML of an event, keys and scalars coloured like the JSON view (DOM nodes, nothing to escape).
function renderYAML(value, target) {
  target.textContent = "";
  const text = jsyaml.dump(value, { lineWidth: -1, noRefs: true });
  const keyed = /^((?:"(?:\\.|[^"\\])*"|'(?:''|[^'])*'|[^\s'"#:][^:]*?))(:)(?: (.*))?$/;
  for (const row of text.replace(/\n$/, "").split("\n")) {
    const [, indent, rest] = row.match(/^(\s*(?:- )*)(.*)$/);
    target.append(indent);
    const m = rest.match(keyed);
    if (m) {
      target.append(el("span", { className: "k", textContent: m[1] }), m[2]);
      if (m[3] !== undefined) { target.append(" "); scalarSpan(target, m[3]); }
    } else {
      scalarSpan(target, rest);
    }
    target.append("\n");
  }
}

function scalarSpan(target, text) {
  if (!text) return;
  const cls = /^(true|false|null|~)$/.test(text) ? "b" : /^-?(\d+(\.\d+)?([eE][+-]?\d+)?|\.inf|\.nan)$/.test(text) ? "n" : /^[[{|>]/.test(text) ? "" : "s";
  target.append(cls ? el("span", { className: cls, textContent: text }) : text);
}

function showServerError(data) {
  let message = data;
  try { message = JSON.parse(data).message; } catch { /* as it is */ }
  $("stream-count").textContent = `The server ended the stream: ${message}`;
  stop();
}

function setStatus() {
  const pill = $("status");
  pill.className = "pill" + (state.source ? (state.paused ? " paused" : " on") : "");
  pill.textContent = state.source ? (state.paused ? "Paused" : "Streaming") : "Stopped";
  $("toggle").textContent = state.source ? "Stop" : "Stream";
  $("pause").disabled = !state.source;
  $("pause").textContent = state.paused ? "Resume" : "Pause";
}

function renderStats() {
  const ms = state.streamingMs + (state.since ? Date.now() - state.since : 0);
  const rate = ms > 0 ? (state.events.length / (ms / 1000)).toFixed(1) : "0";
  const pending = state.pending.length ? ` | ${state.pending.length} waiting (paused)` : "";
  $("stats").textContent = `${state.events.length} evts | ${rate} evts/sec${pending}`;
}

function clearEvents() {
  state.events = []; state.pending = []; state.streamingMs = 0;
  if (state.since) state.since = Date.now();
  $("events").textContent = "";
  renderStats();
}

function download() {
  const text = state.events.map((e) => JSON.stringify(e)).join("\n") + "\n";
  const link = el("a", { href: URL.createObjectURL(new Blob([text], { type: "application/x-ndjson" })), download: "eventStreamsUI.txt" });
  document.body.append(link);
  link.click();
  link.remove();
}

async function main() {
  readURL();
  $("toggle").addEventListener("click", () => (state.source ? stop() : start()));
  $("pause").addEventListener("click", () => {
    state.paused = !state.paused;
    if (!state.paused) { const held = state.pending; state.pending = []; held.forEach(add); }
    setStatus(); renderStats();
  });
  $("clear").addEventListener("click", clearEvents);
  $("download").addEventListener("click", download);
  $("stream-filter").addEventListener("input", renderPicker);
  for (const id of ["match", "canary"]) $(id).addEventListener("change", () => { writeURL(); if (state.source) start(); });
  $("close-event").addEventListener("click", () => $("event-dialog").close());
  $("copy").addEventListener("click", () => navigator.clipboard?.writeText($(`event-${state.tab}`).textContent));
  for (const name of ["json", "yaml"]) $(`tab-${name}`).addEventListener("click", () => showTab(name));
  $("got-it").addEventListener("click", () => $("cap-dialog").close());
  $("clear-continue").addEventListener("click", () => { $("cap-dialog").close(); clearEvents(); start(); });
  state.streams = (await getJSON("/v2/api/streams")).streams;
  renderPicker();
  setStatus();
  if (state.selected.size && new URLSearchParams(location.search).get("autostart") !== "0") start();
}

main();
