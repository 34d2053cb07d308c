// queue.js: runs a few uploads at a time, in the order they were added.

export class Queue extends EventTarget {
  constructor(parallel) {
    super();
    this.parallel = parallel;
    this.uploads = [];
    this.scheduled = false;
  }

  add(upload) {
    this.uploads.push(upload);
    upload.addEventListener('change', () => {
      this.schedule();
      this.dispatchEvent(new CustomEvent('change', { detail: upload }));
    });
    this.schedule();
  }

  remove(upload) {
    const i = this.uploads.indexOf(upload);
    if (i >= 0) this.uploads.splice(i, 1);
    this.schedule();
  }

  setParallel(n) {
    this.parallel = n;
    this.schedule();
  }

  // schedule starts queued uploads while fewer than `parallel` are active.
  // It runs after the current event, so that a burst of changes (a drop of
  // many files) is handled once.
  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      let active = this.uploads.filter((u) => u.active).length;
      for (const u of this.uploads) {
        if (active >= this.parallel) break;
        if (u.state === 'queued') {
          active++;
          u.begin();
        }
      }
      this.dispatchEvent(new CustomEvent('totals'));
    });
  }

  // totals sums up the uploads that are done or under way; those stopped on
  // an error are only counted, as they will not finish by themselves.
  totals() {
    let size = 0;
    let offset = 0;
    let speed = 0;
    let done = 0;
    let count = 0;
    let stopped = 0;
    for (const u of this.uploads) {
      if (u.state === 'cancelled') continue;
      if (u.state === 'error') {
        stopped++;
        continue;
      }
      count++;
      size += u.size;
      offset += u.offset;
      speed += u.speed;
      if (u.state === 'done') done++;
    }
    return { size, offset, speed, done, count, stopped };
  }
}
