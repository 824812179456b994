// Shared by every page: times in the viewer's time zone, and the CSRF token for fetch().
"use strict";

function fabroLocalTimes(root) {
  const format = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
  for (const element of (root || document).querySelectorAll("time[datetime]")) {
    if (element.dataset.localised) continue;
    const when = new Date(element.getAttribute("datetime"));
    if (Number.isNaN(when.getTime())) continue;
    element.textContent = format.format(when);
    element.title = element.getAttribute("datetime");
    element.dataset.localised = "1";
  }
}

function fabroCsrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

document.addEventListener("DOMContentLoaded", () => fabroLocalTimes(document));
