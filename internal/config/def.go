package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Type names, as Kafka's ConfigDef spells them.
const (
	TypeBoolean  = "boolean"
	TypeString   = "string"
	TypeInt      = "int"
	TypeShort    = "short"
	TypeLong     = "long"
	TypeDouble   = "double"
	TypeList     = "list"
	TypeClass    = "class"
	TypePassword = "password"
)

// TypeCode returns the DescribeConfigs (v3+) ConfigType number of a type name,
// 0 (UNKNOWN) for names it does not know.
func TypeCode(typ string) int8 {
	switch typ {
	case TypeBoolean:
		return 1
	case TypeString:
		return 2
	case TypeInt:
		return 3
	case TypeShort:
		return 4
	case TypeLong:
		return 5
	case TypeDouble:
		return 6
	case TypeList:
		return 7
	case TypeClass:
		return 8
	case TypePassword:
		return 9
	}
	return 0
}

// Def defines one configuration key.
type Def struct {
	Name string
	// Type is one of the Type* names.
	Type string
	// Default is the default as Kafka would print it; "" means the key has
	// no default (DescribeConfigs reports null).
	Default string
	Doc     string
	// BrokerSynonyms, for a topic key, are the broker keys that supply its
	// value when the topic does not override it, highest precedence first
	// (retention.ms <- log.retention.ms, log.retention.minutes,
	// log.retention.hours). For a broker key it lists the keys that compete
	// for the same setting, in the same order (the key itself included).
	BrokerSynonyms []string
	// Validate checks a value (already known to parse as Type); nil accepts
	// any value of the type.
	Validate func(string) error
	// ReadOnly keys cannot be altered at run time.
	ReadOnly bool
	// Sensitive values are never shown (type password).
	Sensitive bool
	// Ignored keys are accepted for compatibility but have no effect in
	// Quill; Note says why.
	Ignored bool
	// Note is Quill-specific: how Quill's behaviour or default differs from
	// Kafka's. It is shown in docs/configuration.md.
	Note string
}

// check parses v as d.Type and then runs d.Validate. The error says what is
// allowed, without naming the key (the caller wraps it).
func (d *Def) check(v string) error {
	if err := checkType(d.Type, v); err != nil {
		return err
	}
	if d.Validate != nil {
		return d.Validate(v)
	}
	return nil
}

func checkType(typ, v string) error {
	var err error
	switch typ {
	case TypeInt:
		_, err = strconv.ParseInt(v, 10, 32)
		if err != nil {
			return fmt.Errorf("must be a 32-bit integer")
		}
	case TypeShort:
		_, err = strconv.ParseInt(v, 10, 16)
		if err != nil {
			return fmt.Errorf("must be a 16-bit integer")
		}
	case TypeLong:
		_, err = strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("must be a 64-bit integer")
		}
	case TypeDouble:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("must be a number")
		}
	case TypeBoolean:
		if _, ok := parseBool(v); !ok {
			return fmt.Errorf("must be true or false")
		}
	}
	return nil
}

// parseBool accepts what Kafka's ConfigDef accepts: true or false in any case.
func parseBool(v string) (bool, bool) {
	switch strings.ToLower(v) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// parseList splits a comma-separated list as Kafka does: items are trimmed
// and an empty string is the empty list.
func parseList(v string) []string {
	if strings.TrimSpace(v) == "" {
		return nil
	}
	parts := strings.Split(v, ",")
	out := parts[:0]
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Validators. Each assumes the value already parsed as its key's type.

func atLeast(min int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < min {
			return fmt.Errorf("must be at least %d", min)
		}
		return nil
	}
}

func between(lo, hi int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("must be between %d and %d", lo, hi)
		}
		return nil
	}
}

func ratio(v string) error {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f > 1 {
		return fmt.Errorf("must be between 0 and 1")
	}
	return nil
}

// oneOf accepts exactly one of the given strings (case-sensitive, as Kafka's
// ValidString).
func oneOf(allowed ...string) func(string) error {
	return func(v string) error {
		for _, a := range allowed {
			if v == a {
				return nil
			}
		}
		return fmt.Errorf("must be one of %s", strings.Join(allowed, ", "))
	}
}

// listOf accepts a list whose items are all among the allowed values.
// nonEmpty rejects the empty list.
func listOf(nonEmpty bool, allowed ...string) func(string) error {
	return func(v string) error {
		items := parseList(v)
		if nonEmpty && len(items) == 0 {
			return fmt.Errorf("must be a non-empty list of %s", strings.Join(allowed, ", "))
		}
	next:
		for _, it := range items {
			for _, a := range allowed {
				if it == a {
					continue next
				}
			}
			return fmt.Errorf("must be a list of %s (got %q)", strings.Join(allowed, ", "), it)
		}
		return nil
	}
}

// ValueError reports a value that a key does not accept.
type ValueError struct {
	Key, Value string
	// Where is where the value came from ("server.properties:12",
	// "override", "topic config"); may be empty.
	Where string
	// Reason says what is allowed.
	Reason string
}

func (e *ValueError) Error() string {
	where := ""
	if e.Where != "" {
		where = " (" + e.Where + ")"
	}
	return fmt.Sprintf("config: invalid value %q for %s%s: %s", e.Value, e.Key, where, e.Reason)
}

// UnknownKeyError reports a topic config key that does not exist. (Unknown
// broker keys are only warnings; see Load.)
type UnknownKeyError struct{ Key string }

func (e *UnknownKeyError) Error() string {
	return fmt.Sprintf("config: unknown topic config %q", e.Key)
}

// Warning is a problem in a configuration that does not stop the broker.
type Warning struct {
	Key string
	// Where the key was set ("server.properties:12" or "override").
	Where   string
	Message string
}

func (w Warning) String() string {
	if w.Where == "" {
		return w.Key + ": " + w.Message
	}
	return w.Where + ": " + w.Key + ": " + w.Message
}
