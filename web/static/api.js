// api.js: ferry's HTTP API (PROTOCOL.md §2) and the URLs the page builds.
//
// When the server has tokens configured, fetch sends the token as a Bearer
// header; URLs the browser loads by itself (the WebSocket, <img>, <video>,
// download links) carry it as ?token=. A link meant for someone else never
// carries the token: it is a signed, expiring, read-only link the server
// makes (POST /api/files/<id>/link).

import { loadToken } from './store.js';

export class HTTPError extends Error {
  constructor(status, code) {
    super(`HTTP ${status}${code ? `: ${code}` : ''}`);
    this.status = status;
    this.code = code;
  }
}

export class API {
  constructor() {
    this.token = loadToken();
  }

  withToken(path) {
    const u = new URL(path, location.href);
    if (this.token) u.searchParams.set('token', this.token);
    return u;
  }

  uploadSocketURL() {
    const u = this.withToken('/ws/upload');
    u.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return u.href;
  }

  // fileURL is where the browser shows a file; download=true asks for a download.
  fileURL(id, download = false) {
    const u = this.withToken(`/files/${encodeURIComponent(id)}`);
    if (download) u.searchParams.set('download', '1');
    return u.pathname + u.search;
  }

  // shareURL resolves to the absolute link "Copy link" puts on the
  // clipboard. With a token, it is a signed link to this one file that
  // expires (the server's default ttl): the token itself, which may list and
  // delete everything, is never in it. Without a token the server needs
  // none, and the plain link opens. It throws an HTTPError when the server
  // will not make a link (a token that may only upload: 403).
  async shareURL(id) {
    const path = `/files/${encodeURIComponent(id)}`;
    if (!this.token) return new URL(path, location.href).href;
    const res = await this.request(`/api/files/${encodeURIComponent(id)}/link`, { method: 'POST' });
    const body = await res.json();
    if (typeof body.url !== 'string' || !body.url.startsWith(`${path}?`)) throw new HTTPError(res.status, 'bad_link');
    return new URL(body.url, location.href).href;
  }

  async request(path, init = {}) {
    const headers = new Headers(init.headers || {});
    if (this.token) headers.set('Authorization', `Bearer ${this.token}`);
    const res = await fetch(path, { ...init, headers, cache: 'no-store' });
    if (!res.ok) {
      let code = '';
      try {
        code = (await res.json()).error || '';
      } catch {
        // not JSON
      }
      throw new HTTPError(res.status, code);
    }
    return res;
  }

  // limits is what the server accepts (GET /api/limits): {max_size,
  // allowed_types, max_frame}, or null when it does not say.
  async limits() {
    try {
      const res = await this.request('/api/limits');
      const l = await res.json();
      return {
        maxSize: Number(l.max_size) > 0 ? Number(l.max_size) : 0,
        allowedTypes: Array.isArray(l.allowed_types) ? l.allowed_types.map(String) : [],
      };
    } catch {
      return null;
    }
  }

  async listFiles(after = '', limit = 20) {
    const q = new URLSearchParams({ limit: String(limit) });
    if (after) q.set('after', after);
    const res = await this.request(`/api/files?${q}`);
    const body = await res.json();
    return { files: Array.isArray(body.files) ? body.files : [], next: body.next || '' };
  }

  async stat(id) {
    const res = await this.request(`/api/files/${encodeURIComponent(id)}`);
    return res.json();
  }

  async remove(id) {
    try {
      await this.request(`/api/files/${encodeURIComponent(id)}`, { method: 'DELETE' });
    } catch (e) {
      if (!(e instanceof HTTPError && e.status === 404)) throw e; // already gone is fine
    }
  }

  // probe tells apart, after a WebSocket handshake failed (browsers hide the
  // HTTP status), a missing or wrong token (401), a token that may not
  // upload (403) and a server that is not there. It asks for the offset of
  // an upload that does not exist, which needs the same scope as uploading.
  async probe() {
    try {
      await this.request('/uploads/00000000-0000-4000-8000-000000000000', { method: 'HEAD' });
      return 'ok';
    } catch (e) {
      if (e instanceof HTTPError) return e.status === 401 ? 'unauthorized' : e.status === 403 ? 'forbidden' : 'ok';
      return 'unreachable';
    }
  }
}
