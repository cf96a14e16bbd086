// Progressive enhancement for upload forms: show upload progress and survive a flaky connection.
// Without JavaScript the forms post normally. The form's idempotency key makes a re-send safe.
(function () {
  "use strict";
  // Before sending: say so when nobody is on duty for the chosen specialty.
  var specialty = document.getElementById("specialty");
  var dutyNotice = document.getElementById("duty-notice");
  var dutyNotices = document.querySelector("[data-duty-notices]");
  if (specialty && dutyNotice && dutyNotices && window.CSS && CSS.escape) {
    dutyNotices.hidden = true;
    var showDuty = function () {
      dutyNotice.textContent = "";
      var n = dutyNotices.querySelector('[data-specialty="' + CSS.escape(specialty.value) + '"]');
      if (n) { dutyNotice.appendChild(n.cloneNode(true)); }
    };
    specialty.addEventListener("change", showDuty);
    showDuty();
  }
  // Check each photo as soon as it is picked, so a blurred or dark one can be retaken at once.
  document.querySelectorAll("input[type=file][data-check]").forEach(function (input) {
    var box = input.parentNode.querySelector(".photo-feedback");
    var token = input.form && input.form.querySelector("input[name=csrf_token]");
    if (!box || !token || !window.FormData) { return; }
    input.addEventListener("change", function () {
      box.textContent = "";
      if (!input.files || !input.files[0]) { return; }
      box.textContent = "Checking the photo…";
      var data = new FormData();
      data.append("photo", input.files[0]);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", "/api/v1/photo-checks");
      xhr.setRequestHeader("X-CSRF-Token", token.value);
      xhr.addEventListener("load", function () {
        var body = {};
        try { body = JSON.parse(xhr.responseText); } catch (e) { /* shown below */ }
        box.textContent = "";
        var p = document.createElement("p");
        if (xhr.status === 200) {
          if (body.warning_messages.length === 0) {
            p.className = "check-ok";
            p.textContent = "Photo looks good (" + body.width + "×" + body.height + ").";
            box.appendChild(p);
          }
          body.warning_messages.forEach(function (m) {
            var w = document.createElement("p");
            w.className = "warning-callout";
            w.textContent = m;
            box.appendChild(w);
          });
        } else {
          p.className = "field-error";
          p.textContent = (body.error && body.error.message) || "This photo could not be checked.";
          box.appendChild(p);
        }
      });
      xhr.addEventListener("error", function () { box.textContent = "Could not check the photo (connection lost); it will be checked when you send."; });
      xhr.send(data);
    });
  });

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
