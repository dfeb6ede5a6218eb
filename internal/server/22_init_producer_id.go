package server

// InitProducerID, versions 0-5, for idempotent producers (a null
// transactional id). Producer ids come in blocks reserved through the
// metadata log, so an id is never handed out twice, even across restarts.
// Transactional ids are served by the transaction coordinator
// (internal/txn, 24_add_partitions_to_txn.go).

import (
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/controller"
)

const pidBlock = 1000

type pidAllocator struct {
	ctrl *controller.Controller

	mu        sync.Mutex
	next, end int64 // guarded by mu: ids in [next, end) are reserved for us
}

func (a *pidAllocator) allocate() (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.next >= a.end {
		start, err := a.ctrl.AllocateProducerIDs(pidBlock)
		if err != nil {
			return -1, err
		}
		a.next, a.end = start, start+pidBlock
	}
	id := a.next
	a.next++
	return id, nil
}

func (s *Server) handleInitProducerID(r *request, req *kmsg.InitProducerIDRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		if *req.TransactionalID == "" {
			resp.ErrorCode = kerr.InvalidRequest.Code
			return resp, nil
		}
		if s.txn == nil {
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
			return resp, nil
		}
		return s.txn.Handle(s.ctx, req)
	}
	// KIP-360: an idempotent producer re-initializing with its id and
	// epoch gets the epoch bumped; we hand out a fresh id instead, which
	// clients accept the same way.
	id, err := s.pids.allocate()
	if err != nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp, nil
}
