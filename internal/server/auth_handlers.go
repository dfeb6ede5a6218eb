package server

// registerSecurityHandlers adds the SASL, ACL and SCRAM credential APIs.
func (s *Server) registerSecurityHandlers() {
	handle(s, 0, 1, s.handleSaslHandshake)
	handle(s, 0, 2, s.handleSaslAuthenticate)
	handle(s, 0, 3, s.handleDescribeAcls)
	handle(s, 0, 3, s.handleCreateAcls)
	handle(s, 0, 3, s.handleDeleteAcls)
	handle(s, 0, 0, s.handleDescribeUserScram)
	handle(s, 0, 0, s.handleAlterUserScram)
	s.registerQuotaHandlers()
}

// allowed reports whether the request's principal may perform op on the
// resource; always true without an authorizer.
func (s *Server) allowed(r *request, op, resourceType int8, name string) bool {
	if s.authz == nil {
		return true
	}
	return s.authz.Authorize(r.c.principal(), r.c.clientHost(), op, resourceType, name)
}
