/* The case table: filter, sort, and render rows in chunks as the table scrolls, so 5,000
   cases stay responsive. */
function haystack(c) {
  const parts = [c.id, c.input, c.label, ...c.tags];
  for (const arm of Object.values(c.arms)) {
    for (const call of arm.calls) {
      parts.push(joined(call.answer), call.grade ? call.grade.reason : "", call.error || "");
    }
  }
  return parts.join("\n").toLowerCase();
}

function matches(c, i) {
  if (state.label && c.label !== state.label) return false;
  if (state.tag && !c.tags.includes(state.tag)) return false;
  if (state.facts === "missing" && c.facts_cover_answer !== false) return false;
  if (state.facts === "insufficient" && c.facts_sufficient !== false) return false;
  if (state.retrieval && !(c.retrieved && c.retrieved.outcome === state.retrieval)) return false;
  for (const [arm, want] of Object.entries(state.arms)) {
    if (!want) continue;
    const got = c.arms[arm] ? c.arms[arm].result : "none";
    if (got !== want) return false;
  }
  if (state.q) {
    haystacks = haystacks || cases.map(haystack);
    if (!haystacks[i].includes(state.q)) return false;
  }
  return true;
}

function sortKey(c) {
  if (state.sort === "label") return LABEL_ORDER[c.label];
  if (state.sort === "confidence") return c.confidence;
  if (state.sort === "cost") return c.cost_usd === null ? -1 : c.cost_usd;
  if (state.sort.startsWith("arm:")) {
    const arm = c.arms[state.sort.slice(4)];
    return arm && arm.samples ? arm.passes / arm.samples : -1;
  }
  return c.position;
}

function row(c, index) {
  const tr = h(
    "tr",
    { "data-index": index },
    h(
      "td",
      { class: "col-case" },
      h("button", { type: "button", class: "case-open", "data-index": index }, c.id),
      h("span", { class: "snippet" }, c.input),
    ),
    h("td", { class: "col-tags", "data-title": "Tags" }, c.tags.map((t) => h("span", { class: "tag" }, t))),
    h("td", { "data-title": "Label" }, chip(c.label)),
    h("td", { "data-title": "Confidence" }, pct(c.confidence)),
    arms.map(([key, title]) => h("td", { class: "num", "data-title": title }, armCell(c.arms[key]))),
    h("td", { class: "num", "data-title": "Cost" }, money(c.cost_usd)),
  );
  return tr;
}

function renderMore() {
  const end = Math.min(filtered.length, shown + CHUNK);
  const frag = document.createDocumentFragment();
  for (let i = shown; i < end; i++) frag.append(row(filtered[i], i));
  rows.append(frag);
  shown = end;
  more.hidden = shown >= filtered.length;
  more.textContent = `Show more cases (${filtered.length - shown} left)`;
}

function describeFilters() {
  const bits = [];
  if (state.label) bits.push(`label ${LABEL_TITLES[state.label]}`);
  if (state.tag) bits.push(`tag ${state.tag}`);
  if (state.facts) bits.push(state.facts === "missing" ? "facts miss the answer" : "facts insufficient");
  if (state.retrieval) bits.push(RETRIEVAL_WORDS[state.retrieval]);
  for (const [key, title] of arms) if (state.arms[key]) bits.push(`${title} ${RESULT_WORDS[state.arms[key]]}`);
  if (state.q) bits.push(`“${state.q}”`);
  return bits.length ? ` · ${bits.join(", ")}` : "";
}

function apply() {
  filtered = cases.filter(matches);
  const dir = state.dir;
  filtered = filtered
    .map((c) => [sortKey(c), c])
    .sort((a, b) => (a[0] < b[0] ? -dir : a[0] > b[0] ? dir : a[1].position - b[1].position))
    .map((pair) => pair[1]);
  rows.replaceChildren();
  shown = 0;
  renderMore();
  noMatch.hidden = filtered.length > 0;
  countLine.textContent = `${filtered.length} of ${cases.length} cases${describeFilters()}`;
  for (const cell of document.querySelectorAll("[data-label]")) {
    cell.setAttribute("aria-pressed", String(cell.dataset.label === state.label));
  }
  $("sort").value = state.sort;
  $("f-label").value = state.label;
  $("f-facts").value = state.facts;
  $("f-tag").value = state.tag;
  for (const th of document.querySelectorAll("#case-table th")) {
    const button = th.querySelector("button[data-sort]");
    if (!button) continue;
    if (button.dataset.sort === state.sort) th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
    else th.removeAttribute("aria-sort");
  }
}

function showCases() {
  const top = section.getBoundingClientRect().top;
  if (top > window.innerHeight * 0.6 || top < 0) section.scrollIntoView({ block: "start" });
}
