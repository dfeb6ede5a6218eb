// Package log is the partition log: segments of record batches with sparse
// offset and time indexes, in Kafka's on-disk layout so that Kafka's tools
// (kafka-dump-log, kafka-log-dirs) and habits carry over.
//
// # Files
//
// A data dir holds one directory per partition plus three files:
//
//	<data dir>/
//	  .lock                                flock held while a process uses the dir
//	  .kafka_cleanshutdown                 marker: written last by a clean
//	                                       shutdown, removed at startup
//	  recovery-point-offset-checkpoint     0 / N / "topic partition offset"
//	  log-start-offset-checkpoint          0 / N / "topic partition offset"
//	  <topic>-<partition>/
//	    00000000000000000000.log           batches, base offset in the name
//	    00000000000000000000.index
//	    00000000000000000000.timeindex
//	    00000000000000012345.log           next segment: base offset 12345
//	    ...
//	    leader-epoch-checkpoint            0 / N / "epoch startOffset"
//	    partition.metadata                 "version: 0" / "topic_id: <id>"
//	  <topic>-<partition>.<hex>-delete/    being deleted (removed at startup)
//
// Checkpoint files are text: a version line (0), a count line, then one
// entry per line; they are replaced atomically (write .tmp, fsync, rename,
// fsync the directory). partition.metadata's topic ID is the 16-byte UUID in
// unpadded base64url, as Kafka's Uuid.toString writes it.
//
// # Segment files
//
// A .log file is record batches (magic v2) back to back, exactly as
// produced, with baseOffset and partitionLeaderEpoch stamped by the broker:
//
//	+--------------------+--------------------+-----+
//	| batch @ base       | batch @ base+n     | ... |
//	| 61-byte header     |                    |     |
//	| records            |                    |     |
//	+--------------------+--------------------+-----+
//	 offset 0 of the file is the segment's first batch; the file name is
//	 the base offset of the segment (every batch's base offset is >= it and
//	 its last offset - base fits an int32)
//
// An .index file is a sparse list of 8-byte entries, big-endian:
//
//	0 relativeOffset int32   last offset of a batch - segment base
//	4 position       int32   byte position of that batch in the .log
//
// As in Kafka, an entry maps a batch's LAST offset to the batch's start;
// one is added for the first batch after more than index.interval.bytes
// since the previous entry. Entries increase in both fields. A lookup for
// offset o takes the entry with the largest offset <= o and scans batch
// headers forward from its position.
//
// A .timeindex file is a sparse list of 12-byte entries, big-endian:
//
//	0 timestamp      int64   largest batch max timestamp so far
//	8 relativeOffset int32   last offset of the batch that carried it
//
// An entry is added with each offset index entry when the largest timestamp
// grew, and once more when a segment stops being active, so the last entry
// is the segment's largest timestamp.
//
// # Durability and crash safety
//
// An append is one pwrite of the batch to the active segment; index entries
// are kept in memory and written on flush, roll and close. Data reaches the
// disk on fsync: when flush.messages messages are unflushed, when flush.ms
// passed (the Manager's flusher), after a roll (the old segments, in the
// background), and on Close. The recovery point is the offset below which
// data and indexes were fsynced. Opening without the clean-shutdown marker
// re-checks every batch from the segment holding the recovery point on and
// cuts the log at the first bad one; see Open.
//
// # Locking
//
// See the Log type: one appender and many readers; readers never hold a lock
// during I/O.
package log
