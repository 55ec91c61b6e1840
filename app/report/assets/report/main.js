/* Wiring: clicks and keys to state, then the first render. */
rows.addEventListener("click", (event) => {
  if (event.target.closest("a, summary")) return;
  const tr = event.target.closest("tr[data-index]");
  if (tr) openCase(Number(tr.dataset.index), tr.querySelector("button"));
});
rows.addEventListener("keydown", (event) => {
  const button = event.target.closest("button.case-open");
  if (!button || !["ArrowDown", "ArrowUp", "Home", "End"].includes(event.key)) return;
  event.preventDefault();
  let index = Number(button.dataset.index);
  if (event.key === "ArrowDown") index += 1;
  if (event.key === "ArrowUp") index -= 1;
  if (event.key === "Home") index = 0;
  if (event.key === "End") index = filtered.length - 1;
  index = Math.max(0, Math.min(filtered.length - 1, index));
  while (index >= shown) renderMore();
  const next = rows.querySelector(`button[data-index="${index}"]`);
  if (next) { next.focus(); next.scrollIntoView({ block: "nearest" }); }
});
more.addEventListener("click", () => {
  const first = shown;
  renderMore();
  const next = rows.querySelector(`button[data-index="${first}"]`);
  if (next) next.focus();
});
if ("IntersectionObserver" in window) {
  new IntersectionObserver(
    (entries) => { if (entries.some((e) => e.isIntersecting) && shown < filtered.length) renderMore(); },
    { rootMargin: "800px 0px" },
  ).observe($("more-sentinel"));
}

for (const cell of document.querySelectorAll("[data-label]")) {
  cell.addEventListener("click", () => {
    state.label = state.label === cell.dataset.label ? "" : cell.dataset.label;
    apply();
    showCases();
  });
}
for (const button of document.querySelectorAll("[data-filter]")) {
  button.addEventListener("click", () => {
    const [key, value] = button.dataset.filter.split("=");
    state[key] = value;
    apply();
    showCases();
  });
}
$("f-label").addEventListener("change", (e) => { state.label = e.target.value; apply(); });
$("f-tag").addEventListener("change", (e) => { state.tag = e.target.value; apply(); });
$("f-facts").addEventListener("change", (e) => { state.facts = e.target.value; apply(); });
for (const select of document.querySelectorAll("select[data-arm]")) {
  select.addEventListener("change", () => { state.arms[select.dataset.arm] = select.value; apply(); });
}
let typingTimer = 0;
search.addEventListener("input", () => {
  clearTimeout(typingTimer);
  typingTimer = setTimeout(() => { state.q = search.value.trim().toLowerCase(); apply(); }, 120);
});
$("reset").addEventListener("click", () => {
  Object.assign(state, { label: "", tag: "", facts: "", retrieval: "", q: "", arms: {} });
  search.value = "";
  for (const select of document.querySelectorAll("select[data-arm]")) select.value = "";
  apply();
});
for (const button of document.querySelectorAll("#case-table th button[data-sort]")) {
  button.addEventListener("click", () => {
    const key = button.dataset.sort;
    state.dir = state.sort === key ? -state.dir : DEFAULT_DIR[key] || 1;
    state.sort = key;
    apply();
  });
}
$("sort").addEventListener("change", (e) => {
  state.sort = e.target.value;
  state.dir = DEFAULT_DIR[state.sort] || 1;
  apply();
});
document.addEventListener("keydown", (event) => {
  if (event.key !== "/" || dialog.open || event.target.closest("input, select, textarea")) return;
  event.preventDefault();
  search.focus();
});

$("download-json").addEventListener("click", () => {
  const evidence = cases.map((c) => ({
    case_id: c.id,
    label: c.label,
    confidence: c.confidence,
    facts_cover_answer: c.facts_cover_answer,
    facts_sufficient: c.facts_sufficient,
    facts_reason: c.facts_reason,
    retrieved: c.retrieved ? { recall: c.retrieved.recall, passages: c.retrieved.passages.map(([id]) => id) } : null,
    arms: Object.fromEntries(
      Object.entries(c.arms).map(([key, arm]) => [
        key,
        {
          passes: arm.passes,
          samples: arm.samples,
          answers: arm.calls.map((call) => (call.answer === null ? null : joined(call.answer))),
          grades: arm.calls.map((call) => call.grade),
          errors: arm.calls.map((call) => call.error || null),
          cached: arm.calls.map((call) => Boolean(call.cached)),
          cost_usd: arm.cost_usd,
        },
      ]),
    ),
  }));
  const blob = new Blob([JSON.stringify({ ...data.run, cases: evidence }, null, 2)], { type: "application/json" });
  const link = h("a", { href: URL.createObjectURL(blob), download: `rung-run-${data.run.id}.json` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
});
if (location.protocol === "http:" || location.protocol === "https:") $("api-link").hidden = false;

apply();
const wanted = /^#case=(.+)$/.exec(location.hash);
if (wanted) {
  const index = filtered.findIndex((c) => c.id === decodeURIComponent(wanted[1]));
  if (index >= 0) openCase(index);
}
performance.mark("rung:ready");
document.body.dataset.ready = "true";
