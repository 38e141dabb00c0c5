package config

import (
	"slices"
	"testing"
)

func TestPrecedenceFlagOverEnvOverFile(t *testing.T) {
	file := Sources{PG: "postgres://file/db", Redis: "file:6379", Target: "http://file:8080", DBCores: 4}
	for _, tc := range []struct {
		name              string
		env               map[string]string
		flags             Sources
		pg, redis, target string
		pgFromEnv         bool
	}{
		{name: "file only", pg: "postgres://file/db", redis: "file:6379", target: "http://file:8080"},
		{name: "env over file",
			env: map[string]string{"DATABASE_URL": "postgres://env/db", "REDIS_URL": "redis://env:6379"},
			pg:  "postgres://env/db", redis: "redis://env:6379", target: "http://file:8080"},
		{name: "PG* variables over file",
			env: map[string]string{"PGHOST": "db.ci"},
			pg:  "", pgFromEnv: true, redis: "file:6379", target: "http://file:8080"},
		{name: "flags over env",
			env:   map[string]string{"DATABASE_URL": "postgres://env/db", "PGHOST": "db.ci", "REDIS_URL": "redis://env:6379"},
			flags: Sources{PG: "postgres://flag/db", Target: "http://flag:8080"},
			pg:    "postgres://flag/db", redis: "redis://env:6379", target: "http://flag:8080"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := FromEnv(func(k string) string { return tc.env[k] })
			got := Resolve(file, env, tc.flags)
			if got.PG != tc.pg || got.PGFromEnv != tc.pgFromEnv || got.Redis != tc.redis || got.Target != tc.target || got.DBCores != 4 {
				t.Errorf("Resolve = %+v", got)
			}
		})
	}
	// Nothing anywhere: the default is no source.
	if got := Resolve(Sources{}, FromEnv(func(string) string { return "" }), Sources{}); !got.Empty() {
		t.Errorf("no layer sets anything: %+v", got)
	}
}

func TestEnvOverrides(t *testing.T) {
	file := Sources{PG: "postgres://file/db", Redis: "file:6379"}
	getenv := func(env map[string]string) Env { return func(k string) string { return env[k] } }
	for _, tc := range []struct {
		env   map[string]string
		flags Sources
		want  []string
	}{
		{nil, Sources{}, nil},
		{map[string]string{"DATABASE_URL": "postgres://env/db", "REDIS_URL": "r:1"}, Sources{}, []string{"pg (DATABASE_URL)", "redis (REDIS_URL)"}},
		{map[string]string{"PGUSER": "ci"}, Sources{}, []string{"pg (PGUSER)"}},
		// A flag, not the environment, replaces the file's value.
		{map[string]string{"DATABASE_URL": "postgres://env/db", "REDIS_URL": "r:1"}, Sources{PG: "postgres://flag/db", Redis: "f:1"}, nil},
	} {
		if got := EnvOverrides(file, tc.flags, getenv(tc.env)); !slices.Equal(got, tc.want) {
			t.Errorf("env %v flags %+v: %q, want %q", tc.env, tc.flags, got, tc.want)
		}
	}
	if got := EnvOverrides(Sources{}, Sources{}, getenv(map[string]string{"DATABASE_URL": "x"})); got != nil {
		t.Errorf("a file without pg: %q", got)
	}
}
