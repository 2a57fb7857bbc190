// The dashboard: submit a repository job, and the job list (filtered, auto-refreshing).
"use strict";

(function () {
  const { h, api, ApiError, badge, timeElement, safeHttpUrl } = window.AD;
  const REFRESH_MS = 3000;
  const PAGE_SIZE = 25;

  const form = document.getElementById("repo-form");
  const formStatus = document.getElementById("form-status");
  const submitButton = document.getElementById("submit");
  const filter = document.getElementById("status-filter");
  const tbody = document.querySelector("#jobs tbody");
  const empty = document.getElementById("jobs-empty");
  const summary = document.getElementById("jobs-summary");
  const prev = document.getElementById("prev-page");
  const next = document.getElementById("next-page");
  const FIELDS = ["repo_url", "description", "target", "github_token"];

  let offset = 0;
  let timer = null;
  let loading = false;
  // A retry of the same body after a failed attempt reuses its Idempotency-Key, so a
  // request that did reach the server before the connection broke is not queued twice.
  let retry = null;

  function newKey() {
    // getRandomValues works on plain http too (crypto.randomUUID needs a secure context).
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return "ui-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // --- the submit form ----------------------------------------------------------------

  function clearErrors() {
    for (const name of FIELDS) {
      const input = document.getElementById(name);
      const error = document.getElementById(`${name}-error`);
      input.removeAttribute("aria-invalid");
      error.hidden = true;
      error.textContent = "";
    }
  }

  function showFieldError(name, message) {
    const input = document.getElementById(name);
    const error = document.getElementById(`${name}-error`);
    if (!input || !error) return false;
    input.setAttribute("aria-invalid", "true");
    error.textContent = message;
    error.hidden = false;
    return true;
  }

  function setFormStatus(kind, ...content) {
    formStatus.className = `form-status ${kind}`;
    formStatus.replaceChildren(...content);
  }

  function collect() {
    const data = new FormData(form);
    const body = {
      repo_url: String(data.get("repo_url") || "").trim(),
      description: String(data.get("description") || ""),
      mode: String(data.get("mode") || "deploy"),
    };
    const target = String(data.get("target") || "");
    if (target) body.target = target;
    const token = String(data.get("github_token") || "");
    if (token) body.github_token = token;
    return body;
  }

  function checkLocally(body) {
    const problems = [];
    if (!body.repo_url) problems.push(["repo_url", "Enter the repository's URL."]);
    else if (!safeHttpUrl(body.repo_url)) problems.push(["repo_url", "Enter an https:// URL."]);
    if (!body.description.trim()) problems.push(["description", "Say what to deploy."]);
    for (const [name, message] of problems) showFieldError(name, message);
    return problems.length === 0;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    const body = collect();
    if (!checkLocally(body)) {
      setFormStatus("bad", "Please fix the fields marked above.");
      form.querySelector("[aria-invalid=true]").focus();
      return;
    }
    submitButton.disabled = true;
    setFormStatus("", "Submitting…");
    const fingerprint = JSON.stringify(body);
    if (!retry || retry.fingerprint !== fingerprint) retry = { fingerprint, key: newKey() };
    try {
      const accepted = await api("/request", {
        method: "POST", json: body, headers: { "idempotency-key": retry.key },
      });
      retry = null;
      const link = h("a", { href: `/ui/job/${encodeURIComponent(accepted.job_id)}`, id: "new-job-link" },
        `job ${accepted.job_id}`);
      setFormStatus("ok", "Accepted: ", link, ` is ${accepted.status}.`);
      document.getElementById("github_token").value = "";
      offset = 0;
      refresh();
    } catch (err) {
      if (err instanceof ApiError && err.status === 422 && Array.isArray(err.body && err.body.detail)) {
        let shown = false;
        for (const item of err.body.detail) {
          const loc = Array.isArray(item.loc) ? item.loc : [];
          shown = showFieldError(String(loc[loc.length - 1] || ""), String(item.msg || "invalid")) || shown;
        }
        setFormStatus("bad", shown ? "Please fix the fields marked above." : err.message);
        const invalid = form.querySelector("[aria-invalid=true]");
        if (invalid) invalid.focus();
      } else {
        setFormStatus("bad", `Not submitted: ${err.message}`);
      }
    } finally {
      submitButton.disabled = false;
    }
  });

  // --- the job list ---------------------------------------------------------------------

  function shortId(id) {
    return String(id).slice(0, 8);
  }

  function row(job) {
    const url = safeHttpUrl(job.url);
    return h("tr", { dataset: { jobId: job.id, status: job.status } },
      h("td", {}, h("a", { href: `/ui/job/${encodeURIComponent(job.id)}`, title: job.id }, h("code", {}, shortId(job.id)))),
      h("td", { class: "wrap" }, job.repo_url || job.kind),
      h("td", {}, badge(job.status)),
      h("td", {}, job.stage || "—"),
      h("td", {}, timeElement(job.created_at)),
      h("td", { class: "wrap" }, url ? h("a", { href: url, rel: "noopener noreferrer", target: "_blank" }, url) : "—"),
    );
  }

  async function refresh() {
    if (loading) return;
    loading = true;
    const params = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String(offset) });
    if (filter.value) params.set("status", filter.value);
    try {
      const page = await api(`/list?${params}`);
      tbody.replaceChildren(...page.items.map(row));
      empty.hidden = page.items.length > 0;
      empty.textContent = filter.value ? `No ${filter.value} jobs.` : "No jobs yet.";
      summary.textContent = page.total
        ? `${page.offset + 1}–${page.offset + page.items.length} of ${page.total}`
        : "";
      prev.disabled = page.offset === 0;
      next.disabled = page.next_offset === null;
      summary.classList.remove("bad");
    } catch (err) {
      summary.textContent = `Could not load jobs: ${err.message}`;
      summary.classList.add("bad");
    } finally {
      loading = false;
    }
  }

  function schedule() {
    clearInterval(timer);
    timer = setInterval(() => {
      if (!document.hidden) refresh();
    }, REFRESH_MS);
  }

  filter.addEventListener("change", () => {
    offset = 0;
    const url = new URL(window.location.href);
    if (filter.value) url.searchParams.set("status", filter.value);
    else url.searchParams.delete("status");
    history.replaceState(null, "", url);
    refresh();
  });
  prev.addEventListener("click", () => { offset = Math.max(0, offset - PAGE_SIZE); refresh(); });
  next.addEventListener("click", () => { offset += PAGE_SIZE; refresh(); });
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });

  const wanted = new URL(window.location.href).searchParams.get("status");
  if (wanted && [...filter.options].some((o) => o.value === wanted)) filter.value = wanted;
  refresh();
  schedule();
})();
