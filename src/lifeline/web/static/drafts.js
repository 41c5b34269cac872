// What a clinician typed survives a session that ended while they typed (issue 21, "an expired
// session returns to the login and then back to the same page with the form's text kept").
//
// A form marked `data-keep` is copied into this tab's sessionStorage when it is sent, with the
// person who sent it (the page's <body data-person>). If the node answered with its login (the
// session had ended: web/middleware.py sends a form without a login to /login?next=<the form's
// page>), the login pages mark the copy as interrupted; back on the form's page, logged in again as
// the same person, the fields are filled from it and the page says so. Any other page after the
// send (the form saved, or refused with its own text kept) drops the copy. The copy never leaves
// the browser tab, lives at most KEEP_MS, and is never given to another person logging in here.
(function () {
  "use strict";

  var PREFIX = "lifeline-draft:";
  var KEEP_MS = 30 * 60 * 1000;
  var store;
  try {
    store = window.sessionStorage;
  } catch (error) {
    return; // storage refused (a locked-down browser): forms work as before
  }
  if (!store || !window.JSON) {
    return;
  }
  var person = document.body.getAttribute("data-person") || "";
  var onLogin = /^\/login(\/|$)/.test(window.location.pathname);

  function keyOf(path) {
    return PREFIX + path;
  }

  function read(key) {
    try {
      var copy = JSON.parse(store.getItem(key) || "null");
      return copy && Date.now() - copy.sent < KEEP_MS ? copy : null;
    } catch (error) {
      return null;
    }
  }

  function kept(field) {
    var type = (field.type || "").toLowerCase();
    return field.name && !field.disabled && type !== "hidden" && type !== "password" && type !== "submit" &&
      type !== "button" && type !== "file";
  }

  // Every copy in this tab, by its key.
  var copies = [];
  for (var i = 0; i < store.length; i += 1) {
    if (store.key(i).indexOf(PREFIX) === 0) {
      copies.push(store.key(i));
    }
  }

  if (onLogin) {
    copies.forEach(function (key) {
      var copy = read(key);
      if (copy) {
        copy.interrupted = true;
        store.setItem(key, JSON.stringify(copy));
      } else {
        store.removeItem(key);
      }
    });
    return;
  }

  var forms = document.querySelectorAll("form[data-keep]");
  var here = window.location.pathname;
  copies.forEach(function (key) {
    var copy = read(key);
    var form = copy && copy.interrupted && copy.person === person && key === keyOf(here) ?
      document.getElementById(copy.form) : null;
    if (form && form.hasAttribute("data-keep")) {
      Array.prototype.forEach.call(form.elements, function (field) {
        if (kept(field) && Object.prototype.hasOwnProperty.call(copy.fields, field.name)) {
          if (field.type === "checkbox" || field.type === "radio") {
            field.checked = copy.fields[field.name].indexOf(field.value) >= 0;
          } else {
            field.value = copy.fields[field.name][0];
          }
        }
      });
      var notice = form.querySelector("[data-restored]");
      if (notice) {
        notice.hidden = false;
      }
    }
    store.removeItem(key); // restored once, or the work was saved: either way not again
  });

  Array.prototype.forEach.call(forms, function (form) {
    form.addEventListener("submit", function () {
      var fields = {};
      Array.prototype.forEach.call(form.elements, function (field) {
        if (!kept(field) || ((field.type === "checkbox" || field.type === "radio") && !field.checked)) {
          return;
        }
        (fields[field.name] = fields[field.name] || []).push(field.value);
      });
      var copy = { form: form.id, person: person, sent: Date.now(), fields: fields, interrupted: false };
      try {
        store.setItem(keyOf(new URL(form.action, window.location.href).pathname), JSON.stringify(copy));
      } catch (error) {
        // storage full or refused: the form is sent all the same
      }
    });
  });
})();
