// uploader.js: one file's upload over ferry's WebSocket protocol (PROTOCOL.md §1).
//
// An Upload is a small state machine. The page's queue calls begin() when a
// slot is free; from then on the Upload connects to /ws/upload offering the
// "ferry.v1" subprotocol, sends `start` (or `resume` when it knows an id),
// streams binary chunks of min(max_frame, 8 MiB) while keeping at most a
// window of bytes the server has not yet acknowledged as `received`, sends
// `end` after the last byte and waits for `complete`.
//
// The progress the person sees is the server's `offset`: bytes that survive
// a crash of the server. When the socket drops, the Upload reconnects with
// exponential backoff and resumes from the offset the server reports in
// `ready`, resending whatever had not become durable.
//
// States:
//   queued      waiting for a slot in the queue
//   hashing     computing the SHA-256 sent with `start` (small files only)
//   connecting  socket opening, or start/resume sent and `ready` awaited
//   uploading   sending bytes
//   finishing   every byte sent and `end` sent; the server may still be
//               saving the last bytes; `complete` awaited
//   waiting     between two connection attempts (backoff)
//   paused      stopped by the person; resumable
//   cancelling  `abort` sent, `aborted` awaited
//   done        complete
//   cancelled   aborted; the server deleted the bytes
//   error       stopped on a failure the person has to look at (see message())

import { fingerprint } from './store.js';
import { formatBytes } from './format.js';

export const SUBPROTOCOL = 'ferry.v1';
export const MAX_CHUNK = 8 << 20;

// States in which an upload occupies one of the queue's parallel slots.
const ACTIVE = new Set(['hashing', 'connecting', 'uploading', 'finishing', 'waiting', 'cancelling']);

const defaults = {
  // Unacknowledged bytes in flight: at most windowChunks chunks and at most
  // windowBytes (3 chunks of 8 MiB, 16 of 1 MiB). Not more: a browser sends
  // what is queued before the close of a Pause and before an `abort`, so
  // the window is how far a Pause or Cancel runs on.
  windowChunks: 16,
  windowBytes: 24 << 20,
  hashLimit: 64 << 20, // send a sha256 with `start` for files up to this size
  backoffBase: 500, // ms before the first reconnection; doubles each time
  backoffMax: 30000, // ms, the longest wait between two attempts
  stallTimeout: 30000, // ms of silence from the server before reconnecting
  finishTimeout: 120000, // ms to wait for `complete` after `end`
  abortTimeout: 5000, // ms to wait for `aborted` before deleting over HTTP
};

// How many attempts each reason to retry gets before the upload stops and
// asks the person; 0 means "keep trying": a network that comes back should
// find its uploads carrying on by themselves.
const retryLimits = {
  dropped: 0, // the connection broke mid-upload
  unreachable: 0, // the server does not answer at all
  locked: 10, // an earlier connection still holds the upload (dies with its connection)
  busy: 6, // storage_error, shutting_down
  refused: 5, // the server answers HTTP but refuses the WebSocket
  resync: 5, // incomplete / size_exceeded: the positions disagreed
};

// Upload sends one File. It dispatches a "change" event whenever anything
// the page shows may have changed.
export class Upload extends EventTarget {
  // opts: url() -> WebSocket URL; store: UploadStore; probe() -> Promise of
  // 'ok' | 'unauthorized' | 'unreachable'; remove(id) -> Promise (HTTP DELETE);
  // copy: true for a second copy of a file already listed, which starts a
  // new upload and is remembered under its own key; plus any of `defaults`.
  constructor(file, opts) {
    super();
    this.opts = { ...defaults, ...opts };
    this.file = file;
    this.name = file.name;
    this.size = file.size;
    this.mime = file.type || '';
    this.fingerprint = fingerprint(file);
    // storeKey is where the store keeps this upload: the fingerprint, so
    // that the same file chosen after a reload finds it, except for a copy,
    // which must neither take over nor overwrite the first one's record.
    this.storeKey = this.opts.copy ? `${this.fingerprint}#copy-${Date.now()}-${Math.random().toString(36).slice(2)}` : this.fingerprint;
    const known = this.opts.copy ? null : this.opts.store.get(this.storeKey);
    this.id = known && known.id ? known.id : null;
    this.resumedFromEarlierVisit = this.id !== null;
    this.state = 'queued';
    this.offset = 0; // durable bytes, as reported by the server
    this.received = 0; // bytes the server accepted from the socket
    this.sent = 0; // bytes handed to the socket on this connection
    this.digest = null;
    this.sha256 = null; // from `complete`
    this.url = null; // from `complete`
    this.expiresAt = null;
    this.error = null; // {code, message} while state is 'error'
    this.waitReason = null;
    this.retryAt = 0;
    this.attempts = 0;
    this.conn = null;
    this.timer = 0;
    this.samples = [];
    this.generation = 0; // invalidates answers to probes made for older connections
    // held is true once a connection of this page was given the upload (a
    // `ready` for this.id): only then may this page delete it. An id known
    // from the store may belong to an upload another tab or device is
    // sending right now.
    this.held = false;
    // The end-to-end check: the file's own SHA-256, computed here (before
    // `start` for small files, in a Worker once the upload is complete for
    // the rest), compared with the server's `complete.sha256`.
    this.localSha = null;
    this.hashed = 0; // bytes the Worker has hashed
    this.hashJob = null;
    this.verify = null; // null, 'pending', 'ok', 'mismatch' or 'unavailable'
  }

  // holds is true when cancelling may delete the upload on the server: this
  // page created it or was given it, or has no id yet.
  get holds() {
    return this.id === null || this.held || !!(this.conn && this.conn.startSent);
  }

  get active() {
    return ACTIVE.has(this.state);
  }

  get finished() {
    return this.state === 'done' || this.state === 'cancelled';
  }

  // speed is the bytes per second the server accepted over the last few
  // seconds, or 0. It follows `received`, not the durable offset, which
  // moves in steps as the server saves (and made early estimates of the
  // time left about twice too long); and it waits for a second of samples.
  get speed() {
    const s = this.samples;
    if ((this.state !== 'uploading' && this.state !== 'finishing') || s.length < 2) return 0;
    const [t0, o0] = s[0];
    const [t1, o1] = s[s.length - 1];
    if (performance.now() - t1 > 3000) return 0; // stalled: no estimate beats a wrong one
    return t1 - t0 >= 1000 ? ((o1 - o0) * 1000) / (t1 - t0) : 0;
  }

  // eta is the estimated seconds left, or NaN when unknown.
  get eta() {
    const v = this.speed;
    return v > 0 ? (this.size - this.received) / v : NaN;
  }

  // begin is called by the queue when a slot is free.
  begin() {
    if (this.state !== 'queued') return;
    this.error = null;
    if (this.id === null && !this.digest && this.shouldHash()) this.hash();
    else this.connect();
  }

  // startVerify starts hashing the file in a Worker (opts.hashFile), unless
  // its SHA-256 is known or being computed. It runs once the upload is
  // complete: hashing alongside took the CPU the upload needed, and slowed
  // it by a third on two cores shared with the server (docs/performance.md).
  startVerify() {
    if (this.localSha || this.hashJob || !this.opts.hashFile) return;
    this.verify = 'pending';
    this.hashed = 0;
    const job = this.opts.hashFile(this.file, (done) => {
      if (this.hashJob !== job) return;
      this.hashed = done;
      if (this.state === 'done') this.emit(); // the only thing left to show
    });
    this.hashJob = job;
    job.promise.then(
      (sha) => {
        if (this.hashJob !== job) return;
        this.hashJob = null;
        this.localSha = sha;
        this.checkDigest();
      },
      () => {
        if (this.hashJob !== job) return;
        this.hashJob = null;
        this.verify = 'unavailable';
        this.emit();
      },
    );
  }

  stopVerify() {
    const job = this.hashJob;
    this.hashJob = null;
    if (job) job.cancel();
  }

  // checkDigest compares the file's SHA-256 with the server's once both are
  // known. A difference means the stored bytes are not this file's.
  checkDigest() {
    if (!this.localSha || !this.sha256 || this.state !== 'done') {
      this.emit();
      return;
    }
    if (this.localSha === this.sha256) {
      this.verify = 'ok';
      this.emit();
      return;
    }
    this.verify = 'mismatch';
    this.fail('verify_failed', '');
  }

  // pause stops sending and closes the connection; the upload stays resumable.
  pause() {
    if (!this.active && this.state !== 'queued') return;
    if (this.state === 'cancelling') return;
    clearTimeout(this.timer);
    const conn = this.conn;
    // A start whose `ready` has not come yet creates an upload we would never
    // learn the id of: keep the socket until `ready`, then close (onReady).
    const keep = conn && conn.startSent && !conn.ready;
    if (!keep) this.drop(conn);
    this.set('paused');
  }

  // resume puts a paused upload back in the queue.
  resume() {
    if (this.state !== 'paused') return;
    this.attempts = 0;
    this.set('queued');
  }

  // retry restarts an upload that stopped on an error, or skips the wait
  // before the next connection attempt.
  retry() {
    if (this.state === 'waiting') {
      clearTimeout(this.timer);
      this.connect();
      return;
    }
    if (this.state !== 'error') return;
    if (this.error && this.error.code === 'verify_failed') {
      // The stored copy is not this file: send it again as a new upload,
      // checked against a fresh hash.
      this.clearID();
      this.reset(0);
      this.digest = this.localSha = this.sha256 = null;
      this.verify = null;
    }
    this.attempts = 0;
    this.error = null;
    this.set('queued');
  }

  // cancel gives the upload up: the server deletes its bytes. An upload
  // this page does not hold (see held) is never deleted: it stops here with
  // the error "in_use", and the page offers to forget it locally.
  cancel() {
    if (this.finished || this.state === 'cancelling') return;
    clearTimeout(this.timer);
    const conn = this.conn;
    if (!this.holds) {
      this.drop(conn);
      this.fail('in_use', '');
      return;
    }
    if (conn && conn.ready && conn.ws.readyState === WebSocket.OPEN) {
      this.set('cancelling');
      this.send(conn, { type: 'abort' });
      conn.abortTimer = setTimeout(() => {
        if (this.conn === conn && this.state === 'cancelling') {
          this.drop(conn);
          this.cancelOverHTTP();
        }
      }, this.opts.abortTimeout);
      return;
    }
    if (conn && conn.startSent && !conn.ready) {
      this.set('cancelling'); // onReady sends the abort
      return;
    }
    this.drop(conn);
    this.cancelOverHTTP();
  }

  // replaceFile gives a stopped upload the File the person just chose again
  // (the old one may no longer be readable).
  replaceFile(file) {
    this.file = file;
    if (!this.hashJob) return;
    this.stopVerify(); // the old File may fail to read: hash the new one
    this.verify = null;
  }

  shouldHash() {
    return this.size <= this.opts.hashLimit && globalThis.crypto && crypto.subtle;
  }

  async hash() {
    this.set('hashing');
    try {
      const digest = await crypto.subtle.digest('SHA-256', await this.file.arrayBuffer());
      this.digest = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
      this.localSha = this.digest;
      this.verify = 'pending';
    } catch {
      this.digest = null; // the checksum is optional; a read error shows up when sending
    }
    if (this.state === 'hashing') this.connect();
  }

  connect() {
    clearTimeout(this.timer);
    this.drop(this.conn);
    this.set('connecting');
    let ws;
    try {
      ws = new WebSocket(this.opts.url(), [SUBPROTOCOL]);
    } catch (e) {
      this.fail('refused', e.message);
      return;
    }
    ws.binaryType = 'arraybuffer';
    const conn = { ws, opened: false, startSent: false, ready: false, endSent: false, watchdog: 0, abortTimer: 0 };
    this.conn = conn;
    ws.addEventListener('open', () => this.conn === conn && this.onOpen(conn));
    ws.addEventListener('message', (ev) => this.conn === conn && this.onMessage(conn, ev));
    ws.addEventListener('close', (ev) => this.conn === conn && this.onClose(conn, ev));
  }

  onOpen(conn) {
    conn.opened = true;
    this.arm(conn);
    if (this.id !== null) {
      this.send(conn, { type: 'resume', id: this.id });
      return;
    }
    const start = { type: 'start', name: this.name, size: this.size };
    if (this.mime) start.mime = this.mime;
    if (this.digest) start.sha256 = this.digest;
    conn.startSent = true;
    this.send(conn, start);
  }

  onMessage(conn, ev) {
    if (typeof ev.data !== 'string') return; // the server sends no binary
    let f;
    try {
      f = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (!f || typeof f !== 'object') return;
    this.arm(conn);
    switch (f.type) {
      case 'ready':
        this.onReady(conn, f);
        break;
      case 'progress':
        this.onProgress(conn, f);
        break;
      case 'complete':
        this.onComplete(conn, f);
        break;
      case 'aborted':
        this.stopVerify();
        this.drop(conn);
        this.forget();
        this.clearID();
        this.set('cancelled');
        break;
      case 'error':
        this.onError(conn, f);
        break;
    }
  }

  onReady(conn, f) {
    if (this.id === null && typeof f.id === 'string') {
      this.id = f.id;
      if (this.state !== 'cancelling') {
        this.opts.store.set(this.storeKey, {
          id: this.id,
          name: this.name,
          size: this.size,
          lastModified: this.file.lastModified,
        });
      }
    }
    if (this.state === 'cancelling') {
      this.send(conn, { type: 'abort' });
      return;
    }
    if (this.state === 'paused') {
      this.drop(conn);
      return;
    }
    if (typeof f.size === 'number' && f.size !== this.size) {
      // The remembered id belongs to some other file: start this one afresh.
      this.forget();
      this.clearID();
      this.reset(0);
      this.begin2();
      return;
    }
    conn.ready = true;
    this.held = true;
    const max = f.max_frame > 0 ? f.max_frame : MAX_CHUNK;
    this.chunk = Math.max(1, Math.min(max, MAX_CHUNK));
    this.expiresAt = f.expires_at || null;
    this.reset(Number(f.offset) || 0);
    this.set('uploading');
    this.pump();
  }

  // begin2 starts a fresh upload after a remembered id turned out useless.
  begin2() {
    this.drop(this.conn);
    this.state = 'queued';
    this.begin();
  }

  reset(offset) {
    this.offset = offset;
    this.received = offset;
    this.sent = offset;
    this.samples = [[performance.now(), offset]];
  }

  onProgress(conn, f) {
    if (!conn.ready || (f.id && f.id !== this.id)) return;
    if (typeof f.received === 'number' && f.received > this.received) {
      this.received = Math.min(f.received, this.size);
      const now = performance.now();
      this.samples.push([now, this.received]);
      while (this.samples.length > 2 && now - this.samples[0][0] > 5000) this.samples.shift();
    }
    if (typeof f.offset === 'number' && f.offset > this.offset) {
      this.offset = Math.min(f.offset, this.size);
      this.attempts = 0; // the connection works: forget earlier failures
    }
    this.emit();
    this.pump();
  }

  onComplete(conn, f) {
    if (this.id === null && typeof f.id === 'string') this.id = f.id;
    this.offset = this.received = this.sent = this.size;
    this.sha256 = f.sha256 || null;
    this.url = f.url || (this.id ? `/files/${this.id}` : null);
    this.attempts = 0;
    this.forget();
    this.drop(conn);
    this.set('done');
    this.startVerify();
    this.checkDigest();
  }

  onError(conn, f) {
    const code = String(f.code || 'unknown');
    const message = typeof f.message === 'string' ? f.message : '';
    if (this.state === 'cancelling') {
      // The abort could not be done on this connection: delete over HTTP.
      this.drop(conn);
      this.cancelOverHTTP();
      return;
    }
    switch (code) {
      case 'not_found':
        this.forget();
        if (!conn.ready && this.id !== null) {
          // The remembered upload expired or was deleted: start over.
          this.clearID();
          this.reset(0);
          this.begin2();
          return;
        }
        // Deleted while it was sent: none of it is saved any more.
        this.clearID();
        this.drop(conn);
        this.reset(0);
        this.fail(code, message);
        return;
      case 'locked':
        this.drop(conn);
        this.retryLater('locked');
        return;
      case 'incomplete':
      case 'size_exceeded':
        // Our idea of the position and the server's disagree: reconnecting
        // makes `ready` tell us the server's offset.
        this.drop(conn);
        this.retryLater('resync');
        return;
      case 'storage_error':
      case 'shutting_down':
        this.drop(conn);
        this.retryLater('busy');
        return;
      case 'checksum_mismatch':
        this.forget(); // the server deleted the bytes
        this.clearID();
        this.digest = this.localSha = null; // the file may have changed: hash it again on retry
        this.drop(conn);
        this.fail(code, message);
        return;
      default:
        // too_large, forbidden_type, quota_exceeded, unauthorized, and the
        // codes that mean this page has a bug.
        this.drop(conn);
        this.fail(code, message);
    }
  }

  onClose(conn, ev) {
    this.conn = null;
    clearTimeout(conn.watchdog);
    clearTimeout(conn.abortTimer);
    if (this.state === 'cancelling') {
      this.cancelOverHTTP();
      return;
    }
    if (!['connecting', 'uploading', 'finishing'].includes(this.state)) return;
    this.set('connecting'); // still "connecting" while we find out why
    const gen = ++this.generation;
    const current = () => this.generation === gen && this.state === 'connecting' && this.conn === null;
    this.readable().then((ok) => {
      if (!current()) return;
      if (!ok) {
        this.fail('unreadable', '');
        return;
      }
      if (conn.opened && ev.code !== 1008) {
        this.retryLater('dropped');
        return;
      }
      // The handshake failed, or the server closed for policy reasons. A
      // browser does not tell why, so ask the API: 401 means the token is
      // missing or wrong, 403 that it may not upload, no answer means the
      // server is unreachable.
      this.opts.probe().then((verdict) => {
        if (!current()) return;
        if (verdict === 'unauthorized' || verdict === 'forbidden') this.fail(verdict, '');
        else if (verdict === 'unreachable') this.retryLater('unreachable');
        else if (conn.opened) this.retryLater('dropped');
        else this.retryLater('refused');
      });
    });
  }

  // pump sends chunks while the window allows, then `end` after the last one.
  // Chunks go to the socket as Blob slices: the browser reads them from the
  // file itself, off the page's thread, never copying them into JavaScript;
  // reading each into an ArrayBuffer first cost two thirds of the speed
  // (docs/performance.md). A file that can no longer be read makes the
  // browser fail the connection, and onClose finds out why (readable).
  pump() {
    const conn = this.conn;
    if (!conn || !conn.ready) return;
    const window = this.chunk * Math.max(1, Math.min(this.opts.windowChunks, Math.floor(this.opts.windowBytes / this.chunk)));
    while (this.conn === conn && this.state === 'uploading') {
      if (this.sent >= this.size) {
        if (!conn.endSent) {
          conn.endSent = true;
          this.send(conn, { type: 'end' });
          this.arm(conn);
          this.set('finishing');
        }
        return;
      }
      if (this.sent - this.received >= window) return; // the next `progress` calls pump again
      const end = Math.min(this.size, this.sent + this.chunk);
      try {
        conn.ws.send(this.file.slice(this.sent, end));
      } catch {
        return; // the socket is closing: its close event follows
      }
      this.sent = end;
    }
  }

  // readable resolves to false when the file can no longer be read (moved,
  // deleted or changed on disk), which a browser reports only as a failed
  // connection when it sends Blobs.
  async readable() {
    if (this.size === 0) return true;
    const at = Math.min(this.sent, this.size - 1);
    try {
      const b = await this.file.slice(at, at + 1).arrayBuffer();
      return b.byteLength === 1;
    } catch {
      return false;
    }
  }

  // arm restarts the watchdog that replaces a connection gone silent (a
  // laptop that slept, a NAT that forgot us) instead of waiting forever.
  arm(conn) {
    clearTimeout(conn.watchdog);
    const ms = this.state === 'finishing' ? this.opts.finishTimeout : this.opts.stallTimeout;
    conn.watchdog = setTimeout(() => {
      if (this.conn !== conn || !['connecting', 'uploading', 'finishing'].includes(this.state)) return;
      this.drop(conn);
      this.retryLater('dropped');
    }, ms);
  }

  retryLater(reason) {
    this.attempts++;
    const limit = retryLimits[reason] || 0;
    if (limit && this.attempts > limit) {
      this.fail(reason, '');
      return;
    }
    const step = Math.min(this.opts.backoffMax, this.opts.backoffBase * 2 ** Math.min(this.attempts - 1, 16));
    const delay = step / 2 + (Math.random() * step) / 2;
    this.waitReason = reason;
    this.retryAt = Date.now() + delay;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (this.state === 'waiting') this.connect();
    }, delay);
    this.set('waiting');
  }

  // wake retries now an upload waiting for the network (the browser came back online).
  wake() {
    if (this.state === 'waiting' && (this.waitReason === 'unreachable' || this.waitReason === 'dropped')) this.retry();
  }

  fail(code, message) {
    clearTimeout(this.timer);
    this.error = { code, message };
    this.set('error');
  }

  cancelOverHTTP() {
    this.stopVerify();
    const id = this.id;
    this.forget();
    this.clearID();
    if (id) this.opts.remove(id).catch(() => {});
    this.set('cancelled');
  }

  forget() {
    this.opts.store.delete(this.storeKey);
  }

  // clearID drops the upload's id: the next connection starts a new one.
  clearID() {
    this.id = null;
    this.held = false;
  }

  send(conn, frame) {
    try {
      conn.ws.send(JSON.stringify(frame));
    } catch {
      // the close event follows
    }
  }

  drop(conn) {
    if (!conn) return;
    if (this.conn === conn) this.conn = null;
    clearTimeout(conn.watchdog);
    clearTimeout(conn.abortTimer);
    try {
      conn.ws.close(1000);
    } catch {
      // already closed
    }
  }

  set(state) {
    this.state = state;
    if (state !== 'uploading' && state !== 'finishing') this.samples = this.samples.slice(-1);
    this.emit();
  }

  emit() {
    this.dispatchEvent(new Event('change'));
  }
}

// typeAllowed is true when a media type matches one of the patterns
// ("image/*", "video/mp4").
export function typeAllowed(type, patterns) {
  const t = type.toLowerCase().split(';')[0].trim();
  return patterns.some((p) => {
    const q = p.toLowerCase().trim();
    return q === '*/*' || q === t || (q.endsWith('/*') && t.startsWith(q.slice(0, -1)));
  });
}

// Types a browser gives files it cannot identify; the server judges by the
// content, so these are never refused before sending.
const VAGUE_TYPES = new Set(['', 'application/octet-stream', 'text/plain']);

// precheck is the error code the server would refuse file with under
// limits ({maxSize, allowedTypes}, or null when unknown): 'too_large',
// 'forbidden_type', or '' when it may be sent.
export function precheck(file, limits) {
  if (!limits) return '';
  if (limits.maxSize > 0 && file.size > limits.maxSize) return 'too_large';
  const type = String(file.type || '');
  if (limits.allowedTypes.length && !VAGUE_TYPES.has(type) && !typeAllowed(type, limits.allowedTypes)) return 'forbidden_type';
  return '';
}

// describeLimits states limits in a line a person reads before choosing
// files, or '' when there are none.
export function describeLimits(limits) {
  if (!limits) return '';
  const parts = [];
  if (limits.maxSize > 0) parts.push(`Files up to ${formatBytes(limits.maxSize)}`);
  if (limits.allowedTypes.length) parts.push(`${parts.length ? 'of' : 'Files of'} these types: ${limits.allowedTypes.join(', ')}`);
  return parts.length ? `${parts.join(', ')}.` : '';
}

// message says in plain words why an upload stopped or waits; limits (see
// precheck) lets it name the limit a refused file broke.
export function message(upload, limits = null) {
  const e = upload.error;
  const code = upload.state === 'waiting' ? upload.waitReason : e && e.code;
  switch (code) {
    case 'too_large':
      if (limits && limits.maxSize > 0) {
        let size = formatBytes(upload.size);
        let limit = formatBytes(limits.maxSize);
        if (size === limit) {
          // Rounded alike: the exact counts show the difference.
          size = `${upload.size.toLocaleString('en')} bytes`;
          limit = `${limit} (${limits.maxSize.toLocaleString('en')} bytes)`;
        }
        return `This file (${size}) is larger than the ${limit} limit of this server.`;
      }
      return 'This file is larger than the server accepts.';
    case 'forbidden_type':
      return limits && limits.allowedTypes.length
        ? `The server does not accept this type of file${upload.mime ? ` (${upload.mime})` : ''}: it takes ${limits.allowedTypes.join(', ')}.`
        : 'The server does not accept this type of file.';
    case 'verify_failed':
      return 'The server’s copy does not match this file (their SHA-256 differ): it was damaged on the way, or the file changed while it was sent. Cancel deletes the copy; Retry sends the file again.';
    case 'checksum_mismatch':
      return 'The file arrived damaged (its checksum did not match), so the server discarded it. Retry to send it again.';
    case 'quota_exceeded':
      return 'The server has no room left for this file.';
    case 'not_found':
      return 'This upload no longer exists on the server: it expired or was deleted. Retry to send the file again.';
    case 'unauthorized':
      return 'The server needs a valid access token. Enter it under “Access token”; the upload then carries on.';
    case 'forbidden':
      // A refusal by the server's pre-create hook carries words for the
      // user; the page's own "forbidden" (a token's scope) has none.
      if (e && e.message) return `The server refused this upload: ${e.message}`;
      return 'This access token may not upload. Enter one that may under “Access token”; the upload then carries on.';
    case 'unreachable':
      return 'Cannot reach the server. Check your connection; the upload carries on when the server answers.';
    case 'dropped':
      return 'The connection was lost. Reconnecting…';
    case 'in_use':
      return 'This upload is in use elsewhere (another tab or device), so it was not cancelled. Cancel it where it runs, or forget it here.';
    case 'locked':
      return upload.state === 'waiting'
        ? 'An earlier connection is still finishing with this upload. Waiting for it…'
        : 'This upload is in use by another connection (another tab or device). Retry later.';
    case 'busy':
    case 'storage_error':
    case 'shutting_down':
      return upload.state === 'waiting'
        ? 'The server could not store the file just now. Trying again…'
        : 'The server could not store the file. Retry later.';
    case 'resync':
      return 'The server and this page disagreed about how much was sent. Retry to continue.';
    case 'refused':
      return 'The server refused the upload connection.';
    case 'unreadable':
      return 'The file can no longer be read: it may have been moved or changed. Choose it again.';
    default:
      return code ? `The upload failed (${code}).` : '';
  }
}
