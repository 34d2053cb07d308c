// fakes.mjs: a fake WebSocket and store for the uploader's unit tests. The
// fake records what the page sends and lets a test play the server.

export class FakeWebSocket extends EventTarget {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;
  static all = [];

  constructor(url, protocols) {
    super();
    this.url = url;
    this.protocols = protocols;
    this.readyState = FakeWebSocket.CONNECTING;
    this.sent = []; // frames: parsed JSON objects, or Blobs
    this.closedBy = null;
    FakeWebSocket.all.push(this);
  }

  send(data) {
    if (this.readyState !== FakeWebSocket.OPEN) throw new Error('not open');
    this.sent.push(typeof data === 'string' ? JSON.parse(data) : data);
  }

  close(code = 1000) {
    if (this.readyState === FakeWebSocket.CLOSED) return;
    this.readyState = FakeWebSocket.CLOSED;
    this.closedBy = 'page';
    queueMicrotask(() => this.dispatchEvent(Object.assign(new Event('close'), { code })));
  }

  // The server's side.
  open() {
    this.readyState = FakeWebSocket.OPEN;
    this.dispatchEvent(new Event('open'));
  }

  receive(frame) {
    this.dispatchEvent(Object.assign(new Event('message'), { data: JSON.stringify(frame) }));
  }

  drop(code = 1006) {
    this.readyState = FakeWebSocket.CLOSED;
    this.closedBy = 'server';
    this.dispatchEvent(Object.assign(new Event('close'), { code }));
  }

  frames(type) {
    return this.sent.filter((f) => !(f instanceof Blob) && f.type === type);
  }

  chunks() {
    return this.sent.filter((f) => f instanceof Blob);
  }
}

export class MemoryStore {
  constructor(entries = {}) {
    this.entries = { ...entries };
  }
  all() {
    return { ...this.entries };
  }
  get(fp) {
    return this.entries[fp] || null;
  }
  set(fp, rec) {
    this.entries[fp] = rec;
  }
  delete(fp) {
    delete this.entries[fp];
  }
}

// settle lets queued microtasks and promise callbacks run.
export const settle = () => new Promise((r) => setTimeout(r, 0));

globalThis.WebSocket = FakeWebSocket;
