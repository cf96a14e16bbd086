// Progressive enhancement for upload forms: photos upload as they are picked, progress shows, and
// a flaky connection loses nothing.
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
  // Each photo uploads as soon as it is picked (its own request, progress and retry), is
  // cleaned and checked like any case photo, and comes back as a thumbnail with its quality
  // check; the form then sends only the photo's id. Without JavaScript the file travels with
  // the form instead.
  var pending = 0;
  function csrfOf(form) {
    var t = form && form.querySelector("input[name=csrf_token]");
    return t ? t.value : "";
  }
  function para(cls, text) {
    var p = document.createElement("p");
    if (cls) { p.className = cls; }
    p.textContent = text;
    return p;
  }
  function resetSlot(input, box) {
    var hidden = box.querySelector("input[name=staged_photo]");
    if (hidden) { hidden.remove(); }
    box.textContent = "";
    input.setAttribute("name", "photo");
    input.value = "";
  }
  function wireRemove(button, input, box) {
    button.addEventListener("click", function () {
      var id = button.getAttribute("data-remove");
      var xhr = new XMLHttpRequest();
      xhr.open("DELETE", "/api/v1/staged-photos/" + encodeURIComponent(id));
      xhr.setRequestHeader("X-CSRF-Token", csrfOf(input.form));
      xhr.send();
      resetSlot(input, box);
      box.appendChild(para("", "Photo removed."));
      input.focus();
    });
  }
  function showStaged(input, box, body, n) {
    box.textContent = "";
    var hidden = document.createElement("input");
    hidden.type = "hidden";
    hidden.name = "staged_photo";
    hidden.value = body.id;
    box.appendChild(hidden);
    var wrap = document.createElement("div");
    wrap.className = "staged-photo";
    var img = document.createElement("img");
    img.src = body.thumb_href;
    img.alt = "Photo " + n + " as it will be sent";
    wrap.appendChild(img);
    var side = document.createElement("div");
    if (body.warning_messages.length === 0) {
      side.appendChild(para("check-ok", "Uploaded: photo looks good (" + body.width + "×" + body.height + ")."));
    } else {
      side.appendChild(para("", "Uploaded (" + body.width + "×" + body.height + ")."));
    }
    body.warning_messages.forEach(function (m) { side.appendChild(para("warning-callout", m)); });
    var remove = document.createElement("button");
    remove.type = "button";
    remove.className = "nhsuk-button nhsuk-button--secondary";
    remove.setAttribute("data-remove", body.id);
    remove.textContent = "Remove photo " + n;
    side.appendChild(remove);
    wrap.appendChild(side);
    box.appendChild(wrap);
    wireRemove(remove, input, box);
    // The photo now travels by id, not with the form.
    input.removeAttribute("name");
    input.value = "";
  }
  document.querySelectorAll("[data-slot]").forEach(function (slot, i) {
    var input = slot.querySelector("input[type=file][data-stage]");
    var box = slot.querySelector(".photo-feedback");
    var progress = slot.querySelector(".upload-progress");
    if (!input || !box || !progress || !window.FormData) { return; }
    var bar = progress.querySelector("progress");
    var text = progress.querySelector(".progress-text");
    var n = i + 1;
    box.querySelectorAll("[data-remove]").forEach(function (b) { wireRemove(b, input, box); });
    function upload(file) {
      var old = box.querySelector("input[name=staged_photo]");
      if (old) { resetSlot(input, box); }
      box.textContent = "";
      progress.hidden = false;
      bar.value = 0;
      text.textContent = "Uploading photo " + n + "…";
      pending += 1;
      var data = new FormData();
      data.append("photo", file);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", "/api/v1/staged-photos");
      xhr.setRequestHeader("X-CSRF-Token", csrfOf(input.form));
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) {
          var pct = Math.round((e.loaded / e.total) * 100);
          bar.value = pct;
          text.textContent = pct < 100 ? "Uploading photo " + n + ": " + pct + "%" : "Checking photo " + n + "…";
        }
      });
      function done() { pending -= 1; progress.hidden = true; }
      xhr.addEventListener("load", function () {
        done();
        var body = {};
        try { body = JSON.parse(xhr.responseText); } catch (e) { /* shown below */ }
        if (xhr.status === 201) {
          showStaged(input, box, body, n);
        } else if (xhr.status >= 400 && xhr.status < 500) {
          input.value = "";
          box.appendChild(para("field-error", (body.error && body.error.message) || "This photo cannot be used."));
        } else {
          offerRetry(file);
        }
      });
      xhr.addEventListener("error", function () { done(); offerRetry(file); });
      xhr.send(data);
    }
    function offerRetry(file) {
      box.textContent = "";
      box.appendChild(para("field-error", "Photo " + n + " did not upload (the connection dropped)."));
      var retry = document.createElement("button");
      retry.type = "button";
      retry.className = "nhsuk-button nhsuk-button--secondary";
      retry.textContent = "Try photo " + n + " again";
      retry.addEventListener("click", function () { upload(file); });
      box.appendChild(retry);
    }
    input.addEventListener("change", function () {
      if (input.files && input.files[0]) { upload(input.files[0]); }
    });
  });

  // A photo picked in a form marked data-autosubmit goes at once (with the progress below).
  document.querySelectorAll("form[data-autosubmit] input[type=file]").forEach(function (input) {
    input.addEventListener("change", function () {
      if (input.files && input.files[0] && input.form.requestSubmit) { input.form.requestSubmit(); }
    });
  });
  document.querySelectorAll("form[data-progress]").forEach(function (form) {
    var box = form.querySelector(".form-progress");
    var bar = box && box.querySelector("progress");
    var text = box && box.querySelector(".progress-text");
    var button = form.querySelector("button[type=submit]");
    form.addEventListener("submit", function (event) {
      if (!window.FormData || !box) { return; }
      event.preventDefault();
      if (pending > 0) {
        box.hidden = false;
        text.textContent = "Wait for the photos to finish uploading, then send.";
        return;
      }
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      box.hidden = false;
      button.disabled = true;
      text.textContent = "Uploading…";
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) {
          var pct = Math.round((e.loaded / e.total) * 100);
          bar.value = pct;
          text.textContent = pct < 100 ? "Uploading: " + pct + "%" :
            (form.getAttribute("data-progress-checking") || "Checking the photos…");
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
        text.textContent = form.getAttribute("data-progress-lost") ||
          "The connection was lost. Press the button again: the case will not be sent twice.";
      });
      xhr.send(new FormData(form));
    });
  });
})();
