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
  navigator.serviceWorker.ready.then(flush).then(showStatus);
  window.addEventListener("online", () => {
    flush();
    showStatus();
  });
}

/* On the action form: how many actions wait on this device, and any refused once sent.
   The sentences come from the page (#offline-status data-*), in the person's language. */
function showStatus() {
  const notice = document.getElementById("offline-status");
  const worker = navigator.serviceWorker.controller;
  if (!notice || !worker) {
    return;
  }
  const channel = new MessageChannel();
  channel.port1.onmessage = (event) => {
    const found = event.data || {};
    const parts = [];
    if (found.waiting === 1) {
      parts.push(notice.dataset.one);
    } else if (found.waiting > 1) {
      parts.push(notice.dataset.many.replace("{count}", String(found.waiting)));
    }
    if (found.refused > 0) {
      parts.push(notice.dataset.refused.replace("{count}", String(found.refused)));
    }
    notice.textContent = parts.join(" ");
    notice.hidden = parts.length === 0;
  };
  worker.postMessage("status", [channel.port2]);
}

/* Each sending of an action form carries a key of its own: kept offline and sent
   again, it is recorded once (instance/action_recording.recorded_before). */
function newKey() {
  if (window.crypto && window.crypto.randomUUID) {
    return window.crypto.randomUUID();
  }
  return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 14);
}

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.classList.contains("action-form")) {
    return;
  }
  let field = form.querySelector('input[name="offline_ref"]');
  if (!field) {
    field = document.createElement("input");
    field.type = "hidden";
    field.name = "offline_ref";
    form.appendChild(field);
  }
  field.value = newKey();
});
