package demo

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

var sqlBlock = regexp.MustCompile("(?s)```sql\n(.*?)```")

func TestSkillResources(t *testing.T) {
	s := newServer(t, Options{})
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			cs := tr.connect(t, s)
			ctx := context.Background()
			list, err := cs.ListResources(ctx, nil)
			if err != nil {
				t.Fatalf("ListResources: %v", err)
			}
			var uris []string
			for _, r := range list.Resources {
				uris = append(uris, r.URI)
				if r.MIMEType != "text/markdown" || r.Title == "" || r.Description == "" || r.Size == 0 {
					t.Errorf("resource %s lacks metadata: %+v", r.URI, r)
				}
			}
			slices.Sort(uris)
			want := []string{
				"skill://sales-api/monthly-revenue",
				"skill://sales-api/product-mix",
				"skill://sales-api/top-customers",
			}
			if diff := cmp.Diff(want, uris); diff != "" {
				t.Fatalf("resources (-want +got):\n%s", diff)
			}

			for _, uri := range uris {
				res, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri})
				if err != nil {
					t.Fatalf("ReadResource(%s): %v", uri, err)
				}
				if len(res.Contents) != 1 {
					t.Fatalf("ReadResource(%s): %d contents, want 1", uri, len(res.Contents))
				}
				c := res.Contents[0]
				if c.URI != uri || c.MIMEType != "text/markdown" || !strings.HasPrefix(c.Text, "# ") {
					t.Errorf("ReadResource(%s) = uri %q, type %q, text %.20q; want a markdown document", uri, c.URI, c.MIMEType, c.Text)
				}
			}

			if _, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "skill://sales-api/nope"}); err == nil {
				t.Error("ReadResource of an unknown skill succeeded")
			}
		})
	}
}

// TestSkillExamplesRun executes every SQL example in every skill through
// run_query, so the how-tos cannot drift from the dataset.
func TestSkillExamplesRun(t *testing.T) {
	cs := connectInMemory(t, newServer(t, Options{}))
	examples := 0
	for _, sk := range skills() {
		body, err := skillFiles.ReadFile("skills/" + sk.name + ".md")
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range sqlBlock.FindAllStringSubmatch(string(body), -1) {
			examples++
			if out := query(t, cs, m[1], 0); out.RowCount == 0 {
				t.Errorf("skill %s: example returned no rows:\n%s", sk.name, m[1])
			}
		}
	}
	if examples < 6 {
		t.Errorf("found %d SQL examples in the skills, want at least 6", examples)
	}
}

// TestSkillClaims checks the numbers the skills quote as expected answers.
func TestSkillClaims(t *testing.T) {
	cs := connectInMemory(t, newServer(t, Options{}))
	for _, tc := range []struct {
		skill string
		block int
		want  []any // first row
	}{
		{"monthly-revenue", 0, []any{"2025-01", 4.0, 56100.0}},
		{"top-customers", 0, []any{"Adatum Corporation", "EMEA", "Enterprise", 4.0, 59500.0}},
		{"product-mix", 0, []any{"Software", 435.0, 185400.0}},
		{"product-mix", 2, []any{"EMEA", 14.0, 157300.0}},
	} {
		body, err := skillFiles.ReadFile("skills/" + tc.skill + ".md")
		if err != nil {
			t.Fatal(err)
		}
		blocks := sqlBlock.FindAllStringSubmatch(string(body), -1)
		out := query(t, cs, blocks[tc.block][1], 1)
		if diff := cmp.Diff(tc.want, out.Rows[0]); diff != "" {
			t.Errorf("%s example %d first row (-want +got):\n%s", tc.skill, tc.block, diff)
		}
	}
}
