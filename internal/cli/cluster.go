package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newClusterCmd() *cobra.Command {
	g := new(globals)
	c := &cobra.Command{
		Use:   "cluster",
		Short: "Show cluster-wide information",
		Example: `  quill cluster info
  quill cluster info -o json`,
	}
	g.register(c)
	c.AddCommand(newClusterInfoCmd(g))
	return c
}

type brokerInfo struct {
	NodeID     int32  `json:"node_id" yaml:"node_id"`
	Host       string `json:"host" yaml:"host"`
	Port       int32  `json:"port" yaml:"port"`
	Rack       string `json:"rack,omitempty" yaml:"rack,omitempty"`
	Controller bool   `json:"controller" yaml:"controller"`
}

type clusterInfo struct {
	ClusterID  string       `json:"cluster_id" yaml:"cluster_id"`
	Controller int32        `json:"controller" yaml:"controller"`
	Brokers    []brokerInfo `json:"brokers" yaml:"brokers"`
	Topics     int          `json:"topics" yaml:"topics"`
}

func newClusterInfoCmd(g *globals) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "info",
		Short: "Show the cluster id, the controller and the brokers",
		Example: `  quill cluster info
  quill cluster info -b 10.0.0.1:9092 -o yaml`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			s, err := g.open(cmd, true)
			if err != nil {
				return err
			}
			defer s.close()
			m, err := s.adm.Metadata(s.ctx)
			if err != nil {
				return s.explain(err)
			}
			info := clusterInfo{ClusterID: m.Cluster, Controller: m.Controller, Brokers: []brokerInfo{}}
			m.Topics.FilterInternal()
			info.Topics = len(m.Topics)
			for _, b := range m.Brokers {
				bi := brokerInfo{NodeID: b.NodeID, Host: b.Host, Port: b.Port, Controller: b.NodeID == m.Controller}
				if b.Rack != nil {
					bi.Rack = *b.Rack
				}
				info.Brokers = append(info.Brokers, bi)
			}
			w := cmd.OutOrStdout()
			if output != outTable {
				return emit(w, output, info)
			}
			fmt.Fprintf(w, "Cluster ID:  %s\nController:  %d\nTopics:      %d\n\n", info.ClusterID, info.Controller, info.Topics)
			t := newTable(w, "ID", "HOST", "PORT", "RACK", "CONTROLLER")
			for _, b := range info.Brokers {
				ctl := ""
				if b.Controller {
					ctl = "*"
				}
				t.row(b.NodeID, b.Host, b.Port, b.Rack, ctl)
			}
			return t.flush()
		},
	}
	addOutputFlag(c, &output)
	return c
}
