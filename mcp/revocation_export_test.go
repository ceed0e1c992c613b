package mcp

// The revocation set's bounds, for the end-to-end tests of package mcp_test.
const (
	RevocationRefreshAfter = revocationRefreshAfter
	RevocationMaxAge       = revocationMaxAge
)
