// The apps page: every app with its stable URL and serving revision; redeploy one.
// Every value is put in the page as text, never as HTML.
"use strict";

(function () {
  const { h, api, ApiError, safeHttpUrl } = window.AD;
  const REFRESH_MS = 3000;
  const tbody = document.querySelector("#apps tbody");
  const empty = document.getElementById("apps-empty");
  const status = document.getElementById("apps-status");

  async function redeploy(name) {
    status.textContent = `Queuing a revision of ${name}…`;
    try {
      const answer = await api(`/apps/${encodeURIComponent(name)}/redeploy`, { method: "POST" });
      status.replaceChildren(
        `Revision of ${name} queued: `,
        h("a", { href: `/ui/job/${encodeURIComponent(answer.job_id)}` }, answer.job_id),
      );
    } catch (error) {
      status.textContent = error instanceof ApiError ? error.message : String(error);
    }
  }

  function row(app) {
    const url = app.url && safeHttpUrl(app.url)
      ? h("a", { href: app.url, rel: "noopener" }, app.url)
      : "not served yet";
    const current = app.current_job_id
      ? h("a", { href: `/ui/job/${encodeURIComponent(app.current_job_id)}` }, app.current_job_id)
      : "—";
    const button = h("button", { type: "button" }, "Redeploy");
    button.addEventListener("click", () => redeploy(app.name));
    return h("tr", { "data-app": app.name },
      h("td", {}, app.name), h("td", {}, url), h("td", {}, current),
      h("td", {}, app.repo_url), h("td", {}, app.target), h("td", {}, button));
  }

  async function refresh() {
    try {
      const apps = await api("/apps");
      tbody.replaceChildren(...apps.map(row));
      empty.hidden = apps.length > 0;
    } catch (error) {
      status.textContent = error instanceof ApiError ? error.message : String(error);
    }
    setTimeout(refresh, REFRESH_MS);
  }

  refresh();
})();
