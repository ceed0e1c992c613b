package templates

import "html/template"

// Chart is a chart's markup, from package chart: numbers, fixed colours and escaped names
// only, so html/template may insert it as it is.
type Chart = template.HTML

// UsageView is the Usage section of a server page: its charts for the last 7 days, as
// markup package chart built from numbers and escaped names only.
type UsageView struct {
	// Tokens is the access tokens issued per hour, split by client.
	Tokens Chart
	// MCP is the MCP requests per hour, allowed and refused, split by client.
	MCP Chart
}
