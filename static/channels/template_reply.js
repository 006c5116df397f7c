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

  function renderPreview() {
    var option = selected();
    if (!option) return;
    var values = inputs().map(function (input) { return input.value.trim(); });
    preview.textContent = option.getAttribute("data-preview").replace(/\{\{\s*(\d+)\s*\}\}/g, function (match, n) {
      return values[Number(n) - 1] || match;
    });
  }

  function renderInputs() {
    var option = selected();
    var count = option ? Number(option.getAttribute("data-params")) : 0;
    var previous = inputs().map(function (input) { return input.value; });
    box.textContent = "";
    for (var n = 1; n <= count; n++) {
      var row = document.createElement("label");
      var name = document.createElement("span");
      name.className = "placeholder";
      name.textContent = "{{" + n + "}}";
      var input = document.createElement("input");
      input.type = "text";
      input.name = "parameters";
      input.required = true;
      input.maxLength = maxChars;
      input.setAttribute("list", "template-suggestions");
      input.setAttribute("aria-label", (label + " " + n).trim());
      input.value = previous[n - 1] || "";
      row.appendChild(name);
      row.appendChild(input);
      box.appendChild(row);
    }
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
