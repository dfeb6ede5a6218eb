package group

import (
	"context"
	"testing"
	"time"
)

// FuzzDecodeRecord: replayed __consumer_offsets bytes come from disk; a
// corrupt record must give an error, never a panic, and replaying whatever
// decodes must not panic either.
func FuzzDecodeRecord(f *testing.F) {
	g := &group{id: "g", protocolType: "consumer", protocol: "range", generation: 3, leader: "m",
		members:   map[string]*member{"m": {id: "m", instanceID: strp("i"), sessionTimeout: 10 * time.Second, assignment: []byte{1}}},
		stateTime: time.UnixMilli(5)}
	g.members["m"].protocols = cloneProtocols(joinReq(9, "g", "", nil).Protocols)
	seeds := []Record{
		offsetRecord("g", "t", 1, offsetEntry{offset: 5, leaderEpoch: 2, metadata: "x", commitTime: time.UnixMilli(9)}),
		offsetTombstone("g", "t", 1),
		groupMetadataRecord(g),
		groupTombstone("g"),
		{Key: []byte{0, 3, 0, 1, 'g'}, Value: []byte{0, 0}},
	}
	for version, v := range cgSampleValues() {
		k := cgKey{version: version, group: "g"}
		if cgKeyHasMember(version) {
			k.member = "m"
		}
		seeds = append(seeds, Record{Key: k.encode(), Value: encodeCGValue(v)})
	}
	for _, s := range seeds {
		f.Add(s.Key, s.Value, s.Value == nil)
	}
	f.Fuzz(func(t *testing.T, key, value []byte, tombstone bool) {
		r := Record{Key: key, Value: value}
		if tombstone {
			r.Value = nil
		} else if r.Value == nil {
			r.Value = []byte{}
		}
		_, _ = decodeRecord(r)
		st := NewMemStore()
		_ = st.Append(context.Background(), 0, []Record{r})
		cfg := testConfig()
		cfg.NumPartitions = 1
		c := newCoordinator(cfg, st, nil, newFakeClock())
		_ = c.Load(0)
		c.Close()
	})
}
