// unfinished.js: uploads this browser started on an earlier visit and did
// not finish (the store), with what the server still holds of each.

import { $, api, store, queue } from './page.js';
import { HTTPError } from './api.js';
import { announce } from './announce.js';
import { formatBytes, formatTime } from './format.js';

export const unfinishedInfo = new Map(); // id -> metadata from GET /api/files/<id>, or null while unknown

export function renderUnfinished() {
  const inQueue = new Set(queue.uploads.map((u) => u.fingerprint));
  const entries = Object.entries(store.all()).filter(([fp, r]) => !inQueue.has(fp) && r && r.id);
  const list = $('unfinished-list');
  list.replaceChildren();
  $('unfinished').hidden = entries.length === 0;
  for (const [fp, rec] of entries) {
    const li = document.createElement('li');
    li.className = 'unfinished-item';
    const name = document.createElement('span');
    name.className = 'unfinished-name';
    name.textContent = rec.name;
    const meta = document.createElement('span');
    meta.className = 'muted';
    const info = unfinishedInfo.get(rec.id);
    meta.textContent = info
      ? `${formatBytes(info.offset || 0)} of ${formatBytes(rec.size)} saved${info.expires_at ? ` · kept until ${formatTime(info.expires_at)}` : ''}`
      : formatBytes(rec.size);
    const discard = document.createElement('button');
    discard.type = 'button';
    discard.className = 'btn btn-quiet';
    discard.textContent = 'Discard';
    discard.setAttribute('aria-label', `Discard the unfinished upload of ${rec.name}`);
    discard.addEventListener('click', async () => {
      store.delete(fp);
      try {
        await api.remove(rec.id);
      } catch {
        // the server forgets it when it expires
      }
      announce(`Discarded ${rec.name}.`);
      renderUnfinished();
      $('choose').focus();
    });
    li.append(name, meta, discard);
    list.append(li);
    if (!unfinishedInfo.has(rec.id)) {
      unfinishedInfo.set(rec.id, null);
      api
        .stat(rec.id)
        .then((m) => {
          if (m.complete) store.delete(fp);
          else unfinishedInfo.set(rec.id, m);
          renderUnfinished();
        })
        .catch((e) => {
          if (e instanceof HTTPError && e.status === 404) {
            store.delete(fp);
            renderUnfinished();
          } else {
            unfinishedInfo.delete(rec.id); // ask again later (token, network)
          }
        });
    }
  }
}
