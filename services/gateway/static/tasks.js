// The brief-to-site harness: posts the form to /tasks, shows the raw answer, then
// follows the job. Every job value is put in the page as text, never as HTML.
(function () {
  const { h, api, ApiError, badge, safeHttpUrl } = window.AD;
  const SAMPLE_CSV = "region,sales\nnorth,120\nsouth,80\n";

  function dataUri(file) {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(String(reader.result));
      reader.onerror = () => reject(reader.error);
      reader.readAsDataURL(file);
    });
  }

  async function attachments() {
    const input = document.getElementById("attachment");
    if (input.files && input.files[0]) {
      return [{ name: input.files[0].name, url: await dataUri(input.files[0]) }];
    }
    return [{ name: "data.csv", url: "data:text/csv;base64," + btoa(SAMPLE_CSV) }];
  }

  function value(id) {
    return document.getElementById(id).value;
  }

  async function follow(jobId) {
    const status = document.getElementById("task-status");
    const stage = document.getElementById("task-stage");
    const links = document.getElementById("task-links");
    const log = document.getElementById("task-log");
    for (;;) {
      const task = await api(`/tasks/${encodeURIComponent(jobId)}`);
      badge(task.status, status);
      stage.textContent = task.stage ? `(${task.stage})` : "";
      const parts = [h("a", { href: `/ui/job/${encodeURIComponent(jobId)}` }, "job page")];
      if (task.pages_url && safeHttpUrl(task.pages_url)) {
        parts.push(" · ", h("a", { href: task.pages_url, rel: "noopener" }, "published site"));
      }
      if (task.error) parts.push(" · ", h("span", { class: "error" }, task.error));
      links.replaceChildren(...parts);
      log.replaceChildren(
        ...task.logs.slice(-30).map((line) => h("li", {}, `[${line.service}] ${line.message}`)),
      );
      if (["completed", "failed", "rejected", "planned", "destroyed"].includes(task.status)) {
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  document.getElementById("task-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const raw = document.getElementById("raw-answer");
    const body = {
      email: value("email"),
      secret: value("secret"),
      task: value("task"),
      round: Number(value("round")),
      nonce: value("nonce"),
      brief: value("brief"),
      checks: value("checks").split("\n").map((c) => c.trim()).filter(Boolean),
      evaluation_url: value("evaluation_url"),
      attachments: await attachments(),
    };
    try {
      const answer = await api("/tasks", { method: "POST", json: body });
      raw.textContent = JSON.stringify(answer, null, 2);
      await follow(answer.job_id);
    } catch (error) {
      raw.textContent =
        error instanceof ApiError ? `${error.status}: ${JSON.stringify(error.body, null, 2)}` : String(error);
    }
  });
})();
