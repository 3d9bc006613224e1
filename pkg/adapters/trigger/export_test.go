package trigger

// Names of the package's internals, for its external tests.
var (
	Aggregate  = aggregate
	Describe   = describe
	DecodeBody = decodeBody
)

// MaxRecords is maxRecords, for its external tests.
const MaxRecords = maxRecords

// Len returns p.arrayLen(name).
func (p *Probe) Len(name string) int { return p.arrayLen(name) }

// Keys returns p.keys().
func (p *Probe) Keys() []string { return p.keys() }
