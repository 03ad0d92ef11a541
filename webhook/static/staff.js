// The queue refreshes itself when an escalation arrives or leaves. No inline script (CSP).
(function () {
  "use strict";
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
