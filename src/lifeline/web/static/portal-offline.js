"use strict";
// The portal's offline page (issue 25): its text in the reader's language (the one the portal
// last answered in; both without this script), when this device last reached the portal, and,
// only if the browser says the device has no connection, that it has none.
(function () {
  const stored = (key) => {
    try {
      return localStorage.getItem(key);
    } catch (refused) {
      return null;
    }
  };
  const sections = Array.from(document.querySelectorAll("[data-offline-language]"));
  const language = stored("lifeline-portal-language");
  if (sections.some((section) => section.dataset.offlineLanguage === language)) {
    sections.forEach((section) => { section.hidden = section.dataset.offlineLanguage !== language; });
    document.documentElement.lang = language;
  }
  const reached = new Date(stored("lifeline-portal-reached") || "");
  sections.forEach((section) => {
    if (navigator.onLine === false) {
      section.querySelector(".offline-device").hidden = false;
    }
    if (!Number.isNaN(reached.getTime())) {
      const time = section.querySelector(".offline-reached time");
      time.dateTime = reached.toISOString();
      time.textContent = reached.toLocaleString(section.lang, { dateStyle: "long", timeStyle: "short" });
      section.querySelector(".offline-reached").hidden = false;
    }
  });
})();
