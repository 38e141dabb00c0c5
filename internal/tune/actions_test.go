package tune

import (
	"testing"

	"github.com/pgadvisor/advisor/internal/rules"
)

// Every rule the knob table maps is a rule of the catalog with a built-in
// detector: a renamed rule must not leave tune unable to fix it.
func TestActionsAreRuleIDs(t *testing.T) {
	reg := rules.Builtin()
	for rule := range actions {
		if !rules.Known(rule) {
			t.Errorf("%s: not a rule id of the catalog", rule)
		}
		if _, ok := reg[rule]; !ok {
			t.Errorf("%s: no built-in detector", rule)
		}
	}
}
