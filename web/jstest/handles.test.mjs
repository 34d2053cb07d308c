import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HandleStore, changes, reopen, reopenMessage, pickFiles, pickerOptions, handleFor, noteHandle } from '../static/handles.js';
import { UploadStore } from '../static/store.js';

// MapBackend keeps a HandleStore's records in memory (Node has no
// IndexedDB; the browser tests use the real one).
class MapBackend {
  constructor(entries = []) {
    this.map = new Map(entries);
  }
  async put(key, value) {
    this.map.set(key, value);
  }
  async delete(key) {
    this.map.delete(key);
  }
  async entries() {
    return [...this.map.entries()];
  }
}

const MODIFIED = 1767225600000;
const file = (size = 4, name = 'a.bin', lastModified = MODIFIED) => new File([new Uint8Array(size)], name, { lastModified });

// fakeHandle plays a FileSystemFileHandle: its permission answers and the
// file it opens.
function fakeHandle({ query = 'granted', request = 'granted', get = () => file(), queryThrows = false } = {}) {
  const calls = [];
  return {
    kind: 'file',
    name: 'a.bin',
    calls,
    async queryPermission(d) {
      calls.push(['query', d.mode]);
      if (queryThrows) throw new Error('no');
      return query;
    },
    async requestPermission(d) {
      calls.push(['request', d.mode]);
      return request;
    },
    async getFile() {
      calls.push(['getFile']);
      return get();
    },
  };
}

const record = (handle, f = file()) => ({ handle, name: f.name, size: f.size, lastModified: f.lastModified });

test('remembers a handle with what its file was, and forgets it', async () => {
  const backend = new MapBackend();
  const hs = new HandleStore(backend);
  const h = fakeHandle();
  await hs.remember('fp1', h, file(7, 'x.bin'));
  assert.deepEqual(backend.map.get('fp1'), { handle: h, name: 'x.bin', size: 7, lastModified: MODIFIED });
  assert.equal(hs.get('fp1').handle, h);
  await hs.forget('fp1');
  assert.equal(backend.map.size, 0);
  assert.equal(hs.get('fp1'), null);
});

test('a forget asked after a remember wins, even when the handle comes later', async () => {
  const backend = new MapBackend();
  const hs = new HandleStore(backend);
  let give;
  const late = new Promise((r) => {
    give = r;
  });
  const remembered = hs.remember('fp', late, file());
  const forgotten = hs.forget('fp'); // the upload completed before the drop's handle came
  give(fakeHandle());
  await Promise.all([remembered, forgotten]);
  assert.equal(backend.map.size, 0);
  assert.equal(hs.get('fp'), null);
});

test('keeps no handle that is missing, a folder, or failed', async () => {
  const backend = new MapBackend();
  const hs = new HandleStore(backend);
  await hs.remember('none', null, file());
  await hs.remember('nothing', Promise.resolve(null), file());
  await hs.remember('dir', { kind: 'directory', name: 'd' }, file());
  await hs.remember('failed', Promise.reject(new Error('gone')), file());
  assert.equal(backend.map.size, 0);
  await hs.remember('ok', fakeHandle(), file()); // the chain survives the failure
  assert.equal(backend.map.size, 1);
});

test('without IndexedDB nothing is kept and nothing fails', async () => {
  const hs = new HandleStore(null);
  await hs.remember('fp', fakeHandle(), file());
  await hs.load(() => true);
  assert.equal(hs.get('fp'), null);
  await hs.forget('fp');
});

test('load keeps the handles of known uploads and drops the others', async () => {
  const h = fakeHandle();
  const backend = new MapBackend([
    ['known', record(h)],
    ['never-started', record(fakeHandle())],
    ['broken', null],
  ]);
  const hs = new HandleStore(backend);
  await hs.load((key) => key !== 'never-started');
  assert.deepEqual([...backend.map.keys()], ['known']);
  assert.equal(hs.get('known').handle, h);
  assert.equal(hs.get('never-started'), null);
});

test('a record the store forgets takes its handle with it', async () => {
  const forgotten = [];
  const store = new UploadStore({ onDelete: (fp) => forgotten.push(fp) });
  store.delete('fp1');
  assert.deepEqual(forgotten, ['fp1']);
});

test('changes tells a different file from the same one', () => {
  const rec = record(null, file(10, 'v.mp4'));
  assert.deepEqual(changes(file(10, 'v.mp4'), rec), []);
  assert.deepEqual(changes(file(11, 'v.mp4'), rec), ['size']);
  assert.deepEqual(changes(file(10, 'v.mp4', MODIFIED + 1), rec), ['modified']);
  assert.deepEqual(changes(file(10, 'w.mp4'), rec), ['name']);
});

test('reopen asks for read permission and checks the file', async (t) => {
  const cases = [
    { name: 'permission kept', handle: { query: 'granted' }, want: 'file', calls: ['query', 'getFile'] },
    { name: 'permission asked and given', handle: { query: 'prompt', request: 'granted' }, want: 'file', calls: ['query', 'request', 'getFile'] },
    { name: 'permission refused', handle: { query: 'prompt', request: 'denied' }, want: 'denied', calls: ['query', 'request'] },
    { name: 'prompt dismissed', handle: { query: 'prompt', request: 'prompt' }, want: 'denied', calls: ['query', 'request'] },
    { name: 'permission query fails', handle: { queryThrows: true }, want: 'denied', calls: ['query'] },
    {
      name: 'file moved or deleted',
      handle: {
        get: () => {
          throw Object.assign(new Error('gone'), { name: 'NotFoundError' });
        },
      },
      want: 'missing',
      calls: ['query', 'getFile'],
    },
    {
      name: 'read refused',
      handle: {
        get: () => {
          throw Object.assign(new Error('no'), { name: 'NotAllowedError' });
        },
      },
      want: 'denied',
      calls: ['query', 'getFile'],
    },
    { name: 'file grew', handle: { get: () => file(5) }, want: 'changed', calls: ['query', 'getFile'] },
    { name: 'file rewritten', handle: { get: () => file(4, 'a.bin', MODIFIED + 1000) }, want: 'changed', calls: ['query', 'getFile'] },
  ];
  for (const c of cases) {
    await t.test(c.name, async () => {
      const h = fakeHandle(c.handle);
      const r = await reopen(record(h));
      if (c.want === 'file') {
        assert.equal(r.error, undefined);
        assert.equal(r.file.size, 4);
      } else {
        assert.equal(r.error, c.want);
        assert.equal(r.file, undefined);
      }
      assert.deepEqual(h.calls.map((x) => x[0]), c.calls);
      for (const x of h.calls) if (x[0] !== 'getFile') assert.equal(x[1], 'read');
    });
  }
});

test('reopen without File System Access says so', async () => {
  assert.deepEqual(await reopen(null), { error: 'unsupported' });
  assert.deepEqual(await reopen({ handle: {}, name: 'a', size: 1, lastModified: 0 }), { error: 'unsupported' });
});

test('every reason to fall back names the file and the way out', () => {
  for (const e of ['denied', 'missing', 'changed', 'unsupported', 'unreadable']) {
    const m = reopenMessage('big.iso', e);
    assert.match(m, /big\.iso/);
    assert.match(m, /Choose or drop/);
  }
});

test('pickFiles uses the File System Access picker and notes each handle', async () => {
  const handles = [fakeHandle({ get: () => file(3, 'one.txt') }), fakeHandle({ get: () => file(5, 'two.txt') })];
  let opts;
  const win = {
    showOpenFilePicker: async (o) => {
      opts = o;
      return handles;
    },
  };
  const files = await pickFiles(win, { maxSize: 0, allowedTypes: ['image/*'] });
  assert.deepEqual(files.map((f) => f.name), ['one.txt', 'two.txt']);
  assert.equal(opts.multiple, true);
  assert.deepEqual(opts.types[0].accept, { 'image/*': [] });
  assert.equal(await handleFor(files[0]), handles[0]);
  assert.equal(await handleFor(files[1]), handles[1]);
});

test('pickFiles falls back to the input where the picker is missing or refuses', async () => {
  assert.equal(await pickFiles({}, null), null);
  const refusing = (name) => ({
    showOpenFilePicker: async () => {
      throw Object.assign(new Error(name), { name });
    },
  });
  assert.equal(await pickFiles(refusing('SecurityError'), null), null);
  assert.equal(await pickFiles(refusing('TypeError'), null), null);
  assert.deepEqual(await pickFiles(refusing('AbortError'), null), []); // closed by the person: nothing to do
});

test('files without a handle have none', () => {
  const f = file();
  assert.equal(handleFor(f), null);
  noteHandle(f, null);
  assert.equal(handleFor(f), null);
  assert.deepEqual(pickerOptions(null), { multiple: true });
});
