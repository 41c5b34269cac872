// Find a patient as you type (web/pages/finder.py, templates/finder.html). The page works without
// this script (a GET form); with it, a short pause in typing asks /find?q=…&_format=json and the
// rows are redrawn from clones of the page's own row markup (<template id="finder-row">), every
// value set as text, never as markup. The words come from the page (#finder-texts), in its language.
(function () {
  "use strict";

  var PAUSE_MS = 250;
  var form = document.getElementById("finder");
  if (!form || !window.fetch || !window.URLSearchParams) {
    return;
  }
  var box = document.getElementById("q");
  var problem = document.getElementById("q-problem");
  var status = document.getElementById("find-status");
  var table = document.getElementById("results");
  var rows = document.getElementById("result-rows");
  var more = document.getElementById("find-more");
  var withheld = document.getElementById("find-withheld");
  var breakGlass = document.getElementById("break-the-glass");
  var rowTemplate = document.getElementById("finder-row");
  var outsideTemplate = document.getElementById("finder-outside-row");
  var texts = {};
  document.querySelectorAll("#finder-texts [data-text]").forEach(function (element) {
    texts[element.getAttribute("data-text")] = element.textContent;
  });

  // While typing, a query that is only not yet complete is a hint, not an error: it turns into
  // one beside the field when Search is pressed.
  var UNFINISHED = { "too-short": true, "cpr-digits": true };
  var timer = null;
  var asking = null; // the AbortController of the search under way
  var lastAsked = null;

  function words(code, values) {
    return (texts[code] || "").replace(/\{(\w+)\}/g, function (whole, key) {
      return values && key in values ? String(values[key]) : whole;
    });
  }

  function pageAddress(q) {
    return form.getAttribute("action") + (q ? "?" + new URLSearchParams({ q: q }) : "");
  }

  function cell(row, name) {
    return row.querySelector("." + name);
  }

  function patientRow(patient) {
    var row = rowTemplate.content.firstElementChild.cloneNode(true);
    var link = cell(row, "hit-name").querySelector("a");
    link.textContent = patient.name || texts["no-name"];
    link.setAttribute("href", "/patients/" + encodeURIComponent(patient.id));
    cell(row, "deceased").hidden = !patient.deceased;
    cell(row, "hit-cpr").textContent = patient.cpr || "—";
    var age = "—";
    if (patient.ageMonths !== null && patient.ageMonths !== undefined) {
      age = words("months", { months: patient.ageMonths });
    } else if (patient.age !== null && patient.age !== undefined) {
      age = words("years", { years: patient.age });
    }
    cell(row, "hit-age").textContent = age;
    cell(row, "hit-sex").textContent = patient.sex ? words(patient.sex) : "—";
    cell(row, "area").textContent = patient.area || (patient.protectedAddress ? "" : "—");
    cell(row, "protected").hidden = !patient.protectedAddress;
    return row;
  }

  function outsideRow(outside) {
    var row = outsideTemplate.content.firstElementChild.cloneNode(true);
    cell(row, "hit-cpr").textContent = outside.cpr;
    return row;
  }

  function statusOf(found, typing) {
    if (found.problem === "empty" || (typing && UNFINISHED[found.problem])) {
      return words(found.problem);
    }
    if (found.problem) {
      return "";
    }
    if (found.outsideCare) {
      return words("outside");
    }
    var count = found.patients.length;
    return count === 0 ? words("none") : count === 1 ? words("one") : words("many", { count: count });
  }

  function show(found, typing) {
    var unfinished = typing && UNFINISHED[found.problem];
    var failing = Boolean(found.problem) && found.problem !== "empty" && !unfinished;
    problem.textContent = failing ? words(found.problem) : "";
    problem.hidden = !failing;
    if (failing) {
      box.setAttribute("aria-invalid", "true");
    } else {
      box.removeAttribute("aria-invalid");
    }
    var drawn = found.patients.map(patientRow);
    if (found.outsideCare) {
      drawn.push(outsideRow(found.outsideCare));
    }
    rows.replaceChildren.apply(rows, drawn);
    table.hidden = drawn.length === 0;
    status.textContent = statusOf(found, typing);
    more.textContent = words("more", { most: found.most });
    more.hidden = !found.more;
    withheld.hidden = !found.withheld;
    breakGlass.hidden = !found.outsideCare;
    if (found.outsideCare) {
      document.getElementById("break-the-glass-link").href =
        "/break-the-glass?cpr=" + encodeURIComponent(found.outsideCare.cpr);
    }
  }

  function search(typing) {
    var q = box.value;
    if (q === lastAsked) {
      return;
    }
    lastAsked = q;
    if (asking) {
      asking.abort();
    }
    var controller = new AbortController();
    asking = controller;
    var address = form.getAttribute("action") + "?" + new URLSearchParams({ q: q, _format: "json" });
    fetch(address, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
      signal: controller.signal,
    })
      .then(function (answer) {
        var json = (answer.headers.get("content-type") || "").indexOf("application/json") === 0;
        if (answer.redirected || !json) {
          // The session ended: the whole page, which leads to the login and back here with q kept.
          window.location.assign(pageAddress(q));
          return null;
        }
        if (!answer.ok) {
          throw new Error("the search answered " + answer.status);
        }
        return answer.json();
      })
      .then(function (found) {
        if (found && asking === controller) {
          show(found, typing);
          window.history.replaceState(null, "", pageAddress(q));
        }
      })
      .catch(function (error) {
        if (error.name !== "AbortError" && asking === controller) {
          lastAsked = null;
          status.textContent = words("failed");
        }
      });
  }

  box.addEventListener("input", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(search, PAUSE_MS, true);
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    window.clearTimeout(timer);
    lastAsked = null; // pressing Search asks again, even for the same text
    search(false);
  });
})();
