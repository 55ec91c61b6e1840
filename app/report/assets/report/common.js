/* The report's data, the page's elements, shared state, and small builders.
   Every string from the data goes in as text (text nodes), never as markup: answers are
   untrusted. */
performance.mark("rung:start");
const data = JSON.parse(document.getElementById("rung-data").textContent);
performance.mark("rung:parsed");
const cases = data.cases;
const arms = data.arms;
const text = (index) => (index === null || index === undefined ? "" : data.strings[index]);
for (const c of cases) c.input = text(c.input); // the table shows every input
const CHUNK = 100;
const LABEL_TITLES = {
  no_gap: "no gap", knowledge: "knowledge", behavior: "behavior",
  distraction: "distraction", inconclusive: "inconclusive", error: "error",
};
const LABEL_ORDER = { behavior: 0, knowledge: 1, distraction: 2, inconclusive: 3, error: 4, no_gap: 5 };
const RESULT_WORDS = { pass: "passed", fail: "failed", mixed: "mixed", none: "not scored" };
const RESULT_ICONS = { pass: "✓", fail: "✗", mixed: "◐", none: "–" };
const RETRIEVAL_WORDS = { not_retrieved: "facts not retrieved", misread: "retrieved, but misread" };
const DEFAULT_DIR = { position: 1, label: 1, confidence: 1, cost: -1 };

const $ = (id) => document.getElementById(id);
const rows = $("case-rows");
const countLine = $("case-count");
const more = $("more");
const noMatch = $("no-match");
const dialog = $("case-dialog");
const dlgBody = $("dlg-body");
const dlgTitle = $("dlg-title");
const search = $("q");
const section = $("cases");

const state = { label: "", tag: "", facts: "", retrieval: "", q: "", arms: {}, sort: "position", dir: 1 };
let shown = 0;
let filtered = cases;
let current = -1;
let opener = null;
let haystacks = null;

const pct = (x) => (x === null || x === undefined ? "n/a" : `${Math.round(100 * x)}%`);
const money = (x) => (x === null || x === undefined ? "unknown" : `$${x.toFixed(4)}`);
const chip = (label) => h("span", { class: `chip chip-${label}` }, LABEL_TITLES[label] || label);
// Alternating unmarked / marked pieces, as the report's builder cut them.
const marked = (pieces) => pieces.map((piece, i) => (i % 2 ? h("mark", {}, piece) : piece));
const joined = (pieces) => (pieces ? pieces.join("") : "");

function armCell(arm) {
  if (!arm) return h("span", { class: "res res-none" }, "–");
  return h(
    "span",
    { class: `res res-${arm.result}`, title: RESULT_WORDS[arm.result] },
    `${RESULT_ICONS[arm.result]} ${arm.passes}/${arm.samples}`,
    h("span", { class: "visually-hidden" }, ` ${RESULT_WORDS[arm.result]}`),
  );
}
