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
//	                      checkpoint state, and, once complete, the digest,
//	                      as JSON in one of two checksummed slots written
//	                      in place (record.go; the name is from when the
//	                      file was one JSON object, which is still read)
//	files/<ss>/<id>.tmp   a whole new record file while it is written,
//	                      renamed over <id>.json: only for a record of an
//	                      earlier version or one that outgrew its slots
//	                      (only a crash leaves one behind)
//
// Two more directories let List and DeleteExpired read only what they
// need, however many files there are:
//
//	uploads/<id>          an empty marker for each upload that may be
//	                      incomplete: the expiry sweep reads these and
//	                      their records, never the completed files
//	index/<k0>/<k1>/<k2>/entries.log
//	                      the list index: one line per completed file,
//	                      named by its completion time so that the names
//	                      sort newest first, in one log per 268 ms of
//	                      completions (index.go); earlier versions made
//	                      an empty file <k>-<id> per entry there instead,
//	                      which List still reads
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
// A record file holds two slots, each a header (magic, sequence number,
// length, CRC-32C) and the record's JSON; the valid slot with the higher
// sequence number is the record. A Checkpoint or Commit writes the new
// record into the other slot, in place, and fdatasyncs the file: a write
// torn by a crash fails its checksum and the slot it did not touch still
// holds the last durable record, so no temporary file, rename or directory
// sync is needed. What the new record counts on is made durable first:
// Checkpoint fdatasyncs the data file before it writes the slot, so after
// a crash (kill -9 or power loss) the record names an offset whose bytes
// are on disk and the state that goes with exactly that offset, and a
// reader never sees an offset whose bytes are not durable (it may see the
// new record a moment before its own sync returns). Resume cuts the data
// file back to that offset, dropping bytes that have no matching state. A
// write or sync of a slot that fails clears the slot again, so the last
// durable record stays the one read. The Writer opens the record file for
// each write: a live Writer holds one descriptor.
//
// Commit writes a record marked complete. That slot is the publication:
// Open serves only uploads whose record says complete, and by then every
// byte is already durable and the data file is never written again, so no
// reader sees a half-written file. Bytes written since the last
// Checkpoint need no Checkpoint of their own (storage.CommitSyncer):
// Commit fdatasyncs them, together with the append of its index entry and
// that log's sync, before it writes the slot, so a Commit cut short leaves
// the last Checkpoint's record in place, and a complete record always has
// its entry. The marker goes after.
//
// Index logs are appended to, each entry as its own line between two
// newlines: a line torn by a crash does not parse and is skipped, and the
// next entry starts on a line of its own. Appenders hold the log's flock
// shared (O_APPEND keeps their lines whole); a Delete rewrites the log
// without its entry (a new file fsynced, renamed over the log, the
// directory synced) holding it exclusive, and appenders check under their
// lock that the log they opened is still the one the path names, so no
// entry is lost to a rewrite, in this process or another.
//
// Create makes the data file first, then the marker, and the record file
// last, the marker durable before the record's first slot is written; the
// slot is fdatasynced together with the shard directory's sync, which makes
// the names of the record and the data file durable. A record file without
// a valid slot (a Create that a crash cut short) counts as no record. A
// Create that fails at any step removes what it made, the record file too:
// until the record exists the upload does not, and no record is ever left
// without its data file.
//
// Directory fsyncs go through a group commit: Creates, index appends and
// Deletes that sync the same directory while a sync of it runs share the
// next one, and the directories are kept open. Each caller still
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
// notices at its next Checkpoint or Commit: the record file is gone, or the
// data file it holds is unlinked (before or after its slot write, which
// then went into a file Delete removes), and the Writer removes the record
// if it is still in place. Either way a deleted upload stays deleted.
//
// # Deferred size and takeover
//
// An upload created with storage.SizeUnknown keeps -1 as its record's size
// until a Checkpoint after Writer.SetSize writes a record with the size,
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
