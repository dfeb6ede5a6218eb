package server

// DescribeConfigs (versions 0-4), AlterConfigs (0-2) and
// IncrementalAlterConfigs (0-1) for topics and brokers. Changes go through
// the controller as config records, so they are persisted and applied live
// (replica.Manager updates the affected partitions' settings).

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/controller"
	"github.com/quillstream/quill/internal/metadata"
)

// ConfigEntry is one described config.
type ConfigEntry struct {
	Name      string
	Value     *string
	Source    int8 // Kafka's ConfigSource numbers
	ReadOnly  bool
	Sensitive bool
	Type      int8 // Kafka's ConfigType numbers (v3+)
	Doc       *string
	Synonyms  []ConfigSynonym
}

// ConfigSynonym is a config that backs another (log.retention.ms for
// retention.ms).
type ConfigSynonym struct {
	Name   string
	Value  *string
	Source int8
}

// ConfigSource describes and validates configs; the broker configuration
// package implements it.
type ConfigSource interface {
	ValidateTopic(configs map[string]string) error
	DescribeTopic(overrides map[string]string) []ConfigEntry
	// ValidateBroker checks a dynamic broker config change.
	ValidateBroker(name, value string) error
	DescribeBroker(dynamic map[string]string) []ConfigEntry
}

func (s *Server) handleDescribeConfigs(r *request, req *kmsg.DescribeConfigsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	img := s.ctrl.Image()
	for _, rr := range req.Resources {
		res := kmsg.NewDescribeConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		var entries []ConfigEntry
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			t := img.Topics[rr.ResourceName]
			if t == nil {
				res.ErrorCode = kerr.UnknownTopicOrPartition.Code
				break
			}
			entries = s.cfg.Configs.DescribeTopic(t.Configs)
		case kmsg.ConfigResourceTypeBroker:
			if err := s.checkBrokerResource(rr.ResourceName); err != nil {
				res.ErrorCode, res.ErrorMessage = errorCodeMessage(err)
				break
			}
			entries = s.cfg.Configs.DescribeBroker(img.BrokerConfigs)
		case kmsg.ConfigResourceTypeBrokerLogger:
			// No per-logger levels: an empty description.
		default:
			res.ErrorCode = kerr.InvalidRequest.Code
		}
		for _, e := range entries {
			if rr.ConfigNames != nil && !slices.Contains(rr.ConfigNames, e.Name) {
				continue
			}
			c := kmsg.NewDescribeConfigsResponseResourceConfig()
			c.Name, c.Value, c.ReadOnly, c.Source, c.IsSensitive = e.Name, e.Value, e.ReadOnly, kmsg.ConfigSource(e.Source), e.Sensitive
			if r.version == 0 {
				c.IsDefault = e.Source == 5
			}
			if req.IncludeSynonyms {
				for _, syn := range e.Synonyms {
					cs := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
					cs.Name, cs.Value, cs.Source = syn.Name, syn.Value, kmsg.ConfigSource(syn.Source)
					c.ConfigSynonyms = append(c.ConfigSynonyms, cs)
				}
			}
			c.ConfigType = kmsg.ConfigType(e.Type)
			if req.IncludeDocumentation {
				c.Documentation = e.Doc
			}
			res.Configs = append(res.Configs, c)
		}
		resp.Resources = append(resp.Resources, res)
	}
	return resp, nil
}

func (s *Server) checkBrokerResource(name string) error {
	if name == "" {
		return nil
	}
	id, err := strconv.Atoi(name)
	if err != nil || int32(id) != s.cfg.NodeID {
		return &controller.Error{Kafka: kerr.InvalidRequest, Message: fmt.Sprintf("broker %q is not this broker (%d)", name, s.cfg.NodeID)}
	}
	return nil
}

func (s *Server) handleAlterConfigs(r *request, req *kmsg.AlterConfigsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	for _, rr := range req.Resources {
		res := kmsg.NewAlterConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		var changes []controller.ConfigChange
		for _, c := range rr.Configs {
			changes = append(changes, controller.ConfigChange{Name: c.Name, Value: c.Value})
		}
		if err := s.alterConfigs(rr.ResourceType, rr.ResourceName, changes, true, req.ValidateOnly); err != nil {
			res.ErrorCode, res.ErrorMessage = errorCodeMessage(err)
		}
		resp.Resources = append(resp.Resources, res)
	}
	return resp, nil
}

func (s *Server) handleIncrementalAlterConfigs(r *request, req *kmsg.IncrementalAlterConfigsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	img := s.ctrl.Image()
	for _, rr := range req.Resources {
		res := kmsg.NewIncrementalAlterConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		// The values in effect, defaults included: APPEND and SUBTRACT
		// work on them, as in Kafka.
		var effective []ConfigEntry
		if rr.ResourceType == kmsg.ConfigResourceTypeTopic {
			if t := img.Topics[rr.ResourceName]; t != nil {
				effective = s.cfg.Configs.DescribeTopic(t.Configs)
			}
		} else {
			effective = s.cfg.Configs.DescribeBroker(img.BrokerConfigs)
		}
		var changes []controller.ConfigChange
		var err error
		for _, c := range rr.Configs {
			switch c.Op {
			case kmsg.IncrementalAlterConfigOpSet:
				changes = append(changes, controller.ConfigChange{Name: c.Name, Value: c.Value})
			case kmsg.IncrementalAlterConfigOpDelete:
				changes = append(changes, controller.ConfigChange{Name: c.Name})
			case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
				cur, isList := listValue(effective, c.Name)
				if !isList {
					err = &controller.Error{Kafka: kerr.InvalidConfig, Message: fmt.Sprintf("Config value append or subtract is not allowed for config key: %s (not a list)", c.Name)}
					break
				}
				if c.Value == nil {
					err = &controller.Error{Kafka: kerr.InvalidConfig, Message: "APPEND and SUBTRACT need a value"}
					break
				}
				list := splitList(cur)
				for _, v := range splitList(*c.Value) {
					has := slices.Contains(list, v)
					if c.Op == kmsg.IncrementalAlterConfigOpAppend && !has {
						list = append(list, v)
					} else if c.Op == kmsg.IncrementalAlterConfigOpSubtract && has {
						list = slices.DeleteFunc(list, func(x string) bool { return x == v })
					}
				}
				v := strings.Join(list, ",")
				changes = append(changes, controller.ConfigChange{Name: c.Name, Value: &v})
			default:
				err = &controller.Error{Kafka: kerr.InvalidRequest, Message: fmt.Sprintf("unknown config operation %d", c.Op)}
			}
		}
		if err == nil {
			err = s.alterConfigs(rr.ResourceType, rr.ResourceName, changes, false, req.ValidateOnly)
		}
		if err != nil {
			res.ErrorCode, res.ErrorMessage = errorCodeMessage(err)
		}
		resp.Resources = append(resp.Resources, res)
	}
	return resp, nil
}

// configTypeList is Kafka's ConfigType for lists.
const configTypeList = 7

// listValue returns the value in effect of a list-typed config.
func listValue(entries []ConfigEntry, name string) (string, bool) {
	for _, e := range entries {
		if e.Name == name {
			if e.Type != configTypeList {
				return "", false
			}
			if e.Value == nil {
				return "", true
			}
			return *e.Value, true
		}
	}
	return "", false
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// alterConfigs validates the resulting configs and commits the change.
func (s *Server) alterConfigs(typ kmsg.ConfigResourceType, name string, changes []controller.ConfigChange, replace, validateOnly bool) error {
	img := s.ctrl.Image()
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		t := img.Topics[name]
		if t == nil {
			return &controller.Error{Kafka: kerr.UnknownTopicOrPartition, Message: fmt.Sprintf("topic %q does not exist", name)}
		}
		result := map[string]string{}
		if !replace {
			for k, v := range t.Configs {
				result[k] = v
			}
		}
		for _, c := range changes {
			if c.Value == nil {
				delete(result, c.Name)
			} else {
				result[c.Name] = *c.Value
			}
		}
		if err := s.cfg.Configs.ValidateTopic(result); err != nil {
			return &controller.Error{Kafka: kerr.InvalidConfig, Message: err.Error()}
		}
		if validateOnly {
			return nil
		}
		return s.ctrl.AlterConfigs(metadata.ResourceTopic, name, changes, replace)
	case kmsg.ConfigResourceTypeBroker:
		if err := s.checkBrokerResource(name); err != nil {
			return err
		}
		for _, c := range changes {
			v := ""
			if c.Value != nil {
				v = *c.Value
			}
			if err := s.cfg.Configs.ValidateBroker(c.Name, v); err != nil {
				return &controller.Error{Kafka: kerr.InvalidConfig, Message: err.Error()}
			}
		}
		if validateOnly {
			return nil
		}
		return s.ctrl.AlterConfigs(metadata.ResourceBroker, "", changes, replace)
	case kmsg.ConfigResourceTypeBrokerLogger:
		return nil
	}
	return &controller.Error{Kafka: kerr.InvalidRequest, Message: fmt.Sprintf("unsupported resource type %d", typ)}
}
