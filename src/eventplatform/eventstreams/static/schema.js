// One schema version (/v2/schema?title=…&version=…): its examples first, then the materialized schema.
"use strict";

async function main() {
  const q = new URLSearchParams(location.search);
  const title = q.get("title") || "", version = q.get("version") || "";
  document.getElementById("title").textContent = `/${title}/${version}`;
  const schema = await getJSON(`/v2/api/schema/${title.split("/").map(encodeURIComponent).join("/")}/${encodeURIComponent(version)}`);
  const examples = document.getElementById("examples");
  if (Array.isArray(schema.examples) && schema.examples.length) {
    examples.textContent = "";
    examples.className = "";
    for (const example of schema.examples) { const pre = el("pre", { className: "json" }); renderJSON(example, pre); examples.append(pre); }
  }
  renderJSON(schema, document.getElementById("schema"));
}

main();
