/* A case's drill-down: every arm side by side, its samples, the facts, the messages sent. */
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

function retrievedBlock(r) {
  const why = r.outcome ? ` · ${RETRIEVAL_WORDS[r.outcome]}` : "";
  return h(
    "div",
    { class: "retrieved" },
    h("p", { class: "block-title" }, `Retrieved passages, best first (recall of the gold facts ${pct(r.recall)}${why})`),
    r.passages.length
      ? h("ol", { class: "facts" }, r.passages.map(([id, pieces]) => h("li", {}, h("span", { class: "passage-id" }, id), " ", marked(pieces))))
      : h("p", { class: "muted small" }, "Nothing retrieved: the arm ran with no passages."),
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
    c.facts_sufficient === false
      ? h(
          "p",
          { class: "note note-warn" },
          "The judge found these facts insufficient to answer, so the case is not counted as a behavior failure",
          c.facts_reason ? `: ${c.facts_reason}` : ".",
        )
      : null,
    c.retrieved ? retrievedBlock(c.retrieved) : null,
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
  history.replaceState(null, "", location.href.split("#")[0]); // works for blob: URLs too
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
