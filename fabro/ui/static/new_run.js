// The new-run page: show only the chosen source, and check the DOT as it is typed (or as a
// file is chosen) against POST /ui/validate, listing the diagnostics at their lines.
// Everything from the server is written with textContent, never as markup.
"use strict";

(function () {
  const DEBOUNCE_MS = 400;
  const ICONS = { error: "✗", warning: "!", info: "i" };

  function init() {
    const form = document.getElementById("new-run-form");
    if (!form) return;
    const editor = document.getElementById("dot_source");
    const fileInput = document.getElementById("dot_file");
    const variables = document.getElementById("variables");
    const status = document.getElementById("validation-status");
    const list = document.getElementById("diagnostics");
    const view = document.getElementById("source-view");
    const url = form.dataset.validateUrl;
    let timer = null;
    let sequence = 0;
    let inFlight = null;
    let fileText = null;

    function chosenSource() {
      const checked = form.querySelector('input[name="source"]:checked');
      return checked ? checked.value : "dot";
    }

    function showPanels() {
      const chosen = chosenSource();
      for (const panel of form.querySelectorAll("[data-source-panel]")) {
        panel.hidden = panel.dataset.sourcePanel !== chosen;
      }
    }

    function textToCheck() {
      const chosen = chosenSource();
      if (chosen === "dot") return editor.value;
      if (chosen === "file") return fileText;
      return null;
    }

    function severityCount(diagnostics) {
      const counts = { error: 0, warning: 0, info: 0 };
      for (const d of diagnostics) counts[d.severity] = (counts[d.severity] || 0) + 1;
      const parts = [];
      for (const name of ["error", "warning", "info"]) {
        if (counts[name]) parts.push(counts[name] + " " + name + (counts[name] === 1 ? "" : "s"));
      }
      return parts.length ? parts.join(", ") + "." : "No problems found.";
    }

    function renderDiagnostics(diagnostics) {
      list.replaceChildren();
      for (const d of diagnostics) {
        const item = document.createElement("li");
        item.className = "diagnostic diagnostic-" + d.severity;
        const icon = document.createElement("span");
        icon.className = "icon";
        icon.setAttribute("aria-hidden", "true");
        icon.textContent = ICONS[d.severity] || "•";
        const severity = document.createElement("span");
        severity.className = "severity";
        severity.textContent = d.severity.charAt(0).toUpperCase() + d.severity.slice(1);
        item.append(icon, " ", severity, " ");
        if (d.line) {
          item.dataset.line = String(d.line);
          const link = document.createElement("a");
          link.className = "diagnostic-link";
          link.href = "#src-line-" + d.line;
          link.dataset.line = String(d.line);
          link.textContent = "line " + d.line + (d.col ? ", column " + d.col : "");
          item.append(link, ": ");
        }
        const message = document.createElement("span");
        message.className = "message";
        message.textContent = d.message;
        const rule = document.createElement("span");
        rule.className = "rule muted";
        rule.textContent = "(" + d.rule + ")";
        item.append(message, " ", rule);
        list.append(item);
      }
    }

    function renderLines(lines) {
      view.replaceChildren();
      for (const line of lines) {
        const item = document.createElement("li");
        if (line === null) {
          item.className = "source-gap";
          item.setAttribute("aria-hidden", "true");
          item.textContent = "…";
          view.append(item);
          continue;
        }
        item.id = "src-line-" + line.number;
        item.value = line.number;
        item.className = "source-line" + (line.severity ? " line-" + line.severity : "");
        const number = document.createElement("span");
        number.className = "line-number";
        number.setAttribute("aria-hidden", "true");
        number.textContent = String(line.number);
        const mark = document.createElement("span");
        mark.className = "line-mark";
        mark.setAttribute("aria-hidden", "true");
        mark.textContent = line.severity === "error" ? "✗" : line.severity ? "!" : "";
        item.append(number, mark);
        if (line.severity) {
          const spoken = document.createElement("span");
          spoken.className = "visually-hidden";
          spoken.textContent = line.severity + " on line " + line.number + ": ";
          item.append(spoken);
        }
        const code = document.createElement("code");
        code.textContent = line.text;
        item.append(code);
        view.append(item);
      }
      view.hidden = lines.length === 0;
    }

    async function check() {
      const text = textToCheck();
      if (inFlight) inFlight.abort();
      if (text === null || text.trim() === "") {
        renderDiagnostics([]);
        renderLines([]);
        status.textContent = chosenSource() === "registry"
          ? "Registry workflows are checked when the run starts."
          : "Type or paste DOT to check it.";
        return;
      }
      const mine = ++sequence;
      inFlight = new AbortController();
      status.textContent = "Checking…";
      try {
        const response = await fetch(url, {
          method: "POST",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": fabroCsrfToken() },
          body: JSON.stringify({ dot_source: text, variables: variables ? variables.value : "" }),
          credentials: "same-origin",
          signal: inFlight.signal,
        });
        if (mine !== sequence) return;
        if (!response.ok) {
          let detail = "HTTP " + response.status;
          try {
            const body = await response.json();
            detail = body.errors[0].detail;
          } catch (ignored) { /* a page, not the envelope */ }
          status.textContent = "Could not check the workflow: " + detail;
          return;
        }
        const body = await response.json();
        if (mine !== sequence) return;
        renderDiagnostics(body.diagnostics);
        renderLines(body.lines);
        status.textContent = severityCount(body.diagnostics);
      } catch (error) {
        if (error.name !== "AbortError") status.textContent = "Could not check the workflow.";
      }
    }

    function later() {
      clearTimeout(timer);
      timer = setTimeout(check, DEBOUNCE_MS);
    }

    // A diagnostic's link puts the caret at the start of its line in the editor.
    function moveCaret(line) {
      if (chosenSource() !== "dot") return false;
      const lines = editor.value.split("\n");
      let offset = 0;
      for (let index = 0; index < line - 1 && index < lines.length; index++) {
        offset += lines[index].length + 1;
      }
      editor.focus();
      editor.setSelectionRange(offset, offset);
      const lineHeight = parseFloat(getComputedStyle(editor).lineHeight) || 20;
      editor.scrollTop = Math.max(0, (line - 1) * lineHeight - editor.clientHeight / 2);
      return true;
    }

    list.addEventListener("click", (event) => {
      const link = event.target.closest(".diagnostic-link");
      if (!link) return;
      if (moveCaret(Number(link.dataset.line))) event.preventDefault();
    });

    for (const radio of form.querySelectorAll('input[name="source"]')) {
      radio.addEventListener("change", () => {
        showPanels();
        later();
      });
    }
    editor.addEventListener("input", later);
    if (variables) variables.addEventListener("input", later);
    if (fileInput) {
      fileInput.addEventListener("change", async () => {
        const file = fileInput.files && fileInput.files[0];
        fileText = file ? await file.text() : null;
        later();
      });
    }
    showPanels();
    if (chosenSource() === "registry" && list.children.length === 0) {
      status.textContent = "Registry workflows are checked when the run starts.";
    }
  }

  document.addEventListener("DOMContentLoaded", init);
})();
