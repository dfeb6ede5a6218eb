package server

// Fetch sessions (KIP-227). A session remembers the partitions a client
// fetches and what it was last told about each, so that incremental
// fetches list only changed partitions and responses only partitions with
// news. The cache is broker-wide and bounded; the least recently used
// session is evicted when it is full.

import (
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

type sessKey struct {
	topic     string
	partition int32
}

// sessPart is one partition of a session and what the client last got.
type sessPart struct {
	topic       string
	topicID     [16]byte
	partition   int32
	fetchOffset int64
	maxBytes    int32
	leaderEpoch int32 // CurrentLeaderEpoch from the client, -1 to skip

	sent              bool
	hw, lso, logStart int64
	lastErr           int16
}

type fetchSession struct {
	id    int32
	epoch int32 // the epoch the next incremental request must carry

	mu       sync.Mutex // held while a request uses the session
	parts    []*sessPart
	idx      map[sessKey]*sessPart
	lastUsed time.Time
}

func (fs *fetchSession) upsert(p sessPart) {
	k := sessKey{p.topic, p.partition}
	if cur := fs.idx[k]; cur != nil {
		cur.fetchOffset, cur.maxBytes, cur.leaderEpoch = p.fetchOffset, p.maxBytes, p.leaderEpoch
		cur.topicID = p.topicID
		return
	}
	np := p
	fs.idx[k] = &np
	fs.parts = append(fs.parts, &np)
}

func (fs *fetchSession) forget(topic string, partition int32) {
	k := sessKey{topic, partition}
	if fs.idx[k] == nil {
		return
	}
	delete(fs.idx, k)
	for i, p := range fs.parts {
		if p.topic == topic && p.partition == partition {
			fs.parts = append(fs.parts[:i], fs.parts[i+1:]...)
			break
		}
	}
}

type fetchSessions struct {
	max int

	mu   sync.Mutex
	next int32                   // guarded by mu
	m    map[int32]*fetchSession // guarded by mu
}

func newFetchSessions(max int) *fetchSessions {
	return &fetchSessions{max: max, next: 1, m: map[int32]*fetchSession{}}
}

// create makes a new session, evicting the least recently used one if the
// cache is full.
func (c *fetchSessions) create() *fetchSession {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		var oldest *fetchSession
		for _, s := range c.m {
			if oldest == nil || s.lastUsed.Before(oldest.lastUsed) {
				oldest = s
			}
		}
		delete(c.m, oldest.id)
	}
	for c.m[c.next] != nil || c.next <= 0 {
		c.next++
		if c.next <= 0 {
			c.next = 1
		}
	}
	s := &fetchSession{id: c.next, epoch: 0, idx: map[sessKey]*sessPart{}, lastUsed: time.Now()}
	c.m[s.id] = s
	c.next++
	return s
}

func (c *fetchSessions) remove(id int32) {
	c.mu.Lock()
	delete(c.m, id)
	c.mu.Unlock()
}

// get returns a session for an incremental fetch with the given epoch.
func (c *fetchSessions) get(id, epoch int32) (*fetchSession, error) {
	c.mu.Lock()
	s := c.m[id]
	c.mu.Unlock()
	if s == nil {
		return nil, kerr.FetchSessionIDNotFound
	}
	s.mu.Lock()
	if s.epoch != epoch {
		s.mu.Unlock()
		return nil, kerr.InvalidFetchSessionEpoch
	}
	return s, nil // locked
}

// advance moves the session to its next epoch. REQUIRES: s.mu held.
func (s *fetchSession) advance() {
	s.epoch++
	if s.epoch <= 0 {
		s.epoch = 1
	}
	s.lastUsed = time.Now()
}
