/*
 * The rule editor's rows: add and remove condition / action rows (Django formsets), offer
 * only the operators of the chosen field, and turn the value box into a list when the
 * field or action has fixed choices. Without JavaScript the rows still post as typed.
 */
(function () {
  "use strict";

  var schemaNode = document.getElementById("rule-schema");
  var form = document.getElementById("rule-form");
  if (!schemaNode || !form) return;
  var schema = JSON.parse(schemaNode.textContent);

  function option(value, label, selected) {
    var node = document.createElement("option");
    node.value = value;
    node.textContent = label;
    if (selected) node.selected = true;
    return node;
  }

  // The value control: a <select> for choices, a <textarea> for notes, else a text box.
  function valueControl(row, spec) {
    var slot = row.querySelector("[data-value-slot]");
    var old = slot.querySelector("input, select, textarea");
    var value = old ? old.value : "";
    var wanted = spec && spec.choices ? "SELECT" : (spec && spec.kind === "longtext" ? "TEXTAREA" : "INPUT");
    var control = old;
    if (!old || old.tagName !== wanted) {
      control = document.createElement(wanted.toLowerCase());
      if (wanted === "INPUT") control.type = spec && spec.kind === "number" ? "number" : "text";
      if (wanted === "TEXTAREA") control.rows = 3;
      control.name = old.name;
      control.id = old.id;
      control.setAttribute("aria-label", old.getAttribute("aria-label") || "");
      slot.replaceChild(control, old);
    } else if (wanted === "INPUT") {
      control.type = spec && spec.kind === "number" ? "number" : "text";
    }
    if (wanted === "INPUT" && control.type === "number") { control.min = "0"; control.step = "any"; }
    if (wanted === "SELECT") {
      control.textContent = "";
      var known = false;
      spec.choices.forEach(function (pair) {
        if (String(pair[0]) === value) known = true;
        control.appendChild(option(pair[0], pair[1], String(pair[0]) === value));
      });
      if (!known && value === "" && spec.choices.length && spec.choices[0][0] !== "") control.selectedIndex = 0;
    } else {
      control.value = value;
    }
  }

  function syncCondition(row) {
    var field = row.querySelector('select[name$="-field"]');
    var operator = row.querySelector('select[name$="-operator"]');
    var spec = schema.fields[field.value];
    var chosen = operator.value;
    operator.textContent = "";
    if (!spec) {
      operator.appendChild(option("", "—", true));
    } else {
      spec.operators.forEach(function (pair, index) {
        operator.appendChild(option(pair[0], pair[1], pair[0] === chosen || (index === 0 && !spec.operators.some(function (p) { return p[0] === chosen; }))));
      });
    }
    valueControl(row, spec);
  }

  function syncAction(row) {
    var action = row.querySelector('select[name$="-action"]');
    valueControl(row, schema.actions[action.value]);
  }

  function sync(row) {
    if (row.getAttribute("data-row") === "condition") syncCondition(row);
    else syncAction(row);
  }

  function markDeleted(row) {
    var box = row.querySelector('input[name$="-DELETE"]');
    row.classList.toggle("deleted", !!(box && box.checked));
  }

  form.querySelectorAll("[data-row]").forEach(function (row) {
    sync(row);
    markDeleted(row);
  });

  form.addEventListener("change", function (event) {
    var row = event.target.closest("[data-row]");
    if (!row) return;
    if (event.target.matches('select[name$="-field"], select[name$="-action"]')) sync(row);
    if (event.target.matches('input[name$="-DELETE"]')) markDeleted(row);
  });

  form.addEventListener("click", function (event) {
    var add = event.target.closest("[data-add-row]");
    if (!add) return;
    var prefix = add.getAttribute("data-add-row");
    var total = form.querySelector("#id_" + prefix + "-TOTAL_FORMS");
    var template = document.getElementById(prefix + "-template");
    var index = parseInt(total.value, 10);
    var holder = document.createElement("div");
    holder.innerHTML = template.innerHTML.replace(/__prefix__/g, String(index));
    var row = holder.firstElementChild;
    document.getElementById(prefix === "conditions" ? "condition-rows" : "action-rows").appendChild(row);
    total.value = String(index + 1);
    sync(row);
    var first = row.querySelector("select");
    if (first) first.focus();
  });

  // Time rules have no events; event rules no schedule hint.
  function syncKind() {
    var checked = form.querySelector('input[name="kind"]:checked');
    var timed = checked && checked.value === "time";
    var events = form.querySelector("[data-events]");
    var hint = form.querySelector("[data-time-hint]");
    if (events) events.hidden = timed;
    if (hint) hint.hidden = !timed;
  }
  form.addEventListener("change", function (event) {
    if (event.target.name === "kind") syncKind();
  });
  syncKind();
})();
