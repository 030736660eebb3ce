/* Import job page: follow the background import and show its progress.
 * Without JavaScript the page has a "Refresh" link; when the job ends, the page is
 * reloaded so the server renders the summary. */
(function () {
  "use strict";

  var POLL_MS = 1000;
  var MAX_POLLS = 6 * 60 * 60; // stop after about six hours

  function follow(box) {
    var url = box.dataset.statusUrl;
    var bar = document.getElementById("import-progress");
    var count = document.getElementById("import-count");
    var refresh = document.getElementById("import-refresh");
    var polls = 0;
    if (refresh && refresh.parentNode) { refresh.parentNode.hidden = true; }

    function show(job) {
      if (bar) {
        bar.max = Math.max(job.total, 1);
        bar.value = job.done;
        bar.textContent = job.done + " of " + job.total;
      }
      if (count) {
        count.textContent = job.done + " of " + job.total + (job.label ? ": " + job.label : "");
      }
    }

    function poll() {
      polls += 1;
      fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.json();
        })
        .then(function (job) {
          show(job);
          if (job.status === "done" || job.status === "failed") {
            window.location.reload();
          } else if (polls < MAX_POLLS) {
            window.setTimeout(poll, POLL_MS);
          }
        })
        .catch(function () {
          if (refresh && refresh.parentNode) { refresh.parentNode.hidden = false; }
          if (polls < MAX_POLLS) { window.setTimeout(poll, POLL_MS * 5); }
        });
    }

    poll();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("import-job");
    if (box && box.dataset.finished !== "true") { follow(box); }
  });
})();
