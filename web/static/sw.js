/* Benefed's service worker: actions recorded without a connection wait on the device
   and are sent as soon as the server answers again.

   - A posted action form (an account's or an access link's) that cannot reach the
     server is kept in IndexedDB; the person sees that it is saved on the device.
   - Kept actions are sent again, oldest first, when a page opens or the browser
     comes back online; an answer from the server ends the wait. One it refuses
     (the association's rules changed, the session ended) is counted as refused,
     and the action form says so once (web/static/offline.js asks for "status").
   - The action form itself, and the styles, are kept from the last visit, so the
     form opens without a connection too. Logging out forgets the kept pages.
*/
"use strict";

const DATABASE = "benefed-offline";
const WAITING = "actions";
const PAGES = "benefed-pages-v1";
const RECORDING = /^\/(associations\/[^/]+\/actions\/new|access\/new)$/;
const STYLES = ["/static/style.css", "/static/actions.css"];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(PAGES).then((cache) => cache.addAll(STYLES)).catch(() => undefined)
      .then(() => self.skipWaiting())
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(self.clients.claim().then(flush));
});

self.addEventListener("message", (event) => {
  if (event.data === "flush") {
    event.waitUntil(flush());
  } else if (event.data === "status" && event.ports[0]) {
    event.waitUntil(status().then((found) => event.ports[0].postMessage(found)));
  }
});

/* How many actions wait, and how many were refused since the last look (then forgotten). */
async function status() {
  await flush();
  const items = await everything();
  const refused = items.filter((item) => item.refused);
  for (const item of refused) {
    await forget(item.id);
  }
  return { waiting: items.length - refused.length, refused: refused.length };
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) {
    return;
  }
  if (request.method === "POST" && RECORDING.test(url.pathname)) {
    event.respondWith(sendOrKeep(request));
  } else if (request.method === "POST" && url.pathname === "/logout") {
    event.waitUntil(caches.delete(PAGES));
  } else if (request.method === "GET" && (RECORDING.test(url.pathname) || STYLES.includes(url.pathname))) {
    event.respondWith(networkThenKept(request));
  }
});

async function networkThenKept(request) {
  try {
    const response = await fetch(request);
    if (response.ok && !response.redirected) {
      const cache = await caches.open(PAGES);
      await cache.put(request, response.clone());
    }
    return response;
  } catch (error) {
    const kept = await caches.match(request);
    if (kept) {
      return kept;
    }
    throw error;
  }
}

async function sendOrKeep(request) {
  const body = await request.clone().text();
  let response;
  try {
    response = await fetch(request);
  } catch (error) {
    await keep({ url: request.url, body: body, at: Date.now() });
    return savedPage(new URLSearchParams(body), new URL(request.url).pathname);
  }
  flush();
  return response;
}

function escaped(text) {
  return text.replace(/[&<>"']/g, (c) => "&#" + c.charCodeAt(0) + ";");
}

function savedPage(fields, form) {
  const message = fields.get("offline_saved") || "Saved on this device.";
  const back = fields.get("offline_back") || "Back";
  const language = fields.get("offline_language") || "en";
  const html =
    '<!doctype html><html lang="' + escaped(language) + '"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    "<title>" + escaped(message) + '</title><link rel="stylesheet" href="/static/style.css">' +
    '</head><body><main id="main"><h1 id="saved-offline">' + escaped(message) + "</h1>" +
    '<p><a href="' + escaped(form) + '">' + escaped(back) + "</a></p></main></body></html>";
  return new Response(html, { status: 202, headers: { "Content-Type": "text/html; charset=utf-8" } });
}

function opened() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DATABASE, 1);
    request.onupgradeneeded = () => {
      request.result.createObjectStore(WAITING, { keyPath: "id", autoIncrement: true });
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function inStore(mode, work) {
  const database = await opened();
  return new Promise((resolve, reject) => {
    const transaction = database.transaction(WAITING, mode);
    const request = work(transaction.objectStore(WAITING));
    transaction.oncomplete = () => resolve(request.result);
    transaction.onerror = () => reject(transaction.error);
  });
}

function keep(item) {
  return inStore("readwrite", (store) => store.add(item));
}

function everything() {
  return inStore("readonly", (store) => store.getAll());
}

function refuse(item) {
  return inStore("readwrite", (store) => store.put(Object.assign({}, item, { refused: true })));
}

function forget(id) {
  return inStore("readwrite", (store) => store.delete(id));
}

let flushing = null;

function flush() {
  if (!flushing) {
    flushing = sendWaiting().catch(() => undefined).finally(() => {
      flushing = null;
    });
  }
  return flushing;
}

async function sendWaiting() {
  for (const item of (await everything()).filter((kept) => !kept.refused)) {
    let response;
    try {
      response = await fetch(item.url, {
        method: "POST",
        body: item.body,
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        credentials: "same-origin",
        redirect: "manual",
      });
    } catch (error) {
      return; // still no connection: the next page or "online" event tries again
    }
    if (response.status >= 500) {
      return;
    }
    if (response.status >= 400) {
      await refuse(item); // recorded nothing: the person is told on the form
    } else {
      await forget(item.id); // recorded (a redirect), or recorded before (same key)
    }
  }
}
