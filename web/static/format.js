// format.js: numbers and times in words a person reads at a glance.

const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

// formatBytes writes a size in binary units (1 MiB = 2^20 bytes), the units
// the server's flags and messages use, so that "larger than the 1 MiB
// limit" and a file's size compare at a glance.
export function formatBytes(n) {
  if (!Number.isFinite(n) || n < 0) return '–';
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  const digits = i === 0 || n >= 100 ? 0 : n >= 10 ? 1 : 2;
  const text = n.toFixed(digits);
  // 1 MiB, not 1.00 MiB: a limit set as --max-size 1MiB reads as given.
  return `${digits ? text.replace(/\.?0+$/, '') : text} ${units[i]}`;
}

export function formatSpeed(bytesPerSecond) {
  return `${formatBytes(bytesPerSecond)}/s`;
}

// formatDuration writes a number of seconds as "8 s", "3 min 5 s" or "2 h 4 min".
export function formatDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '–';
  const s = Math.ceil(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) {
    const m = Math.floor(s / 60);
    const rest = s % 60;
    return rest ? `${m} min ${rest} s` : `${m} min`;
  }
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return m ? `${h} h ${m} min` : `${h} h`;
}

// formatTime writes a timestamp in the reader's locale.
export function formatTime(value) {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

// percent is the whole percentage of done in total, rounded down so that 100%
// means finished.
export function percent(done, total) {
  if (total <= 0) return 0; // an empty file: the caller knows when it is done
  return Math.min(100, Math.floor((done * 100) / total));
}
