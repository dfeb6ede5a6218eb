package group

import (
	"context"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeGroups v0-v6. Members carry their metadata and assignment only in
// Stable, as in Kafka. An unknown group is "Dead" with NONE; from v6
// (KIP-1043) it is also GROUP_ID_NOT_FOUND with a message.
func (c *Coordinator) handleDescribeGroups(req *kmsg.DescribeGroupsRequest) kmsg.Response {
	resp := kmsg.NewPtrDescribeGroupsResponse()
	resp.SetVersion(req.Version)
	for _, id := range req.Groups {
		rg := kmsg.NewDescribeGroupsResponseGroup()
		rg.Group = id
		g, code := c.lookup(id, false)
		switch {
		case code != 0:
			rg.ErrorCode = code
		case g == nil || g.cg != nil:
			// KIP-848 groups are described by ConsumerGroupDescribe.
			msg := "Group " + id + " not found."
			if g != nil {
				g.mu.Unlock()
				msg = "Group " + id + " is not a classic group."
			}
			rg.State = stateDead.String()
			if req.Version >= 6 {
				rg.ErrorCode = kerr.GroupIDNotFound.Code
				rg.ErrorMessage = &msg
			}
		default:
			g.describe(&rg)
			g.mu.Unlock()
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}

// REQUIRES: g.mu held.
func (g *group) describe(rg *kmsg.DescribeGroupsResponseGroup) {
	rg.State = g.state.String()
	rg.ProtocolType = g.protocolType
	stable := g.state == stateStable
	if stable {
		rg.Protocol = g.protocol
	}
	for _, m := range g.orderedMembers() {
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID = m.id
		dm.InstanceID = m.instanceID
		dm.ClientID = m.clientID
		dm.ClientHost = m.clientHost
		if stable {
			dm.ProtocolMetadata = m.metadataFor(g.protocol)
			dm.MemberAssignment = m.assignment
		}
		rg.Members = append(rg.Members, dm)
	}
}

// ListGroups v0-v5. v4 filters by state, v5 by type ("classic", or
// "consumer" for KIP-848 groups, whose states are KIP-848's).
func (c *Coordinator) handleListGroups(req *kmsg.ListGroupsRequest) kmsg.Response {
	resp := kmsg.NewPtrListGroupsResponse()
	resp.SetVersion(req.Version)
	match := func(filter []string, v string) bool {
		return len(filter) == 0 || slices.ContainsFunc(filter, func(f string) bool { return strings.EqualFold(f, v) })
	}
	for _, g := range c.loadedGroups() {
		g.mu.Lock()
		if g.dead {
			g.mu.Unlock()
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group = g.id
		lg.ProtocolType = g.protocolType
		lg.GroupState = g.state.String()
		lg.GroupType = "classic"
		if g.cg != nil {
			lg.GroupState = g.cg.state()
			lg.GroupType = "consumer"
		}
		g.mu.Unlock()
		if (req.Version >= 4 && !match(req.StatesFilter, lg.GroupState)) || (req.Version >= 5 && !match(req.TypesFilter, lg.GroupType)) {
			continue
		}
		resp.Groups = append(resp.Groups, lg)
	}
	slices.SortFunc(resp.Groups, func(a, b kmsg.ListGroupsResponseGroup) int { return strings.Compare(a.Group, b.Group) })
	return resp
}

// DeleteGroups v0-v3 (v3 adds error messages): only Empty groups can go; their offsets and metadata
// are tombstoned.
func (c *Coordinator) handleDeleteGroups(ctx context.Context, req *kmsg.DeleteGroupsRequest) kmsg.Response {
	resp := kmsg.NewPtrDeleteGroupsResponse()
	resp.SetVersion(req.Version)
	for _, id := range req.Groups {
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group = id
		rg.ErrorCode = c.deleteGroup(ctx, id)
		if rg.ErrorCode != 0 && req.Version >= 3 {
			msg := kerr.TypedErrorForCode(rg.ErrorCode).Description
			rg.ErrorMessage = &msg
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}

func (c *Coordinator) deleteGroup(ctx context.Context, id string) int16 {
	if id == "" {
		return kerr.InvalidGroupID.Code
	}
	g, code := c.lookup(id, false)
	if code != 0 {
		return code
	}
	if g == nil {
		return kerr.GroupIDNotFound.Code
	}
	defer g.mu.Unlock()
	switch {
	case g.state == stateDead:
		return kerr.GroupIDNotFound.Code
	case g.state != stateEmpty, g.cg != nil && len(g.cg.members) > 0:
		return kerr.NonEmptyGroup.Code
	}
	var recs []Record
	for t, ps := range g.offsets {
		for p := range ps {
			recs = append(recs, offsetTombstone(g.id, t, p))
		}
	}
	recs = append(recs, groupTombstone(g.id))
	cgRecs, _ := g.cgChanges(true)
	recs = append(recs, cgRecs...)
	if err := g.persist(ctx, recs...); err != nil {
		return storeErrorCode(err)
	}
	g.cgPersisted = nil
	g.kill(kerr.CoordinatorNotAvailable.Code)
	c.removeGroup(g)
	c.log.Info("group: deleted", "group", id)
	return 0
}
