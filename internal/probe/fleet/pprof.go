package fleet

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
)

// PprofBase is where one instance serves /debug/pprof.
type PprofBase struct {
	Instance string
	// URL is the base URL: the scrape's scheme, host and port, or its host
	// with the port asked for.
	URL string
}

// PprofBases finds the n busiest instances (by process CPU over the last
// minute, else those up) and the base URL of their pprof, from the targets
// API: the host:port Prometheus scrapes, or that host with port when port
// is not 0. It reads the server; ctx bounds it.
func (c *Collector) PprofBases(ctx context.Context, n, port int) ([]PprofBase, error) {
	n = max(n, 1)
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	now := time.Now()
	var ranked []string
	for _, q := range []string{
		fmt.Sprintf(`sort_desc(sum by (instance) (rate(process_cpu_seconds_total{%s}[1m])))`, c.selector),
		fmt.Sprintf(`max by (instance) (up{%s}) == 1`, c.selector),
	} {
		v, _, _, err := c.api.Query(ctx, q, now)
		if err != nil {
			return nil, c.queryError(ctx, "instances", err)
		}
		vec, _ := v.(model.Vector)
		for _, s := range vec {
			if name := string(s.Metric["instance"]); name != "" {
				ranked = append(ranked, name)
			}
		}
		if len(ranked) > 0 {
			break
		}
	}
	if len(ranked) == 0 {
		return nil, fmt.Errorf("prometheus %s: no instance of {%s} is up", c.address, c.selector)
	}
	targets, err := c.api.Targets(ctx)
	if err != nil {
		return nil, c.queryError(ctx, "targets", err)
	}
	scrape := map[string]string{}
	for _, t := range targets.Active {
		scrape[string(t.Labels["instance"])] = t.ScrapeURL
	}
	var out []PprofBase
	for _, inst := range ranked {
		raw, ok := scrape[inst]
		if !ok {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil {
			continue
		}
		host := u.Host
		if port != 0 {
			host = net.JoinHostPort(u.Hostname(), strconv.Itoa(port))
		}
		out = append(out, PprofBase{Instance: inst, URL: u.Scheme + "://" + host})
		if len(out) == n {
			break
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("prometheus %s: the targets API names none of the instances of {%s}", c.address, c.selector)
	}
	return out, nil
}
