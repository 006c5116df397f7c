/*
 * The reply box's "Send a template": one input per parameter of the chosen template and
 * a preview of what the customer receives. The form posts like every console form
 * (data-async, console.js); values are set with textContent, never as HTML.
 */
(function () {
  "use strict";

  var form = document.getElementById("template-reply-form");
  if (!form) return;
  var picker = document.getElementById("template-picker");
  var box = document.getElementById("template-params");
  var preview = document.getElementById("template-preview");
  var label = form.getAttribute("data-parameter-label") || "";
  var maxChars = Number(form.getAttribute("data-max-chars")) || 1024;

  function selected() { return picker.options[picker.selectedIndex]; }
  function inputs() { return Array.prototype.slice.call(box.querySelectorAll('input[name="parameters"]')); }

  // The template's values: [{label, part ("header", "body", "button"), key}], in order.
  function slotsOf(option) {
    try { return JSON.parse((option && option.getAttribute("data-slots")) || "[]"); } catch (e) { return []; }
  }

  function renderPreview() {
    var option = selected();
    if (!option) return;
    var slots = slotsOf(option);
    var values = inputs().map(function (input) { return input.value.trim(); });
    function fill(part) {
      return (option.getAttribute("data-" + part) || "").replace(/\{\{\s*([^{}\s]+)\s*\}\}/g, function (match, key) {
        for (var i = 0; i < slots.length; i++) {
          if (slots[i].part === part && slots[i].key === key) return values[i] || match;
        }
        return match;
      });
    }
    var parts = [fill("header"), fill("body"), option.getAttribute("data-footer") || ""];
    preview.textContent = parts.filter(function (part) { return part.trim(); }).join("\n\n");
  }

  function renderInputs() {
    var slots = slotsOf(selected());
    var previous = inputs().map(function (input) { return input.value; });
    box.textContent = "";
    slots.forEach(function (slot, n) {
      var row = document.createElement("label");
      var name = document.createElement("span");
      name.className = "placeholder";
      name.textContent = slot.label;
      var input = document.createElement("input");
      input.type = "text";
      input.name = "parameters";
      input.required = true;
      input.maxLength = maxChars;
      input.setAttribute("list", "template-suggestions");
      input.setAttribute("aria-label", (label + " " + slot.label).trim());
      input.value = previous[n] || "";
      row.appendChild(name);
      row.appendChild(input);
      box.appendChild(row);
    });
    renderPreview();
  }

  picker.addEventListener("change", renderInputs);
  box.addEventListener("input", renderPreview);
  document.addEventListener("console:posted", function (event) {
    if (event.detail.form !== form || !event.detail.ok) return;
    inputs().forEach(function (input) { input.value = ""; });
    renderPreview();
  });
  renderPreview();
})();
