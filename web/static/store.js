// store.js: what the page remembers across reloads, in localStorage.
//
// Each unfinished upload is kept under its file's fingerprint (name, size,
// last modified), so that choosing or dropping the same file again after a
// reload or a browser restart resumes it instead of starting over. The entry
// is forgotten when the upload completes, is cancelled or no longer exists.
// Where the browser gives file handles, handles.js keeps the file's handle
// beside it, so that the panel of unfinished uploads can resume it without
// the file being chosen again.

const UPLOADS_KEY = 'ferry.uploads';
const TOKEN_KEY = 'ferry.token';
const PARALLEL_KEY = 'ferry.parallel';

// fingerprint identifies a file the person may pick again later.
export function fingerprint(file) {
  return JSON.stringify([file.name, file.size, file.lastModified]);
}

function read(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null; // storage disabled: the page still works, without memory
  }
}

function write(key, value) {
  try {
    if (value === null || value === '') localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    // quota or privacy settings: forgetting is the only option
  }
}

// UploadStore maps fingerprints to upload records {id, name, size, lastModified, saved}.
// onDelete(fp), when given, is told of every record forgotten, so what is
// kept elsewhere for it (a file handle, handles.js) goes with it.
export class UploadStore {
  constructor({ onDelete = null } = {}) {
    this.onDelete = onDelete;
  }

  all() {
    try {
      const v = JSON.parse(read(UPLOADS_KEY) || '{}');
      return v && typeof v === 'object' ? v : {};
    } catch {
      return {};
    }
  }

  get(fp) {
    return this.all()[fp] || null;
  }

  set(fp, record) {
    const all = this.all();
    all[fp] = { ...record, saved: Date.now() };
    write(UPLOADS_KEY, JSON.stringify(all));
  }

  delete(fp) {
    if (this.onDelete) this.onDelete(fp);
    const all = this.all();
    if (!(fp in all)) return;
    delete all[fp];
    write(UPLOADS_KEY, Object.keys(all).length ? JSON.stringify(all) : null);
  }
}

export function loadToken() {
  return read(TOKEN_KEY) || '';
}

export function saveToken(token) {
  write(TOKEN_KEY, token.trim());
}

export function loadParallel(fallback) {
  const n = Number.parseInt(read(PARALLEL_KEY) || '', 10);
  return n >= 1 && n <= 16 ? n : fallback;
}

export function saveParallel(n) {
  write(PARALLEL_KEY, String(n));
}
