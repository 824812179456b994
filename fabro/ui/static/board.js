// The runs board, live: the feed (/ui/board/events) says which run changed; its card is read
// again (/ui/board/cards, with the board's filters) and put in its column, or dropped when the
// run no longer passes the filters. Each time the feed (re)connects, the columns are read
// again, so nothing that happened meanwhile is missed.
// Without this script the board is a plain page: a refresh shows the new state.
"use strict";

(function () {
  const board = document.getElementById("board");
  if (!board || !window.EventSource || !window.fetch) return;
  const live = document.getElementById("board-live");
  const pageSize = Number(board.dataset.pageSize) || 50;
  const MAX_BATCH = 100; // runs per read of cards (the server's limit)
  let epoch = 0; // bumped by each reload of the columns: card reads begun before are stale
  let touched = null; // runs whose cards were read while the columns were being read

  function html(text) {
    const template = document.createElement("template");
    template.innerHTML = text;
    return template.content;
  }

  function column(key) {
    return board.querySelector('.board-column[data-column="' + CSS.escape(key) + '"]');
  }

  function tidy() {
    for (const section of board.querySelectorAll(".board-column")) {
      const empty = section.querySelector(".board-empty");
      if (empty) empty.hidden = section.querySelector(".board-card") !== null;
    }
  }

  function setCounts(header) {
    if (!header) return;
    let counts;
    try {
      counts = JSON.parse(header);
    } catch (error) {
      return;
    }
    for (const [key, n] of Object.entries(counts)) {
      const section = column(key);
      const count = section && section.querySelector("[data-count]");
      if (count) count.textContent = Number(n).toLocaleString("en-US");
    }
  }

  // Newest first: by creation time, then id, both descending (as the server orders them).
  function newer(a, b) {
    const ca = a.dataset.created, cb = b.dataset.created;
    if (ca !== cb) return ca > cb;
    return a.dataset.runId > b.dataset.runId;
  }

  // What a person was doing in the old copy of some markup: typed answers, and the control
  // to focus again (the same one, else with ``anyControl`` the first of the new copy).
  function carryOver(from, to, anyControl) {
    for (const input of from.querySelectorAll("input[id], textarea[id]")) {
      const twin = to.querySelector("#" + CSS.escape(input.id));
      if (twin && input.value && !twin.value) twin.value = input.value;
    }
    const focused = document.activeElement;
    if (focused && from.contains(focused)) {
      const twin = focused.id ? to.querySelector("#" + CSS.escape(focused.id)) : null;
      return twin || (anyControl ? to.querySelector("a[href], button, input") : null);
    }
    return null;
  }

  function place(card) {
    const existing = document.getElementById(card.id);
    const section = column(card.dataset.column);
    const focus = existing ? carryOver(existing, card, true) : null;
    if (existing && existing.parentElement && existing.closest(".board-column") === section) {
      existing.replaceWith(card); // same column: in place
      if (focus) focus.focus();
      return true;
    }
    if (existing) existing.remove();
    // A column showing a later page keeps its page: the card is counted, not shown.
    if (!section || section.dataset.offset !== "0") return false;
    const list = section.querySelector(".board-cards");
    let before = null;
    for (const other of list.children) {
      if (newer(card, other)) {
        before = other;
        break;
      }
    }
    list.insertBefore(card, before);
    while (list.children.length > pageSize) list.lastElementChild.remove();
    if (focus && card.isConnected) focus.focus();
    return true;
  }

  // The runs the feed named since the last read: read together, one request at a time, so a
  // burst of changes costs a few requests however many runs it touches.
  const changed = new Set();
  let reading = false;

  function note(runId) {
    changed.add(runId);
    if (!reading) read();
  }

  async function read() {
    if (!changed.size) return;
    const runIds = [...changed].slice(0, MAX_BATCH);
    for (const runId of runIds) changed.delete(runId);
    reading = true;
    try {
      await readCards(runIds);
    } finally {
      reading = false;
      read();
    }
  }

  async function readCards(runIds) {
    const since = epoch;
    if (touched) for (const runId of runIds) touched.add(runId);
    const url = new URL(board.dataset.cardsUrl, window.location.href);
    for (const runId of runIds) url.searchParams.append("run", runId);
    let response, text;
    try {
      response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
      text = await response.text();
    } catch (error) {
      return; // the next change or reconnect brings them
    }
    if (!response.ok || since !== epoch) return; // the columns were read again meanwhile
    setCounts(response.headers.get("X-Board-Counts"));
    const update = html(text).querySelector(".board-update");
    if (!update) return;
    for (const item of Array.from(update.children)) {
      if (item.classList.contains("board-gone")) {
        const gone = document.getElementById("card-" + item.dataset.runId);
        if (gone) gone.remove();
      } else if (item.classList.contains("board-card") && place(item)) {
        fabroLocalTimes(item);
      }
    }
    tidy();
  }

  async function reload() {
    const mine = ++epoch;
    touched = new Set();
    let response, text;
    try {
      response = await fetch(board.dataset.columnsUrl, { credentials: "same-origin" });
      text = await response.text();
    } catch (error) {
      if (mine === epoch) touched = null;
      return; // the feed reconnects, and this runs again
    }
    if (mine !== epoch) return; // a later reload is on its way
    // Cards read meanwhile may be newer than these columns: read them again afterwards.
    const again = touched;
    touched = null;
    const fresh = response.ok ? html(text).querySelector(".board-columns") : null;
    if (!fresh) return;
    const current = board.querySelector(".board-columns");
    const focus = carryOver(current, fresh, false);
    current.replaceWith(fresh);
    fabroLocalTimes(fresh);
    if (focus) focus.focus();
    board.dataset.live = "on";
    for (const runId of again) note(runId);
  }

  function say(text) {
    if (!live) return;
    live.textContent = text;
    live.hidden = false;
  }

  const source = new EventSource(board.dataset.eventsUrl);
  source.addEventListener("open", () => {
    say("Live: the board updates as runs change.");
    reload();
  });
  source.addEventListener("error", () => say("Reconnecting to live updates…"));
  source.addEventListener("message", (event) => {
    let change;
    try {
      change = JSON.parse(event.data);
    } catch (error) {
      return;
    }
    if (change && typeof change.run_id === "string") note(change.run_id);
  });
})();
