// page.js: what the page's modules share: the API client, the store and
// its file handles, the queue and the server's limits.

import { API } from './api.js';
import { Queue } from './queue.js';
import { UploadStore, loadParallel } from './store.js';
import { HandleStore, idbBackend } from './handles.js';
import { message as uploadMessage } from './uploader.js';

export const DEFAULT_PARALLEL = 3;

export const $ = (id) => document.getElementById(id);

export const api = new API();
// handles keeps the file handles of unfinished uploads (handles.js); a
// record the store forgets takes its handle with it.
export const handles = new HandleStore(idbBackend());
export const store = new UploadStore({ onDelete: (fp) => handles.forget(fp) });
export const queue = new Queue(initialParallel());

// limits is what the server accepts (GET /api/limits), once known.
export let limits = null;

export function setLimits(l) {
  limits = l;
}

// message says why an upload stopped, naming the server's limits, and
// telling a rejected token from a missing one.
export function message(u) {
  if (u.state === 'error' && u.error && u.error.code === 'unauthorized' && api.token) {
    return 'The server rejected the access token. Enter a valid one under “Access token”; the upload then carries on.';
  }
  return uploadMessage(u, limits);
}

function initialParallel() {
  const n = Number.parseInt(new URLSearchParams(location.search).get('parallel') || '', 10);
  return n >= 1 && n <= 16 ? n : loadParallel(DEFAULT_PARALLEL);
}
