package cli

import (
	"context"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/registry"
)

// pagesOf serves items in pages of at most size (or the asked limit),
// recording the options of each request.
func pagesOf(items []int, size int, asked *[]client.ListOptions) func(context.Context, client.ListOptions) (client.Page[int], error) {
	return func(_ context.Context, opts client.ListOptions) (client.Page[int], error) {
		*asked = append(*asked, opts)
		start := 0
		if opts.NextToken != "" {
			start, _ = strconv.Atoi(opts.NextToken)
		}
		n := size
		if opts.Limit > 0 {
			n = min(n, opts.Limit)
		}
		end := min(start+n, len(items))
		p := client.Page[int]{Items: items[start:end]}
		if end < len(items) {
			p.NextToken = strconv.Itoa(end)
		}
		return p, nil
	}
}

func TestListAllPagesThroughTheList(t *testing.T) {
	items := make([]int, 7)
	for i := range items {
		items[i] = i + 1
	}
	tests := []struct {
		name      string
		limit     int
		want      []int
		wantAsked []client.ListOptions
	}{
		{"without a limit every page is fetched", 0, items, []client.ListOptions{{}, {NextToken: "3"}, {NextToken: "6"}}},
		{"a limit stops when it is reached, asking for no more than needed", 4, []int{1, 2, 3, 4}, []client.ListOptions{{Limit: 4}, {Limit: 1, NextToken: "3"}}},
		{"a limit above the list's length gets the whole list", 50, items, []client.ListOptions{{Limit: 50}, {Limit: 47, NextToken: "3"}, {Limit: 44, NextToken: "6"}}},
		{"a limit above the largest page asks for the largest page", registry.MaxPageSize + 1, items, []client.ListOptions{{Limit: registry.MaxPageSize}, {Limit: registry.MaxPageSize - 2, NextToken: "3"}, {Limit: registry.MaxPageSize - 5, NextToken: "6"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var asked []client.ListOptions
			got, err := listAll(context.Background(), tt.limit, pagesOf(items, 3, &asked))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("items (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantAsked, asked); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestListEnvelopeOfNothingIsAnEmptyList(t *testing.T) {
	env := newListEnvelope[int]("flow list", nil)
	if env.Items == nil || env.Count != 0 {
		t.Errorf("envelope %+v; want items [] and count 0", env)
	}
}
