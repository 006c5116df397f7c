/*
 * The macro picker of the ticket page: "m" (or Alt+M, also while typing) opens it, the
 * chosen macro's text (rendered by the server for this ticket and this agent) goes into
 * the reply box, and sending then posts to the macro endpoint so the macro's actions
 * (status, tags) apply with the reply. Removing the chip sends a plain reply.
 * No dependencies; data and strings come from the #macro-data JSON.
 */
(function () {
  "use strict";

  var dataNode = document.getElementById("macro-data");
  var picker = document.getElementById("macro-picker");
  var form = document.getElementById("reply-form");
  var text = document.getElementById("reply-text");
  if (!dataNode || !picker || !form || !text) return;
  var data = JSON.parse(dataNode.textContent);
  var strings = data.strings || {};
  var byId = {};
  var loaded = null;  // the list is fetched when the picker first opens
  var filter = document.getElementById("macro-filter");
  var list = document.getElementById("macro-options");
  var chosenBox = document.getElementById("macro-chosen");
  var button = document.getElementById("macro-button");
  var chosen = null;
  var lastFocus = null;

  // The chip and the button live in the composer, next to the send button.
  var foot = form.querySelector(".composer-foot");
  if (foot) {
    foot.insertBefore(chosenBox, foot.firstChild);
    foot.insertBefore(button, foot.firstChild);
    button.hidden = false;
  }

  function options() {
    return Array.prototype.slice.call(list.querySelectorAll("li[data-macro]"));
  }
  function visibleOptions() {
    return options().filter(function (item) { return !item.hidden; });
  }
  function highlight(item) {
    options().forEach(function (other) { other.setAttribute("aria-selected", other === item ? "true" : "false"); });
    if (item) {
      item.scrollIntoView({ block: "nearest" });
      filter.setAttribute("aria-activedescendant", item.id);
    }
  }
  function current() { return list.querySelector('li[aria-selected="true"]:not([hidden])'); }

  function render(macros) {
    list.textContent = "";
    macros.forEach(function (macro) {
      byId[String(macro.id)] = macro;
      var item = document.createElement("li");
      item.setAttribute("role", "option");
      item.id = "macro-option-" + macro.id;
      item.setAttribute("data-macro", String(macro.id));
      item.setAttribute("aria-selected", "false");
      var name = document.createElement("span");
      name.className = "macro-name";
      name.textContent = macro.name;
      var scope = document.createElement("span");
      scope.className = macro.shared ? "chip" : "chip tag";
      scope.textContent = macro.shared ? strings.shared : strings.personal;
      var preview = document.createElement("span");
      preview.className = "macro-preview";
      preview.textContent = macro.text.length > 160 ? macro.text.slice(0, 159) + "…" : macro.text;
      item.appendChild(name);
      item.appendChild(scope);
      item.appendChild(preview);
      if (macro.actions && macro.actions.length) {
        var actions = document.createElement("span");
        actions.className = "macro-actions";
        actions.textContent = macro.actions.join(" · ");
        item.appendChild(actions);
      }
      list.appendChild(item);
    });
    var empty = document.createElement("li");
    empty.className = "muted empty";
    empty.setAttribute("data-empty", "");
    empty.textContent = strings.none;
    list.appendChild(empty);
    list.removeAttribute("aria-busy");
  }
  function load() {
    if (!loaded) {
      list.textContent = "";
      var waiting = document.createElement("li");
      waiting.className = "muted empty";
      waiting.textContent = strings.loading;
      list.appendChild(waiting);
      loaded = fetch(data.optionsUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (payload) { render(payload.macros || []); })
        .catch(function () { loaded = null; flash(strings.failed, "error"); });
    }
    return loaded || Promise.resolve();
  }

  function open() {
    lastFocus = document.activeElement;
    picker.hidden = false;
    filter.value = "";
    filter.focus();
    load().then(applyFilter);
  }
  function close(restore) {
    picker.hidden = true;
    if (restore !== false && lastFocus && lastFocus.focus) lastFocus.focus();
  }
  function applyFilter() {
    var query = filter.value.trim().toLowerCase();
    options().forEach(function (item) {
      var macro = byId[item.getAttribute("data-macro")];
      var haystack = (macro.name + " " + macro.text).toLowerCase();
      item.hidden = query !== "" && haystack.indexOf(query) === -1;
    });
    var first = visibleOptions()[0] || null;
    highlight(first);
    var empty = list.querySelector("[data-empty]");
    if (empty) empty.hidden = !!first;
  }

  function insert(macro) {
    var start = text.selectionStart || 0;
    var end = text.selectionEnd || 0;
    var before = text.value.slice(0, start);
    var after = text.value.slice(end);
    text.value = before + macro.text + after;
    var caret = before.length + macro.text.length;
    choose(macro);
    close(false);
    text.focus();
    text.setSelectionRange(caret, caret);
    text.dispatchEvent(new Event("input", { bubbles: true }));  // typing notice, as if typed
  }
  function choose(macro) {
    chosen = macro;
    chosenBox.hidden = !macro;
    if (!macro) return;
    chosenBox.querySelector("[data-macro-name]").textContent = macro.name;
    chosenBox.querySelector("[data-macro-actions]").textContent = (macro.actions || []).join(" · ");
  }

  filter.addEventListener("input", applyFilter);
  filter.addEventListener("keydown", function (event) {
    var items = visibleOptions();
    var index = items.indexOf(current());
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (!items.length) return;
      var step = event.key === "ArrowDown" ? 1 : -1;
      highlight(items[(index + step + items.length) % items.length]);
    } else if (event.key === "Enter") {
      event.preventDefault();
      var item = current();
      if (item) insert(byId[item.getAttribute("data-macro")]);
    } else if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      close();
    }
  });
  list.addEventListener("click", function (event) {
    var item = event.target.closest("li[data-macro]");
    if (item) insert(byId[item.getAttribute("data-macro")]);
  });
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-open-macros]")) open();
    else if (event.target.closest("[data-close-macros]") || event.target === picker) close();
    else if (event.target.closest("[data-clear-macro]")) choose(null);
  });

  function isField(node) {
    if (!node || node === document.body) return false;
    if (node.isContentEditable) return true;
    var tag = node.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") return true;
    if (tag !== "INPUT") return false;
    return ["checkbox", "radio", "button", "submit", "reset", "range", "color"].indexOf(node.type) === -1;
  }
  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || !picker.hidden) return;
    var altM = event.altKey && !event.ctrlKey && !event.metaKey && event.code === "KeyM";
    var plainM = event.key === "m" && !event.altKey && !event.ctrlKey && !event.metaKey && !isField(event.target);
    if (!altM && !plainM) return;
    event.preventDefault();
    open();
  });

  // Sending with a macro chosen: our endpoint sends the text and applies the actions.
  document.addEventListener("submit", function (event) {
    if (event.target !== form || !chosen) return;
    event.preventDefault();
    event.stopImmediatePropagation();  // console.js would post a plain reply
    if (form.classList.contains("busy")) return;
    var body = new FormData(form);
    body.set("macro", String(chosen.id));
    form.classList.add("busy");
    window.omniConsole.postForm(data.sendUrl, body).then(function (answer) {
      return { ok: answer.ok, payload: answer.data };
    }).then(function (result) {
      if (result.ok) {
        text.value = "";
        choose(null);
        text.dispatchEvent(new Event("input", { bubbles: true }));
        flash(result.payload.message || strings.sent, "success");
      } else {
        flash(result.payload.error ? result.payload.error.message : strings.failed, "error");
      }
    }).catch(function () {
      flash(strings.failed, "error");
    }).then(function () {
      form.classList.remove("busy");
    });
  }, true);

  function flash(message, kind) {
    var area = document.getElementById("flash");
    if (!area || !message) return;
    area.textContent = "";
    var item = document.createElement("div");
    item.className = "flash flash-" + kind;
    item.setAttribute("role", kind === "error" ? "alert" : "status");
    item.textContent = message;
    area.appendChild(item);
    setTimeout(function () { item.remove(); }, kind === "error" ? 7000 : 3000);
  }
})();
