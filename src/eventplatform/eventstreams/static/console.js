// What the console's pages share: fetching JSON and showing JSON.
"use strict";

async function getJSON(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response.json();
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  for (const child of children) node.append(child);
  return node;
}

// Pretty JSON as DOM nodes (keys, strings, numbers, booleans coloured); no HTML strings, so nothing to escape.
function renderJSON(value, target) {
  target.textContent = "";
  const text = JSON.stringify(value, null, 2);
  const token = /("(?:\\.|[^"\\])*")(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;
  let last = 0;
  for (const m of text.matchAll(token)) {
    target.append(text.slice(last, m.index));
    const cls = m[1] ? (m[2] ? "k" : "s") : m[3] ? "b" : "n";
    target.append(el("span", { className: cls, textContent: m[1] || m[3] || m[4] }));
    if (m[2]) target.append(m[2]);
    last = m.index + m[0].length;
  }
  target.append(text.slice(last));
}
