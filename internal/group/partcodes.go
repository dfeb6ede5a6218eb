package group

import "github.com/twmb/franz-go/pkg/kerr"

// partitionCodes holds one error code per requested partition of an
// OffsetCommit or TxnOffsetCommit: codes[i][j] answers partition j of
// topic i. Both handlers validate and answer through it.
type partitionCodes [][]int16

// newPartitionCodes sizes the codes after a request: n topics, topic i
// with parts(i) partitions; every code starts as NONE.
func newPartitionCodes(n int, parts func(i int) int) partitionCodes {
	codes := make(partitionCodes, n)
	for i := range codes {
		codes[i] = make([]int16, parts(i))
	}
	return codes
}

// setAll gives code to every partition that has no error yet.
func (c partitionCodes) setAll(code int16) {
	for i := range c {
		for j := range c[i] {
			if c[i][j] == 0 {
				c[i][j] = code
			}
		}
	}
}

// commitMetadata validates one partition's commit metadata against
// offset.metadata.max.bytes: it returns the metadata (empty for null) and
// OFFSET_METADATA_TOO_LARGE if it is too long.
func commitMetadata(md *string, maxBytes int) (string, int16) {
	if md == nil {
		return "", 0
	}
	if len(*md) > maxBytes {
		return "", kerr.OffsetMetadataTooLarge.Code
	}
	return *md, 0
}
