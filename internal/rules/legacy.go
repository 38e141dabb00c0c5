package rules

import (
	"context"
	"reflect"
)

// legacy adapts a detector that still reads its params by name; it goes
// once every family is converted to Def.
type legacy struct {
	id string
	fn func(ctx context.Context, in *Input, r *Rule) ([]Finding, error)
}

func (l legacy) RuleID() string { return l.id }

func (l legacy) paramsType() reflect.Type { return nil }

func (l legacy) run(ctx context.Context, in *Input, r *Rule) ([]Finding, error) {
	return l.fn(ctx, in, r)
}

func legacyRules(reg map[string]func(ctx context.Context, in *Input, r *Rule) ([]Finding, error)) []Detector {
	var out []Detector
	for id, fn := range reg {
		out = append(out, legacy{id, fn})
	}
	return out
}
