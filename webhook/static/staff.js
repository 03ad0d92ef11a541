// The queue refreshes itself when an escalation arrives, leaves or changes; a transcript opens at its latest
// message. No inline script (CSP).
(function () {
  "use strict";
  var transcript = document.getElementById("transcript");
  if (transcript) { transcript.scrollTop = transcript.scrollHeight; }

  var table = document.getElementById("queue");
  if (!table) { return; }
  var POLL_MS = 5000;
  setInterval(function () {
    fetch("/staff/queue.json", { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (data && data.signature !== table.dataset.signature) { window.location.reload(); }
      })
      .catch(function () { /* try again next time */ });
  }, POLL_MS);
}());
