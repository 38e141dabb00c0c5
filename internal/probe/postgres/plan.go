package postgres

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Plan is a query plan parsed from EXPLAIN (FORMAT JSON), without ANALYZE:
// costs and row estimates only.
type Plan struct {
	Root *Node
	// Generic is set when the plan was made for unknown parameter values
	// (GENERIC_PLAN, or force_generic_plan before 16).
	Generic bool
	// Query is the text that was explained.
	Query string
	// JSON is the plan as the server wrote it.
	JSON json.RawMessage
}

// Node is one plan node. Costs are in the planner's units.
type Node struct {
	NodeType           string   `json:"Node Type"`
	ParentRelationship string   `json:"Parent Relationship"`
	Strategy           string   `json:"Strategy"`
	RelationName       string   `json:"Relation Name"`
	Schema             string   `json:"Schema"`
	Alias              string   `json:"Alias"`
	IndexName          string   `json:"Index Name"`
	ScanDirection      string   `json:"Scan Direction"`
	Filter             string   `json:"Filter"`
	IndexCond          string   `json:"Index Cond"`
	RecheckCond        string   `json:"Recheck Cond"`
	JoinType           string   `json:"Join Type"`
	HashCond           string   `json:"Hash Cond"`
	MergeCond          string   `json:"Merge Cond"`
	JoinFilter         string   `json:"Join Filter"`
	SortKey            []string `json:"Sort Key"`
	GroupKey           []string `json:"Group Key"`
	StartupCost        float64  `json:"Startup Cost"`
	TotalCost          float64  `json:"Total Cost"`
	PlanRows           float64  `json:"Plan Rows"`
	PlanWidth          int      `json:"Plan Width"`
	ParallelAware      bool     `json:"Parallel Aware"`
	Children           []*Node  `json:"Plans"`
}

// maxPlanDepth bounds the nesting ParsePlan accepts.
const maxPlanDepth = 200

// ParsePlan parses the output of EXPLAIN (FORMAT JSON): an array holding one
// object with a "Plan". It does no I/O.
func ParsePlan(data []byte) (*Plan, error) {
	var doc []struct {
		Plan *Node `json:"Plan"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse plan: %w", err)
	}
	if len(doc) == 0 || doc[0].Plan == nil {
		return nil, errors.New("parse plan: no Plan in the document")
	}
	if depth(doc[0].Plan, 0) > maxPlanDepth {
		return nil, fmt.Errorf("parse plan: nested deeper than %d nodes", maxPlanDepth)
	}
	return &Plan{Root: doc[0].Plan, JSON: append(json.RawMessage(nil), data...)}, nil
}

func depth(n *Node, d int) int {
	if n == nil || d > maxPlanDepth {
		return d
	}
	deepest := d + 1
	for _, c := range n.Children {
		deepest = max(deepest, depth(c, d+1))
	}
	return deepest
}

// TotalCost is the estimated cost of the whole plan; 0 for an empty plan.
func (p *Plan) TotalCost() float64 {
	if p == nil || p.Root == nil {
		return 0
	}
	return p.Root.TotalCost
}

// Walk calls fn for every node, parents before children, with the chain of
// ancestors (root first). fn returns false to skip a node's children.
func (p *Plan) Walk(fn func(n *Node, ancestors []*Node) bool) {
	if p == nil || p.Root == nil {
		return
	}
	var walk func(n *Node, anc []*Node)
	walk = func(n *Node, anc []*Node) {
		if n == nil || !fn(n, anc) {
			return
		}
		anc = append(anc, n)
		for _, c := range n.Children {
			walk(c, anc)
		}
	}
	walk(p.Root, nil)
}

// Nodes returns every node whose type is one of types (all nodes if none).
func (p *Plan) Nodes(types ...string) []*Node {
	var out []*Node
	p.Walk(func(n *Node, _ []*Node) bool {
		if len(types) == 0 || contains(types, n.NodeType) {
			out = append(out, n)
		}
		return true
	})
	return out
}

// SeqScans returns the sequential scans (plain and parallel), each with
// its relation, alias and filter.
func (p *Plan) SeqScans() []*Node { return p.Nodes("Seq Scan") }

// UsesIndex reports whether a node scans the named index.
func (p *Plan) UsesIndex(name string) bool {
	used := false
	p.Walk(func(n *Node, _ []*Node) bool {
		if n.IndexName == name {
			used = true
		}
		return !used
	})
	return used
}

// SortsUnderLimit returns the Sort nodes below a Limit (with nothing but
// other sorts, gathers, subquery scans or result nodes between them): a
// "top-N" an index on the sort key would serve without sorting.
func (p *Plan) SortsUnderLimit() []*Node {
	var out []*Node
	p.Walk(func(n *Node, anc []*Node) bool {
		if n.NodeType != "Sort" && n.NodeType != "Incremental Sort" {
			return true
		}
		for i := len(anc) - 1; i >= 0; i-- {
			switch anc[i].NodeType {
			case "Limit":
				out = append(out, n)
				return true
			case "Gather Merge", "Gather", "Subquery Scan", "Result", "Sort", "Incremental Sort":
				continue
			}
			return true
		}
		return true
	})
	return out
}

// Relations lists the relations the plan reads, in plan order, once each.
func (p *Plan) Relations() []string {
	var out []string
	p.Walk(func(n *Node, _ []*Node) bool {
		if n.RelationName != "" && !contains(out, n.RelationName) {
			out = append(out, n.RelationName)
		}
		return true
	})
	return out
}
