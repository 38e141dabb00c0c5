package rules

import (
	"context"
	"fmt"
	"math"
	"time"
)

// queueBacklog flags a job queue whose workers do not keep up: min_waiting
// jobs or more waiting (that take max_drain_s or more to clear at the
// workers' rate, where it is known), or an oldest waiting job of
// max_oldest_age_s or more, or, with no worker seen at work, min_growth_per_s more waiting
// each second over the window (with at least min_waiting_growing
// waiting). Growth while workers work is a burst until it makes jobs old.
var queueBacklog = Def[queueBacklogParams]{ID: "queue.backlog", Check: checkQueueBacklog}

type queueBacklogParams struct {
	MinWaiting        float64 `param:"min_waiting"`
	MaxDrainS         float64 `param:"max_drain_s"`
	MinGrowthPerS     float64 `param:"min_growth_per_s"`
	MinWaitingGrowing float64 `param:"min_waiting_growing"`
	MaxOldestAgeS     float64 `param:"max_oldest_age_s"`
}

// queueState is one queue of any system, as the rule reads it.
type queueState struct {
	system, name            string
	waiting, active, before float64 // active, before: -1 when unknown
	growthPerS              float64
	arrivalsPerS            float64 // -1 when unknown
	completionsPerS         float64 // -1 when unknown
	oldest                  time.Duration
	ageAtLeast              bool
}

// drainSeconds is how long the workers would take to clear the jobs
// waiting at the rate they finished jobs over the window: +Inf when none
// finished, or when the rate is not known (then depth alone speaks).
func (q queueState) drainSeconds() float64 {
	if q.completionsPerS <= 0 {
		return math.Inf(1)
	}
	return q.waiting / q.completionsPerS
}

// finishedNone reports whether the workers finished no job over the
// window. The completions are the arrivals, counted from the jobs' ids,
// less the growth of the pending jobs. The probe reads both in one
// snapshot since 5 December 2026; before, a job whose inserting
// transaction committed between the two counts landed on one side of a
// reading and not the other (a queue without workers under 840 arrivals a
// second showed 0.77 completions a second, under 512 on a saturated host
// 10). A margin of a hundredth of the arrivals is kept.
func (q queueState) finishedNone() bool {
	return q.completionsPerS <= math.Max(0, q.arrivalsPerS/100)
}

func queueStates(in *Input) []queueState {
	var out []queueState
	if in.Window == nil {
		return nil
	}
	if pg := in.Window.Postgres; pg != nil {
		for _, q := range pg.Jobs {
			s := queueState{system: "river", name: q.Name, waiting: float64(q.Available), active: float64(q.Running),
				before: float64(q.Before), growthPerS: q.GrowthPerS, arrivalsPerS: -1, completionsPerS: -1, oldest: q.OldestAge}
			if q.Before >= 0 {
				s.arrivalsPerS, s.completionsPerS = q.ArrivalsPerS, q.CompletionsPerS
			}
			out = append(out, s)
		}
	}
	if w := redisWindow(in); w != nil {
		for _, q := range w.Queues {
			out = append(out, queueState{system: q.System, name: q.Name, waiting: float64(q.Waiting), active: float64(q.Active),
				before: float64(q.Before), growthPerS: q.GrowthPerS, arrivalsPerS: -1, completionsPerS: -1,
				oldest: q.OldestAge, ageAtLeast: q.AgeAtLeast})
		}
	}
	return out
}

func checkQueueBacklog(_ context.Context, in *Input, p queueBacklogParams) ([]Finding, error) {
	var out []Finding
	for _, q := range queueStates(in) {
		var reasons []string
		if q.waiting >= p.MinWaiting && q.drainSeconds() >= p.MaxDrainS {
			reasons = append(reasons, fmt.Sprintf("%.0f jobs waiting", q.waiting))
		}
		// Growth alone is a burst while workers are seen working; with
		// none (nothing running, nothing finished), it only grows.
		noWorker := q.active <= 0 && q.finishedNone()
		if noWorker && q.before >= 0 && q.growthPerS >= p.MinGrowthPerS && q.waiting >= p.MinWaitingGrowing {
			reasons = append(reasons, fmt.Sprintf("growing by %.3g a second", q.growthPerS))
		}
		if q.waiting > 0 && q.oldest.Seconds() >= p.MaxOldestAgeS {
			at := ""
			if q.ageAtLeast {
				at = "at least "
			}
			reasons = append(reasons, fmt.Sprintf("the oldest has waited %s%s", at, humanSeconds(q.oldest.Seconds())))
		}
		if len(reasons) == 0 {
			continue
		}
		problem := reasons[0]
		for i, r := range reasons[1:] {
			if i == len(reasons)-2 {
				problem += " and " + r
			} else {
				problem += ", " + r
			}
		}
		ev := map[string]any{
			"system":              q.system,
			"queue":               q.name,
			"problem":             problem,
			"waiting":             q.waiting,
			"active":              q.active,
			"growth_per_s":        appRound(q.growthPerS),
			"arrivals_per_s":      appRound(q.arrivalsPerS),
			"completions_per_s":   appRound(q.completionsPerS),
			"oldest_age_s":        appRound(q.oldest.Seconds()),
			"oldest_age_at_least": q.ageAtLeast,
			"no_worker":           q.active == 0 && q.finishedNone(),
		}
		if d := q.drainSeconds(); !math.IsInf(d, 1) {
			ev["drain_s"] = appRound(d)
		}
		impact := 0.1
		if q.oldest > 0 {
			impact = math.Min(q.oldest.Seconds()/(10*p.MaxOldestAgeS), 1)
		}
		if q.growthPerS > 0 && q.waiting > 0 {
			impact = math.Max(impact, math.Min(q.growthPerS*10/q.waiting, 1))
		}
		out = append(out, Finding{Subject: q.system + " " + q.name, Evidence: ev, Impact: impact})
	}
	return out, nil
}
