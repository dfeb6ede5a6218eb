// Package config owns Quill's broker and topic configuration: the keys, with
// Kafka's names, defaults, types, validation and documentation strings; where
// each value came from (its source); and the broker keys that back each topic
// key (its synonyms), so DescribeConfigs can answer as Kafka does.
//
// The broker configuration is one typed struct, [Broker], loaded from a
// Java-properties file plus command-line overrides by [Load]. Topic
// configuration is a table of [Def]s ([TopicDefs]); [ResolveTopic] turns a
// topic's overrides into a typed [Topic] on top of the broker's defaults, and
// [DescribeTopic] / [DescribeBroker] produce DescribeConfigs entries.
//
// Where Quill's default differs from Kafka's, the key's documentation says so
// (docs/configuration.md is generated from the same tables; see
// TestDocsUpToDate). Keys that Quill accepts for compatibility but does not act
// on are marked Ignored and produce a load warning when set.
//
// The package imports nothing internal. Broker keys are static for now: there
// are no dynamic broker configs yet, so every broker entry is read-only.
package config
