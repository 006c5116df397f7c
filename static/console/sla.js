/* SLA countdowns of the console: every [data-sla-due] element shows the time left (or
 * overdue) each second, amber inside its warning lead (data-sla-warn, seconds), red
 * when overdue. On the ticket page the SLA panel is refetched whenever console.js
 * redraws the header or the timeline (i.e. after a live update), so due times stay
 * those the server computed. Strings come translated in this script tag's data-strings.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  var strings = {};
  try { strings = JSON.parse(script.getAttribute("data-strings") || "{}"); } catch (error) { strings = {}; }

  function format(template, values) {
    return String(template || "").replace(/%\((\w+)\)s/g, function (_, key) {
      return values[key] === undefined ? "" : values[key];
    });
  }
  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function span(seconds) {
    var s = Math.floor(seconds);
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    if (d > 0) return format(strings.days || "%(d)sd %(h)sh", { d: d, h: h });
    if (h > 0) return format(strings.hours || "%(h)sh %(m)sm", { h: h, m: m });
    return pad(m) + ":" + pad(s % 60);
  }

  function tick() {
    var now = Date.now();
    var nodes = document.querySelectorAll("[data-sla-due]");
    for (var i = 0; i < nodes.length; i++) {
      var node = nodes[i];
      var due = Date.parse(node.getAttribute("data-sla-due"));
      if (isNaN(due)) continue;
      var left = (due - now) / 1000;
      var warn = parseInt(node.getAttribute("data-sla-warn") || "0", 10);
      var compact = node.classList.contains("sla-badge");  // inbox rows: no "left"
      var text = left < 0 ? format(strings.overdue || "-%(time)s", { time: span(-left) })
        : compact ? span(left) : format(strings.left || "%(time)s", { time: span(left) });
      if (node.textContent !== text) node.textContent = text;
      node.classList.toggle("sla-overdue", left < 0);
      node.classList.toggle("sla-soon", left >= 0 && left <= warn);
    }
  }

  // --- the ticket page panel ----------------------------------------------------------
  var pending = null;
  function refreshPanel() {
    var panel = document.getElementById("sla-panel");
    if (!panel) return;
    fetch(panel.getAttribute("data-fragment-url"), {
      credentials: "same-origin", headers: { "X-Requested-With": "fetch" }
    }).then(function (response) {
      if (!response.ok || response.redirected) throw new Error("HTTP " + response.status);
      return response.text();
    }).then(function (html) {
      var holder = document.createElement("div");
      holder.innerHTML = html;
      var fresh = holder.querySelector("#sla-panel");
      var current = document.getElementById("sla-panel");
      if (fresh && current && fresh.innerHTML !== current.innerHTML) current.replaceWith(fresh);
      tick();
    }).catch(function () {});
  }
  function soon() {
    if (pending) clearTimeout(pending);
    pending = setTimeout(function () { pending = null; refreshPanel(); }, 300);
  }
  if (document.getElementById("sla-panel") && window.MutationObserver) {
    var observer = new MutationObserver(soon);
    ["ticket-header", "timeline"].forEach(function (id) {
      var node = document.getElementById(id);
      if (node) observer.observe(node, { childList: true });
    });
  }

  tick();
  setInterval(tick, 1000);
})();
