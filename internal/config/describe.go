package config

// Source is where a config value comes from, numbered as Kafka's
// DescribeConfigs ConfigSource (KIP-226).
type Source int8

const (
	SourceUnknown              Source = 0
	SourceTopic                Source = 1 // DYNAMIC_TOPIC_CONFIG: a topic override
	SourceDynamicBroker        Source = 2 // DYNAMIC_BROKER_CONFIG
	SourceDynamicDefaultBroker Source = 3 // DYNAMIC_DEFAULT_BROKER_CONFIG
	SourceStaticBroker         Source = 4 // STATIC_BROKER_CONFIG: the properties file or an override
	SourceDefault              Source = 5 // DEFAULT_CONFIG
	SourceDynamicBrokerLogger  Source = 6 // DYNAMIC_BROKER_LOGGER_CONFIG
)

func (s Source) String() string {
	switch s {
	case SourceTopic:
		return "DYNAMIC_TOPIC_CONFIG"
	case SourceDynamicBroker:
		return "DYNAMIC_BROKER_CONFIG"
	case SourceDynamicDefaultBroker:
		return "DYNAMIC_DEFAULT_BROKER_CONFIG"
	case SourceStaticBroker:
		return "STATIC_BROKER_CONFIG"
	case SourceDefault:
		return "DEFAULT_CONFIG"
	case SourceDynamicBrokerLogger:
		return "DYNAMIC_BROKER_LOGGER_CONFIG"
	}
	return "UNKNOWN"
}

// Synonym is one place a config's value could come from, as listed by
// DescribeConfigs with IncludeSynonyms.
type Synonym struct {
	Name, Value string
	Source      Source
}

// Entry is one config of a DescribeConfigs answer.
type Entry struct {
	Name string
	// Value is empty for keys without a value and for sensitive keys; the
	// server sends both as null.
	Value     string
	Source    Source
	Sensitive bool
	ReadOnly  bool
	// Synonyms are in Kafka's order: the most specific source first, so
	// the first synonym is the one whose value is in effect.
	Synonyms []Synonym
	Doc      string
	// Type is a Type* name; TypeCode converts it for DescribeConfigs v3+.
	Type string
}

// brokerSynonyms lists, for each key of group, where it is set: the
// properties file (STATIC_BROKER) if set, then its default (DEFAULT) if it
// has one. Sensitive values are blanked.
func brokerSynonyms(b *Broker, group []string) []Synonym {
	var out []Synonym
	for _, name := range group {
		k, ok := brokerKeyIndex[name]
		if !ok {
			continue
		}
		if v, set := b.raw[name]; set {
			out = append(out, Synonym{Name: name, Value: hide(k, v), Source: SourceStaticBroker})
		}
		if k.Default != "" {
			out = append(out, Synonym{Name: name, Value: hide(k, k.Default), Source: SourceDefault})
		}
	}
	return out
}

func hide(k *brokerKey, v string) string {
	if k.Sensitive {
		return ""
	}
	return v
}

func sourceOf(syns []Synonym) Source {
	if len(syns) == 0 {
		return SourceDefault
	}
	return syns[0].Source
}

// DescribeTopic returns every topic config of a topic with the given
// overrides on broker (nil means Defaults()): the override if there is one
// (source DYNAMIC_TOPIC_CONFIG), else the value from the broker's synonyms
// (STATIC_BROKER_CONFIG if one is set in the file, else DEFAULT_CONFIG).
// Overrides with unknown keys are skipped; validate them on the way in.
func DescribeTopic(broker *Broker, overrides map[string]string) []Entry {
	if broker == nil {
		broker = Defaults()
	}
	defaults := broker.TopicDefaults()
	out := make([]Entry, 0, len(topicKeys))
	for i := range topicKeys {
		k := &topicKeys[i]
		e := Entry{Name: k.Name, Value: defaults[k.Name], Sensitive: k.Sensitive, ReadOnly: k.ReadOnly, Doc: k.Doc, Type: k.Type}
		if v, ok := overrides[k.Name]; ok {
			e.Value = v
			e.Synonyms = append(e.Synonyms, Synonym{Name: k.Name, Value: v, Source: SourceTopic})
		}
		e.Synonyms = append(e.Synonyms, brokerSynonyms(broker, k.BrokerSynonyms)...)
		e.Source = sourceOf(e.Synonyms)
		out = append(out, e)
	}
	return out
}

// DescribeBroker returns every broker config of b. A key's value is its own
// (as set, else its default, else empty), as Kafka does: log.retention.ms
// has no value when only log.retention.hours is set. Keys that compete for
// one setting (log.retention.ms/.minutes/.hours, log.roll.*, log.dirs and
// log.dir, log.flush.interval.ms and log.flush.scheduler.interval.ms) list
// the whole group as synonyms, highest precedence first, and take their
// source from the first. All broker keys are read-only for now.
func DescribeBroker(b *Broker) []Entry {
	out := make([]Entry, 0, len(brokerKeys))
	for i := range brokerKeys {
		k := &brokerKeys[i]
		group := k.BrokerSynonyms
		if len(group) == 0 {
			group = []string{k.Name}
		}
		e := Entry{
			Name:      k.Name,
			Value:     hide(k, b.value(k.Name)),
			Sensitive: k.Sensitive,
			ReadOnly:  k.ReadOnly,
			Synonyms:  brokerSynonyms(b, group),
			Doc:       k.Doc,
			Type:      k.Type,
		}
		e.Source = sourceOf(e.Synonyms)
		out = append(out, e)
	}
	return out
}
