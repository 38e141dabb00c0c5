package rules

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"

	"github.com/pgadvisor/advisor/internal/yamlfile"
)

// Detector is the code of one rule: the id it serves, the params it reads
// and its check. Def is the implementation every rule uses; the interface
// lets the engine hold detectors of different params types in one list.
type Detector interface {
	// RuleID is the id of the rule in rules.yaml.
	RuleID() string
	// paramsType is the struct the rule's params decode into.
	paramsType() reflect.Type
	// run decodes the rule's params and runs the check.
	run(ctx context.Context, in *Input, r *Rule) ([]Finding, error)
	// countsDumps reports whether a finding of the rule rests on a count
	// of goroutine samples (Def.CountsDumps).
	countsDumps(f Finding) bool
}

// Def is one rule's detector with its typed params. P is a struct whose
// fields carry a `param:"name"` tag for each param of the rule in rules.yaml,
// of the param's type: int, float64, bool, string or []string. Loading
// rules.yaml checks that the rule's params and P's fields match one to one,
// by name and type, and reports a mismatch at the param's file:line:column.
//
// Check finds the problems of the rule in a window. It returns findings with
// evidence, and may fill Subject, Location, Impact, Fix.SQL, Fix.Config and
// Fix.Code (and Title or Fix.Summary, to replace the templates), and a
// Severity below the rule's; Run sets Rule, and Severity from the rule when
// the check left it unset or above the rule's. A check never does I/O except through
// Input.Explainer, for EXPLAIN with hypothetical indexes.
type Def[P any] struct {
	ID    string
	Check func(ctx context.Context, in *Input, p P) ([]Finding, error)
	// CountsDumps, when set, reports whether a finding of the rule rests
	// on a count of goroutine samples (a share bounded by its Wilson
	// interval over the window's dumps, with a floor of samples): its
	// evidence grows and shrinks with the dumps in the window. attach keeps
	// taking dumps between its readings while such a finding is shown.
	CountsDumps func(f Finding) bool
}

// RuleID returns the rule id.
func (d Def[P]) RuleID() string { return d.ID }

func (d Def[P]) paramsType() reflect.Type { return reflect.TypeFor[P]() }

func (d Def[P]) countsDumps(f Finding) bool { return d.CountsDumps != nil && d.CountsDumps(f) }

// alwaysDumps is Def.CountsDumps of a rule all of whose findings rest on
// goroutine samples.
func alwaysDumps(Finding) bool { return true }

func (d Def[P]) run(ctx context.Context, in *Input, r *Rule) ([]Finding, error) {
	var p P
	if errs := decodeParams(r.Params, reflect.ValueOf(&p).Elem(), false); len(errs) > 0 {
		return nil, fmt.Errorf("params: %s", errs[0].msg)
	}
	return d.Check(ctx, in, p)
}

// Registry maps rule ids to their detectors.
type Registry map[string]Detector

// NewRegistry returns a registry of the given detectors.
func NewRegistry(ds ...Detector) Registry {
	reg := make(Registry, len(ds))
	for _, d := range ds {
		reg[d.RuleID()] = d
	}
	return reg
}

// CountsDumps reports whether finding f rests on a count of goroutine
// samples, by its rule's detector (Def.CountsDumps); false for a rule this
// registry does not hold.
func (r Registry) CountsDumps(f Finding) bool {
	d, ok := r[f.Rule]
	return ok && d.countsDumps(f)
}

// paramError is a mismatch between a rule's params and its detector's params
// struct, about the named param.
type paramError struct {
	name string
	msg  string
}

// decodeParams sets the fields of v, a params struct, from the rule's params
// by their `param` tags. Every field must have a param of its type (an
// integer is accepted for a float64 field). With strict set, every param must
// also have a field: loading rules.yaml checks that way, so that a param no
// detector reads is an error too.
func decodeParams(ps []Param, v reflect.Value, strict bool) []paramError {
	var errs []paramError
	t := v.Type()
	if t.Kind() != reflect.Struct {
		return []paramError{{msg: fmt.Sprintf("detector params type %s is not a struct", t)}}
	}
	read := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("param")
		if name == "" || !f.IsExported() {
			errs = append(errs, paramError{msg: fmt.Sprintf("field %s of %s has no param tag", f.Name, t)})
			continue
		}
		read[name] = true
		i := slices.IndexFunc(ps, func(p Param) bool { return p.Name == name })
		if i < 0 {
			errs = append(errs, paramError{name: name, msg: fmt.Sprintf("param %q is missing: the detector reads it as %s", name, typeName(f.Type))})
			continue
		}
		if !setParam(v.Field(i), ps[i].Value) {
			errs = append(errs, paramError{name: name, msg: fmt.Sprintf("param %q is %s; the detector reads %s", name, kindName(ps[i].Value), typeName(f.Type))})
		}
	}
	if strict {
		for _, p := range ps {
			if !read[p.Name] {
				msg := fmt.Sprintf("param %q is not read by the detector", p.Name)
				if near := yamlfile.Suggest(p.Name, slices.Sorted(maps.Keys(read))); near != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", near)
				}
				errs = append(errs, paramError{name: p.Name, msg: msg})
			}
		}
	}
	return errs
}

func setParam(f reflect.Value, val any) bool {
	switch f.Kind() {
	case reflect.Int:
		if n, ok := val.(int); ok {
			f.SetInt(int64(n))
			return true
		}
	case reflect.Float64:
		switch n := val.(type) {
		case float64:
			f.SetFloat(n)
			return true
		case int:
			f.SetFloat(float64(n))
			return true
		}
	case reflect.Bool:
		if b, ok := val.(bool); ok {
			f.SetBool(b)
			return true
		}
	case reflect.String:
		if s, ok := val.(string); ok {
			f.SetString(s)
			return true
		}
	case reflect.Slice:
		if s, ok := val.([]string); ok && f.Type().Elem().Kind() == reflect.String {
			f.Set(reflect.ValueOf(slices.Clone(s)))
			return true
		}
	}
	return false
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int:
		return "an integer"
	case reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "a boolean"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return "a list of strings"
		}
	}
	return "an unsupported type " + t.String()
}
