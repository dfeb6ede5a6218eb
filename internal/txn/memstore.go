package txn

import "github.com/quillstream/quill/internal/group"

// MemStore is an in-memory Store for tests: the group coordinator's, a
// list of records per partition, never compacted.
type MemStore = group.MemStore

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return group.NewMemStore() }
