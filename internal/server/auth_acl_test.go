package server

import (
	"errors"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestSplitRun checks splitRun's contract on DescribeGroups: the handler
// sees only the allowed items, the request is restored, denials are
// appended in request order, and skipEmpty answers without the handler.
func TestSplitRun(t *testing.T) {
	denyPrefixX := func(g string) (kmsg.DescribeGroupsResponseGroup, bool) {
		d := kmsg.NewDescribeGroupsResponseGroup()
		d.Group = g
		return d, g[0] == 'x'
	}
	list := func(dr *kmsg.DescribeGroupsResponse) *[]kmsg.DescribeGroupsResponseGroup { return &dr.Groups }
	run := func(groups []string, ifNone bool, herr error) (seen []string, calls int, req *kmsg.DescribeGroupsRequest, resp kmsg.Response, err error) {
		req = kmsg.NewPtrDescribeGroupsRequest()
		req.Groups = groups
		h := &handler{fn: func(r *request) (kmsg.Response, error) {
			calls++
			seen = slices.Clone(req.Groups)
			dr := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
			for _, g := range req.Groups {
				rg := kmsg.NewDescribeGroupsResponseGroup()
				rg.Group = g
				dr.Groups = append(dr.Groups, rg)
			}
			return dr, herr
		}}
		resp, err = splitRun(h, &request{body: req}, &req.Groups, ifNone, denyPrefixX, list)
		return
	}
	names := func(resp kmsg.Response) []string {
		var out []string
		for _, g := range resp.(*kmsg.DescribeGroupsResponse).Groups {
			out = append(out, g.Group)
		}
		return out
	}

	seen, calls, req, resp, err := run([]string{"a", "xb", "c", "xd"}, runEmpty, nil)
	if err != nil || calls != 1 || !slices.Equal(seen, []string{"a", "c"}) {
		t.Fatalf("mixed: err %v, calls %d, handler saw %v", err, calls, seen)
	}
	if got := names(resp); !slices.Equal(got, []string{"a", "c", "xb", "xd"}) {
		t.Errorf("mixed: response %v", got)
	}
	if !slices.Equal(req.Groups, []string{"a", "xb", "c", "xd"}) {
		t.Errorf("mixed: request not restored: %v", req.Groups)
	}

	seen, calls, _, _, _ = run([]string{"a", "c"}, runEmpty, nil)
	if calls != 1 || !slices.Equal(seen, []string{"a", "c"}) {
		t.Errorf("all allowed: calls %d, handler saw %v", calls, seen)
	}

	seen, calls, _, resp, _ = run([]string{"xa"}, runEmpty, nil)
	if calls != 1 || seen != nil || !slices.Equal(names(resp), []string{"xa"}) {
		t.Errorf("none allowed, runEmpty: calls %d, saw %v, response %v", calls, seen, names(resp))
	}
	_, calls, _, resp, _ = run([]string{"xa"}, skipEmpty, nil)
	if calls != 0 || !slices.Equal(names(resp), []string{"xa"}) {
		t.Errorf("none allowed, skipEmpty: calls %d, response %v", calls, names(resp))
	}

	boom := errors.New("boom")
	_, _, req, resp, err = run([]string{"a", "xb"}, runEmpty, boom)
	if !errors.Is(err, boom) || !slices.Equal(names(resp), []string{"a"}) || len(req.Groups) != 2 {
		t.Errorf("handler error: err %v, response %v, request %v", err, names(resp), req.Groups)
	}
}
