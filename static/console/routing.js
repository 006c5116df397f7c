// The routing panel of the ticket page stays current: console.js refreshes the ticket's
// controls on every live ticket.updated event; when it does, refetch the panel too
// (never while the agent is typing in it).
(function () {
  "use strict";
  var controls = document.getElementById("ticket-controls");
  if (!controls || !window.MutationObserver || !window.fetch) return;
  var timer = null;
  var waiting = false;

  function panel() { return document.getElementById("routing-panel"); }
  function inUse(node) {
    return !!node && node.contains(document.activeElement) && document.activeElement !== document.body;
  }
  function refresh() {
    var current = panel();
    if (!current) return;
    if (inUse(current)) { waiting = true; return; }
    fetch(current.getAttribute("data-fragment-url"), {
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch" }
    }).then(function (response) {
      if (!response.ok) throw new Error(String(response.status));
      return response.text();
    }).then(function (html) {
      var holder = document.createElement("div");
      holder.innerHTML = html;
      var fresh = holder.querySelector("#routing-panel");
      var now = panel();
      if (!fresh || !now) return;
      if (inUse(now)) { waiting = true; return; }
      now.replaceWith(fresh);
    }).catch(function () {});
  }
  function later() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 150);
  }
  new MutationObserver(later).observe(controls, { childList: true });
  document.addEventListener("focusout", function (event) {
    var current = panel();
    if (waiting && current && !current.contains(event.relatedTarget)) {
      waiting = false;
      later();
    }
  });
})();
