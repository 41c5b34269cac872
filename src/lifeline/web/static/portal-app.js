"use strict";
// On every page of the portal (issue 25): install the portal's service worker, so that a portal
// that cannot be reached says so (static/portal-worker.js), and note when and in which language
// the portal last answered, for that offline page (static/portal-offline.js). Only the time and
// the language are kept on the device, nothing of the record.
(function () {
  try {
    localStorage.setItem("lifeline-portal-reached", new Date().toISOString());
    localStorage.setItem("lifeline-portal-language", document.documentElement.lang);
  } catch (refused) {
    // Storage refused (a private window): the offline page then says less.
  }
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/portal/worker.js", { scope: "/portal" }).catch(() => undefined);
  }
})();
