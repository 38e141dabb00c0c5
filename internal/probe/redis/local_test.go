package redis

import "testing"

// TestIsLocal: a Redis on loopback or a Unix socket runs on advisor's host,
// and its CPU is the host's.
func TestIsLocal(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:6379":        true,
		"[::1]:6379":            true,
		"localhost:6379":        true,
		"/run/redis/redis.sock": true,
		"10.0.0.5:6379":         false,
		"cache.internal:6379":   false,
		"no-port":               false,
	} {
		if got := isLocal(addr); got != want {
			t.Errorf("isLocal(%q) = %v, want %v", addr, got, want)
		}
	}
}
