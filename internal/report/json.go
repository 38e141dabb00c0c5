package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// JSON prints a report in the schema advisor.report/v1, indented by two
// spaces, keys in a stable order (struct fields in declaration order, maps
// such as evidence sorted by key), HTML characters not escaped.
type JSON struct{}

// Print writes the report.
func (p *JSON) Print(w io.Writer, r *Report) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("encode json report: %w", err)
	}
	return flush(w, &b, FormatJSON)
}
