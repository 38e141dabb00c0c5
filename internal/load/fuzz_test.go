package load

import "testing"

// FuzzParseMix feeds arbitrary bytes to the mix file parser: it must return a
// mix or an error, never panic.
func FuzzParseMix(f *testing.F) {
	f.Add([]byte("vars:\n  user: {min: 1, max: 10}\nentries:\n  - {name: feed, weight: 3, path: \"/users/{user}/feed\"}\n"))
	f.Add([]byte(`{"entries":[{"method":"POST","path":"/orders","body":"{\"a\":1}","headers":{"Content-Type":"application/json"}}]}`))
	f.Add([]byte("entries:\n  - path: /a\n    wieght: 2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMix("fuzz.yaml", data)
		if err != nil {
			return
		}
		if m == nil {
			t.Fatal("nil mix without an error")
		}
	})
}
