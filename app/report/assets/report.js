/* The run report's case table and drill-down, drawn from the JSON in #rung-data.
   Every string from the data goes in as text (textContent / text nodes), never as markup:
   answers are untrusted. Rows render in chunks as the table scrolls, so 5,000 cases stay
   responsive. */
(() => {
  "use strict";
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

  const state = { label: "", tag: "", facts: "", q: "", arms: {}, sort: "position", dir: 1 };
  let shown = 0;
  let filtered = cases;
  let current = -1;
  let opener = null;
  let haystacks = null;

  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
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
    if (state.facts) bits.push("facts miss the answer");
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

  // --- the drill-down ------------------------------------------------------------------------

  function sample(call, index) {
    const grade = call.grade;
    const line = [h("strong", {}, `Sample ${index + 1}`)];
    if (grade) {
      const result = grade.kind === "unscored" ? "none" : grade.passed ? "pass" : "fail";
      line.push(h("span", { class: `res res-${result}` }, `${RESULT_ICONS[result]} ${RESULT_WORDS[result]}`));
      line.push(h("span", { class: "muted" }, `score ${Number(grade.score).toFixed(2)}`));
      if (grade.kind) line.push(h("span", { class: "kind" }, grade.kind));
    } else {
      line.push(h("span", { class: "res res-none" }, "not graded"));
    }
    if (call.cached) line.push(h("span", { class: "muted" }, "from the cache"));
    return h(
      "div",
      { class: "sample" },
      h("div", { class: "sample-line" }, line),
      call.answer === null
        ? h("p", { class: "muted small" }, "no answer")
        : h("pre", { class: "text answer" }, marked(call.answer)),
      grade && grade.reason ? h("p", { class: "reason-text" }, `Grade: ${grade.reason}`) : null,
      call.error ? h("p", { class: "error-text" }, call.error) : null,
    );
  }

  function armPanel(c, key, title) {
    const arm = c.arms[key];
    if (!arm) return null;
    const messages = c.messages[key] || [];
    return h(
      "section",
      { class: "arm", "aria-label": title },
      h(
        "div",
        { class: "arm-head" },
        h("h3", {}, title),
        h("span", {}, armCell(arm), h("span", { class: "muted small" }, ` · ${money(arm.cost_usd)}`)),
      ),
      arm.calls.map(sample),
      messages.length
        ? h(
            "details",
            {},
            h("summary", {}, `Messages sent (${messages.length})`),
            messages.map(([role, content]) => [h("div", { class: "msg-role" }, role), h("pre", { class: "text" }, text(content))]),
          )
        : null,
    );
  }

  function fill(c) {
    dlgTitle.textContent = c.id;
    const meta = [chip(c.label), h("span", {}, `confidence ${pct(c.confidence)}`)];
    for (const tag of c.tags) meta.push(h("span", { class: "tag" }, tag));
    meta.push(h("span", { class: "muted" }, `case ${filtered.indexOf(c) + 1} of ${filtered.length} shown`));
    const parts = [
      h("div", { class: "case-meta" }, meta),
      h("p", { class: "block-title" }, "Input"),
      h("pre", { class: "text" }, c.input),
      h("p", { class: "block-title" }, "Expected"),
      h("p", {}, `The answer ${c.expected}`),
      c.expected_detail !== null
        ? h("details", {}, h("summary", {}, "The schema"), h("pre", { class: "text" }, text(c.expected_detail)))
        : null,
      c.facts_cover_answer === false
        ? h(
            "p",
            { class: "note note-warn" },
            "The facts do not contain the expected answer: a failure with facts may be the facts' fault, not the model's.",
          )
        : null,
      h("p", { class: "block-title" }, "Facts, as the with-facts arms got them (the expected answer marked)"),
      h("ol", { class: "facts" }, c.facts.map((f) => h("li", {}, marked(f)))),
      h("div", { class: "arms" }, arms.map(([key, title]) => armPanel(c, key, title))),
    ];
    dlgBody.replaceChildren(...parts.filter((part) => part !== null));
    $("dlg-prev").disabled = current <= 0;
    $("dlg-next").disabled = current >= filtered.length - 1;
  }

  function openCase(index, from) {
    if (index < 0 || index >= filtered.length) return;
    current = index;
    if (from) opener = from;
    fill(filtered[index]);
    if (!dialog.open) dialog.showModal();
    dlgBody.scrollTop = 0;
    dialog.scrollTop = 0;
    dlgTitle.setAttribute("tabindex", "-1");
    dlgTitle.focus();
    history.replaceState(null, "", `#case=${encodeURIComponent(filtered[index].id)}`);
  }

  dialog.addEventListener("close", () => {
    history.replaceState(null, "", location.pathname + location.search);
    while (current >= shown && shown < filtered.length) renderMore();
    const button = rows.querySelector(`button[data-index="${current}"]`);
    (button || opener || search).focus();
  });
  $("dlg-close").addEventListener("click", () => dialog.close());
  $("dlg-prev").addEventListener("click", () => openCase(current - 1));
  $("dlg-next").addEventListener("click", () => openCase(current + 1));
  // The rest of the page is inert while the dialog is open; Tab wraps around inside it
  // instead of leaving for the browser's own controls.
  dialog.addEventListener("keydown", (event) => {
    if (event.key !== "Tab") return;
    const stops = [...dialog.querySelectorAll("button:not([disabled]), summary, [tabindex='0']")]
      .filter((el) => el.getClientRects().length > 0);
    if (!stops.length) return;
    const [first, last] = [stops[0], stops[stops.length - 1]];
    const at = document.activeElement;
    if (event.shiftKey && (at === first || at === dlgTitle)) { event.preventDefault(); last.focus(); }
    else if (!event.shiftKey && at === last) { event.preventDefault(); first.focus(); }
  });
  dialog.addEventListener("keydown", (event) => {
    const typing = event.target.closest("input, select, textarea");
    if (typing || event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.key === "ArrowLeft") { event.preventDefault(); openCase(current - 1); }
    if (event.key === "ArrowRight") { event.preventDefault(); openCase(current + 1); }
  });
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close(); // a click on the backdrop
  });

  // --- wiring --------------------------------------------------------------------------------

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
    Object.assign(state, { label: "", tag: "", facts: "", q: "", arms: {} });
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
})();
