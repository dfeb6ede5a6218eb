package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Broker is the broker's static configuration. Fields hold effective values:
// defaults, then the properties file, then overrides, with Kafka's
// precedence rules between competing keys already applied (for example
// LogRetentionMs comes from log.retention.ms, else .minutes, else .hours).
//
// Durations keep Kafka's units and -1 conventions (milliseconds as int64, -1 =
// unlimited or unset) so values round-trip through DescribeConfigs unchanged.
// Build one with Defaults or Load; a zero Broker is not valid.
type Broker struct {
	// Node and cluster.
	NodeID                 int32
	ProcessRoles           []string
	ControllerQuorumVoters []Voter
	// ControllerQuorumBootstrapServers is accepted only in the one-node
	// form; see the key's note.
	ControllerQuorumBootstrapServers []string
	ControllerListenerNames          []string
	// ListenerSecurityProtocolMap maps upper-case listener names to
	// security protocols.
	ListenerSecurityProtocolMap map[string]string
	Listeners                   []Listener
	// AdvertisedListeners defaults to Listeners without the controller
	// listeners, as in Kafka.
	AdvertisedListeners     []Listener
	InterBrokerListenerName string
	ClusterID               string
	BrokerRack              string
	AdminListeners          []string
	AdminPprofEnable        bool
	LogLevel                string
	LogFormat               string
	NumNetworkThreads       int32
	NumIOThreads            int32

	// Storage and topic defaults.
	LogDirs                            []string
	MetadataLogDir                     string
	NumPartitions                      int32
	DefaultReplicationFactor           int16
	AutoCreateTopicsEnable             bool
	DeleteTopicEnable                  bool
	LogSegmentBytes                    int32
	LogRollMs                          int64
	LogRollJitterMs                    int64
	LogRetentionMs                     int64 // -1 = unlimited
	LogRetentionBytes                  int64 // -1 = unlimited
	LogRetentionCheckIntervalMs        int64
	LogSegmentDeleteDelayMs            int64
	LogFlushIntervalMessages           int64
	LogFlushIntervalMs                 int64 // -1 = unset: LogFlushSchedulerIntervalMs applies
	LogFlushSchedulerIntervalMs        int64
	LogFlushOffsetCheckpointIntervalMs int32
	LogIndexIntervalBytes              int32
	LogIndexSizeMaxBytes               int32
	LogPreallocate                     bool
	LogCleanupPolicy                   []string
	LogCleanerEnable                   bool
	LogCleanerThreads                  int32
	LogCleanerBackoffMs                int64
	LogCleanerDeleteRetentionMs        int64
	LogCleanerMinCompactionLagMs       int64
	LogCleanerMaxCompactionLagMs       int64
	LogCleanerMinCleanableRatio        float64
	LogCleanerDedupeBufferSize         int64
	LogMessageTimestampType            string
	LogMessageTimestampBeforeMaxMs     int64
	LogMessageTimestampAfterMaxMs      int64
	LogMessageTimestampDifferenceMaxMs int64
	LogMessageDownconversionEnable     bool
	MessageMaxBytes                    int32
	CompressionType                    string
	CompressionGzipLevel               int32
	CompressionLz4Level                int32
	CompressionZstdLevel               int32
	MinInsyncReplicas                  int32
	UncleanLeaderElectionEnable        bool

	// Network and fetch.
	SocketRequestMaxBytes                int32
	MaxConnections                       int32
	MaxConnectionsPerIP                  int32
	ConnectionsMaxIdleMs                 int64
	ConnectionsMaxReauthMs               int64
	QueuedMaxRequests                    int32
	QuotaWindowNum                       int32
	QuotaWindowSizeSeconds               int32
	FetchMaxBytes                        int32
	MaxIncrementalFetchSessionCacheSlots int32

	// Replication and controller.
	ReplicaLagTimeMaxMs                 int64
	ReplicaFetchMaxBytes                int32
	ReplicaFetchResponseMaxBytes        int32
	ReplicaFetchWaitMaxMs               int32
	ReplicaFetchMinBytes                int32
	AutoLeaderRebalanceEnable           bool
	LeaderImbalanceCheckIntervalSeconds int64
	BrokerHeartbeatIntervalMs           int32
	BrokerSessionTimeoutMs              int32
	ControllerQuorumElectionTimeoutMs   int32

	// replication-offset-checkpoint period (docs/cluster.md).
	ReplicaHighWatermarkCheckpointIntervalMs int64

	// Group coordinator.
	OffsetsTopicNumPartitions          int32
	OffsetsTopicReplicationFactor      int16
	OffsetsTopicSegmentBytes           int32
	OffsetsRetentionMinutes            int32
	OffsetsRetentionCheckIntervalMs    int64
	OffsetMetadataMaxBytes             int32
	OffsetsCommitTimeoutMs             int32
	GroupInitialRebalanceDelayMs       int32
	GroupMinSessionTimeoutMs           int32
	GroupMaxSessionTimeoutMs           int32
	GroupMaxSize                       int32
	GroupCoordinatorRebalanceProtocols []string
	GroupConsumerSessionTimeoutMs      int32
	GroupConsumerHeartbeatIntervalMs   int32
	GroupConsumerAssignors             []string
	GroupConsumerMigrationPolicy       string

	// Transactions and producer ids.
	TransactionStateLogNumPartitions                       int32
	TransactionStateLogReplicationFactor                   int16
	TransactionStateLogMinISR                              int32
	TransactionStateLogSegmentBytes                        int32
	TransactionalIDExpirationMs                            int32
	TransactionMaxTimeoutMs                                int32
	TransactionAbortTimedOutTransactionCleanupIntervalMs   int32
	TransactionRemoveExpiredTransactionalIDCleanupInterval int32
	ProducerIDExpirationMs                                 int32
	ProducerIDExpirationCheckIntervalMs                    int32

	// Security.
	SSLKeystoreType           string
	SSLKeystoreLocation       string
	SSLKeyPassword            string
	SSLTruststoreType         string
	SSLTruststoreLocation     string
	SSLClientAuth             string
	SASLEnabledMechanisms     []string
	SASLMechanismInterBroker  string
	SuperUsers                []string
	AuthorizerClassName       string
	AllowEveryoneIfNoACLFound bool
	SASLJAASConfig            string
	// ListenerOverrides holds the listener.name.<name>.<key> settings, by
	// full key with the listener name lower-cased (see ListenerValue).
	ListenerOverrides map[string]string

	// raw holds the keys set by the file or overrides, as given (trimmed).
	raw map[string]string
	// where says where each raw key was set, for messages.
	where map[string]string
}

// Defaults returns the configuration used when nothing is set: a single node
// that is both broker and controller, listening on 127.0.0.1:9092 and
// storing data under ./quill-data.
func Defaults() *Broker {
	b := &Broker{raw: map[string]string{}, where: map[string]string{}}
	for i := range brokerKeys {
		k := &brokerKeys[i]
		if k.bind == nil || k.Default == "" {
			continue
		}
		if err := assign(k.bind(b), k.Default); err != nil {
			panic(fmt.Sprintf("config: bad default for %s: %v", k.Name, err))
		}
	}
	if err := b.finish(); err != nil {
		panic(fmt.Sprintf("config: defaults do not resolve: %v", err))
	}
	return b
}

// Load reads the properties file at path (none if path is ""), then applies
// overrides, each "key=value", in order, and validates the result. Unknown
// keys and keys that Quill ignores come back as warnings; a value a key
// does not accept is an error naming the key, the value and what is allowed.
func Load(path string, overrides []string) (*Broker, []Warning, error) {
	b := Defaults()
	var warns []Warning
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, fmt.Errorf("config: %w", err)
		}
		props, err := ParseProperties(data)
		if err != nil {
			return nil, nil, fmt.Errorf("config: %s: %w", path, err)
		}
		name := filepath.Base(path)
		for _, p := range props {
			w, err := b.set(p.Key, p.Value, name+":"+strconv.Itoa(p.Line))
			if err != nil {
				return nil, nil, err
			}
			warns = append(warns, w...)
		}
	}
	for _, o := range overrides {
		k, v, ok := strings.Cut(o, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, nil, fmt.Errorf("config: override %q is not key=value", o)
		}
		w, err := b.set(strings.TrimSpace(k), strings.TrimSpace(v), "override")
		if err != nil {
			return nil, nil, err
		}
		warns = append(warns, w...)
	}
	if err := b.finish(); err != nil {
		return nil, nil, err
	}
	if err := b.Validate(); err != nil {
		return nil, nil, err
	}
	return b, warns, nil
}

// set checks and records one key. It does not resolve derived fields; call
// finish afterwards.
func (b *Broker) set(key, value, where string) ([]Warning, error) {
	if strings.HasPrefix(key, listenerPrefix) {
		return b.setListenerOverride(key, value, where)
	}
	k, ok := brokerKeyIndex[key]
	if !ok {
		msg := "unknown broker config; ignored"
		if _, isTopic := topicDefIndex[key]; isTopic {
			msg = "is a topic config, not a broker config; ignored"
		}
		return []Warning{{Key: key, Where: where, Message: msg}}, nil
	}
	if err := k.check(value); err != nil {
		return nil, &ValueError{Key: key, Value: value, Where: where, Reason: err.Error()}
	}
	if k.bind != nil {
		if err := assign(k.bind(b), value); err != nil {
			return nil, &ValueError{Key: key, Value: value, Where: where, Reason: err.Error()}
		}
	}
	b.raw[key] = value
	b.where[key] = where
	if k.Ignored {
		return []Warning{{Key: key, Where: where, Message: "accepted but ignored by Quill: " + k.Note}}, nil
	}
	return nil, nil
}

// assign parses v into the field p points to. The value has passed its key's
// check, so errors here mean the table binds a key to a field of the wrong
// type.
func assign(p any, v string) error {
	switch f := p.(type) {
	case *int16:
		n, err := strconv.ParseInt(v, 10, 16)
		*f = int16(n)
		return err
	case *int32:
		n, err := strconv.ParseInt(v, 10, 32)
		*f = int32(n)
		return err
	case *int64:
		n, err := strconv.ParseInt(v, 10, 64)
		*f = n
		return err
	case *float64:
		n, err := strconv.ParseFloat(v, 64)
		*f = n
		return err
	case *bool:
		bv, ok := parseBool(v)
		if !ok {
			return fmt.Errorf("must be true or false")
		}
		*f = bv
	case *string:
		*f = v
	case *[]string:
		*f = parseList(v)
	default:
		return fmt.Errorf("config: internal error: cannot assign to %T", p)
	}
	return nil
}

// value returns the key's value as set, else its default ("" if neither).
func (b *Broker) value(key string) string {
	if v, ok := b.raw[key]; ok {
		return v
	}
	if k, ok := brokerKeyIndex[key]; ok {
		return k.Default
	}
	return ""
}

// firstSet returns the first of keys that is set, else the last one's
// default. It implements Kafka's precedence between competing keys, such as
// log.retention.ms over .minutes over .hours.
func (b *Broker) firstSet(keys ...string) (key, value string) {
	for _, k := range keys {
		if v, ok := b.raw[k]; ok {
			return k, v
		}
	}
	last := keys[len(keys)-1]
	return last, b.value(last)
}

// msFrom converts the value of a ms/minutes/hours key to milliseconds.
func msFrom(key, value string) int64 {
	n, _ := strconv.ParseInt(value, 10, 64) // checked on set
	switch {
	case strings.HasSuffix(key, ".hours"):
		return n * 3600_000
	case strings.HasSuffix(key, ".minutes"):
		return n * 60_000
	}
	return n
}

// finish computes the fields that depend on more than one key.
func (b *Broker) finish() error {
	bad := func(key, reason string) error {
		return &ValueError{Key: key, Value: b.value(key), Where: b.where[key], Reason: reason}
	}

	if _, ok := b.raw["log.dirs"]; ok {
		b.LogDirs = parseList(b.raw["log.dirs"])
	} else {
		b.LogDirs = parseList(b.value("log.dir"))
	}
	if len(b.LogDirs) == 0 {
		return bad("log.dirs", "at least one directory is required")
	}
	b.MetadataLogDir = b.value("metadata.log.dir")
	if b.MetadataLogDir == "" {
		b.MetadataLogDir = b.LogDirs[0]
	}

	b.LogRetentionMs = msFrom(b.firstSet("log.retention.ms", "log.retention.minutes", "log.retention.hours"))
	if b.LogRetentionMs < 0 {
		b.LogRetentionMs = -1 // any negative value means unlimited, as in Kafka
	}
	b.LogRollMs = msFrom(b.firstSet("log.roll.ms", "log.roll.hours"))
	b.LogRollJitterMs = msFrom(b.firstSet("log.roll.jitter.ms", "log.roll.jitter.hours"))
	b.LogFlushIntervalMs = -1
	if v, ok := b.raw["log.flush.interval.ms"]; ok {
		b.LogFlushIntervalMs, _ = strconv.ParseInt(v, 10, 64)
	}

	var err error
	if b.ListenerSecurityProtocolMap, err = ParseProtocolMap(b.value("listener.security.protocol.map")); err != nil {
		return bad("listener.security.protocol.map", err.Error())
	}
	if b.Listeners, err = ParseListeners(b.value("listeners"), b.ListenerSecurityProtocolMap); err != nil {
		return bad("listeners", err.Error())
	}
	if v, ok := b.raw["advertised.listeners"]; ok {
		if b.AdvertisedListeners, err = ParseListeners(v, b.ListenerSecurityProtocolMap); err != nil {
			return bad("advertised.listeners", err.Error())
		}
	} else {
		b.AdvertisedListeners = nil
		for _, l := range b.Listeners {
			if !b.isControllerListener(l.Name) {
				b.AdvertisedListeners = append(b.AdvertisedListeners, l)
			}
		}
	}
	for i, n := range b.ControllerListenerNames {
		b.ControllerListenerNames[i] = strings.ToUpper(n)
	}
	if b.ControllerQuorumVoters, err = ParseVoters(b.value("controller.quorum.voters")); err != nil {
		return bad("controller.quorum.voters", err.Error())
	}
	b.InterBrokerListenerName = strings.ToUpper(b.value("inter.broker.listener.name"))
	if b.IsSet("security.inter.broker.protocol") {
		// Kafka: the listener named after the protocol; the two keys
		// are exclusive.
		if b.InterBrokerListenerName != "" {
			return bad("security.inter.broker.protocol", "only one of inter.broker.listener.name and security.inter.broker.protocol may be set")
		}
		b.InterBrokerListenerName = strings.ToUpper(b.value("security.inter.broker.protocol"))
	}
	if b.InterBrokerListenerName == "" {
		b.InterBrokerListenerName = b.defaultInterBrokerListener()
	}
	b.SuperUsers = nil
	for _, u := range strings.Split(b.value("super.users"), ";") {
		if u = strings.TrimSpace(u); u != "" {
			b.SuperUsers = append(b.SuperUsers, u)
		}
	}
	return nil
}

// defaultInterBrokerListener is PLAINTEXT when there is such a listener (as
// in Kafka, where security.inter.broker.protocol defaults to PLAINTEXT), else
// the first listener that is not a controller listener (Kafka would refuse
// to start instead).
func (b *Broker) defaultInterBrokerListener() string {
	first := ""
	for _, l := range b.Listeners {
		if l.Name == ProtocolPlaintext {
			return l.Name
		}
		if first == "" && !b.isControllerListener(l.Name) {
			first = l.Name
		}
	}
	return first
}

// InterBrokerListener returns the listener brokers use to reach each
// other (inter.broker.listener.name, or the one security.inter.broker.protocol
// names), with its security protocol.
func (b *Broker) InterBrokerListener() (Listener, bool) {
	for _, l := range b.Listeners {
		if l.Name == b.InterBrokerListenerName {
			return l, true
		}
	}
	return Listener{}, false
}

// ListenerIsController reports whether a listener is one of
// controller.listener.names.
func (b *Broker) ListenerIsController(name string) bool { return b.isControllerListener(name) }

func (b *Broker) isControllerListener(name string) bool {
	for _, n := range b.ControllerListenerNames {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// HasRole reports whether process.roles includes role ("broker" or
// "controller").
func (b *Broker) HasRole(role string) bool { return slices.Contains(b.ProcessRoles, role) }

// Validate checks the rules that span several keys. Load calls it; call it
// again after changing fields by hand. Single values were checked on set.
func (b *Broker) Validate() error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("config: "+format, args...))
	}
	if len(b.ProcessRoles) == 0 {
		fail("process.roles: at least one of broker, controller is required")
	}
	if b.NodeID < 0 {
		fail("node.id: must be at least 0 (got %d)", b.NodeID)
	}
	if len(b.LogDirs) == 0 {
		fail("log.dirs: at least one directory is required")
	}
	names := map[string]bool{}
	ports := map[int]string{}
	for _, l := range b.Listeners {
		names[l.Name] = true
		if other, dup := ports[l.Port]; dup && l.Port != 0 {
			fail("listeners: %s and %s use the same port %d", other, l.Name, l.Port)
		}
		ports[l.Port] = l.Name
	}
	if b.HasRole("broker") {
		if len(b.AdvertisedListeners) == 0 {
			fail("listeners: a broker needs at least one listener that is not a controller listener")
		}
		if !names[b.InterBrokerListenerName] {
			fail("inter.broker.listener.name: %q is not one of the listeners", b.InterBrokerListenerName)
		}
	} else {
		for _, l := range b.Listeners {
			if !b.isControllerListener(l.Name) {
				fail("listeners: %s is not a controller listener, but process.roles=controller only", l.Name)
			}
		}
	}
	for _, l := range b.AdvertisedListeners {
		if !names[l.Name] {
			fail("advertised.listeners: %s is not one of the listeners", l.Name)
		}
		if l.Host == "0.0.0.0" || l.Host == "::" {
			fail("advertised.listeners: %s advertises the meta-address %s; give an address clients can reach", l.Name, l.Host)
		}
	}
	if b.HasRole("controller") && len(b.ControllerQuorumVoters) > 0 {
		found, hasListener := false, false
		for _, v := range b.ControllerQuorumVoters {
			found = found || v.ID == b.NodeID
		}
		for _, l := range b.Listeners {
			hasListener = hasListener || b.isControllerListener(l.Name)
		}
		if !found {
			fail("controller.quorum.voters: node.id %d must be one of the voters when process.roles includes controller", b.NodeID)
		}
		if !hasListener {
			fail("controller.listener.names: none of %v appears in listeners", b.ControllerListenerNames)
		}
	}
	if len(b.ControllerQuorumBootstrapServers) > 0 && len(b.ControllerQuorumVoters) == 0 &&
		!(b.HasRole("controller") && len(b.ControllerQuorumBootstrapServers) == 1) {
		fail("controller.quorum.bootstrap.servers: Quill has no dynamic quorum (KIP-853); list the controllers in controller.quorum.voters")
	}
	if b.HasRole("broker") && !b.HasRole("controller") && len(b.ControllerQuorumVoters) == 0 {
		fail("controller.quorum.voters: required when process.roles=broker only")
	}
	if b.GroupMinSessionTimeoutMs > b.GroupMaxSessionTimeoutMs {
		fail("group.min.session.timeout.ms (%d) must not exceed group.max.session.timeout.ms (%d)",
			b.GroupMinSessionTimeoutMs, b.GroupMaxSessionTimeoutMs)
	}
	if b.LogCleanerMinCompactionLagMs > b.LogCleanerMaxCompactionLagMs {
		fail("log.cleaner.min.compaction.lag.ms (%d) must not exceed log.cleaner.max.compaction.lag.ms (%d)",
			b.LogCleanerMinCompactionLagMs, b.LogCleanerMaxCompactionLagMs)
	}
	if int64(b.TransactionStateLogMinISR) > int64(b.TransactionStateLogReplicationFactor) {
		fail("transaction.state.log.min.isr (%d) must not exceed transaction.state.log.replication.factor (%d)",
			b.TransactionStateLogMinISR, b.TransactionStateLogReplicationFactor)
	}
	return errors.Join(errs...)
}

// Get returns a broker key's value as set in the file or overrides, else its
// default ("" when it has none). ok is false for unknown keys.
func (b *Broker) Get(key string) (value string, ok bool) {
	if _, known := brokerKeyIndex[key]; !known {
		return "", false
	}
	return b.value(key), true
}

// IsSet reports whether key was set in the file or overrides.
func (b *Broker) IsSet(key string) bool {
	_, ok := b.raw[key]
	return ok
}

// Raw returns a copy of the known keys that were set in the file or
// overrides, with their values as given.
func (b *Broker) Raw() map[string]string {
	m := make(map[string]string, len(b.raw))
	for k, v := range b.raw {
		m[k] = v
	}
	return m
}
