// Keyboard grading for the screening page. Served from /static (no inline script: the CSP forbids it).
// Keys come from the ladder buttons' data-key attributes, so schemas/evidence_ladder.yaml stays the
// one place they are defined.
(function () {
  "use strict";
  let excludeMode = false;

  function form() { return document.getElementById("grade-form"); }

  function select(field, value) {
    const f = form();
    if (!f) return;
    f.querySelectorAll('button.choice[data-field="' + field + '"]').forEach(function (b) {
      b.classList.toggle("selected", b.dataset.value === value);
    });
    f.elements[field].value = value;
  }

  function setExclude(on) {
    const f = form();
    if (!f) return;
    excludeMode = on;
    document.getElementById("reasons").hidden = !on;
    document.getElementById("exclude-button").classList.toggle("selected", on);
    f.elements.relevance.value = on ? "exclude" : (f.elements.level.value ? "include" : "");
    if (!on) select("exclude_reason", "");
  }

  // htmx wires a swapped-in form up only when the swap settles (~20 ms later); a fast key press
  // in between would otherwise submit it natively (a full page load). process() is idempotent.
  function send(f) {
    if (window.htmx) window.htmx.process(f);
    f.requestSubmit();
  }

  function submit() {
    const f = form();
    if (f) send(f);
  }

  function maybeSubmit() {
    const f = form();
    if (!f) return;
    if (f.elements.relevance.value === "include" && f.elements.level.value && f.elements.direction.value) submit();
  }

  function chooseLevel(value) {
    setExclude(false);
    select("level", value);
    form().elements.relevance.value = "include";
    maybeSubmit();
  }

  function clickChoice(button) {
    const field = button.dataset.field;
    if (field === "level") return chooseLevel(button.dataset.value);
    if (field === "direction") { select("direction", button.dataset.value); return maybeSubmit(); }
    if (field === "exclude_reason") { select("exclude_reason", button.dataset.value); return submit(); }
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("button.choice");
    if (button) { event.preventDefault(); clickChoice(button); return; }
    if (event.target.closest("#exclude-button")) { event.preventDefault(); setExclude(!excludeMode); }
  });

  // Keys of the pages without a grading form (records list, conflicts queue) and the screening
  // page's moves (skip, maybe, back, records). True when the key was handled.
  function study() { return document.getElementById("study"); }
  function claimId() {
    const s = study();
    if (s) return s.dataset.claim;
    const m = window.location.pathname.match(/^\/claims\/([^/]+)/);
    return m ? m[1] : null;
  }
  function trail() {
    try { return JSON.parse(window.sessionStorage.getItem("litgrade-trail") || "[]"); } catch (e) { return []; }
  }
  function remember() {
    const s = study();
    if (!s || !s.dataset.pmid) return;
    const t = trail();
    if (t[t.length - 1] !== s.dataset.pmid) t.push(s.dataset.pmid);
    window.sessionStorage.setItem("litgrade-trail", JSON.stringify(t.slice(-50)));
  }
  function back() {
    const s = study();
    const t = trail();
    if (s && t.length && t[t.length - 1] === s.dataset.pmid) t.pop();
    const previous = t.pop();
    window.sessionStorage.setItem("litgrade-trail", JSON.stringify(t));
    if (!previous) return;
    const url = "/claims/" + encodeURIComponent(claimId()) + "?pmid=" + encodeURIComponent(previous);
    if (window.htmx && s) window.htmx.ajax("GET", url, { target: "#study", swap: "outerHTML" });
    else window.location.assign(url);
  }
  function pageKeys(event, key) {
    const id = claimId();
    const records = document.getElementById("records");
    const conflicts = document.querySelector("section.conflict.current");
    if (records && !study()) {
      const link = document.querySelector('#filters a[data-key="' + key + '"]');
      if (link) { event.preventDefault(); window.location.assign(link.href); return true; }
      if (key === "s" && id) { event.preventDefault(); window.location.assign("/claims/" + id); return true; }
      return false;
    }
    if (conflicts) {
      const choose = conflicts.querySelector('button.choose[data-key="' + key + '"]');
      if (choose) { event.preventDefault(); if (!choose.disabled) choose.click(); return true; }
      if (key === "w") { event.preventDefault(); conflicts.querySelector("form.write-final select").focus(); return true; }
      if (key === "s" && id) { event.preventDefault(); window.location.assign("/claims/" + id); return true; }
      return false;
    }
    if (!study()) return false;
    if (key === "k" || key === "?") {
      const park = document.getElementById(key === "k" ? "skip-form" : "maybe-form");
      if (park) { event.preventDefault(); send(park); }
      return true;
    }
    if (key === "b") { event.preventDefault(); back(); return true; }
    if (key === "r" && id) { event.preventDefault(); window.location.assign("/claims/" + id + "/records"); return true; }
    if (key === "p") {
      const first = document.getElementById("risk_of_bias");
      if (first) { event.preventDefault(); first.focus(); }
      return true;
    }
    return false;
  }

  document.addEventListener("DOMContentLoaded", remember);

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    const typing = target && (target.tagName === "TEXTAREA" || target.tagName === "INPUT" || target.tagName === "SELECT");
    if (typing) {
      if (event.key === "Escape") target.blur();
      return;
    }
    const f = form();
    const key = event.key;
    if (pageKeys(event, key)) return;
    if (key === "z") {
      const undo = document.getElementById("undo-form");
      if (undo) { event.preventDefault(); send(undo); }
      return;
    }
    if (!f) return;
    if (key === "Escape") { setExclude(false); select("level", ""); select("direction", ""); f.elements.relevance.value = ""; return; }
    if (key === "Enter") { event.preventDefault(); submit(); return; }
    if (key === "t") { event.preventDefault(); document.getElementById("note").focus(); return; }
    if (key === "x") { event.preventDefault(); setExclude(!excludeMode); return; }
    if (key === "a") {
      const s = document.getElementById("suggestion");
      if (s && s.dataset.level) { event.preventDefault(); chooseLevel(s.dataset.level); }
      return;
    }
    const scope = excludeMode ? "#reasons button.choice" : "fieldset.levels button.choice, fieldset.directions button.choice";
    const button = Array.from(f.querySelectorAll(scope)).find(function (b) { return b.dataset.key === key; });
    if (button) { event.preventDefault(); clickChoice(button); }
  });

  // A swapped-in study starts with a clean form.
  document.addEventListener("htmx:afterSwap", function () {
    excludeMode = false;
    remember();
    document.getElementById("problem").hidden = true;
  });

  // An error answer to an htmx request (expired form, signed out, store busy) is not swapped in:
  // show its one-line message instead (as text), so nothing fails silently.
  function problem(text) {
    const box = document.getElementById("problem");
    box.textContent = text;
    box.hidden = false;
  }
  document.addEventListener("htmx:responseError", function (event) {
    const xhr = event.detail.xhr;
    const doc = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
    const message = doc.getElementById("error-message");
    problem((message ? message.textContent : "The server answered " + xhr.status));
  });
  document.addEventListener("htmx:sendError", function () {
    problem("The litgrade server cannot be reached; your last action was not saved.");
  });
})();
