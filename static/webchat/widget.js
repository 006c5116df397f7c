/* omniservice web chat widget: no dependency, no third-party code.
 *
 * <script src="https://support.example.com/chat/widget.js" data-key="KEY" async
 *         data-lang="zh-hans|en" data-user-id="..." data-user-hash="..."></script>
 *
 * Everything is drawn inside a shadow root (the host page's CSS cannot reach it) and
 * every text coming from people is set with textContent, never as HTML.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__omniWebChat) return;
  window.__omniWebChat = true;

  var base = new URL(script.src, location.href);
  var origin = base.origin;
  var key = script.getAttribute("data-key") || "";
  var userId = script.getAttribute("data-user-id") || "";
  var userHash = script.getAttribute("data-user-hash") || "";
  var wanted = (script.getAttribute("data-lang") || navigator.language || "en").toLowerCase();
  var lang = wanted.indexOf("zh") === 0 ? "zh-hans" : "en";
  var storeKey = "omni-webchat:" + key;
  var api = origin + "/chat/api/" + encodeURIComponent(key) + "/";

  var state = {
    token: null, texts: {}, online: true, offlineReason: "", prechat: true, limits: {},
    hasConversation: false, open: false, view: null, lastId: 0, socket: null, attempts: 0,
    typingTimer: null, typingSent: false, shown: {}, pending: {}, lastAgentId: 0
  };

  function stored() {
    try { return localStorage.getItem(storeKey); } catch (e) { return null; }
  }
  function store(token) {
    try { localStorage.setItem(storeKey, token); } catch (e) { /* private mode */ }
  }
  function t(name, params) {
    var text = state.texts[name] || name;
    Object.keys(params || {}).forEach(function (k) { text = text.replace("%(" + k + ")s", params[k]); });
    return text;
  }
  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  // --- HTTP -------------------------------------------------------------------------------

  function call(method, path, body) {
    var headers = { "Accept-Language": lang };
    if (state.token) headers.Authorization = "Bearer " + state.token;
    var options = { method: method, headers: headers, credentials: "omit", mode: "cors" };
    if (body instanceof FormData) options.body = body;
    else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    var sep = path.indexOf("?") === -1 ? "?" : "&";
    return fetch(api + path + sep + "lang=" + lang, options).then(function (response) {
      if (response.status === 204) return {};
      var type = response.headers.get("Content-Type") || "";
      if (type.indexOf("application/json") === -1) {
        return response.ok ? response : Promise.reject({ code: "http_" + response.status, message: t("error") });
      }
      return response.json().then(function (data) {
        if (!response.ok) return Promise.reject((data && data.error) || { message: t("error") });
        return data;
      });
    });
  }

  // --- DOM --------------------------------------------------------------------------------

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === "text") node.textContent = attrs[name];
      else if (name.indexOf("on") === 0) node.addEventListener(name.slice(2), attrs[name]);
      else node.setAttribute(name, attrs[name]);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  var host = el("div", { id: "omni-webchat" });
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  root.appendChild(el("link", { rel: "stylesheet", href: origin + "/chat/widget.css" }));
  var launcher = el("button", { type: "button", "class": "launcher", part: "launcher", onclick: toggle });
  launcher.appendChild(el("span", { "class": "bubble-icon", "aria-hidden": "true" }));
  var panel = el("section", { "class": "panel", role: "dialog", hidden: "" });
  var title = el("h2", { "class": "title" });
  var status = el("p", { "class": "status" });
  var closeButton = el("button", { type: "button", "class": "close", onclick: toggle, text: "×" });
  var header = el("header", {}, [el("div", {}, [title, status]), closeButton]);
  var body = el("div", { "class": "body" });
  panel.appendChild(header);
  panel.appendChild(body);
  root.appendChild(panel);
  root.appendChild(launcher);

  function toggle() {
    state.open = !state.open;
    if (state.open) panel.removeAttribute("hidden");
    else panel.setAttribute("hidden", "");
    launcher.setAttribute("aria-expanded", state.open ? "true" : "false");
    if (state.open) {
      launcher.classList.remove("unread");
      render();
      markSeen();
    }
  }

  function render() {
    title.textContent = state.title || "";
    status.textContent = state.online ? "" : t(state.offlineReason === "outside_hours" ? "outside_hours" : "no_agent");
    if (state.view) return;  // reopening keeps what was there
    if (!state.online && !state.hasConversation) return showOfflineForm();
    if (state.prechat && !state.hasConversation) return showPrechat();
    return showConversation();
  }

  function field(name, label, type, required, extra) {
    var input = el(type === "textarea" ? "textarea" : "input", Object.assign({ name: name, id: "f-" + name }, extra || {}));
    if (type !== "textarea") input.setAttribute("type", type);
    if (required) input.setAttribute("required", "");
    return el("label", { "for": "f-" + name }, [el("span", { text: label }), input]);
  }

  function formError(form, error) {
    var box = form.querySelector(".error");
    var text = error.message || t("error");
    var fields = error.fields || {};
    Object.keys(fields).forEach(function (name) { text += " " + fields[name].join(" "); });
    box.textContent = text;
  }

  function showPrechat() {
    state.view = "prechat";
    body.textContent = "";
    var form = el("form", { "class": "form prechat", novalidate: "" }, [
      el("p", { "class": "intro", text: t("prechat_intro") }),
      field("name", t("name"), "text", true, { autocomplete: "name", maxlength: "120" }),
      field("contact", t("contact"), "text", true, { autocomplete: "email", maxlength: "255" }),
      field("topic", t("topic"), "text", false, { placeholder: t("topic_placeholder"), maxlength: "120" }),
      field("text", t("message"), "textarea", true, { rows: "3", maxlength: "5000" }),
      el("p", { "class": "error", role: "alert" }),
      el("button", { type: "submit", "class": "primary", text: t("start") })
    ]);
    form.addEventListener("input", function () { form.querySelector(".error").textContent = ""; });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var data = formData(form);
      sendMessage(data.text, [], data).then(function () {
        state.hasConversation = true;
        showConversation();
      }, function (error) { formError(form, error); });
    });
    body.appendChild(form);
    form.querySelector("input").focus();
  }

  function showOfflineForm() {
    state.view = "offline";
    body.textContent = "";
    var form = el("form", { "class": "form offline", novalidate: "" }, [
      el("h3", { text: t("offline_title") }),
      el("p", { "class": "intro", text: t("offline_intro") }),
      field("name", t("name"), "text", true, { autocomplete: "name", maxlength: "120" }),
      field("contact", t("contact"), "text", true, { maxlength: "255" }),
      field("topic", t("topic"), "text", false, { maxlength: "120" }),
      field("text", t("message"), "textarea", true, { rows: "4", maxlength: "5000" }),
      el("p", { "class": "error", role: "alert" }),
      el("button", { type: "submit", "class": "primary", text: t("leave_message") })
    ]);
    form.addEventListener("input", function () { form.querySelector(".error").textContent = ""; });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var data = formData(form);
      data.client_id = uuid();
      call("POST", "offline", data).then(function () {
        state.hasConversation = true;
        showConversation();
        notice(t("offline_sent"));
      }, function (error) { formError(form, error); });
    });
    body.appendChild(form);
  }

  function formData(form) {
    var data = {};
    Array.prototype.forEach.call(form.querySelectorAll("input, textarea"), function (input) {
      data[input.name] = input.value.trim();
    });
    return data;
  }

  var list, typingLine, composer, textarea, fileInput, bannerBox;

  function showConversation() {
    state.view = "conversation";
    body.textContent = "";
    state.shown = {};
    bannerBox = el("p", { "class": "banner", role: "status" });
    if (!state.online) bannerBox.textContent = t("offline_banner");
    list = el("ol", { "class": "messages", "aria-live": "polite" });
    typingLine = el("p", { "class": "typing", "aria-live": "polite" });
    textarea = el("textarea", { rows: "1", placeholder: t("placeholder"), "aria-label": t("message"), maxlength: "5000" });
    fileInput = el("input", { type: "file", multiple: "", accept: "image/*,application/pdf,text/plain", hidden: "" });
    var attach = el("button", { type: "button", "class": "attach", title: t("attach"), "aria-label": t("attach"), onclick: function () { fileInput.click(); } });
    var sendButton = el("button", { type: "submit", "class": "primary send", text: t("send") });
    composer = el("form", { "class": "composer" }, [attach, textarea, sendButton, fileInput]);
    composer.addEventListener("submit", function (event) {
      event.preventDefault();
      submitComposer();
    });
    textarea.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        submitComposer();
      }
    });
    textarea.addEventListener("input", typing);
    fileInput.addEventListener("change", function () {
      var files = Array.prototype.slice.call(fileInput.files || []);
      fileInput.value = "";
      var tooLarge = files.some(function (f) { return f.size > (state.limits.max_attachment_bytes || 10485760); });
      if (tooLarge) return notice(t("too_large"));
      if (files.length) sendMessage("", files, {});
    });
    body.appendChild(bannerBox);
    body.appendChild(list);
    body.appendChild(typingLine);
    body.appendChild(composer);
    list.appendChild(el("li", { "class": "msg agent greeting" }, [el("p", { "class": "text", text: t("greeting") })]));
    state.lastId = 0;
    fetchNew();
    connect();
    textarea.focus();
  }

  function notice(text) {
    if (bannerBox) bannerBox.textContent = text;
  }

  function submitComposer() {
    var text = textarea.value.trim();
    if (!text) return;
    textarea.value = "";
    stopTyping();
    sendMessage(text, [], {});
  }

  function sendMessage(text, files, extra) {
    var clientId = uuid();
    var payload;
    if (files.length) {
      payload = new FormData();
      payload.append("client_id", clientId);
      payload.append("text", text);
      Object.keys(extra).forEach(function (k) { if (k !== "text") payload.append(k, extra[k]); });
      files.forEach(function (file) { payload.append("files", file, file.name); });
    } else {
      payload = Object.assign({}, extra, { client_id: clientId, text: text });
    }
    var bubble = null;
    if (list && state.view === "conversation") {
      bubble = renderMessage({ id: null, from: "visitor", text: text, attachments: files.map(function (f) { return { filename: f.name }; }), client_id: clientId });
      bubble.classList.add("pending");
      state.pending[clientId] = bubble;
      setMeta(bubble, t("sending"));
    }
    function attempt() {
      return call("POST", "messages", payload).then(function (data) {
        if (bubble && data.message && data.message.id) {
          if (!state.shown[data.message.id]) state.shown[data.message.id] = renderMessage(data.message, bubble);
          else if (bubble.parentNode) bubble.parentNode.removeChild(bubble);  // a fetch showed it
        }
        delete state.pending[clientId];
        return data;
      }, function (error) {
        if (bubble) {
          bubble.classList.add("failed");
          setMeta(bubble, (error && error.message) || t("failed"));
          bubble.onclick = function () { bubble.onclick = null; setMeta(bubble, t("sending")); attempt(); };
        }
        return Promise.reject(error || {});
      });
    }
    return attempt();
  }

  function setMeta(bubble, text) {
    var meta = bubble.querySelector(".meta");
    if (meta) meta.textContent = text;
  }

  function fetchNew() {
    if (state.view !== "conversation") return;
    if (state.fetching) { state.refetch = true; return; }
    state.fetching = true;
    call("GET", "messages?after=" + state.lastId).then(function (data) {
      (data.messages || []).forEach(function (message) {
        state.lastId = Math.max(state.lastId, message.id);
        if (state.shown[message.id]) return;
        var pending = message.client_id && state.pending[message.client_id];
        if (pending) delete state.pending[message.client_id];
        state.shown[message.id] = renderMessage(message, pending);
        if (message.from === "agent") {
          state.lastAgentId = Math.max(state.lastAgentId, message.id);
          typingLine.textContent = "";
        }
      });
      markSeen();
    }, function () { /* the socket's next event or reconnect fetches again */ }).then(function () {
      state.fetching = false;
      if (state.refetch) { state.refetch = false; fetchNew(); }
    });
  }

  function renderMessage(message, replacing) {
    var mine = message.from === "visitor";
    var item = el("li", { "class": "msg " + (mine ? "visitor" : "agent") });
    if (!mine && message.author) {
      item.appendChild(el("span", { "class": "avatar", "aria-hidden": "true", text: message.author.initials || "?" }));
      item.appendChild(el("span", { "class": "author", text: message.author.name || "" }));
    }
    if (message.text) item.appendChild(el("p", { "class": "text", text: message.text }));
    (message.attachments || []).forEach(function (file) {
      var link = el("button", { type: "button", "class": "file", text: file.filename || "file" });
      if (file.id) link.addEventListener("click", function () { download(file); });
      item.appendChild(link);
    });
    item.appendChild(el("span", { "class": "meta" }));
    if (replacing && replacing.parentNode) replacing.parentNode.replaceChild(item, replacing);
    else list.appendChild(item);
    list.scrollTop = list.scrollHeight;
    return item;
  }

  function download(file) {
    call("GET", "attachments/" + file.id).then(function (response) {
      return response.blob();
    }).then(function (blob) {
      var url = URL.createObjectURL(blob);
      var a = el("a", { href: url, download: file.filename || "file" });
      root.appendChild(a);
      a.click();
      a.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
    }, function (error) { notice((error && error.message) || t("error")); });
  }

  // --- live -------------------------------------------------------------------------------

  function connect() {
    if (state.socket) return;
    state.socket = "opening";
    // A fresh two-minute socket token (the URL may be logged; the visitor token never is).
    call("POST", "session", sessionBody()).then(function (data) {
      state.token = data.token;
      openSocket(data.socket_token);
    }, function () {
      state.socket = null;
      retryLater();
    });
  }

  function retryLater() {
    var delay = Math.min(30000, 1000 * Math.pow(2, state.attempts)) * (0.6 + Math.random() * 0.4);
    state.attempts = Math.min(state.attempts + 1, 6);
    setTimeout(connect, delay);
  }

  function openSocket(socketToken) {
    var url = origin.replace(/^http/, "ws") + "/ws/chat/?key=" + encodeURIComponent(key) + "&token=" + encodeURIComponent(socketToken);
    var socket = new WebSocket(url);
    state.socket = socket;
    socket.onopen = function () { state.attempts = 0; };
    socket.onmessage = function (event) {
      var data;
      try { data = JSON.parse(event.data); } catch (e) { return; }
      if (data.type === "hello") {
        state.online = !!data.online;
        if (bannerBox && bannerBox.textContent === t("offline_banner") && state.online) bannerBox.textContent = "";
        if (state.online) status.textContent = "";
        fetchNew();  // whatever came while we were away
      } else if (data.type === "message.added") {
        if (!state.open && data.from === "agent") launcher.classList.add("unread");
        fetchNew();
      } else if (data.type === "typing" && typingLine) {
        typingLine.textContent = data.typing ? t("typing", { name: data.name || "" }) : "";
      }
    };
    socket.onclose = function (event) {
      state.socket = null;
      if (event.code === 4403 || event.code === 4404) return;
      retryLater();  // 4401 too: the next attempt gets a fresh socket token
    };
  }

  function wsSend(data) {
    if (!state.socket || state.socket.readyState !== 1) return false;
    state.socket.send(JSON.stringify(data));
    return true;
  }

  function typing() {
    // Again every 2 s while typing: an agent who opens the ticket meanwhile sees it too.
    var now = Date.now();
    if (now - (state.typingAt || 0) >= 2000 && wsSend({ type: "typing", typing: true })) {
      state.typingSent = true;
      state.typingAt = now;
    }
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(stopTyping, 3000);
  }
  function stopTyping() {
    clearTimeout(state.typingTimer);
    state.typingAt = 0;
    if (state.typingSent) {
      state.typingSent = false;
      wsSend({ type: "typing", typing: false });
    }
  }

  function markSeen() {
    if (state.open && state.lastAgentId && document.visibilityState !== "hidden") {
      wsSend({ type: "seen", message_id: state.lastAgentId });
    }
  }
  document.addEventListener("visibilitychange", markSeen);

  // --- start ------------------------------------------------------------------------------

  function sessionBody() {
    var body = { token: state.token || stored() };
    if (userId) { body.user_id = userId; body.user_hash = userHash; }
    return body;
  }

  function start() {
    call("POST", "session", sessionBody()).then(function (data) {
      state.token = data.token;
      store(data.token);
      state.texts = data.texts || {};
      state.online = !!data.online;
      state.offlineReason = data.offline_reason || "";
      state.prechat = !!data.prechat;
      state.title = data.title;
      state.limits = data.limits || {};
      state.hasConversation = !!(data.visitor && data.visitor.has_conversation);
      launcher.setAttribute("aria-label", t("open"));
      launcher.setAttribute("title", t("open"));
      closeButton.setAttribute("aria-label", t("close"));
      panel.setAttribute("aria-label", data.title || "");
      document.body.appendChild(host);
      if (state.hasConversation) connect();  // replies arrive even before it is opened
    }, function (error) {
      if (window.console) console.warn("omniservice web chat:", (error && error.message) || error);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
