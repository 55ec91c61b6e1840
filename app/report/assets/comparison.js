/* The comparison report's case table: filter by change and arm, search, render in chunks,
   and open a case onto both runs' answers. Every string from the data goes in as text. */
const data = JSON.parse(document.getElementById("rung-data").textContent);
const view = data.comparison;
const cases = data.cases;
const arms = data.arms;
const CHUNK = 200;
const ARM_TITLES = data.arm_titles; // the Python side's titles, one source
const CHANGE_WORDS = { regressed: "regressed", fixed: "fixed", both_fail: "both fail", both_pass: "both pass" };
const CHANGE_ICONS = { regressed: "✓ → ✗", fixed: "✗ → ✓", both_fail: "✗ → ✗", both_pass: "✓ → ✓" };
const LABELS = {
  no_gap: "no gap", knowledge: "knowledge", behavior: "behavior",
  distraction: "distraction", inconclusive: "inconclusive", error: "error",
};

const $ = (id) => document.getElementById(id);
const rows = $("case-rows");
const more = $("more");
const search = $("q");
const state = { change: "", arm: "", q: "" };
let filtered = cases;
let shown = 0;
const open = new Set();


const label = (value) => (value ? h("span", { class: `chip chip-${value}` }, LABELS[value] || value) : h("span", { class: "muted" }, "–"));

function changeCell(change) {
  if (!change) return h("span", { class: "muted" }, "not paired");
  return h(
    "span",
    { class: "change" },
    h("span", { class: "res", "aria-hidden": "true" }, CHANGE_ICONS[change]),
    h("span", { class: `chip chip-${change}` }, CHANGE_WORDS[change]),
  );
}

function matches(c) {
  if (state.change) {
    const on = state.arm ? [state.arm] : arms;
    if (!on.some((arm) => c.changes[arm] === state.change)) return false;
  } else if (state.arm && !c.changes[state.arm]) return false;
  if (state.q) {
    c.haystack = c.haystack || [c.id, c.input, ...c.tags, ...Object.values(c.answers).flat().filter(Boolean)].join("\n").toLowerCase();
    if (!c.haystack.includes(state.q)) return false;
  }
  return true;
}

function runLink(runId, caseId, words) {
  if (location.protocol !== "http:" && location.protocol !== "https:") return null;
  return h("a", { href: `/v1/runs/${encodeURIComponent(runId)}/report#case=${encodeURIComponent(caseId)}` }, words);
}

function detail(c) {
  const blocks = arms.map((arm) => {
    const [base, cand] = c.answers[arm] || [null, null];
    if (base === null && cand === null) return null;
    const side = (who, answer) =>
      h("div", {}, h("h4", {}, who), answer === null ? h("p", { class: "muted small" }, "no answer") : h("pre", { class: "text answer" }, answer));
    return [
      h("p", { class: "block-title" }, `${ARM_TITLES[arm]}: `, changeCell(c.changes[arm])),
      h("div", { class: "pair" }, side(`Baseline · ${view.baseline.model}`, base), side(`Candidate · ${view.candidate.model}`, cand)),
    ];
  });
  return h(
    "tr",
    { class: "cmp-detail", id: `detail-${c.position}` },
    h(
      "td",
      { colspan: arms.length + 2 },
      h("p", { class: "block-title" }, "Input"),
      h("pre", { class: "text" }, c.input),
      blocks,
      h("p", { class: "muted small" }, "First sample of each arm; every sample, grade and message is in each run's report."),
      h(
        "p",
        { class: "run-links" },
        runLink(view.baseline_run_id, c.id, "This case in the baseline's report"),
        runLink(view.candidate_run_id, c.id, "This case in the candidate's report"),
      ),
    ),
  );
}

function row(c) {
  const expanded = open.has(c.position);
  const tr = h(
    "tr",
    { "data-position": c.position },
    h(
      "td",
      { class: "col-case" },
      h("button", { type: "button", class: "case-open", "aria-expanded": String(expanded), "aria-controls": `detail-${c.position}` }, c.id),
      h("span", { class: "snippet" }, c.input),
    ),
    arms.map((arm) => h("td", { "data-title": ARM_TITLES[arm] }, changeCell(c.changes[arm]))),
    h("td", { "data-title": "Label" }, label(c.labels[0]), " → ", label(c.labels[1])),
  );
  return expanded ? [tr, detail(c)] : [tr];
}

function renderMore() {
  const end = Math.min(filtered.length, shown + CHUNK);
  const frag = document.createDocumentFragment();
  for (let i = shown; i < end; i++) frag.append(...row(filtered[i]));
  rows.append(frag);
  shown = end;
  more.hidden = shown >= filtered.length;
  more.textContent = `Show more cases (${filtered.length - shown} left)`;
}

function apply() {
  filtered = cases.filter(matches).sort((a, b) => a.rank - b.rank || a.position - b.position);
  rows.replaceChildren();
  shown = 0;
  renderMore();
  $("no-match").hidden = filtered.length > 0;
  const bits = [];
  if (state.change) bits.push(CHANGE_WORDS[state.change]);
  if (state.arm) bits.push(`on ${ARM_TITLES[state.arm]}`);
  if (state.q) bits.push(`“${state.q}”`);
  $("case-count").textContent = `${filtered.length} of ${cases.length} cases${bits.length ? ` · ${bits.join(" ")}` : ""}`;
  $("f-change").value = state.change;
  $("f-arm").value = state.arm;
  for (const cell of document.querySelectorAll("button[data-change]")) {
    const on = cell.dataset.change === state.change && cell.dataset.arm === state.arm;
    cell.setAttribute("aria-pressed", String(on));
  }
}

rows.addEventListener("click", (event) => {
  if (event.target.closest("a, .cmp-detail")) return;
  const tr = event.target.closest("tr[data-position]");
  if (!tr) return;
  const position = Number(tr.dataset.position);
  const c = cases.find((x) => x.position === position);
  const button = tr.querySelector("button.case-open");
  if (open.has(position)) {
    open.delete(position);
    const next = tr.nextElementSibling;
    if (next && next.classList.contains("cmp-detail")) next.remove();
    button.setAttribute("aria-expanded", "false");
  } else {
    open.add(position);
    tr.after(detail(c));
    button.setAttribute("aria-expanded", "true");
  }
  button.focus();
});
for (const cell of document.querySelectorAll("button[data-change]")) {
  cell.addEventListener("click", () => {
    const same = state.change === cell.dataset.change && state.arm === cell.dataset.arm;
    state.change = same ? "" : cell.dataset.change;
    state.arm = same ? "" : cell.dataset.arm;
    apply();
    const section = $("cases");
    if (section.getBoundingClientRect().top > window.innerHeight * 0.6) section.scrollIntoView({ block: "start" });
  });
}
$("f-change").addEventListener("change", (e) => { state.change = e.target.value; apply(); });
$("f-arm").addEventListener("change", (e) => { state.arm = e.target.value; apply(); });
let typing = 0;
search.addEventListener("input", () => {
  clearTimeout(typing);
  typing = setTimeout(() => { state.q = search.value.trim().toLowerCase(); apply(); }, 120);
});
$("reset").addEventListener("click", () => {
  Object.assign(state, { change: "", arm: "", q: "" });
  search.value = "";
  apply();
});
more.addEventListener("click", renderMore);

apply();
document.body.dataset.ready = "true";
