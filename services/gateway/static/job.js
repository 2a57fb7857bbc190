// The job page: timeline, live log (Server-Sent Events), analysis, files, URL/error, teardown.
"use strict";

(function () {
  const { h, api, badge, timeElement, safeHttpUrl, formatBytes } = window.AD;
  const main = document.getElementById("main");
  const jobId = main.dataset.jobId;
  const jobPath = `/job/${encodeURIComponent(jobId)}`;

  const MAIN_STEPS = ["queued", "analyzing", "generating", "provisioning", "verifying", "completed"];
  const STEP_OF_STAGE = { analyzer: "analyzing", generator: "generating", provisioner: "provisioning", verifier: "verifying" };
  const STATE_TEXT = { done: "done", current: "in progress", failed: "stopped here", pending: "waiting", skipped: "skipped" };

  const el = (id) => document.getElementById(id);
  const logList = el("log");
  const follow = el("follow");

  let job = null;
  let lastLogId = 0;
  let lineCount = 0;
  let stream = null;
  let retryTimer = null;
  let lastStatus = null;
  let selectedFile = null;

  // --- timeline -------------------------------------------------------------------------

  function failedStepIndex(stage) {
    const step = STEP_OF_STAGE[stage];
    return step ? MAIN_STEPS.indexOf(step) : 1;
  }

  /** [{name, label, state}] for the job's status; also used for a torn-down job's history. */
  function steps(status, stage, result, error) {
    const out = MAIN_STEPS.map((name) => ({ name, label: name, state: "pending" }));
    const markUpTo = (index, state) => out.forEach((s, i) => { if (i < index) s.state = state; });
    if (MAIN_STEPS.includes(status)) {
      const index = MAIN_STEPS.indexOf(status);
      markUpTo(index, "done");
      out[index].state = status === "completed" ? "done" : "current";
      out[index].current = true;
    } else if (status === "planned") {
      markUpTo(3, "done");
      out[3].state = out[4].state = "skipped";
      Object.assign(out[5], { label: "planned", state: "done", current: true });
    } else if (status === "failed" || status === "rejected") {
      const index = failedStepIndex(stage);
      markUpTo(index, "done");
      out[index].state = "failed";
      for (let i = index + 1; i < 5; i += 1) out[i].state = "skipped";
      Object.assign(out[5], { label: status, state: "failed", current: true });
    } else if (status === "destroying" || status === "destroyed") {
      // What happened before the teardown: deployed (it has a URL), failed, or unknown.
      let history = out;
      if (result && result.url) history = steps("completed", stage, result, error);
      else if (error) history = steps("failed", stage, result, error);
      history.forEach((s) => { s.current = false; });
      return history.concat(teardownSteps(status));
    }
    return out;
  }

  function teardownSteps(status) {
    const done = status === "destroyed";
    return [{ name: "teardown", label: status, state: done ? "done" : "current", current: true }];
  }

  function renderTimeline(status, stage) {
    const list = steps(status, stage, job && job.result, job && job.error);
    el("timeline").replaceChildren(...list.map((s) =>
      h("li", { class: `step ${s.state}`, "aria-current": s.current ? "step" : null, dataset: { step: s.name, state: s.state } },
        h("span", { class: "dot", "aria-hidden": "true" }),
        h("span", { class: "label" }, s.label),
        h("span", { class: "state" }, STATE_TEXT[s.state]))));
  }

  // --- facts, URL, error, teardown --------------------------------------------------------

  function fact(dl, term, ...value) {
    const shown = value.filter((v) => v !== null && v !== undefined && v !== "");
    if (!shown.length) return;
    dl.append(h("div", {}, h("dt", {}, term), h("dd", {}, ...shown)));
  }

  // The cloud estimate (shared/cost.py): the real plan's if the provisioner priced it.
  function costText(cost) {
    if (!cost || typeof cost.monthly_usd !== "number") return null;
    const parts = [`about $${cost.monthly_usd.toFixed(2)} a month in ${cost.region}`];
    if ((cost.usage_not_estimated || []).length) parts.push("plus usage-based charges");
    if ((cost.unpriced || []).length) parts.push(`not priced: ${cost.unpriced.join(", ")}`);
    const table = cost.price_table || {};
    return h("span", { id: "job-cost", title: `prices: ${table.source || "?"} (${table.date || "?"})` }, parts.join("; "));
  }

  function renderJob() {
    const request = job.request || {};
    const facts = el("job-facts");
    facts.replaceChildren();
    fact(facts, "Repository", request.repo_url ? h("span", { class: "wrap" }, request.repo_url) : null);
    fact(facts, "Description", request.description ? h("span", { class: "prewrap", id: "job-description" }, request.description) : null);
    fact(facts, "Target", request.target || "chosen by the analyzer");
    fact(facts, "Mode", request.mode || "deploy");
    fact(facts, "Stage", job.stage);
    fact(facts, "Created", timeElement(job.created_at));
    fact(facts, "Updated", timeElement(job.updated_at));
    fact(facts, "Finished", job.finished_at ? timeElement(job.finished_at) : null);
    fact(facts, "Monthly cost", costText(job.result && ((job.result.deployment || {}).cost || job.result.cost)));

    const url = job.status === "destroyed" ? null : safeHttpUrl(job.result && job.result.url);
    el("url-box").hidden = !url;
    if (url) {
      el("deploy-url").href = url;
      el("deploy-url").textContent = url;
    }

    const showError = Boolean(job.error) && job.status !== "completed";
    el("error-box").hidden = !showError;
    if (showError) {
      el("error-title").textContent = job.status === "rejected"
        ? "Rejected: this is not something we can deploy as an HTTP service"
        : `Failed${job.stage ? ` at the ${job.stage}` : ""}`;
      el("error-text").textContent = job.error;
    }

    const busy = job.status === "destroying" || job.status === "destroyed";
    el("teardown").disabled = busy;
    if (job.status === "destroyed" && el("teardown-status").textContent) {
      el("teardown-status").textContent = "Torn down: the deployment is gone.";
    }
    renderStatus(job.status, job.stage);
    renderAnalysis(job.analysis);
  }

  function renderStatus(status, stage) {
    badge(status, el("status-badge"));
    renderTimeline(status, stage);
    if (status !== lastStatus) {
      el("status-announce").textContent = `Status: ${status}`;
      document.title = `autodeploy — ${status} — job ${jobId}`;
      lastStatus = status;
    }
  }

  el("teardown").addEventListener("click", async () => {
    const ok = window.confirm(`Tear down job ${jobId}?\n\nIts deployment is stopped and removed. This cannot be undone.`);
    if (!ok) return;
    const status = el("teardown-status");
    el("teardown").disabled = true;
    status.className = "form-status";
    status.textContent = "Tearing down…";
    try {
      const accepted = await api(jobPath, { method: "DELETE" });
      status.textContent = `Teardown accepted (${accepted.status}).`;
      await loadJob();
      connect();
    } catch (err) {
      status.className = "form-status bad";
      status.textContent = `Teardown refused: ${err.message}`;
      el("teardown").disabled = false;
    }
  });

  // --- analysis -----------------------------------------------------------------------------

  function list(items) {
    return items.length ? h("ul", { class: "plain" }, items.map((item) => h("li", {}, item))) : null;
  }

  function renderAnalysis(analysis) {
    const dl = el("analysis-summary");
    dl.replaceChildren();
    el("analysis-empty").hidden = Boolean(analysis);
    el("raw-toggle").hidden = !analysis;
    if (!analysis) {
      el("analysis-raw").hidden = true;
      return;
    }
    const a = analysis;
    fact(dl, "Verdict", a.verdict, list(a.verdict_reasons || []));
    fact(dl, "Language", [...new Set([a.language, a.framework].filter(Boolean))].join(" · "));
    fact(dl, "Runtime", [a.package_manager, a.runtime_version].filter(Boolean).join(" · "));
    fact(dl, "App folder", a.app_root);
    if (a.port) fact(dl, "Port", `${a.port.value} (from ${a.port.source})`);
    fact(dl, "Binds", a.bind_address ? `${a.bind_address}${a.binds_loopback ? " (loopback: rebinding to 0.0.0.0)" : ""}` : null);
    fact(dl, "Build command", a.build_command ? h("code", {}, a.build_command) : null);
    fact(dl, "Start command", a.start_command ? h("code", {}, a.start_command) : null);
    fact(dl, "Static files", a.static_dir);
    fact(dl, "Health check", a.health_path);
    fact(dl, "Target", a.target, list(a.target_reasons || []));
    fact(dl, "Environment", list((a.env_vars || []).map((v) => {
      const notes = [v.required ? "required" : null, v.secret ? "secret" : null,
        v.default !== null && v.default !== undefined && !v.secret ? `default ${v.default}` : null].filter(Boolean);
      return [h("code", {}, v.name), notes.length ? ` (${notes.join(", ")})` : ""];
    })));
    fact(dl, "Backing services", (a.services || []).map((s) => s.kind).join(", "));
    if (a.docker) {
      fact(dl, "Existing Docker", [a.docker.dockerfile, a.docker.compose_file].filter(Boolean).join(", "));
    }
    fact(dl, "Commit", a.commit_sha ? h("code", {}, a.commit_sha.slice(0, 12)) : null);
    fact(dl, "Files", a.file_count ? String(a.file_count) : null);
    fact(dl, "Conflicts", list(a.conflicts || []));
    fact(dl, "Reasons", list(a.reasons || []));
    fact(dl, "LLM", a.llm_used ? "used" : "not used (deterministic analysis)");
    el("analysis-raw").textContent = JSON.stringify(a, null, 2);
  }

  el("raw-toggle").addEventListener("click", () => {
    const button = el("raw-toggle");
    const open = button.getAttribute("aria-expanded") !== "true";
    button.setAttribute("aria-expanded", String(open));
    button.textContent = open ? "Hide raw JSON" : "Show raw JSON";
    el("analysis-raw").hidden = !open;
  });

  // --- generated files ------------------------------------------------------------------------

  function artifactUrl(path) {
    return `${jobPath}/artifacts/${path.split("/").map(encodeURIComponent).join("/")}`;
  }

  async function loadFiles() {
    let files;
    try {
      files = await api(`${jobPath}/artifacts`);
    } catch (_) {
      return;
    }
    el("files-empty").hidden = files.length > 0;
    el("bundle-link").hidden = files.length === 0;
    el("bundle-link").href = `${jobPath}/bundle.tar.gz`;
    el("file-list").replaceChildren(...files.map((f) =>
      h("li", {},
        h("button", { type: "button", class: "file", dataset: { path: f.path }, "aria-pressed": String(f.path === selectedFile) },
          h("span", { class: "path" }, f.path), h("span", { class: "size" }, formatBytes(f.size))))));
  }

  el("file-list").addEventListener("click", async (event) => {
    const button = event.target.closest("button.file");
    if (!button) return;
    const path = button.dataset.path;
    selectedFile = path;
    for (const b of el("file-list").querySelectorAll("button.file")) {
      b.setAttribute("aria-pressed", String(b === button));
    }
    el("viewer").hidden = false;
    el("viewer-title").textContent = path;
    el("viewer-raw").href = artifactUrl(path);
    el("viewer-content").textContent = "Loading…";
    try {
      el("viewer-content").textContent = await api(artifactUrl(path), { headers: { accept: "text/plain" } });
    } catch (err) {
      el("viewer-content").textContent = `Could not load ${path}: ${err.message}`;
    }
  });

  // --- log + live stream ---------------------------------------------------------------------

  const pending = [];
  let flushScheduled = false;

  function logTime(ts) {
    const date = new Date(ts);
    return Number.isNaN(date.getTime()) ? "" : date.toLocaleTimeString(undefined, { hour12: false });
  }

  function appendLog(line) {
    if (typeof line.id !== "number" || line.id <= lastLogId) return;
    lastLogId = line.id;
    const level = ["debug", "info", "warning", "error", "critical"].includes(String(line.level).toLowerCase())
      ? String(line.level).toLowerCase() : "info";
    pending.push(h("li", { class: `line lvl-${level}`, dataset: { id: line.id } },
      h("time", { datetime: String(line.ts) }, logTime(line.ts)),
      h("span", { class: "service" }, line.service),
      h("span", { class: "level" }, level),
      h("span", { class: "message" }, line.message)));
    if (!flushScheduled) {
      flushScheduled = true;
      requestAnimationFrame(flushLog);
    }
  }

  function flushLog() {
    flushScheduled = false;
    lineCount += pending.length;
    logList.append(...pending.splice(0));
    el("log-count").textContent = `${lineCount} line${lineCount === 1 ? "" : "s"}`;
    if (follow.checked) logList.scrollTop = logList.scrollHeight;
  }

  function setStreamState(text) {
    el("stream-state").textContent = text;
  }

  function connect() {
    clearTimeout(retryTimer);
    if (stream) stream.close();
    const source = new EventSource(`${jobPath}/events${lastLogId ? `?after=${lastLogId}` : ""}`);
    stream = source;
    source.addEventListener("open", () => setStreamState("live"));
    source.addEventListener("log", (event) => appendLog(JSON.parse(event.data)));
    source.addEventListener("status", (event) => {
      const status = JSON.parse(event.data);
      renderStatus(status.status, status.stage);
      loadJob();
    });
    source.addEventListener("end", () => {
      source.close();
      if (stream === source) stream = null;
      setStreamState("ended");
      loadJob(true);
    });
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) {
        // The server refused the stream (e.g. 503 while it starts): try again shortly.
        setStreamState("disconnected; retrying…");
        retryTimer = setTimeout(connect, 3000);
      } else {
        setStreamState("reconnecting…");
      }
    });
  }

  // --- loading the job ------------------------------------------------------------------------

  let loadingJob = null;
  let loadAgain = false;

  async function loadJob(withLogs) {
    if (loadingJob) {
      loadAgain = true;
      return loadingJob;
    }
    loadingJob = (async () => {
      try {
        job = await api(jobPath);
        renderJob();
        // Lines committed after the stream's last read reach the page with the final state.
        if (withLogs) for (const line of job.logs || []) appendLog(line);
        await loadFiles();
      } catch (err) {
        setStreamState(`could not load the job: ${err.message}`);
      }
    })();
    await loadingJob;
    loadingJob = null;
    if (loadAgain) {
      loadAgain = false;
      await loadJob(withLogs);
    }
  }

  // Scrolling up to read stops following; scrolling back to the bottom resumes it.
  logList.addEventListener("scroll", () => {
    const atBottom = logList.scrollHeight - logList.scrollTop - logList.clientHeight < 8;
    if (follow.checked !== atBottom && document.activeElement === logList) follow.checked = atBottom;
  });

  // A job that has already ended still streams once: the whole log, then "end".
  loadJob().then(connect);
})();
