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

  // totals sums up the uploads: count is every file not cancelled, stopped
  // ones included, so that "3 of 5 files done" tells of the failures; the
  // bytes and speed are those of the uploads done or under way, as a stopped
  // one will not finish by itself.
  totals() {
    let size = 0;
    let offset = 0;
    let speed = 0;
    let done = 0;
    let count = 0;
    let stopped = 0;
    for (const u of this.uploads) {
      if (u.state === 'cancelled') continue;
      count++;
      if (u.state === 'error') {
        stopped++;
        continue;
      }
      size += u.size;
      offset += u.offset;
      speed += u.speed;
      if (u.state === 'done') done++;
    }
    return { size, offset, speed, done, count, stopped };
  }
}
