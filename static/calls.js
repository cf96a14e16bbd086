// Live calls in the browser: a consultant's pages ring when a call rings them, and the two
// parties' call page carries the audio browser to browser (WebRTC) with aghub relaying the
// signalling over a WebSocket. The consultant's browser records both voices and uploads the
// recording every few seconds. Without JavaScript the pages still answer, end and record outcomes.
(function () {
  "use strict";
  var CHUNK_MS = 3000;

  function socketUrl(path) {
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
  }

  // A socket that reconnects (after 1, 2, 4 … 15 s) until the page goes away.
  function keepOpen(path, onMessage) {
    var delay = 1000;
    var open = function () {
      var ws = new WebSocket(socketUrl(path));
      ws.onopen = function () { delay = 1000; };
      ws.onmessage = function (e) {
        var m;
        try { m = JSON.parse(e.data); } catch (err) { return; }
        onMessage(m, ws);
      };
      ws.onclose = function () {
        setTimeout(open, delay);
        delay = Math.min(delay * 2, 15000);
      };
      keepOpen.current = ws;
    };
    open();
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text) { e.textContent = text; }
    return e;
  }

  function postForm(action, csrf, label, cls) {
    var f = el("form");
    f.method = "post";
    f.action = action;
    var t = el("input");
    t.type = "hidden";
    t.name = "csrf_token";
    t.value = csrf;
    f.appendChild(t);
    var b = el("button", "nhsuk-button " + (cls || ""), label);
    b.type = "submit";
    f.appendChild(b);
    return f;
  }

  // --- Ringing (consultants) ---------------------------------------------------------------
  var ringing = document.getElementById("call-ringing");
  if (ringing && ringing.dataset.socket && !document.getElementById("call")) {
    var list = document.getElementById("call-ringing-list");
    var tone = null;
    var stopTone = function () {
      if (tone) { clearInterval(tone.timer); tone.ctx.close(); tone = null; }
    };
    // Two short beeps every two seconds, made here rather than from a file.
    var startTone = function () {
      if (tone || !window.AudioContext) { return; }
      var ctx = new AudioContext();
      var beep = function () {
        [0, 0.3].forEach(function (at) {
          var o = ctx.createOscillator();
          var g = ctx.createGain();
          o.frequency.value = 880;
          g.gain.value = 0.15;
          o.connect(g);
          g.connect(ctx.destination);
          o.start(ctx.currentTime + at);
          o.stop(ctx.currentTime + at + 0.2);
        });
      };
      beep();
      tone = { ctx: ctx, timer: setInterval(beep, 2000) };
    };
    keepOpen(ringing.dataset.socket, function (m) {
      if (m.type !== "incoming") { return; }
      list.textContent = "";
      m.calls.forEach(function (c) {
        var box = el("div", "call-ringing__call");
        box.dataset.callId = c.id;
        box.appendChild(el("h2", "call-ringing__title", "Incoming call: " + c.specialty.replace(/-/g, " ")));
        box.appendChild(el("p", "", c.reason));
        box.appendChild(el("p", "muted", "NHS number " + c.nhs_number.replace(/^(\d{3})(\d{3})(\d{4})$/, "$1 $2 $3") + " · " + (c.pool === "national" ? "national pool" : "local rota")));
        var actions = el("div", "call-ringing__actions");
        var answer = postForm("/calls/" + c.id + "/answer", ringing.dataset.csrf, "Answer", "call-answer");
        answer.addEventListener("submit", function () {
          try { sessionStorage.setItem("aghubAnsweredAt", String(Date.now())); } catch (e) { /* private mode */ }
        });
        actions.appendChild(answer);
        actions.appendChild(postForm("/calls/" + c.id + "/decline", ringing.dataset.csrf, "Decline", "nhsuk-button--secondary call-decline"));
        box.appendChild(actions);
        list.appendChild(box);
      });
      ringing.hidden = m.calls.length === 0;
      if (m.calls.length) {
        window.aghubRangAt = window.aghubRangAt || Date.now();
        startTone();
      } else {
        window.aghubRangAt = null;
        stopTone();
      }
    });
  }

  // The GP's "Call" press, for the time from it to the consultant's ring.
  var callForm = document.getElementById("call-form");
  if (callForm) {
    callForm.addEventListener("submit", function () {
      try { sessionStorage.setItem("aghubCalledAt", String(Date.now())); } catch (e) { /* private mode */ }
    });
  }

  // --- The call page (both parties) ----------------------------------------------------------
  var page = document.getElementById("call");
  if (!page) { return; }
  var outcomeForm = document.getElementById("outcome-form");
  if (outcomeForm) {
    // The outcome is required: leaving without it asks first (aghub chases it too).
    var saving = false;
    outcomeForm.addEventListener("submit", function () { saving = true; });
    window.addEventListener("beforeunload", function (e) {
      if (!saving) { e.preventDefault(); e.returnValue = ""; }
    });
  }
  if (!page.dataset.socket || !page.dataset.party) { return; }

  var party = page.dataset.party;
  var callId = page.dataset.callId;
  var csrf = page.dataset.csrf;
  var statusText = document.getElementById("call-status");
  var endForm = document.getElementById("end-form");
  var remoteAudio = document.getElementById("remote-audio");
  var iceServers = [];
  try { iceServers = JSON.parse(page.dataset.iceServers || "[]"); } catch (e) { iceServers = []; }
  var state = { status: page.dataset.status, pc: null, local: null, recorder: null, uploads: Promise.resolve(), pendingIce: [] };
  var send = function (data) {
    var ws = keepOpen.current;
    if (ws && ws.readyState === 1) { ws.send(JSON.stringify({ type: "signal", data: data })); }
    else { setTimeout(function () { send(data); }, 200); }
  };

  // What the tests and the page read: bytes each way, and when audio first arrived.
  window.aghubCall = {
    stats: function () {
      if (!state.pc) { return Promise.resolve({ received: 0, sent: 0 }); }
      return state.pc.getStats().then(function (report) {
        var r = { received: 0, sent: 0 };
        report.forEach(function (s) {
          if (s.type === "inbound-rtp" && s.kind === "audio") { r.received += s.bytesReceived || 0; }
          if (s.type === "outbound-rtp" && s.kind === "audio") { r.sent += s.bytesSent || 0; }
        });
        return r;
      });
    },
    audioAt: null,
    chunksUploaded: 0
  };

  var watchAudio = function () {
    var timer = setInterval(function () {
      window.aghubCall.stats().then(function (s) {
        if (s.received > 0 && !window.aghubCall.audioAt) {
          window.aghubCall.audioAt = Date.now();
          statusText.textContent = "Connected: you can talk now.";
        }
        if (window.aghubCall.audioAt) { clearInterval(timer); }
      });
    }, 50);
  };

  var upload = function (blob, seq, mediaMs) {
    var attempt = function (n) {
      return fetch("/api/v1/calls/" + callId + "/recording?seq=" + seq + "&media_ms=" + mediaMs, {
        method: "POST",
        headers: { "Content-Type": "audio/webm", "X-CSRF-Token": csrf },
        body: blob,
        credentials: "same-origin"
      }).then(function (r) {
        if (r.ok) { window.aghubCall.chunksUploaded += 1; return; }
        if (r.status >= 500 && n < 4) { throw new Error("retry"); }
      }).catch(function () {
        if (n < 4) { return new Promise(function (ok) { setTimeout(ok, 1000 * (n + 1)); }).then(function () { return attempt(n + 1); }); }
      });
    };
    // In order, one at a time: chunk 0 carries the WebM header.
    state.uploads = state.uploads.then(function () { return attempt(0); });
  };

  // The consultant's browser mixes both voices and records them in chunks.
  var record = function (remoteStream) {
    if (party !== "consultant" || state.recorder || !window.MediaRecorder) { return; }
    var ctx = new AudioContext();
    var mix = ctx.createMediaStreamDestination();
    ctx.createMediaStreamSource(state.local).connect(mix);
    ctx.createMediaStreamSource(remoteStream).connect(mix);
    var rec = new MediaRecorder(mix.stream, { mimeType: "audio/webm;codecs=opus" });
    var seq = 0;
    var started = performance.now();
    rec.ondataavailable = function (e) {
      if (e.data && e.data.size) { upload(e.data, seq++, Math.round(performance.now() - started)); }
    };
    rec.start(CHUNK_MS);
    state.recorder = rec;
  };

  var hangUp = function () {
    var done = Promise.resolve();
    if (state.recorder && state.recorder.state !== "inactive") {
      var rec = state.recorder;
      done = new Promise(function (ok) { rec.addEventListener("stop", function () { setTimeout(ok, 0); }); rec.stop(); });
    }
    return done.then(function () { return state.uploads; }).then(function () {
      if (state.pc) { state.pc.close(); }
      if (state.local) { state.local.getTracks().forEach(function (t) { t.stop(); }); }
    });
  };

  var startMedia = function (offerer) {
    if (state.pc) { return; }
    state.pc = new RTCPeerConnection({ iceServers: iceServers });
    var pc = state.pc;
    pc.onicecandidate = function (e) { if (e.candidate) { send({ candidate: e.candidate.toJSON() }); } };
    pc.ontrack = function (e) {
      var stream = e.streams[0] || new MediaStream([e.track]);
      remoteAudio.srcObject = stream;
      watchAudio();
      if (state.local) { record(stream); } else { state.onLocal = function () { record(stream); }; }
    };
    navigator.mediaDevices.getUserMedia({ audio: true, video: false }).then(function (local) {
      state.local = local;
      local.getTracks().forEach(function (t) { pc.addTrack(t, local); });
      if (state.onLocal) { state.onLocal(); }
      if (offerer) {
        return pc.createOffer().then(function (o) { return pc.setLocalDescription(o); })
          .then(function () { send({ sdp: pc.localDescription.toJSON() }); });
      }
      if (state.pendingOffer) { return answerOffer(state.pendingOffer); }
    }).catch(function (err) {
      statusText.textContent = "Your microphone could not be used (" + err.name + "). Allow it in the browser and reload this page.";
    });
  };

  var answerOffer = function (sdp) {
    var pc = state.pc;
    if (!state.local) { state.pendingOffer = sdp; return; }
    state.pendingOffer = null;
    return pc.setRemoteDescription(sdp)
      .then(function () { return pc.createAnswer(); })
      .then(function (a) { return pc.setLocalDescription(a); })
      .then(function () {
        send({ sdp: pc.localDescription.toJSON() });
        state.pendingIce.forEach(function (c) { pc.addIceCandidate(c); });
        state.pendingIce = [];
      });
  };

  var onSignal = function (data) {
    if (!state.pc) { startMedia(false); }
    var pc = state.pc;
    if (data.sdp && data.sdp.type === "offer") {
      answerOffer(data.sdp);
    } else if (data.sdp && data.sdp.type === "answer") {
      pc.setRemoteDescription(data.sdp).then(function () {
        state.pendingIce.forEach(function (c) { pc.addIceCandidate(c); });
        state.pendingIce = [];
      });
    } else if (data.candidate) {
      if (pc.remoteDescription) { pc.addIceCandidate(data.candidate); } else { state.pendingIce.push(data.candidate); }
    }
  };

  var words = {
    ringing: "Ringing the consultants on duty…",
    answered: "Answered: connecting the audio…",
    ended: "The call has ended.",
    missed: "Nobody answered in time: your question is now a written case in the specialty's queue."
  };
  keepOpen(page.dataset.socket, function (m) {
    if (m.type === "signal") { onSignal(m.data); return; }
    if (m.type !== "call") { return; }
    var was = state.status;
    var c = m.call;
    state.status = c.status;
    if (c.status === "ringing") {
      statusText.textContent = c.pool === "national" ? "Nobody local answered: ringing the national pool…" : words.ringing;
    } else if (c.status === "answered") {
      if (!window.aghubCall.audioAt) { statusText.textContent = words.answered + (c.answered_by ? " (" + c.answered_by + ")" : ""); }
      // The GP's browser makes the offer; the consultant's answers it.
      startMedia(party === "gp");
    }
    // Ended or given up elsewhere: finish the recording, then show the outcome form.
    if (endForm && c.status === "answered") { endForm.hidden = false; }
    if (was !== c.status && (c.status === "ended" || c.status === "missed")) {
      statusText.textContent = words[c.status];
      hangUp().then(function () { location.reload(); });
    }
  });

  if (endForm) {
    endForm.addEventListener("submit", function (e) {
      e.preventDefault();
      hangUp().then(function () { endForm.submit(); });
    });
  }
})();
