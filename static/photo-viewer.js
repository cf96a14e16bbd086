// The consultant's photo workspace.
// Photo page: a viewer that opens fitted to the screen, zooms in steps where you click or scroll,
// pans by dragging (mouse, pen or touch) or with the arrow keys, and goes to the previous or next
// photo with [ and ]. Case page: a larger view of the chosen photo beside the reply form, and
// focus on the "claimed" confirmation.
// Without JavaScript the photo page shows the photo fitted with its previous/next links, and the
// case page's thumbnails open the photo page.
(function () {
  "use strict";
  // Zoom steps, as multiples of the fitted size.
  var LEVELS = [1, 1.5, 2, 3, 4, 6, 8];

  function setUpViewer(viewer) {
    var frame = viewer.querySelector(".photo-frame");
    var img = frame && frame.querySelector("img");
    var tools = viewer.querySelector(".viewer-tools");
    var help = viewer.querySelector(".viewer-help");
    var status = viewer.querySelector(".zoom-level");
    if (!img || !tools || !help || !status) { return; }
    var fullWidth = Number(viewer.getAttribute("data-width"));
    var fullHeight = Number(viewer.getAttribute("data-height"));
    var fullSrc = viewer.getAttribute("data-full-src");
    var prev = document.querySelector(".photo-nav a[rel=prev]");
    var next = document.querySelector(".photo-nav a[rel=next]");
    if (!(fullWidth > 0 && fullHeight > 0)) { return; }

    var level = 0; // index into LEVELS
    var fit = 1; // CSS pixels per full-size pixel when fitted
    var x = 0; // the image's top-left corner in the frame, in CSS pixels
    var y = 0;
    var loadingFull = false;

    viewer.classList.add("is-enhanced");
    tools.hidden = false;
    help.hidden = false;
    frame.setAttribute("aria-describedby", help.id);
    frame.setAttribute("aria-label", frame.getAttribute("aria-label") +
      ". Plus and minus zoom, 0 fits it to the screen, the arrow keys move it" +
      (prev || next ? ", [ and ] go to the previous and next photo" : ""));
    viewer.setAttribute("data-source", "display");

    function width() { return fullWidth * fit * LEVELS[level]; }
    function height() { return fullHeight * fit * LEVELS[level]; }

    // Smaller than the frame: stays inside it. Larger: leaves no gap at either edge.
    function clamp(pos, size, room) {
      return Math.min(Math.max(0, room - size), Math.max(Math.min(0, room - size), pos));
    }

    function say(text) {
      if (status.textContent !== text) { status.textContent = text; }
    }

    function render() {
      var w = width();
      var h = height();
      if (level === 0) {
        x = (frame.clientWidth - w) / 2;
        y = (frame.clientHeight - h) / 2;
      }
      x = clamp(x, w, frame.clientWidth);
      y = clamp(y, h, frame.clientHeight);
      img.style.width = w + "px";
      img.style.height = h + "px";
      img.style.transform = "translate(" + x + "px, " + y + "px)";
      viewer.setAttribute("data-zoom", String(LEVELS[level]));
      frame.classList.toggle("is-zoomed", level > 0);
      say(level === 0 ? "Fitted to the screen" : "Zoomed " + LEVELS[level] + " times" +
        (level === LEVELS.length - 1 ? " (the most)" : ""));
      useFullWhenSharper(w);
    }

    // The display copy is enough until it would be stretched past its own pixels; then the
    // full-size photo is loaded once, and swapped in when it has arrived.
    function useFullWhenSharper(shownWidth) {
      if (loadingFull || !fullSrc || !img.naturalWidth || img.naturalWidth >= fullWidth) { return; }
      if (shownWidth * (window.devicePixelRatio || 1) <= img.naturalWidth) { return; }
      loadingFull = true;
      var full = new Image();
      full.addEventListener("load", function () {
        // The element that loaded is the one shown: photos are never cached, so a second
        // request would download it again.
        full.alt = img.alt;
        full.draggable = false;
        full.style.cssText = img.style.cssText;
        img.replaceWith(full);
        img = full;
        viewer.setAttribute("data-source", "full");
        render();
      });
      full.addEventListener("error", function () { loadingFull = false; });
      full.src = fullSrc;
    }

    // The frame fills the window below its top, so the fitted photo needs no scrolling.
    function layout() {
      var top = frame.getBoundingClientRect().top + window.scrollY;
      frame.style.height = Math.max(240, Math.floor(window.innerHeight - top - 16)) + "px";
      fit = Math.min(frame.clientWidth / fullWidth, frame.clientHeight / fullHeight);
    }

    // Zooms to `to`, keeping the image point at (px, py) in the frame where it is.
    function zoomAt(to, px, py) {
      to = Math.max(0, Math.min(LEVELS.length - 1, to));
      if (to === level) { return; }
      var u = (px - x) / width();
      var v = (py - y) / height();
      level = to;
      x = px - u * width();
      y = py - v * height();
      render();
    }

    function zoomAtCentre(to) {
      zoomAt(to, frame.clientWidth / 2, frame.clientHeight / 2);
    }

    // A pointer position in the frame's coordinates (inside its border).
    function inFrame(e) {
      var r = frame.getBoundingClientRect();
      return { x: e.clientX - r.left - frame.clientLeft, y: e.clientY - r.top - frame.clientTop };
    }

    tools.addEventListener("click", function (e) {
      var button = e.target.closest("button[data-action]");
      if (!button) { return; }
      var action = button.getAttribute("data-action");
      if (action === "in") { zoomAtCentre(level + 1); }
      if (action === "out") { zoomAtCentre(level - 1); }
      if (action === "fit") { zoomAtCentre(0); }
    });

    // A press that does not move is a click: zoom in there. One that moves is a drag: pan.
    var drag = null;
    frame.addEventListener("pointerdown", function (e) {
      if (e.button !== 0 || drag) { return; }
      e.preventDefault(); // no text selection or native image dragging
      frame.focus({ preventScroll: true });
      frame.setPointerCapture(e.pointerId);
      drag = { id: e.pointerId, startX: e.clientX, startY: e.clientY, x: x, y: y, moved: false };
    });
    frame.addEventListener("pointermove", function (e) {
      if (!drag || e.pointerId !== drag.id) { return; }
      var dx = e.clientX - drag.startX;
      var dy = e.clientY - drag.startY;
      if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 6) { return; }
      drag.moved = true;
      frame.classList.add("is-dragging");
      x = drag.x + dx;
      y = drag.y + dy;
      render();
    });
    function endDrag(e, cancelled) {
      if (!drag || e.pointerId !== drag.id) { return; }
      var wasClick = !drag.moved && !cancelled;
      drag = null;
      frame.classList.remove("is-dragging");
      if (wasClick) {
        var p = inFrame(e);
        zoomAt(level + 1, p.x, p.y);
      }
    }
    frame.addEventListener("pointerup", function (e) { endDrag(e, false); });
    frame.addEventListener("pointercancel", function (e) { endDrag(e, true); });

    // One zoom step per wheel notch; a trackpad's many small deltas add up to one.
    var wheel = 0;
    frame.addEventListener("wheel", function (e) {
      var delta = e.deltaY * (e.deltaMode === 1 ? 40 : e.deltaMode === 2 ? 800 : 1);
      if (delta > 0 && level === 0) { return; } // already fitted: the page scrolls as usual
      e.preventDefault();
      wheel += delta;
      if (Math.abs(wheel) < 50) { return; }
      var step = wheel < 0 ? 1 : -1;
      wheel = 0;
      var p = inFrame(e);
      zoomAt(level + step, p.x, p.y);
    }, { passive: false });

    // Keys work while focus is in the viewer (the photo or its buttons), so they never take
    // over the page's own keys elsewhere. The browser's Ctrl, Alt and Cmd shortcuts are left
    // alone (Ctrl + zooms the page, Alt ← goes back); AltGr (Ctrl and Alt together) types [ and ]
    // on many keyboards, so it counts as no modifier.
    viewer.addEventListener("keydown", function (e) {
      if (e.metaKey || e.ctrlKey !== e.altKey) { return; }
      var stepX = Math.round(frame.clientWidth / 8);
      var stepY = Math.round(frame.clientHeight / 8);
      var zoomed = level > 0;
      switch (e.key) {
        case "+": case "=": zoomAtCentre(level + 1); break;
        case "-": case "_": zoomAtCentre(level - 1); break;
        case "0": zoomAtCentre(0); break;
        case "ArrowLeft": if (!zoomed) { return; } x += stepX; render(); break;
        case "ArrowRight": if (!zoomed) { return; } x -= stepX; render(); break;
        case "ArrowUp": if (!zoomed) { return; } y += stepY; render(); break;
        case "ArrowDown": if (!zoomed) { return; } y -= stepY; render(); break;
        case "[": if (!prev) { return; } window.location.assign(prev.href); break;
        case "]": if (!next) { return; } window.location.assign(next.href); break;
        default: return;
      }
      e.preventDefault();
    });

    // A new window size keeps the zoom and the point at the centre of the view.
    window.addEventListener("resize", function () {
      var cx = frame.clientWidth / 2;
      var cy = frame.clientHeight / 2;
      var u = (cx - x) / width();
      var v = (cy - y) / height();
      layout();
      x = frame.clientWidth / 2 - u * width();
      y = frame.clientHeight / 2 - v * height();
      render();
    });
    img.addEventListener("load", render); // the display copy's size is known once it has loaded

    layout();
    render();
    // The page is for looking at the photo: its keys work at once, also after [ or ].
    frame.focus({ preventScroll: true });
  }

  // Case page, desktop: a thumbnail shows its photo (with its site view or close-up beside it)
  // in the larger view instead of leaving the page. Its link still opens the photo page from a
  // phone, where there is no larger view, or in a new tab.
  function setUpPreview(preview) {
    var figures = preview.querySelectorAll("figure[data-photo]");
    var thumbs = document.querySelectorAll(".photo-grid a[data-photo]");
    function shown() { return window.getComputedStyle(preview).display !== "none"; }
    function mark() {
      thumbs.forEach(function (a) {
        var fig = preview.querySelector('figure[data-photo="' + a.getAttribute("data-photo") + '"]');
        if (shown() && fig && !fig.hidden) {
          a.setAttribute("aria-current", "true");
        } else {
          a.removeAttribute("aria-current");
        }
      });
    }
    thumbs.forEach(function (a) {
      a.addEventListener("click", function (e) {
        if (e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey || !shown()) { return; }
        e.preventDefault();
        var id = a.getAttribute("data-photo");
        var pair = a.getAttribute("data-pair");
        var first = null;
        figures.forEach(function (f) {
          var photo = f.getAttribute("data-photo");
          f.hidden = photo !== id && photo !== pair;
          if (!f.hidden && !first) { first = f; }
        });
        mark();
        // Like following a link on the page: focus goes to what it shows.
        var link = first && first.querySelector("a");
        if (link) { link.focus(); }
      });
    });
    mark();
    window.addEventListener("resize", mark);
  }

  document.querySelectorAll("[data-photo-viewer]").forEach(setUpViewer);
  document.querySelectorAll("[data-photo-preview]").forEach(setUpPreview);
  // After claiming, the confirmation takes focus, so it is seen and heard first. (The claim's
  // redirect points at it too, which is enough in browsers that focus a link's target.)
  var done = document.querySelector("[data-focus-on-load]");
  if (done) { done.focus(); }
}());
