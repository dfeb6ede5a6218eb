package metadata

import "encoding/json"

// Config resource types, with Kafka's numbers.
const (
	ResourceTopic  int8 = 2
	ResourceBroker int8 = 4
)

// Record is one change to the metadata image. Exactly one field is set. It
// is stored in the metadata log as JSON, one record per Kafka record value:
// readable with any Kafka tool, and forward-compatible by field name.
type Record struct {
	Cluster     *ClusterRecord     `json:"cluster,omitempty"`
	Topic       *TopicRecord       `json:"topic,omitempty"`
	Partition   *PartitionRecord   `json:"partition,omitempty"`
	RemoveTopic *RemoveTopicRecord `json:"removeTopic,omitempty"`
	Config      *ConfigRecord      `json:"config,omitempty"`
	Broker      *BrokerRecord      `json:"broker,omitempty"`
	ProducerIDs *ProducerIDsRecord `json:"producerIds,omitempty"`
	ACL         *ACLRecord         `json:"acl,omitempty"`
	RemoveACL   *RemoveACLRecord   `json:"removeAcl,omitempty"`
	Scram       *ScramRecord       `json:"scram,omitempty"`
	RemoveScram *RemoveScramRecord `json:"removeScram,omitempty"`
	ClientQuota *ClientQuotaRecord `json:"clientQuota,omitempty"`
}

// ProducerIDsRecord hands out the producer ids below NextProducerID; ids
// are never reused, even across restarts.
type ProducerIDsRecord struct {
	NextProducerID int64 `json:"nextProducerId"`
}

// ClusterRecord fixes the cluster id; it is the first record of a new log.
type ClusterRecord struct {
	ClusterID string `json:"clusterId"`
}

// TopicRecord creates a topic; its partitions follow as PartitionRecords.
type TopicRecord struct {
	Name     string `json:"name"`
	ID       UUID   `json:"id"`
	Internal bool   `json:"internal,omitempty"`
}

// PartitionRecord creates a partition or replaces its state.
type PartitionRecord struct {
	TopicID        UUID    `json:"topicId"`
	Partition      int32   `json:"partition"`
	Replicas       []int32 `json:"replicas"`
	ISR            []int32 `json:"isr"`
	Leader         int32   `json:"leader"`
	LeaderEpoch    int32   `json:"leaderEpoch"`
	PartitionEpoch int32   `json:"partitionEpoch"`
	// Reassignment, when present, replaces the partition's in-flight
	// reassignment state (an empty one ends it); when absent the state
	// is kept, so records written without it (ISR and leader changes,
	// records of older versions) leave a reassignment in place.
	Reassignment *ReassignmentState `json:"reassignment,omitempty"`
}

// ReassignmentState is a partition's in-flight reassignment (KIP-455):
// the replicas being added and those being removed.
type ReassignmentState struct {
	Adding   []int32 `json:"addingReplicas,omitempty"`
	Removing []int32 `json:"removingReplicas,omitempty"`
}

// RemoveTopicRecord deletes a topic.
type RemoveTopicRecord struct {
	ID UUID `json:"id"`
}

// ConfigRecord sets (Value != nil) or removes a config override.
type ConfigRecord struct {
	ResourceType int8    `json:"resourceType"`
	ResourceName string  `json:"resourceName"`
	Name         string  `json:"name"`
	Value        *string `json:"value"`
}

// BrokerRecord registers a broker.
type BrokerRecord struct {
	ID   int32  `json:"id"`
	Host string `json:"host"`
	Port int32  `json:"port"`
	Rack string `json:"rack,omitempty"`
	// Every advertised listener; absent in records of older versions.
	Endpoints []Endpoint `json:"endpoints,omitempty"`
	// Set in cluster mode; see Broker.
	Epoch       int64  `json:"epoch,omitempty"`
	Incarnation string `json:"incarnation,omitempty"`
	Fenced      bool   `json:"fenced,omitempty"`
}

// MarshalText makes UUIDs readable in the JSON records.
func (u UUID) MarshalText() ([]byte, error) { return []byte(u.String()), nil }

// UnmarshalText parses the base64url form.
func (u *UUID) UnmarshalText(b []byte) error {
	v, err := ParseUUID(string(b))
	if err != nil {
		return err
	}
	*u = v
	return nil
}

// Encode serializes a record.
func (r Record) Encode() []byte {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err) // only plain data: cannot fail
	}
	return b
}

// DecodeRecord parses a record written by Encode.
func DecodeRecord(b []byte) (Record, error) {
	var r Record
	err := json.Unmarshal(b, &r)
	return r, err
}
