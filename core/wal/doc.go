// Package wal is the node's write-ahead log: an append-only sequence of
// checksummed records in segment files, made durable with one fdatasync
// per Append. core/node puts it in front of its bbolt store (corral.db):
// a batch of writes is acknowledged once its record is synced here, and
// the store applies the records to bbolt later, in batches (a
// checkpoint), after which the segments that only hold applied records
// are released. It is not a protocol package: it does I/O.
//
// # On disk
//
// The log is a directory of segment files named by the sequence number
// (LSN) of their first record, "%016x.wal". A segment starts with a
// 16-byte header: the magic "CORRALWL", the format version (uint32,
// big-endian; Version) and 4 reserved zero bytes. Then records, each:
//
//	length uint32  (of data)
//	crc    uint32  (CRC-32C of length, lsn and data)
//	lsn    uint64  (one more than the previous record's, across segments)
//	data   [length]byte
//
// A segment is preallocated (fallocate) so that a sync of an append
// need not write the file's size; the unused part is zeros, and a
// length of zero ends the segment's records. A new segment is started
// when the current one is full. A segment is created under a temporary
// name ("%016x.wal.tmp"), its header written, preallocated and synced,
// then renamed and the directory synced (as etcd does): a segment under
// its name has its header on disk. Open removes a leftover temporary
// segment, and rewrites the header of a last segment that is all zeros
// or shorter than its header (a creation a crash interrupted).
//
// # The contract
//
//   - Append writes one record and returns after fdatasync: the record
//     survives a crash. One Append is one sync, whatever the record holds
//     (the caller batches: one record per round of its event loop).
//   - A crash during an Append may leave the last record torn: short
//     (the file ends inside it), or with a 512-byte sector of it still
//     zeros (the preallocated space it was being written into). Open
//     repairs that: such a bad record at the end of the last segment,
//     with no valid record of its LSN or above anywhere after it, is cut
//     off (it was never acknowledged, its Append had not returned), and
//     Open logs it. A last record written whole (no zero sector) that
//     fails its checksum was damaged after its sync; it may hold what no
//     peer can give back (this node's own membership promise), so Open
//     refuses it (ErrCorrupt) like damage anywhere else. This is etcd's
//     rule (its WAL decoder's isTornEntry), with one more check: a record
//     whose checksum holds once one bit of its length is set back was
//     written whole too (a flipped length would make it look short, or
//     reach into the zeros after it).
//   - A bad record with valid records after it, a bad record in a segment
//     that is not the last, a gap in the sequence numbers or a segment of
//     an unknown version is not a torn write: Open refuses
//     (ErrCorrupt, ErrVersion) with the file and offset, and never cuts
//     acknowledged records.
//   - Release(lsn) deletes the segments whose records all have LSN <= lsn
//     (the caller has those applied and synced elsewhere) and syncs the
//     directory; the current segment is never deleted, so the next LSN is
//     always known. Open(dir, after) does the same for after first: a
//     deleted segment that a crash brought back (its deletion not yet
//     synced) holds only applied records, and is not a gap.
//
// Append and Release may be called from different goroutines.
package wal
