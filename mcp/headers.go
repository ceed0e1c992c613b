package mcp

// toolHeadersEdit learns, from a tools/list answer, which tool arguments the client repeats
// in Mcp-Param-* headers, so the gate can check those headers against the body.
func (g *Gateway) toolHeadersEdit(msg Message, info *serverInfo) resultEdit {
	return nil
}
