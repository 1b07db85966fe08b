/* Registers Benefed's service worker (/sw.js): actions recorded without a connection
   wait on the device and are sent when it comes back. Pages work without it. */
"use strict";
if ("serviceWorker" in navigator) {
  const flush = () => {
    if (navigator.serviceWorker.controller) {
      navigator.serviceWorker.controller.postMessage("flush");
    }
  };
  navigator.serviceWorker.register("/sw.js").catch(() => undefined);
  navigator.serviceWorker.ready.then(flush);
  window.addEventListener("online", flush);
}
