package sampleapp

import (
	"net/http"

	"github.com/pgadvisor/advisor/internal/load"
)

// Names of the entries of LoadMix.
const (
	MixFeed      = "feed"
	MixProfile   = "profile"
	MixOrders    = "orders"
	MixPostOrder = "post-order"
)

// LoadMix is the request mix of the benchmarks, feed-heavy like the
// articles' services: 50% feeds, 25% profiles, 15% order lists and 10% new
// orders, over every user and product of a data set of the given size, with
// the seed's load-test token.
func LoadMix(size Size) (mix []load.Entry, vars map[string]load.Range, header http.Header) {
	mix = []load.Entry{
		{Name: MixFeed, Weight: 50, Method: http.MethodGet, Path: "/users/{uid}/feed"},
		{Name: MixProfile, Weight: 25, Method: http.MethodGet, Path: "/users/{uid}"},
		{Name: MixOrders, Weight: 15, Method: http.MethodGet, Path: "/users/{uid}/orders"},
		{Name: MixPostOrder, Weight: 10, Method: http.MethodPost, Path: "/orders",
			Body:   `{"user_id":{uid},"items":[{"product_id":{pid},"quantity":1},{"product_id":{pid2},"quantity":2}]}`,
			Header: http.Header{"Content-Type": {"application/json"}}},
	}
	vars = map[string]load.Range{
		"uid":  {Min: 1, Max: size.Users},
		"pid":  {Min: 1, Max: size.Products},
		"pid2": {Min: 1, Max: size.Products},
	}
	header = http.Header{"Authorization": {"Bearer " + LoadTestToken}}
	return mix, vars, header
}
