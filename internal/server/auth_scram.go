package server

// DescribeUserScramCredentials (key 50, version 0) and
// AlterUserScramCredentials (key 51, version 0). Credentials are stored
// salted in the metadata log (metadata.ScramRecord): the client sends the
// salted password, the broker keeps only StoredKey and ServerKey. Both APIs
// need Describe / Alter on the Cluster when an authorizer is configured.

import (
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/auth"
	"github.com/quillstream/quill/internal/controller"
	"github.com/quillstream/quill/internal/metadata"
)

func (s *Server) handleDescribeUserScram(r *request, req *kmsg.DescribeUserSCRAMCredentialsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	if !s.allowed(r, auth.OpDescribe, auth.ResourceCluster, auth.ClusterResource) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	img := s.ctrl.Image()
	byUser := map[string][]kmsg.DescribeUserSCRAMCredentialsResponseResultCredentialInfo{}
	for k, c := range img.Scram {
		ci := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
		ci.Mechanism = auth.ScramMechanismNumber(k.Mechanism)
		ci.Iterations = c.Iterations
		byUser[k.User] = append(byUser[k.User], ci)
	}
	var users []string
	all := len(req.Users) == 0
	if all {
		for u := range byUser {
			users = append(users, u)
		}
		slices.Sort(users)
	}
	seen := map[string]int{}
	for _, u := range req.Users {
		seen[u.Name]++
		if seen[u.Name] == 1 {
			users = append(users, u.Name)
		}
	}
	for _, u := range users {
		res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		res.User = u
		infos := byUser[u]
		slices.SortFunc(infos, func(a, b kmsg.DescribeUserSCRAMCredentialsResponseResultCredentialInfo) int {
			return int(a.Mechanism) - int(b.Mechanism)
		})
		switch {
		case seen[u] > 1:
			res.ErrorCode = kerr.DuplicateResource.Code
			msg := "user named twice"
			res.ErrorMessage = &msg
		case len(infos) == 0:
			res.ErrorCode = kerr.ResourceNotFound.Code
			msg := "attempt to describe a user credential that does not exist"
			res.ErrorMessage = &msg
		default:
			res.CredentialInfos = infos
		}
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}

func (s *Server) handleAlterUserScram(r *request, req *kmsg.AlterUserSCRAMCredentialsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	allowed := s.allowed(r, auth.OpAlter, auth.ResourceCluster, auth.ClusterResource)
	var users []string
	count := map[string]int{}
	userErr := map[string]error{}
	fail := func(user string, k *kerr.Error, msg string) {
		if userErr[user] == nil {
			userErr[user] = &controller.Error{Kafka: k, Message: msg}
		}
	}
	note := func(u string) {
		if count[u] == 0 {
			users = append(users, u)
		}
		count[u]++
	}
	for _, d := range req.Deletions {
		note(d.Name)
	}
	for _, u := range req.Upsertions {
		note(u.Name)
	}
	var changes []controller.ScramChange
	var owners []string
	for _, d := range req.Deletions {
		mech := auth.ScramMechanismName(d.Mechanism)
		switch {
		case !allowed:
			fail(d.Name, kerr.ClusterAuthorizationFailed, "")
		case d.Name == "":
			fail(d.Name, kerr.UnacceptableCredential, "user name is empty")
		case mech == "":
			fail(d.Name, kerr.UnsupportedSaslMechanism, "unknown SCRAM mechanism")
		default:
			changes = append(changes, controller.ScramChange{User: d.Name, Mechanism: mech})
			owners = append(owners, d.Name)
		}
	}
	for _, u := range req.Upsertions {
		mech := auth.ScramMechanismName(u.Mechanism)
		switch {
		case !allowed:
			fail(u.Name, kerr.ClusterAuthorizationFailed, "")
		case u.Name == "":
			fail(u.Name, kerr.UnacceptableCredential, "user name is empty")
		case mech == "":
			fail(u.Name, kerr.UnsupportedSaslMechanism, "unknown SCRAM mechanism")
		case u.Iterations < auth.ScramMinIterations || u.Iterations > auth.ScramMaxIterations:
			fail(u.Name, kerr.UnacceptableCredential, "iterations must be between 4096 and 16384")
		case len(u.Salt) == 0 || len(u.SaltedPassword) == 0:
			fail(u.Name, kerr.UnacceptableCredential, "salt and salted password are required")
		default:
			c, err := auth.ScramFromSaltedPassword(mech, u.Salt, u.SaltedPassword, u.Iterations)
			if err != nil {
				fail(u.Name, kerr.UnacceptableCredential, err.Error())
				continue
			}
			mc := metadata.ScramCredential(c)
			changes = append(changes, controller.ScramChange{User: u.Name, Mechanism: mech, Credential: &mc})
			owners = append(owners, u.Name)
		}
	}
	// Two changes of the same user and mechanism are refused, as Kafka does.
	seen := map[[2]string]bool{}
	for _, ch := range changes {
		k := [2]string{ch.User, ch.Mechanism}
		if seen[k] {
			fail(ch.User, kerr.DuplicateResource, "a user and mechanism may appear only once")
		}
		seen[k] = true
	}
	var todo []controller.ScramChange
	var todoOwners []string
	for i, ch := range changes {
		if userErr[owners[i]] == nil {
			todo = append(todo, ch)
			todoOwners = append(todoOwners, owners[i])
		}
	}
	for i, err := range s.ctrl.AlterScram(todo) {
		if err != nil && userErr[todoOwners[i]] == nil {
			userErr[todoOwners[i]] = err
		}
	}
	for _, u := range users {
		res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		res.User = u
		if err := userErr[u]; err != nil {
			res.ErrorCode, res.ErrorMessage = errorCodeMessage(err)
			if res.ErrorMessage != nil && strings.TrimSpace(*res.ErrorMessage) == "" {
				res.ErrorMessage = nil
			}
		}
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}
