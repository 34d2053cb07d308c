// handles.js: files the page can open again after a reload without the
// person choosing them again, where the browser allows it.
//
// Chromium gives a FileSystemFileHandle for a dropped file
// (DataTransferItem.getAsFileSystemHandle) and for one chosen with
// showOpenFilePicker. A handle can be kept in IndexedDB (a File cannot be
// reread after a reload); after the reload, on a click (a user gesture), the
// page asks for read permission again, reopens the file, and checks that it
// is still the file the upload was started with (name, size, last
// modified). Handles are kept under the upload's store key (store.js) and
// forgotten with its record: completed, cancelled or discarded.

const DB_NAME = 'ferry';
const DB_STORE = 'handles';

// idbBackend is a HandleStore's storage in IndexedDB, or null where there
// is none (the page then remembers no handle).
export function idbBackend(factory = globalThis.indexedDB) {
  if (!factory) return null;
  let opening = null;
  const db = () => {
    opening ??= new Promise((resolve, reject) => {
      const req = factory.open(DB_NAME, 1);
      req.onupgradeneeded = () => req.result.createObjectStore(DB_STORE);
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    return opening;
  };
  // tx runs one request in its own transaction and resolves once the
  // transaction is done (a put is then on disk for the next visit).
  const tx = async (mode, use) => {
    const t = (await db()).transaction(DB_STORE, mode);
    const req = use(t.objectStore(DB_STORE));
    return new Promise((resolve, reject) => {
      t.oncomplete = () => resolve(req.result);
      t.onerror = () => reject(t.error);
      t.onabort = () => reject(t.error);
    });
  };
  return {
    put: (key, value) => tx('readwrite', (s) => s.put(value, key)),
    delete: (key) => tx('readwrite', (s) => s.delete(key)),
    entries: async () => {
      const [keys, values] = await Promise.all([tx('readonly', (s) => s.getAllKeys()), tx('readonly', (s) => s.getAll())]);
      return keys.map((k, i) => [k, values[i]]);
    },
  };
}

// HandleStore maps store keys to {handle, name, size, lastModified}: the
// handle and what the file was when its upload started. backend is
// idbBackend() or null. Operations run one after the other in the order
// they were asked for, so a forget that follows a remember wins even when
// the handle comes later (a drop's handle is a promise).
export class HandleStore {
  constructor(backend) {
    this.backend = backend;
    this.known = new Map();
    this.chain = Promise.resolve();
  }

  // remember keeps handle (a FileSystemFileHandle, or a promise of one or
  // of null) for the upload under key, whose file is file.
  remember(key, handle, file) {
    return this.run(async () => {
      const h = await handle;
      if (!h || h.kind !== 'file' || typeof h.getFile !== 'function') return;
      const rec = { handle: h, name: file.name, size: file.size, lastModified: file.lastModified };
      await this.backend.put(key, rec);
      this.known.set(key, rec);
    });
  }

  // forget drops the handle kept under key, if any.
  forget(key) {
    return this.run(async () => {
      this.known.delete(key);
      await this.backend.delete(key);
    });
  }

  // load reads what earlier visits kept, and forgets the handles whose key
  // keep(key) is false (an upload that never got an id, or was completed
  // while its record's handle was being written).
  load(keep) {
    return this.run(async () => {
      for (const [key, rec] of await this.backend.entries()) {
        if (rec && rec.handle && keep(key)) this.known.set(key, rec);
        else await this.backend.delete(key);
      }
    });
  }

  // get is the record kept under key, or null (as of the last load).
  get(key) {
    return this.known.get(key) || null;
  }

  run(op) {
    if (!this.backend) return Promise.resolve();
    const p = this.chain.then(op);
    // A failure (quota, privacy mode) costs only this handle: the re-pick
    // still works.
    this.chain = p.catch(() => {});
    return this.chain;
  }
}

// handleOf associates Files with the handle they came with.
const handleOf = new WeakMap();

// noteHandle records that file came with handle (or a promise of it).
export function noteHandle(file, handle) {
  if (file && handle) handleOf.set(file, Promise.resolve(handle).catch(() => null));
}

// handleFor is the promise of file's handle, or null when it came without.
export function handleFor(file) {
  return handleOf.get(file) || null;
}

// dropHandle asks a drop's item for its handle. It must be called during the
// drop event, before anything is awaited: the browser empties the
// DataTransfer afterwards.
export function dropHandle(item) {
  if (typeof item.getAsFileSystemHandle !== 'function') return null;
  try {
    return item.getAsFileSystemHandle();
  } catch {
    return null;
  }
}

// changes lists how file differs from the record kept when its upload
// started: 'name', 'size', 'modified'; empty when it is the same file.
export function changes(file, rec) {
  const out = [];
  if (file.name !== rec.name) out.push('name');
  if (file.size !== rec.size) out.push('size');
  if (file.lastModified !== rec.lastModified) out.push('modified');
  return out;
}

// reopen opens the file of a kept record again. Call it from a click: the
// browser may ask the person for permission. It resolves to {file} when
// the file is the one the upload started with, or {error}: 'unsupported'
// (no File System Access here), 'denied' (permission refused), 'missing'
// (moved or deleted), 'changed' (name, size or date differ: a different
// file now) or 'unreadable'.
export async function reopen(rec) {
  const h = rec && rec.handle;
  if (!h || typeof h.getFile !== 'function') return { error: 'unsupported' };
  try {
    let state = typeof h.queryPermission === 'function' ? await h.queryPermission({ mode: 'read' }) : 'granted';
    if (state !== 'granted' && typeof h.requestPermission === 'function') state = await h.requestPermission({ mode: 'read' });
    if (state !== 'granted') return { error: 'denied' };
  } catch {
    return { error: 'denied' };
  }
  let file;
  try {
    file = await h.getFile();
  } catch (e) {
    const name = e && e.name;
    return { error: name === 'NotFoundError' ? 'missing' : name === 'NotAllowedError' ? 'denied' : 'unreadable' };
  }
  if (changes(file, rec).length) return { error: 'changed' };
  return { file };
}

// reopenMessage says why a file could not be reopened and what to do.
export function reopenMessage(name, error) {
  switch (error) {
    case 'denied':
      return `The browser did not allow reading ${name} again. Choose or drop it to continue.`;
    case 'missing':
      return `${name} is no longer where it was. Choose or drop it to continue.`;
    case 'changed':
      return `${name} has changed since its upload started (its size or date differ). Choose or drop the original to continue, or discard the upload.`;
    case 'unsupported':
      return `This browser cannot open ${name} again by itself. Choose or drop it to continue.`;
    default:
      return `${name} could not be read. Choose or drop it to continue.`;
  }
}

// pickerOptions are showOpenFilePicker's options for the server's limits
// (see precheck in uploader.js): several files, the allowed types offered
// first. A type the picker does not take makes it throw TypeError, and the
// page falls back to <input type=file>.
export function pickerOptions(limits) {
  const opts = { multiple: true };
  if (limits && limits.allowedTypes.length) {
    opts.types = [{ description: 'Files this server accepts', accept: Object.fromEntries(limits.allowedTypes.map((t) => [t, []])) }];
  }
  return opts;
}

// pickFiles lets the person choose files with win.showOpenFilePicker and
// resolves to them, each noted with its handle; [] when the person closed
// the picker; null when there is no such picker or it refused to open (an
// iframe, a type it does not take): then use <input type=file>.
export async function pickFiles(win, limits) {
  if (typeof win.showOpenFilePicker !== 'function') return null;
  let handles;
  try {
    handles = await win.showOpenFilePicker(pickerOptions(limits));
  } catch (e) {
    return e && e.name === 'AbortError' ? [] : null;
  }
  const files = [];
  for (const h of handles) {
    try {
      const f = await h.getFile();
      noteHandle(f, h);
      files.push(f);
    } catch {
      // gone between the choice and now: nothing to upload
    }
  }
  return files;
}
