package mcp

// listFilter returns the edit that takes out of a list answer (tools/list, resources/list,
// resources/templates/list) what p's scopes do not let it use, or nil when p may use it all.
func (g *Gateway) listFilter(msg Message, p *principal) resultEdit {
	return nil
}
