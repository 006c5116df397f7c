/*
 * The hotline screen pop: a call ringing at this agent, or answered by them, opens a
 * popup linking to the caller's ticket (with the customer 360 panel).
 *
 * The live event (call.ringing / call.answered on the agent's own group, relayed by
 * console.js as a "console:event" DOM event) carries ids only; who is calling is fetched
 * over HTTP (/console/calls/<id>/), which checks the agent may see it. No dependencies.
 */
(function () {
  "use strict";

  var configNode = document.getElementById("screen-pop-config");
  if (!configNode) return;
  var config = JSON.parse(configNode.textContent);
  var strings = config.strings || {};

  function url(template, id) { return template.replace("{id}", encodeURIComponent(id)); }
  function format(template, values) {
    return String(template || "").replace(/%\((\w+)\)s/g, function (_, key) {
      return values[key] == null ? "" : String(values[key]);
    });
  }
  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = text;
    return node;
  }

  function container() {
    var box = document.getElementById("screen-pops");
    if (!box) {
      box = element("div", "screen-pops");
      box.id = "screen-pops";
      box.setAttribute("aria-live", "assertive");
      document.body.appendChild(box);
    }
    return box;
  }

  function show(data) {
    var id = "screen-pop-" + data.call_id;
    var pop = document.getElementById(id);
    if (!pop) {
      pop = element("section", "screen-pop");
      pop.id = id;
      pop.setAttribute("role", "alertdialog");
      container().appendChild(pop);
    }
    pop.setAttribute("data-call", data.call_id);
    pop.setAttribute("data-state", data.type === "call.answered" ? "answered" : "ringing");
    pop.textContent = "";
    var title = element("h2", "screen-pop-title", data.type === "call.answered" ? strings.answered : strings.ringing);
    var who = element("p", "screen-pop-who", "");
    var link = element("a", "button primary screen-pop-open", format(strings.open, { number: data.ticket_id }));
    link.href = url(config.ticketUrl, data.ticket_id);
    var close = element("button", "link-button screen-pop-close", strings.close);
    close.type = "button";
    close.addEventListener("click", function () { pop.remove(); });
    pop.appendChild(title);
    pop.appendChild(who);
    pop.appendChild(link);
    pop.appendChild(close);
    fetch(url(config.popUrl, data.call_id), { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (info) {
        if (!info) return;
        who.textContent = info.customer + " · " + info.number + " · " + info.tier;
        link.title = info.subject;
      })
      .catch(function () {});
  }

  var style = element("style", null,
    ".screen-pops{position:fixed;right:1rem;bottom:1rem;z-index:1000;display:flex;flex-direction:column;gap:.5rem;max-width:22rem}" +
    ".screen-pop{background:#fff;border:2px solid #1b6ef3;border-radius:10px;box-shadow:0 6px 24px rgba(0,0,0,.2);padding:.8rem 1rem}" +
    ".screen-pop[data-state=answered]{border-color:#138a36}" +
    ".screen-pop-title{font-size:1rem;margin:0 0 .3rem}.screen-pop-who{margin:0 0 .6rem;min-height:1.2em}" +
    ".screen-pop-close{margin-left:.8rem}");
  document.head.appendChild(style);

  document.addEventListener("console:event", function (event) {
    var data = event.detail || {};
    if ((data.type === "call.ringing" || data.type === "call.answered") && data.ticket_id) show(data);
  });
})();
