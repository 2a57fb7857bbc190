// Helpers shared by the dashboard pages. Job data comes from untrusted repositories:
// it only ever reaches the page through textContent and vetted attributes, never innerHTML.
"use strict";

(function () {
  /** Build an element: h("a", {href: "/x", class: "y"}, "text", childNode). */
  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on")) throw new Error("no inline handlers: " + key);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /** An http(s) URL safe to put in href, or null (no javascript:, data:, …). */
  function safeHttpUrl(value) {
    if (typeof value !== "string" || !value) return null;
    try {
      const url = new URL(value);
      return url.protocol === "http:" || url.protocol === "https:" ? value : null;
    } catch (_) {
      return null;
    }
  }

  /** A readable message from an API error body (FastAPI's detail: string or list). */
  function errorMessage(body, fallback) {
    const detail = body && body.detail;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      return detail.map((e) => (e && e.msg ? String(e.msg) : JSON.stringify(e))).join("; ");
    }
    return fallback;
  }

  class ApiError extends Error {
    constructor(status, body, message) {
      super(message);
      this.status = status;
      this.body = body;
    }
  }

  /** fetch + JSON; throws ApiError with the server's reason on a non-2xx answer. */
  async function api(path, options) {
    const init = Object.assign({ headers: { accept: "application/json" } }, options || {});
    if (init.json !== undefined) {
      init.body = JSON.stringify(init.json);
      init.headers = Object.assign({ "content-type": "application/json" }, init.headers);
      delete init.json;
    }
    const response = await fetch(path, init);
    const type = response.headers.get("content-type") || "";
    const body = type.includes("json") ? await response.json().catch(() => null) : await response.text();
    if (!response.ok) {
      throw new ApiError(response.status, body, errorMessage(body, `${response.status} ${response.statusText}`));
    }
    return body;
  }

  const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

  function formatTime(value) {
    if (!value) return "";
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? String(value) : timeFormat.format(date);
  }

  function timeElement(value) {
    return value ? h("time", { datetime: String(value) }, formatTime(value)) : "—";
  }

  const KNOWN_STATUSES = new Set([
    "queued", "analyzing", "generating", "provisioning", "verifying", "completed",
    "planned", "failed", "rejected", "destroying", "destroyed",
  ]);

  /** A status badge; the colour comes from CSS keyed on a known status only. */
  function badge(status, node) {
    const el = node || h("span", { class: "badge" });
    el.textContent = status || "unknown";
    el.dataset.status = KNOWN_STATUSES.has(status) ? status : "unknown";
    return el;
  }

  function formatBytes(size) {
    if (typeof size !== "number") return "";
    if (size < 1024) return `${size} B`;
    if (size < 1024 * 1024) return `${(size / 1024).toFixed(1)} KiB`;
    return `${(size / 1024 / 1024).toFixed(1)} MiB`;
  }

  window.AD = { h, safeHttpUrl, api, ApiError, errorMessage, formatTime, timeElement, badge, formatBytes };
})();
