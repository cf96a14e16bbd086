// Progressive enhancement for upload forms: show upload progress and survive a flaky connection.
// Without JavaScript the forms post normally. The form's idempotency key makes a re-send safe.
(function () {
  "use strict";
  document.querySelectorAll("form[data-progress]").forEach(function (form) {
    var box = form.querySelector(".upload-progress");
    var bar = box && box.querySelector("progress");
    var text = box && box.querySelector(".progress-text");
    var button = form.querySelector("button[type=submit]");
    form.addEventListener("submit", function (event) {
      if (!window.FormData || !box) { return; }
      event.preventDefault();
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      box.hidden = false;
      button.disabled = true;
      text.textContent = "Uploading…";
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) {
          var pct = Math.round((e.loaded / e.total) * 100);
          bar.value = pct;
          text.textContent = pct < 100 ? "Uploading: " + pct + "%" : "Checking the photos…";
        }
      });
      xhr.addEventListener("load", function () {
        if (xhr.status < 400 && xhr.responseURL) {
          window.location.assign(xhr.responseURL);
        } else {
          document.open();
          document.write(xhr.responseText);
          document.close();
          // Put the keyboard and screen reader on the problem, as a full page load would.
          var summary = document.querySelector(".error-summary");
          if (summary) { summary.focus(); }
        }
      });
      xhr.addEventListener("error", function () {
        button.disabled = false;
        text.textContent = "The connection was lost. Press the button again: the case will not be sent twice.";
      });
      xhr.send(new FormData(form));
    });
  });
})();
