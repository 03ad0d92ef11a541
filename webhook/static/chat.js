// Harbour website chat. No framework: the page must work on an old phone.
(function () {
  "use strict";
  var log = document.getElementById("log");
  var suggestions = document.getElementById("suggestions");
  var statusLine = document.getElementById("status");
  var sendForm = document.getElementById("send");
  var messageBox = document.getElementById("message");
  var signinForm = document.getElementById("signin");
  var signinPanel = document.getElementById("signin-panel");
  var signedIn = document.getElementById("signed-in");
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var lastId = 0;
  var polling = false;
  var NAMES = { family: "You", bot: "Harbour", staff: "Partnership staff" };
  var POLL_MS = 1500;

  function request(method, url, body) {
    var options = { method: method, headers: { "X-CSRFToken": csrf }, credentials: "same-origin" };
    if (body) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) { throw new Error(data.error || "Something went wrong. Please try again."); }
        return data;
      });
    });
  }

  function addMessage(message) {
    var item = document.createElement("div");
    item.className = "msg " + message.author;
    var who = document.createElement("span");
    who.className = "who";
    who.textContent = NAMES[message.author] || "Harbour";
    var text = document.createElement("span");
    text.textContent = message.text;  // never innerHTML: text is shown exactly as written
    item.appendChild(who);
    item.appendChild(text);
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
  }

  function showSignedIn(isSignedIn) {
    signedIn.hidden = !isSignedIn;
    signinPanel.hidden = isSignedIn;
  }

  function poll() {
    if (polling) { return Promise.resolve(-1); }  // one in flight already: it or the next shows the news
    polling = true;
    return request("GET", "/chat/messages?after=" + lastId).then(function (data) {
      data.messages.forEach(addMessage);
      lastId = data.last_id;
      showSignedIn(data.signed_in);
      return data.messages.length;
    }).catch(function () { return 0; /* the next poll tries again */ }).then(function (added) {
      polling = false;
      return added;
    });
  }

  function showSuggestions(replies) {
    suggestions.textContent = "";
    replies.forEach(function (reply) {
      (reply.buttons || []).forEach(function (button) {
        var b = document.createElement("button");
        b.type = "button";
        b.textContent = button.title;
        b.addEventListener("click", function () { send(button.payload); });
        suggestions.appendChild(b);
      });
    });
  }

  function send(text) {
    text = text.trim();
    if (!text) { statusLine.textContent = "Please type a message first."; messageBox.focus(); return; }
    var button = sendForm.querySelector("button");
    button.disabled = true;
    statusLine.textContent = "Harbour is replying...";
    suggestions.textContent = "";
    request("POST", "/chat/messages", { text: text }).then(function (data) {
      messageBox.value = "";
      statusLine.textContent = "";
      return poll().then(function (added) {
        // If the transcript could not be read, still show what Harbour said.
        if (added === 0) { data.replies.forEach(function (reply) { addMessage({ author: "bot", text: reply.text }); }); }
        showSuggestions(data.replies);
      });
    }).catch(function (error) {
      statusLine.textContent = error.message;
    }).then(function () {
      button.disabled = false;
      messageBox.focus();
    });
  }

  sendForm.addEventListener("submit", function (event) {
    event.preventDefault();
    send(messageBox.value);
  });
  messageBox.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      send(messageBox.value);
    }
  });
  signinForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var code = document.getElementById("code");
    request("POST", "/chat/signin", { code: code.value }).then(function (data) {
      code.value = "";
      statusLine.textContent = "";
      return poll();
    }).catch(function (error) { statusLine.textContent = error.message; });
  });

  poll();
  setInterval(poll, POLL_MS);
}());
