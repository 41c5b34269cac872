// The image viewer (web/pages/chart/viewer.py, templates/chart/viewer.html). The page works without
// this script: links and a GET form choose the image and the window. With it, the same choices are
// made in place: the mouse wheel, the keys and the buttons move through the series and change the
// window, +/- and Ctrl+wheel zoom, dragging (or Shift+arrows) pans a zoomed image. The series'
// images are fetched ahead and kept as Image objects, so scrolling shows them at once and never
// asks again; the address follows (history.replaceState) so a reload keeps the place. A frame the
// proxy refuses is asked once more with fetch, to show its OperationOutcome's words.
(function () {
  "use strict";

  var data = document.getElementById("viewer-data");
  var stage = document.getElementById("viewer-stage");
  if (!data || !stage || !window.URLSearchParams || !window.history || !window.history.replaceState) {
    return;
  }
  var parsed = JSON.parse(data.textContent);
  var state = parsed.state;
  var texts = parsed.texts;
  var count = state.images.length;
  var index = state.image - 1; // the image shown, from 0
  var windowId = state.window;
  var zoom = 1;
  var panX = 0;
  var panY = 0;
  var ZOOMS = [1, 1.25, 1.5, 2, 2.5, 3, 4, 6, 8];
  var AHEAD = 4; // images fetched at once while preloading
  var caches = {}; // by window: the Image objects, by index
  var queue = [];
  var loading = 0;
  var message = document.getElementById("viewer-message");
  var position = document.getElementById("viewer-position");
  var numberField = document.getElementById("viewer-image-number");
  var zoomLevel = document.getElementById("zoom-level");
  var windowButtons = Array.prototype.slice.call(document.querySelectorAll("#viewer-windows button[name=window]"));

  function words(text, values) {
    return String(text || "").replace(/\{(\w+)\}/g, function (whole, key) {
      return key in values ? String(values[key]) : whole;
    });
  }

  function source(i, w) {
    var window_ = state.windows[w];
    return state.images[i] + (window_ ? "?window=" + window_ : "");
  }

  function address(i, w) {
    var query = new URLSearchParams({ series: state.series, image: String(i + 1), window: w });
    return state.base + "?" + query.toString() + "#viewer";
  }

  function cache() {
    caches[windowId] = caches[windowId] || {};
    return caches[windowId];
  }

  // One image of the current window: made once, kept; a failed one is forgotten so it is asked again.
  function image(i) {
    var kept = cache();
    if (!kept[i]) {
      var made = new Image();
      var w = windowId;
      made.decoding = "async";
      made.addEventListener("error", function () {
        if (caches[w] && caches[w][i] === made) {
          delete caches[w][i];
        }
        if (i === index && w === windowId) {
          explain(made.src);
        }
      });
      made.src = source(i, w);
      kept[i] = made;
    }
    return kept[i];
  }

  // Why the proxy refused a frame: its OperationOutcome's diagnostics, in the message area.
  function explain(url) {
    var fallback = texts.failed;
    window
      .fetch(url, { headers: { accept: "application/json" }, credentials: "same-origin" })
      .then(function (answer) {
        return answer.ok ? null : answer.json();
      })
      .then(function (outcome) {
        var issue = outcome && outcome.issue && outcome.issue[0];
        say((issue && (issue.diagnostics || (issue.details && issue.details.text))) || fallback);
      })
      .catch(function () {
        say(fallback);
      });
  }

  function say(text) {
    message.textContent = text;
    message.hidden = !text;
  }

  // The series ahead of and behind the shown image, nearest first, a few at a time.
  function preload() {
    queue = [];
    for (var step = 1; step < count; step += 1) {
      if (index + step < count) queue.push(index + step);
      if (index - step >= 0) queue.push(index - step);
    }
    pump();
  }

  function pump() {
    while (loading < AHEAD && queue.length) {
      var i = queue.shift();
      if (cache()[i]) continue;
      var made = image(i);
      if (made.complete) continue;
      loading += 1;
      var done = function () {
        loading -= 1;
        pump();
      };
      made.addEventListener("load", done, { once: true });
      made.addEventListener("error", done, { once: true });
    }
  }

  function altText(i) {
    var name = texts.windows[windowId] || windowId;
    return words(texts.alt, { what: texts.what, description: texts.description, n: i + 1, m: count, window: name });
  }

  // Put image `i` (of the current window) on the stage, once it is there to show.
  function show(i) {
    index = Math.max(0, Math.min(count - 1, i));
    var wanted = image(index);
    var shown = document.getElementById("viewer-image");
    position.textContent = words(texts.position, { n: index + 1, m: count });
    numberField.value = String(index + 1);
    links();
    window.history.replaceState(null, "", address(index, windowId));
    say("");
    var put = function () {
      if (wanted !== image(index)) return; // moved on meanwhile
      var current = document.getElementById("viewer-image");
      wanted.id = "viewer-image";
      wanted.alt = altText(index);
      if (current !== wanted) {
        current.removeAttribute("id");
        current.replaceWith(wanted);
      }
      place();
    };
    if (wanted.complete && wanted.naturalWidth) {
      put();
    } else {
      shown.alt = altText(index);
      wanted.addEventListener("load", put, { once: true });
    }
  }

  function links() {
    var ends = { "image-first": 0, "image-previous": index - 1, "image-next": index + 1, "image-last": count - 1 };
    Object.keys(ends).forEach(function (id) {
      var link = document.getElementById(id);
      var target = ends[id];
      var open = id === "image-first" || id === "image-previous" ? index > 0 : index < count - 1;
      if (open) {
        link.href = address(target, windowId);
        link.removeAttribute("aria-disabled");
      } else {
        link.removeAttribute("href");
        link.setAttribute("aria-disabled", "true");
      }
    });
  }

  function choose(w) {
    if (!(w in state.windows) || w === windowId) return;
    windowId = w;
    windowButtons.forEach(function (button) {
      button.setAttribute("aria-pressed", button.value === w ? "true" : "false");
    });
    show(index);
    preload();
  }

  function zoomTo(level) {
    zoom = Math.max(ZOOMS[0], Math.min(ZOOMS[ZOOMS.length - 1], level));
    if (zoom === 1) {
      panX = 0;
      panY = 0;
    }
    place();
  }

  function zoomBy(direction) {
    var at = ZOOMS.indexOf(zoom);
    if (at < 0) at = 0;
    zoomTo(ZOOMS[Math.max(0, Math.min(ZOOMS.length - 1, at + direction))]);
  }

  function pan(dx, dy) {
    if (zoom === 1) return;
    var limitX = (stage.clientWidth * (zoom - 1)) / 2;
    var limitY = (stage.clientHeight * (zoom - 1)) / 2;
    panX = Math.max(-limitX, Math.min(limitX, panX + dx));
    panY = Math.max(-limitY, Math.min(limitY, panY + dy));
    place();
  }

  function place() {
    var shown = document.getElementById("viewer-image");
    shown.style.transform = "translate(" + panX + "px, " + panY + "px) scale(" + zoom + ")";
    stage.classList.toggle("zoomed", zoom > 1);
    zoomLevel.textContent = Math.round(zoom * 100) + " %";
  }

  // The wheel: a notch an image (a touchpad's small steps add up); with Ctrl, zoom.
  var wheeled = 0;
  stage.addEventListener(
    "wheel",
    function (event) {
      event.preventDefault();
      if (event.ctrlKey) {
        zoomBy(event.deltaY < 0 ? 1 : -1);
        return;
      }
      wheeled += event.deltaMode === 0 ? event.deltaY : event.deltaY * 40;
      if (Math.abs(wheeled) >= 40) {
        show(index + (wheeled > 0 ? 1 : -1));
        wheeled = 0;
      }
    },
    { passive: false }
  );

  // Dragging: a zoomed image moves; an unzoomed one, with the mouse, moves through the series.
  var dragging = null;
  stage.addEventListener("pointerdown", function (event) {
    if (event.button !== 0) return;
    dragging = { x: event.clientX, y: event.clientY, moved: 0 };
    stage.setPointerCapture(event.pointerId);
    stage.focus({ preventScroll: true });
  });
  stage.addEventListener("pointermove", function (event) {
    if (!dragging) return;
    var dx = event.clientX - dragging.x;
    var dy = event.clientY - dragging.y;
    if (zoom > 1) {
      pan(dx, dy);
      dragging.x = event.clientX;
      dragging.y = event.clientY;
    } else if (event.pointerType === "mouse" && Math.abs(dy) >= 12) {
      show(index + (dy > 0 ? 1 : -1));
      dragging.y = event.clientY;
    }
  });
  ["pointerup", "pointercancel"].forEach(function (type) {
    stage.addEventListener(type, function () {
      dragging = null;
    });
  });
  stage.addEventListener("dragstart", function (event) {
    event.preventDefault(); // the browser's own dragging of the picture
  });

  var STEPS = { ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1 };
  var PANS = { ArrowDown: [0, -40], ArrowUp: [0, 40], ArrowRight: [-40, 0], ArrowLeft: [40, 0] };
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.altKey || event.metaKey || (event.ctrlKey && event.key !== "0")) return;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
    var key = event.key;
    var page = Math.max(1, Math.round(count / 10));
    if (key in STEPS && event.shiftKey && zoom > 1) {
      pan(PANS[key][0], PANS[key][1]);
    } else if (key in STEPS && !event.shiftKey) {
      show(index + STEPS[key]);
    } else if (key === "PageDown") {
      show(index + page);
    } else if (key === "PageUp") {
      show(index - page);
    } else if (key === "Home") {
      show(0);
    } else if (key === "End") {
      show(count - 1);
    } else if (key === "+" || key === "=") {
      zoomBy(1);
    } else if (key === "-" || key === "_") {
      zoomBy(-1);
    } else if (key === "0") {
      zoomTo(1);
    } else if (/^[1-9]$/.test(key) && windowButtons[Number(key) - 1]) {
      choose(windowButtons[Number(key) - 1].value);
    } else {
      return;
    }
    event.preventDefault();
  });

  // The page's own controls, done in place.
  document.getElementById("viewer-windows").addEventListener("submit", function (event) {
    event.preventDefault();
    if (event.submitter && event.submitter.name === "window") choose(event.submitter.value);
  });
  var moves = {
    "image-first": function () { return 0; },
    "image-previous": function () { return index - 1; },
    "image-next": function () { return index + 1; },
    "image-last": function () { return count - 1; },
  };
  Object.keys(moves).forEach(function (id) {
    document.getElementById(id).addEventListener("click", function (event) {
      event.preventDefault();
      if (this.hasAttribute("href")) show(moves[id]());
    });
  });
  document.getElementById("zoom-in").addEventListener("click", function () { zoomBy(1); });
  document.getElementById("zoom-out").addEventListener("click", function () { zoomBy(-1); });
  document.getElementById("zoom-fit").addEventListener("click", function () { zoomTo(1); });
  document.getElementById("viewer-zoom").hidden = false;
  stage.classList.add("scripted");

  // The image the server showed is the first of the cache: it is never asked for again.
  var first = document.getElementById("viewer-image");
  cache()[index] = first;
  if (first.complete && !first.naturalWidth) {
    explain(first.src);
  } else {
    first.addEventListener("error", function () { explain(first.src); }, { once: true });
  }
  place();
  preload();
})();
