// The run page, live: follows the run's events (EventSource on /runs/ID/events, which the
// session cookie authenticates), recolours the graph node an event names at once, then fetches
// the page's changing parts (/ui/runs/ID/live, rendered and escaped by the server) and swaps
// them in. Nothing from an event is ever written into the page as HTML.
"use strict";

(() => {
  const root = document.getElementById("run");
  if (!root) return;
  const liveUrl = root.dataset.liveUrl;
  const paged = root.dataset.paged === "true";
  let shownSeq = Number(root.dataset.lastSeq) || 0;
  let source = null;

  // The stage status an event implies for the node it names (api.md §6.8 variants; the fixed
  // set of fabro.api.bodies.stages.StageStatus plus `waiting`). The live fetch that follows
  // every event has the last word: it also corrects events of a child workflow, which the
  // stream does not mark.
  const NODE_STATUS = {
    StageStarted: (body) => [body.node_id, "running"],
    StageRetrying: (body) => [body.node_id, "running"],
    StageCompleted: (body) => [body.node_id, "completed"],
    StageFailed: (body) => [body.node_id, body.will_retry ? "running" : "failed"],
    InterviewStarted: (body) => [body.stage, "waiting"],
    InterviewTimeout: (body) => [body.stage, "running"],
    RunCancelled: (body) => (body.node_id ? [body.node_id, "cancelled"] : null),
  };

  function nodeGroup(nodeId) {
    const graph = document.getElementById("run-graph");
    if (!graph || typeof nodeId !== "string") return null;
    return graph.querySelector(`g.node[data-node-id="${CSS.escape(nodeId)}"]`);
  }

  function setNode(nodeId, status, href, title) {
    const group = nodeGroup(nodeId);
    if (!group) return;
    for (const name of Array.from(group.classList)) {
      if (name.startsWith("stage-")) group.classList.remove(name);
    }
    group.classList.add(`stage-${status}`);
    group.setAttribute("data-status", status);
    const link = group.querySelector("a.stage-link");
    if (link && href) link.setAttribute("href", href);
    const titleElement = group.querySelector("title");
    if (titleElement && title) titleElement.textContent = title;
  }

  // The graph follows the stage list: each node shows its latest stage (later rows win).
  function paintGraph() {
    for (const item of document.querySelectorAll("#run-stages li.stage-item")) {
      const badge = item.querySelector(".status");
      const words = badge ? badge.lastChild.textContent.trim() : item.dataset.status;
      setNode(item.dataset.nodeId, item.dataset.status, item.dataset.href, `${item.dataset.label}: ${words}`);
    }
  }

  // Replace a part when its data-key changed (or it has none), so that a form being filled
  // in (steering, a free-text answer) is left alone while nothing about it changed.
  function swap(fresh, id) {
    const part = fresh.getElementById(id);
    const old = document.getElementById(id);
    if (!part || !old) return;
    const key = part.getAttribute("data-key");
    if (key && key === old.getAttribute("data-key")) return;
    const imported = document.importNode(part, true);
    old.replaceWith(imported);
    fabroLocalTimes(imported);
  }

  function appendEvents(fresh) {
    const timeline = document.getElementById("run-timeline");
    if (paged || !timeline) return;
    for (const item of fresh.querySelectorAll("#live-events > li")) {
      const seq = Number(item.dataset.seq);
      if (!(seq > shownSeq)) continue;
      const imported = document.importNode(item, true);
      timeline.append(imported);
      const empty = document.getElementById("timeline-empty");
      if (empty) empty.remove();
      fabroLocalTimes(imported);
      shownSeq = seq;
    }
  }

  function isOver() {
    const status = document.getElementById("run-status");
    return status !== null && status.dataset.terminal === "true";
  }

  function apply(fresh) {
    for (const id of ["run-status", "run-current", "run-outcome", "run-controls", "run-questions", "run-stages"]) {
      swap(fresh, id);
    }
    paintGraph();
    appendEvents(fresh);
    root.dataset.refreshed = String(shownSeq); // for tests: the page has caught up to here
    const events = fresh.getElementById("live-events");
    if (events && events.dataset.full === "true") schedule(); // more events wait to be shown
    if (isOver() && source) {
      source.close();
      source = null;
    }
  }

  let timer = null;
  let timerDelay = 0;
  let inflight = false;
  let again = false;

  // An event that may change a status is shown within 50 ms; the stream of an agent's turns
  // (Agent, Prompt: many a second, none changing a status) only once a second.
  const QUIET = new Set(["Agent", "Prompt"]);

  function schedule(delayMs = 50) {
    if (timer !== null && delayMs >= timerDelay) return;
    if (timer !== null) clearTimeout(timer);
    timerDelay = delayMs;
    timer = setTimeout(refresh, delayMs);
  }

  async function refresh() {
    timer = null;
    if (inflight) {
      again = true;
      return;
    }
    inflight = true;
    try {
      const response = await fetch(`${liveUrl}?after=${shownSeq}`, {
        credentials: "same-origin",
        headers: { Accept: "text/html" },
      });
      if (response.ok) apply(new DOMParser().parseFromString(await response.text(), "text/html"));
    } catch (error) {
      // The server is away: the next event (after EventSource reconnects) tries again.
    } finally {
      inflight = false;
      if (again) {
        again = false;
        schedule();
      }
    }
  }

  function onEvent(message) {
    let data;
    try {
      data = JSON.parse(message.data);
    } catch (error) {
      return;
    }
    const variant = data && typeof data === "object" ? Object.keys(data)[0] : undefined;
    const implied = variant && NODE_STATUS[variant] ? NODE_STATUS[variant](data[variant] || {}) : null;
    if (implied && implied[0]) setNode(implied[0], implied[1]);
    schedule(QUIET.has(variant) ? 1000 : 50);
  }

  // A stage's details open beside the list (the links work as plain pages without script).
  async function showStage(event) {
    const link = event.target.closest("a[href]");
    const panel = document.getElementById("stage-panel");
    if (!link || !panel || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    const href = link.getAttribute("href");
    if (!href.startsWith("/ui/runs/") || !href.includes("/stages/")) return;
    event.preventDefault();
    try {
      const response = await fetch(`${href}?fragment=1`, { credentials: "same-origin" });
      if (!response.ok) {
        window.location.assign(href);
        return;
      }
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      const detail = fresh.getElementById("stage-detail");
      if (!detail) return;
      panel.replaceChildren(document.importNode(detail, true));
      fabroLocalTimes(panel);
      const heading = panel.querySelector("h2");
      if (heading) {
        heading.tabIndex = -1;
        heading.focus();
      }
    } catch (error) {
      window.location.assign(href);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const id of ["run-graph", "run-stages-section"]) {
      const area = document.getElementById(id);
      if (area) area.addEventListener("click", showStage);
    }
    if (isOver()) return;
    source = new EventSource(`${root.dataset.eventsUrl}?after=${root.dataset.streamAfter}`);
    source.onmessage = onEvent;
    source.onerror = () => {
      // Closed for good (the run ended, a 410, or signed out): one last look at the page.
      if (source && source.readyState === EventSource.CLOSED) schedule();
    };
  });
})();
