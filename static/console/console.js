/*
 * The agent console in the browser: live updates, collision notices, presence, shortcuts.
 *
 * Live events arrive on the console websocket (/ws/console/, protocol in
 * channels_hub/consumers.py). They are thin ({type, stream, seq, ticket_id, ...}): on a
 * relevant event, on a gap in a stream's seq and after every (re)connect the page
 * refetches its HTML fragments over HTTP, so the server stays the one renderer.
 * No dependencies; the strings shown come translated in the page's JSON config.
 */
(function () {
  "use strict";

  var configNode = document.getElementById("console-config");
  if (!configNode) return;
  var config = JSON.parse(configNode.textContent);
  var strings = config.strings || {};
  var onTicket = config.page === "ticket";
  var onInbox = config.page === "inbox";
  document.documentElement.classList.add("js");

  function byId(id) { return document.getElementById(id); }
  // The file input is hidden behind its translated "Attach" label; the names it holds
  // are shown beside it (textContent: a file name is never markup).
  function showAttachmentNames() {
    var input = byId("reply-attachments");
    var names = byId("reply-attachment-names");
    if (!input || !names) return;
    names.textContent = Array.prototype.map.call(input.files || [], function (file) {
      return file.name;
    }).join(", ");
  }
  document.addEventListener("change", function (event) {
    if (event.target && event.target.id === "reply-attachments") showAttachmentNames();
  });
  function format(template, values) {
    return String(template || "").replace(/%\((\w+)\)s/g, function (_, key) {
      return values[key] == null ? "" : String(values[key]);
    });
  }
  function later(key, fn, ms) {
    clearTimeout(later.timers[key]);
    later.timers[key] = setTimeout(fn, ms);
  }
  later.timers = {};

  // --- flashes --------------------------------------------------------------------------

  function flash(text, kind) {
    var area = byId("flash");
    if (!area || !text) return;
    area.textContent = "";  // the latest outcome only
    var item = document.createElement("div");
    item.className = "flash flash-" + (kind || "success");
    item.setAttribute("role", kind === "error" ? "alert" : "status");
    item.textContent = text;
    area.appendChild(item);
    setTimeout(function () { item.remove(); }, kind === "error" ? 7000 : 3000);
  }
  var serverFlashes = byId("server-flashes");
  if (serverFlashes) setTimeout(function () { serverFlashes.remove(); }, 5000);

  // --- fragments ------------------------------------------------------------------------

  function fetchFragment(url) {
    return fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) {
        if (response.redirected) {
          // Signed out: reload to reach the login page; merged ticket: follow it.
          if (response.url.indexOf(config.loginUrl) !== -1) window.location.reload();
          else window.location.assign(response.url);
          throw new Error("redirected");
        }
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      });
  }

  function refreshInbox() {
    var list = byId("ticket-list");
    if (!list) return;
    fetchFragment(list.getAttribute("data-fragment-url")).then(function (html) {
      if (html === refreshInbox.last) return;  // nothing changed: keep the rows (and a click)
      refreshInbox.last = html;
      var known = {};
      rows().forEach(function (row) { known[row.getAttribute("data-ticket")] = true; });
      var selected = selectedRow();
      var selectedId = selected && selected.getAttribute("data-ticket");
      list.innerHTML = html;
      rows().forEach(function (row) {
        var id = row.getAttribute("data-ticket");
        if (!known[id]) row.classList.add("fresh");
        if (id === selectedId) row.classList.add("selected");
      });
    }).catch(function () {});
  }

  function refreshTimeline() {
    var box = byId("timeline");
    if (!box) return;
    fetchFragment(box.getAttribute("data-fragment-url")).then(function (html) {
      if (html === refreshTimeline.last) return;
      refreshTimeline.last = html;
      var nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
      box.innerHTML = html;
      if (nearBottom) box.scrollTop = box.scrollHeight;
    }).catch(function () {});
  }

  var summaryWaiting = false;
  function inUse(node) {
    return !!node && node.contains(document.activeElement) && document.activeElement !== document.body;
  }
  function refreshSummary() {
    var controls = byId("ticket-controls");
    if (!controls) return;
    fetchFragment(window.location.pathname + "?fragment=summary").then(function (html) {
      var holder = document.createElement("div");
      holder.innerHTML = html;
      var header = holder.querySelector('[data-part="ticket-header"]');
      if (header && byId("ticket-header")) byId("ticket-header").innerHTML = header.innerHTML;
      var fresh = holder.querySelector('[data-part="ticket-controls"]');
      if (!fresh) return;
      if (inUse(controls)) {
        summaryWaiting = true;  // never replace a control the agent is using
        return;
      }
      controls.innerHTML = fresh.innerHTML;
    }).catch(function () {});
  }
  if (onTicket && byId("ticket-controls")) {
    byId("ticket-controls").addEventListener("focusout", function (event) {
      if (summaryWaiting && !byId("ticket-controls").contains(event.relatedTarget)) {
        summaryWaiting = false;
        later("summary", refreshSummary, 400);
      }
    });
  }

  function refreshAll() {
    if (onInbox) later("inbox", refreshInbox, 150);
    if (onTicket) {
      later("timeline", refreshTimeline, 150);
      later("summary", refreshSummary, 150);
    }
  }

  // --- websocket ------------------------------------------------------------------------

  var socket = null;
  var attempts = 0;
  var lastSeq = {};
  var streams = {};   // the groups this socket is in: their seqs are tracked
  var missing = {};   // "stream:seq" -> when the hole was seen, awaited for SEQ_GRACE_MS before a refetch
  var missingTimer = null;
  var SEQ_GRACE_MS = 1000;
  var MAX_MISSING = 50;

  // Each event carries the seq of every group it was published to ("seqs"). A seq that
  // jumps leaves holes; concurrent publishers may deliver out of order, so a hole is given
  // SEQ_GRACE_MS to fill before the page refetches. Returns true to refetch at once.
  function trackSeqs(data) {
    var seqs = data.seqs;
    if (!seqs && data.stream) {
      seqs = {};
      seqs[data.stream] = data.seq;
    }
    if (!seqs) return false;
    var now = false;
    Object.keys(seqs).forEach(function (stream) {
      var seq = seqs[stream];
      if (!streams[stream] || typeof seq !== "number") return;
      var previous = lastSeq[stream];
      if (previous === undefined || seq === previous + 1) {
        lastSeq[stream] = seq;
      } else if (seq > previous + 1) {
        if (seq - previous - 1 > MAX_MISSING) now = true;
        var since = Date.now();
        for (var k = previous + 1; k < seq && k <= previous + MAX_MISSING; k++) missing[stream + ":" + k] = since;
        lastSeq[stream] = seq;
      } else {
        delete missing[stream + ":" + seq];  // a late one: its hole is filled
      }
    });
    if (now) missing = {};
    else scheduleHoleCheck(SEQ_GRACE_MS);
    return now;
  }

  function scheduleHoleCheck(delay) {
    if (missingTimer !== null || !Object.keys(missing).length) return;
    missingTimer = window.setTimeout(function () {
      missingTimer = null;
      var now = Date.now(), oldest = now, expired = false;
      Object.keys(missing).forEach(function (key) {
        if (now - missing[key] >= SEQ_GRACE_MS) expired = true;
        else oldest = Math.min(oldest, missing[key]);
      });
      if (expired) {
        missing = {};
        refreshAll();  // an event really was lost: what is on the page may be stale
      } else {
        scheduleHoleCheck(SEQ_GRACE_MS - (now - oldest));
      }
    }, delay);
  }

  var viewers = {};

  function setLive(state) {
    var node = byId("live-status");
    if (!node) return;
    node.setAttribute("data-state", state);
    node.textContent = strings[state] || state;
  }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    try {
      socket = new WebSocket(scheme + window.location.host + config.socketPath);
    } catch (error) {
      reconnectLater();
      return;
    }
    socket.addEventListener("message", function (event) {
      var data;
      try { data = JSON.parse(event.data); } catch (error) { return; }
      if (data && typeof data === "object") handle(data);
    });
    socket.addEventListener("close", function () {
      socket = null;
      viewers = {};
      renderViewers();
      reconnectLater();
    });
  }

  function reconnectLater() {
    setLive("reconnecting");
    var delay = Math.min(30000, 1000 * Math.pow(2, attempts)) * (0.6 + Math.random() * 0.4);
    attempts = Math.min(attempts + 1, 6);
    later("reconnect", connect, delay);
  }

  function handle(data) {
    var type = data.type;
    if (type === "hello") {
      attempts = 0;
      lastSeq = {};
      missing = {};
      streams = {};
      (data.streams || []).forEach(function (name) { streams[name] = true; });
      if (onTicket) streams["ticket." + config.ticket] = true;
      setLive("live");
      if (away) send({ type: "presence", state: "away" });
      if (onTicket) {
        send({ type: "view", ticket_id: config.ticket });
        if (replying) send({ type: "typing", ticket_id: config.ticket, replying: true, note: writingNote, channel: replyChannel });
      }
      refreshAll();  // whatever happened while we were not connected
      return;
    }
    if (type === "ticket.viewing" || type === "ticket.left") {
      if (!onTicket || data.ticket_id !== config.ticket || data.user_id === config.userId) return;
      if (type === "ticket.left") delete viewers[data.user_id];
      else viewers[data.user_id] = { name: data.name, replying: !!data.replying };
      renderViewers();
      return;
    }
    if (type === "customer.typing") {
      if (onTicket && data.ticket_id === config.ticket) {
        customerTyping = !!data.typing;
        renderViewers();
      }
      return;
    }
    if (type === "pong" || type === "error") return;
    var gap = trackSeqs(data);
    // Other scripts (the screen pop, static/phone/screen_pop.js) listen to the live events.
    document.dispatchEvent(new CustomEvent("console:event", { detail: data }));
    if (type === "agent.presence_changed" && data.user_id === config.userId) {
      setLive(data.presence === "away" ? "away" : "live");  // as recorded by the server
    }
    if (gap) {
      refreshAll();
      return;
    }
    if (onInbox && (type === "ticket.created" || type === "ticket.updated" || type === "message.added")) {
      later("inbox", refreshInbox, 150);
    }
    if (onTicket && data.ticket_id === config.ticket) {
      if (type === "message.added" || type === "message.updated" || type === "message.delivery_changed") later("timeline", refreshTimeline, 100);
      if (type === "message.added" && data.changed) later("summary", refreshSummary, 100);
      if (type === "ticket.updated") {
        later("summary", refreshSummary, 100);
        if ((data.changed || []).indexOf("messages") !== -1) later("timeline", refreshTimeline, 100);
      }
    }
  }

  var customerTyping = false;
  function renderViewers() {
    var box = byId("collision");
    if (!box) return;
    box.textContent = "";
    if (customerTyping && strings.customerTyping) {
      var typingNotice = document.createElement("span");
      typingNotice.className = "notice customer-typing";
      typingNotice.textContent = strings.customerTyping;
      box.appendChild(typingNotice);
    }
    Object.keys(viewers).forEach(function (id) {
      var viewer = viewers[id];
      var notice = document.createElement("span");
      notice.className = "notice" + (viewer.replying ? " replying" : "");
      notice.setAttribute("data-user", id);
      notice.textContent = format(viewer.replying ? strings.replying : strings.viewing, { name: viewer.name });
      box.appendChild(notice);
    });
  }

  // --- presence -------------------------------------------------------------------------

  var lastActivity = Date.now();
  var away = false;
  function activity() {
    lastActivity = Date.now();
    if (away) {
      away = false;
      send({ type: "presence", state: "online" });
    }
  }
  ["mousemove", "mousedown", "keydown", "touchstart", "wheel", "focus"].forEach(function (name) {
    window.addEventListener(name, activity, { passive: true, capture: true });
  });
  setInterval(function () {
    if (!away && Date.now() - lastActivity >= (config.idleSeconds || 300) * 1000) {
      away = true;
      send({ type: "presence", state: "away" });
    }
  }, 10000);

  // --- reply box: mode, typing notices, sending ----------------------------------------

  var replyForm = byId("reply-form");
  var replyText = byId("reply-text");
  var replying = false;

  function setMode(mode) {
    if (!replyForm) return;
    var radio = replyForm.querySelector('input[name="mode"][value="' + mode + '"]');
    if (radio) radio.checked = true;
    syncMode();
  }
  function syncMode() {
    if (!replyForm) return;
    var checked = replyForm.querySelector('input[name="mode"]:checked');
    var mode = checked ? checked.value : "reply";
    replyForm.classList.toggle("mode-note", mode === "note");
    replyForm.classList.toggle("mode-reply", mode !== "note");
    replyText.placeholder = replyText.getAttribute("data-placeholder-" + mode) || "";
    var button = byId("send-button");
    if (button) button.textContent = button.getAttribute("data-label-" + mode) || button.textContent;
  }
  var writingNote = false;
  var replyChannel = "";
  function syncTyping() {
    if (!replyText) return;
    var now = replyText.value.trim() !== "";
    var checked = replyForm && replyForm.querySelector('input[name="mode"]:checked');
    var note = !!(checked && checked.value === "note");  // a note never shows in a web chat
    var picker = byId("reply-channel");
    var channel = picker ? picker.value : "";
    if (now !== replying || note !== writingNote || channel !== replyChannel) {
      replying = now;
      writingNote = note;
      replyChannel = channel;
      send({ type: "typing", ticket_id: config.ticket, replying: now, note: note, channel: channel });
    }
  }
  if (replyForm) {
    replyForm.addEventListener("change", function (event) {
      if (event.target.name === "mode") syncMode();
      if (event.target.name === "mode" || event.target.name === "channel") syncTyping();
    });
    replyText.addEventListener("input", syncTyping);
    replyText.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        replyForm.requestSubmit();
      }
    });
    syncMode();
  }
  var timelineBox = byId("timeline");
  if (timelineBox) timelineBox.scrollTop = timelineBox.scrollHeight;

  // Forms marked data-async post with fetch and stay on the page; without JS they
  // post normally and the server redirects back (POST/redirect/GET).
  // POST a form's data and read the JSON answer: {ok, data}. Shared with macros.js.
  function postForm(url, body) {
    return fetch(url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": body.get("csrfmiddlewaretoken") || "" }
    }).then(function (response) {
      return response.json().then(function (data) { return { ok: response.ok, data: data }; });
    });
  }
  window.omniConsole = window.omniConsole || {};
  window.omniConsole.postForm = postForm;

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-async]")) return;
    event.preventDefault();
    if (form.classList.contains("busy")) return;
    var body = new FormData(form);
    form.classList.add("busy");
    postForm(form.action, body).then(function (result) {
      if (result.ok) {
        flash(result.data.message, "success");
        if (form === replyForm) {
          replyText.value = "";
          var files = byId("reply-attachments");
          if (files) { files.value = ""; showAttachmentNames(); }
          syncTyping();
          setMode("reply");
        }
      } else {
        flash(result.data.error ? result.data.error.message : strings.failed, "error");
      }
      // Scripts owning a form (static/channels/template_reply.js) reset it themselves.
      document.dispatchEvent(new CustomEvent("console:posted", { detail: { form: form, ok: result.ok } }));
      refreshAll();
    }).catch(function () {
      flash(strings.failed, "error");
    }).then(function () {
      form.classList.remove("busy");
    });
  });
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches && target.matches("select[data-autosubmit]") && target.form) {
      target.form.requestSubmit();
    }
  });

  // --- inbox selection ------------------------------------------------------------------

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("#ticket-list tbody tr[data-href]"));
  }
  function selectedRow() { return document.querySelector("#ticket-list tbody tr.selected"); }
  function moveSelection(step) {
    var all = rows();
    if (!all.length) return;
    var index = all.indexOf(selectedRow());
    var next = index === -1 ? (step > 0 ? 0 : all.length - 1) : Math.max(0, Math.min(all.length - 1, index + step));
    all.forEach(function (row) { row.classList.remove("selected"); row.removeAttribute("aria-selected"); });
    all[next].classList.add("selected");
    all[next].setAttribute("aria-selected", "true");
    all[next].scrollIntoView({ block: "nearest" });
  }
  var list = byId("ticket-list");
  if (list) {
    list.addEventListener("click", function (event) {
      if (event.target.closest("a, button, input, select")) return;
      var row = event.target.closest("tr[data-href]");
      if (row) window.location.assign(row.getAttribute("data-href"));
    });
  }

  // --- keyboard shortcuts ---------------------------------------------------------------

  var help = byId("shortcut-help");
  function toggleHelp(show) {
    if (!help) return;
    help.hidden = show === undefined ? !help.hidden : !show;
  }
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-open-help]")) toggleHelp(true);
    else if (event.target.closest("[data-close-help]") || event.target === help) toggleHelp(false);
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
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (isField(event.target)) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    var search = byId("console-search");
    switch (event.key) {
      case "?":
        toggleHelp();
        break;
      case "Escape":
        if (!help || help.hidden) return;
        toggleHelp(false);
        break;
      case "/":
        if (!search) return;
        search.focus();
        search.select();
        break;
      case "r":
      case "n":
        if (!replyForm) return;
        setMode(event.key === "n" ? "note" : "reply");
        replyText.focus();
        break;
      case "j":
      case "k":
        if (!onInbox) return;
        moveSelection(event.key === "j" ? 1 : -1);
        break;
      case "Enter":
        var row = onInbox && event.target === document.body ? selectedRow() : null;
        if (!row) return;
        window.location.assign(row.getAttribute("data-href"));
        break;
      case "s":
        var solve = byId("solve-form");
        if (!solve || solve.hidden) return;
        solve.requestSubmit();
        break;
      default:
        return;
    }
    event.preventDefault();
  });

  setLive("connecting");
  connect();
})();
