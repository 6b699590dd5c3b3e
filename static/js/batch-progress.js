// The batch job page's progress bar: polls the job's status every second and reloads the page (which then
// shows the summary) once the job has finished. Without JavaScript the page refreshes itself (<noscript>).
(function () {
  "use strict";
  var box = document.getElementById("batch-progress");
  if (!box || !window.fetch) { return; }
  var bar = document.getElementById("batch-progress-bar");
  var text = document.getElementById("batch-progress-text");
  var url = box.getAttribute("data-status-url");
  var INTERVAL_MS = 1000;

  function show(progress) {
    bar.max = Math.max(progress.rows_total, 1);
    bar.value = progress.rows_done;
    bar.textContent = progress.percent + " %";
    if (progress.status === "queued") {
      text.textContent = "Waiting for a worker to start…";
    } else {
      text.textContent = progress.rows_done + " of " + progress.rows_total + " students done (" + progress.percent + " %).";
    }
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error("status " + response.status); }
        return response.json();
      })
      .then(function (progress) {
        show(progress);
        if (progress.finished) {
          window.location.reload();
        } else {
          window.setTimeout(poll, INTERVAL_MS);
        }
      })
      .catch(function () {
        // A missed answer (server restarting, network): try again a little later.
        window.setTimeout(poll, INTERVAL_MS * 3);
      });
  }

  window.setTimeout(poll, INTERVAL_MS);
})();
