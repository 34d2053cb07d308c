// verify.js: the SHA-256 of a File, computed in a Worker (hasher.js) while
// the file uploads, to compare with the server's `complete.sha256`.

// hashInWorker starts hashing file and returns {promise, cancel}: promise
// resolves to the lowercase hex SHA-256 (or rejects when the file cannot be
// read or Workers are unavailable); progress(done) reports bytes hashed.
export function hashInWorker(file, progress = () => {}) {
  let worker;
  let cancel = () => {};
  const promise = new Promise((resolve, reject) => {
    try {
      worker = new Worker(new URL('./hasher.js', import.meta.url), { type: 'module' });
    } catch (e) {
      reject(e);
      return;
    }
    cancel = () => {
      worker.terminate();
      reject(new Error('cancelled'));
    };
    worker.onmessage = (ev) => {
      const m = ev.data || {};
      if (typeof m.done === 'number') progress(m.done);
      else if (typeof m.sha256 === 'string') {
        worker.terminate();
        resolve(m.sha256);
      } else if (m.error) {
        worker.terminate();
        reject(new Error(m.error));
      }
    };
    worker.onerror = (ev) => {
      worker.terminate();
      reject(new Error(ev.message || 'the hashing worker failed'));
    };
    worker.postMessage({ file });
  });
  return { promise, cancel: () => cancel() };
}
