// Harbour website chat. No framework: the page must work on an old phone.
(function () {
  "use strict";
  var log = document.getElementById("log");
  var greeting = document.getElementById("greeting");
  var suggestions = document.getElementById("suggestions");
  var statusLine = document.getElementById("status");
  var handover = document.getElementById("handover");
  var sendForm = document.getElementById("send");
  var sendButton = sendForm.querySelector("button");
  var messageBox = document.getElementById("message");
  var signinForm = document.getElementById("signin");
  var signinPanel = document.getElementById("signin-panel");
  var codeField = document.getElementById("code");
  var codeError = document.getElementById("code-error");
  var signedIn = document.getElementById("signed-in");
  var quickExit = document.getElementById("quick-exit");
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var lastId = 0;
  var inFlight = null;  // the poll on its way to the server, if any
  var sending = false;
  var firstPoll = true;
  var lastEscape = 0;
  var generation = 0;  // bumped when the transcript is cleared: a poll from before then is ignored
  var NAMES = { family: "You", bot: "Harbour", staff: "Partnership staff" };
  var POLL_MS = 1500;
  var ESCAPE_TWICE_MS = 1500;
  var SAFE_LINK = /^(tel|sms):\+?\d/;

  function request(method, url, body, keepalive) {
    var options = { method: method, headers: { "X-CSRFToken": csrf }, credentials: "same-origin" };
    if (body) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    if (keepalive) { options.keepalive = true; }
    return fetch(url, options).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) { throw new Error(data.error || "Something went wrong. Please try again."); }
        return data;
      });
    });
  }

  // Text goes in as text nodes, never as HTML; phone numbers the server found become tel: or sms: links.
  function fillText(element, message) {
    (message.parts || [{ text: message.text }]).forEach(function (part) {
      if (part.href && SAFE_LINK.test(part.href)) {
        var link = document.createElement("a");
        link.href = part.href;
        link.textContent = part.text;
        element.appendChild(link);
      } else {
        element.appendChild(document.createTextNode(part.text));
      }
    });
  }

  function addMessage(message, isSignedIn) {
    var item = document.createElement("div");
    item.className = "msg " + message.author;
    var who = document.createElement("span");
    who.className = "who";
    who.textContent = NAMES[message.author] || "Harbour";
    var text = document.createElement("span");
    text.className = "text";
    fillText(text, message);
    item.appendChild(who);
    item.appendChild(text);
    if (message.feedback) { item.appendChild(feedbackFor(message)); }
    if (message.sign_in && !isSignedIn) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "secondary sign-in-here";
      button.textContent = "Sign in";
      button.addEventListener("click", openSignIn);
      item.appendChild(button);
    }
    log.appendChild(item);
    return item;
  }

  // "Was this helpful? Yes / No" under an answer; once answered, only the thanks stays.
  function feedbackFor(message) {
    var box = document.createElement("div");
    box.className = "feedback";
    var thanks = document.createElement("p");
    thanks.className = "feedback-thanks";
    thanks.tabIndex = -1;
    if (message.feedback.given) {
      thanks.textContent = message.feedback.thanks;
      box.appendChild(thanks);
      return box;
    }
    var questionId = "feedback-question-" + message.id;
    var group = document.createElement("div");
    group.setAttribute("role", "group");
    group.setAttribute("aria-labelledby", questionId);
    var question = document.createElement("span");
    question.id = questionId;
    question.textContent = "Was this helpful?";
    group.appendChild(question);
    [["Yes", true], ["No", false]].forEach(function (choice) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "secondary";
      button.textContent = choice[0];
      button.addEventListener("click", function () {
        request("POST", "/chat/feedback", { message_id: message.id, helpful: choice[1] }).then(function (data) {
          thanks.textContent = data.thanks;
          group.remove();
          thanks.focus({ preventScroll: true });  // the button pressed has gone: keyboard users stay here
        }).catch(function (error) { thanks.textContent = error.message; });
      });
      group.appendChild(button);
    });
    box.appendChild(group);
    thanks.setAttribute("role", "status");
    box.appendChild(thanks);
    return box;
  }

  function openSignIn() {
    signinPanel.open = true;
    signinPanel.scrollIntoView({ block: "nearest" });
    codeField.focus();
  }

  function showSignedIn(isSignedIn) {
    signedIn.hidden = !isSignedIn;
    signinPanel.hidden = isSignedIn;
    if (isSignedIn) {
      Array.prototype.forEach.call(log.querySelectorAll(".sign-in-here"), function (b) { b.remove(); });
    }
  }

  function showHandover(state) {
    Array.prototype.forEach.call(handover.querySelectorAll("[data-state]"), function (line) {
      line.hidden = !state || line.getAttribute("data-state") !== state.state;
    });
    Array.prototype.forEach.call(handover.querySelectorAll(".when"), function (when) {
      when.textContent = state ? state.when : "";
    });
    handover.className = state ? "handover active" : "handover";
  }

  // The start of what arrived is brought into view (an answer's first line, not its end). Focus is left where
  // it is, so a phone's keyboard does not open again by itself.
  function bringIntoView(added) {
    if (!added.length) { return; }
    if (firstPoll) {
      log.scrollTop = log.scrollHeight;
      return;
    }
    var answer = added.filter(function (item) { return !item.classList.contains("family"); })[0];
    (answer || added[0]).scrollIntoView({ block: answer ? "start" : "nearest" });
  }

  function poll() {
    if (inFlight) { return Promise.resolve(-1); }  // one in flight already: it or the next shows the news
    var asked = generation;
    inFlight = request("GET", "/chat/messages?after=" + lastId).then(function (data) {
      if (asked !== generation) { return 0; }
      if (data.signed_out) {  // verification lapsed: the personal transcript is gone from this device
        clearTranscript();
        showSignedIn(false);
        statusLine.textContent = data.signed_out;
      }
      var added = data.messages.map(function (message) { return addMessage(message, data.signed_in); });
      lastId = data.last_id;
      showSignedIn(data.signed_in);
      showHandover(data.handover);
      if (added.length) { suggestions.hidden = true; }
      bringIntoView(added);
      firstPoll = false;
      log.removeAttribute("aria-busy");
      return added.length;
    }).catch(function () { return 0; /* the next poll tries again */ }).then(function (added) {
      inFlight = null;
      return added;
    });
    return inFlight;
  }

  // A poll already on its way may bring back the answer to what was just sent, and it hides the suggestions
  // when it shows it: wait for that one, then read on from where it stopped, so they are shown after it.
  function pollAfterAnyInFlight() {
    return (inFlight || Promise.resolve(0)).then(function (earlier) {
      return poll().then(function (later) { return Math.max(earlier, 0) + Math.max(later, 0); });
    });
  }

  function addSuggestion(button) {
    var b = document.createElement("button");
    b.type = "button";
    b.textContent = button.title;
    b.setAttribute("data-payload", button.payload);
    suggestions.appendChild(b);
  }

  function showSuggestions(replies) {
    suggestions.textContent = "";
    replies.forEach(function (reply) { (reply.buttons || []).forEach(addSuggestion); });
    suggestions.hidden = !suggestions.children.length;
  }

  function clearSuggestions() {
    if (suggestions.contains(document.activeElement)) {
      log.focus({ preventScroll: true });  // the button pressed is about to go: keep keyboard users in place
    }
    suggestions.textContent = "";
    suggestions.hidden = true;
  }

  function send(text) {
    text = text.trim();
    if (!text) { statusLine.textContent = "Please type a message first."; return; }
    if (sending) { return; }
    sending = true;
    sendButton.setAttribute("aria-disabled", "true");
    statusLine.textContent = "Harbour is replying...";
    clearSuggestions();
    request("POST", "/chat/messages", { text: text }).then(function (data) {
      if (messageBox.value.trim() === text) { messageBox.value = ""; }
      statusLine.textContent = "";
      return pollAfterAnyInFlight().then(function (added) {
        // If the transcript could not be read, still show what Harbour said.
        if (added === 0) {
          bringIntoView(data.replies.map(function (reply) { return addMessage({ author: "bot", text: reply.text }); }));
        }
        showSuggestions(data.replies);
      });
    }).catch(function (error) {
      statusLine.textContent = error.message;
    }).then(function () {
      sending = false;
      sendButton.removeAttribute("aria-disabled");
    });
  }

  function showCodeError(message) {
    codeError.textContent = message;
    codeError.hidden = !message;
    if (message) {
      codeField.setAttribute("aria-invalid", "true");
      codeField.setAttribute("aria-describedby", "code-hint code-error");
    } else {
      codeField.removeAttribute("aria-invalid");
      codeField.setAttribute("aria-describedby", "code-hint");
    }
  }

  // Everything this device showed of the conversation goes; the greeting is all that is left.
  function clearTranscript() {
    Array.prototype.forEach.call(log.querySelectorAll(".msg:not(#greeting)"), function (item) { item.remove(); });
    lastId = 0;
    generation += 1;
    messageBox.value = "";
    statusLine.textContent = "";
    showHandover(null);
  }

  function leaveQuickly(event) {
    if (event) { event.preventDefault(); }
    log.textContent = "";
    document.getElementById("chat").hidden = true;
    document.title = "Weather";
    try { request("POST", "/chat/leave", null, true).catch(function () {}); } catch (e) { /* leave anyway */ }
    window.location.replace(quickExit.href);  // replaces this page in the history: Back does not return here
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
  suggestions.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-payload]");
    if (button) { send(button.getAttribute("data-payload")); }
  });
  signinForm.addEventListener("submit", function (event) {
    event.preventDefault();
    request("POST", "/chat/signin", { code: codeField.value }).then(function (data) {
      if (!data.signed_in && data.replies) {  // what was typed was a cry for help: it is answered in the chat
        codeField.value = "";
        showCodeError("");
        signinPanel.open = false;
        return poll().then(function (added) {
          if (added === 0) { bringIntoView(data.replies.map(function (reply) { return addMessage({ author: "bot", text: reply.text }); })); }
        });
      }
      if (!data.signed_in) { throw new Error(data.error); }
      codeField.value = "";
      showCodeError("");
      signinPanel.open = false;
      clearTranscript();  // signing in starts a new conversation: only it is shown from now on
      inFlight = null;
      return poll();
    }).catch(function (error) {
      showCodeError(error.message);
      codeField.focus();
    });
  });
  document.getElementById("sign-out").addEventListener("click", function () {
    request("POST", "/chat/signout").then(function () {
      clearTranscript();
      showSignedIn(false);
      suggestions.hidden = true;
      statusLine.textContent = "You have signed out. The conversation has been cleared from this device.";
    }).catch(function (error) { statusLine.textContent = error.message; });
  });
  quickExit.addEventListener("click", leaveQuickly);
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") { return; }
    var now = Date.now();
    if (now - lastEscape < ESCAPE_TWICE_MS) { leaveQuickly(event); }
    lastEscape = now;
  });

  log.setAttribute("aria-busy", "true");  // a transcript restored on reload is not read out as new messages
  poll();
  setInterval(poll, POLL_MS);
}());
