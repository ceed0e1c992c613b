package demo

import (
	"context"
	"embed"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

//go:embed skills/*.md
var skillFiles embed.FS

// skill is a markdown how-to published as an MCP resource. Skills teach a
// model the shape of the data and working SQL for common questions, so it
// spends fewer tool calls exploring the schema.
type skill struct {
	name, title, description string
}

// skills lists the embedded how-tos; each is read from skills/<name>.md and
// published as skill://sales-api/<name>.
func skills() []skill {
	return []skill{
		{"monthly-revenue", "Monthly revenue",
			"How to compute revenue per month (or quarter) from orders and order_items, excluding refunds."},
		{"top-customers", "Top customers",
			"How to rank customers by revenue or order count, optionally per region or segment."},
		{"product-mix", "Product and region mix",
			"How to break revenue down by product category, product and region."},
	}
}

// skillURI is the resource URI of a skill.
func skillURI(name string) string { return "skill://sales-api/" + name }

// addSkills registers every skill as a static text/markdown resource.
func addSkills(srv *mcp.Server) error {
	for _, sk := range skills() {
		body, err := skillFiles.ReadFile("skills/" + sk.name + ".md")
		if err != nil {
			return fmt.Errorf("demo: skill %s: %w", sk.name, err)
		}
		uri, text := skillURI(sk.name), string(body)
		srv.AddResource(&mcp.Resource{
			URI:         uri,
			Name:        sk.name,
			Title:       sk.title,
			Description: sk.description,
			MIMEType:    "text/markdown",
			Size:        int64(len(body)),
		}, func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{
				{URI: uri, MIMEType: "text/markdown", Text: text},
			}}, nil
		})
	}
	return nil
}
