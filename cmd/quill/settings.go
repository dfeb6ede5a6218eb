package main

import (
	"fmt"
	"math"
	"slices"
	"sync/atomic"

	"github.com/quillstream/quill/internal/config"
	qlog "github.com/quillstream/quill/internal/log"
	"github.com/quillstream/quill/internal/metadata"
	"github.com/quillstream/quill/internal/record"
	"github.com/quillstream/quill/internal/replica"
	"github.com/quillstream/quill/internal/server"
)

// settingsSource joins the static broker configuration with the dynamic
// configs in the metadata image: it resolves topic settings for the
// replicas and describes and validates configs for the server.
//
// Dynamic broker configs (cluster-wide, set with AlterConfigs on the broker
// resource) supply a topic config's value when the topic does not override
// it, like Kafka's DYNAMIC_DEFAULT_BROKER_CONFIG.
type settingsSource struct {
	broker  *config.Broker
	dynamic atomic.Pointer[map[string]string] // last seen img.BrokerConfigs
}

var _ server.ConfigSource = (*settingsSource)(nil)

// effective merges dynamic broker values (through each topic key's broker
// synonyms) under the topic's own overrides.
func (s *settingsSource) effective(overrides map[string]string) map[string]string {
	dyn := s.dynamicConfigs()
	if len(dyn) == 0 {
		return overrides
	}
	out := map[string]string{}
	for _, d := range config.TopicDefs() {
		for _, syn := range d.BrokerSynonyms {
			if v, ok := dyn[syn]; ok {
				out[d.Name] = v
				break
			}
		}
	}
	for k, v := range overrides {
		out[k] = v
	}
	return out
}

func (s *settingsSource) dynamicConfigs() map[string]string {
	if p := s.dynamic.Load(); p != nil {
		return *p
	}
	return nil
}

// topicSettings is the replica.SettingsFunc.
func (s *settingsSource) topicSettings(img *metadata.Image, t *metadata.Topic) (replica.Settings, qlog.Config) {
	dyn := img.BrokerConfigs
	s.dynamic.Store(&dyn)
	tc, err := config.ResolveTopic(s.broker, s.effective(t.Configs))
	if err != nil {
		// Overrides were validated on the way in; fall back to the
		// broker's defaults rather than refuse to host the partition.
		tc, _ = config.ResolveTopic(s.broker, nil)
	}
	st := replica.Settings{
		MaxMessageBytes:      int(tc.MaxMessageBytes),
		LogAppendTime:        tc.MessageTimestampType == config.TimestampLogAppendTime,
		TimestampBeforeMaxMs: tc.MessageTimestampBeforeMaxMs,
		TimestampAfterMaxMs:  tc.MessageTimestampAfterMaxMs,
		Compact:              tc.CleanupPolicy.Compact(),
		Recompress:           codecFor(tc.CompressionType),
		MinInsyncReplicas:    int(tc.MinInsyncReplicas),
		SegmentBytes:         int(tc.SegmentBytes),
	}
	retention := tc.RetentionMs
	if !tc.CleanupPolicy.Delete() {
		retention = -1
	}
	retentionBytes := tc.RetentionBytes
	if !tc.CleanupPolicy.Delete() {
		retentionBytes = -1
	}
	lc := qlog.Config{
		SegmentBytes:       tc.SegmentBytes,
		SegmentMs:          tc.SegmentMs,
		RetentionMs:        retention,
		RetentionBytes:     retentionBytes,
		IndexIntervalBytes: int(tc.IndexIntervalBytes),
		SegmentIndexBytes:  int(tc.SegmentIndexBytes),
		FlushMessages:      tc.FlushMessages,
		FlushMs:            tc.FlushMs,
		FileDeleteDelayMs:  tc.FileDeleteDelayMs,

		Compact:                tc.CleanupPolicy.Compact(),
		MinCleanableDirtyRatio: tc.MinCleanableDirtyRatio,
		MinCompactionLagMs:     tc.MinCompactionLagMs,
		MaxCompactionLagMs:     tc.MaxCompactionLagMs,
		DeleteRetentionMs:      tc.DeleteRetentionMs,
	}
	if lc.FlushMessages == math.MaxInt64 {
		lc.FlushMessages = 0
	}
	return st, lc
}

func codecFor(compressionType string) record.Codec {
	switch compressionType {
	case "uncompressed":
		return record.CodecNone
	case "gzip":
		return record.CodecGzip
	case "snappy":
		return record.CodecSnappy
	case "lz4":
		return record.CodecLz4
	case "zstd":
		return record.CodecZstd
	}
	return -1 // producer
}

func (s *settingsSource) ValidateTopic(configs map[string]string) error {
	if err := config.ValidateTopicConfigs(configs); err != nil {
		return err
	}
	_, err := config.ResolveTopic(s.broker, s.effective(configs))
	return err
}

func (s *settingsSource) DescribeTopic(overrides map[string]string) []server.ConfigEntry {
	entries := config.DescribeTopic(s.broker, overrides)
	dyn := s.dynamicConfigs()
	out := make([]server.ConfigEntry, 0, len(entries))
	for _, e := range entries {
		ce := convertEntry(e)
		if _, overridden := overrides[e.Name]; !overridden {
			if d, ok := config.LookupTopicDef(e.Name); ok {
				for _, syn := range d.BrokerSynonyms {
					if v, ok := dyn[syn]; ok {
						v := v
						ce.Value = &v
						ce.Source = int8(config.SourceDynamicDefaultBroker)
						ce.Synonyms = append([]server.ConfigSynonym{{Name: syn, Value: &v, Source: ce.Source}}, ce.Synonyms...)
						break
					}
				}
			}
		}
		out = append(out, ce)
	}
	return out
}

func (s *settingsSource) DescribeBroker(dynamic map[string]string) []server.ConfigEntry {
	entries := config.DescribeBroker(s.broker)
	out := make([]server.ConfigEntry, 0, len(entries))
	for _, e := range entries {
		ce := convertEntry(e)
		if v, ok := dynamic[e.Name]; ok {
			v := v
			ce.Value = &v
			ce.Source = int8(config.SourceDynamicDefaultBroker)
			ce.Synonyms = append([]server.ConfigSynonym{{Name: e.Name, Value: &v, Source: ce.Source}}, ce.Synonyms...)
		}
		out = append(out, ce)
	}
	return out
}

// dynamicBrokerKeys are the broker keys that AlterConfigs may set at run
// time: those that back a topic config, applied to every topic without its
// own override.
func dynamicBrokerKeys() []string {
	var keys []string
	for _, d := range config.TopicDefs() {
		keys = append(keys, d.BrokerSynonyms...)
	}
	return keys
}

func (s *settingsSource) ValidateBroker(name, value string) error {
	if !slices.Contains(dynamicBrokerKeys(), name) {
		return fmt.Errorf("broker config %s cannot be changed at run time; the dynamic keys are those backing topic configs (e.g. log.retention.ms)", name)
	}
	if value == "" {
		return nil // a delete
	}
	for _, d := range config.TopicDefs() {
		if slices.Contains(d.BrokerSynonyms, name) {
			if err := config.ValidateTopicConfigs(map[string]string{d.Name: value}); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	return nil
}

func convertEntry(e config.Entry) server.ConfigEntry {
	ce := server.ConfigEntry{
		Name: e.Name, Source: int8(e.Source), ReadOnly: e.ReadOnly, Sensitive: e.Sensitive,
		Type: config.TypeCode(e.Type),
	}
	if e.Value != "" || !e.Sensitive {
		v := e.Value
		ce.Value = &v
	}
	if e.Doc != "" {
		d := e.Doc
		ce.Doc = &d
	}
	for _, syn := range e.Synonyms {
		v := syn.Value
		ce.Synonyms = append(ce.Synonyms, server.ConfigSynonym{Name: syn.Name, Value: &v, Source: int8(syn.Source)})
	}
	return ce
}
