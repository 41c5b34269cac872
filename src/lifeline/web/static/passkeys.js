// Passkeys on Lifeline's login pages (web/login.py): fetch a ceremony's options, hand them to
// navigator.credentials, post the answer back with the page's CSRF token. The server speaks JSON with
// binary fields as base64url (WebAuthn Level 2, section 5); the browser wants ArrayBuffers.
// A button opts in with data-passkey="register" or "login", data-url (options by GET, answer by POST),
// data-csrf, data-error (the id of the element for messages) and, to register, data-label (an input's id).
(function () {
  "use strict";

  function toBuffer(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    var binary = atob(base64 + "===".slice((base64.length + 3) % 4));
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) {
      bytes[i] = binary.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) {
      binary += String.fromCharCode(bytes[i]);
    }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (descriptor) {
      return Object.assign({}, descriptor, { id: toBuffer(descriptor.id) });
    });
  }

  function creationOptions(options) {
    return Object.assign({}, options, {
      challenge: toBuffer(options.challenge),
      user: Object.assign({}, options.user, { id: toBuffer(options.user.id) }),
      excludeCredentials: descriptors(options.excludeCredentials),
    });
  }

  function requestOptions(options) {
    return Object.assign({}, options, {
      challenge: toBuffer(options.challenge),
      allowCredentials: descriptors(options.allowCredentials),
    });
  }

  function answerOf(credential) {
    var response = credential.response;
    var answer = { clientDataJSON: toText(response.clientDataJSON) };
    if (response.attestationObject) {
      answer.attestationObject = toText(response.attestationObject);
      if (response.getTransports) {
        answer.transports = response.getTransports();
      }
    } else {
      answer.authenticatorData = toText(response.authenticatorData);
      answer.signature = toText(response.signature);
      if (response.userHandle) {
        answer.userHandle = toText(response.userHandle);
      }
    }
    return {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      response: answer,
      clientExtensionResults: credential.getClientExtensionResults(),
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
    };
  }

  async function readJSON(response) {
    var body = {};
    try {
      body = await response.json();
    } catch (ignored) {
      body = { error: "Lifeline did not answer as expected (" + response.status + "). Reload the page and try again." };
    }
    if (!response.ok) {
      throw new Error(body.error || "Refused (" + response.status + ").");
    }
    return body;
  }

  async function ceremony(button) {
    var url = button.dataset.url;
    var registering = button.dataset.passkey === "register";
    var options = await readJSON(await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }));
    var credential;
    try {
      credential = registering
        ? await navigator.credentials.create({ publicKey: creationOptions(options) })
        : await navigator.credentials.get({ publicKey: requestOptions(options) });
    } catch (error) {
      throw new Error("The passkey was not used (" + error.name + "). Try again.");
    }
    var body = { csrf: button.dataset.csrf, credential: answerOf(credential) };
    if (registering && button.dataset.label) {
      body.label = document.getElementById(button.dataset.label).value;
    }
    var answer = await readJSON(
      await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
      })
    );
    window.location.assign(answer.location || "/login");
  }

  function start(button) {
    var error = document.getElementById(button.dataset.error);
    if (!window.PublicKeyCredential || !navigator.credentials) {
      error.textContent = "This browser cannot use passkeys.";
      error.hidden = false;
      button.disabled = true;
      return;
    }
    button.addEventListener("click", function () {
      button.disabled = true;
      error.hidden = true;
      ceremony(button).catch(function (failure) {
        error.textContent = failure.message;
        error.hidden = false;
        button.disabled = false;
      });
    });
  }

  document.querySelectorAll("button[data-passkey]").forEach(start);
})();
