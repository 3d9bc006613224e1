package trigger

// Names of the package's internals, for its external tests.
var (
	Aggregate  = aggregate
	Describe   = describe
	DecodeBody = decodeBody
)

// MaxRecords is maxRecords, for its external tests.
const MaxRecords = maxRecords

// Unavailable returns the Service of a function that cannot run: every
// request is answered with err.
func Unavailable(err error) Service { return unavailable{err} }

// Len returns p.arrayLen(name).
func (p *Probe) Len(name string) int { return p.arrayLen(name) }

// Keys returns p.keys().
func (p *Probe) Keys() []string { return p.keys() }
