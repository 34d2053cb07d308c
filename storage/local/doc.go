// Package local is ferry's default storage backend: one local directory.
//
// # Layout
//
// Every upload, complete or not, is two files in one of 256 shards, named
// by the id's last two hex digits (random in both UUID versions), so that
// no directory holds more than a 256th of the uploads:
//
//	files/<ss>/<id>.data  the bytes, appended in place and never moved;
//	                      also the flock(2) target that makes one Writer
//	                      the only one
//	files/<ss>/<id>.json  the record: declared metadata, created/modified
//	                      times, the durable offset with the caller's
//	                      checkpoint state, and, once complete, the digest
//	files/<ss>/<id>.tmp   the next record while it is written, renamed
//	                      over <id>.json (only a crash leaves one behind)
//
// Two more directories let List and DeleteExpired read only what they
// need, however many files there are:
//
//	uploads/<id>          an empty marker for each upload that may be
//	                      incomplete: the expiry sweep reads these and
//	                      their records, never the completed files
//	index/<k>/.../<k>-<id> the list index: an empty file per completed
//	                      file, named by its completion time so that the
//	                      names sort newest first (index.go)
//
// and tmp/ holds Ping's probe files (and, from earlier versions, temporary
// records, which the expiry sweep removes). Ids
// reach the file system only after storage.ValidID accepted them, so a
// name can never leave the directory.
//
// The records are the single source of truth; markers and index entries
// only point at them, and whoever follows one reads the record (a marker
// whose upload is complete, an index entry whose file is gone or not
// complete at that time, count for nothing). New builds the index again
// from the records when index/.complete is missing: after the index was
// deleted, or a build was cut short. That reads every record once; so does
// the migration of a directory of the flat layout of earlier versions
// (every upload's files directly under Dir), which New moves into the
// shards by itself, refusing while a process of an older version still
// holds one of its lock files. On a directory in this layout, New reads
// only the top directory and files/.
//
// # Durability
//
// The record is only ever replaced whole: written to files/<ss>/<id>.tmp,
// fsynced, renamed over files/<ss>/<id>.json, and the shard's directory
// fsynced. The temporary record sits in the shard, not in a shared
// directory, and is written only under the upload's lock, so its name is
// fixed; a rename within one directory does not take the file system's
// rename lock that renames between directories all share. Checkpoint fdatasyncs the data file together with the new
// record's fsync, and renames the record only once both are done, so after
// a crash (kill -9 or power loss) the record names an offset whose bytes
// are on disk and the state that goes with exactly that offset. Resume
// cuts the data file back to that offset, dropping bytes that have no
// matching state.
//
// Commit renames a record marked complete over the old one. That rename is
// the publication: Open serves only uploads whose record says complete, and
// by then every byte is already durable and the data file is never written
// again, so no reader sees a half-written file. Bytes written since the last
// Checkpoint need no Checkpoint of their own (storage.CommitSyncer): Commit
// fdatasyncs them together with its record's fsync, before the rename, so
// a Commit cut short leaves the last Checkpoint's record in place. Its index entry is created
// and its directory fsynced (together with the record's fsync) before that
// rename, so a complete record always has its entry; the marker goes after.
//
// Create makes the data file first, then the marker, and the record last,
// the marker durable before the record; a Create that fails at any step
// removes what it made, the record too if its rename went through before
// the failure: until the record exists the upload does not, and no record
// is ever left without its data file.
//
// Directory fsyncs go through a group commit: Creates, Checkpoints,
// Commits and Deletes that sync the same directory while a sync of it runs
// share the next one, and the directories are kept open. Each caller still
// returns only after a sync that started after its call.
//
// # Locking and deletion
//
// A Writer holds an exclusive flock on its open data file, the one
// descriptor it needs: each upload being written costs the server its
// client's socket and one file. flock belongs to the open file, so it
// excludes other processes sharing the directory and other Writers in this
// process alike (a reader's own open of the file neither takes nor drops
// it), and the kernel drops it when the process dies: a crashed server never
// leaves an upload locked. Whoever takes the lock checks afterwards that the
// path still names the file it locked: Delete, Abort, DeleteExpired and a
// failed Create unlink data files, and a lock on an unlinked file guards
// nothing, so the taker opens the path again (and finds the upload gone).
//
// Versions before the sharded layout kept every file directly under Dir
// and, before that, locked a separate <id>.lock file. Processes of those
// versions do not see this layout, so all processes sharing one directory
// must run this version: New refuses a directory while an older process
// holds one of its lock files.
//
// Delete does not take the lock (it must work while someone writes). It
// marks a Writer of this process at once, so its next Write fails, and it
// removes the data file before the record. A Writer in another process
// notices at its next Checkpoint or Commit: the record is gone, or, if
// Delete raced with the rename, the data file it holds is unlinked, and the
// Writer removes the record it just wrote. Either way a deleted upload stays
// deleted.
//
// # Deferred size and takeover
//
// An upload created with storage.SizeUnknown keeps -1 as its record's size
// until a Checkpoint after Writer.SetSize renames a record with the size,
// the offset and the state together.
//
// TakeOver asks a holder through the Backend's table of live Writers: a
// Writer that called Yield is asked by closing its Yield channel, and
// TakeOver waits for it to let go (its release wakes TakeOver at once), and
// otherwise tries the flock every 50 ms until its context ends. A Writer in
// another process sharing the directory cannot be asked: TakeOver then
// answers storage.ErrLocked at once, as for a Writer that never yielded.
//
// # Writes
//
// Write issues pwrite(2)s of at most 32 KiB, which stay fast on VMs where
// large writes are slow, and allocates nothing. A Write stores all of its
// bytes or none.
//
// # Free space
//
// Uploads leave Config.Reserve bytes free on the data directory's file
// system (by default 1% of its size, at most 1 GiB), so that one upload
// cannot fill the disk for everyone. Create and SetSize compare the bytes
// still to come with the free space less the reserve, by statfs(2):
// storage.ErrNoSpace if they do not fit now, storage.ErrTooLarge if the
// size is more than the whole file system less the reserve. Declared sizes
// are not set aside: uploads compete for the space as they write. Write
// checks every Write against the free space without a statfs each time: it
// runs fstatfs(2) on its data file at most every 250 ms and counts the bytes
// written in between. A Write that would go below the reserve runs a fresh
// one before it fails with storage.ErrNoSpace, so space freed meanwhile
// counts; one the file system refuses (ENOSPC, EDQUOT) fails so too. Bytes
// written by other processes between two statfs calls are not seen; the
// reserve absorbs them.
//
// A Write that fails with storage.ErrNoSpace fails its Writer and cuts the
// data file back to the durable offset at once, and Close does the same for
// bytes that no Checkpoint covers: the tail an interrupted upload would
// otherwise leave until a Resume that may never come goes back to the file
// system, and the next upload fits.
//
// # Platforms
//
// The package builds on Linux, macOS, Windows, FreeBSD and DragonFly; the
// system calls live in build-tagged files (lock_*, sync_*, space_*, file_*).
// Everything above describes Linux. Elsewhere:
//
//   - macOS and the BSDs lock with flock(2) too. A Checkpoint syncs the data
//     file with f.Sync instead of fdatasync(2): fcntl(F_FULLFSYNC) on macOS,
//     which also empties the drive's write cache (fsync(2) there does not),
//     fsync(2) on the BSDs. There is no write-behind (no sync_file_range).
//   - Windows locks with LockFileEx on one byte past any data (its locks are
//     mandatory: one over the data would stop readers of an upload in
//     progress). Like flock it belongs to the open file and dies with the
//     process, but Windows may take a moment to drop it after a close, so a
//     Resume right after a Close can still answer storage.ErrLocked. Data
//     files and records are opened with FILE_SHARE_DELETE, so that they can
//     be removed and replaced while open, as on Unix. A Checkpoint syncs with
//     FlushFileBuffers; directories are not synced (Windows cannot, and NTFS
//     journals renames and removals). Free space is GetDiskFreeSpaceEx of
//     the data directory. A full disk or quota is ERROR_DISK_FULL,
//     ERROR_HANDLE_DISK_FULL or ERROR_DISK_QUOTA_EXCEEDED. No write-behind.
//
// Only Linux runs the tests here; `make vet` type-checks the package, its
// tests included, for macOS and Windows.
package local
