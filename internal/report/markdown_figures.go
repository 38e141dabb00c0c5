package report

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/pgadvisor/advisor/internal/rules"
)

// markdownFigures writes the "Where the time goes" section: the service's
// line and its time per request by part, a table of the top routes, one of
// the Go handlers, then the notes.
func markdownFigures(b *bytes.Buffer, f *Figures) {
	b.WriteString("\n## Where the time goes\n\n")
	if m := methodText(f); m != "" {
		fmt.Fprintf(b, "%s.\n\n", inline(strings.ToUpper(m[:1])+m[1:]))
	}
	fmt.Fprintf(b, "**Service:** %s", inline(strings.Join(serviceItems(&f.Service), " · ")))
	if len(f.Service.Time) > 0 {
		fmt.Fprintf(b, "\n\n**Per request:** %s", inline(strings.Join(partItems(f.Service.Time), " · ")))
	}
	if items := perRequestItems(&f.Service.Rates); len(items) > 0 {
		fmt.Fprintf(b, "\n\n**Sources per request:** %s", inline(strings.Join(items, " · ")))
		if f.Service.Attribution != "" {
			fmt.Fprintf(b, " (%s)", inline(f.Service.Attribution))
		}
	}
	if f.Host != nil {
		fmt.Fprintf(b, "\n\n**Host:** %s", inline(HostText(f.Host)))
	}
	if f.KernelQueue != nil {
		fmt.Fprintf(b, "\n\n**Kernel queue:** %s", inline(KernelQueueText(f.KernelQueue, f.Service.MeanMS)))
	}
	b.WriteString("\n")

	if len(f.Routes) > 0 {
		shown := f.Routes[:min(len(f.Routes), maxRoutes)]
		withTime := false
		for _, r := range shown {
			withTime = withTime || (len(r.Time) > 0 && len(f.Routes) > 1)
		}
		b.WriteString("\n| Route | Rate | p50 | p95 | In flight | Share of time |")
		if withTime {
			b.WriteString(" Per request |")
		}
		b.WriteString("\n| --- | ---: | ---: | ---: | ---: | ---: |")
		if withTime {
			b.WriteString(" --- |")
		}
		b.WriteString("\n")
		for i := range shown {
			r := &shown[i]
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |", codeCell(routeName(r.Method, r.Route)), rateText(r.RPS),
				optPercentile(r.P50MS, r.LatencyBucketsMS), optPercentile(r.P95MS, r.LatencyBucketsMS), inFlightText(r.InFlight), routeShare(r))
			if withTime {
				fmt.Fprintf(b, " %s |", cell(strings.Join(partItems(r.Time), " · ")))
			}
			b.WriteString("\n")
		}
		if rest := f.Routes[len(shown):]; len(rest) > 0 {
			var share float64
			for _, r := range rest {
				share += r.Share
			}
			fmt.Fprintf(b, "\nAnd %d more routes, %s of the time.\n", len(rest), shareText(share))
		}
	}

	if len(f.Handlers) > 0 {
		b.WriteString("\n| Go handler | Share of samples | Parts |\n| --- | ---: | --- |\n")
		for i, h := range f.Handlers {
			if i == maxHandlers {
				break
			}
			fmt.Fprintf(b, "| %s | %s | %s |\n", codeCell(shortHandler(h.Handler)), shareText(h.Share),
				cell(strings.Join(handlerItems(h.Time), " · ")))
		}
		if n := len(f.Handlers) - maxHandlers; n > 0 {
			fmt.Fprintf(b, "\nAnd %d more handlers.\n", n)
		}
	}

	if len(f.Notes) > 0 {
		b.WriteString("\n")
		for _, n := range f.Notes {
			fmt.Fprintf(b, "- Note: %s\n", inline(n))
		}
	}
}

// markdownSaving is a finding's saving as a Markdown line, "" when unknown.
func markdownSaving(s *rules.Saving) string {
	text := savingText(s)
	if text == "" {
		return ""
	}
	text = "**" + strings.ToUpper(text[:1]) + text[1:] + "**"
	if basis := inline(s.Basis); basis != "" {
		text += ": " + basis
	}
	return text
}
