package rules

import (
	"strings"

	"github.com/pgadvisor/advisor/internal/probe/postgres"
)

// The server-health rules (db.sequence-exhaustion, db.xid-wraparound,
// db.invalid-index, db.xmin-horizon, db.connections, db.replication) read
// the snapshot's Health part: risks that build up over days, which cost no
// request time until they stop the server or its writes.

// dbHealth returns the later snapshot's health part when it was read, or
// nil.
func dbHealth(in *Input) *postgres.Health {
	cur := dbCur(in)
	if cur == nil || !cur.Health.Status.Ok() {
		return nil
	}
	return &cur.Health
}

// dbEscalate is the severity of a finding past a rule's critical
// threshold: Critical when critical holds, else the rule's own (0).
func dbEscalate(critical bool) Severity {
	if critical {
		return Critical
	}
	return 0
}

// dbXIDSpace is the transaction IDs PostgreSQL can tell apart from the
// oldest unfrozen one: 2^31. Past it, older rows would look in the future.
const dbXIDSpace = 1 << 31

// dbRisk is the saving of a health finding: none of request time, the
// finding being a risk to the server (writes stopped, disk filled,
// sessions refused) rather than a cost to each request.
func dbRisk(basis string) *Saving { return &Saving{NotRequestTime: true, Basis: basis} }

// dbLiteral quotes s as an SQL string literal.
func dbLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
