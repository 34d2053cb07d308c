import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { FakeWebSocket, MemoryStore, settle } from './fakes.mjs';
import { Upload, message, precheck, describeLimits, typeAllowed, MAX_CHUNK } from '../static/uploader.js';
import { fingerprint } from '../static/store.js';

const made = [];

beforeEach(() => {
  FakeWebSocket.all.length = 0;
});

// Stop every upload's timers, so the run ends when the tests do.
afterEach(() => {
  for (const u of made.splice(0)) {
    u.stopVerify();
    clearTimeout(u.timer);
    if (u.conn) u.drop(u.conn);
    u.state = 'paused';
  }
});

const ID = '01a2351a-8533-7413-96d3-3fc118a1b373';

function file(size, name = 'a.bin') {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = i & 255;
  return new File([bytes], name, { type: 'application/octet-stream', lastModified: 1767225600000 });
}

function makeUpload(f, extra = {}) {
  const removed = [];
  const store = extra.store || new MemoryStore();
  const u = new Upload(f, {
    url: () => 'ws://127.0.0.1/ws/upload',
    store,
    probe: async () => 'ok',
    remove: async (id) => {
      removed.push(id);
    },
    hashLimit: 0, // no hashing before start unless a test asks
    backoffBase: 1,
    backoffMax: 2,
    ...extra,
  });
  made.push(u);
  return { u, removed, store };
}

const last = () => FakeWebSocket.all[FakeWebSocket.all.length - 1];

test('the window holds at most 24 MiB: 3 chunks of 8 MiB, 16 of 1 MiB', () => {
  for (const [maxFrame, inFlight] of [
    [MAX_CHUNK, 3],
    [1 << 20, 16],
  ]) {
    const size = 40 << 20;
    const { u } = makeUpload(new File([new Uint8Array(size)], 'w.bin'));
    u.begin();
    const ws = last();
    ws.open();
    ws.receive({ type: 'ready', id: ID, offset: 0, max_frame: maxFrame });
    assert.equal(ws.chunks().length, inFlight, `chunks in flight with max_frame ${maxFrame}`);
    assert.ok(ws.chunks().every((c) => c.size === maxFrame));
  }
});

test('uploads a file as Blob slices within the window, then end, then done', async () => {
  const size = 3 * MAX_CHUNK + 5;
  const { u, store } = makeUpload(file(size), { windowChunks: 2 });
  u.begin();
  const ws = last();
  assert.deepEqual(ws.protocols, ['ferry.v1']);
  ws.open();
  assert.deepEqual(ws.frames('start'), [{ type: 'start', name: 'a.bin', size, mime: 'application/octet-stream' }]);
  ws.receive({ type: 'ready', id: ID, offset: 0, max_frame: MAX_CHUNK });
  assert.equal(u.state, 'uploading');
  assert.ok(store.get(u.fingerprint), 'the id is remembered for a later visit');
  // Only the window's worth is in flight, and each chunk is a Blob slice.
  assert.equal(ws.chunks().length, 2);
  assert.ok(ws.chunks().every((c) => c instanceof Blob && c.size === MAX_CHUNK));
  ws.receive({ type: 'progress', received: MAX_CHUNK, offset: MAX_CHUNK });
  assert.equal(ws.chunks().length, 3);
  ws.receive({ type: 'progress', received: 3 * MAX_CHUNK, offset: 2 * MAX_CHUNK });
  assert.equal(ws.chunks().length, 4);
  assert.equal(ws.chunks()[3].size, 5);
  assert.equal(ws.frames('end').length, 1);
  assert.equal(u.state, 'finishing');
  const back = new Uint8Array(await new Blob(ws.chunks()).arrayBuffer());
  assert.equal(back.length, size);
  assert.equal(back[MAX_CHUNK + 7], (MAX_CHUNK + 7) & 255);
  ws.receive({ type: 'complete', id: ID, size, sha256: 'x' });
  assert.equal(u.state, 'done');
  assert.equal(store.get(u.fingerprint), null, 'a finished upload is forgotten');
});

test('a dropped connection reconnects and resumes from the server offset', async () => {
  const size = 2 * MAX_CHUNK;
  const { u } = makeUpload(file(size));
  u.begin();
  let ws = last();
  ws.open();
  ws.receive({ type: 'ready', id: ID, offset: 0, max_frame: MAX_CHUNK });
  ws.drop();
  await settle();
  assert.equal(u.state, 'waiting');
  assert.equal(message(u), 'The connection was lost. Reconnecting…');
  await new Promise((r) => setTimeout(r, 10));
  ws = last();
  assert.equal(FakeWebSocket.all.length, 2);
  ws.open();
  assert.deepEqual(ws.frames('resume'), [{ type: 'resume', id: ID }]);
  ws.receive({ type: 'ready', id: ID, offset: MAX_CHUNK, size, max_frame: MAX_CHUNK });
  assert.equal(ws.chunks().length, 1, 'only the bytes after the durable offset are sent again');
  assert.equal(u.offset, MAX_CHUNK);
});

test('cancel never deletes an upload another tab holds (issue 11, bug 2)', async () => {
  const f = file(10);
  const store = new MemoryStore({ [fingerprint(f)]: { id: ID, name: f.name, size: 10 } });
  const { u, removed } = makeUpload(f, { store });
  assert.equal(u.id, ID);
  u.begin();
  const ws = last();
  ws.open();
  assert.deepEqual(ws.frames('resume'), [{ type: 'resume', id: ID }]);
  ws.receive({ type: 'error', code: 'locked', id: ID });
  assert.equal(u.state, 'waiting');
  assert.equal(u.holds, false);
  u.cancel();
  await settle();
  assert.equal(u.state, 'error');
  assert.equal(u.error.code, 'in_use');
  assert.deepEqual(removed, [], 'no DELETE');
  assert.ok(!ws.frames('abort').length, 'no abort');
  assert.ok(store.get(u.fingerprint), 'the other tab may still need the record');
  assert.match(message(u), /in use elsewhere/);
});

test('cancel of an upload this page holds aborts it on the server', async () => {
  const { u, removed } = makeUpload(file(10));
  u.begin();
  const ws = last();
  ws.open();
  ws.receive({ type: 'ready', id: ID, offset: 0, max_frame: MAX_CHUNK });
  assert.equal(u.holds, true);
  u.cancel();
  assert.equal(u.state, 'cancelling');
  assert.equal(ws.frames('abort').length, 1);
  ws.receive({ type: 'aborted', id: ID });
  assert.equal(u.state, 'cancelled');
  assert.deepEqual(removed, []);
});

test('a paused upload this page held is deleted over HTTP on cancel', async () => {
  const { u, removed } = makeUpload(file(10));
  u.begin();
  const ws = last();
  ws.open();
  ws.receive({ type: 'ready', id: ID, offset: 0, max_frame: MAX_CHUNK });
  u.pause();
  u.cancel();
  assert.equal(u.state, 'cancelled');
  assert.deepEqual(removed, [ID]);
});

test('the SHA-256 computed after the upload is compared with complete.sha256', async () => {
  for (const [local, server, want] of [
    ['ab'.repeat(32), 'ab'.repeat(32), 'ok'],
    ['ab'.repeat(32), 'cd'.repeat(32), 'mismatch'],
  ]) {
    let resolve;
    const hashFile = () => ({ promise: new Promise((r) => (resolve = r)), cancel() {} });
    const { u } = makeUpload(file(10), { hashFile });
    u.begin();
    assert.equal(u.verify, null, 'the hash does not compete with the upload');
    const ws = last();
    ws.open();
    ws.receive({ type: 'ready', id: ID, offset: 0, max_frame: MAX_CHUNK });
    ws.receive({ type: 'complete', id: ID, size: 10, sha256: server });
    assert.equal(u.state, 'done', 'the upload does not wait for the hash');
    assert.equal(u.verify, 'pending');
    resolve(local);
    await settle();
    assert.equal(u.verify, want);
    if (want === 'mismatch') {
      assert.equal(u.state, 'error');
      assert.equal(u.error.code, 'verify_failed');
    }
  }
});

test('small files are hashed before start and the digest is sent', async () => {
  const { u } = makeUpload(file(100), { hashLimit: 1 << 20 });
  u.begin();
  assert.equal(u.state, 'hashing');
  while (!FakeWebSocket.all.length) await settle();
  const ws = last();
  ws.open();
  const start = ws.frames('start')[0];
  assert.match(start.sha256, /^[0-9a-f]{64}$/);
  assert.equal(u.localSha, start.sha256);
});

test('a file that can no longer be read stops with unreadable', async () => {
  const f = file(10);
  const { u } = makeUpload(f);
  u.begin();
  const ws = last();
  ws.open();
  ws.receive({ type: 'ready', id: ID, offset: 0, max_frame: MAX_CHUNK });
  u.file = { slice: () => ({ arrayBuffer: () => Promise.reject(new Error('NotReadableError')) }) };
  ws.drop();
  await settle();
  await settle();
  assert.equal(u.state, 'error');
  assert.equal(u.error.code, 'unreadable');
});

test('precheck refuses what the limits exclude, and names the limit', () => {
  const limits = { maxSize: 1 << 20, allowedTypes: ['image/*', 'video/mp4'] };
  assert.equal(precheck({ size: 1 << 20, type: 'image/png' }, limits), '');
  assert.equal(precheck({ size: (1 << 20) + 1, type: 'image/png' }, limits), 'too_large');
  assert.equal(precheck({ size: 1, type: 'text/html' }, limits), 'forbidden_type');
  assert.equal(precheck({ size: 1, type: '' }, limits), '', 'the server judges unknown types by content');
  assert.equal(precheck({ size: 1e12, type: 'text/html' }, null), '');
  assert.ok(typeAllowed('Video/MP4', limits.allowedTypes));
  assert.ok(!typeAllowed('video/webm', limits.allowedTypes));
  assert.equal(describeLimits(limits), 'Files up to 1 MiB, of these types: image/*, video/mp4.');
  assert.equal(describeLimits({ maxSize: 0, allowedTypes: [] }), '');
  const u = { state: 'error', error: { code: 'too_large' }, size: 3 << 20 };
  assert.equal(message(u, limits), 'This file (3 MiB) is larger than the 1 MiB limit of this server.');
  assert.equal(message(u), 'This file is larger than the server accepts.');
});

test('an upload deleted while it was sent no longer shows its bytes saved', () => {
  const { u } = makeUpload(file(3 * MAX_CHUNK));
  u.begin();
  const ws = last();
  ws.open();
  ws.receive({ type: 'ready', id: ID, offset: 0, max_frame: MAX_CHUNK });
  ws.receive({ type: 'progress', received: MAX_CHUNK, offset: MAX_CHUNK });
  assert.equal(u.offset, MAX_CHUNK);
  ws.receive({ type: 'error', code: 'not_found', id: ID });
  assert.equal(u.state, 'error');
  assert.equal(u.offset, 0);
  assert.equal(u.id, null);
});

test('a copy starts a new upload and keeps the first one\'s record', async () => {
  const f = file(10);
  const first = { id: ID, name: 'a.bin', size: 10, lastModified: f.lastModified };
  const store = new MemoryStore({ [fingerprint(f)]: first });
  const { u } = makeUpload(f, { store, copy: true });
  assert.equal(u.id, null);
  assert.equal(u.resumedFromEarlierVisit, false);
  assert.equal(u.fingerprint, fingerprint(f));
  assert.notEqual(u.storeKey, fingerprint(f));
  u.begin();
  const ws = last();
  ws.open();
  assert.equal(ws.frames('start').length, 1, 'a copy asks for a new upload');
  assert.equal(ws.frames('resume').length, 0);
  const other = '01a2351a-8533-7413-96d3-3fc118a1b374';
  ws.receive({ type: 'ready', id: other, offset: 0, max_frame: MAX_CHUNK });
  assert.deepEqual(store.get(fingerprint(f)), first, 'the first upload is still remembered');
  assert.equal(store.get(u.storeKey).id, other);
});
