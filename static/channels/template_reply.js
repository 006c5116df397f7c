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
    var names = namesOf(option);
    preview.textContent = option.getAttribute("data-preview").replace(/\{\{\s*([^{}\s]+)\s*\}\}/g, function (match, key) {
      var index = names.indexOf(key);
      return (index >= 0 && values[index]) || match;
    });
  }

  // Numbered templates: "1 2 3"; named ones: their names in order ("first_name order_no").
  function namesOf(option) {
    var names = (option && option.getAttribute("data-names")) || "";
    return names ? names.split(" ") : [];
  }

  function renderInputs() {
    var names = namesOf(selected());
    var previous = inputs().map(function (input) { return input.value; });
    box.textContent = "";
    for (var n = 1; n <= names.length; n++) {
      var row = document.createElement("label");
      var name = document.createElement("span");
      name.className = "placeholder";
      name.textContent = "{{" + names[n - 1] + "}}";
      var input = document.createElement("input");
      input.type = "text";
      input.name = "parameters";
      input.required = true;
      input.maxLength = maxChars;
      input.setAttribute("list", "template-suggestions");
      input.setAttribute("aria-label", (label + " " + names[n - 1]).trim());
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
