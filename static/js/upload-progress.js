// The model upload page: sends the form with XMLHttpRequest so that the page can show how much of the file has
// gone out, then "Validating…" while the server checks the package (validation runs in the request). The server
// answers such a request with the address of the new version's page ({"location"}), or with the form and its
// errors, which replace the page's form. Without JavaScript the form posts as usual.
(function () {
  "use strict";
  if (!window.XMLHttpRequest || !window.FormData || !window.DOMParser) { return; }
  var MB = 1024 * 1024;

  function megabytes(bytes) {
    return (bytes / MB).toFixed(1) + " MB";
  }

  function bind() {
    var form = document.getElementById("upload-form");
    var box = document.getElementById("upload-progress-box");
    if (!form || !box) { return; }
    var bar = document.getElementById("upload-progress");
    var status = document.getElementById("upload-status");
    var input = form.querySelector("input[type=file]");
    var button = form.querySelector("input[type=submit]");

    function show(text, value, max) {
      box.hidden = false;
      status.className = "";
      status.textContent = text;
      if (value === null) {
        bar.removeAttribute("value");  // indeterminate: the server is working
      } else {
        bar.max = max;
        bar.value = value;
      }
    }

    function failed(text) {
      show(text, 0, 1);
      status.className = "errornote";
      button.disabled = false;
    }

    function answered(request) {
      var type = request.getResponseHeader("Content-Type") || "";
      if (request.status === 200 && type.indexOf("application/json") === 0) {
        window.location.assign(JSON.parse(request.responseText).location);
      } else if (request.status === 200 && request.responseURL.split("?")[0] === form.action.split("?")[0]) {
        // The form with its errors (a field missing, a file over the limit): shown in place of this one.
        var answer = new DOMParser().parseFromString(request.responseText, "text/html");
        var fresh = answer.getElementById("content-main");
        document.getElementById("content-main").replaceWith(document.adoptNode(fresh));
        bind();
      } else if (request.status === 200) {
        window.location.assign(request.responseURL);  // sent elsewhere (a login page after the session ended)
      } else {
        failed("Model package: the upload failed, the server answered " + request.status +
               (request.status === 413 ? " (the file is larger than the server accepts)." : ".") +
               " No version was recorded from it; try again.");
      }
    }

    form.addEventListener("submit", function (event) {
      var file = input.files && input.files[0];
      if (!file) { return; }  // the server says the field is required
      event.preventDefault();
      var limit = parseInt(input.getAttribute("data-max-bytes"), 10);
      if (limit && file.size > limit) {
        failed("Model package: the file is " + megabytes(file.size) + "; packages of at most " + megabytes(limit) +
               " are accepted. Nothing was sent.");
        return;
      }
      var request = new XMLHttpRequest();
      request.open("POST", form.action);
      request.setRequestHeader("X-Requested-With", "XMLHttpRequest");
      request.upload.addEventListener("progress", function (progress) {
        if (!progress.lengthComputable) { return; }
        show("Sending the file: " + megabytes(progress.loaded) + " of " + megabytes(progress.total) + " (" +
             Math.floor(100 * progress.loaded / progress.total) + " %).", progress.loaded, progress.total);
      });
      request.upload.addEventListener("load", function () {
        show("Validating… the server is checking the package; this takes up to a minute.", null);
      });
      request.addEventListener("load", function () { answered(request); });
      request.addEventListener("error", function () {
        failed("Model package: the upload was interrupted (network or server unreachable). No version was " +
               "recorded from it; try again.");
      });
      button.disabled = true;
      show("Sending the file: 0.0 MB of " + megabytes(file.size) + " (0 %).", 0, file.size);
      request.send(new FormData(form));
    });
  }

  bind();
})();
