package log

// HighWatermarkCheckpoint is Kafka's per-log-dir file of high watermarks
// (replication-offset-checkpoint), written by the replica manager in the
// offset checkpoint format.
const HighWatermarkCheckpoint = "replication-offset-checkpoint"

// ReadOffsetCheckpoint reads a "topic partition offset" checkpoint file (a
// missing file is empty).
func ReadOffsetCheckpoint(path string) (map[TopicPartition]int64, error) {
	return readOffsetCheckpoint(path)
}

// WriteOffsetCheckpoint replaces a "topic partition offset" checkpoint
// file atomically.
func WriteOffsetCheckpoint(path string, m map[TopicPartition]int64) error {
	return writeOffsetCheckpoint(path, m)
}
