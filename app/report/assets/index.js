/* The index of runs: reads /v1/runs with the tab's API key (if the server wants one), links
   each run to its report, and follows live runs through their server-sent events. The key
   lives in sessionStorage only, and is sent as Authorization: Bearer (EventSource cannot send
   headers, so events are read with fetch). Data goes in as text, never as markup. */
  const KEY = "rung.apiKey";
  const MAX_FOLLOWED = 4; // browsers allow ~6 connections per host; keep some for the rest
  const LIVE = new Set(["queued", "running"]);
  const NEXT_RUNG = {
    prompt: "stay at the prompt",
    prompt_fix: "fix the prompt",
    retrieval: "retrieval",
    retrieval_and_prompt_fix: "retrieval + prompt fix",
    adapter: "thin adapter",
    retrieval_and_adapter: "retrieval + adapter",
  };
  const DIAGNOSIS = {
    no_gap: "no gap", knowledge: "knowledge", behavior: "behavior",
    mixed: "mixed", inconclusive: "inconclusive",
  };
  const $ = (id) => document.getElementById(id);
  const rows = $("run-rows");
  const form = $("key-form");
  const following = new Map();
  const suiteNames = new Map();
  let key = sessionStorage.getItem(KEY);

  class NeedKey extends Error {}

  const headers = () => (key ? { Authorization: `Bearer ${key}` } : {});

  async function api(path) {
    const response = await fetch(path, { headers: headers(), cache: "no-store" });
    if (response.status === 401) throw new NeedKey();
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response;
  }

  function askForKey(wrong) {
    form.hidden = false;
    $("key-error").textContent = wrong ? "That key was refused. Check it and try again." : "";
    $("runs-card").hidden = true;
    $("key").focus();
  }

  function when(iso) {
    const date = new Date(iso);
    const pad = (n) => String(n).padStart(2, "0");
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}`;
  }

  function progressCell(run) {
    const p = run.progress;
    const status = [h("span", { class: `chip chip-${run.status}` }, run.status)];
    if (LIVE.has(run.status)) {
      status.push(
        h(
          "span",
          { class: "progress" },
          h("progress", { max: Math.max(p.calls_planned, 1), value: p.calls_done, "aria-label": "calls done" }),
          h("span", { class: "progress-text" }, `${p.calls_done}/${p.calls_planned} calls`),
        ),
      );
    }
    return status;
  }

  function row(run) {
    const verdict = run.verdict;
    const report = `/v1/runs/${encodeURIComponent(run.id)}/report`;
    return h(
      "tr",
      { "data-run": run.id, "data-status": run.status },
      h("td", { class: "col-run" }, h("span", { class: "run-when" }, when(run.created_at)), h("span", { class: "run-id" }, run.id.slice(0, 12))),
      h("td", { class: "col-status", "data-title": "Status" }, progressCell(run)),
      h("td", { "data-title": "Model" }, h("code", {}, run.model)),
      h("td", { "data-title": "Suite" }, suiteNames.get(run.suite_id) || run.suite_id.slice(0, 12)),
      h(
        "td",
        { "data-title": "Diagnosis", class: "col-diagnosis" },
        verdict ? h("span", { class: `chip chip-${verdict.diagnosis}` }, DIAGNOSIS[verdict.diagnosis] || verdict.diagnosis) : "–",
      ),
      h("td", { "data-title": "Next rung" }, verdict ? NEXT_RUNG[verdict.next_rung] || "none yet" : "–"),
      h("td", { class: "col-report" }, h("a", { href: report, class: "report-link", "data-report": run.id }, "Open report")),
    );
  }

  function put(run) {
    const fresh = row(run);
    const old = rows.querySelector(`tr[data-run="${CSS.escape(run.id)}"]`);
    if (old) old.replaceWith(fresh);
    else rows.append(fresh);
  }

  async function load() {
    try {
      const runs = await api("/v1/runs?limit=50").then((r) => r.json());
      const suites = await api("/v1/suites?limit=200").then((r) => r.json());
      for (const suite of suites.items) suiteNames.set(suite.id, suite.name);
      form.hidden = true;
      $("runs-card").hidden = false;
      $("forget").hidden = !key;
      $("load-error").hidden = true;
      rows.replaceChildren(...runs.items.map((run) => {
        const existing = rows.querySelector(`tr[data-run="${CSS.escape(run.id)}"]`);
        return following.has(run.id) && existing ? existing : row(run);
      }));
      $("empty").hidden = runs.items.length > 0;
      for (const run of runs.items) if (LIVE.has(run.status)) follow(run.id);
    } catch (error) {
      if (error instanceof NeedKey) askForKey(Boolean(key));
      else {
        $("load-error").hidden = false;
        $("load-error").textContent = `Could not load the runs: ${error.message}`;
      }
    }
  }

  // Server-sent events over fetch: blocks separated by a blank line, "event:" and "data:" lines.
  async function follow(id) {
    if (following.has(id) || following.size >= MAX_FOLLOWED) return;
    const controller = new AbortController();
    let ended = false;
    following.set(id, controller);
    try {
      const response = await fetch(`/v1/runs/${encodeURIComponent(id)}/events`, {
        headers: headers(), signal: controller.signal, cache: "no-store",
      });
      if (!response.ok || !response.body) return;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        const blocks = buffer.split(/\r?\n\r?\n/);
        buffer = blocks.pop();
        for (const block of blocks) {
          let event = "message";
          const lines = [];
          for (const line of block.split(/\r?\n/)) {
            if (line.startsWith("event:")) event = line.slice(6).trim();
            else if (line.startsWith("data:")) lines.push(line.slice(5).replace(/^ /, ""));
          }
          if (!lines.length) continue;
          const payload = JSON.parse(lines.join("\n"));
          if (event === "progress") showProgress(id, payload);
          if (event === "end") { ended = true; controller.abort(); break; }
        }
      }
    } catch (error) {
      if (error.name !== "AbortError") console.warn("events for run", id, error.message);
    } finally {
      following.delete(id);
      if (ended || !controller.signal.aborted) refreshRun(id);
    }
  }

  function showProgress(id, p) {
    const tr = rows.querySelector(`tr[data-run="${CSS.escape(id)}"]`);
    if (!tr) return;
    tr.dataset.status = p.status;
    const cell = tr.querySelector(".col-status");
    cell.replaceChildren(...progressCell({ status: p.status, progress: p }));
  }

  async function refreshRun(id) {
    try {
      put(await api(`/v1/runs/${encodeURIComponent(id)}`).then((r) => r.json()));
    } catch (error) {
      if (error instanceof NeedKey) askForKey(true);
    }
  }

  // With a key, a plain link would arrive without it: fetch the report and show it from a blob.
  rows.addEventListener("click", async (event) => {
    const link = event.target.closest("a[data-report]");
    if (!link || !key || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    try {
      const html = await api(link.getAttribute("href")).then((r) => r.text());
      location.assign(URL.createObjectURL(new Blob([html], { type: "text/html" })));
    } catch (error) {
      if (error instanceof NeedKey) askForKey(true);
    }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    key = $("key").value.trim();
    if (!key) return;
    sessionStorage.setItem(KEY, key);
    $("key").value = "";
    load();
  });
  $("forget").addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    key = null;
    for (const controller of following.values()) controller.abort();
    rows.replaceChildren();
    askForKey(false);
  });
  $("refresh").addEventListener("click", load);
  setInterval(() => { if (document.visibilityState === "visible" && form.hidden) load(); }, 10000);
  load().then(() => { document.body.dataset.ready = "true"; });
